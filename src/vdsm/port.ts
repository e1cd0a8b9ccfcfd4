/**
 * What the rest of ovirt-tasks needs from VDSM: one typed API per host, obtained from a connector
 * that owns the connections. Activities depend on this port only, so tests can wire the real
 * client (against the simulator or a real host) or a fake.
 */

/** Wire task state, as VDSM shows it (the deprecated pair). */
export type VdsmTaskState = 'init' | 'running' | 'finished' | 'aborting' | 'cleaning' | 'unknown';
/** Wire task result; '' while not finished. */
export type VdsmTaskResult = '' | 'success' | 'cleanSuccess' | 'cleanFailure';

export interface VdsmTaskStatus {
  taskID: string;
  taskState: VdsmTaskState;
  taskResult: VdsmTaskResult;
  code: number;
  message: string;
}

export interface VdsmTaskInfo {
  id: string;
  /** Python verb name, e.g. deleteImage, createVolume. */
  verb: string;
}

export interface VdsmTaskDetails extends VdsmTaskInfo {
  state: string;
  code: number;
  message: string;
  result: string;
  tag: string;
}

export interface SpmStatus {
  spmStatus: 'SPM' | 'Contend' | 'Free';
  spmLver: number;
  spmId: number;
}

export type HostJobStatus = 'pending' | 'running' | 'done' | 'failed' | 'aborted';
export interface HostJob {
  id: string;
  status: HostJobStatus;
  description: string;
  job_type: string;
  progress?: number;
  error?: { code: number; message: string };
}

export interface ImageDeleteParams {
  imageID: string;
  storagepoolID: string;
  storagedomainID: string;
  postZero: boolean;
  force: boolean;
  discard: boolean;
}

export interface ImageMoveParams {
  imageID: string;
  storagepoolID: string;
  storagedomainID: string;
  dstSdUUID: string;
  /** 1 copy, 2 move. */
  operation: 1 | 2;
  postZero: boolean;
  force: boolean;
  discard: boolean;
}

export interface VolumeCreateParams {
  volumeID: string;
  storagepoolID: string;
  storagedomainID: string;
  imageID: string;
  /** Bytes, as a decimal string (VDSM's wire form). */
  size: string;
  /** 4 COW, 5 RAW. */
  volFormat: 4 | 5;
  /** 1 preallocated, 2 sparse. */
  preallocate: 1 | 2;
  diskType: string;
  desc: string;
  srcImgUUID: string;
  srcVolUUID: string;
  /** Bytes, decimal string: what a thin volume allocates at first (the engine sends it for sparse COW on block). */
  initialSize?: string;
  /** false: the volume stays ILLEGAL once created (VDSM default true). */
  legal?: boolean;
  /** The volume's number in its chain (the engine: 1 for a new disk, one more per snapshot; VDSM default 0). */
  sequence?: number;
  /** Copy the parent's bitmaps into the new volume (incremental backup; needs a COW parent). */
  addBitmaps?: boolean;
}

export interface ImageDeleteVolumesParams {
  imageID: string;
  storagepoolID: string;
  storagedomainID: string;
  /** Deleted in this order (children before their parent). */
  volumeList: string[];
  postZero?: boolean;
  force?: boolean;
  discard?: boolean;
}

export type VolumeRole = 'LEAF' | 'INTERNAL' | 'SHARED';

/**
 * Volume.getInfo's answer (VDSM's VolumeInfoResponse): the fields the engine reads are typed; any
 * other key VDSM sends is kept as is. capacity and the sizes are decimal strings, as VDSM sends them.
 */
export interface VolumeInfo {
  uuid: string;
  image: string;
  domain: string;
  /** BLANK_UUID for a base volume. */
  parent: string;
  voltype: VolumeRole;
  format: 'COW' | 'RAW';
  type: 'SPARSE' | 'PREALLOCATED';
  /** VDSM also knows FAKE (a placeholder template on a backup domain), which the engine never meets here. */
  legality: 'LEGAL' | 'ILLEGAL';
  capacity: string;
  apparentsize: string;
  truesize: string;
  generation: number;
  /** Absent (or null) when the domain has no volume leases; owners are host ids holding it. */
  lease?: { owners: number[]; [key: string]: unknown } | null;
  [key: string]: unknown;
}

export interface SpmStartParams {
  storagepoolID: string;
  prevID: number;
  prevLver: number;
  enableScsiFencing: boolean;
  maxHostID?: number;
  domVersion?: number;
}

/** A volume as an SDM endpoint (sdm/api/copy_data.py CopyDataDivEndpoint). */
export interface DivEndpoint {
  endpoint_type: 'div';
  sd_id: string;
  img_id: string;
  vol_id: string;
  /** The volume's generation the caller read: a mismatch fails the job with 911. */
  generation?: number;
  prepared?: boolean;
}

/** SDM.copy_data (vdsm-api.yml). `legal`, which the engine also sends, is not in VDSM's signature. */
export interface CopyDataParams {
  job_id: string;
  source: DivEndpoint;
  destination: DivEndpoint;
  copy_bitmaps?: boolean;
}

/** merge.SubchainInfo: `top_id` is a child of `base_id` in one image. */
export interface SubchainInfo {
  sd_id: string;
  img_id: string;
  top_id: string;
  base_id: string;
  /** The base's generation (Volume.getInfo): a mismatch fails SDM.merge with 911. */
  base_generation?: number;
}

export interface MergeParams {
  job_id: string;
  subchain_info: SubchainInfo;
  merge_bitmaps?: boolean;
}

/** validators.VolumeAttributes: at least one. */
export interface VolumeAttributes {
  legality?: 'LEGAL' | 'ILLEGAL';
  description?: string;
  /** The generation to set (fencing: current + 3); without it the update bumps it by one. */
  generation?: number;
  /** Only LEAF → SHARED, for a volume without parent. */
  type?: 'SHARED';
}

export interface UpdateVolumeParams {
  job_id: string;
  /** `generation` must match the volume's (911 otherwise). */
  vol_info: { sd_id: string; img_id: string; vol_id: string; generation: number };
  vol_attr: VolumeAttributes;
}

export interface MergeTaskParams {
  storagepoolID: string;
  subchainInfo: SubchainInfo;
}

/** A `|jobs|status|<jobId>` event's params (jobs.py Job.info() plus notify_time). */
export interface HostJobEvent extends HostJob {
  notify_time?: number;
}

/** One VDSM host. Every method is one JSON-RPC request; none retries a task-creating verb. */
export interface VdsmHostApi {
  readonly hostLabel: string;
  taskGetStatus(taskID: string): Promise<VdsmTaskStatus>;
  taskGetInfo(taskID: string): Promise<VdsmTaskInfo>;
  taskStop(taskID: string): Promise<void>;
  taskClear(taskID: string): Promise<void>;
  taskRevert(taskID: string): Promise<void>;
  hostGetAllTasksStatuses(): Promise<Record<string, VdsmTaskStatus>>;
  hostGetAllTasksInfo(): Promise<Record<string, VdsmTaskInfo>>;
  hostGetAllTasks(): Promise<Record<string, VdsmTaskDetails>>;
  hostGetConnectedStoragePools(): Promise<string[]>;
  hostGetJobs(filter?: { jobType?: string; jobIds?: string[] }): Promise<Record<string, HostJob>>;
  storagePoolGetSpmStatus(storagepoolID: string): Promise<SpmStatus>;
  /** Returns the VDSM task id of the spmStart task. */
  storagePoolSpmStart(params: SpmStartParams): Promise<string>;
  storagePoolSpmStop(storagepoolID: string): Promise<void>;
  storagePoolGetInfo(storagepoolID: string): Promise<Record<string, unknown>>;
  storageDomainGetImages(storagedomainID: string): Promise<string[]>;
  /** Returns the VDSM task id. */
  imageDelete(params: ImageDeleteParams): Promise<string>;
  /** Returns the VDSM task id. */
  imageMove(params: ImageMoveParams): Promise<string>;
  imageGetVolumes(params: {
    imageID: string;
    storagepoolID: string;
    storagedomainID: string;
  }): Promise<string[]>;
  /** Returns the VDSM task id (task verb `deleteVolume`). */
  imageDeleteVolumes(params: ImageDeleteVolumesParams): Promise<string>;
  /** Returns the VDSM task id (task verb `createVolume`). */
  volumeCreate(params: VolumeCreateParams): Promise<string>;
  volumeGetInfo(params: {
    volumeID: string;
    imageID: string;
    storagepoolID: string;
    storagedomainID: string;
  }): Promise<VolumeInfo>;
  /** Host job; returns once VDSM accepted it (a known job id: VdsmError 100 "Job '<id>' exists"). */
  sdmCopyData(params: CopyDataParams): Promise<void>;
  /** Host job `merge_subchain`. */
  sdmMerge(params: MergeParams): Promise<void>;
  /** Host job `update_volume`. */
  sdmUpdateVolume(params: UpdateVolumeParams): Promise<void>;
  /** Returns the VDSM task id (task verb `prepareMerge`). */
  storagePoolPrepareMerge(params: MergeTaskParams): Promise<string>;
  /** Returns the VDSM task id (task verb `finalizeMerge`). */
  storagePoolFinalizeMerge(params: MergeTaskParams): Promise<string>;
  /**
   * Notifications on jms.queue.events while connected (real clients have it; fakes may not).
   * Returns the unsubscribe.
   */
  onEvent?(listener: (event: { method: string; params: unknown }) => void): () => void;
  /** Opens the connection without a request, so events flow. */
  connect?(): Promise<void>;
}

export interface VdsmEndpoint {
  /** Host id (inventory / fixture); used in errors and counters. */
  hostId: string;
  address: string;
  port: number;
}

/** Owns one connection per host; connections open lazily and reconnect with backoff. */
export interface VdsmConnector {
  host(endpoint: VdsmEndpoint): VdsmHostApi;
  close(): Promise<void>;
}
