/** Reading a command's task table and waiting for its outcome, as the client commands report them. */
import {
  Connection,
  isGrpcServiceError,
  WorkflowFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure, TerminatedFailure } from '@temporalio/common';
import { queryLiveCommandState } from '../client';
import { ErrorType, type IllegalDisksDetails } from '../shared/errors';
import { rowSucceeded, type CommandState } from '../shared/messages';
import { probeTemporal, TemporalUnreachableError } from '../shared/temporal-connection';
import { ExitCode, exitCodeFor } from './exit-codes';

/** A query waits for a worker to answer; without one it would hang until the gRPC default deadline. */
const QUERY_TIMEOUT_MS = 5_000;
/** gRPC codes of a query nobody answered in time: the server's deadline or the client's, whichever fired. */
const GRPC_CANCELLED = 1;
const GRPC_DEADLINE_EXCEEDED = 4;

/** The task table, or why there is none (`unavailable`). */
export type StateReading = { state: CommandState; unavailable: null } | { state: null; unavailable: string };

/**
 * Queries the command's state. Workers answer queries for running and closed runs alike; when none
 * does (no worker polls the run's task queue), that is reported, not thrown. An unreachable server
 * is thrown as TemporalUnreachableError (exit 3): a query nobody answers looks the same whether no
 * worker polls or the server itself is frozen, so a timed-out query is followed by a probe of
 * the server.
 */
export async function readCommandState(client: Client, workflowId: string): Promise<StateReading> {
  try {
    const state = await client.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () =>
      queryLiveCommandState(client, workflowId),
    );
    return { state, unavailable: null };
  } catch (err) {
    const connection = client.connection instanceof Connection ? client.connection : undefined;
    if (exitCodeFor(err) === ExitCode.Unreachable) {
      if (err instanceof TemporalUnreachableError || !connection) throw err;
      throw new TemporalUnreachableError(connection.options.address, err);
    }
    if (connection && isUnanswered(err)) await probeTemporal(connection);
    return { state: null, unavailable: whyUnanswered(err) };
  }
}

function isUnanswered(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause)
    if (isGrpcServiceError(e) && [GRPC_CANCELLED, GRPC_DEADLINE_EXCEEDED].includes(e.code)) return true;
  return false;
}

/** The client wraps gRPC errors: look down the chain for the code and the server's own words. */
function whyUnanswered(err: unknown): string {
  if (isUnanswered(err)) return `no worker answered the query within ${QUERY_TIMEOUT_MS / 1000} s`;
  let message = String(err);
  for (let e: unknown = err; e instanceof Error; e = e.cause) message = e.message;
  return `the query failed: ${message}`;
}

export interface CommandFailure {
  /** The failure type of the vocabulary (src/shared/errors.ts), or Cancelled / Terminated / the failure's class. */
  type: string;
  message: string;
  /** Disks the command left ILLEGAL (their image may or may not be gone: an administrator checks). */
  illegalDiskIds: string[];
}

export type CommandOutcome =
  { succeeded: true; result: unknown } | { succeeded: false; failure: CommandFailure };

/** The command ended and failed: the outcome has been printed; the CLI exits 1. */
export class CommandFailedError extends Error {
  override readonly name = 'CommandFailedError';
  constructor(workflowId: string, failure: CommandFailure) {
    super(`${workflowId} failed (${failure.type})`);
  }
}

/** Throws CommandFailedError for a failed outcome, so the CLI exits 1 after printing it. */
export function exitWithOutcome(workflowId: string, outcome: CommandOutcome): void {
  if (!outcome.succeeded) throw new CommandFailedError(workflowId, outcome.failure);
}

/** Waits for the run to close. The command's own failure is an outcome; anything else is thrown. */
async function awaitOutcome(handle: WorkflowHandle): Promise<CommandOutcome> {
  try {
    return { succeeded: true, result: await handle.result() };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const cause = realCause(err.cause);
    if (cause instanceof ApplicationFailure) {
      return {
        succeeded: false,
        failure: {
          type: cause.type ?? 'ApplicationFailure',
          message: cause.message,
          illegalDiskIds: illegalDisksInDetails(cause),
        },
      };
    }
    const type =
      cause instanceof CancelledFailure
        ? 'Cancelled'
        : cause instanceof TerminatedFailure
          ? 'Terminated'
          : (cause?.name ?? 'Failed');
    return {
      succeeded: false,
      failure: { type, message: cause?.message ?? err.message, illegalDiskIds: [] },
    };
  }
}

/**
 * A workflow that let an activity's failure through (or ran before failures were surfaced) fails
 * with "Activity task failed": the ApplicationFailure under the ActivityFailure is the real cause.
 */
function realCause(cause: Error | undefined): Error | undefined {
  return cause instanceof ActivityFailure && cause.cause instanceof ApplicationFailure ? cause.cause : cause;
}

function illegalDisksInDetails(failure: ApplicationFailure): string[] {
  const details: unknown = failure.details?.[0];
  if (failure.type === ErrorType.FinishedWithIllegalDisks)
    return (details as IllegalDisksDetails).illegalDiskIds;
  // RemoveDisk's one image failed.
  if (failure.type === ErrorType.TaskFailed) return [(details as { diskId: string }).diskId];
  return [];
}

/**
 * The run's outcome and its final task table once it has closed. A cancellation carries no
 * details: the disks it left ILLEGAL are the steps that ended without removing their image.
 */
export async function awaitFinalReport(
  client: Client,
  handle: WorkflowHandle,
): Promise<{ outcome: CommandOutcome; reading: StateReading }> {
  const outcome = await awaitOutcome(handle);
  const reading = await readCommandState(client, handle.workflowId);
  if (!outcome.succeeded && outcome.failure.illegalDiskIds.length === 0 && reading.state) {
    outcome.failure.illegalDiskIds = reading.state.tasks
      .filter((t) => t.state === 'Cleared' && !rowSucceeded(t))
      .map((t) => t.imageId);
  }
  return { outcome, reading };
}
