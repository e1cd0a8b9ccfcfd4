/**
 * Cold CreateSnapshot end to end, all or nothing: real dev server, the simulator over STOMP, the
 * SQLite inventory, an in-process worker. A failed or cancelled snapshot reverts every volume that
 * was made (Task.revert) before clearing, and storage ends with the chains it had.
 */
import { type ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { queryCommandState } from '../src/client';
import type { CreateSnapshotResult } from '../src/shared/commands';
import { ErrorType } from '../src/shared/errors';
import { eventually, startEngineStack, type EngineStack } from './support/engine-stack';
import {
  chains,
  expectStorageMatchesInventory,
  lockedByFixture,
  startCreateSnapshot,
} from './support/storage';
import { failureOf } from './support/workflow-failure';

jest.setTimeout(120_000);

let stack: EngineStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

type Chains = Map<string, Awaited<ReturnType<typeof chains>>>;
async function chainsOf(s: EngineStack, diskIds: string[]): Promise<Chains> {
  const out: Chains = new Map();
  for (const id of diskIds) {
    const disk = s.fixture.disks.find((d) => d.id === id)!;
    out.set(id, await chains(s, disk.domainId, id));
  }
  return out;
}

/** Nothing locked or LOCKED, no SPM task or claim, no snapshot left LOCKED, storage = inventory. */
async function expectClean(s: EngineStack): Promise<void> {
  expect(await s.inventory.listLocks()).toEqual([]);
  expect(s.sim.listTasks()).toEqual([]);
  expect(await s.inventory.listTaskClaims()).toEqual([]);
  expect(
    (await s.inventory.listDisks()).filter((d) => d.status !== 'OK' && !lockedByFixture(s, d.id)),
  ).toEqual([]);
  expect((await s.inventory.listSnapshots()).filter((sn) => sn.status === 'LOCKED')).toEqual([]);
  await expectStorageMatchesInventory(s);
}

test('a VM with 4 disks: one new COW leaf per disk, the old leaves join the snapshot, all OK', async () => {
  stack = await startEngineStack({ faults: { durations: { 'Volume.create': 300 } } });
  const s = stack;
  const vm = s.vmByName('web-01');
  expect(vm.disks).toHaveLength(4);
  const before = await chainsOf(s, vm.disks);

  const handle = await startCreateSnapshot(s, { vmId: vm.id, description: 'before upgrade' });
  const result = (await handle.result()) as CreateSnapshotResult;

  expect(result.volumes).toHaveLength(4);
  const snapshot = await s.inventory.getSnapshot(result.snapshotId);
  expect(snapshot).toMatchObject({ vmId: vm.id, description: 'before upgrade', status: 'OK' });
  const after = await chainsOf(s, vm.disks);
  for (const { diskId, volumeId } of result.volumes) {
    const old = before.get(diskId)!.inventory;
    const oldLeaf = old[old.length - 1]![0];
    // The chain grew by the new leaf, whose parent is the old leaf, now internal.
    expect(after.get(diskId)!.storage).toEqual([
      ...old.map(([id, p]) => [id, p, false]),
      [volumeId, oldLeaf, true],
    ]);
    expect(after.get(diskId)!.inventory).toEqual(after.get(diskId)!.storage);
    expect((await s.inventory.getVolume(oldLeaf))?.snapshotId).toBe(result.snapshotId);
  }
  const counters = s.sim.counters().pools[s.fixture.pool.id]!.verbs;
  expect(counters['Volume.create']).toBe(4);
  expect(counters['Task.revert'] ?? 0).toBe(0);
  const state = await queryCommandState(s.client, handle.workflowId);
  expect(state).toMatchObject({ commandType: 'CreateSnapshot', commandStatus: 'ENDED_SUCCESSFULLY' });
  expect(state.tasks.map((t) => [t.commandType, t.state, t.result])).toEqual(
    Array(4).fill(['CreateSnapshotDisk', 'Cleared', 'success']),
  );
  expect(await s.inventory.listAudit({ type: 'USER_CREATE_SNAPSHOT_FINISHED_SUCCESS' })).toHaveLength(1);
  await expectClean(s);
});

test('one disk fails: the three others are reverted with Task.revert, every chain is back, the snapshot is gone', async () => {
  stack = await startEngineStack({
    faults: {
      durations: { 'Volume.create': 300 },
      failures: [{ verb: 'Volume.create', phase: 'task', code: 100, count: 1 }],
    },
  });
  const s = stack;
  const vm = s.vmByName('web-01');
  const before = await chainsOf(s, vm.disks);

  const handle = await startCreateSnapshot(s, { vmId: vm.id, description: 'doomed' });
  const failure = await failureOf(handle.result());
  expect((failure.cause as ApplicationFailure).type).toBe(ErrorType.TaskFailed);

  expect(await chainsOf(s, vm.disks)).toEqual(before);
  expect(await s.inventory.listSnapshots({ vmId: vm.id })).toEqual([]);
  const counters = s.sim.counters().pools[s.fixture.pool.id]!.verbs;
  expect(counters['Volume.create']).toBe(4);
  expect(counters['Task.revert']).toBe(3);
  expect(counters['Task.clear']).toBe(4);
  const state = await queryCommandState(s.client, handle.workflowId);
  expect(state.commandStatus).toBe('ENDED_WITH_FAILURE');
  expect(state.tasks.filter((t) => t.result === 'cleanSuccess')).toHaveLength(4);
  expect(await s.inventory.listAudit({ type: 'USER_CREATE_SNAPSHOT_FINISHED_FAILURE' })).toHaveLength(1);
  await expectClean(s);
});

test('cancelled mid-way: running tasks are stopped, finished ones reverted, nothing is left', async () => {
  // VDSM lets a snapshot's volume creation run to its end after Task.stop, then rolls it back.
  stack = await startEngineStack({ faults: { durations: { 'Volume.create': 5_000 }, rollbackMs: 200 } });
  const s = stack;
  const vm = s.vmByName('web-01');
  const before = await chainsOf(s, vm.disks);
  const handle = await startCreateSnapshot(s, { vmId: vm.id, description: 'cancel me' });
  await eventually(async () =>
    (await queryCommandState(s.client, handle.workflowId)).tasks.every((t) => t.state === 'Polling') &&
    s.sim.listTasks().length === 4
      ? true
      : undefined,
  );
  await handle.cancel();
  const failure = await failureOf(handle.result());
  expect(failure.cause).toBeInstanceOf(CancelledFailure);
  expect(await chainsOf(s, vm.disks)).toEqual(before);
  expect(await s.inventory.listSnapshots({ vmId: vm.id })).toEqual([]);
  await expectClean(s);
});

test('SPM failover mid-way: the lost tasks roll back on the new SPM, the group is reverted, chains are back', async () => {
  stack = await startEngineStack({ faults: { durations: { 'Volume.create': 60_000 }, rollbackMs: 200 } });
  const s = stack;
  const vm = s.vmByName('web-01');
  const before = await chainsOf(s, vm.disks);
  const handle = await startCreateSnapshot(s, { vmId: vm.id, description: 'failover' });
  await eventually(() => (s.sim.listTasks().length === 4 ? true : undefined), 30_000, '4 tasks started');
  await s.sim.failover();
  const failure = await failureOf(handle.result());
  expect((failure.cause as ApplicationFailure).type).toBe(ErrorType.TaskFailed);
  expect(await chainsOf(s, vm.disks)).toEqual(before);
  await expectClean(s);
});

test("refused before anything starts: a VM that is Up, a disk that is not the VM's", async () => {
  stack = await startEngineStack();
  const s = stack;
  const up = s.fixture.vms.find((v) => v.status === 'Up')!;
  const down = s.vmByName('web-01');
  const foreignDisk = s.fixture.disks.find((d) => d.vmId !== down.id)!;
  const upFailure = await failureOf(
    (await startCreateSnapshot(s, { vmId: up.id, description: 'x' })).result(),
  );
  expect((upFailure.cause as ApplicationFailure).type).toBe(ErrorType.VmStatusNotAllowed);
  const diskFailure = await failureOf(
    (await startCreateSnapshot(s, { vmId: down.id, description: 'x', diskIds: [foreignDisk.id] })).result(),
  );
  expect((diskFailure.cause as ApplicationFailure).type).toBe(ErrorType.NoSnapshotableDisks);
  expect(s.sim.counters().pools[s.fixture.pool.id]?.verbs['Volume.create'] ?? 0).toBe(0);
  expect(await s.inventory.listSnapshots()).toEqual([]);
  await expectClean(s);
});
