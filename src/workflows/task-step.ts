/**
 * The async-task step: one SPM task of one image, from start to Task.clear. Every storage command
 * runs its tasks through it; the description in TaskStepInput says which verb, which end action,
 * and whether the task belongs to an all-or-nothing group.
 *
 * Initializing → start on the SPM → Polling → Ended → (group: wait for the parent's verdict) →
 * AttemptingEndAction (Task.revert first when a finished task must be undone) → Cleared, or
 * ClearFailed retried. Success only for finished+success. The history holds everything the engine
 * kept in async_tasks.
 */
import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { OvirtActivities, StartTaskResult } from '../activities';
import { ErrorType } from '../shared/errors';
import { groupVerdictSignal, rowSucceeded, taskProgressSignal, type TaskRow } from '../shared/messages';
import { SA } from '../shared/search-attributes';
import type { GroupVerdict, TaskStepInput, TaskStepResult } from '../shared/steps';
import { isTaskSuccess, type AsyncTaskResult, type AsyncTaskState } from '../shared/vocabulary';
import type { VdsmTaskStatus } from '../vdsm/port';
import { renderTaskTable } from './details';
import { startTaskActivityOptions } from './options';
import { failureOf, ownStepRow } from './step-row';
import {
  clearTask,
  endTaskStep,
  imageGone,
  revertTask,
  stopTask,
  untilDone,
  waitForTaskEnd,
} from './task-step-activities';
import { restartAfterRecovery } from './task-step-recovery';

/**
 * AsyncTaskState values worth a visibility write: a task running (with its VdsmTaskIds, which
 * searches for a VDSM task need while it runs), a clear stuck on ClearFailed, and the end (with the
 * step's CommandStatus). The others last a moment: current details and queries still show them.
 */
const SEARCHED_STATES: ReadonlySet<AsyncTaskState> = new Set<AsyncTaskState>([
  'Polling',
  'ClearFailed',
  'Cleared',
]);

const resultOf = (s: VdsmTaskStatus): AsyncTaskResult => (s.taskResult === '' ? 'unknown' : s.taskResult);
/** What an administrator should read about a failed task (cleanSuccess/cleanFailure are failures). */
const OUTCOME: Record<VdsmTaskStatus['taskResult'], string> = {
  success: 'finished',
  cleanSuccess: 'failed and VDSM rolled it back (cleanSuccess)',
  cleanFailure: 'failed and its rollback failed too (cleanFailure)',
  '': 'ended without a result',
};
const describeFailure = (s: VdsmTaskStatus): string =>
  s.taskState === 'unknown'
    ? 'the task vanished from the SPM (unknown)'
    : `task ${OUTCOME[s.taskResult]}${s.code ? ` (VDSM code ${s.code}: ${s.message})` : ''}`;

export async function runTaskStep(input: TaskStepInput): Promise<TaskStepResult> {
  const { image, task } = input;
  // Retryable refusals (99, 851, no SPM, a full queue) are retried a bounded number of times.
  const { startSpmTask } = proxyActivities<OvirtActivities>({
    ...startTaskActivityOptions,
    retry: { ...startTaskActivityOptions.retry, maximumAttempts: input.startMaxAttempts },
    summary: 'Start the task on the SPM',
  });
  const row = ownStepRow(input, task.taskVerb);
  const ended = (): boolean => row.state === 'Cleared';
  const succeededRow = (): boolean => rowSucceeded(row);
  let verdict: GroupVerdict | undefined;
  setHandler(groupVerdictSignal, (v) => {
    verdict ??= v;
  });
  const parent = getExternalWorkflowHandle(input.parentCommandId);

  /**
   * Moves the row on. 'send' reports it to the parent without waiting for delivery (a failed
   * signal, the parent gone, is logged: the step still ends its task); 'await' waits for delivery.
   */
  async function advance(patch: Partial<TaskRow>, tell: 'no' | 'send' | 'await' = 'no'): Promise<void> {
    const before = row.state;
    Object.assign(row, patch);
    setCurrentDetails(renderTaskTable(`**${input.stepType} ${image.alias}** (${row.state})`, [row]));
    if ((row.state !== before && SEARCHED_STATES.has(row.state)) || patch.vdsmTaskId) {
      upsertSearchAttributes([
        { key: SA.AsyncTaskState, value: row.state },
        ...(row.vdsmTaskId ? [{ key: SA.VdsmTaskIds, value: [row.vdsmTaskId] }] : []),
        ...(ended()
          ? [{ key: SA.CommandStatus, value: succeededRow() ? 'ENDED_SUCCESSFULLY' : 'ENDED_WITH_FAILURE' }]
          : []),
      ]);
    }
    if (tell === 'no') return;
    // Not cancellable: a cancel arriving before delivery must not take the report back.
    const delivery = CancellationScope.nonCancellable(() => parent.signal(taskProgressSignal, { ...row }));
    const sent = delivery.catch((err: unknown) => {
      log.warn('could not report the step to its parent', {
        parent: input.parentCommandId,
        state: row.state,
        error: (err as Error).message,
      });
    });
    if (tell === 'await') await sent;
  }

  async function endAndClear(
    succeeded: boolean,
    failureReason: string | null,
    vdsmTaskId: string | null,
    rolledBack: boolean,
  ): Promise<void> {
    await advance({ state: 'AttemptingEndAction' });
    await endTaskStep({
      end: input.end,
      image,
      rootCommandId: input.rootCommandId,
      succeeded,
      failureReason,
      rolledBack,
    });
    if (vdsmTaskId) {
      // ClearFailed is a state of its own, retried (the engine retried it every poll).
      await untilDone(
        () => clearTask({ poolId: image.poolId, vdsmTaskId }),
        () => advance({ state: 'ClearFailed' }),
      );
    }
  }

  const result = (r: Omit<TaskStepResult, 'imageId' | 'row'>): TaskStepResult => ({
    ...r,
    imageId: image.id,
    row: { ...row },
  });

  // Starting is short and must not be torn in half: a cancellation waits until we know the task.
  let start: StartTaskResult;
  try {
    // The start activity tells the parent that the task runs (see reportStarted): no signal here.
    const report = { parentId: input.parentCommandId, row: { ...row } };
    start = await CancellationScope.nonCancellable(() =>
      startSpmTask({ task, poolId: image.poolId, report }),
    );
  } catch (err) {
    const failure = failureOf(err);
    const failureReason = `${task.verb} could not be started: ${failure.message}`;
    await CancellationScope.nonCancellable(async () => {
      await advance({ status: 'unknown', message: failureReason });
      await endAndClear(false, failureReason, null, true);
      await advance({ state: 'Cleared', endTime: new Date().toISOString(), stepSucceeded: false });
    });
    return result({
      succeeded: false,
      vdsmTaskId: null,
      failureReason,
      failureType: failure.type,
      reverted: false,
    });
  }

  if (start.kind === 'alreadyDone') {
    // Image.delete answered 268: the image does not exist any more. The engine ends such a step
    // successfully at once, with no task.
    await CancellationScope.nonCancellable(async () => {
      await advance({
        status: 'finished',
        result: 'success',
        code: start.vdsmCode,
        message: start.vdsmMessage,
      });
      await endAndClear(true, null, null, false);
      await advance({ state: 'Cleared', endTime: new Date().toISOString(), stepSucceeded: true });
    });
    return result({
      succeeded: true,
      vdsmTaskId: null,
      failureReason: null,
      failureType: null,
      reverted: false,
    });
  }

  // `let`: a task rolled back by VDSM's recovery is replaced once (./task-step-recovery.ts).
  let vdsmTaskId = start.vdsmTaskId;
  let taskRef = { poolId: image.poolId, vdsmTaskId };
  await advance({ state: 'Polling', status: 'running', vdsmTaskId });

  let final: VdsmTaskStatus;
  let cancelledBy: Error | undefined;
  let waitFailure: { type: string; message: string } | null = null;
  /** Why a task rolled back by recovery was not started again (shown with the failure). */
  const recovery: { notRestarted: string | null } = { notRestarted: null };
  for (let restarted = false; ; restarted = true) {
    try {
      final = await waitForTaskEnd(taskRef);
    } catch (err) {
      if (isCancellation(err)) cancelledBy = err as Error;
      else waitFailure = failureOf(err);
      final = await CancellationScope.nonCancellable(() => stopAndWait());
    }
    if (restarted || cancelledBy || waitFailure) break;
    const restart = await restartAfterRecovery({ input, row, startSpmTask, advance }, final, vdsmTaskId);
    if ('notRestarted' in restart) {
      recovery.notRestarted = restart.notRestarted;
      break;
    }
    vdsmTaskId = restart.vdsmTaskId;
    taskRef = { poolId: image.poolId, vdsmTaskId };
  }

  /** A status that could not be read: treated as vanished; clearing retries until VDSM lets go. */
  function unreadable(err: unknown): VdsmTaskStatus {
    return {
      taskID: vdsmTaskId,
      taskState: 'unknown',
      taskResult: '',
      code: 0,
      message: failureOf(err).message,
    };
  }

  /** Stops the task, lets VDSM roll it back, and waits for it to end (aborting → cleaning → finished). */
  async function stopAndWait(): Promise<VdsmTaskStatus> {
    try {
      await stopTask(taskRef);
    } catch (err) {
      // Not stopped (the SPM refused or is away): the task runs on; waiting still tells its end.
      log.warn('Task.stop failed; waiting for the task to end anyway', {
        vdsmTaskId,
        error: failureOf(err).message,
      });
    }
    await advance({ status: 'aborting' });
    try {
      return await waitForTaskEnd(taskRef);
    } catch (again) {
      return unreadable(again);
    }
  }

  // The final status is the truth, even after a polling failure (the task may have finished meanwhile).
  let taskSucceeded = isTaskSuccess(final.taskState, resultOf(final));
  // Storage is the truth for a delete we stopped: VDSM lets the purge run to its end (it has no
  // abort callback) and then reports the task rolled back. A gone image is removed. Not for a
  // purge that failed by itself: its image is renamed away but its volumes stay (ILLEGAL).
  const stoppedByUs = cancelledBy !== undefined || waitFailure !== null;
  const imageRemovedAnyway =
    !taskSucceeded &&
    stoppedByUs &&
    task.verb === 'Image.delete' &&
    (await CancellationScope.nonCancellable(() =>
      imageGone({ poolId: image.poolId, domainId: image.domainId, imageId: image.id }).catch(() => false),
    ));
  if (imageRemovedAnyway) taskSucceeded = true;
  await advance(
    {
      state: 'Ended',
      status: final.taskState,
      result: resultOf(final),
      code: final.code,
      message: imageRemovedAnyway
        ? `${final.message ? `${final.message}; ` : ''}the image is gone from its domain: removed`
        : final.message,
    },
    input.group ? 'await' : 'no',
  );

  if (input.group && !cancelledBy) {
    // The parent decides once every member's task has ended; a cancel while waiting is a "no".
    try {
      await condition(() => verdict !== undefined);
    } catch (err) {
      if (!isCancellation(err)) throw err;
      cancelledBy = err as Error;
    }
  }
  const undo: string | null = cancelledBy
    ? 'cancelled'
    : verdict && !verdict.commit
      ? `the group failed: ${verdict.reason ?? 'another member failed'}`
      : null;

  let reverted = false;
  let failureReason: string | null;
  let failureType: string | null = null;
  if (taskSucceeded && undo && input.revertible) {
    // The task did its work but the command as a whole is not going ahead: VDSM rolls it back.
    const after = await CancellationScope.nonCancellable(async () => {
      await advance({ state: 'AttemptingEndAction' });
      // The SPM is away or busy: the volume must still go, so keep asking (as for Task.clear).
      await untilDone(
        () => revertTask(taskRef),
        (err) => log.warn('Task.revert failed, retrying', { vdsmTaskId, error: (err as Error).message }),
      );
      reverted = true;
      try {
        return await waitForTaskEnd(taskRef);
      } catch (err) {
        return unreadable(err);
      }
    });
    await advance({
      status: after.taskState,
      result: resultOf(after),
      code: after.code,
      message: after.message,
    });
    failureReason = `reverted (${undo})`;
    failureType = cancelledBy ? 'Cancelled' : ErrorType.GroupFailed;
  } else if (taskSucceeded) {
    // Storage is the truth: a task that finished with success did its work, cancelled or not.
    failureReason = null;
  } else {
    failureReason =
      (waitFailure
        ? `polling failed (${waitFailure.message}); ${describeFailure(final)}`
        : (cancelledBy ? 'cancelled: ' : '') + describeFailure(final)) +
      (recovery.notRestarted ? `; ${recovery.notRestarted}` : '');
    failureType = cancelledBy ? 'Cancelled' : (waitFailure?.type ?? ErrorType.TaskFailed);
  }
  const succeeded = taskSucceeded && !reverted;

  await CancellationScope.nonCancellable(async () => {
    // Storage is as before the step when VDSM rolled the task back or we reverted it.
    const rolledBack = reverted || row.result === 'cleanSuccess';
    await endAndClear(succeeded, failureReason, vdsmTaskId, rolledBack);
    // A step that ends by throwing its cancellation has no result to carry its row: it signals it.
    await advance(
      { state: 'Cleared', endTime: new Date().toISOString(), stepSucceeded: succeeded },
      cancelledBy && !input.group ? 'await' : 'no',
    );
  });

  if (cancelledBy && !succeeded && !input.group) throw cancelledBy;
  return result({ succeeded, vdsmTaskId, failureReason, failureType, reverted });
}

/** RemoveImage: Image.delete of one image group (RemoveVm, RemoveDisk). */
export async function removeImageWorkflow(input: TaskStepInput): Promise<TaskStepResult> {
  return runTaskStep(input);
}

/** AddImageFromScratch: Volume.create of a new disk's first volume (AddDisk). */
export async function addImageFromScratchWorkflow(input: TaskStepInput): Promise<TaskStepResult> {
  return runTaskStep(input);
}

/** CreateVolumeContainer: Volume.create of a destination volume a host job then fills (MoveDisk, CopyDisk). */
export async function createVolumeContainerWorkflow(input: TaskStepInput): Promise<TaskStepResult> {
  return runTaskStep(input);
}

/** CreateSnapshotDisk: Volume.create of a new COW leaf on one disk, in an all-or-nothing group. */
export async function createSnapshotDiskWorkflow(input: TaskStepInput): Promise<TaskStepResult> {
  return runTaskStep(input);
}

/** PrepareMerge: StoragePool.prepareMerge of a snapshot's volume and its child (RemoveSnapshot). */
export async function prepareMergeWorkflow(input: TaskStepInput): Promise<TaskStepResult> {
  return runTaskStep(input);
}

/** FinalizeMerge: StoragePool.finalizeMerge, the merged-away volume leaves the chain (RemoveSnapshot). */
export async function finalizeMergeWorkflow(input: TaskStepInput): Promise<TaskStepResult> {
  return runTaskStep(input);
}

/** DestroyImage: Image.deleteVolumes of the merged-away volume (RemoveSnapshot). */
export async function destroyImageWorkflow(input: TaskStepInput): Promise<TaskStepResult> {
  return runTaskStep(input);
}
