/**
 * Cold MoveDisk and CopyDisk (the engine's MoveOrCopyDisk → CopyImageGroupWithData on a data
 * domain): serial stages, each a step of its own. DEST_CREATION: Volume.create on the destination
 * (an SPM task); DATA_COPY: SDM.copy_data (a host job); then, for a move, RemoveImage of the source
 * and the disk's domain mapping moved. On failure or cancel before the data is copied, the
 * destination is removed and the source is untouched.
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
import type { OvirtActivities } from '../activities';
import { CopyDiskInput, MoveDiskInput, type MoveOrCopyPlan, type MoveOrCopyResult } from '../shared/commands';
import { ErrorType } from '../shared/errors';
import { SA } from '../shared/search-attributes';
import type { HostJobStepInput, TaskStepInput } from '../shared/steps';
import { CommandTracker, parseCommandInput, prepareCommand, runJobStep, runSteps } from './command-runner';
import { commandActivityOptions } from './options';
import { BLANK_UUID, storageOnlyRemoveImageStep } from './step-inputs';

const { prepareMoveOrCopy, finishMoveOrCopy } = proxyActivities<OvirtActivities>({
  ...commandActivityOptions,
  summary: 'Validate, lock / move the mapping, release locks and audit',
});

export async function moveDiskWorkflow(rawInput: MoveDiskInput): Promise<MoveOrCopyResult> {
  return runMoveOrCopy('move', parseCommandInput(MoveDiskInput, 'MoveDisk', rawInput));
}

export async function copyDiskWorkflow(rawInput: CopyDiskInput): Promise<MoveOrCopyResult> {
  return runMoveOrCopy('copy', parseCommandInput(CopyDiskInput, 'CopyDisk', rawInput));
}

async function runMoveOrCopy(
  op: 'move' | 'copy',
  input: MoveDiskInput | CopyDiskInput,
): Promise<MoveOrCopyResult> {
  // Ids chosen here are the same on replay: the copy's disk, the destination volume, the job.
  const dstDiskId = op === 'copy' ? uuid4() : input.diskId;
  const dstVolumeId = uuid4();
  const jobId = uuid4();
  // Read by the tracker's title before it is set (a refused command has none).
  let prepared: MoveOrCopyPlan | undefined = undefined;
  const tracker = new CommandTracker(
    op === 'move' ? 'MoveDisk' : 'CopyDisk',
    null,
    () =>
      `${op === 'move' ? 'Move' : 'Copy'} disk ${prepared?.alias ?? input.diskId}${prepared ? ` to ${prepared.dstDomainName}` : ''}`,
    op === 'move' ? 'moved' : 'copied',
  );
  prepared = await prepareCommand(tracker, () => prepareMoveOrCopy({ op, input, dstDiskId, dstVolumeId }));
  const plan = prepared;
  const parent = { commandId: tracker.commandId, vmId: plan.vmId };
  const create = createVolumeStep(parent, plan);
  const copy = copyDataStep(parent, plan, jobId);
  const removeSource = removeImageOn(parent, plan, 'source');
  tracker.storagePoolId = plan.poolId;
  tracker.plan(op === 'move' ? [create, copy, removeSource] : [create, copy]);
  upsertSearchAttributes([
    { key: SA.StoragePoolId, value: plan.poolId },
    { key: SA.ImageIds, value: [...new Set([plan.diskId, plan.dstDiskId])] },
  ]);
  const finish = (outcome: 'succeeded' | 'failed' | 'cancelled', dataMoved: boolean, reason: string | null) =>
    CancellationScope.nonCancellable(() => finishMoveOrCopy({ plan, outcome, dataMoved, reason }));

  /** Undoes the destination (its volume, if made) and ends the command without the data moved. */
  async function fail(reason: string, type: string, cancellation: unknown): Promise<never> {
    await CancellationScope.nonCancellable(() =>
      runSteps(tracker, [removeImageOn(parent, plan, 'destination')], { window: 1 }),
    );
    await finish(cancellation ? 'cancelled' : 'failed', false, reason);
    tracker.setStatus('ENDED_WITH_FAILURE', cancellation ? 'cancelled' : reason);
    if (cancellation)
      throw isCancellation(cancellation) ? (cancellation as Error) : new CancelledFailure('cancelled');
    throw ApplicationFailure.create({
      type,
      message: `${op === 'move' ? 'Move' : 'Copy'} of disk ${plan.alias} to ${plan.dstDomainName} failed: ${reason}`,
      nonRetryable: true,
      details: [{ diskId: plan.diskId, toDomainId: plan.dstDomainId }],
    });
  }

  if (CancellationScope.current().consideredCancelled) {
    await finish('cancelled', false, 'cancelled before anything was made');
    tracker.setStatus('ENDED_WITH_FAILURE', 'cancelled');
    throw new CancelledFailure('cancelled before anything was made');
  }

  const created = await runSteps(tracker, [create], { window: 1 });
  if (created.failed.length || created.cancellation !== undefined) {
    return fail(
      created.reasons.get(plan.dstDiskId) ?? 'cancelled',
      created.failureTypes.get(plan.dstDiskId) ?? ErrorType.TaskFailed,
      created.cancellation,
    );
  }
  // A storage job cannot be aborted: the step follows it to its end even when cancelled.
  const copied = await runJobStep(tracker, copy);
  const cancelled = CancellationScope.current().consideredCancelled;
  if (!copied?.succeeded || cancelled) {
    return fail(
      copied?.failureReason ?? 'the data copy did not complete',
      copied?.failureType ?? ErrorType.TaskFailed,
      cancelled ? new CancelledFailure('cancelled') : undefined,
    );
  }
  if (op === 'move') {
    // The data is on the destination: the move completes even if cancelled now. A source that could
    // not be removed is audited (leftovers to clean), not a failed move.
    await CancellationScope.nonCancellable(() => runSteps(tracker, [removeSource], { window: 1 }));
  }
  await finish('succeeded', true, null);
  tracker.setStatus('ENDED_SUCCESSFULLY');
  return { diskId: plan.dstDiskId, domainId: plan.dstDomainId, volumeId: plan.dstVolumeId };
}

interface Parent {
  commandId: string;
  vmId: string | null;
}

/** DEST_CREATION: the destination volume, empty, of the source's format and size. */
function createVolumeStep(parent: Parent, plan: MoveOrCopyPlan): TaskStepInput {
  return {
    stepType: 'CreateVolumeContainer',
    parentCommandId: parent.commandId,
    rootCommandId: parent.commandId,
    vmId: parent.vmId,
    image: { id: plan.dstDiskId, alias: plan.dstAlias, poolId: plan.poolId, domainId: plan.dstDomainId },
    description: `Creating the volume of ${plan.dstAlias} on ${plan.dstDomainName}`,
    task: {
      verb: 'Volume.create',
      taskVerb: 'createVolume',
      params: {
        volumeID: plan.dstVolumeId,
        storagepoolID: plan.poolId,
        storagedomainID: plan.dstDomainId,
        imageID: plan.dstDiskId,
        size: String(plan.sizeBytes),
        volFormat: plan.format === 'COW' ? 4 : 5,
        preallocate: plan.volumeType === 'PREALLOCATED' ? 1 : 2,
        diskType: 'DATA',
        desc: JSON.stringify({ DiskAlias: plan.dstAlias, DiskDescription: '' }),
        srcImgUUID: BLANK_UUID,
        srcVolUUID: BLANK_UUID,
        sequence: 1,
      },
    },
    end: { kind: 'storageOnly', failureAudit: null },
    group: false,
    revertible: false,
    startMaxAttempts: plan.startMaxAttempts,
  };
}

/** DATA_COPY: SDM.copy_data of the source's active volume (through its chain) into the destination. */
function copyDataStep(parent: Parent, plan: MoveOrCopyPlan, jobId: string): HostJobStepInput {
  return {
    stepType: 'CopyData',
    parentCommandId: parent.commandId,
    rootCommandId: parent.commandId,
    vmId: parent.vmId,
    image: { id: plan.dstDiskId, alias: plan.dstAlias, poolId: plan.poolId, domainId: plan.dstDomainId },
    description: `Copying the data of ${plan.alias} to ${plan.dstDomainName}`,
    job: {
      verb: 'SDM.copy_data',
      jobId,
      params: {
        source: {
          endpoint_type: 'div',
          sd_id: plan.srcDomainId,
          img_id: plan.diskId,
          vol_id: plan.srcVolumeId,
        },
        destination: {
          endpoint_type: 'div',
          sd_id: plan.dstDomainId,
          img_id: plan.dstDiskId,
          vol_id: plan.dstVolumeId,
        },
      },
    },
    entity: { domainId: plan.dstDomainId, imageId: plan.dstDiskId, volumeId: plan.dstVolumeId },
  };
}

/** RemoveImage of the source after a move, or of the destination after a failure; no records change. */
function removeImageOn(parent: Parent, plan: MoveOrCopyPlan, which: 'source' | 'destination'): TaskStepInput {
  const source = which === 'source';
  const domainId = source ? plan.srcDomainId : plan.dstDomainId;
  const imageId = source ? plan.diskId : plan.dstDiskId;
  const domainName = source ? plan.srcDomainName : plan.dstDomainName;
  return storageOnlyRemoveImageStep(
    parent,
    { id: imageId, alias: source ? plan.alias : plan.dstAlias, poolId: plan.poolId, domainId },
    `Removing the ${which} image of ${plan.alias} from ${domainName}`,
    {
      type: source ? 'USER_MOVE_IMAGE_GROUP_FAILED_TO_DELETE_SRC_IMAGE' : 'DELETE_IMAGE_GROUP_TASK_FAILED',
      message: `Possible failure while deleting ${plan.alias} from the ${which} storage domain ${domainName}; it may be cleaned up manually from leftovers`,
    },
    plan.startMaxAttempts,
  );
}
