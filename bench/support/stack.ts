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
import Database from 'better-sqlite3';
import { Client, Connection } from '@temporalio/client';
import { startDevServer, type DevServer } from '../../src/dev/dev-server';
import { findDevServerPid } from './cpu';
import { freePort } from '../../src/dev/ports';
import { resolveTemporalBinary } from '../../src/dev/temporal-binary';
import type { DataCenterFixture } from '../../src/fixture';
import { openInventory } from '../../src/inventory';
import type { InventoryRepository } from '../../src/inventory/port';
import { DEFAULT_NAMESPACE } from '../../src/shared/names';
import type { FaultConfigInput } from '../../src/vdsm-sim/faults';
import { startSimulator, type Simulator } from '../../src/vdsm-sim/simulator';
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
  private connection!: Connection;
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
    for (const [index, fixture] of this.options.fixtures.entries()) {
      const sim = await startSimulator({
        fixture,
        dataDir: join(this.dir, `vdsm-${index}`),
        basePort: 0,
        host: HOST,
        faults: this.options.faults,
      });
      this.sims.set(fixture.pool.id, sim);
    }
    await seedInventory(this.inventoryFile, this.options.fixtures);
    this.inventory = openInventory(`sqlite:${this.inventoryFile}`);
    await this.inventory.init();
    for (const sim of this.sims.values()) {
      for (const host of sim.hosts) await this.inventory.setHostAddress(host.hostId, host.address, host.port);
    }
    this.connection = await Connection.connect({ address: this.server.address });
    this.client = new Client({ connection: this.connection, namespace: DEFAULT_NAMESPACE });
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
    await this.connection?.close().catch(() => undefined);
    for (const sim of this.sims.values()) await sim.stop().catch(() => undefined);
    await this.inventory?.close().catch(() => undefined);
    await this.server?.stop().catch(() => undefined);
    if (!this.options.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The entity tables a fixture seeds, in foreign-key order. */
const ENTITY_TABLES = ['storage_pools', 'storage_domains', 'hosts', 'vms', 'disks'] as const;

/**
 * `init()` seeds one data center (one pool) into an empty inventory. For several pools, each
 * further fixture is seeded by the same `init()` into a scratch inventory whose entity rows are
 * then copied over (same schema, same code): the engine itself is multi-pool (hub, SPM locator and
 * janitor work per pool).
 */
async function seedInventory(file: string, fixtures: DataCenterFixture[]): Promise<void> {
  const [first, ...others] = fixtures;
  if (!first) throw new Error('at least one fixture is needed');
  const placeholder = { vdsmAddress: HOST, vdsmBasePort: 1 };
  const main = openInventory(`sqlite:${file}`);
  await main.init({ fixture: first, ...placeholder });
  await main.close();
  for (const [index, fixture] of others.entries()) {
    const scratchFile = `${file}.pool-${index + 1}.db`;
    const scratch = openInventory(`sqlite:${scratchFile}`);
    await scratch.init({ fixture, ...placeholder });
    await scratch.close();
    const db = new Database(file);
    try {
      db.prepare('ATTACH DATABASE ? AS seed').run(scratchFile);
      db.transaction(() => {
        for (const table of ENTITY_TABLES) db.exec(`INSERT INTO main.${table} SELECT * FROM seed.${table}`);
      })();
      db.exec('DETACH DATABASE seed');
    } finally {
      db.close();
    }
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${scratchFile}${suffix}`, { force: true });
  }
}
