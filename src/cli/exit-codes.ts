import { CommanderError } from 'commander';
import { isGrpcServiceError } from '@temporalio/client';
import { InvalidCommandInputError } from '../client/errors';
import { ConfigError } from '../config/config';
import { TemporalUnreachableError } from '../shared/temporal-connection';

/** The CLI's contract with scripts. */
export const ExitCode = {
  Ok: 0,
  /** The command ran and failed (e.g. the workflow failed, the worker crashed). */
  Failed: 1,
  /** Bad flags, arguments or configuration: nothing was attempted. */
  Usage: 2,
  /** The Temporal server did not answer. */
  Unreachable: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Invalid input found by a command itself (exit 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** gRPC status UNAVAILABLE: the server went away after the connection was made. */
const GRPC_UNAVAILABLE = 14;

export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
  if (err instanceof UsageError || err instanceof ConfigError || err instanceof InvalidCommandInputError)
    return ExitCode.Usage;
  // The client wraps gRPC errors (ServiceError with a cause): look down the chain.
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof TemporalUnreachableError) return ExitCode.Unreachable;
    if (isGrpcServiceError(e) && (e.code as number) === GRPC_UNAVAILABLE) return ExitCode.Unreachable;
  }
  return ExitCode.Failed;
}
