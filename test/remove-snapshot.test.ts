/**
 * Cold RemoveSnapshot end to end: real dev server, the simulator over STOMP, the SQLite inventory,
 * an in-process worker. Per disk: PrepareMerge (SPM task) → SDM.merge (host job) → FinalizeMerge
 * (SPM task) → Image.deleteVolumes (SPM task). Forward only: a failure stops its disk, the others
 * merge, nothing is undone; storage and the inventory agree at the end.
 */
import type { ApplicationFailure } from '@temporalio/common';
import { queryCommandState } from '../src/client';
import type {
  CreateSnapshotResult,
  RemoveSnapshotFailureDetails,
  RemoveSnapshotResult,
} from '../src/shared/commands';
import { ErrorType } from '../src/shared/errors';
import { workflowIds } from '../src/shared/names';
import { ExitCode } from '../src/cli/exit-codes';
import { poolVerbs, stackPerTest, type EngineStack } from './support/engine-stack';
import { runStackCli } from './support/stack-cli';
import { chains, expectNothingLeft, startCreateSnapshot, startRemoveSnapshot } from './support/storage';
import { failureOf } from './support/workflow-failure';

jest.setTimeout(180_000);

const stacks = stackPerTest();

const DURATIONS = {
  'Volume.create': 100,
  'StoragePool.prepareMerge': 100,
  'SDM.merge': 300,
  'StoragePool.finalizeMerge': 100,
  'Image.deleteVolumes': 100,
};

type Chain = Awaited<ReturnType<typeof chains>>['storage'];
async function chainOf(s: EngineStack, diskId: string): Promise<Awaited<ReturnType<typeof chains>>> {
  const disk = (await s.inventory.getDisk(diskId))!;
  return chains(s, disk.domainId, diskId);
}

/** web-01 (Down) with a snapshot of 3 of its disks; the chains before the snapshot. */
async function snapshotted(s: EngineStack, description = 'before upgrade') {
  const vm = s.vmByName('web-01');
  const diskIds = vm.disks.slice(0, 3);
  const before = new Map<string, Chain>();
  for (const id of diskIds) before.set(id, (await chainOf(s, id)).inventory);
  const created = (await (
    await startCreateSnapshot(s, { vmId: vm.id, description, diskIds })
  ).result()) as CreateSnapshotResult;
  return { vm, diskIds, before, snapshotId: created.snapshotId, created };
}

/** Nothing left (expectNothingLeft) and no snapshot LOCKED. */
async function expectClean(s: EngineStack): Promise<void> {
  await expectNothingLeft(s);
  expect((await s.inventory.listSnapshots()).filter((sn) => sn.status === 'LOCKED')).toEqual([]);
}

test('a snapshot of 3 disks: each chain loses the merged volume on storage and in the inventory, the snapshot row goes', async () => {
  const s = await stacks.start({ faults: { durations: DURATIONS } });
  const { vm, diskIds, before, snapshotId, created } = await snapshotted(s);
  for (const id of diskIds) expect((await chainOf(s, id)).storage).toHaveLength(before.get(id)!.length + 1);

  const handle = await startRemoveSnapshot(s, vm.id, snapshotId);
  const result = (await handle.result()) as RemoveSnapshotResult;

  expect([...result.mergedDiskIds].sort()).toEqual([...diskIds].sort());
  for (const id of diskIds) {
    const after = await chainOf(s, id);
    // The snapshot's volume is the leaf again; the volume made by the snapshot is gone.
    expect(after.storage).toEqual(before.get(id));
    expect(after.inventory).toEqual(after.storage);
    const top = created.volumes.find((v) => v.diskId === id)!.volumeId;
    expect(s.sim.volumeInfo(s.fixture.disks.find((d) => d.id === id)!.domainId, id, top)).toBeUndefined();
    expect(await s.inventory.getDisk(id)).toMatchObject({ status: 'OK' });
  }
  expect(await s.inventory.getSnapshot(snapshotId)).toBeUndefined();
  expect(poolVerbs(s)).toMatchObject({
    'StoragePool.prepareMerge': 3,
    'SDM.merge': 3,
    'StoragePool.finalizeMerge': 3,
    'Image.deleteVolumes': 3,
  });
  const state = await queryCommandState(s.client, handle.workflowId);
  expect(state).toMatchObject({ commandType: 'RemoveSnapshot', commandStatus: 'ENDED_SUCCESSFULLY' });
  expect(state.tasks).toHaveLength(12);
  expect(state.tasks.every((t) => t.state === 'Cleared' && t.result === 'success')).toBe(true);
  expect(
    (await s.inventory.listAudit({ correlationId: handle.workflowId })).map((a) => a.type).sort(),
  ).toEqual(['USER_REMOVE_SNAPSHOT', 'USER_REMOVE_SNAPSHOT_FINISHED_SUCCESS']);
  await expectClean(s);
});

test('the older of two snapshots: its child, an internal volume, is merged away and the leaf rebased', async () => {
  const s = await stacks.start({ faults: { durations: DURATIONS } });
  const first = await snapshotted(s, 'first');
  const second = (await (
    await startCreateSnapshot(s, { vmId: first.vm.id, description: 'second', diskIds: first.diskIds })
  ).result()) as CreateSnapshotResult;

  await (await startRemoveSnapshot(s, first.vm.id, first.snapshotId)).result();

  for (const id of first.diskIds) {
    const after = await chainOf(s, id);
    const old = first.before.get(id)!;
    const oldLeaf = old[old.length - 1]![0];
    const leaf = second.volumes.find((v) => v.diskId === id)!.volumeId;
    expect(after.storage).toEqual([...old.map(([v, p]) => [v, p, false]), [leaf, oldLeaf, true]]);
    expect(after.inventory).toEqual(after.storage);
    // The merged base now holds what the second snapshot saw.
    expect((await s.inventory.getVolume(oldLeaf))?.snapshotId).toBe(second.snapshotId);
  }
  expect(await s.inventory.getSnapshot(first.snapshotId)).toBeUndefined();
  expect(await s.inventory.getSnapshot(second.snapshotId)).toMatchObject({ status: 'OK' });
  await expectClean(s);
});

describe.each([
  ['PrepareMerge', 'StoragePool.prepareMerge'],
  ['ColdMerge', 'SDM.merge'],
  ['FinalizeMerge', 'StoragePool.finalizeMerge'],
] as const)('%s fails on one disk', (stage, verb) => {
  test('that disk keeps its chain and is OK, the two others merge, the snapshot stays with that disk', async () => {
    const s = await stacks.start({
      faults: { durations: DURATIONS, failures: [{ verb, phase: 'task', code: 100, count: 1 }] },
    });
    const { vm, diskIds, before, snapshotId } = await snapshotted(s);

    const handle = await startRemoveSnapshot(s, vm.id, snapshotId);
    const failure = (await failureOf(handle.result())).cause as ApplicationFailure;
    const details = failure.details?.[0] as RemoveSnapshotFailureDetails;

    expect(failure.type).toBe(ErrorType.TaskFailed);
    const failed = Object.keys(details.failedStages);
    expect(failed).toHaveLength(1);
    expect(details.failedStages[failed[0]!]).toBe(stage);
    expect(details.illegalDiskIds).toEqual([]);
    expect([...details.mergedDiskIds].sort()).toEqual(diskIds.filter((d) => d !== failed[0]).sort());
    for (const id of diskIds) {
      const after = await chainOf(s, id);
      expect(after.storage.length).toBe(before.get(id)!.length + (id === failed[0] ? 1 : 0));
      expect(await s.inventory.getDisk(id)).toMatchObject({ status: 'OK' });
    }
    // The partial snapshot: only the disk that did not merge still has a volume in it.
    expect(await s.inventory.getSnapshot(snapshotId)).toMatchObject({ status: 'OK' });
    expect((await s.inventory.listVolumes({ snapshotId })).map((v) => v.diskId)).toEqual(failed);
    const audits = (await s.inventory.listAudit({ correlationId: handle.workflowId })).map((a) => a.type);
    expect(audits).toEqual(
      expect.arrayContaining([
        'USER_REMOVE_SNAPSHOT_FINISHED_FAILURE_PARTIAL_SNAPSHOT',
        'USER_REMOVE_SNAPSHOT_FINISHED_FAILURE',
      ]),
    );
    expect((await queryCommandState(s.client, handle.workflowId)).commandStatus).toBe('ENDED_WITH_FAILURE');
    await expectClean(s);
  });
});

test('Image.deleteVolumes fails on one disk: its chain is merged, the top stays ILLEGAL outside it, the disk ILLEGAL', async () => {
  const s = await stacks.start({
    faults: {
      durations: DURATIONS,
      failures: [{ verb: 'Image.deleteVolumes', phase: 'task', code: 100, count: 1 }],
    },
  });
  const { vm, diskIds, before, snapshotId, created } = await snapshotted(s);

  const handle = await startRemoveSnapshot(s, vm.id, snapshotId);
  const failure = (await failureOf(handle.result())).cause as ApplicationFailure;
  const details = failure.details?.[0] as RemoveSnapshotFailureDetails;

  expect(failure.type).toBe(ErrorType.TaskFailed);
  const [failed] = Object.keys(details.failedStages);
  expect(details.failedStages).toEqual({ [failed!]: 'DestroyImage' });
  expect(details.illegalDiskIds).toEqual([failed]);
  expect([...details.mergedDiskIds].sort()).toEqual([...diskIds].sort());
  const top = created.volumes.find((v) => v.diskId === failed)!.volumeId;
  const domainId = s.fixture.disks.find((d) => d.id === failed)!.domainId;
  expect(s.sim.volumeInfo(domainId, failed!, top)).toMatchObject({ legality: 'ILLEGAL' });
  expect(await s.inventory.getVolume(top)).toMatchObject({
    legality: 'ILLEGAL',
    active: false,
    snapshotId: null,
  });
  expect(await s.inventory.getDisk(failed!)).toMatchObject({ status: 'ILLEGAL' });
  // Apart from the leftover, the inventory's chain is storage's: the base is the leaf again.
  const after = await chainOf(s, failed!);
  const old = before.get(failed!)!;
  expect(after.inventory.filter(([id]) => id !== top)).toEqual(old);
  expect(after.storage.map(([id, parent]) => [id, parent])).toEqual(
    after.inventory.map(([id, parent]) => [id, parent]),
  );
  // Every disk left the snapshot: the row goes, and the audit names the leftover volume.
  expect(await s.inventory.getSnapshot(snapshotId)).toBeUndefined();
  const [audit] = await s.inventory.listAudit({
    correlationId: handle.workflowId,
    type: 'USER_REMOVE_SNAPSHOT_FINISHED_FAILURE',
  });
  expect(audit?.message).toContain(top);
  await expectClean(s);
});

test('refused before anything starts: a VM that is Up, a snapshot the VM does not have', async () => {
  const s = await stacks.start({ faults: { durations: DURATIONS } });
  const { vm, snapshotId } = await snapshotted(s);
  const unknown = await failureOf(
    (await startRemoveSnapshot(s, vm.id, '99999999-9999-4999-8999-999999999999')).result(),
  );
  expect((unknown.cause as ApplicationFailure).type).toBe(ErrorType.SnapshotNotFound);
  await s.inventory.setVmStatus(vm.id, 'Up');
  const up = await failureOf((await startRemoveSnapshot(s, vm.id, snapshotId)).result());
  expect((up.cause as ApplicationFailure).type).toBe(ErrorType.VmStatusNotAllowed);
  expect(poolVerbs(s)['StoragePool.prepareMerge'] ?? 0).toBe(0);
  expect(await s.inventory.getSnapshot(snapshotId)).toMatchObject({ status: 'OK' });
  expect(await s.inventory.listLocks()).toEqual([]);
});

test('ovirt-tasks submit remove-snapshot --wait removes it; an unknown snapshot is refused before anything starts', async () => {
  const s = await stacks.start({ faults: { durations: DURATIONS } });
  const { snapshotId } = await snapshotted(s);
  const refused = await runStackCli(s, [
    'submit',
    'remove-snapshot',
    '--vm',
    'web-01',
    '--snapshot',
    '99999999-9999-4999-8999-999999999999',
  ]);
  expect(refused.status).toBe(ExitCode.Usage);
  expect(refused.stderr).toMatch(/refused \(SnapshotNotFound\): VM web-01 has no snapshot/);
  expect(poolVerbs(s)['StoragePool.prepareMerge'] ?? 0).toBe(0);

  const removed = await runStackCli(s, [
    'submit',
    'remove-snapshot',
    '--vm',
    'web-01',
    '--snapshot',
    snapshotId,
    '--wait',
  ]);
  expect({ status: removed.status, stderr: removed.stderr }).toMatchObject({ status: ExitCode.Ok });
  expect(removed.stdout).toContain(workflowIds.removeSnapshot(snapshotId));
  expect(await s.inventory.getSnapshot(snapshotId)).toBeUndefined();
  await expectClean(s);
});
