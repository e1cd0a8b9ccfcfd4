import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Config } from '../config/config';
import { generateDataCenter, loadFixture, type DataCenterFixture } from '../fixture';
import { openInventory } from '../inventory';
import type { InventoryRepository } from '../inventory/port';
import { DEFAULT_NAMESPACE } from '../shared/names';
import { createVdsmConnector } from '../vdsm';
import { startSimulator } from '../vdsm-sim/main';
import { createOvirtWorker, ensureJanitorSchedules, installRuntimeLogger } from '../worker';
import { startDevServer } from './dev-server';
import { resolveTemporalBinary } from './temporal-binary';

export interface DevStackOptions {
  /** Everything persistent lives here: temporal.db, inventory.db, vdsm/, temporal.log. */
  dataDir: string;
  /** 0 = any free port (tests). */
  temporalPort: number;
  uiPort: number;
  /** Port of the SPM's simulated host; the others follow. 0 = an ephemeral port per host. */
  vdsmPort: number;
  /** Built with the inventory URL pointing into dataDir. */
  config: Config;
  log: (line: string) => void;
}

export interface DevStack {
  temporalAddress: string;
  uiUrl: string;
  namespace: string;
  client: Client;
  config: Config;
  inventory: InventoryRepository;
  /** Settles when the worker stops: after stop(), or early if it fails. */
  workerDone: Promise<void>;
  /** Stops worker, simulator, inventory and server, in that order. Idempotent. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

/** The embedded stack of `ovirt-tasks dev`: server, simulator, inventory and worker in one process. */
export async function startDevStack(options: DevStackOptions): Promise<DevStack> {
  const { config, log } = options;
  installRuntimeLogger(config.logLevel);
  const dataDir = resolve(options.dataDir);
  mkdirSync(join(dataDir, 'vdsm'), { recursive: true });
  // Undone in reverse order, whether start-up fails half-way or the stack stops.
  const cleanups: Array<{ what: string; run: () => Promise<void> }> = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const { what, run } of cleanups.reverse()) {
        try {
          await run();
        } catch (err) {
          log(`error while stopping the ${what}: ${(err as Error).message}`);
        }
      }
    })());

  try {
    const server = await startDevServer({
      binary: resolveTemporalBinary(),
      port: options.temporalPort,
      uiPort: options.uiPort,
      dbFile: join(dataDir, 'temporal.db'),
      namespace: DEFAULT_NAMESPACE,
      ip: HOST,
      logLevel: 'warn',
      logFile: join(dataDir, 'temporal.log'),
    });
    cleanups.push({ what: 'Temporal dev server', run: () => server.stop() });

    const fixture: DataCenterFixture = config.fixturePath
      ? loadFixture(config.fixturePath)
      : generateDataCenter();
    const simulator = await startSimulator({
      fixture,
      dataDir: join(dataDir, 'vdsm'),
      basePort: options.vdsmPort,
      host: HOST,
    });
    cleanups.push({ what: 'VDSM simulator', run: () => simulator.stop() });

    const inventory = openInventory(config.inventoryUrl);
    cleanups.push({ what: 'inventory', run: () => inventory.close() });
    const seeded = await inventory.init({
      fixture,
      vdsmAddress: HOST,
      vdsmBasePort: simulator.hosts[0]?.port ?? options.vdsmPort,
    });
    // Seeding assumes consecutive ports in fixture order, and a resumed inventory remembers the
    // last run's: point every host at the port this run's simulator really gave it.
    for (const host of simulator.hosts) await inventory.setHostAddress(host.hostId, host.address, host.port);

    const vdsm = createVdsmConnector({ requestTimeoutMs: config.vdsm.requestTimeoutMs });
    cleanups.push({ what: 'VDSM connector', run: () => vdsm.close() });

    const clientConnection = await Connection.connect({ address: server.address });
    cleanups.push({ what: 'client connection', run: () => clientConnection.close() });
    const client = new Client({ connection: clientConnection, namespace: DEFAULT_NAMESPACE });

    const workerConnection = await NativeConnection.connect({ address: server.address });
    cleanups.push({ what: 'worker connection', run: () => workerConnection.close() });
    const worker = await createOvirtWorker({
      connection: workerConnection,
      namespace: DEFAULT_NAMESPACE,
      config,
      inventory,
      vdsm,
      client,
      // Tells this worker apart from `ovirt-tasks worker` processes in the Web UI.
      identity: `ovirt-tasks-dev-${process.pid}@${hostname()}`,
    });
    const running = worker.run();
    // Observed here so an early failure is never an unhandled rejection; callers await workerDone.
    running.catch(() => undefined);
    cleanups.push({ what: 'worker', run: () => shutDownWorker(worker, running) });

    await ensureJanitorSchedules(client, config, inventory);

    const uiUrl = server.uiUrl ?? '';
    log(
      `Temporal gRPC      ${server.address}  (namespace ${DEFAULT_NAMESPACE}, state ${join(dataDir, 'temporal.db')})`,
    );
    log(`Temporal Web UI    ${uiUrl}`);
    const spmHostId = simulator.spmHostId();
    for (const host of simulator.hosts) {
      const role = host.hostId === spmHostId ? ' (SPM)' : '';
      log(`VDSM simulator     ${host.name}${role} at ${host.address}:${host.port}`);
    }
    log(`Inventory          ${config.inventoryUrl} (${seeded ? 'seeded from the fixture' : 'resumed'})`);
    log(`Worker             task queue ${config.taskQueue}`);
    return {
      temporalAddress: server.address,
      uiUrl,
      namespace: DEFAULT_NAMESPACE,
      client,
      config,
      inventory,
      workerDone: running,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The Temporal runtime also shuts workers down on SIGINT/SIGTERM: only ask if nobody did. */
async function shutDownWorker(worker: Worker, running: Promise<void>): Promise<void> {
  if (worker.getState() === 'RUNNING') worker.shutdown();
  await running;
}
