import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  proxyActivities,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { OvirtActivities } from '../activities';
import { RemoveVmInput, type RemoveVmPlan, type RemoveVmResult } from '../shared/commands';
import { ErrorType, type IllegalDisksDetails } from '../shared/errors';
import { MAX_IDS_IN_SEARCH_ATTRIBUTE, SA } from '../shared/search-attributes';
import { CommandTracker, parseCommandInput, prepareCommand, runSteps } from './command-runner';
import { removeImageStep } from './step-inputs';
import { commandActivityOptions } from './options';

const { prepareRemoveVm } = proxyActivities<OvirtActivities>({
  ...commandActivityOptions,
  summary: 'Validate and lock the VM and its disks',
});
const { removeVmRecord } = proxyActivities<OvirtActivities>({
  ...commandActivityOptions,
  summary: 'Remove the VM record',
});
const { finishCommand } = proxyActivities<OvirtActivities>({
  ...commandActivityOptions,
  summary: 'Release locks and audit',
});

/**
 * RemoveVm, as the engine runs it: validate; lock the VM and its images; VM ImageLocked, images
 * LOCKED; remove the VM record; one RemoveImage child per image; succeed only if every image was
 * removed, else fail as "finished with illegal disks" naming them. Locks go on every path.
 */
export async function removeVmWorkflow(rawInput: RemoveVmInput): Promise<RemoveVmResult> {
  const input = parseCommandInput(RemoveVmInput, 'RemoveVm', rawInput);
  // Read by the tracker's title before it is set (a refused command has none).
  let plan: RemoveVmPlan | undefined = undefined;
  const tracker = new CommandTracker(
    'RemoveVm',
    input.vmId,
    () => (plan ? `Remove VM ${plan.vmName}: ${plan.images.length} images` : `Remove VM ${input.vmId}`),
    'removed',
  );

  plan = await prepareCommand(tracker, () => prepareRemoveVm(input));
  const { images } = plan;
  const steps = images.map((image) =>
    removeImageStep(
      { commandId: tracker.commandId, vmId: plan.vmId },
      image,
      input.force,
      plan.startMaxAttempts,
    ),
  );
  tracker.storagePoolId = plan.poolId;
  tracker.plan(steps);
  upsertSearchAttributes([
    { key: SA.StoragePoolId, value: plan.poolId },
    { key: SA.ImageIds, value: images.slice(0, MAX_IDS_IN_SEARCH_ATTRIBUTE).map((i) => i.diskId) },
  ]);

  const restoreAll = {
    vm: { id: plan.vmId, status: plan.priorVmStatus },
    disks: images.map((i) => ({ id: i.diskId, status: i.priorStatus })),
  };
  if (CancellationScope.current().consideredCancelled) {
    await CancellationScope.nonCancellable(() =>
      finishCommand({
        commandType: 'RemoveVm',
        subjectId: plan.vmId,
        subjectName: plan.vmName,
        outcome: 'cancelled',
        restore: restoreAll,
        illegalDiskIds: [],
        reason: 'cancelled before any image was touched',
      }),
    );
    tracker.setStatus('ENDED_WITH_FAILURE', 'cancelled');
    throw new CancelledFailure('cancelled before any image was touched');
  }

  let outcome;
  try {
    await CancellationScope.nonCancellable(() => removeVmRecord({ vmId: plan.vmId }));
    outcome = await runSteps(tracker, steps, { window: plan.maxConcurrentImages });
  } catch (err) {
    // Unexpected (not a child's failure, which runImageSteps absorbs): still release everything.
    await CancellationScope.nonCancellable(() =>
      finishCommand({
        commandType: 'RemoveVm',
        subjectId: plan.vmId,
        subjectName: plan.vmName,
        outcome: 'failed',
        restore: null,
        illegalDiskIds: [],
        reason: (err as Error).message,
      }),
    );
    tracker.setStatus('EXECUTION_FAILED', (err as Error).message);
    throw err;
  }

  const cancelled = outcome.cancellation !== undefined;
  // The engine's DisksNames, with why each one failed.
  const illegalDisks = outcome.failed
    .map(
      (id) => `${images.find((i) => i.diskId === id)?.alias ?? id} (${outcome.reasons.get(id) ?? 'failed'})`,
    )
    .join('; ');
  const reason = outcome.failed.length ? `finished with illegal disks: ${illegalDisks}` : null;
  await CancellationScope.nonCancellable(() =>
    finishCommand({
      commandType: 'RemoveVm',
      subjectId: plan.vmId,
      subjectName: plan.vmName,
      outcome: cancelled ? 'cancelled' : reason ? 'failed' : 'succeeded',
      // Images never started are intact: they go back to what they were.
      restore: outcome.notStarted.length
        ? {
            disks: outcome.notStarted.map((s) => ({
              id: s.image.id,
              status: images.find((i) => i.diskId === s.image.id)?.priorStatus ?? 'OK',
            })),
          }
        : null,
      illegalDiskIds: outcome.failed,
      reason: illegalDisks || null,
    }),
  );

  if (cancelled) {
    tracker.setStatus('ENDED_WITH_FAILURE', 'cancelled');
    if (isCancellation(outcome.cancellation)) throw outcome.cancellation;
  }
  if (reason) {
    tracker.setStatus('ENDED_WITH_FAILURE', reason);
    const details: IllegalDisksDetails = {
      vmId: plan.vmId,
      illegalDiskIds: outcome.failed,
      removedDiskIds: outcome.succeeded,
      failureTypes: Object.fromEntries(outcome.failureTypes),
    };
    throw ApplicationFailure.create({
      type: ErrorType.FinishedWithIllegalDisks,
      message: `Remove VM ${plan.vmName} ${reason}`,
      nonRetryable: true,
      details: [details],
    });
  }
  tracker.setStatus('ENDED_SUCCESSFULLY');
  return { vmId: plan.vmId, vmName: plan.vmName, removedDiskIds: outcome.succeeded };
}
