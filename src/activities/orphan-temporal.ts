/**
 * The Temporal half of the MoveDisk/CopyDisk orphan rules (src/activities/orphan-move-copy.ts): a
 * closed command's input, and starting the RemoveImage step of an image it left on storage. Used
 * by the janitor's sweep and by `ovirt-tasks unlock`.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { workflowIds, WorkflowType } from '../shared/names';
import { SA } from '../shared/search-attributes';
import type { TaskStepInput } from '../shared/steps';
import type { OrphanCommandPorts } from './orphan-move-copy';

/** Bounded calls: a sweep stuck on an unreachable server would hold the Schedule. */
const DEADLINE_MS = 10_000;

/** `startMaxAttempts`: the worker's TASK_START_MAX_ATTEMPTS, given to each removal step it starts. */
export function temporalCommandPorts(
  client: Client,
  taskQueue: string,
  startMaxAttempts: number,
): OrphanCommandPorts {
  return {
    async commandInput(workflowId) {
      try {
        const history = await client.withDeadline(Date.now() + DEADLINE_MS, () =>
          client.workflow.getHandle(workflowId).fetchHistory(),
        );
        const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
        return payload ? defaultPayloadConverter.fromPayload(payload) : null;
      } catch (err) {
        if ((err as Error).name === 'WorkflowNotFoundError') return null;
        throw err;
      }
    },

    async startImageRemoval(step: TaskStepInput) {
      const workflowId = workflowIds.taskStep(step.parentCommandId, step.stepType, step.image.id);
      try {
        await client.withDeadline(Date.now() + DEADLINE_MS, () =>
          client.workflow.start(WorkflowType.removeImage, {
            taskQueue,
            workflowId,
            args: [{ ...step, startMaxAttempts }],
            staticSummary: `Remove image ${step.image.alias} (${step.image.id}) left by ${step.parentCommandId}`,
            typedSearchAttributes: [
              { key: SA.CommandType, value: step.stepType },
              { key: SA.CommandStatus, value: 'ACTIVE' },
              { key: SA.ParentCommandId, value: step.parentCommandId },
              { key: SA.ImageIds, value: [step.image.id] },
              { key: SA.StoragePoolId, value: step.image.poolId },
              { key: SA.AsyncTaskState, value: 'Initializing' },
            ],
          }),
        );
      } catch (err) {
        // Another sweep (or unlock) started it a moment ago: that run removes it.
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    },
  };
}
