/**
 * The whole stack dies at once: worker, Temporal dev server (on its SQLite file) and the VDSM
 * simulator (on its state directory) are SIGKILLed together while a RemoveVm's deletes are in
 * flight, then all three start again. The simulator's recovery rolls the unfinished deletes back
 * (cleanSuccess, code 0); each step sees its image still listed, starts Image.delete once more and
 * the command ends as if nothing had happened, with one restart audit per rolled-back task.
 *
 * The deletes are zeroing ones (wipe-after-delete disks on the iSCSI domain: postZero), held in
 * VDSM's `acquiring` state by the `acquireMs` fault, so none has touched its image at the kill:
 * VDSM marks an image for zeroing only when the job starts (a plain purge renames it when
 * scheduled, and then no second delete is possible: see test/unit/task-step-recovery.workflow.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { submitRemoveDisk, submitRemoveVm } from '../src/client';
import { freePort, isPortFree } from '../src/dev/ports';
import { resolveTemporalBinary } from '../src/dev/temporal-binary';
import { generateDataCenter, type DataCenterFixture } from '../src/fixture';
import { openInventory } from '../src/inventory';
import type { InventoryRepository } from '../src/inventory/port';
import type { RemoveVmResult } from '../src/shared/commands';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../src/shared/search-attributes';
import { simulatorHostPorts } from '../src/vdsm-sim/ports';
import { assertCliBuilt, CLI_BIN } from './support/cli';
import {
  eventually,
  expectClean,
  startEngineStack,
  TEST_CONFIG_OVERRIDES,
  type EngineStack,
} from './support/engine-stack';

jest.setTimeout(240_000);

const DISKS = 4;
const children: ChildProcess[] = [];
let dataDir: string | undefined;
let inventory: InventoryRepository | undefined;
const connections: Connection[] = [];

afterEach(async () => {
  outputs.clear();
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const c of connections.splice(0)) await c.close().catch(() => undefined);
  await inventory?.close();
  inventory = undefined;
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

/** A VM whose disks are all wipe-after-delete on the block domain: Image.delete with postZero. */
function crashFixture(): { fixture: DataCenterFixture; vmId: string; diskIds: string[] } {
  const fixture = generateDataCenter({
    vmCount: 3,
    name: `wsc${randomUUID().slice(0, 8)}`,
    extraVms: [{ name: 'crash-01', disks: DISKS }],
  });
  const block = fixture.domains.find((d) => d.storageType === 'iscsi')!;
  const vm = fixture.vms.find((v) => v.name === 'crash-01')!;
  const disks = fixture.disks.filter((d) => d.vmId === vm.id);
  for (const disk of disks) Object.assign(disk, { domainId: block.id, wipeAfterDelete: true });
  return { fixture, vmId: vm.id, diskIds: disks.map((d) => d.id) };
}

/** A base port with the two after it free too (the simulator's three hosts). */
async function freeBasePort(): Promise<number> {
  for (;;) {
    const base = await freePort();
    if (base + 2 <= 65_535 && (await isPortFree(base + 1)) && (await isPortFree(base + 2))) return base;
  }
}

/** Each process's output, by name: quoted when the test fails to see the stack get somewhere. */
const outputs = new Map<string, string[]>();

function started(command: string, args: string[], env: NodeJS.ProcessEnv, name: string): ChildProcess {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  outputs.set(name, lines);
  const keep = (chunk: Buffer): void => {
    lines.push(chunk.toString());
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  children.push(child);
  return child;
}

function sigkill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  return exited;
}

function withOutputs(err: unknown): Error {
  const tails = [...outputs].map(([name, lines]) => `--- ${name}\n${lines.join('').slice(-2000)}`);
  return new Error(`${(err as Error).message}\n${tails.join('\n')}`);
}

/** `eventually`, but a timeout quotes the end of every process's output. */
async function reached<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  return eventually(check, timeoutMs, what).catch((err: unknown) => {
    throw withOutputs(err);
  });
}

/** `promise`, or a failure quoting every process's output after `timeoutMs`. */
async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(withOutputs(new Error(`timed out waiting for ${what}`))), timeoutMs);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

interface SimTask {
  id: string;
  verb: string;
  state: string;
  taskState: string;
}

test('worker, Temporal and SPM SIGKILLed together mid-delete: the rolled-back deletes run again, the VM is removed', async () => {
  assertCliBuilt();
  const { fixture, vmId, diskIds } = crashFixture();
  dataDir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-wsc-'));
  const dir = dataDir;
  const fixtureFile = join(dir, 'fixture.json');
  writeFileSync(fixtureFile, JSON.stringify(fixture));

  const vdsmBase = await freeBasePort();
  const controlPort = await freePort();
  const temporalPort = await freePort();
  const temporalAddress = `127.0.0.1:${temporalPort}`;
  const control = `http://127.0.0.1:${controlPort}`;
  const taskQueue = `wsc-${randomUUID()}`;
  const inventoryUrl = `sqlite:${join(dir, 'inventory.db')}`;
  inventory = openInventory(inventoryUrl);
  await inventory.init({ fixture, vdsmAddress: '127.0.0.1', vdsmBasePort: vdsmBase });
  for (const [hostId, port] of simulatorHostPorts(fixture, vdsmBase))
    await inventory.setHostAddress(hostId, '127.0.0.1', port);

  let generation = 0;
  const startTemporal = (): ChildProcess =>
    started(
      resolveTemporalBinary(),
      [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(temporalPort),
        '--headless',
        '--log-level',
        'error',
        '--db-filename',
        join(dir, 'temporal.db'),
        // Registered when the db is created; the db keeps them across the restart.
        ...(generation === 0
          ? SEARCH_ATTRIBUTE_REGISTRATIONS.flatMap(({ name, type }) => [
              '--search-attribute',
              `${name}=${type}`,
            ])
          : []),
      ],
      { PATH: process.env.PATH },
      `temporal-${generation}`,
    );
  const startSim = (faults: object): ChildProcess =>
    started(
      process.execPath,
      [
        CLI_BIN,
        'vdsm-sim',
        '--port',
        String(vdsmBase),
        '--data',
        join(dir, 'vdsm'),
        '--fixture',
        fixtureFile,
        '--control-port',
        String(controlPort),
        '--faults',
        JSON.stringify(faults),
      ],
      { PATH: process.env.PATH },
      `vdsm-${generation}`,
    );
  const startWorker = (): ChildProcess =>
    started(
      process.execPath,
      [CLI_BIN, 'worker'],
      {
        PATH: process.env.PATH,
        TEMPORAL_ADDRESS: temporalAddress,
        TEMPORAL_NAMESPACE: 'default',
        OVIRT_TASKS_TASK_QUEUE: taskQueue,
        OVIRT_TASKS_INVENTORY_URL: inventoryUrl,
        LOG_LEVEL: 'WARN',
        ...TEST_CONFIG_OVERRIDES,
      },
      `worker-${generation}`,
    );
  const connectClient = async (): Promise<Client> => {
    const connection = await eventually(
      () => Connection.connect({ address: temporalAddress }).catch(() => undefined),
      60_000,
      'Temporal to answer',
    );
    connections.push(connection);
    return new Client({ connection, namespace: 'default' });
  };

  // First life: every delete waits in `acquiring` (as for its locks) far longer than the test.
  let temporal = startTemporal();
  let sim = startSim({ acquireMs: { 'Image.delete': 600_000 } });
  await eventually(() => getJson(`${control}/health`).catch(() => undefined), 30_000, 'the simulator');
  let worker = startWorker();
  const client = await connectClient();
  const { handle } = await submitRemoveVm(client, { vmId }, { taskQueue });
  await reached(
    async () => {
      const tasks = (await getJson<SimTask[]>(`${control}/tasks`)).filter((t) => t.verb === 'deleteImage');
      const claims = await inventory!.listTaskClaims();
      return tasks.length === DISKS && tasks.every((t) => t.state === 'acquiring') && claims.length === DISKS
        ? true
        : undefined;
    },
    90_000,
    `${DISKS} deletes accepted, claimed and waiting`,
  );
  const lostTaskIds = (await inventory.listTaskClaims()).map((c) => c.vdsmTaskId).sort();
  for (const diskId of diskIds) expect(await inventory.getDisk(diskId)).toMatchObject({ status: 'LOCKED' });

  // Everything dies at once.
  await Promise.all([sigkill(worker), sigkill(temporal), sigkill(sim)]);
  generation++;

  // Second life: the same Temporal db, the same VDSM state directory, no more waiting for locks.
  temporal = startTemporal();
  sim = startSim({ rollbackMs: 100, durations: { 'Image.delete': 300 } });
  await eventually(() => getJson(`${control}/health`).catch(() => undefined), 30_000, 'the simulator again');
  // VDSM's recovery: the reloaded tasks are rolled back, the images untouched.
  const recovered = await eventually(async () => {
    const tasks = await getJson<Array<SimTask & { taskResult: string; code: number }>>(`${control}/tasks`);
    return tasks.length === DISKS && tasks.every((t) => t.taskResult === 'cleanSuccess') ? tasks : undefined;
  }, 30_000);
  expect(recovered.map((t) => t.id).sort()).toEqual(lostTaskIds);
  expect(recovered.every((t) => t.code === 0)).toBe(true);
  worker = startWorker();
  const again = await connectClient();
  const result = (await within(
    again.workflow.getHandle(handle.workflowId).result(),
    120_000,
    'the RemoveVm to end',
  )) as RemoveVmResult;

  expect([...result.removedDiskIds].sort()).toEqual([...diskIds].sort());
  for (const diskId of diskIds) expect(await inventory.getDisk(diskId)).toBeUndefined();
  // Storage agrees: every image is gone, none left behind renamed.
  const storage = await getJson<Record<string, { images: Record<string, string[]>; removed: string[] }>>(
    `${control}/storage`,
  );
  const block = fixture.domains.find((d) => d.storageType === 'iscsi')!.id;
  for (const diskId of diskIds) {
    expect(storage[block]!.images[diskId]).toBeUndefined();
    expect(storage[block]!.removed).not.toContain(diskId);
  }
  // One restart per rolled-back task, audited once each, naming the lost task.
  const restarts = await inventory.listAudit({ type: 'DELETE_IMAGE_GROUP_TASK_RESTARTED_AFTER_RECOVERY' });
  expect(restarts).toHaveLength(DISKS);
  expect(restarts.map((a) => lostTaskIds.find((id) => a.message.includes(id))).sort()).toEqual(lostTaskIds);
  expect(await inventory.listAudit({ type: 'DELETE_IMAGE_GROUP_TASK_FAILED' })).toEqual([]);
  const counters = await getJson<{ pools: Record<string, { verbs: Record<string, number> }> }>(
    `${control}/counters`,
  );
  expect(counters.pools[fixture.pool.id]!.verbs['Image.delete']).toBe(DISKS);
  // Nothing left: no VDSM task, no claim, no lock, nothing LOCKED.
  expect(await getJson<SimTask[]>(`${control}/tasks`)).toEqual([]);
  expect(await inventory.listTaskClaims()).toEqual([]);
  expect(await inventory.listLocks()).toEqual([]);
  expect(await inventory.getVm(vmId)).toBeUndefined();
});

describe('VDSM alone restarts (the record-histories scenario remove-disk-restarted-after-recovery)', () => {
  let stack: EngineStack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  test('a zeroing delete waiting for its locks is rolled back by recovery and started again; the disk is removed', async () => {
    stack = await startEngineStack({
      faults: { acquireMs: { 'Image.delete': 60_000 }, durations: { 'Image.delete': 300 }, rollbackMs: 100 },
    });
    const s = stack;
    const block = s.fixture.domains.find((d) => d.storageType === 'iscsi')!;
    const disk = s.fixture.disks.find(
      (d) => d.vmId === null && d.wipeAfterDelete && d.domainId === block.id,
    )!;
    const { handle } = await submitRemoveDisk(s.client, { diskId: disk.id }, { taskQueue: s.taskQueue });
    const [lost] = await eventually(
      () => {
        const tasks = s.sim.listTasks();
        return tasks.length === 1 && tasks[0]!.state === 'acquiring' ? tasks : undefined;
      },
      30_000,
      'the delete waiting for its locks',
    );
    await eventually(async () => ((await s.inventory.listTaskClaims()).length === 1 ? true : undefined));
    s.sim.setFaults({ acquireMs: null });
    await s.sim.restart();

    await handle.result();
    expect(await s.inventory.getDisk(disk.id)).toBeUndefined();
    const restarts = await s.inventory.listAudit({
      type: 'DELETE_IMAGE_GROUP_TASK_RESTARTED_AFTER_RECOVERY',
    });
    expect(restarts).toHaveLength(1);
    expect(restarts[0]!.message).toContain(lost!.id);
    // The lost one and the one restart (the in-process simulator counts across its restart).
    expect(s.sim.counters().pools[s.fixture.pool.id]?.verbs['Image.delete']).toBe(2);
    await expectClean(s, [disk.id]);
  });
});
