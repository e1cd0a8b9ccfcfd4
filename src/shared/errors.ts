/**
 * One vocabulary of failure types. Activities throw `ApplicationFailure`s with these `type`s;
 * workflows, the client and the CLI match on them. Kept free of Node imports: workflows use it.
 */
export const ErrorType = {
  /** Command input failed validation (never retried). */
  InvalidInput: 'InvalidInput',
  VmNotFound: 'VmNotFound',
  DiskNotFound: 'DiskNotFound',
  VmDeleteProtected: 'VmDeleteProtected',
  VmStatusNotAllowed: 'VmStatusNotAllowed',
  DiskLocked: 'DiskLocked',
  StorageDomainNotFound: 'StorageDomainNotFound',
  /** The domain has less free space than the new volume needs. */
  NotEnoughSpace: 'NotEnoughSpace',
  /** A format/allocation the domain cannot hold (raw + sparse on block storage). */
  VolumeFormatNotAllowed: 'VolumeFormatNotAllowed',
  /** Another disk of the VM has this alias. */
  DiskAliasInUse: 'DiskAliasInUse',
  /** The disk is ILLEGAL: VDSM refuses to build on it (a snapshot's parent must be LEGAL). */
  DiskIllegal: 'DiskIllegal',
  /** The VM has no disk a snapshot can include (or a named disk is not one of them). */
  NoSnapshotableDisks: 'NoSnapshotableDisks',
  /** The VM has no such snapshot (RemoveSnapshot). */
  SnapshotNotFound: 'SnapshotNotFound',
  /** The snapshot is LOCKED by another command or in preview (RemoveSnapshot). */
  SnapshotLocked: 'SnapshotLocked',
  /** A durable lock on an entity is held by another command. */
  EntityLocked: 'EntityLocked',
  /** No host of the pool answers as SPM right now (retryable). */
  NoSpm: 'NoSpm',
  /** VDSM answered with an error code; details carry code, message, verb, host. */
  VdsmError: 'VdsmError',
  /** VDSM answered something that does not match the schema of the verb. */
  VdsmMalformedResponse: 'VdsmMalformedResponse',
  /** Could not reach VDSM (connect/timeout); retryable. */
  VdsmUnavailable: 'VdsmUnavailable',
  /** The command was cancelled before this part of it was done. */
  Cancelled: 'Cancelled',
  /** A member of an all-or-nothing group was undone because another member failed. */
  GroupFailed: 'GroupFailed',
  /** A VDSM task ended in failure (cleanSuccess, cleanFailure, unknown, failure). */
  TaskFailed: 'TaskFailed',
  /** RemoveVm ended with some images not removed; those disks stay ILLEGAL. */
  FinishedWithIllegalDisks: 'FinishedWithIllegalDisks',
  /** The task-start reconciliation found more than one candidate task: a human must look. */
  AmbiguousTask: 'AmbiguousTask',
  /** The SPM holds as many tasks as it may (VDSM_SPM_TASK_LIMIT): nothing was sent; retried later. */
  SpmTaskQueueFull: 'SpmTaskQueueFull',
  /**
   * VDSM renamed the image for deletion, then refused the task that would purge it (405): the
   * volumes stay on the domain under `_remove_me_` names until an administrator removes them.
   */
  ImageNotPurged: 'ImageNotPurged',
  InventoryError: 'InventoryError',
  ConfigError: 'ConfigError',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/** Failure types that no retry can fix. */
export const NON_RETRYABLE_ERROR_TYPES: readonly ErrorType[] = [
  ErrorType.InvalidInput,
  ErrorType.VmNotFound,
  ErrorType.DiskNotFound,
  ErrorType.VmDeleteProtected,
  ErrorType.VmStatusNotAllowed,
  ErrorType.DiskLocked,
  ErrorType.StorageDomainNotFound,
  ErrorType.NotEnoughSpace,
  ErrorType.VolumeFormatNotAllowed,
  ErrorType.DiskAliasInUse,
  ErrorType.NoSnapshotableDisks,
  ErrorType.DiskIllegal,
  ErrorType.EntityLocked,
  ErrorType.SnapshotNotFound,
  ErrorType.SnapshotLocked,
  ErrorType.VdsmMalformedResponse,
  ErrorType.TaskFailed,
  ErrorType.FinishedWithIllegalDisks,
  ErrorType.AmbiguousTask,
  ErrorType.ImageNotPurged,
];

/** Details of a FinishedWithIllegalDisks failure. */
export interface IllegalDisksDetails {
  vmId: string;
  illegalDiskIds: string[];
  removedDiskIds: string[];
  /** Each illegal disk's step failure type (TaskFailed, ImageNotPurged, VdsmError, ...). */
  failureTypes: Record<string, string>;
}
