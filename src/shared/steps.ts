/**
 * The one async-task step every storage command runs for each SPM task: what to start, how VDSM
 * will report it, and what to do when it ends. A step is described by data, so RemoveImage,
 * AddImageFromScratch and CreateSnapshotDisk are the same workflow code with different
 * descriptions. Workflow-safe: types and pure functions only.
 */
import type { TaskRow } from './messages';
import type {
  CopyDataParams,
  ImageDeleteParams,
  MergeParams,
  MergeTaskParams,
  UpdateVolumeParams,
  VolumeCreateParams,
} from '../vdsm/port';

/** Image.deleteVolumes (DestroyImage): an SPM task whose verb is deleteVolume. */
export interface ImageDeleteVolumesParams {
  imageID: string;
  storagepoolID: string;
  storagedomainID: string;
  volumeList: string[];
  postZero?: boolean;
  force?: boolean;
  discard?: boolean;
}

/** The SPM verbs a step can start, with the verb name VDSM reports for their task. */
export type SpmTaskSpec =
  | { verb: 'Image.delete'; taskVerb: 'deleteImage'; params: ImageDeleteParams }
  | { verb: 'Volume.create'; taskVerb: 'createVolume'; params: VolumeCreateParams }
  | { verb: 'Image.deleteVolumes'; taskVerb: 'deleteVolume'; params: ImageDeleteVolumesParams }
  | { verb: 'StoragePool.prepareMerge'; taskVerb: 'prepareMerge'; params: MergeSpecParams }
  | { verb: 'StoragePool.finalizeMerge'; taskVerb: 'finalizeMerge'; params: MergeSpecParams };
/**
 * The merge verbs name their image inside subchainInfo; `imageID` is typed (never sent) so code
 * that reads any task's `params.imageID` gets undefined for them instead of a type error.
 */
export type MergeSpecParams = MergeTaskParams & { imageID?: undefined };
export type SpmVerb = SpmTaskSpec['verb'];

/**
 * The identity of a task in the no-duplicate protocol: an image for deleteImage, the
 * caller-chosen volume id for createVolume (a second Volume.create with it answers 212), the
 * first listed volume for deleteVolume, the merged-away (top) volume for prepareMerge and
 * finalizeMerge.
 */
export function naturalKeyOf(task: SpmTaskSpec): string {
  switch (task.verb) {
    case 'Image.delete':
      return task.params.imageID;
    case 'Volume.create':
      return task.params.volumeID;
    case 'Image.deleteVolumes':
      return task.params.volumeList[0] ?? task.params.imageID;
    case 'StoragePool.prepareMerge':
    case 'StoragePool.finalizeMerge':
      return task.params.subchainInfo.top_id;
  }
}

/**
 * Verbs a step starts once more when VDSM's recovery (an SPM restart or failover) rolled their task
 * back although the step never asked for a stop. Image.delete: the image is still listed (VDSM had
 * not touched it yet), so a second delete does what the first should have. Not Volume.create: a
 * rolled-back create leaves nothing behind (AddDisk drops its rows, a CreateSnapshot group
 * reverts), so the command fails cleanly and may be submitted again. Not Image.deleteVolumes:
 * VDSM never rolls deleted volumes back, so a second run would fail on the first one already gone.
 * Not the merge verbs: RemoveSnapshot recovers by going forward, by its own rules.
 */
const RESTARTED_AFTER_RECOVERY: ReadonlySet<SpmVerb> = new Set<SpmVerb>(['Image.delete']);

export function restartsAfterRecovery(task: SpmTaskSpec): boolean {
  return RESTARTED_AFTER_RECOVERY.has(task.verb);
}

/** The image a step works on: one row of the command's task table. */
export interface StepImage {
  /** Disk id == image group id. */
  id: string;
  alias: string;
  poolId: string;
  domainId: string;
}

/**
 * What the step does once its task has ended (the engine's endSuccessfully / endWithFailure),
 * run by one activity that dispatches on `kind`.
 */
export type EndAction =
  /** Success: the disk's records go. Failure: the image group becomes ILLEGAL, audited. */
  | { kind: 'removeImage'; diskId: string; alias: string; volumeIds: string[] }
  /** Success: Volume.getInfo fills in size and format, the disk becomes OK. Failure: its rows go. */
  | { kind: 'addImage'; diskId: string; volumeId: string }
  /** Success: the new volume becomes the disk's active leaf, the old leaf joins the snapshot. */
  | { kind: 'snapshotDisk'; diskId: string; snapshotId: string; volumeId: string; parentVolumeId: string }
  /**
   * Storage work whose records the command itself updates at its end (MoveDisk's destination, the
   * source removed after a move): nothing to write, only a failure worth an audit entry.
   */
  | { kind: 'storageOnly'; failureAudit: { type: string; message: string; entityIds: string[] } | null };

export type StepType =
  | 'RemoveImage'
  | 'AddImageFromScratch'
  | 'CreateSnapshotDisk'
  | 'CreateVolumeContainer'
  | 'PrepareMerge'
  | 'FinalizeMerge'
  | 'DestroyImage';
/** Host-job steps (SDM verbs, followed with Host.getJobs and events, not SPM tasks). */
export type JobStepType = 'CopyData' | 'ColdMerge';

export interface TaskStepInput {
  stepType: StepType;
  parentCommandId: string;
  rootCommandId: string;
  vmId: string | null;
  image: StepImage;
  /** Shown in the task table, e.g. "Removing disk web-01_disk1". */
  description: string;
  task: SpmTaskSpec;
  end: EndAction;
  /**
   * A member of an all-or-nothing group (CreateSnapshot): once its task has ended the step waits
   * for the parent's verdict, and a failed or cancelled group reverts a task that finished with
   * success before clearing it.
   */
  group: boolean;
  /** May a task that finished with success be undone with Task.revert (cancel, failed group)? */
  revertible: boolean;
  /** Attempts the start gets while VDSM answers with retryable errors; then the step fails. */
  startMaxAttempts: number;
}

export interface TaskStepResult {
  imageId: string;
  succeeded: boolean;
  vdsmTaskId: string | null;
  /** Why the step did not succeed (VDSM code/message, cancellation, revert). */
  failureReason: string | null;
  /** The failure's type from the shared vocabulary (ErrorType), kept for the command's outcome. */
  failureType: string | null;
  /** True when the task finished with success and was then reverted (group failure, cancel). */
  reverted: boolean;
  /** The step's final task-table row, which the parent shows. */
  row: TaskRow;
}

/** The parent's word to the members of a group once every member's task has ended. */
export interface GroupVerdict {
  commit: boolean;
  reason: string | null;
}

/** An SDM host job a step starts: the verb, the job id the workflow chose, the verb's other params. */
export type HostJobSpec =
  | { verb: 'SDM.copy_data'; jobId: string; params: Omit<CopyDataParams, 'job_id'> }
  | { verb: 'SDM.merge'; jobId: string; params: Omit<MergeParams, 'job_id'> }
  | { verb: 'SDM.update_volume'; jobId: string; params: Omit<UpdateVolumeParams, 'job_id'> };

/**
 * A host-job step: the job, and the volume it changes (its generation is read before the job
 * starts; a job VDSM no longer reports is judged by it, as the engine's VdsmImagePoller does).
 */
export interface HostJobStepInput {
  stepType: JobStepType;
  parentCommandId: string;
  rootCommandId: string;
  vmId: string | null;
  image: StepImage;
  description: string;
  job: HostJobSpec;
  entity: { domainId: string; imageId: string; volumeId: string };
}

export interface HostJobStepResult {
  imageId: string;
  succeeded: boolean;
  jobId: string;
  failureReason: string | null;
  failureType: string | null;
  row: TaskRow;
}
