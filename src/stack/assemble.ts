/**
 * The one composition root: every way ovirt-tasks runs (`ovirt-tasks worker`, `ovirt-tasks dev`,
 * the test engine stack, the bench, record-histories, the bench's prebuilt worker) assembles its
 * simulators, inventory, telemetry, VDSM connector, Temporal connections, workers and janitor
 * Schedules here, with options for what differs. Undone in reverse order by stop(), or at once
 * when start-up fails half-way.
 */
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { Worker, WorkerOptions } from '@temporalio/worker';
import type { Config } from '../config/config';
import type { DataCenterFixture } from '../fixture';
import type { InventoryRepository } from '../inventory/port';
import {
  startWorkerTelemetry,
  tracingClientInterceptors,
  type WorkerObservability,
  type WorkerTelemetry,
} from '../observability';
import { createVdsmConnector } from '../vdsm';
import type { VdsmConnector } from '../vdsm/port';
import type { FaultConfigInput } from '../vdsm-sim/faults';
import { startSimulator, type Simulator } from '../vdsm-sim/simulator';
import { createOvirtWorker, ensureJanitorSchedules } from '../worker';
import { openStackInventory } from './inventory';
import { connectStackClient, connectStackWorker, type TemporalTarget } from './temporal';

export interface StackOptions {
  /** Task queue, inventory URL, polling, VDSM, log and telemetry settings (src/config). */
  config: Config;
  temporal: TemporalTarget;
  /**
   * VDSM simulators in this process, one per seeded fixture, and the inventory's hosts pointed at
   * their ports. State under dataDir (dataDir/pool-<n> for several pools; a function names each
   * pool's). Absent: the VDSM hosts are elsewhere (a real engine's, or a simulator process).
   */
  simulators?: {
    dataDir: string | ((poolIndex: number) => string);
    basePort?: number;
    host?: string;
    faults?: FaultConfigInput;
  };
  /** Seeds an empty inventory (one pool per fixture); the address is the simulators' when they run here. */
  seed?: { fixtures: DataCenterFixture[]; vdsmAddress?: string; vdsmBasePort?: number };
  /**
   * The worker's telemetry from `config` (src/observability: installs the Temporal runtime and its
   * logger, serves /metrics, starts tracing); the client then starts a trace at submit. Off: the
   * caller installs the runtime it wants, and workers run unobserved unless told otherwise.
   */
  telemetry?: boolean;
  /** Runs before the first connection; false stops the assembly (StackAbortedError). */
  beforeConnect?: () => Promise<boolean>;
  /** Start one worker at once (more with startWorker()). */
  worker?: WorkerStartOptions;
  /** Create or converge the janitor Schedule of every pool (what a deployed worker does). */
  janitorSchedules?: boolean;
  /** Where the stack says what it serves (the /metrics address). */
  log?: (line: string) => void;
}

export interface WorkerStartOptions {
  /** Prebuilt or test bundle; default: lib/workflow-bundle.js, else bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Tells the worker apart in the Web UI. */
  identity?: string;
  /** Default: the stack's telemetry (none without it). */
  observability?: WorkerObservability;
}

export interface RunningWorker {
  worker: Worker;
  /** Settles when the worker stops: after stop(), a shutdown signal, or early if it fails. */
  done: Promise<void>;
  stop(): Promise<void>;
}

export interface Stack {
  config: Config;
  namespace: string;
  client: Client;
  inventory: InventoryRepository;
  /** The inventory was empty and got seeded (else resumed). */
  seeded: boolean;
  simulators: Simulator[];
  vdsm: VdsmConnector;
  telemetry: WorkerTelemetry | undefined;
  workers: RunningWorker[];
  startWorker(options?: WorkerStartOptions): Promise<RunningWorker>;
  /** Stops workers, connections, VDSM, telemetry, inventory and simulators. Idempotent. */
  stop(): Promise<void>;
}

/** `beforeConnect` said no (e.g. a shutdown signal while waiting for Temporal). */
export class StackAbortedError extends Error {
  override readonly name = 'StackAbortedError';
}

const LOOPBACK = '127.0.0.1';

export async function assembleStack(options: StackOptions): Promise<Stack> {
  const { config } = options;
  const cleanups: Array<() => Promise<void>> = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      const errors: unknown[] = [];
      for (const cleanup of cleanups.reverse()) await cleanup().catch((err: unknown) => errors.push(err));
      if (errors.length)
        throw new AggregateError(errors, `${errors.length} part(s) of the stack failed to stop`);
    })());
  try {
    // Late-bound: the runtime goes in before anything else, the locks gauge reads the inventory later.
    const late: { inventory?: InventoryRepository } = {};
    const telemetry = options.telemetry
      ? await startWorkerTelemetry(config, { listLocks: (filter) => late.inventory!.listLocks(filter) })
      : undefined;
    if (telemetry) cleanups.push(() => telemetry.close());
    if (telemetry?.metricsServer) options.log?.(`metrics at ${telemetry.metricsServer.url}`);

    const simulators = await startSimulators(options, cleanups);
    const host = options.simulators?.host ?? LOOPBACK;
    const seed = options.seed && {
      fixtures: options.seed.fixtures,
      vdsmAddress: options.seed.vdsmAddress ?? host,
      vdsmBasePort: options.seed.vdsmBasePort ?? simulators[0]?.hosts[0]?.port ?? 1,
    };
    const opened = await openStackInventory(config.inventoryUrl, { seed, simulators });
    const inventory = (late.inventory = opened.inventory);
    cleanups.push(() => opened.inventory.close());

    const vdsm = createVdsmConnector({
      tls: config.vdsm.tls,
      requestTimeoutMs: config.vdsm.requestTimeoutMs,
    });
    cleanups.push(() => vdsm.close());

    if (options.beforeConnect && !(await options.beforeConnect()))
      throw new StackAbortedError('stopped before connecting to Temporal');
    const { client, connection, namespace } = await connectStackClient(
      options.temporal,
      tracingClientInterceptors(telemetry?.observability.tracing),
    );
    cleanups.push(() => connection.close());

    const workers: RunningWorker[] = [];
    const stack: Stack = {
      config,
      namespace,
      client,
      inventory,
      seeded: opened.seeded,
      simulators,
      vdsm,
      telemetry,
      workers,
      async startWorker(workerOptions = {}) {
        const native = await connectStackWorker(options.temporal);
        let worker: Worker;
        try {
          worker = await createOvirtWorker({
            connection: native.connection,
            namespace,
            config,
            inventory: opened.inventory,
            vdsm,
            client,
            workflowBundle: workerOptions.workflowBundle,
            identity: workerOptions.identity,
            observability: workerOptions.observability ?? telemetry?.observability,
          });
        } catch (err) {
          await native.connection.close();
          throw err;
        }
        const done = worker.run();
        // Observed here so an early failure is never an unhandled rejection; callers await done.
        done.catch(() => undefined);
        let stopped: Promise<void> | undefined;
        const running: RunningWorker = {
          worker,
          done,
          stop: () =>
            (stopped ??= (async () => {
              // The Temporal runtime also shuts workers down on SIGINT/SIGTERM: only ask if nobody did.
              if (worker.getState() === 'RUNNING') worker.shutdown();
              await done.catch(() => undefined);
              await native.connection.close();
            })()),
        };
        workers.push(running);
        cleanups.push(() => running.stop());
        return running;
      },
      stop,
    };
    if (options.worker) await stack.startWorker(options.worker);
    if (options.janitorSchedules) await ensureJanitorSchedules(client, config, inventory);
    return stack;
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

async function startSimulators(
  options: StackOptions,
  cleanups: Array<() => Promise<void>>,
): Promise<Simulator[]> {
  const sims = options.simulators;
  const fixtures = options.seed?.fixtures ?? [];
  if (!sims) return [];
  if (!fixtures.length)
    throw new Error('in-process simulators need the fixtures they simulate (seed.fixtures)');
  const started: Simulator[] = [];
  for (const [index, fixture] of fixtures.entries()) {
    const sim = await startSimulator({
      fixture,
      dataDir:
        typeof sims.dataDir === 'function'
          ? sims.dataDir(index)
          : fixtures.length === 1
            ? sims.dataDir
            : join(sims.dataDir, `pool-${index}`),
      basePort: sims.basePort ?? 0,
      host: sims.host ?? LOOPBACK,
      faults: sims.faults,
    });
    started.push(sim);
    cleanups.push(() => sim.stop());
  }
  return started;
}
