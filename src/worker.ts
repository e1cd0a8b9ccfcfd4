import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  Client,
  WorkflowNotFoundError,
  type ScheduleDescription,
} from '@temporalio/client';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Worker,
  type NativeConnection,
  type WorkerOptions,
} from '@temporalio/worker';
import { createActivities } from './activities';
import type { Config } from './config/config';
import { prebuiltWorkflowBundle } from './prebuilt-bundle';
import type { InventoryRepository } from './inventory/port';
import { scheduleIds, workflowIds } from './shared/names';
import {
  observeWorker,
  OTEL_WORKFLOW_INTERCEPTORS,
  tracingClientInterceptors,
  type WorkerObservability,
} from './observability';
import type { VdsmConnector } from './vdsm/port';
import type { taskJanitorWorkflow } from './workflows';

export interface OvirtWorkerDeps {
  connection: NativeConnection;
  namespace: string;
  config: Config;
  inventory: InventoryRepository;
  vdsm: VdsmConnector;
  /** For the janitor's "is the owner still running?" question. */
  client?: Client;
  taskQueue?: string;
  /**
   * Prebuilt bundle (tests build it once per file). Default: the one `npm run build` writes next
   * to the compiled worker (lib/workflow-bundle.js), else ./workflows bundled at start (from src/).
   */
  workflowBundle?: WorkerOptions['workflowBundle'];
  identity?: string;
  /**
   * Metrics, tracing and task log lines (src/observability). With tracing and no workflowBundle,
   * the workflows are bundled at start with the OpenTelemetry workflow interceptors (the prebuilt
   * bundle has none), so the trace goes from the client through workflows into activities.
   */
  observability?: WorkerObservability;
}

/** A worker running every ovirt-tasks workflow and activity, with one status hub per worker. */
export async function createOvirtWorker(deps: OvirtWorkerDeps): Promise<Worker> {
  const observed = deps.observability ? observeWorker(deps.vdsm, deps.observability) : undefined;
  const { activities, statusHub } = createActivities({
    vdsm: observed?.vdsm ?? deps.vdsm,
    inventory: deps.inventory,
    config: deps.config,
    temporal: tracedClient(deps.client, deps.observability),
  });
  const worker = await Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue ?? deps.config.taskQueue,
    workflowBundle: deps.workflowBundle ?? (await defaultWorkflowBundle(!!deps.observability?.tracing)),
    activities,
    ...(observed ? { interceptors: observed.interceptors, sinks: observed.sinks } : {}),
    ...(deps.identity ? { identity: deps.identity } : {}),
    // Each waiting step is a cached workflow (~0.4 MiB in the workflow isolate): bound them
    // (OVIRT_TASKS_MAX_CACHED_WORKFLOWS); evicted ones replay on their next workflow task.
    maxCachedWorkflows: deps.config.maxCachedWorkflows,
    // Each waiting step holds one activity slot while its task runs: allow many.
    maxConcurrentActivityTaskExecutions: 2_000,
    // A waiting activity learns of cancellation only through a heartbeat's answer.
    maxHeartbeatThrottleInterval: '10s',
    shutdownGraceTime: '5s',
  });
  const run = worker.run.bind(worker);
  worker.run = async () => {
    try {
      return await run();
    } finally {
      statusHub.close();
    }
  };
  return worker;
}

/**
 * The activities' own client (signals to parents, janitor questions) carries the trace when
 * tracing, so what an activity sends stays in the command's trace instead of starting its own.
 */
function tracedClient(client: Client | undefined, observability: WorkerObservability | undefined) {
  const tracing = observability?.tracing;
  if (!client || !tracing) return client;
  return new Client({
    connection: client.connection,
    namespace: client.options.namespace,
    interceptors: tracingClientInterceptors(tracing),
  });
}

/**
 * The bundle `npm run build` wrote next to this (compiled) file; from src/ (no build), webpack
 * ./workflows now, quietly (its build report would flood the console).
 */
async function defaultWorkflowBundle(tracing = false): Promise<NonNullable<WorkerOptions['workflowBundle']>> {
  const codePath = tracing ? undefined : prebuiltWorkflowBundle(__dirname);
  if (codePath) return { codePath };
  return bundleWorkflowCode({
    workflowsPath: require.resolve('./workflows'),
    ...(tracing ? { workflowInterceptorModules: [OTEL_WORKFLOW_INTERCEPTORS] } : {}),
    logger: new DefaultLogger('WARN'),
  });
}

/**
 * A janitor run is one sweep activity (src/workflows/task-janitor.ts: under 7 minutes with every
 * retry); a run that outlives this (no worker polls its queue) times out, so the Schedule (overlap
 * SKIP) starts the next one instead of skipping every run after it.
 */
export const JANITOR_RUN_TIMEOUT_MS = 15 * 60_000;

/**
 * One janitor Schedule per pool the inventory knows. Idempotent, and it converges: a Schedule whose
 * interval, task queue, workflow, arguments or run timeout differ from this worker's is updated
 * (describe, compare, update), and a run it already started on another task queue, which no
 * worker may poll any more, is terminated so the next run is not skipped behind it.
 */
export async function ensureJanitorSchedules(
  client: Client,
  config: Config,
  inventory: InventoryRepository,
): Promise<string[]> {
  const ids: string[] = [];
  for (const pool of await inventory.listPools()) {
    const scheduleId = scheduleIds.taskJanitor(pool.id);
    ids.push(scheduleId);
    const action = {
      type: 'startWorkflow' as const,
      workflowType: 'taskJanitorWorkflow' satisfies (typeof taskJanitorWorkflow)['name'],
      workflowId: workflowIds.taskJanitor(pool.id),
      taskQueue: config.taskQueue,
      args: [{ poolId: pool.id }],
      workflowRunTimeout: JANITOR_RUN_TIMEOUT_MS,
      staticSummary: `Task janitor of pool ${pool.name}`,
    };
    const spec = { intervals: [{ every: config.janitor.intervalMs }] };
    try {
      await client.schedule.create({
        scheduleId,
        spec,
        policies: { overlap: ScheduleOverlapPolicy.SKIP },
        action,
      });
      continue;
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    }
    const handle = client.schedule.getHandle(scheduleId);
    const current = await handle.describe();
    if (janitorScheduleDiffers(current, action, config.janitor.intervalMs)) {
      try {
        await handle.update((previous) => ({ ...previous, spec, action }));
      } catch (err) {
        // Workers starting together: another one's update may win the conflict token. Fine if
        // the Schedule now is what this worker wants.
        if (janitorScheduleDiffers(await handle.describe(), action, config.janitor.intervalMs)) throw err;
      }
    }
    // Servers do not always list running actions: the recent ones are asked too.
    const started = new Map(
      [...current.info.runningActions, ...current.info.recentActions.map((r) => r.action)].map((a) => [
        a.workflow.firstExecutionRunId,
        a.workflow.workflowId,
      ]),
    );
    for (const [runId, workflowId] of started) {
      const run = client.workflow.getHandle(workflowId, runId);
      const { taskQueue, status } = await run.describe();
      if (status.name === 'RUNNING' && taskQueue !== config.taskQueue)
        await run
          .terminate(`janitor task queue changed from ${taskQueue} to ${config.taskQueue}`)
          .catch((err: unknown) => {
            if (!(err instanceof WorkflowNotFoundError)) throw err;
          });
    }
  }
  return ids;
}

/** Does the Schedule start something else than `action` every `intervalMs`? (Intervals are kept in whole seconds.) */
function janitorScheduleDiffers(
  current: ScheduleDescription,
  action: { workflowType: string; taskQueue: string; args: unknown[]; workflowRunTimeout: number },
  intervalMs: number,
): boolean {
  const intervals = current.spec.intervals ?? [];
  const wanted = Math.max(1, Math.round(intervalMs / 1000));
  const sameInterval =
    intervals.length === 1 &&
    Math.round(intervals[0]!.every / 1000) === wanted &&
    !current.spec.calendars?.length;
  const a = current.action;
  return (
    !sameInterval ||
    a.type !== 'startWorkflow' ||
    a.workflowType !== action.workflowType ||
    a.taskQueue !== action.taskQueue ||
    JSON.stringify(a.args) !== JSON.stringify(action.args) ||
    // Described in milliseconds (a number), as it was set.
    a.workflowRunTimeout !== action.workflowRunTimeout
  );
}
