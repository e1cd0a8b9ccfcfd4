/**
 * What every step (SPM task or host job) shares: its own row of the engine's async_tasks table,
 * answered by its queries, and how an activity's failure is named to the command.
 */
import { ActivityFailure, ApplicationFailure, setHandler, workflowInfo } from '@temporalio/workflow';
import { ErrorType } from '../shared/errors';
import { commandStateQuery, rowSucceeded, taskTableQuery, type TaskRow } from '../shared/messages';
import type { HostJobStepInput, TaskStepInput } from '../shared/steps';
import type { CommandStatus } from '../shared/vocabulary';
import { stepRow } from './details';

/** The step's CommandStatus: its one row's outcome once Cleared. */
export function stepCommandStatus(row: TaskRow): CommandStatus {
  if (row.state !== 'Cleared') return 'ACTIVE';
  return rowSucceeded(row) ? 'ENDED_SUCCESSFULLY' : 'ENDED_WITH_FAILURE';
}

/** The step's row, Initializing, served by `taskTable` and `commandState` for as long as it runs. */
export function ownStepRow(input: TaskStepInput | HostJobStepInput, taskType: string): TaskRow {
  const commandId = workflowInfo().workflowId;
  const row = stepRow({
    commandType: input.stepType,
    commandId,
    parentCommandId: input.parentCommandId,
    rootCommandId: input.rootCommandId,
    image: input.image,
    taskType,
    description: input.description,
    status: 'init',
    startTime: new Date().toISOString(),
  });
  setHandler(taskTableQuery, () => [row]);
  setHandler(commandStateQuery, () => {
    const status = stepCommandStatus(row);
    return {
      commandType: input.stepType,
      commandId,
      commandStatus: status,
      vmId: input.vmId,
      storagePoolId: input.image.poolId,
      images: {
        total: 1,
        succeeded: status === 'ENDED_SUCCESSFULLY' ? 1 : 0,
        failed: status === 'ENDED_WITH_FAILURE' ? 1 : 0,
        running: status === 'ACTIVE' ? 1 : 0,
      },
      tasks: [row],
      failureReason: null,
    };
  });
  return row;
}

/** The type and message of an activity's failure, as the command should name them. */
export function failureOf(err: unknown): { type: string; message: string } {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure)
    return { type: cause.type ?? ErrorType.TaskFailed, message: cause.message };
  return { type: ErrorType.TaskFailed, message: (err as Error).message };
}
