/**
 * The engine's own vocabulary (ovirt-engine AsyncTaskStatus, AsyncTaskResult, AsyncTaskState,
 * CommandStatus). Kept verbatim so administrators recognise what they see in queries and the Web UI.
 */

/** VDSM's wire task state (`taskState`). */
export const AsyncTaskStatus = ['unknown', 'init', 'running', 'finished', 'aborting', 'cleaning'] as const;
export type AsyncTaskStatus = (typeof AsyncTaskStatus)[number];

/** VDSM's wire task result (`taskResult`); '' while not finished is reported as 'unknown'. */
export const AsyncTaskResult = ['success', 'failure', 'cleanSuccess', 'cleanFailure', 'unknown'] as const;
export type AsyncTaskResult = (typeof AsyncTaskResult)[number];

/** Engine-side life of one task. */
export const AsyncTaskState = [
  'Initializing',
  'Polling',
  'Ended',
  'AttemptingEndAction',
  'ClearFailed',
  'Cleared',
] as const;
export type AsyncTaskState = (typeof AsyncTaskState)[number];

/** Engine-side life of one command. */
export const CommandStatus = [
  'NOT_STARTED',
  'ACTIVE',
  'SUCCEEDED',
  'FAILED',
  'EXECUTION_FAILED',
  'ENDED_SUCCESSFULLY',
  'ENDED_WITH_FAILURE',
  'UNKNOWN',
] as const;
export type CommandStatus = (typeof CommandStatus)[number];

export const CommandType = [
  'RemoveVm',
  'RemoveDisk',
  'RemoveImage',
  'AddDisk',
  'AddImageFromScratch',
  'CreateSnapshot',
  'CreateSnapshotDisk',
  'MoveDisk',
  'CopyDisk',
  'CreateVolumeContainer',
  'CopyData',
  'RemoveSnapshot',
  'PrepareMerge',
  'ColdMerge',
  'FinalizeMerge',
  'DestroyImage',
  'TaskJanitor',
] as const;
export type CommandType = (typeof CommandType)[number];

/** Inventory entity statuses that the storage commands change. */
export const VmStatus = [
  'Down',
  'Up',
  'Unassigned',
  'ImageLocked',
  'ImageIllegal',
  'PoweringUp',
  'Paused',
] as const;
export type VmStatus = (typeof VmStatus)[number];
/** VM statuses RemoveVm accepts (as the engine's validate()). */
export const REMOVABLE_VM_STATUSES: readonly VmStatus[] = [
  'Down',
  'Unassigned',
  'ImageIllegal',
  'ImageLocked',
];

export const ImageStatus = ['OK', 'LOCKED', 'ILLEGAL'] as const;
export type ImageStatus = (typeof ImageStatus)[number];

/** True only for finished + success: cleanSuccess, cleanFailure and unknown all take the failure path. */
export function isTaskSuccess(status: AsyncTaskStatus, result: AsyncTaskResult): boolean {
  return status === 'finished' && result === 'success';
}

/** A task has ended when it is no longer running: finished or vanished (unknown). */
export function isTaskEnded(status: AsyncTaskStatus): boolean {
  return status === 'finished' || status === 'unknown';
}
