/**
 * Cold RemoveSnapshot (the engine's RemoveSnapshotCommand → ColdMergeSnapshotSingleDiskCommand):
 * for each disk of the snapshot, its volume (base) and the base's child (top) are merged, stage
 * after stage: PrepareMerge (SPM task) → ColdMerge (SDM.merge host job) → FinalizeMerge (SPM task:
 * the top leaves the chain, ILLEGAL) → DestroyImage (SPM task: Image.deleteVolumes of the top).
 * Disks run side by side, each on its own; a failure stops that disk only.
 *
 * Forward only, as the engine: no completed stage is undone. A disk stopped before FinalizeMerge is
 * as it was (OK); after it, storage says what the inventory records (see endRemoveSnapshotDisk).
 * The snapshot row goes once every disk merged; otherwise it stays OK with the disks left.
 * A cancel stops a disk before its next stage up to the merge; once its data is merged the disk
 * completes (a storage job cannot be aborted, and a half-finalized chain helps nobody).
 */
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  proxyActivities,
  upsertSearchAttributes,
  uuid4,
} from '@temporalio/workflow';
import type { OvirtActivities, RemoveSnapshotDiskOutcome } from '../activities';
import {
  RemoveSnapshotInput,
  type RemoveSnapshotDiskPlan,
  type RemoveSnapshotFailureDetails,
  type RemoveSnapshotPlan,
  type RemoveSnapshotResult,
  type RemoveSnapshotStage,
} from '../shared/commands';
import { ErrorType } from '../shared/errors';
import { MAX_IDS_IN_SEARCH_ATTRIBUTE, SA } from '../shared/search-attributes';
import type { HostJobStepInput, SpmTaskSpec, TaskStepInput } from '../shared/steps';
import { CommandTracker, parseCommandInput, prepareCommand, runJobStep, runSteps } from './command-runner';
import { commandActivityOptions, endActionActivityOptions } from './options';
import { failureOf } from './step-row';

const { prepareRemoveSnapshot, finishRemoveSnapshot } = proxyActivities<OvirtActivities>({
  ...commandActivityOptions,
  summary: 'Validate, lock / release locks and audit',
});
// It reads storage: retried as long as VDSM is away, like the steps' end actions.
const { endRemoveSnapshotDisk } = proxyActivities<OvirtActivities>({
  ...endActionActivityOptions,
  summary: 'Record the disk as storage has it',
});

/** How one disk's merge ended: the stage that failed (or 'merged'), why, and the failure's type. */
interface DiskRun {
  disk: RemoveSnapshotDiskPlan;
  stage: RemoveSnapshotStage;
  /** False when a cancel came before its first stage: nothing was sent for it. */
  started: boolean;
  reason: string | null;
  failureType: string | null;
  cancelled: boolean;
  /** Its end (storage read, inventory written) failed for good: the disk is ILLEGAL, to check. */
  endFailure?: { type: string; message: string };
}

export async function removeSnapshotWorkflow(rawInput: RemoveSnapshotInput): Promise<RemoveSnapshotResult> {
  const input = parseCommandInput(RemoveSnapshotInput, 'RemoveSnapshot', rawInput);
  // Read by the tracker's title before it is set (a refused command has none).
  let prepared: RemoveSnapshotPlan | undefined = undefined;
  const tracker = new CommandTracker(
    'RemoveSnapshot',
    input.vmId,
    () =>
      `Remove snapshot '${prepared?.description ?? input.snapshotId}' of VM ${prepared?.vmName ?? input.vmId}`,
    'merged',
  );
  prepared = await prepareCommand(tracker, () => prepareRemoveSnapshot({ input }));
  const plan = prepared;
  const parent = { commandId: tracker.commandId, vmId: plan.vmId };
  // Job ids are chosen here, after validation told which disks take part (the same on replay).
  const chains = plan.disks.map((disk) => diskSteps(parent, plan, disk, uuid4()));
  tracker.storagePoolId = plan.poolId;
  tracker.plan(chains.flatMap((c) => [c.prepare, c.merge, c.finalize, c.destroy]));
  upsertSearchAttributes([
    { key: SA.StoragePoolId, value: plan.poolId },
    { key: SA.ImageIds, value: plan.disks.slice(0, MAX_IDS_IN_SEARCH_ATTRIBUTE).map((d) => d.diskId) },
  ]);

  async function mergeDisk(disk: RemoveSnapshotDiskPlan, steps: DiskSteps): Promise<DiskRun> {
    const run = (
      stage: RemoveSnapshotStage,
      reason: string | null,
      type: string | null,
      cancelled = false,
    ) => ({
      disk,
      stage,
      started: true,
      reason,
      failureType: type,
      cancelled,
    });
    if (CancellationScope.current().consideredCancelled) {
      return {
        ...run('PrepareMerge', 'cancelled before it started', ErrorType.Cancelled, true),
        started: false,
      };
    }
    const prepare = await runSteps(tracker, [steps.prepare], { window: 1 });
    if (prepare.failed.length || prepare.cancellation !== undefined) {
      const cancelled = prepare.cancellation !== undefined;
      return run(
        'PrepareMerge',
        prepare.reasons.get(disk.diskId) ?? 'cancelled',
        prepare.failureTypes.get(disk.diskId) ?? (cancelled ? ErrorType.Cancelled : ErrorType.TaskFailed),
        cancelled,
      );
    }
    if (CancellationScope.current().consideredCancelled) {
      return run('ColdMerge', 'cancelled before the merge started', ErrorType.Cancelled, true);
    }
    // A storage job cannot be aborted: the step follows it to its end even when cancelled.
    let merged;
    try {
      merged = await runJobStep(tracker, steps.merge);
    } catch (err) {
      if (!isCancellation(err)) throw err;
      return run('ColdMerge', 'cancelled', ErrorType.Cancelled, true);
    }
    if (!merged?.succeeded) {
      return run(
        'ColdMerge',
        merged?.failureReason ?? 'the merge job could not be followed',
        merged?.failureType ?? ErrorType.TaskFailed,
      );
    }
    if (CancellationScope.current().consideredCancelled) {
      return run(
        'FinalizeMerge',
        'cancelled after the merge, before the chain was finalized',
        ErrorType.Cancelled,
        true,
      );
    }
    // The base holds the merged data now: the chain is finalized and the top removed, even if a
    // cancel arrives meanwhile.
    for (const [stage, step] of [
      ['FinalizeMerge', steps.finalize],
      ['DestroyImage', steps.destroy],
    ] as const) {
      const outcome = await CancellationScope.nonCancellable(() => runSteps(tracker, [step], { window: 1 }));
      if (outcome.failed.length) {
        return run(
          stage,
          outcome.reasons.get(disk.diskId) ?? 'failed',
          outcome.failureTypes.get(disk.diskId) ?? ErrorType.TaskFailed,
        );
      }
    }
    return run('merged', null, null);
  }

  const runs = await Promise.all(plan.disks.map((disk, i) => mergeDisk(disk, chains[i]!)));
  const outcomes: RemoveSnapshotDiskOutcome[] = await CancellationScope.nonCancellable(() =>
    Promise.all(
      runs
        .filter((r) => r.started)
        .map(async (r): Promise<RemoveSnapshotDiskOutcome> => {
          try {
            return await endRemoveSnapshotDisk({ poolId: plan.poolId, disk: r.disk, stage: r.stage });
          } catch (err) {
            // Storage could not tell what the disk holds: ILLEGAL, as the engine marks what it cannot vouch for.
            r.endFailure = failureOf(err);
            return { diskId: r.disk.diskId, merged: false, status: 'ILLEGAL', leftoverVolumeId: null };
          }
        }),
    ),
  );
  const outcomeOf = (r: DiskRun) => outcomes.find((o) => o.diskId === r.disk.diskId);
  const mergedIds = outcomes.filter((o) => o.merged).map((o) => o.diskId);
  // A stage that failed although storage shows its work done (the top gone) is no failure.
  const failedRuns = runs.filter((r) => {
    const o = outcomeOf(r);
    return r.endFailure || (r.stage !== 'merged' && !(o?.merged && o.leftoverVolumeId === null));
  });
  const firstFailed = failedRuns.find((r) => !r.cancelled) ?? failedRuns[0];
  const reason = !firstFailed
    ? null
    : firstFailed.endFailure
      ? `disk ${firstFailed.disk.alias}: its state after ${firstFailed.stage} could not be recorded (${firstFailed.endFailure.message}); it is ILLEGAL`
      : `disk ${firstFailed.disk.alias}: ${firstFailed.stage} failed (${firstFailed.reason ?? 'failed'})`;
  const illegalDiskIds = outcomes.filter((o) => o.status === 'ILLEGAL').map((o) => o.diskId);
  const onlyCancelled = firstFailed?.cancelled === true;
  await CancellationScope.nonCancellable(() =>
    finishRemoveSnapshot({ plan, outcomes, cancelled: onlyCancelled, reason }),
  );

  if (firstFailed && onlyCancelled) {
    tracker.setStatus('ENDED_WITH_FAILURE', 'cancelled');
    throw new CancelledFailure(`cancelled; disks merged: ${mergedIds.length} of ${plan.disks.length}`);
  }
  if (firstFailed && reason) {
    tracker.setStatus('ENDED_WITH_FAILURE', reason);
    const details: RemoveSnapshotFailureDetails = {
      vmId: plan.vmId,
      snapshotId: plan.snapshotId,
      mergedDiskIds: mergedIds,
      failedStages: Object.fromEntries(failedRuns.map((r) => [r.disk.diskId, r.stage])),
      illegalDiskIds,
    };
    throw ApplicationFailure.create({
      type: firstFailed.endFailure?.type ?? firstFailed.failureType ?? ErrorType.TaskFailed,
      message: `Removing snapshot '${plan.description}' of VM ${plan.vmName}: ${reason}${illegalDiskIds.length ? `; ILLEGAL: ${illegalDiskIds.join(', ')}` : ''}`,
      nonRetryable: true,
      details: [details],
    });
  }
  tracker.setStatus('ENDED_SUCCESSFULLY');
  return { snapshotId: plan.snapshotId, vmId: plan.vmId, mergedDiskIds: mergedIds };
}

interface Parent {
  commandId: string;
  vmId: string | null;
}

interface DiskSteps {
  prepare: TaskStepInput;
  merge: HostJobStepInput;
  finalize: TaskStepInput;
  destroy: TaskStepInput;
}

/** The four stages of one disk (the engine's RemoveSnapshotSingleDiskStep), pure. */
function diskSteps(
  parent: Parent,
  plan: RemoveSnapshotPlan,
  disk: RemoveSnapshotDiskPlan,
  jobId: string,
): DiskSteps {
  const image = { id: disk.diskId, alias: disk.alias, poolId: plan.poolId, domainId: disk.domainId };
  const subchain = {
    sd_id: disk.domainId,
    img_id: disk.diskId,
    top_id: disk.topVolumeId,
    base_id: disk.baseVolumeId,
  };
  const common = {
    parentCommandId: parent.commandId,
    rootCommandId: parent.commandId,
    vmId: parent.vmId,
    image,
  };
  // The command records each disk itself once its stages are done (endRemoveSnapshotDisk).
  const taskStep = (
    stepType: TaskStepInput['stepType'],
    description: string,
    task: SpmTaskSpec,
  ): TaskStepInput => ({
    ...common,
    stepType,
    description,
    task,
    end: { kind: 'storageOnly', failureAudit: null },
    group: false,
    revertible: false,
    startMaxAttempts: plan.startMaxAttempts,
  });
  const mergeParams = { storagepoolID: plan.poolId, subchainInfo: subchain };
  return {
    prepare: taskStep('PrepareMerge', `Preparing the merge of ${disk.alias}`, {
      verb: 'StoragePool.prepareMerge',
      taskVerb: 'prepareMerge',
      params: mergeParams,
    }),
    merge: {
      ...common,
      stepType: 'ColdMerge',
      description: `Merging volume ${disk.topVolumeId} of ${disk.alias} into its snapshot volume`,
      job: { verb: 'SDM.merge', jobId, params: { subchain_info: subchain, merge_bitmaps: false } },
      // The base is what the merge writes: its generation tells a job VDSM forgot (done at +1).
      entity: { domainId: disk.domainId, imageId: disk.diskId, volumeId: disk.baseVolumeId },
    },
    finalize: taskStep('FinalizeMerge', `Finalizing the merge of ${disk.alias}`, {
      verb: 'StoragePool.finalizeMerge',
      taskVerb: 'finalizeMerge',
      params: mergeParams,
    }),
    destroy: taskStep('DestroyImage', `Removing merged volume ${disk.topVolumeId} of ${disk.alias}`, {
      verb: 'Image.deleteVolumes',
      taskVerb: 'deleteVolume',
      params: {
        imageID: disk.diskId,
        storagepoolID: plan.poolId,
        storagedomainID: disk.domainId,
        volumeList: [disk.topVolumeId],
        postZero: disk.postZero,
        force: false,
        discard: disk.discard,
      },
    }),
  };
}
