import { type PyValue, pyRepr, tuple } from './pyrepr';

/**
 * A VDSM error as it goes on the wire: `{"code": int, "message": str}`. Messages follow VDSM's
 * GeneralException.__str__ (`"<msg>: " + repr(value)`), so a real host and the simulator say the
 * same thing. `storage` marks StorageException subclasses: only those keep their own code when
 * they fail a task (task.py `_run`); any other exception fails the task with code 100.
 */
export class VdsmFault extends Error {
  override readonly name = 'VdsmFault';
  constructor(
    readonly code: number,
    message: string,
    readonly storage = false,
  ) {
    super(message);
  }
}

/** TaskAborted (411): carries the text and code that end up in a failed task's status. */
export class TaskAbortedFault extends VdsmFault {
  /** `value=<text> abortedcode=<code>`: what a failed task reports as its message. */
  readonly abortedValue: string;
  constructor(
    text: string,
    readonly abortedCode = 411,
  ) {
    const value = `value=${text} abortedcode=${abortedCode}`;
    super(411, `Task is aborted: ${pyRepr(value)}`);
    this.abortedValue = value;
  }
}

function general(code: number, msg: string, value: PyValue, storage = false): VdsmFault {
  return new VdsmFault(code, `${msg}: ${pyRepr(value)}`, storage);
}

export const VdsmErrors = {
  recoveryInProgress: () => new VdsmFault(99, 'Recovering from crash or Initializing'),
  invalidParameter: (name: string, value: string) => general(1000, 'Invalid parameter', `${name}=${value}`),
  unknownTask: (taskId: string) => general(401, 'Task id unknown', tuple(taskId)),
  taskNotFinished: (state: string) =>
    general(403, 'Task not finished', tuple(`can't rollback in state ${state}`)),
  addTask: () => general(405, 'TaskManager error, unable to add task', tuple()),
  taskState: (state: string) =>
    general(410, 'Operation is not allowed in this task state', tuple(`can't clean in state ${state}`)),
  stateTransition: (from: string, to: string) =>
    general(441, 'cannot move task to requested state', tuple(`from ${from} to ${to}`)),
  /** TaskHasRefs(str(task)): a rollback while a flow still holds the task. */
  taskHasRefs: (taskId: string) =>
    general(442, 'operation cannot be performed - task has active references', tuple(taskId)),
  volumeDoesNotExist: (volumeId: string) => general(201, 'Volume does not exist', tuple(volumeId), true),
  /** IncorrectFormat(volFormat): the number as sent, or the format's name (a parent needs COW). */
  incorrectFormat: (format: number | string) => general(202, 'Incorrect Volume format', tuple(format), true),
  /** VolumeImageHasChildren is a VolumeGeneralException, no StorageException: a task it fails gets 100. */
  volumeHasChildren: (domainId: string, imageId: string, volumeId: string) =>
    general(204, 'Cannot delete volume which has children (non-ethical)', [
      `sdUUID: ${domainId}`,
      `imgUUID: ${imageId}`,
      `volUUID: ${volumeId}`,
    ]),
  volumeExists: (volumeId: string) => general(212, 'Volume already exists', tuple(volumeId), true),
  /** Volume.create's wrapper around a parent it cannot use (e.g. a template volume that is not SHARED). */
  cannotGetParent: (text: string) => general(216, 'Cannot get parent volume', tuple(text), true),
  cannotDeleteSharedVolume: (imageId: string, volumeId: string) =>
    general(223, 'Shared Volume cannot be deleted', tuple(`img ${imageId} vol ${volumeId}`), true),
  illegalParent: (volumeId: string) =>
    general(226, 'Cannot create volume snapshot from illegal volume', tuple(volumeId), true),
  incorrectType: (type: number) => general(231, 'Incorrect Volume Preallocate Type', tuple(type), true),
  discardNotSupported: (domainId: string, reason: string) =>
    general(349, 'Discard is not supported by storage domain', `sdUUID=${domainId}, reason=${reason}`, true),
  /** UnsupportedOperation(reason, **context): the context renders as a Python dict. */
  unsupportedOperation: (reason: string, context: Record<string, PyValue>) =>
    general(2009, 'Unsupported operation', `reason=${reason}, context=${pyRepr(context)}`, true),
  destImageAction: (imageId: string, domainId: string, msg: string) =>
    general(
      260,
      'Error during destination image manipulation',
      `image=${imageId}, dest domain=${domainId}: msg=${msg}`,
      true,
    ),
  imageNotInDomain: (imageId: string, domainId: string) =>
    general(268, 'Image does not exist in domain', `image=${imageId}, domain=${domainId}`, true),
  poolUnknown: (poolId: string) => general(309, 'Unknown pool id, pool not connected', tuple(poolId), true),
  domainDoesNotExist: (domainId: string) =>
    general(358, 'Storage domain does not exist', tuple(domainId), true),
  acquireLock: (domainId: string) =>
    general(
      651,
      'Cannot obtain lock',
      `id=${domainId}, rc=-243, out=Cannot acquire cluster lock, err=(-243, 'Sanlock resource not acquired', 'Lease is held by another host')`,
      true,
    ),
  /** StoragePool.validateSPM(): the verbs that schedule SPM tasks. */
  notSpm: (poolId: string) => general(654, 'Not SPM', tuple(poolId), true),
  /** SpmStatusError() without arguments: hsm's getAllTasksStatuses/getAllTasksInfo off the SPM. */
  notSpmNoPool: () => general(654, 'Not SPM', tuple(), true),
  /** SecureError from a secured StoragePool method, mapped by the dispatcher. */
  notSpmSecured: () => new VdsmFault(654, 'Not SPM'),
  isSpm: (poolId: string) => general(656, 'Operation not allowed while SPM is active', tuple(poolId), true),
  generationMismatch: (requested: number | null, actual: number) =>
    general(
      911,
      'The provided generation does not match the actual generation',
      `requested=${requested ?? 'None'}, actual=${actual}`,
      true,
    ),
  /** VolumeIsNotInChain: VDSM formats its value with the ids in this (swapped) order. */
  volumeNotInChain: (domainId: string, imageId: string, volumeId: string) =>
    general(
      920,
      'Volume is not part of the chain.',
      `sd_id=${volumeId}, img_id=${domainId}, vol_id=${imageId}`,
      true,
    ),
  wrongParentVolume: (volumeId: string, parentId: string) =>
    general(921, 'Wrong parent volume.', `vol_id=${volumeId}, parent_id=${parentId}`, true),
  /** InvalidVolumeUpdate: update_volume may only turn a parentless LEAF into SHARED. */
  invalidVolumeUpdate: (volumeId: string, reason: string) =>
    general(235, 'Cannot update volume attributes', `vol_id=${volumeId}, reason=${reason}`, true),
  /** jobs.JobExistsError is no VdsmException: the dispatcher answers 100 with str(e). */
  jobExists: (jobId: string) => new VdsmFault(100, `Job ${pyRepr(jobId)} exists`),
  /** A plain Python exception reaching the dispatcher (ValueError and friends). */
  generalError: (text: string) => new VdsmFault(100, text),
};

/** Messages of the VDSM errors a fault rule is likely to inject, by code (lib/vdsm/storage/exception.py). */
const KNOWN_ERRORS: ReadonlyMap<number, { msg: string; storage: boolean }> = new Map([
  [99, { msg: 'Recovering from crash or Initializing', storage: false }],
  [100, { msg: 'General Exception', storage: false }],
  [201, { msg: 'Volume does not exist', storage: true }],
  [204, { msg: 'Cannot delete volume which has children (non-ethical)', storage: false }],
  [205, { msg: 'Error creating a new volume', storage: true }],
  [212, { msg: 'Volume already exists', storage: true }],
  [216, { msg: 'Cannot get parent volume', storage: true }],
  [222, { msg: 'Volume deletion error', storage: true }],
  [223, { msg: 'Shared Volume cannot be deleted', storage: true }],
  [225, { msg: 'Volume copy failed', storage: false }],
  [226, { msg: 'Cannot create volume snapshot from illegal volume', storage: true }],
  [250, { msg: 'Error images action', storage: true }],
  [253, { msg: 'Error moving image', storage: true }],
  [256, { msg: "Could not remove all image's volumes", storage: true }],
  [261, { msg: 'low level Image copy failed', storage: true }],
  [268, { msg: 'Image does not exist in domain', storage: true }],
  [350, { msg: 'Error in storage domain action', storage: true }],
  [358, { msg: 'Storage domain does not exist', storage: true }],
  [379, { msg: 'Domain is either partially accessible or entirely inaccessible', storage: true }],
  [401, { msg: 'Task id unknown', storage: false }],
  [403, { msg: 'Task not finished', storage: false }],
  [405, { msg: 'TaskManager error, unable to add task', storage: false }],
  [441, { msg: 'cannot move task to requested state', storage: false }],
  [442, { msg: 'operation cannot be performed - task has active references', storage: false }],
  [654, { msg: 'Not SPM', storage: true }],
  [851, { msg: 'Resource timeout', storage: false }],
  [911, { msg: 'The provided generation does not match the actual generation', storage: true }],
]);

/** The error a fault rule injects: VDSM's message for a known code, or `text` verbatim. */
export function injectedFault(code: number, text?: string): VdsmFault {
  const known = KNOWN_ERRORS.get(code);
  const storage =
    known?.storage ??
    (code >= 200 && code < 1000 && !(code >= 400 && code < 450) && !(code >= 850 && code < 860));
  if (text !== undefined) return new VdsmFault(code, text, storage);
  return new VdsmFault(
    code,
    `${known?.msg ?? 'Simulated VDSM error'}: ${pyRepr(tuple('injected fault'))}`,
    storage,
  );
}

/** JSON-RPC protocol errors (yajsonrpc/exception.py); context is rendered as VDSM does. */
export const RpcErrors = {
  parse: () =>
    new VdsmFault(
      -32700,
      'Invalid JSON was received by the server. An error occurred on the server while parsing the JSON text.',
    ),
  invalidRequest: (request: PyValue, reason: string) =>
    new VdsmFault(-32600, `Invalid request: ${pyRepr({ request, reason })}`),
  methodNotFound: (method: string) =>
    new VdsmFault(-32601, `The method does not exist or is not available: ${pyRepr({ method })}`),
  invalidParams: (reason: string) =>
    new VdsmFault(-32602, `Invalid method parameter(s): ${pyRepr({ reason })}`),
  internal: () => new VdsmFault(-32603, 'Internal JSON-RPC error'),
};
