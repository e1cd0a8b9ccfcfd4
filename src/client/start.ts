/**
 * Starting a command exactly once: its workflow id is its business id, and of any number of
 * concurrent submissions of the same command exactly one reports `started: true`.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import { z } from 'zod';
import type { InventoryRepository } from '../inventory/port';
import { Refusal } from '../rules/refusal';
import { CommandRefusedError } from './errors';
import { parseInput, TaskQueueName, TemporalClient } from './validate';

export interface SubmitOptions {
  taskQueue?: string;
  /** When given, the command is checked against it first and the run gets a readable summary. */
  inventory?: InventoryRepository;
}

export interface Submitted<W extends Workflow> {
  handle: WorkflowHandle<W>;
  /** True for exactly one submission of a command: the one whose call started its run. */
  started: boolean;
}

const SubmitCall = z
  .object({
    client: TemporalClient,
    options: z
      .object({
        taskQueue: TaskQueueName.optional(),
        inventory: z
          .custom<InventoryRepository>(
            (v) =>
              typeof v === 'object' && v !== null && typeof (v as { getVm?: unknown }).getVm === 'function',
            'must be an InventoryRepository',
          )
          .optional(),
      })
      .strict(),
  })
  .strict();

/** Checks the arguments every submit call shares (the input has its own schema). */
export function parseSubmitCall(
  client: unknown,
  options: unknown,
  call: string,
): { client: Client; options: SubmitOptions } {
  return parseInput(SubmitCall, { client, options: options ?? {} }, call);
}

/** A running or succeeded run of the command, which submitting it again reaches instead of a new one. */
export async function reusableRun<W extends Workflow>(
  client: Client,
  workflowId: string,
): Promise<Submitted<W> | undefined> {
  const existing = await client.workflow
    .getHandle(workflowId)
    .describe()
    .catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    });
  if (existing && (existing.status.name === 'RUNNING' || existing.status.name === 'COMPLETED')) {
    return { handle: client.workflow.getHandle<W>(workflowId, existing.runId), started: false };
  }
  return undefined;
}

/**
 * Starts with the command's business id; an existing run of the same command is reused. The
 * conflict policy is FAIL, not USE_EXISTING: with USE_EXISTING the server answers every
 * concurrent caller as if it had started the run (the SDK does not pass on the response's
 * `started` flag), so 20 concurrent submissions all said started. With FAIL, the server lets one
 * start win and answers the others ALREADY_EXISTS.
 */
export async function startIdempotent<W extends Workflow>(
  client: Client,
  workflowType: string,
  workflowId: string,
  options: Omit<Parameters<Client['workflow']['start']>[1], 'workflowId' | 'taskQueue'> & {
    taskQueue: string;
  },
): Promise<Submitted<W>> {
  const existing = await reusableRun<W>(client, workflowId);
  if (existing) return existing;
  try {
    const handle = await client.workflow.start(workflowType, {
      ...options,
      workflowId,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      // A command that ended badly may be submitted again; one that succeeded may not.
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    });
    return { handle: client.workflow.getHandle<W>(workflowId, handle.firstExecutionRunId), started: true };
  } catch (err) {
    // Lost a race with another submitter of the same command (or it succeeded before): theirs
    // is the one execution.
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      const run = await reusableRun<W>(client, workflowId);
      return run ?? { handle: client.workflow.getHandle<W>(workflowId), started: false };
    }
    throw err;
  }
}

/** The shared refusal rules (src/rules), as the client reports them: nothing was started. */
export async function refusedAsError<T>(check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (err) {
    if (err instanceof Refusal) throw new CommandRefusedError(err.message, err.type, err.field);
    throw err;
  }
}
