import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  proxyActivities,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { OvirtActivities } from '../activities';
import { RemoveDiskInput, type RemoveDiskPlan, type RemoveDiskResult } from '../shared/commands';
import { ErrorType } from '../shared/errors';
import { SA } from '../shared/search-attributes';
import { CommandTracker, parseCommandInput, prepareCommand, runSteps } from './command-runner';
import { removeImageStep } from './step-inputs';
import { commandActivityOptions } from './options';

const { prepareRemoveDisk } = proxyActivities<OvirtActivities>({
  ...commandActivityOptions,
  summary: 'Validate and lock the disk',
});
const { finishCommand } = proxyActivities<OvirtActivities>({
  ...commandActivityOptions,
  summary: 'Release locks and audit',
});

/** RemoveDisk: one image, on the same RemoveImage step as RemoveVm. */
export async function removeDiskWorkflow(rawInput: RemoveDiskInput): Promise<RemoveDiskResult> {
  const input = parseCommandInput(RemoveDiskInput, 'RemoveDisk', rawInput);
  // Read by the tracker's title before it is set (a refused command has none).
  let prepared: RemoveDiskPlan | undefined = undefined;
  const tracker = new CommandTracker(
    'RemoveDisk',
    null,
    () => `Remove disk ${prepared?.image.alias ?? input.diskId}`,
    'removed',
  );

  prepared = await prepareCommand(tracker, () => prepareRemoveDisk(input));
  const { image: plan, attachedVmNames } = prepared;
  const step = removeImageStep(
    { commandId: tracker.commandId, vmId: null },
    plan,
    input.force,
    prepared.startMaxAttempts,
  );
  tracker.storagePoolId = plan.poolId;
  tracker.plan([step]);
  upsertSearchAttributes([{ key: SA.StoragePoolId, value: plan.poolId }]);
  const finish = (
    outcome: 'succeeded' | 'failed' | 'cancelled',
    restore: boolean,
    illegal: string[],
    reason: string | null,
  ) =>
    CancellationScope.nonCancellable(() =>
      finishCommand({
        commandType: 'RemoveDisk',
        subjectId: plan.diskId,
        subjectName: plan.alias,
        outcome,
        restore: restore ? { disks: [{ id: plan.diskId, status: plan.priorStatus }] } : null,
        illegalDiskIds: illegal,
        reason,
        domainName: plan.domainName,
        attachedVmNames,
      }),
    );

  if (CancellationScope.current().consideredCancelled) {
    await finish('cancelled', true, [], 'cancelled before the image was touched');
    tracker.setStatus('ENDED_WITH_FAILURE', 'cancelled');
    throw new CancelledFailure('cancelled before the image was touched');
  }

  const outcome = await runSteps(tracker, [step], { window: 1 });
  const reason = outcome.failed.length
    ? `disk ${plan.alias} is ILLEGAL: ${outcome.reasons.get(plan.diskId) ?? 'failed'}`
    : null;
  const cancelled = outcome.cancellation !== undefined;
  await finish(
    cancelled ? 'cancelled' : reason ? 'failed' : 'succeeded',
    outcome.notStarted.length > 0,
    outcome.failed,
    reason,
  );
  if (cancelled && isCancellation(outcome.cancellation)) {
    tracker.setStatus('ENDED_WITH_FAILURE', 'cancelled');
    throw outcome.cancellation;
  }
  if (reason) {
    tracker.setStatus('ENDED_WITH_FAILURE', reason);
    // The step's own failure type (TaskFailed, ImageNotPurged, VdsmError, ...) names the outcome.
    throw ApplicationFailure.create({
      type: outcome.failureTypes.get(plan.diskId) ?? ErrorType.TaskFailed,
      message: reason,
      nonRetryable: true,
      details: [{ diskId: plan.diskId }],
    });
  }
  tracker.setStatus('ENDED_SUCCESSFULLY');
  return { diskId: plan.diskId };
}
