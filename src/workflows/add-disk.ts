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
import { AddDiskInput, type AddDiskResult } from '../shared/commands';
import { ErrorType } from '../shared/errors';
import { SA } from '../shared/search-attributes';
import { CommandTracker, parseCommandInput, prepareCommand, runSteps } from './command-runner';
import { commandActivityOptions } from './options';
import { addImageStep } from './step-inputs';

const { prepareAddDisk, finishAddDisk } = proxyActivities<OvirtActivities>({
  ...commandActivityOptions,
  summary: 'Validate, lock, add the disk LOCKED / release locks and audit',
});

/**
 * AddDisk, as the engine runs it: validate; lock; the disk and its volume added LOCKED with ids
 * chosen here (uuid4 is deterministic on replay); one AddImageFromScratch step (Volume.create on
 * the SPM); on success the disk is OK with its real size, on failure its rows go. Locks go on
 * every path.
 */
export async function addDiskWorkflow(rawInput: AddDiskInput): Promise<AddDiskResult> {
  const input = parseCommandInput(AddDiskInput, 'AddDisk', rawInput);
  const diskId = uuid4();
  const volumeId = uuid4();
  const tracker = new CommandTracker('AddDisk', input.vmId, () => `Add disk ${input.alias}`, 'added');

  const plan = await prepareCommand(tracker, () => prepareAddDisk({ input, diskId, volumeId }));
  const step = addImageStep({ commandId: tracker.commandId, vmId: plan.vmId }, plan);
  tracker.storagePoolId = plan.poolId;
  tracker.plan([step]);
  upsertSearchAttributes([
    { key: SA.StoragePoolId, value: plan.poolId },
    { key: SA.ImageIds, value: [plan.diskId] },
  ]);
  const finish = (
    outcome: 'succeeded' | 'failed' | 'cancelled',
    removeRows: boolean,
    reason: string | null,
  ) => CancellationScope.nonCancellable(() => finishAddDisk({ plan, outcome, removeRows, reason }));

  if (CancellationScope.current().consideredCancelled) {
    await finish('cancelled', true, 'cancelled before the volume was created');
    tracker.setStatus('ENDED_WITH_FAILURE', 'cancelled');
    throw new CancelledFailure('cancelled before the volume was created');
  }

  const outcome = await runSteps(tracker, [step], { window: 1 });
  const cancelled = outcome.cancellation !== undefined;
  const reason = outcome.failed.length
    ? `disk ${plan.alias} was not added: ${outcome.reasons.get(plan.diskId) ?? 'failed'}`
    : null;
  await finish(
    cancelled && reason ? 'cancelled' : reason ? 'failed' : 'succeeded',
    outcome.notStarted.length > 0,
    reason,
  );
  if (cancelled && reason && isCancellation(outcome.cancellation)) {
    tracker.setStatus('ENDED_WITH_FAILURE', 'cancelled');
    throw outcome.cancellation;
  }
  if (reason) {
    tracker.setStatus('ENDED_WITH_FAILURE', reason);
    // The step's own failure type (TaskFailed, VdsmError, ...) names the outcome.
    throw ApplicationFailure.create({
      type: outcome.failureTypes.get(plan.diskId) ?? ErrorType.TaskFailed,
      message: reason,
      nonRetryable: true,
      details: [{ diskId: plan.diskId, volumeId: plan.volumeId }],
    });
  }
  tracker.setStatus('ENDED_SUCCESSFULLY');
  return { diskId: plan.diskId, volumeId: plan.volumeId };
}
