/**
 * EXPERIMENT (`npm run bench -- --worker-bundle prebuilt`): `ovirt-tasks worker` as
 * runWorkerCommand (src/worker.ts) builds it, except that the workflow bundle is read from
 * BENCH_WORKFLOW_BUNDLE (built once by the bench) instead of being webpacked inside the worker
 * process. It exists to measure what webpack leaves in a worker's RSS; the product path is
 * `node bin/ovirt-tasks worker`.
 */
import { Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { loadConfig } from '../../src/config/config';
import { openInventory } from '../../src/inventory';
import { connectClient, connectWorkerConnection } from '../../src/shared/temporal-connection';
import { createVdsmConnector } from '../../src/vdsm';
import { createOvirtWorker, ensureJanitorSchedules } from '../../src/worker';
import { OVIRT_WORKER_READY_LINE } from './worker-process';

export const MEMORY_LINE = 'BENCH_MEMORY ';

async function main(): Promise<void> {
  // The runtime's default shutdown signals include SIGUSR2: keep it for the memory report.
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM', 'SIGQUIT'] });
  // SIGUSR2: a full GC (node --expose-gc) then the memory figures: what is live, not just held.
  process.on('SIGUSR2', () => {
    (globalThis as { gc?: () => void }).gc?.();
    console.log(
      `${MEMORY_LINE}${JSON.stringify({ ...process.memoryUsage(), gcExposed: 'gc' in globalThis })}`,
    );
  });
  // BENCH_MAX_CACHED_WORKFLOWS: the worker's sticky cache size (createOvirtWorker leaves the SDK's
  // default, which grows with the heap limit): injected here to measure what the cache costs.
  const maxCached = process.env.BENCH_MAX_CACHED_WORKFLOWS;
  if (maxCached) {
    const create = Worker.create.bind(Worker);
    Worker.create = (options: WorkerOptions) => create({ ...options, maxCachedWorkflows: Number(maxCached) });
  }
  const codePath = process.env.BENCH_WORKFLOW_BUNDLE;
  if (!codePath) throw new Error('BENCH_WORKFLOW_BUNDLE is required');
  const config = loadConfig(process.env);
  const inventory = openInventory(config.inventoryUrl);
  const vdsm = createVdsmConnector({ tls: config.vdsm.tls, requestTimeoutMs: config.vdsm.requestTimeoutMs });
  try {
    await inventory.init();
    const { connection, namespace } = await connectWorkerConnection({ env: process.env });
    const { client, connection: clientConnection } = await connectClient({ env: process.env });
    try {
      const worker = await createOvirtWorker({
        connection,
        namespace,
        config,
        inventory,
        vdsm,
        client,
        workflowBundle: { codePath },
      });
      await ensureJanitorSchedules(client, config, inventory);
      console.log(`${OVIRT_WORKER_READY_LINE} ${config.taskQueue} (prebuilt bundle)`);
      await worker.run();
    } finally {
      await clientConnection.close();
      await connection.close();
    }
  } finally {
    await vdsm.close();
    await inventory.close();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
