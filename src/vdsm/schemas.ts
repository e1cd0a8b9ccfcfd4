/**
 * Zod schemas for the JSON-RPC envelope and each verb's `result`, as a real VDSM sends them.
 *
 * VDSM's API layer (lib/vdsm/API.py, storage/hsm.py) returns dicts such as
 * `{"status": {...}, "taskStatus": {...}}`; the JSON-RPC bridge (lib/vdsm/rpc/Bridge.py,
 * `command_info[...]['ret']`) then sends ONLY the value under that return key, and
 * lib/yajsonrpc/__init__.py (`res = True if res is None else res`) sends `true` for verbs without
 * one. So no wrapper key ever reaches the wire. Wire shapes of `result`:
 *
 * | Verb                          | ret key (Bridge.py) | `result` on the wire                                         |
 * |-------------------------------|---------------------|--------------------------------------------------------------|
 * | Task.getStatus                | taskStatus          | `{taskID, taskState, taskResult, code: int, message}`        |
 * | Task.getInfo                  | TaskInfo            | `{id, verb}`                                                 |
 * | Task.stop / clear / revert    | —                   | `true`                                                       |
 * | Host.getAllTasksStatuses      | allTasksStatus      | `{<taskID>: {taskID, taskState, taskResult, code, message}}` |
 * | Host.getAllTasksInfo          | allTasksInfo        | `{<taskID>: {id, verb}}`                                     |
 * | Host.getAllTasks              | tasks               | `{<taskID>: {id, verb, state, code, message, result, tag}}`  |
 * | Host.getConnectedStoragePools | poollist            | `[<poolID>, ...]`                                            |
 * | Host.getJobs                  | jobs                | `{<jobID>: {id, status, description, job_type, progress?, error?: {code, message}}}` |
 * | StoragePool.getSpmStatus      | spm_st              | `{spmStatus: "SPM"|"Contend"|"Free", spmLver: int, spmId: int}` |
 * | StoragePool.spmStart          | uuid                | `"<taskID>"` (bare string)                                   |
 * | StoragePool.spmStop           | —                   | `true`                                                       |
 * | StoragePool.getInfo           | (custom)            | `{info: {...}, dominfo: {<sdID>: {...}}}`                    |
 * | StorageDomain.getImages       | imageslist          | `[<imageID>, ...]`                                           |
 * | Image.delete / Image.move     | uuid                | `"<taskID>"`                                                 |
 * | Image.getVolumes              | uuidlist            | `[<volumeID>, ...]`                                          |
 * | Image.deleteVolumes           | uuid                | `"<taskID>"`                                                 |
 * | Volume.create                 | uuid                | `"<taskID>"`                                                 |
 * | Volume.getInfo                | info                | `{uuid, image, domain, parent, voltype, format, type, legality, capacity: "<n>", apparentsize: "<n>", truesize: "<n>", generation: int, lease?, ...}` |
 * | SDM.copy_data / merge / update_volume | —           | `true`                                                       |
 * | StoragePool.prepareMerge / finalizeMerge | uuid     | `"<taskID>"`                                                 |
 *
 * Field notes (lib/vdsm/storage/task.py): the status dict is `Task.deprecated_getStatus()`;
 * Host.getAllTasks values are `Task.getDetails()`, whose `state` is the INTERNAL state name
 * (e.g. "preparing", "recovered") and whose `result` is the task function's return value (often
 * "" or null, sometimes a dict) — vdsm-api.yml calls it `taskResult`, but the code sends `result`.
 * Host job dicts are `Job.info()` in lib/vdsm/jobs.py: `progress` and `error` appear only when set.
 */
import { z } from 'zod';
import type { HostJob, SpmStatus, VdsmTaskDetails, VdsmTaskInfo, VdsmTaskStatus, VolumeInfo } from './port';

/** VDSM ids are RFC 4122 text; VDSM itself does not check version bits, so neither do we. */
export const uuidSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'not a UUID');

const int = z.number().int();

export const taskStatusSchema: z.ZodType<VdsmTaskStatus> = z.object({
  taskID: uuidSchema,
  taskState: z.enum(['init', 'running', 'finished', 'aborting', 'cleaning', 'unknown']),
  taskResult: z.enum(['', 'success', 'cleanSuccess', 'cleanFailure']),
  code: int,
  message: z.string(),
});

export const taskInfoSchema: z.ZodType<VdsmTaskInfo> = z.object({ id: uuidSchema, verb: z.string() });

export const taskDetailsSchema: z.ZodType<VdsmTaskDetails, z.ZodTypeDef, unknown> = z.object({
  id: uuidSchema,
  verb: z.string(),
  state: z.string(),
  code: int,
  message: z.string(),
  // Task.getDetails() sends the task function's return value: keep text as is, render the rest.
  result: z
    .unknown()
    .transform((value) =>
      typeof value === 'string' ? value : value === null || value === undefined ? '' : JSON.stringify(value),
    ),
  tag: z.string(),
});

const uuidMap = <T extends z.ZodTypeAny>(value: T) => z.record(uuidSchema, value);

export const allTasksStatusesSchema = uuidMap(taskStatusSchema);
export const allTasksInfoSchema = uuidMap(taskInfoSchema);
export const allTasksSchema = uuidMap(taskDetailsSchema);

export const hostJobSchema: z.ZodType<HostJob> = z.object({
  id: uuidSchema,
  status: z.enum(['pending', 'running', 'done', 'failed', 'aborted']),
  description: z.string(),
  job_type: z.string(),
  progress: z.number().optional(),
  error: z.object({ code: int, message: z.string() }).optional(),
});
export const hostJobsSchema = uuidMap(hostJobSchema);

/** The params of a `|jobs|status|<jobId>` event: the job's info() and VDSM's notify_time. */
export const hostJobEventSchema = z
  .object({
    id: uuidSchema,
    status: z.enum(['pending', 'running', 'done', 'failed', 'aborted']),
    description: z.string().optional(),
    job_type: z.string().optional(),
    progress: z.number().optional(),
    error: z.object({ code: int, message: z.string() }).optional(),
    notify_time: z.number().optional(),
  })
  .passthrough();
/** The event method of a job's status change. */
export const JOB_STATUS_EVENT_PREFIX = '|jobs|status|';

export const spmStatusSchema: z.ZodType<SpmStatus> = z.object({
  spmStatus: z.enum(['SPM', 'Contend', 'Free']),
  spmLver: int,
  spmId: int,
});

/** A byte count: VDSM sends decimal strings (VolumeMetadata turns capacity into one); numbers are normalised. */
const byteCount = z.union([
  z.string().regex(/^\d+$/, 'not a decimal byte count'),
  z
    .number()
    .int()
    .nonnegative()
    .transform((n) => String(n)),
]);

/**
 * volume.getInfo (lib/vdsm/storage/volume.py: metadata2info + sizes + lease). Unknown keys pass
 * through; `children` is always [] in VDSM and not relied on.
 */
export const volumeInfoSchema: z.ZodType<VolumeInfo, z.ZodTypeDef, unknown> = z
  .object({
    uuid: uuidSchema,
    image: uuidSchema,
    domain: uuidSchema,
    parent: uuidSchema,
    voltype: z.enum(['LEAF', 'INTERNAL', 'SHARED']),
    format: z.enum(['COW', 'RAW']),
    type: z.enum(['SPARSE', 'PREALLOCATED']),
    legality: z.enum(['LEGAL', 'ILLEGAL']),
    capacity: byteCount,
    apparentsize: byteCount,
    truesize: byteCount,
    generation: int.nonnegative(),
    lease: z
      .object({ owners: z.array(int) })
      .passthrough()
      .nullable()
      .optional(),
  })
  .passthrough();

/** Verbs whose API function returns no value: yajsonrpc answers `true`. */
export const trueSchema = z.literal(true);
export const uuidListSchema = z.array(uuidSchema);
export const objectSchema = z.record(z.string(), z.unknown());
export const storagePoolInfoSchema = z.object({ info: objectSchema, dominfo: objectSchema });

const requestIdSchema = z.union([z.string(), z.number(), z.null()]);
const rpcErrorSchema = z.object({ code: int, message: z.string() }).passthrough();

/**
 * JSON-RPC 2.0 response as lib/yajsonrpc JsonRpcResponse.toDict() builds it: exactly one of
 * `result` and `error`; id is null when VDSM could not parse the request.
 */
export const responseEnvelopeSchema = z
  .object({
    jsonrpc: z.literal('2.0'),
    id: requestIdSchema,
    result: z.unknown(),
    error: rpcErrorSchema.optional(),
  })
  .superRefine((envelope, ctx) => {
    // JSON has no undefined: undefined means the member is absent.
    if ((envelope.result === undefined) === (envelope.error === undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'exactly one of result and error is required' });
    }
  })
  .transform((envelope) =>
    envelope.error !== undefined
      ? { id: envelope.id, ok: false as const, error: envelope.error }
      : { id: envelope.id, ok: true as const, result: envelope.result },
  );
export type ResponseEnvelope = z.infer<typeof responseEnvelopeSchema>;

/** Id-less notification on jms.queue.events (yajsonrpc Notification.emit). */
export const notificationSchema = z.object({
  jsonrpc: z.literal('2.0'),
  method: z.string().min(1),
  params: z.unknown(),
});

/** "path: problem; path: problem" — short enough for an error message and a log line. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}
