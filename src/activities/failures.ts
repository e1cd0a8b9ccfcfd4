import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { InventoryConflictError, InventoryError, TaskClaimError } from '../inventory/errors';
import { EntityLockedError, NotFoundError } from '../inventory/port';
import { Refusal } from '../rules/refusal';
import { ErrorType } from '../shared/errors';
import { VdsmError, VdsmMalformedResponseError, VdsmTransportError } from '../vdsm/errors';

/**
 * Turns an adapter error into an ApplicationFailure of the shared vocabulary, keeping the
 * original as cause and its fields as details. Unknown errors pass through (retried by policy).
 */
export function toApplicationFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof Refusal) {
    return ApplicationFailure.create({
      type: err.type,
      message: err.message,
      nonRetryable: true,
      details: [{ field: err.field, ...err.details }],
    });
  }
  if (err instanceof VdsmError) {
    return ApplicationFailure.create({
      type: ErrorType.VdsmError,
      message: err.message,
      nonRetryable: !err.retryable,
      details: [{ code: err.code, vdsmMessage: err.vdsmMessage, verb: err.verb, host: err.host }],
      cause: err,
    });
  }
  if (err instanceof VdsmTransportError) {
    return ApplicationFailure.create({
      type: ErrorType.VdsmUnavailable,
      message: err.message,
      nonRetryable: false,
      details: [{ verb: err.verb, host: err.host }],
      cause: err,
    });
  }
  if (err instanceof VdsmMalformedResponseError) {
    return ApplicationFailure.create({
      type: ErrorType.VdsmMalformedResponse,
      message: err.message,
      nonRetryable: true,
      details: [{ verb: err.verb, host: err.host, issues: err.issues }],
      cause: err,
    });
  }
  if (err instanceof EntityLockedError) {
    return ApplicationFailure.create({
      type: ErrorType.EntityLocked,
      message: err.message,
      nonRetryable: true,
      details: [{ conflicts: err.conflicts }],
      cause: err,
    });
  }
  if (err instanceof NotFoundError) {
    const type = {
      VM: ErrorType.VmNotFound,
      Disk: ErrorType.DiskNotFound,
      DISK: ErrorType.DiskNotFound,
      StorageDomain: ErrorType.StorageDomainNotFound,
    }[err.entity];
    return ApplicationFailure.create({
      type: type ?? ErrorType.InventoryError,
      message: err.message,
      nonRetryable: true,
      details: [{ entity: err.entity, id: err.id }],
      cause: err,
    });
  }
  if (err instanceof TaskClaimError) {
    return ApplicationFailure.create({
      type: ErrorType.AmbiguousTask,
      message: err.message,
      nonRetryable: true,
      details: [{ owner: err.owner, vdsmTaskId: err.vdsmTaskId }],
      cause: err,
    });
  }
  if (err instanceof InventoryConflictError) {
    // The call contradicts what the inventory holds (a second active volume, a parent removed
    // before its child): retrying the same call cannot help.
    return ApplicationFailure.create({
      type: ErrorType.InventoryError,
      message: err.message,
      nonRetryable: true,
      details: [{ operation: err.operation }],
      cause: err,
    });
  }
  if (err instanceof InventoryError) {
    // Busy database, lost connection: worth retrying.
    return ApplicationFailure.create({
      type: ErrorType.InventoryError,
      message: err.message,
      nonRetryable: false,
      details: [{ operation: err.operation }],
      cause: err,
    });
  }
  return err;
}

/** Wraps an activity body so every failure leaves it typed. */
export async function typed<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    throw toApplicationFailure(err);
  }
}

export function invalid(type: ErrorType, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: true,
    details: details === undefined ? [] : [details],
  });
}

/** The workflow id of the run that scheduled the current activity: the owner of what it does. */
export function currentWorkflowId(): string {
  const id = Context.current().info.workflowExecution?.workflowId;
  if (!id) throw new Error('activity runs outside a workflow: no owner to record');
  return id;
}
