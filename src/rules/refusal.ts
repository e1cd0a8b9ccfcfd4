/**
 * A command the inventory refuses (the engine's validate() answering no): one error the client
 * shows before anything starts and the prepare activity raises as a non-retryable failure, from
 * the same rules.
 */
import type { ErrorType } from '../shared/errors';

export class Refusal extends Error {
  override readonly name = 'Refusal';
  constructor(
    readonly type: ErrorType,
    message: string,
    /** The input field the refusal is about, when there is one (shown to the user). */
    readonly field: string | null = null,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/**
 * What the command being checked already holds: on an activity retry its own locks, LOCKED
 * entities and new rows must not refuse it.
 */
export interface OwnedByCommand {
  entityIds: ReadonlySet<string>;
}

export const NOTHING_OWNED: OwnedByCommand = { entityIds: new Set() };
