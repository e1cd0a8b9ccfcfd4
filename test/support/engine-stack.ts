import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import {
  bundleWorkflowCode,
  Runtime,
  DefaultLogger,
  type Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { loadConfig, type Config } from '../../src/config/config';
import { generateDataCenter, type DataCenterFixture, type DataCenterOptions } from '../../src/fixture';
import type { InventoryRepository } from '../../src/inventory/port';
import type { WorkerObservability } from '../../src/observability';
import { assembleStack, FAST_POLL_OVERRIDES } from '../../src/stack';
import type { VdsmConnector } from '../../src/vdsm/port';
import type { Simulator } from '../../src/vdsm-sim/simulator';
import type { FaultConfigInput } from '../../src/vdsm-sim/faults';
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
export const TEST_CONFIG_OVERRIDES = { ...FAST_POLL_OVERRIDES, JANITOR_GRACE_MS: '1000' };

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
  /** Starts an in-process worker (stopped by stop()); observed when told (metrics, tracing tests). */
  startWorker(options?: {
    observability?: WorkerObservability;
    workflowBundle?: WorkflowBundleWithSourceMap;
  }): Promise<Worker>;
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
  const fixture = generateDataCenter({ vmCount: 6, ...options.dc, name: `t${randomUUID().slice(0, 8)}` });
  const dataDir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-it-'));
  const inventoryUrl = `sqlite:${join(dataDir, 'inventory.db')}`;
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
  const assembled = await assembleStack({
    config,
    temporal: { address: options.temporalAddress ?? testAddress(), namespace: TEST_NAMESPACE },
    simulators: { dataDir: join(dataDir, 'vdsm'), faults: options.faults },
    seed: { fixtures: [fixture] },
  }).catch((err: unknown) => {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  });

  const stack: EngineStack = {
    fixture,
    dataDir,
    sim: assembled.simulators[0]!,
    inventory: assembled.inventory,
    inventoryUrl,
    vdsm: assembled.vdsm,
    client: assembled.client,
    config,
    taskQueue,
    async startWorker(workerOptions = {}) {
      const { worker } = await assembled.startWorker({
        workflowBundle: workerOptions.workflowBundle ?? (await workflowBundle()),
        observability: workerOptions.observability,
      });
      return worker;
    },
    vmByName(name) {
      const vm = fixture.vms.find((v) => v.name === name);
      if (!vm) throw new Error(`no VM ${name} in the test fixture`);
      return { id: vm.id, disks: fixture.disks.filter((d) => d.vmId === vm.id).map((d) => d.id) };
    },
    async stop() {
      try {
        await assembled.stop();
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
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

/**
 * One stack per test: `start` is startEngineStack, and an afterEach (registered here, so call this
 * at the top level of the test file) stops the test's stack, after `beforeStop` (e.g. killing the
 * worker processes the test spawned).
 */
export function stackPerTest(beforeStop?: () => void): {
  start(options?: Parameters<typeof startEngineStack>[0]): Promise<EngineStack>;
} {
  let current: EngineStack | undefined;
  afterEach(async () => {
    beforeStop?.();
    await current?.stop();
    current = undefined;
  });
  return {
    async start(options) {
      current = await startEngineStack(options);
      return current;
    },
  };
}

/** How many times each verb reached the stack's pool (SPM and hosts) on the simulator. */
export function poolVerbs(s: EngineStack): Record<string, number> {
  return s.sim.counters().pools[s.fixture.pool.id]?.verbs ?? {};
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
