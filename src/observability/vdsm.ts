import { SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import type { Logger } from '@temporalio/common';
import { VdsmError, VdsmMalformedResponseError, VdsmTransportError } from '../vdsm/errors';
import type { VdsmConnector, VdsmEndpoint, VdsmHostApi, VdsmTaskStatus } from '../vdsm/port';
import { currentTaskContext, noteTaskHost, taskLogFields } from './context';
import type { EngineMetrics } from './metrics';

/** VdsmHostApi method → the JSON-RPC verb it sends (src/vdsm/client.ts). */
const VERBS = {
  taskGetStatus: 'Task.getStatus',
  taskGetInfo: 'Task.getInfo',
  taskStop: 'Task.stop',
  taskClear: 'Task.clear',
  taskRevert: 'Task.revert',
  hostGetAllTasksStatuses: 'Host.getAllTasksStatuses',
  hostGetAllTasksInfo: 'Host.getAllTasksInfo',
  hostGetAllTasks: 'Host.getAllTasks',
  hostGetConnectedStoragePools: 'Host.getConnectedStoragePools',
  hostGetJobs: 'Host.getJobs',
  storagePoolGetSpmStatus: 'StoragePool.getSpmStatus',
  storagePoolSpmStart: 'StoragePool.spmStart',
  storagePoolSpmStop: 'StoragePool.spmStop',
  storagePoolGetInfo: 'StoragePool.getInfo',
  storageDomainGetImages: 'StorageDomain.getImages',
  imageDelete: 'Image.delete',
  imageMove: 'Image.move',
  imageGetVolumes: 'Image.getVolumes',
  imageDeleteVolumes: 'Image.deleteVolumes',
  volumeCreate: 'Volume.create',
  volumeGetInfo: 'Volume.getInfo',
  sdmCopyData: 'SDM.copy_data',
  sdmMerge: 'SDM.merge',
  sdmUpdateVolume: 'SDM.update_volume',
  storagePoolPrepareMerge: 'StoragePool.prepareMerge',
  storagePoolFinalizeMerge: 'StoragePool.finalizeMerge',
} as const satisfies Partial<Record<keyof VdsmHostApi, string>>;

type Method = keyof typeof VERBS;

/** Verbs that create an SPM task and answer its id. */
const TASK_CREATING = new Set<Method>([
  'imageDelete',
  'imageMove',
  'imageDeleteVolumes',
  'volumeCreate',
  'storagePoolSpmStart',
  'storagePoolPrepareMerge',
  'storagePoolFinalizeMerge',
]);

export interface VdsmInstrumentation {
  metrics?: EngineMetrics;
  /** Default: the global tracer (a no-op until a tracer provider is registered). */
  tracer?: Tracer;
  logger?: Logger;
}

/** The `code` label of a failed call. */
export function errorCode(err: unknown): string {
  if (err instanceof VdsmError) return String(err.code);
  if (err instanceof VdsmTransportError) return 'transport';
  if (err instanceof VdsmMalformedResponseError) return 'malformed';
  return 'other';
}

/**
 * The one seam through which every VDSM call of the worker is observed: a connector whose host
 * clients count each call and error (verb, code), time it, trace it as a child span of the
 * running activity (verb, host, task id) and log the task verbs with the activity's workflow id,
 * run id, task id and host. The status hub's polls also feed the in-flight and detection-delay
 * series.
 */
export function instrumentVdsm(connector: VdsmConnector, options: VdsmInstrumentation): VdsmConnector {
  const clients = new WeakMap<VdsmHostApi, VdsmHostApi>();
  return {
    host(endpoint: VdsmEndpoint): VdsmHostApi {
      const api = connector.host(endpoint);
      let wrapped = clients.get(api);
      if (!wrapped) {
        wrapped = instrumentHost(api, options);
        clients.set(api, wrapped);
      }
      return wrapped;
    },
    close: () => connector.close(),
  };
}

function instrumentHost(api: VdsmHostApi, options: VdsmInstrumentation): VdsmHostApi {
  const tracer = options.tracer ?? trace.getTracer('ovirt-tasks-vdsm');
  const wrapped: Record<string, unknown> = {};
  for (const method of Object.keys(VERBS) as Method[]) {
    wrapped[method] = (...args: unknown[]) =>
      observedCall(
        api,
        method,
        () => (Reflect.get(api, method) as (...a: unknown[]) => Promise<unknown>).apply(api, args),
        args,
      );
  }

  async function observedCall(
    target: VdsmHostApi,
    method: Method,
    call: () => Promise<unknown>,
    args: unknown[],
  ): Promise<unknown> {
    const verb = VERBS[method];
    const context = currentTaskContext();
    if (context) context.host = target.hostLabel;
    const argTaskId = typeof args[0] === 'string' && method.startsWith('task') ? args[0] : undefined;
    const metrics = options.metrics;
    metrics?.vdsmCalls.inc({ verb });
    const startedAt = Date.now();
    return tracer.startActiveSpan(
      `VDSM ${verb}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'rpc.system': 'jsonrpc',
          'rpc.method': verb,
          'vdsm.verb': verb,
          'vdsm.host': target.hostLabel,
          ...(argTaskId ? { 'vdsm.task_id': argTaskId } : {}),
          ...(context?.poolId ? { 'ovirt.pool_id': context.poolId } : {}),
        },
      },
      async (span) => {
        try {
          const result = await call();
          const createdTaskId = TASK_CREATING.has(method) && typeof result === 'string' ? result : undefined;
          if (createdTaskId) {
            noteTaskHost(createdTaskId, target.hostLabel);
            span.setAttribute('vdsm.task_id', createdTaskId);
            if (context) context.vdsmTaskId = createdTaskId;
          }
          if (method === 'hostGetAllTasksStatuses') {
            const statuses = result as Record<string, VdsmTaskStatus>;
            for (const taskId of Object.keys(statuses)) noteTaskHost(taskId, target.hostLabel);
            pollAnswered(context, statuses, startedAt);
            span.setAttribute('vdsm.tasks_reported', Object.keys(result as object).length);
          }
          logTaskVerb(method, verb, target.hostLabel, argTaskId ?? createdTaskId, Date.now() - startedAt);
          return result;
        } catch (err) {
          const code = errorCode(err);
          metrics?.vdsmErrors.inc({ verb, code });
          span.setAttribute('vdsm.error_code', code);
          span.recordException(err as Error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
          logTaskVerb(method, verb, target.hostLabel, argTaskId, Date.now() - startedAt, err as Error);
          throw err;
        } finally {
          metrics?.vdsmCallSeconds.observe({ verb }, (Date.now() - startedAt) / 1000);
          span.end();
        }
      },
    );
  }

  /** A poll made on behalf of waiting steps (the status hub), not the janitor's sweep. */
  function pollAnswered(
    context: ReturnType<typeof currentTaskContext>,
    statuses: Record<string, VdsmTaskStatus>,
    askedAt: number,
  ): void {
    const metrics = options.metrics;
    if (!metrics || context?.activityType !== 'waitForTaskEnd') return;
    if (context.poolId) metrics.statusPolls.inc({ pool: context.poolId });
    for (const [taskId, status] of Object.entries(statuses))
      metrics.taskStateSeen(taskId, status.taskState, askedAt);
  }

  function logTaskVerb(
    method: Method,
    verb: string,
    host: string,
    vdsmTaskId: string | undefined,
    durationMs: number,
    error?: Error,
  ): void {
    const logger = options.logger;
    if (!logger) return;
    const aboutATask = vdsmTaskId !== undefined || TASK_CREATING.has(method);
    const context = currentTaskContext();
    // A status poll serves every waiting step of the pool, not the one whose context it runs in.
    const about =
      method === 'hostGetAllTasksStatuses'
        ? context?.poolId
          ? { poolId: context.poolId }
          : {}
        : taskLogFields(context);
    const fields = {
      ...about,
      verb,
      host,
      ...(vdsmTaskId ? { vdsmTaskId } : {}),
      durationMs,
      ...(error ? { error: error.message, code: errorCode(error) } : {}),
    };
    if (error) logger.warn(`VDSM ${verb} failed`, fields);
    else if (aboutATask) logger.info(`VDSM ${verb}`, fields);
    else logger.debug(`VDSM ${verb}`, fields);
  }

  // Everything not instrumented (hostLabel, onEvent, connect) is the original's.
  return new Proxy(api, {
    get(target, property, receiver) {
      if (typeof property === 'string' && property in wrapped) return wrapped[property];
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
