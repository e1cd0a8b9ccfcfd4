/**
 * Typed VDSM failures. Classified once here: activities turn them into ApplicationFailures with
 * the shared ErrorType vocabulary, keeping code, verb and host as details and the error as cause.
 */

/** VDSM codes that mean "wait and try again". */
export const RETRYABLE_VDSM_CODES: ReadonlySet<number> = new Set([
  99, // recovery in progress: VDSM still starting
  851, // resource lock timeout
  405, // task queue full
  442, // task has active references: a flow (worker, stop) still holds it for a moment
]);

export const VdsmCode = {
  UnknownTask: 401,
  TaskNotFinished: 403,
  TaskQueueFull: 405,
  TaskStateNotAllowed: 410,
  TaskAborted: 411,
  BadStateTransition: 441,
  TaskHasRefs: 442,
  InvalidId: 1000,
  RecoveryInProgress: 99,
  GeneralException: 100,
  VolumeDoesNotExist: 201,
  IncorrectFormat: 202,
  VolumeCreationError: 205,
  VolumeAlreadyExists: 212,
  /** Older name of VolumeAlreadyExists. */
  VolumeExists: 212,
  VolumeCannotGetParent: 216,
  CannotDeleteVolume: 222,
  SharedVolume: 223,
  IllegalParentVolume: 226,
  ImageDeleteError: 256,
  ImageDoesNotExist: 268,
  DiscardNotSupported: 349,
  NotSpm: 654,
  UnsupportedOperation: 2009,
  ResourceLockTimeout: 851,
  MethodNotFound: -32601,
} as const;

/** VDSM answered a JSON-RPC error. */
export class VdsmError extends Error {
  override readonly name = 'VdsmError';
  readonly retryable: boolean;
  constructor(
    readonly code: number,
    readonly vdsmMessage: string,
    readonly verb: string,
    readonly host: string,
  ) {
    super(`${verb} on ${host} failed with VDSM code ${code}: ${vdsmMessage}`);
    this.retryable = RETRYABLE_VDSM_CODES.has(code);
  }
}

/** The host could not be reached, the connection dropped, or the request timed out. Always retryable. */
export class VdsmTransportError extends Error {
  override readonly name = 'VdsmTransportError';
  readonly retryable = true;
  constructor(
    message: string,
    readonly verb: string,
    readonly host: string,
    options?: { cause?: unknown },
  ) {
    super(`${verb} on ${host}: ${message}`, options);
  }
}

/** VDSM answered, but not in the shape the verb's schema says. Never retryable. */
export class VdsmMalformedResponseError extends Error {
  override readonly name = 'VdsmMalformedResponseError';
  readonly retryable = false;
  constructor(
    readonly verb: string,
    readonly host: string,
    readonly issues: string,
    readonly response: unknown,
  ) {
    super(`${verb} on ${host} returned a malformed answer: ${issues}`);
  }
}

export function isVdsmError(err: unknown, code?: number): err is VdsmError {
  return err instanceof VdsmError && (code === undefined || err.code === code);
}
