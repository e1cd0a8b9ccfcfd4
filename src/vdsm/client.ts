import type { z } from 'zod';
import { type VdsmCallOptions, type VdsmEventListener, type VdsmRpcChannel } from './channel';
import { VdsmMalformedResponseError } from './errors';
import type {
  CopyDataParams,
  HostJob,
  ImageDeleteParams,
  ImageDeleteVolumesParams,
  ImageMoveParams,
  MergeParams,
  MergeTaskParams,
  SpmStartParams,
  SpmStatus,
  VdsmEndpoint,
  VdsmHostApi,
  VdsmTaskDetails,
  VdsmTaskInfo,
  VdsmTaskStatus,
  UpdateVolumeParams,
  VolumeCreateParams,
  VolumeInfo,
} from './port';
import {
  allTasksInfoSchema,
  allTasksSchema,
  allTasksStatusesSchema,
  describeIssues,
  hostJobsSchema,
  spmStatusSchema,
  storagePoolInfoSchema,
  taskInfoSchema,
  taskStatusSchema,
  trueSchema,
  uuidListSchema,
  uuidSchema,
  volumeInfoSchema,
} from './schemas';

/** The params without undefined members: an optional param left out is not sent (VDSM applies its default). */
function definedOnly(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).filter(([, value]) => value !== undefined));
}

/**
 * Typed VDSM API of one host. Each method is exactly one JSON-RPC request whose `result` is
 * checked against the verb's schema (see schemas.ts for the wire shapes); nothing is retried here.
 */
export class VdsmHostClient implements VdsmHostApi {
  readonly hostLabel: string;

  constructor(
    readonly endpoint: VdsmEndpoint,
    private readonly channel: VdsmRpcChannel,
  ) {
    this.hostLabel = endpoint.hostId;
  }

  /** Escape hatch for verbs without a typed method: the raw `result`, envelope checked. */
  call(method: string, params: Record<string, unknown> = {}, options?: VdsmCallOptions): Promise<unknown> {
    return this.channel.request(this.hostLabel, method, params, options);
  }

  /** Opens the connection without a request, e.g. to start receiving events. */
  connect(): Promise<void> {
    return this.channel.connect(this.hostLabel);
  }

  /** Notifications on jms.queue.events (e.g. `|jobs|status|<jobId>`) while connected. Returns the unsubscribe. */
  onEvent(listener: VdsmEventListener): () => void {
    return this.channel.onEvent(listener);
  }

  taskGetStatus(taskID: string): Promise<VdsmTaskStatus> {
    return this.typedCall('Task.getStatus', { taskID }, taskStatusSchema);
  }

  taskGetInfo(taskID: string): Promise<VdsmTaskInfo> {
    return this.typedCall('Task.getInfo', { taskID }, taskInfoSchema);
  }

  async taskStop(taskID: string): Promise<void> {
    await this.typedCall('Task.stop', { taskID }, trueSchema);
  }

  async taskClear(taskID: string): Promise<void> {
    await this.typedCall('Task.clear', { taskID }, trueSchema);
  }

  async taskRevert(taskID: string): Promise<void> {
    await this.typedCall('Task.revert', { taskID }, trueSchema);
  }

  hostGetAllTasksStatuses(): Promise<Record<string, VdsmTaskStatus>> {
    return this.typedCall('Host.getAllTasksStatuses', {}, allTasksStatusesSchema);
  }

  hostGetAllTasksInfo(): Promise<Record<string, VdsmTaskInfo>> {
    return this.typedCall('Host.getAllTasksInfo', {}, allTasksInfoSchema);
  }

  hostGetAllTasks(): Promise<Record<string, VdsmTaskDetails>> {
    return this.typedCall('Host.getAllTasks', {}, allTasksSchema);
  }

  hostGetConnectedStoragePools(): Promise<string[]> {
    return this.typedCall('Host.getConnectedStoragePools', {}, uuidListSchema);
  }

  hostGetJobs(filter: { jobType?: string; jobIds?: string[] } = {}): Promise<Record<string, HostJob>> {
    const params: Record<string, unknown> = {};
    if (filter.jobType !== undefined) params.job_type = filter.jobType;
    if (filter.jobIds !== undefined) params.job_ids = filter.jobIds;
    return this.typedCall('Host.getJobs', params, hostJobsSchema);
  }

  storagePoolGetSpmStatus(storagepoolID: string): Promise<SpmStatus> {
    return this.typedCall('StoragePool.getSpmStatus', { storagepoolID }, spmStatusSchema);
  }

  storagePoolSpmStart(params: SpmStartParams): Promise<string> {
    return this.typedCall('StoragePool.spmStart', { ...params }, uuidSchema);
  }

  async storagePoolSpmStop(storagepoolID: string): Promise<void> {
    await this.typedCall('StoragePool.spmStop', { storagepoolID }, trueSchema);
  }

  storagePoolGetInfo(storagepoolID: string): Promise<Record<string, unknown>> {
    return this.typedCall('StoragePool.getInfo', { storagepoolID }, storagePoolInfoSchema);
  }

  storageDomainGetImages(storagedomainID: string): Promise<string[]> {
    return this.typedCall('StorageDomain.getImages', { storagedomainID }, uuidListSchema);
  }

  imageDelete(params: ImageDeleteParams): Promise<string> {
    return this.typedCall('Image.delete', { ...params }, uuidSchema);
  }

  imageMove(params: ImageMoveParams): Promise<string> {
    return this.typedCall('Image.move', { ...params }, uuidSchema);
  }

  imageGetVolumes(params: {
    imageID: string;
    storagepoolID: string;
    storagedomainID: string;
  }): Promise<string[]> {
    return this.typedCall('Image.getVolumes', { ...params }, uuidListSchema);
  }

  imageDeleteVolumes(params: ImageDeleteVolumesParams): Promise<string> {
    return this.typedCall('Image.deleteVolumes', definedOnly({ ...params }), uuidSchema);
  }

  /** The optional params (initialSize, legal, sequence, addBitmaps) are sent only when set. */
  volumeCreate(params: VolumeCreateParams): Promise<string> {
    return this.typedCall('Volume.create', definedOnly({ ...params }), uuidSchema);
  }

  volumeGetInfo(params: {
    volumeID: string;
    imageID: string;
    storagepoolID: string;
    storagedomainID: string;
  }): Promise<VolumeInfo> {
    return this.typedCall('Volume.getInfo', { ...params }, volumeInfoSchema);
  }

  async sdmCopyData(params: CopyDataParams): Promise<void> {
    await this.typedCall('SDM.copy_data', definedOnly({ ...params }), trueSchema);
  }

  async sdmMerge(params: MergeParams): Promise<void> {
    await this.typedCall('SDM.merge', definedOnly({ ...params }), trueSchema);
  }

  async sdmUpdateVolume(params: UpdateVolumeParams): Promise<void> {
    await this.typedCall('SDM.update_volume', { ...params }, trueSchema);
  }

  storagePoolPrepareMerge(params: MergeTaskParams): Promise<string> {
    return this.typedCall('StoragePool.prepareMerge', { ...params }, uuidSchema);
  }

  storagePoolFinalizeMerge(params: MergeTaskParams): Promise<string> {
    return this.typedCall('StoragePool.finalizeMerge', { ...params }, uuidSchema);
  }

  private async typedCall<T>(
    method: string,
    params: Record<string, unknown>,
    schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  ): Promise<T> {
    const result = await this.call(method, params);
    const parsed = schema.safeParse(result);
    if (!parsed.success)
      throw new VdsmMalformedResponseError(method, this.hostLabel, describeIssues(parsed.error), result);
    return parsed.data;
  }
}
