import { z } from 'zod';
import type { DataCenterSim, SimHost } from './datacenter';
import { RpcErrors } from './errors';

/**
 * The JSON-RPC methods the simulator serves, with VDSM's parameter names and order (positional
 * params map by this order, as the Bridge does). Results are what VDSM's Bridge returns: the
 * unwrapped value (`uuid`, `taskStatus`, `allTasksStatus`, ...), `true` for verbs without one.
 *
 * Parameter checking is what VDSM's strict API mode does (a missing or mistyped parameter is
 * -32602); values VDSM itself validates (ids, formats) are left to the verbs, which answer with
 * VDSM's own errors.
 */

export interface VerbContext {
  dc: DataCenterSim;
  host: SimHost;
}

export interface VerbDef {
  /** Parameter names in schema order. */
  params: readonly string[];
  invoke(ctx: VerbContext, params: Record<string, unknown>): unknown;
}

/** misc.parseBool: booleans, or any string ("true" in any case is true). */
const bool = z.union([z.boolean(), z.string().transform((v) => v.toLowerCase() === 'true')]);
/** VDSM declares some ints as strings (prevLver, domVersion). */
const int = z.union([
  z.number().int(),
  z
    .string()
    .regex(/^-?\d+$/)
    .transform(Number),
]);
const id = z.string();
/** Volume sizes travel as decimal strings; numbers are accepted too. */
const size = z.union([z.string(), z.number().int().nonnegative().transform(String)]);

function verb<S extends z.ZodTypeAny>(
  schema: S,
  params: readonly string[],
  run: (ctx: VerbContext, args: z.output<S>) => unknown,
): VerbDef {
  return {
    params,
    invoke(ctx, raw) {
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        const reason = parsed.error.issues
          .map((i) => `${i.path.join('.') || '(params)'}: ${i.message}`)
          .join('; ');
        throw RpcErrors.invalidParams(reason);
      }
      return run(ctx, parsed.data as z.output<S>);
    },
  };
}

const none = z.object({});
const taskParams = z.object({ taskID: id });
const poolParams = z.object({ storagepoolID: id });
const imageParams = z.object({ imageID: id, storagepoolID: id, storagedomainID: id });
/** properties.Integer(minval=0, maxval=sc.MAX_GENERATION) */
const generation = z.number().int().min(0).max(999);
/** merge.SubchainInfo: ids required, base_generation optional. */
const subchain = z
  .object({ sd_id: id, img_id: id, top_id: id, base_id: id, base_generation: generation.optional() })
  .passthrough();
const endpoint = z
  .object({
    endpoint_type: z.string(),
    sd_id: id,
    img_id: id,
    vol_id: id,
    generation: z.number().int().min(0).max(999).optional(),
  })
  .passthrough();

export const VERBS: Readonly<Record<string, VerbDef>> = {
  'Host.ping': verb(none, [], () => undefined),
  'Host.ping2': verb(none, [], () => undefined),
  'Host.getAllTasksStatuses': verb(none, [], ({ dc, host }) => dc.hostGetAllTasksStatuses(host)),
  'Host.getAllTasksInfo': verb(none, [], ({ dc, host }) => dc.hostGetAllTasksInfo(host)),
  'Host.getAllTasks': verb(none, [], ({ dc, host }) => dc.hostGetAllTasks(host)),
  'Host.getConnectedStoragePools': verb(none, [], ({ dc }) => dc.hostGetConnectedStoragePools()),
  'Host.getJobs': verb(
    z.object({ job_type: z.string().nullable().optional(), job_ids: z.array(id).optional() }),
    ['job_type', 'job_ids'],
    ({ dc, host }, a) => dc.hostGetJobs(host, a.job_type, a.job_ids),
  ),

  'Task.getStatus': verb(taskParams, ['taskID'], ({ dc, host }, a) => dc.taskGetStatus(host, a.taskID)),
  'Task.getInfo': verb(taskParams, ['taskID'], ({ dc, host }, a) => dc.taskGetInfo(host, a.taskID)),
  'Task.stop': verb(taskParams, ['taskID'], ({ dc, host }, a) => dc.taskStop(host, a.taskID)),
  'Task.clear': verb(taskParams, ['taskID'], ({ dc, host }, a) => dc.taskClear(host, a.taskID)),
  'Task.revert': verb(taskParams, ['taskID'], ({ dc, host }, a) => dc.taskRevert(host, a.taskID)),

  'StoragePool.getSpmStatus': verb(poolParams, ['storagepoolID'], ({ dc, host }, a) =>
    dc.spGetSpmStatus(host, a.storagepoolID),
  ),
  'StoragePool.spmStart': verb(
    z.object({
      storagepoolID: id,
      prevID: int,
      prevLver: int,
      enableScsiFencing: bool,
      maxHostID: int.nullable().optional(),
      domVersion: int.nullable().optional(),
    }),
    ['storagepoolID', 'prevID', 'prevLver', 'enableScsiFencing', 'maxHostID', 'domVersion'],
    ({ dc, host }, a) => dc.spSpmStart(host, a.storagepoolID),
  ),
  'StoragePool.spmStop': verb(poolParams, ['storagepoolID'], ({ dc, host }, a) =>
    dc.spSpmStop(host, a.storagepoolID),
  ),
  'StoragePool.getInfo': verb(poolParams, ['storagepoolID'], ({ dc }, a) => dc.spGetInfo(a.storagepoolID)),

  'StorageDomain.getImages': verb(z.object({ storagedomainID: id }), ['storagedomainID'], ({ dc }, a) =>
    dc.sdGetImages(a.storagedomainID),
  ),

  'Image.delete': verb(
    imageParams.extend({ postZero: bool, force: bool, discard: bool.default(false) }),
    ['imageID', 'storagepoolID', 'storagedomainID', 'postZero', 'force', 'discard'],
    ({ dc, host }, a) => dc.imageDelete(host, a),
  ),
  'Image.move': verb(
    imageParams.extend({
      dstSdUUID: id,
      operation: int,
      postZero: bool,
      force: bool,
      discard: bool.default(false),
    }),
    ['imageID', 'storagepoolID', 'storagedomainID', 'dstSdUUID', 'operation', 'postZero', 'force', 'discard'],
    ({ dc, host }, a) => dc.imageMove(host, a),
  ),
  'Image.deleteVolumes': verb(
    imageParams.extend({
      volumeList: z.array(id),
      postZero: bool.default(false),
      force: bool.default(false),
      discard: bool.default(false),
    }),
    ['imageID', 'storagepoolID', 'storagedomainID', 'volumeList', 'postZero', 'force', 'discard'],
    ({ dc, host }, a) => dc.imageDeleteVolumes(host, a),
  ),
  'Image.getVolumes': verb(imageParams, ['imageID', 'storagepoolID', 'storagedomainID'], ({ dc }, a) =>
    dc.imageGetVolumes(a),
  ),

  'Volume.create': verb(
    z.object({
      volumeID: id,
      storagepoolID: id,
      storagedomainID: id,
      imageID: id,
      size,
      volFormat: int,
      preallocate: int,
      diskType: z.string(),
      desc: z.string(),
      srcImgUUID: id,
      srcVolUUID: id,
      initialSize: z.string().nullable().optional(),
      addBitmaps: bool.default(false),
      legal: bool.default(true),
      sequence: int.default(0),
      bitmap: id.nullable().optional(),
    }),
    [
      'volumeID',
      'storagepoolID',
      'storagedomainID',
      'imageID',
      'size',
      'volFormat',
      'preallocate',
      'diskType',
      'desc',
      'srcImgUUID',
      'srcVolUUID',
      'initialSize',
      'addBitmaps',
      'legal',
      'sequence',
      'bitmap',
    ],
    ({ dc, host }, a) => dc.volumeCreate(host, a),
  ),
  'Volume.getInfo': verb(
    z.object({ volumeID: id, storagepoolID: id, storagedomainID: id, imageID: id }),
    ['volumeID', 'storagepoolID', 'storagedomainID', 'imageID'],
    ({ dc }, a) => dc.volumeGetInfo(a),
  ),

  'StoragePool.prepareMerge': verb(
    z.object({ storagepoolID: id, subchainInfo: subchain }),
    ['storagepoolID', 'subchainInfo'],
    ({ dc, host }, a) => dc.spPrepareMerge(host, a.storagepoolID, a.subchainInfo),
  ),
  'StoragePool.finalizeMerge': verb(
    z.object({ storagepoolID: id, subchainInfo: subchain }),
    ['storagepoolID', 'subchainInfo'],
    ({ dc, host }, a) => dc.spFinalizeMerge(host, a.storagepoolID, a.subchainInfo),
  ),

  'SDM.copy_data': verb(
    z.object({ job_id: id, source: endpoint, destination: endpoint, copy_bitmaps: bool.optional() }),
    ['job_id', 'source', 'destination', 'copy_bitmaps'],
    ({ dc, host }, a) => dc.sdmCopyData(host, a.job_id, a.source, a.destination),
  ),
  'SDM.merge': verb(
    z.object({ job_id: id, subchain_info: subchain, merge_bitmaps: bool.optional() }),
    ['job_id', 'subchain_info', 'merge_bitmaps'],
    ({ dc, host }, a) => dc.sdmMerge(host, a.job_id, a.subchain_info),
  ),
  'SDM.update_volume': verb(
    z.object({
      job_id: id,
      vol_info: z
        .object({ sd_id: id, img_id: id, vol_id: id, generation: generation.optional() })
        .passthrough(),
      // validators.VolumeAttributes: at least one attribute, each checked.
      vol_attr: z
        .object({
          legality: z.enum(['LEGAL', 'ILLEGAL']).optional(),
          description: z.string().optional(),
          generation: generation.optional(),
          type: z.literal('SHARED').optional(),
        })
        .strict()
        .refine((a) => Object.values(a).some((v) => v !== undefined), 'no attribute to update'),
    }),
    ['job_id', 'vol_info', 'vol_attr'],
    ({ dc, host }, a) => dc.sdmUpdateVolume(host, a.job_id, a.vol_info, a.vol_attr),
  ),
};
