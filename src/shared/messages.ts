/**
 * Query and signal definitions shared by workflows and the client. The query answers with the
 * same table the engine keeps in `async_tasks`, so `temporal workflow query` shows it too.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import {
  isTaskSuccess,
  type AsyncTaskResult,
  type AsyncTaskState,
  type AsyncTaskStatus,
  type CommandStatus,
  type CommandType,
} from './vocabulary';
import type { JobView } from './job-view';
import type { GroupVerdict } from './steps';

/** One row of the engine's async_tasks table, per image step. */
export interface TaskRow {
  /** The step's own command (RemoveImage, AddImageFromScratch, CreateSnapshotDisk) and its workflow id. */
  commandType: CommandType;
  commandId: string;
  /** The command that started the step (RemoveVm / RemoveDisk) and the root of the tree. */
  parentCommandId: string;
  rootCommandId: string;
  imageId: string;
  imageAlias: string;
  storagePoolId: string;
  /** VDSM verb of the task, as VDSM names it (deleteImage, createVolume). */
  taskType: string;
  vdsmTaskId: string | null;
  stepDescription: string;
  status: AsyncTaskStatus;
  result: AsyncTaskResult;
  state: AsyncTaskState;
  /** VDSM code/message of the last status seen (non-zero code = the job's error). */
  code: number | null;
  message: string | null;
  startTime: string | null;
  endTime: string | null;
  /**
   * Set once the step has ended: whether its work is done. Usually finished+success; an
   * Image.delete whose image is gone from storage is done whatever the task reported (VDSM lets a
   * stopped purge run to its end, then reports the task rolled back).
   */
  stepSucceeded?: boolean;
  /**
   * Host-job steps only: their job. The step sets it when the job starts and when it ends; while
   * it runs, `queryLiveCommandState` fills in the phase, status and progress from the waiting
   * activity's last heartbeat (which never enters the history).
   */
  job?: JobView;
}

/** Whether a row's step has ended with its work done (see `TaskRow.stepSucceeded`). */
export function rowSucceeded(row: TaskRow): boolean {
  return row.state === 'Cleared' && (row.stepSucceeded ?? isTaskSuccess(row.status, row.result));
}

/** What a command (RemoveVm / RemoveDisk) answers about itself. */
export interface CommandState {
  commandType: CommandType;
  commandId: string;
  commandStatus: CommandStatus;
  vmId: string | null;
  storagePoolId: string | null;
  images: { total: number; succeeded: number; failed: number; running: number };
  tasks: TaskRow[];
  failureReason: string | null;
}

export const commandStateQuery = defineQuery<CommandState>('commandState');
export const taskTableQuery = defineQuery<TaskRow[]>('taskTable');
/** The parent's verdict to the members of an all-or-nothing group (CreateSnapshot). */
export const groupVerdictSignal = defineSignal<[GroupVerdict]>('groupVerdict');
/** A step reports its row to its parent at the moments that matter (task started, step ended). */
export const taskProgressSignal = defineSignal<[TaskRow]>('taskProgress');
