import { log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { taskProgressSignal, type TaskRow } from '../shared/messages';

/** Where a task step's start reports the task it started: its parent and the step's row so far. */
export interface StartReport {
  parentId: string;
  row: TaskRow;
}

/**
 * Tells the step's parent that its task runs (the row Polling, with the VDSM task id). Sent by the
 * start activity rather than by the step: a signal the workflow sends costs its history two events
 * and a workflow task of its own (the server schedules one when the signal is delivered). A lost
 * report is logged, as the step's own signals are: the step still ends its task, and its result
 * carries the row to the parent. Repeating it (a retried start) is harmless: rows only move forward.
 */
export async function reportStarted(
  client: Client | undefined,
  report: StartReport | undefined,
  vdsmTaskId: string,
): Promise<void> {
  if (!client || !report) return;
  try {
    await client.workflow
      .getHandle(report.parentId)
      .signal(taskProgressSignal, { ...report.row, state: 'Polling', status: 'running', vdsmTaskId });
  } catch (err) {
    log.warn('could not report the started task to the parent', {
      parent: report.parentId,
      vdsmTaskId,
      error: (err as Error).message,
    });
  }
}
