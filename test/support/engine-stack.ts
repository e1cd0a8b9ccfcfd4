import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import {
  bundleWorkflowCode,
  NativeConnection,
  Runtime,
  DefaultLogger,
  type Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { loadConfig, type Config } from '../../src/config/config';
import { generateDataCenter, type DataCenterFixture, type DataCenterOptions } from '../../src/fixture';
import { openInventory } from '../../src/inventory';
import type { InventoryRepository } from '../../src/inventory/port';
import { createVdsmConnector } from '../../src/vdsm';
import type { VdsmConnector } from '../../src/vdsm/port';
import { startSimulator, type Simulator } from '../../src/vdsm-sim/simulator';
import type { FaultConfigInput } from '../../src/vdsm-sim/faults';
import { createOvirtWorker } from '../../src/worker';
import { testAddress, TEST_NAMESPACE } from './temporal';

let runtimeInstalled = false;
/** Workers log at WARN: the suite's output stays readable. */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed by another helper in this worker process.
  }
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** One workflow bundle per test file (jest gives each file its own module registry). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'),
    logger: new DefaultLogger('WARN'),
  });
  return bundle;
}

/** Fast polling and a short janitor grace: tests wait seconds, not minutes. */
export const TEST_CONFIG_OVERRIDES = {
  POLL_MIN_INTERVAL_MS: '200',
  POLL_MAX_INTERVAL_MS: '1000',
  POLL_FAST_PHASE_MS: '2000',
  VDSM_REQUEST_TIMEOUT_MS: '5000',
  JANITOR_GRACE_MS: '1000',
};

export interface EngineStack {
  fixture: DataCenterFixture;
  dataDir: string;
  sim: Simulator;
  inventory: InventoryRepository;
  inventoryUrl: string;
  vdsm: VdsmConnector;
  client: Client;
  config: Config;
  taskQueue: string;
  /** Starts an in-process worker (stopped by stop()). */
  startWorker(): Promise<Worker>;
  vmByName(name: string): { id: string; disks: string[] };
  stop(): Promise<void>;
}

/**
 * A data center of its own (unique ids, so workflow ids never collide on the shared server), its
 * simulator on ephemeral loopback ports, a SQLite inventory seeded from the same fixture, a client.
 */
export async function startEngineStack(
  options: {
    dc?: DataCenterOptions;
    faults?: FaultConfigInput;
    config?: Record<string, string>;
    worker?: boolean;
    /** Another Temporal server than the suite's shared one (e.g. a dev server with its Web UI). */
    temporalAddress?: string;
  } = {},
): Promise<EngineStack> {
  quietRuntime();
  const temporalAddress = options.temporalAddress ?? testAddress();
  const fixture = generateDataCenter({ vmCount: 6, ...options.dc, name: `t${randomUUID().slice(0, 8)}` });
  const dataDir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-it-'));
  const sim = await startSimulator({
    fixture,
    dataDir: join(dataDir, 'vdsm'),
    basePort: 0,
    faults: options.faults,
  });
  const inventoryUrl = `sqlite:${join(dataDir, 'inventory.db')}`;
  const inventory = openInventory(inventoryUrl);
  await inventory.init({ fixture, vdsmAddress: '127.0.0.1', vdsmBasePort: 1 });
  for (const host of sim.hosts) await inventory.setHostAddress(host.hostId, host.address, host.port);
  const taskQueue = `it-${randomUUID()}`;
  const config = loadConfig(
    {},
    {
      ...TEST_CONFIG_OVERRIDES,
      ...options.config,
      OVIRT_TASKS_TASK_QUEUE: taskQueue,
      OVIRT_TASKS_INVENTORY_URL: inventoryUrl,
    },
  );
  const vdsm = createVdsmConnector({ requestTimeoutMs: config.vdsm.requestTimeoutMs });
  const connection = await Connection.connect({ address: temporalAddress });
  const client = new Client({ connection, namespace: TEST_NAMESPACE });
  const workers: Array<{ worker: Worker; done: Promise<void>; connection: NativeConnection }> = [];

  const stack: EngineStack = {
    fixture,
    dataDir,
    sim,
    inventory,
    inventoryUrl,
    vdsm,
    client,
    config,
    taskQueue,
    async startWorker() {
      const nativeConnection = await NativeConnection.connect({ address: temporalAddress });
      const worker = await createOvirtWorker({
        connection: nativeConnection,
        namespace: TEST_NAMESPACE,
        config,
        inventory,
        vdsm,
        client,
        taskQueue,
        workflowBundle: await workflowBundle(),
      });
      workers.push({ worker, done: worker.run(), connection: nativeConnection });
      return worker;
    },
    vmByName(name) {
      const vm = fixture.vms.find((v) => v.name === name);
      if (!vm) throw new Error(`no VM ${name} in the test fixture`);
      return { id: vm.id, disks: fixture.disks.filter((d) => d.vmId === vm.id).map((d) => d.id) };
    },
    async stop() {
      for (const w of workers) {
        if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
        await w.done.catch(() => undefined);
        await w.connection.close();
      }
      await vdsm.close();
      await sim.stop();
      await inventory.close();
      await connection.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  if (options.worker !== false) {
    try {
      await stack.startWorker();
    } catch (err) {
      await stack.stop();
      throw err;
    }
  }
  return stack;
}

/** Polls `check` until it returns a value (not undefined) or the time is up. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The invariants every test ends with: no entity left LOCKED or locked, no SPM task left
 * uncleared, and the inventory agreeing with the simulator's storage: a removed disk has no image,
 * an OK disk has its image; an ILLEGAL disk may have either (a failed delete can leave VDSM's
 * `_remove_me_` image behind, which is why the engine marks it ILLEGAL).
 */
export async function expectClean(stack: EngineStack, diskIds: string[]): Promise<void> {
  expect(await stack.inventory.listLocks()).toEqual([]);
  expect(stack.sim.listTasks()).toEqual([]);
  expect(await stack.inventory.listTaskClaims()).toEqual([]);
  for (const diskId of diskIds) {
    const disk = stack.fixture.disks.find((d) => d.id === diskId)!;
    const record = await stack.inventory.getDisk(diskId);
    const onStorage = stack.sim.imageExists(disk.domainId, diskId);
    if (record?.status === 'ILLEGAL') continue;
    expect({ diskId, recordKept: record !== undefined, status: record?.status }).toEqual({
      diskId,
      recordKept: onStorage,
      status: onStorage ? 'OK' : undefined,
    });
  }
}
