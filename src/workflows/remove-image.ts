import {
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { OvirtActivities, StartTaskResult } from '../activities';
import type { RemoveImageInput, RemoveImageResult } from '../shared/commands';
import { commandStateQuery, taskProgressSignal, taskTableQuery, type TaskRow } from '../shared/messages';
import { SA } from '../shared/search-attributes';
import { isTaskSuccess, type AsyncTaskResult, type AsyncTaskState } from '../shared/vocabulary';
import type { VdsmTaskStatus } from '../vdsm/port';
import { initialTaskRow, renderTaskTable } from './details';
import {
  endActionActivityOptions,
  startTaskActivityOptions,
  vdsmTaskVerbActivityOptions,
  waitTaskActivityOptions,
} from './options';

const { startImageDelete } = proxyActivities<OvirtActivities>({
  ...startTaskActivityOptions,
  summary: 'Image.delete on the SPM',
});
const { waitForTaskEnd } = proxyActivities<OvirtActivities>({
  ...waitTaskActivityOptions,
  summary: 'Poll the VDSM task until it ends',
});
const { endRemoveImage } = proxyActivities<OvirtActivities>({
  ...endActionActivityOptions,
  summary: 'End action',
});
const { stopTask } = proxyActivities<OvirtActivities>({
  ...vdsmTaskVerbActivityOptions,
  summary: 'Task.stop',
});
const { clearTask } = proxyActivities<OvirtActivities>({
  ...vdsmTaskVerbActivityOptions,
  summary: 'Task.clear',
});
/**
 * The end of a step as local activities: the end action (inventory writes) and Task.clear take
 * milliseconds, so the worker runs them inside the workflow task that learnt the task ended. Each
 * is one marker in the history instead of an activity's three events and a workflow task of its
 * own; retries, and a worker dying mid-way, work as for the others (both are idempotent).
 */
const local = {
  endRemoveImage: proxyLocalActivities<OvirtActivities>({
    ...endActionActivityOptions,
    summary: 'End action',
  }).endRemoveImage,
  clearTask: proxyLocalActivities<OvirtActivities>({ ...vdsmTaskVerbActivityOptions, summary: 'Task.clear' })
    .clearTask,
};

/**
 * Patch id of the lean step (runs started before it replay the old command sequence):
 * - the "Polling" report to the parent is sent, not awaited: waitForTaskEnd is scheduled in the
 *   same workflow task, and a failed signal (parent gone) is logged instead of failing the step;
 * - the final row reaches the parent in the step's result ({@link RemoveImageOutcome.row}) instead
 *   of a "Cleared" signal (still signalled, and awaited, when the step ends by throwing its
 *   cancellation, which carries no result);
 * - AsyncTaskState is upserted only on the states searches need ({@link SEARCHED_STATES}), not on
 *   every change.
 */
export const LEAN_STEP_PATCH = 'remove-image-lean-progress';

/**
 * Patch id of the lean step whose end action and Task.clear run as local activities (see
 * `local`). It implies {@link LEAN_STEP_PATCH}: a run takes one patch, because each patch costs
 * its run a marker and a visibility write (the SDK upserts TemporalChangeVersion).
 */
export const LOCAL_END_PATCH = 'remove-image-local-end';

/**
 * AsyncTaskState values worth a visibility write: a task running (with its VdsmTaskIds, which
 * searches for a VDSM task need while it runs), a clear stuck on ClearFailed, and the end (with the
 * step's CommandStatus). Ended and AttemptingEndAction last a moment: the step's current details
 * and its queries still show them.
 */
const SEARCHED_STATES: ReadonlySet<AsyncTaskState> = new Set<AsyncTaskState>([
  'Polling',
  'ClearFailed',
  'Cleared',
]);

/** The step's result; `row` (lean runs) is its final task-table row, which the parent shows. */
export interface RemoveImageOutcome extends RemoveImageResult {
  row?: TaskRow;
}

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

/**
 * RemoveImage: the engine's async-task step for one image group. Initializing → Image.delete on
 * the SPM → Polling → Ended → AttemptingEndAction → Cleared (or ClearFailed, retried). Success only
 * for finished+success. Cancellation stops the task, waits for it to end, runs the end action
 * and clears it. The history holds everything the engine kept in async_tasks.
 */
export async function removeImageWorkflow(input: RemoveImageInput): Promise<RemoveImageOutcome> {
  // First, before any command: the run keeps the path it started with (newest patch first).
  const localEnd = patched(LOCAL_END_PATCH);
  const lean = localEnd || patched(LEAN_STEP_PATCH);
  const { endRemoveImage: endAction, clearTask: clear } = localEnd ? local : { endRemoveImage, clearTask };
  const { image } = input;
  const commandId = workflowInfo().workflowId;
  const row: TaskRow = initialTaskRow({
    commandId,
    parentCommandId: input.parentCommandId,
    rootCommandId: input.rootCommandId,
    image,
    status: 'init',
    startTime: new Date().toISOString(),
  });
  setHandler(taskTableQuery, () => [row]);
  setHandler(commandStateQuery, () => ({
    commandType: 'RemoveImage',
    commandId,
    commandStatus:
      row.state === 'Cleared'
        ? isTaskSuccess(row.status, row.result)
          ? 'ENDED_SUCCESSFULLY'
          : 'ENDED_WITH_FAILURE'
        : 'ACTIVE',
    vmId: input.vmId,
    storagePoolId: image.poolId,
    images: {
      total: 1,
      succeeded: row.state === 'Cleared' && isTaskSuccess(row.status, row.result) ? 1 : 0,
      failed: row.state === 'Cleared' && !isTaskSuccess(row.status, row.result) ? 1 : 0,
      running: row.state === 'Cleared' ? 0 : 1,
    },
    tasks: [row],
    failureReason: null,
  }));
  const parent = getExternalWorkflowHandle(input.parentCommandId);

  /**
   * Moves the row on; the parent hears about the moments its table needs (started, ended).
   * `tell`: 'no'; 'send' the row to the parent without waiting for the signal to be delivered
   * (lean runs; old runs await it); 'await' its delivery. In lean runs a failed signal (the parent
   * has closed) is logged, never thrown: the step goes on and ends its task all the same.
   */
  async function advance(patch: Partial<TaskRow>, tell: 'no' | 'send' | 'await' = 'no'): Promise<void> {
    const before = row.state;
    Object.assign(row, patch);
    setCurrentDetails(renderTaskTable(`**RemoveImage ${image.alias}** (${row.state})`, [row]));
    const upsert = lean
      ? (row.state !== before && SEARCHED_STATES.has(row.state)) || Boolean(patch.vdsmTaskId)
      : row.state !== before || Boolean(patch.vdsmTaskId);
    if (upsert) {
      // The step's own CommandStatus included once it has ended.
      const ended = row.state === 'Cleared';
      upsertSearchAttributes([
        { key: SA.AsyncTaskState, value: row.state },
        ...(row.vdsmTaskId ? [{ key: SA.VdsmTaskIds, value: [row.vdsmTaskId] }] : []),
        ...(ended
          ? [
              {
                key: SA.CommandStatus,
                value: isTaskSuccess(row.status, row.result) ? 'ENDED_SUCCESSFULLY' : 'ENDED_WITH_FAILURE',
              },
            ]
          : []),
      ]);
    }
    if (tell === 'no') return;
    if (!lean) {
      await parent.signal(taskProgressSignal, { ...row });
      return;
    }
    // Not cancellable: a cancel arriving before delivery must not take the report back (the
    // step's own cancellation handling goes on from waitForTaskEnd, scheduled meanwhile).
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
  /** How the step tells its parent it has been cleared: lean runs return the row instead. */
  const clearedReport = lean ? 'no' : 'await';
  const outcome = (result: RemoveImageResult): RemoveImageOutcome =>
    lean ? { ...result, row: { ...row } } : result;

  // Starting is short and must not be torn in half: a cancellation waits until we know the task.
  let start: StartTaskResult;
  try {
    start = await CancellationScope.nonCancellable(() => startImageDelete({ image, force: input.force }));
  } catch (err) {
    const failureReason = `Image.delete could not be started: ${(err as Error).message}`;
    await CancellationScope.nonCancellable(async () => {
      await advance({ state: 'AttemptingEndAction', status: 'unknown', message: failureReason });
      await endAction({ image, rootCommandId: input.rootCommandId, succeeded: false, failureReason });
      await advance({ state: 'Cleared', endTime: new Date().toISOString() }, clearedReport);
    });
    return outcome({ diskId: image.diskId, succeeded: false, vdsmTaskId: null, failureReason });
  }

  if (start.kind === 'alreadyGone') {
    // 268: the image does not exist any more. The engine ends such a step successfully at once.
    await CancellationScope.nonCancellable(async () => {
      await advance({
        state: 'AttemptingEndAction',
        status: 'finished',
        result: 'success',
        code: 268,
        message: start.vdsmMessage,
      });
      await endAction({
        image,
        rootCommandId: input.rootCommandId,
        succeeded: true,
        failureReason: null,
      });
      await advance({ state: 'Cleared', endTime: new Date().toISOString() }, clearedReport);
    });
    return outcome({ diskId: image.diskId, succeeded: true, vdsmTaskId: null, failureReason: null });
  }

  const vdsmTaskId = start.vdsmTaskId;
  const task = { poolId: image.poolId, vdsmTaskId };
  // Lean runs schedule waitForTaskEnd in the same workflow task as the report to the parent.
  await advance({ state: 'Polling', status: 'running', vdsmTaskId }, 'send');

  let final: VdsmTaskStatus;
  let cancelledBy: Error | undefined;
  let waitFailure: string | null = null;
  try {
    final = await waitForTaskEnd(task);
  } catch (err) {
    if (isCancellation(err)) cancelledBy = err as Error;
    else waitFailure = `polling failed: ${(err as Error).message}`;
    // Stop the task and let VDSM roll it back; then it ends (aborting → cleaning → finished).
    final = await CancellationScope.nonCancellable(async () => {
      await stopTask(task);
      await advance({ status: 'aborting' });
      try {
        return await waitForTaskEnd(task);
      } catch (again) {
        // Status still unreadable: treat as vanished; clearing below retries until VDSM lets go.
        return {
          taskID: vdsmTaskId,
          taskState: 'unknown' as const,
          taskResult: '' as const,
          code: 0,
          message: (again as Error).message,
        };
      }
    });
  }

  // Storage is the truth: a task that finished with success removed the image, cancelled or not.
  const succeeded = waitFailure === null && isTaskSuccess(final.taskState, resultOf(final));
  const failureReason = succeeded
    ? null
    : (waitFailure ?? (cancelledBy ? 'cancelled: ' : '') + describeFailure(final));
  // A step that ends by throwing its cancellation has no result to carry its row: it signals it.
  const endsCancelled = cancelledBy !== undefined && !succeeded;

  await CancellationScope.nonCancellable(async () => {
    await advance({
      state: 'Ended',
      status: final.taskState,
      result: resultOf(final),
      code: final.code,
      message: final.message,
    });
    await advance({ state: 'AttemptingEndAction' });
    await endAction({ image, rootCommandId: input.rootCommandId, succeeded, failureReason });
    for (let attempt = 0; ; attempt++) {
      try {
        await clear(task);
        break;
      } catch {
        // ClearFailed is a state of its own, retried (the engine retried it every poll).
        await advance({ state: 'ClearFailed' });
        await sleep(Math.min(60_000, 2_000 * 2 ** attempt));
      }
    }
    await advance(
      { state: 'Cleared', endTime: new Date().toISOString() },
      endsCancelled ? 'await' : clearedReport,
    );
  });

  if (endsCancelled && cancelledBy) throw cancelledBy;
  return outcome({ diskId: image.diskId, succeeded, vdsmTaskId, failureReason });
}
