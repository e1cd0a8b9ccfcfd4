/**
 * The stack the bench and the chaos runner drive: a Temporal dev server of their own (free port;
 * in memory, or a SQLite file that survives restarts), one in-process VDSM simulator per storage
 * pool, one SQLite inventory shared with the worker child processes (`node bin/ovirt-tasks
 * worker`), and a client.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { loadConfig } from '../../src/config/config';
import { startDevServer, type DevServer } from '../../src/dev/dev-server';
import { findDevServerPid } from './cpu';
import { freePort } from '../../src/dev/ports';
import { resolveTemporalBinary } from '../../src/dev/temporal-binary';
import type { DataCenterFixture } from '../../src/fixture';
import type { InventoryRepository } from '../../src/inventory/port';
import { DEFAULT_NAMESPACE } from '../../src/shared/names';
import { assembleStack, type Stack as AssembledStack } from '../../src/stack';
import type { FaultConfigInput } from '../../src/vdsm-sim/faults';
import type { Simulator } from '../../src/vdsm-sim/simulator';
import {
  OVIRT_WORKER_READY_LINE,
  ovirtWorkerArgs,
  workerEnvironment,
  WorkerProcess,
  type WorkerProcessOptions,
} from './worker-process';

export interface StackOptions {
  /** One data center (storage pool) per fixture; each gets its own simulator. */
  fixtures: DataCenterFixture[];
  /** Keep the Temporal server's state in a SQLite file (restartable); default in memory. */
  persistentServer?: boolean;
  faults?: FaultConfigInput;
  /** Settings of the worker children (POLL_*, JANITOR_*, ...), on top of the stack's own. */
  workerSettings?: Record<string, string>;
  /** The worker children's command; default `node bin/ovirt-tasks worker`. */
  workerCommand?: { args: string[]; readyLine: string; env?: Record<string, string> };
  /** Where everything lives; default a fresh temp dir, removed by stop() unless keepDir. */
  dir?: string;
  keepDir?: boolean;
  log?: (line: string) => void;
}

const HOST = '127.0.0.1';

export class Stack {
  readonly taskQueue = `bench-${randomUUID().slice(0, 8)}`;
  readonly inventoryFile: string;
  readonly sims = new Map<string, Simulator>();
  readonly workers: WorkerProcess[] = [];
  /** Every worker life (killed ones included), for RSS and exit reports. */
  readonly workerLives: WorkerProcess[] = [];
  inventory!: InventoryRepository;
  client!: Client;
  /** Simulators, inventory and client, assembled as every stack is (src/stack). */
  private assembled?: AssembledStack;
  private server!: DevServer;
  private serverPort = 0;
  private readonly binary = resolveTemporalBinary();
  private workerSeq = 0;

  private constructor(
    readonly options: StackOptions,
    readonly dir: string,
  ) {
    this.inventoryFile = join(dir, 'inventory.db');
  }

  static async start(options: StackOptions): Promise<Stack> {
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'ovirt-tasks-bench-'));
    mkdirSync(dir, { recursive: true });
    const stack = new Stack(options, dir);
    try {
      await stack.boot();
    } catch (err) {
      await stack.stop();
      throw err;
    }
    return stack;
  }

  get address(): string {
    return this.server.address;
  }

  /** The dev server process (for CPU accounting); found again after every restart. */
  get serverPid(): number | undefined {
    return findDevServerPid(this.serverPort);
  }

  get fixtures(): DataCenterFixture[] {
    return this.options.fixtures;
  }

  sim(poolId: string): Simulator {
    const sim = this.sims.get(poolId);
    if (!sim) throw new Error(`no simulator for pool ${poolId}`);
    return sim;
  }

  log(line: string): void {
    (this.options.log ?? ((l: string) => console.error(l)))(line);
  }

  private async boot(): Promise<void> {
    this.serverPort = await freePort(HOST);
    await this.startServer();
    const config = loadConfig(
      {},
      { OVIRT_TASKS_TASK_QUEUE: this.taskQueue, OVIRT_TASKS_INVENTORY_URL: `sqlite:${this.inventoryFile}` },
    );
    this.assembled = await assembleStack({
      config,
      temporal: { address: this.server.address, namespace: DEFAULT_NAMESPACE },
      // vdsm-<n>: the task sampler reads each pool's persisted SPM tasks there.
      simulators: {
        dataDir: (index) => join(this.dir, `vdsm-${index}`),
        host: HOST,
        faults: this.options.faults,
      },
      seed: { fixtures: this.options.fixtures },
    });
    for (const [index, fixture] of this.options.fixtures.entries()) {
      this.sims.set(fixture.pool.id, this.assembled.simulators[index]!);
    }
    this.inventory = this.assembled.inventory;
    this.client = this.assembled.client;
  }

  private async startServer(): Promise<void> {
    this.server = await startDevServer({
      binary: this.binary,
      port: this.serverPort,
      headless: true,
      namespace: DEFAULT_NAMESPACE,
      ip: HOST,
      logLevel: 'warn',
      logFile: join(this.dir, 'temporal.log'),
      ...(this.options.persistentServer ? { dbFile: join(this.dir, 'temporal.db') } : {}),
    });
  }

  /** Stops the dev server and starts it again on the same port (SQLite state kept). */
  async restartServer(downMs = 0): Promise<void> {
    if (!this.options.persistentServer) throw new Error('an in-memory server cannot be restarted');
    await this.server.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.startServer();
  }

  workerSettings(): Record<string, string> {
    return {
      TEMPORAL_ADDRESS: this.server.address,
      TEMPORAL_NAMESPACE: DEFAULT_NAMESPACE,
      OVIRT_TASKS_TASK_QUEUE: this.taskQueue,
      OVIRT_TASKS_INVENTORY_URL: `sqlite:${this.inventoryFile}`,
      LOG_LEVEL: 'WARN',
      ...this.options.workerSettings,
    };
  }

  /** Starts one `ovirt-tasks worker` child and waits until it polls. */
  async startWorker(): Promise<WorkerProcess> {
    const n = ++this.workerSeq;
    const command = this.options.workerCommand;
    const options: WorkerProcessOptions = {
      name: `ovirt-worker-${n}`,
      args: command?.args ?? ovirtWorkerArgs(),
      env: workerEnvironment({ ...this.workerSettings(), ...command?.env }),
      logFile: join(this.dir, `worker-${n}.log`),
      readyLine: command?.readyLine ?? OVIRT_WORKER_READY_LINE,
    };
    const worker = await WorkerProcess.start(options);
    this.workers.push(worker);
    this.workerLives.push(worker);
    return worker;
  }

  /** Replaces a dead (or killed) worker with a fresh process; undefined if it was replaced already. */
  async replaceWorker(dead: WorkerProcess): Promise<WorkerProcess | undefined> {
    const index = this.workers.indexOf(dead);
    if (index < 0) return undefined;
    this.workers.splice(index, 1);
    try {
      return await this.startWorker();
    } catch (err) {
      // Keep the slot visible as dead, so a later attempt replaces it.
      this.workers.push(dead);
      throw err;
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop().catch(() => undefined)));
    await this.assembled?.stop().catch(() => undefined);
    await this.server?.stop().catch(() => undefined);
    if (!this.options.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
