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
import type { PreparedSnapshot } from '../activities/create-snapshot';
import { CreateSnapshotInput, type CreateSnapshotPlan, type CreateSnapshotResult } from '../shared/commands';
import { ErrorType } from '../shared/errors';
import { MAX_IDS_IN_SEARCH_ATTRIBUTE, SA } from '../shared/search-attributes';
import { CommandTracker, parseCommandInput, prepareCommand, runSteps } from './command-runner';
import { commandActivityOptions } from './options';
import { snapshotDiskSteps } from './step-inputs';

const { prepareCreateSnapshot, finishCreateSnapshot } = proxyActivities<OvirtActivities>({
  ...commandActivityOptions,
  summary: 'Validate, lock, snapshot row LOCKED / release locks and audit',
});

/**
 * Cold CreateSnapshot, all or nothing: validate (VM Down); lock the VM; the snapshot row and the
 * disks LOCKED; one CreateSnapshotDisk step per disk (Volume.create of a new COW leaf), all at
 * once. When every task has ended the steps are told to commit (all succeeded: the new volumes
 * become the active images) or to revert (Task.revert of each task that finished with success,
 * then Task.clear). A cancel reverts likewise. Nothing LOCKED is left behind.
 */
export async function createSnapshotWorkflow(rawInput: CreateSnapshotInput): Promise<CreateSnapshotResult> {
  const input = parseCommandInput(CreateSnapshotInput, 'CreateSnapshot', rawInput);
  const snapshotId = uuid4();
  // Read by the tracker's title before it is set (a refused command has none).
  let prepared: PreparedSnapshot | undefined = undefined;
  const tracker = new CommandTracker(
    'CreateSnapshot',
    input.vmId,
    () => `Snapshot '${input.description}' of VM ${prepared?.vmName ?? input.vmId}`,
    'created',
  );

  prepared = await prepareCommand(tracker, () => prepareCreateSnapshot({ input, snapshotId }));
  const base = prepared;
  // Volume ids are chosen here, after validation told which disks take part (deterministic on replay).
  const plan: CreateSnapshotPlan = {
    ...base,
    disks: base.disks.map((d) => ({ ...d, newVolumeId: uuid4() })),
  };
  const steps = snapshotDiskSteps({ commandId: tracker.commandId, vmId: plan.vmId }, plan);
  tracker.storagePoolId = plan.poolId;
  tracker.plan(steps);
  upsertSearchAttributes([
    { key: SA.StoragePoolId, value: plan.poolId },
    { key: SA.ImageIds, value: plan.disks.slice(0, MAX_IDS_IN_SEARCH_ATTRIBUTE).map((d) => d.diskId) },
  ]);
  const finish = (outcome: 'succeeded' | 'failed' | 'cancelled', reason: string | null) =>
    CancellationScope.nonCancellable(() => finishCreateSnapshot({ plan: base, outcome, reason }));

  if (CancellationScope.current().consideredCancelled) {
    await finish('cancelled', 'cancelled before any volume was created');
    tracker.setStatus('ENDED_WITH_FAILURE', 'cancelled');
    throw new CancelledFailure('cancelled before any volume was created');
  }

  // Every member runs at once: the verdict waits for all of them.
  const outcome = await runSteps(tracker, steps, { window: steps.length, group: true });
  const cancelled = outcome.cancellation !== undefined;
  const firstFailed = plan.disks.find(
    (d) => outcome.failed.includes(d.diskId) && outcome.failureTypes.get(d.diskId) !== ErrorType.GroupFailed,
  );
  const reason =
    outcome.failed.length === 0
      ? null
      : `disk ${firstFailed?.alias ?? outcome.failed[0]} failed (${outcome.reasons.get(firstFailed?.diskId ?? outcome.failed[0]!) ?? 'failed'}); every disk was reverted`;
  await finish(cancelled ? 'cancelled' : reason ? 'failed' : 'succeeded', reason);
  if (cancelled) {
    tracker.setStatus('ENDED_WITH_FAILURE', 'cancelled');
    throw isCancellation(outcome.cancellation) ? outcome.cancellation : new CancelledFailure('cancelled');
  }
  if (reason) {
    tracker.setStatus('ENDED_WITH_FAILURE', reason);
    throw ApplicationFailure.create({
      type: (firstFailed && outcome.failureTypes.get(firstFailed.diskId)) ?? ErrorType.TaskFailed,
      message: `Snapshot '${plan.description}' of VM ${plan.vmName}: ${reason}`,
      nonRetryable: true,
      details: [{ vmId: plan.vmId, snapshotId: plan.snapshotId, failedDiskIds: outcome.failed }],
    });
  }
  tracker.setStatus('ENDED_SUCCESSFULLY');
  return {
    snapshotId: plan.snapshotId,
    vmId: plan.vmId,
    volumes: plan.disks.map((d) => ({ diskId: d.diskId, volumeId: d.newVolumeId })),
  };
}
