import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities';
import type { Config } from './config/config';
import type { InventoryRepository } from './inventory/port';
import { scheduleIds, workflowIds } from './shared/names';
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
  /** Prebuilt bundle (tests build it once per file); default: bundle src/workflows at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  identity?: string;
}

/** A worker running every ovirt-tasks workflow and activity, with one status hub per worker. */
export async function createOvirtWorker(deps: OvirtWorkerDeps): Promise<Worker> {
  const { activities, statusHub } = createActivities({
    vdsm: deps.vdsm,
    inventory: deps.inventory,
    config: deps.config,
    temporal: deps.client,
  });
  const worker = await Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue ?? deps.config.taskQueue,
    ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath: require.resolve('./workflows') }),
    activities,
    identity: deps.identity,
    // Each waiting step holds one activity slot while its task runs: allow many.
    maxConcurrentActivityTaskExecutions: 2_000,
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

/** One janitor Schedule per pool the inventory knows; idempotent. */
export async function ensureJanitorSchedules(client: Client, config: Config, inventory: InventoryRepository): Promise<string[]> {
  const ids: string[] = [];
  for (const pool of await inventory.listPools()) {
    const scheduleId = scheduleIds.taskJanitor(pool.id);
    ids.push(scheduleId);
    try {
      await client.schedule.create({
        scheduleId,
        spec: { intervals: [{ every: config.janitor.intervalMs }] },
        policies: { overlap: ScheduleOverlapPolicy.SKIP },
        action: {
          type: 'startWorkflow',
          workflowType: 'taskJanitorWorkflow' satisfies (typeof taskJanitorWorkflow)['name'],
          workflowId: workflowIds.taskJanitor(pool.id),
          taskQueue: config.taskQueue,
          args: [{ poolId: pool.id }],
          staticSummary: `Task janitor of pool ${pool.name}`,
        },
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    }
  }
  return ids;
}
