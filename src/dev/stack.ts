import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Client } from '@temporalio/client';
import type { Config } from '../config/config';
import { generateDataCenter, loadFixture } from '../fixture';
import type { InventoryRepository } from '../inventory/port';
import { DEFAULT_NAMESPACE } from '../shared/names';
import { assembleStack, type Stack } from '../stack';
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
  /** Stops worker, inventory, simulator, telemetry and server, in that order. Idempotent. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

/**
 * The embedded stack of `ovirt-tasks dev`: the dev server here, the rest (simulator, inventory,
 * telemetry, worker, janitor Schedules) assembled by src/stack as every stack is.
 */
export async function startDevStack(options: DevStackOptions): Promise<DevStack> {
  const { config, log } = options;
  const dataDir = resolve(options.dataDir);
  mkdirSync(join(dataDir, 'vdsm'), { recursive: true });
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
  let stack: Stack;
  try {
    stack = await assembleStack({
      config,
      temporal: { address: server.address, namespace: DEFAULT_NAMESPACE },
      simulators: { dataDir: join(dataDir, 'vdsm'), basePort: options.vdsmPort, host: HOST },
      seed: { fixtures: [config.fixturePath ? loadFixture(config.fixturePath) : generateDataCenter()] },
      // The worker's metrics, traces and task log lines, from the same variables.
      telemetry: true,
      // Tells this worker apart from `ovirt-tasks worker` processes in the Web UI.
      worker: { identity: `ovirt-tasks-dev-${process.pid}@${hostname()}` },
      janitorSchedules: true,
      log: (line) => log(`Worker             ${line}`),
    });
  } catch (err) {
    await server
      .stop()
      .catch((stopErr: unknown) =>
        log(`error while stopping the Temporal dev server: ${(stopErr as Error).message}`),
      );
    throw err;
  }
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const [what, run] of [
        ['stack', () => stack.stop()],
        ['Temporal dev server', () => server.stop()],
      ] as const) {
        try {
          await run();
        } catch (err) {
          log(`error while stopping the ${what}: ${(err as Error).message}`);
        }
      }
    })());

  const uiUrl = server.uiUrl ?? '';
  log(
    `Temporal gRPC      ${server.address}  (namespace ${DEFAULT_NAMESPACE}, state ${join(dataDir, 'temporal.db')})`,
  );
  log(`Temporal Web UI    ${uiUrl}`);
  const simulator = stack.simulators[0]!;
  const spmHostId = simulator.spmHostId();
  for (const host of simulator.hosts) {
    const role = host.hostId === spmHostId ? ' (SPM)' : '';
    log(`VDSM simulator     ${host.name}${role} at ${host.address}:${host.port}`);
  }
  log(`Inventory          ${config.inventoryUrl} (${stack.seeded ? 'seeded from the fixture' : 'resumed'})`);
  log(`Worker             task queue ${config.taskQueue}`);
  if (config.tracing) log(`Traces             ${config.tracing.otlpTracesUrl}`);
  return {
    temporalAddress: server.address,
    uiUrl,
    namespace: DEFAULT_NAMESPACE,
    client: stack.client,
    config,
    inventory: stack.inventory,
    workerDone: stack.workers[0]!.done,
    stop,
  };
}
