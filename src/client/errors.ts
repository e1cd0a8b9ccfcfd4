/** Errors of the typed client: both mean nothing was started. */

/** Input that fails validation: nothing was started or contacted. The message names the field. */
export class InvalidCommandInputError extends Error {
  override readonly name = 'InvalidCommandInputError';
}

/** The inventory refuses the command up front (unknown VM, locked disk, ...): nothing was started. */
export class CommandRefusedError extends Error {
  override readonly name = 'CommandRefusedError';
  constructor(
    message: string,
    readonly type: string,
    /** The input field the refusal is about, when there is one. */
    readonly field: string | null = null,
  ) {
    super(message);
  }
}
