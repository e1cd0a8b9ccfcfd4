/**
 * `npm run record-histories`: records the replay fixtures of test/replay.test.ts from real runs.
 * A fresh in-memory dev server, and per scenario a data center of its own (fixed name and seed, so
 * workflow ids are the same on every recording), its VDSM simulator, a SQLite inventory and a
 * worker; each scenario drives one path through the workflows, and the history of every workflow
 * it started (parents and their children) is written to
 * test/fixtures/histories/<set>/<scenario>/<workflow id, made file-safe>.json, listed in
 * <set>/index.json.
 *
 * A recording adds a set and never rewrites one: once a release is out, histories recorded by
 * earlier workflow code stand for executions started before a change, and test/replay.test.ts
 * replays every set. Sets are named by `npm run record-histories -- --set <name>` (default
 * `recorded-<UTC time>`). Until a release, a workflow change replaces the set (delete, re-record).
 */
import {
  cpSync,
  existsSync,
  mkdtempSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { queryCommandState, submitRemoveDisk, submitRemoveVm } from '../client';
import { loadConfig } from '../config/config';
import { generateDataCenter, uuidFromName, type DataCenterFixture } from '../fixture';
import { openInventory } from '../inventory';
import type { InventoryRepository } from '../inventory/port';
import { DEFAULT_NAMESPACE, workflowIds, WorkflowType } from '../shared/names';
import { createVdsmConnector } from '../vdsm';
import type { VdsmConnector } from '../vdsm/port';
import type { FaultConfigInput } from '../vdsm-sim/faults';
import { startSimulator, type Simulator } from '../vdsm-sim/simulator';
import { createOvirtWorker } from '../worker';
import type { taskJanitorWorkflow } from '../workflows';
import { startDevServer } from './dev-server';
import { projectRoot } from './project-root';
import { resolveTemporalBinary } from './temporal-binary';

export const HISTORIES_DIR = join(projectRoot(), 'test', 'fixtures', 'histories');
/** Index of the first set, recorded before sets existed (its scenarios are top-level folders). */
export const HISTORIES_INDEX = join(HISTORIES_DIR, 'index.json');

/** One recording: its index and the folder its `file` paths are relative to. */
export interface HistorySet {
  /** `.` for the first set, else its folder name under test/fixtures/histories. */
  name: string;
  dir: string;
  index: HistoriesIndex;
}

/** Every recorded set: the first one, then each sub-folder holding an index.json, by name. */
export function historySets(root = HISTORIES_DIR): HistorySet[] {
  const read = (dir: string): HistoriesIndex =>
    JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as HistoriesIndex;
  const sets: HistorySet[] = [];
  if (existsSync(join(root, 'index.json'))) sets.push({ name: '.', dir: root, index: read(root) });
  for (const entry of readdirSync(root, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const dir = join(root, entry.name);
    if (entry.isDirectory() && existsSync(join(dir, 'index.json'))) {
      sets.push({ name: entry.name, dir, index: read(dir) });
    }
  }
  return sets;
}

/** A set name is one file-safe folder name. */
const SET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** One line of index.json: what test/replay.test.ts replays. */
export interface HistoryFixture {
  scenario: string;
  /** The real id: replay checks it (child ids, for one, are derived from it). */
  workflowId: string;
  workflowType: string;
  /** How the run closed: COMPLETED, FAILED, CANCELLED. */
  status: string;
  /** Relative to the set's folder (test/fixtures/histories for the first set). */
  file: string;
}

export interface HistoriesIndex {
  note: string;
  /** The set's name (absent in the first set). */
  set?: string;
  sdkVersion: string;
  scenarios: Array<{ name: string; description: string }>;
  fixtures: HistoryFixture[];
}

type CloseStatus = 'COMPLETED' | 'FAILED' | 'CANCELLED';

interface ScenarioContext {
  client: Client;
  fixture: DataCenterFixture;
  sim: Simulator;
  inventory: InventoryRepository;
  vdsm: VdsmConnector;
  taskQueue: string;
  vm(name: string): { id: string; disks: string[] };
}

interface Scenario {
  name: string;
  description: string;
  faults?: FaultConfigInput;
  /** Starts the scenario's top-level workflows and returns them with how each must close. */
  run(ctx: ScenarioContext): Promise<Array<{ workflowId: string; expect: CloseStatus }>>;
}

/** Fast polling: the step's waiting happens inside one activity, so it does not change histories. */
const CONFIG_OVERRIDES = {
  POLL_MIN_INTERVAL_MS: '200',
  POLL_MAX_INTERVAL_MS: '1000',
  POLL_FAST_PHASE_MS: '2000',
  VDSM_REQUEST_TIMEOUT_MS: '5000',
};

const DATA_CENTER_SEED = 7;

export const SCENARIOS: Scenario[] = [
  {
    name: 'remove-vm-success',
    description: 'RemoveVm of web-01: 4 images removed',
    faults: { durations: { 'Image.delete': 300 } },
    async run(ctx) {
      const { handle } = await submitRemoveVm(
        ctx.client,
        { vmId: ctx.vm('web-01').id },
        { taskQueue: ctx.taskQueue, inventory: ctx.inventory },
      );
      return [{ workflowId: handle.workflowId, expect: 'COMPLETED' }];
    },
  },
  {
    name: 'remove-vm-partial-failure',
    description:
      'RemoveVm of web-01: one Image.delete task fails (code 100), the VM ends with an illegal disk',
    faults: {
      durations: { 'Image.delete': 300 },
      failures: [{ verb: 'Image.delete', phase: 'task', code: 100, count: 1 }],
    },
    async run(ctx) {
      const { handle } = await submitRemoveVm(
        ctx.client,
        { vmId: ctx.vm('web-01').id },
        { taskQueue: ctx.taskQueue, inventory: ctx.inventory },
      );
      return [{ workflowId: handle.workflowId, expect: 'FAILED' }];
    },
  },
  {
    name: 'remove-vm-cancelled',
    description:
      'RemoveVm of web-01 cancelled while its 4 VDSM tasks run: stopped; VDSM lets the purges finish, the images are gone',
    faults: { durations: { 'Image.delete': 3_000 }, rollbackMs: 300 },
    async run(ctx) {
      const { handle } = await submitRemoveVm(
        ctx.client,
        { vmId: ctx.vm('web-01').id },
        { taskQueue: ctx.taskQueue, inventory: ctx.inventory },
      );
      await allStepsPolling(ctx, handle.workflowId, 4);
      await handle.cancel();
      return [{ workflowId: handle.workflowId, expect: 'CANCELLED' }];
    },
  },
  {
    name: 'remove-vm-spm-failover',
    description:
      'RemoveVm of web-01 while the SPM role moves to another host mid-task: the lost tasks roll back, 4 illegal disks',
    faults: { durations: { 'Image.delete': 60_000 }, rollbackMs: 200 },
    async run(ctx) {
      const { handle } = await submitRemoveVm(
        ctx.client,
        { vmId: ctx.vm('web-01').id },
        { taskQueue: ctx.taskQueue, inventory: ctx.inventory },
      );
      await allStepsPolling(ctx, handle.workflowId, 4);
      await ctx.sim.failover();
      return [{ workflowId: handle.workflowId, expect: 'FAILED' }];
    },
  },
  {
    name: 'remove-vm-image-already-gone',
    description:
      'RemoveVm of web-01 whose first image was already removed: VDSM answers 268, that step ends at once',
    faults: { durations: { 'Image.delete': 100 } },
    async run(ctx) {
      const vm = ctx.vm('web-01');
      await removeImageBehindTheEnginesBack(ctx, vm.disks[0]!);
      const { handle } = await submitRemoveVm(
        ctx.client,
        { vmId: vm.id },
        { taskQueue: ctx.taskQueue, inventory: ctx.inventory },
      );
      return [{ workflowId: handle.workflowId, expect: 'COMPLETED' }];
    },
  },
  {
    name: 'remove-vm-refused',
    description: 'RemoveVm of a VM that is Up: validation refuses it before anything is locked',
    async run(ctx) {
      const upVm = ctx.fixture.vms.find((v) => v.status === 'Up');
      if (!upVm) throw new Error('the data center has no Up VM');
      const { handle } = await submitRemoveVm(ctx.client, { vmId: upVm.id }, { taskQueue: ctx.taskQueue });
      return [{ workflowId: handle.workflowId, expect: 'FAILED' }];
    },
  },
  {
    name: 'remove-disk-success',
    description: 'RemoveDisk of a floating disk',
    faults: { durations: { 'Image.delete': 300 } },
    async run(ctx) {
      const disk = ctx.fixture.disks.find((d) => d.vmId === null);
      if (!disk) throw new Error('the data center has no floating disk');
      const { handle } = await submitRemoveDisk(
        ctx.client,
        { diskId: disk.id },
        { taskQueue: ctx.taskQueue, inventory: ctx.inventory },
      );
      return [{ workflowId: handle.workflowId, expect: 'COMPLETED' }];
    },
  },
  {
    name: 'add-disk-success',
    description: 'AddDisk of a floating disk on the block domain: one Volume.create task',
    faults: { durations: { 'Volume.create': 300 } },
    async run(ctx) {
      return [{ workflowId: await startAddDisk(ctx, 'iscsi', 'scratch-01'), expect: 'COMPLETED' }];
    },
  },
  {
    name: 'add-disk-task-failure',
    description: 'AddDisk whose Volume.create task fails (code 100): the rows go',
    faults: {
      durations: { 'Volume.create': 300 },
      failures: [{ verb: 'Volume.create', phase: 'task', code: 100, count: 1 }],
    },
    async run(ctx) {
      return [{ workflowId: await startAddDisk(ctx, 'nfs', 'doomed-01'), expect: 'FAILED' }];
    },
  },
  {
    name: 'add-disk-cancelled',
    description: 'AddDisk cancelled while Volume.create runs: stopped, rolled back, the rows go',
    faults: { durations: { 'Volume.create': 3_000 }, rollbackMs: 200 },
    async run(ctx) {
      const workflowId = await startAddDisk(ctx, 'nfs', 'cancelled-01');
      await allStepsPolling(ctx, workflowId, 1);
      await ctx.client.workflow.getHandle(workflowId).cancel();
      return [{ workflowId, expect: 'CANCELLED' }];
    },
  },
  {
    name: 'create-snapshot-success',
    description: 'CreateSnapshot of web-01: a new COW leaf on each of its 4 disks, committed',
    faults: { durations: { 'Volume.create': 300 } },
    async run(ctx) {
      return [{ workflowId: await startSnapshot(ctx, 'web-01', 'nightly'), expect: 'COMPLETED' }];
    },
  },
  {
    name: 'create-snapshot-reverted',
    description: 'CreateSnapshot of web-01 where one Volume.create task fails: the 3 others are reverted',
    faults: {
      durations: { 'Volume.create': 300 },
      failures: [{ verb: 'Volume.create', phase: 'task', code: 100, count: 1 }],
    },
    async run(ctx) {
      return [{ workflowId: await startSnapshot(ctx, 'web-01', 'doomed'), expect: 'FAILED' }];
    },
  },
  {
    name: 'create-snapshot-cancelled',
    description: 'CreateSnapshot of web-01 cancelled while its 4 tasks run: stopped, rolled back, cleared',
    faults: { durations: { 'Volume.create': 3_000 }, rollbackMs: 200 },
    async run(ctx) {
      const workflowId = await startSnapshot(ctx, 'web-01', 'cancelled');
      await allStepsPolling(ctx, workflowId, 4);
      await ctx.client.workflow.getHandle(workflowId).cancel();
      return [{ workflowId, expect: 'CANCELLED' }];
    },
  },
  {
    name: 'move-disk-success',
    description:
      'MoveDisk of a floating disk to another NFS domain: Volume.create, SDM.copy_data, Image.delete of the source',
    faults: { durations: { 'Volume.create': 200, 'SDM.copy_data': 300, 'Image.delete': 200 } },
    async run(ctx) {
      return [{ workflowId: await startMoveOrCopy(ctx, 'move'), expect: 'COMPLETED' }];
    },
  },
  {
    name: 'move-disk-copy-failure',
    description: 'MoveDisk whose SDM.copy_data job fails: the destination is removed, the source untouched',
    faults: {
      durations: { 'Volume.create': 200, 'SDM.copy_data': 300, 'Image.delete': 200 },
      failures: [{ verb: 'SDM.copy_data', phase: 'task', code: 100, count: 1 }],
    },
    async run(ctx) {
      return [{ workflowId: await startMoveOrCopy(ctx, 'move'), expect: 'FAILED' }];
    },
  },
  {
    name: 'copy-disk-success',
    description: 'CopyDisk of a floating disk to a new disk on another NFS domain',
    faults: { durations: { 'Volume.create': 200, 'SDM.copy_data': 300 } },
    async run(ctx) {
      return [{ workflowId: await startMoveOrCopy(ctx, 'copy'), expect: 'COMPLETED' }];
    },
  },
  {
    name: 'task-janitor',
    description: "One sweep of the pool's SPM tasks (what the janitor Schedule runs every interval)",
    async run(ctx) {
      const poolId = ctx.fixture.pool.id;
      const workflowId = workflowIds.taskJanitor(poolId);
      await ctx.client.workflow.execute(
        'taskJanitorWorkflow' satisfies (typeof taskJanitorWorkflow)['name'],
        { workflowId, taskQueue: ctx.taskQueue, args: [{ poolId }] },
      );
      return [{ workflowId, expect: 'COMPLETED' }];
    },
  },
];

/** Starts AddDisk with a command id fixed by the scenario (same workflow ids on every recording). */
async function startAddDisk(
  ctx: ScenarioContext,
  storageType: 'nfs' | 'iscsi',
  alias: string,
): Promise<string> {
  const domain = ctx.fixture.domains.find((d) => d.storageType === storageType);
  if (!domain) throw new Error(`the data center has no ${storageType} domain`);
  const commandId = uuidFromName(`${ctx.fixture.pool.id}/AddDisk/${alias}`);
  const workflowId = workflowIds.addDisk(commandId);
  await ctx.client.workflow.start(WorkflowType.addDisk, {
    workflowId,
    taskQueue: ctx.taskQueue,
    args: [{ domainId: domain.id, sizeBytes: 2 * 1024 ** 3, alias, vmId: null, sparse: true, commandId }],
  });
  return workflowId;
}

async function startSnapshot(ctx: ScenarioContext, vmName: string, description: string): Promise<string> {
  const commandId = uuidFromName(`${ctx.fixture.pool.id}/CreateSnapshot/${vmName}/${description}`);
  const workflowId = workflowIds.createSnapshot(commandId);
  await ctx.client.workflow.start(WorkflowType.createSnapshot, {
    workflowId,
    taskQueue: ctx.taskQueue,
    args: [{ vmId: ctx.vm(vmName).id, description, commandId }],
  });
  return workflowId;
}

/** Moves or copies the first floating single-volume disk on an NFS domain to the other NFS domain. */
async function startMoveOrCopy(ctx: ScenarioContext, op: 'move' | 'copy'): Promise<string> {
  const nfs = (id: string) => ctx.fixture.domains.find((d) => d.id === id)?.storageType === 'nfs';
  const disk = ctx.fixture.disks.find(
    (d) => d.vmId === null && !d.shareable && d.volumeIds.length === 1 && nfs(d.domainId),
  );
  const to = ctx.fixture.domains.find((d) => d.storageType === 'nfs' && d.id !== disk?.domainId);
  if (!disk || !to) throw new Error('the data center has no floating NFS disk and second NFS domain');
  if (op === 'move') {
    const workflowId = workflowIds.moveDisk(disk.id);
    await ctx.client.workflow.start(WorkflowType.moveDisk, {
      workflowId,
      taskQueue: ctx.taskQueue,
      args: [{ diskId: disk.id, toDomainId: to.id }],
    });
    return workflowId;
  }
  const commandId = uuidFromName(`${ctx.fixture.pool.id}/CopyDisk/${disk.id}`);
  const workflowId = workflowIds.copyDisk(commandId);
  await ctx.client.workflow.start(WorkflowType.copyDisk, {
    workflowId,
    taskQueue: ctx.taskQueue,
    args: [{ diskId: disk.id, toDomainId: to.id, commandId }],
  });
  return workflowId;
}

/** Waits until the command's `count` steps all poll a running VDSM task. */
async function allStepsPolling(ctx: ScenarioContext, workflowId: string, count: number): Promise<void> {
  await until(`${count} steps of ${workflowId} polling`, async () => {
    if (ctx.sim.listTasks().length !== count) return false;
    const state = await queryCommandState(ctx.client, workflowId);
    return state.tasks.length === count && state.tasks.every((t) => t.state === 'Polling');
  });
}

/** Someone else deleted the image (and cleared the task): the engine's delete then meets 268. */
async function removeImageBehindTheEnginesBack(ctx: ScenarioContext, diskId: string): Promise<void> {
  const disk = ctx.fixture.disks.find((d) => d.id === diskId);
  const spm = ctx.sim.hosts.find((h) => h.hostId === ctx.sim.spmHostId());
  if (!disk || !spm) throw new Error(`no disk ${diskId} or no SPM`);
  const api = ctx.vdsm.host({ hostId: spm.hostId, address: spm.address, port: spm.port });
  const taskId = await api.imageDelete({
    imageID: disk.id,
    storagepoolID: ctx.fixture.pool.id,
    storagedomainID: disk.domainId,
    postZero: false,
    force: false,
    discard: false,
  });
  await until(
    `task ${taskId} finished`,
    async () => (await api.taskGetStatus(taskId)).taskState === 'finished',
  );
  await api.taskClear(taskId);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

/** Children started by a run, read from its history: every workflow of the scenario gets recorded. */
function childWorkflowIds(events: HistoryEvent[]): string[] {
  return events.flatMap((e) => {
    const id = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
    return id ? [id] : [];
  });
}

/** Waits until the run has closed (a cancelled parent closes after its children cleaned up). */
async function closeStatus(handle: WorkflowHandle): Promise<string> {
  let status = '';
  await until(`${handle.workflowId} to close`, async () => {
    status = (await handle.describe()).status.name;
    return status !== 'RUNNING';
  });
  return status;
}

/** File-safe, still readable: `RemoveVm/<vm>/RemoveImage/<disk>` → `RemoveVm_<vm>_RemoveImage_<disk>`. */
function fixtureFileName(workflowId: string): string {
  return `${workflowId.replace(/[^A-Za-z0-9.-]/g, '_')}.json`;
}

async function recordScenario(
  scenario: Scenario,
  deps: {
    client: Client;
    address: string;
    workflowBundle: WorkflowBundleWithSourceMap;
    workDir: string;
    /** Where the histories go (a staging folder, copied to the set's folder once all succeeded). */
    outDir: string;
  },
): Promise<HistoryFixture[]> {
  const fixture = generateDataCenter({ name: `replay-${scenario.name}`, seed: DATA_CENTER_SEED, vmCount: 6 });
  const dataDir = join(deps.workDir, scenario.name);
  const sim = await startSimulator({
    fixture,
    dataDir: join(dataDir, 'vdsm'),
    basePort: 0,
    faults: scenario.faults,
  });
  const inventoryUrl = `sqlite:${join(dataDir, 'inventory.db')}`;
  const inventory = openInventory(inventoryUrl);
  const vdsm = createVdsmConnector({ requestTimeoutMs: Number(CONFIG_OVERRIDES.VDSM_REQUEST_TIMEOUT_MS) });
  const taskQueue = `replay-${scenario.name}`;
  let connection: NativeConnection | undefined;
  try {
    connection = await NativeConnection.connect({ address: deps.address });
    await inventory.init({ fixture, vdsmAddress: '127.0.0.1', vdsmBasePort: 1 });
    for (const host of sim.hosts) await inventory.setHostAddress(host.hostId, host.address, host.port);
    const config = loadConfig(
      {},
      { ...CONFIG_OVERRIDES, OVIRT_TASKS_TASK_QUEUE: taskQueue, OVIRT_TASKS_INVENTORY_URL: inventoryUrl },
    );
    const worker = await createOvirtWorker({
      connection,
      namespace: DEFAULT_NAMESPACE,
      config,
      inventory,
      vdsm,
      client: deps.client,
      taskQueue,
      workflowBundle: deps.workflowBundle,
    });
    const recorded: HistoryFixture[] = [];
    await worker.runUntil(async () => {
      const roots = await scenario.run({
        client: deps.client,
        fixture,
        sim,
        inventory,
        vdsm,
        taskQueue,
        vm(name) {
          const vm = fixture.vms.find((v) => v.name === name);
          if (!vm) throw new Error(`no VM ${name} in the data center`);
          return { id: vm.id, disks: fixture.disks.filter((d) => d.vmId === vm.id).map((d) => d.id) };
        },
      });
      const pending: Array<{ workflowId: string; expect?: CloseStatus }> = [...roots];
      for (let next = pending.shift(); next; next = pending.shift()) {
        const handle = deps.client.workflow.getHandle(next.workflowId);
        const status = await closeStatus(handle);
        if (next.expect && status !== next.expect) {
          throw new Error(`${scenario.name}: ${next.workflowId} closed ${status}, expected ${next.expect}`);
        }
        const history = await handle.fetchHistory();
        const events = history.events ?? [];
        const workflowType =
          events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? 'unknown';
        const file = join(scenario.name, fixtureFileName(next.workflowId));
        mkdirSync(join(deps.outDir, scenario.name), { recursive: true });
        // historyToJSON writes the format `temporal workflow show --output json` does, indented.
        writeFileSync(join(deps.outDir, file), `${historyToJSON(history)}\n`);
        recorded.push({ scenario: scenario.name, workflowId: next.workflowId, workflowType, status, file });
        // Closed by the time their parent is; how each closed is part of the path, not checked.
        pending.push(...childWorkflowIds(events).map((id) => ({ workflowId: id })));
      }
    });
    return recorded;
  } finally {
    await connection?.close();
    await vdsm.close();
    await sim.stop();
    await inventory.close();
  }
}

export async function recordHistories(
  options: { set?: string } = {},
  log: (line: string) => void = console.log,
): Promise<HistoriesIndex> {
  const set = options.set ?? `recorded-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  if (!SET_NAME.test(set)) throw new Error(`invalid set name ${JSON.stringify(set)}: use [A-Za-z0-9._-]`);
  const setDir = join(HISTORIES_DIR, set);
  // Never rewritten: its histories may stand for executions started before a later change.
  if (existsSync(setDir))
    throw new Error(`${relative(projectRoot(), setDir)} exists already: choose another --set`);
  // ERROR: the failure scenarios' workflows failing on purpose would otherwise print as warnings.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const workDir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-record-'));
  // In memory: a fresh server every recording, so the fixed workflow ids never meet an old run.
  const server = await startDevServer({
    binary: resolveTemporalBinary(),
    port: 0,
    headless: true,
    namespace: DEFAULT_NAMESPACE,
    ip: '127.0.0.1',
    logLevel: 'warn',
    logFile: join(workDir, 'temporal.log'),
  });
  const clientConnection = await Connection.connect({ address: server.address });
  try {
    const client = new Client({ connection: clientConnection, namespace: DEFAULT_NAMESPACE });
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('../workflows'),
      logger: new DefaultLogger('WARN'),
    });
    // Staged, so a recording that fails half-way leaves the committed fixtures as they were.
    const outDir = join(workDir, 'histories');
    mkdirSync(outDir);
    const fixtures: HistoryFixture[] = [];
    for (const scenario of SCENARIOS) {
      const started = Date.now();
      const recorded = await recordScenario(scenario, {
        client,
        address: server.address,
        workflowBundle,
        workDir,
        outDir,
      });
      fixtures.push(...recorded);
      log(
        `${scenario.name}: ${recorded.map((f) => `${f.workflowType} ${f.status}`).join(', ')} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
      );
    }
    const missingTypes = Object.values(WorkflowType).filter(
      (t) => !fixtures.some((f) => f.workflowType === t),
    );
    if (missingTypes.length) throw new Error(`no history recorded for ${missingTypes.join(', ')}`);
    const index: HistoriesIndex = {
      note: 'Recorded by `npm run record-histories` (src/dev/record-histories.ts); replayed by test/replay.test.ts.',
      set,
      sdkVersion: sdkVersion(),
      scenarios: SCENARIOS.map(({ name, description }) => ({ name, description })),
      fixtures,
    };
    writeFileSync(join(outDir, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
    // A new folder: the sets recorded before stay as they are.
    cpSync(outDir, setDir, { recursive: true, errorOnExist: true, force: false });
    log(`${fixtures.length} histories in ${relative(projectRoot(), setDir)}`);
    return index;
  } finally {
    await clientConnection.close();
    await server.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

function sdkVersion(): string {
  const pkg = JSON.parse(readFileSync(require.resolve('@temporalio/worker/package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** `--set <name>` (or `--set=<name>`): the folder the new recording goes to. */
function parseArgs(argv: string[]): { set?: string } {
  const out: { set?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--set') out.set = argv[++i];
    else if (arg.startsWith('--set=')) out.set = arg.slice('--set='.length);
    else throw new Error(`unknown argument ${arg} (usage: record-histories [--set <name>])`);
  }
  return out;
}

if (require.main === module) {
  Promise.resolve()
    .then(() => recordHistories(parseArgs(process.argv.slice(2))))
    .then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`record-histories: ${(err as Error).stack ?? String(err)}`);
        process.exit(1);
      },
    );
}
