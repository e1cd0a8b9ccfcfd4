/**
 * The task step's restart of a task VDSM's recovery (an SPM restart or failover) rolled back
 * although the step never asked for a stop (./task-step.ts).
 */
import { CancellationScope, log } from '@temporalio/workflow';
import type { OvirtActivities, StartTaskResult } from '../activities';
import type { TaskRow } from '../shared/messages';
import { restartsAfterRecovery, type TaskStepInput } from '../shared/steps';
import type { VdsmTaskStatus } from '../vdsm/port';
import { failureOf } from './step-row';
import { auditTaskRestart, clearTask, imageGone, untilDone } from './task-step-activities';

/**
 * Rolled back with no error of its own (code 0, cleanSuccess): VDSM's recovery after an SPM restart
 * or failover (a reloaded task reports code 0), not a failed job (its code) nor a stop (411).
 */
const rolledBackByRecovery = (s: VdsmTaskStatus): boolean =>
  s.taskState === 'finished' && s.taskResult === 'cleanSuccess' && s.code === 0;

/** What the step running the task gives its restart. */
export interface RestartingStep {
  input: TaskStepInput;
  row: TaskRow;
  /** The step's start activity (its attempts bounded by the input). */
  startSpmTask: OvirtActivities['startSpmTask'];
  /** The step's row update (see runTaskStep). */
  advance: (patch: Partial<TaskRow>) => Promise<void>;
}

/** The new task, or why the rolled-back one was not started again (null: no restart applies). */
export type RecoveryRestart = { vdsmTaskId: string } | { notRestarted: string | null };

/**
 * A task VDSM's recovery rolled back (not a stop of ours, not a failure of its own) is started
 * once more when its verb allows it and storage shows the first one had not begun: for
 * Image.delete the image is still listed (VDSM renames it when the purge is scheduled, or when
 * zeroing starts; a renamed one cannot be deleted again). The old task is cleared first, which
 * drops its claim and intent, so the new start goes through the same no-duplicate protocol.
 */
export async function restartAfterRecovery(
  step: RestartingStep,
  ended: VdsmTaskStatus,
  vdsmTaskId: string,
): Promise<RecoveryRestart> {
  const { input, row, advance } = step;
  const { image, task } = input;
  if (!restartsAfterRecovery(task) || !rolledBackByRecovery(ended)) return { notRestarted: null };
  return CancellationScope.nonCancellable(async (): Promise<RecoveryRestart> => {
    const untouched = !(await imageGone({
      poolId: image.poolId,
      domainId: image.domainId,
      imageId: image.id,
    }).catch(() => true));
    if (!untouched) {
      return {
        notRestarted:
          'VDSM recovery rolled it back after the image had left its domain listing (renamed for deletion: its volumes may remain), so it was not started again',
      };
    }
    await advance({ message: `rolled back by VDSM recovery; starting ${task.verb} again` });
    // The SPM is away or busy: the old task must go before its verb is sent again.
    await untilDone(
      () => clearTask({ poolId: image.poolId, vdsmTaskId }),
      (err) =>
        log.warn('Task.clear of a rolled-back task failed, retrying', {
          vdsmTaskId,
          error: failureOf(err).message,
        }),
    );
    await auditTaskRestart({
      verb: task.verb,
      end: input.end,
      image,
      rootCommandId: input.rootCommandId,
      vdsmTaskId,
    });
    let again: StartTaskResult;
    try {
      // As the first start: the activity tells the parent about the new task (reportStarted).
      const report = { parentId: input.parentCommandId, row: { ...row, message: '' } };
      again = await step.startSpmTask({ task, poolId: image.poolId, report });
    } catch (err) {
      return { notRestarted: `starting it again failed: ${failureOf(err).message}` };
    }
    if (again.kind !== 'started') {
      // The image vanished between the check and the start: nothing proves it was purged.
      return {
        notRestarted: `starting it again answered VDSM code ${again.vdsmCode} (${again.vdsmMessage})`,
      };
    }
    await advance({ status: 'running', vdsmTaskId: again.vdsmTaskId, message: '' });
    return { vdsmTaskId: again.vdsmTaskId };
  });
}
