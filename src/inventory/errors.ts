/**
 * Errors of the inventory adapters besides the port's own (EntityLockedError, NotFoundError).
 * Both keep what went wrong underneath as `cause`.
 */

/** The store failed or holds something unreadable: connection, busy database, malformed row, bad URL. */
export class InventoryError extends Error {
  override readonly name = 'InventoryError';
  constructor(
    /** The port method (or 'open' / 'init') that failed. */
    readonly operation: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`inventory ${operation}: ${message}`, options);
  }
}

/**
 * completeStartIntent cannot record the task: the owner has no intent, its intent already names
 * another task, or another owner claimed the task. A logic error of the caller: retrying cannot help.
 */
export class TaskClaimError extends Error {
  override readonly name = 'TaskClaimError';
  constructor(
    readonly owner: string,
    readonly vdsmTaskId: string,
    reason: string,
  ) {
    super(`cannot claim VDSM task ${vdsmTaskId} for ${owner}: ${reason}`);
  }
}

/**
 * The call contradicts what the inventory holds (a second active volume of a disk, removing a
 * snapshot volumes still belong to, a volume id of another disk): retrying cannot help.
 */
export class InventoryConflictError extends Error {
  override readonly name = 'InventoryConflictError';
  constructor(
    /** The port method that refused. */
    readonly operation: string,
    message: string,
  ) {
    super(`inventory ${operation}: ${message}`);
  }
}
