/**
 * No lock left behind: commands terminated mid-run (client terminate(), so their own clean-up never
 * runs) leave locks and LOCKED statuses; the janitor's sweep releases them once nothing of the
 * command runs, restores what storage proves, audits it, and never touches a running command.
 * Real parts: the suite's dev server, the simulator, a SQLite inventory, an in-process worker.
 */
import { OrphanAuditType } from '../src/activities/orphan-release';
import { submitRemoveDisk } from '../src/client';
import { workflowIds, WorkflowType } from '../src/shared/names';
import { eventually, stackPerTest, type EngineStack } from './support/engine-stack';
import { auditTypes, sweep, sweepUntilReleased } from './support/janitor';
import {
  expectStorageMatchesInventory,
  lockedByFixture,
  startAddDisk,
  startCreateSnapshot,
} from './support/storage';

jest.setTimeout(120_000);

const stacks = stackPerTest();

/** A removable disk of a Down VM other than `vmId`: a command to keep running meanwhile. */
async function otherDisk(s: EngineStack, vmId: string): Promise<string> {
  for (const disk of await s.inventory.listDisks({ status: 'OK' })) {
    if (!disk.vmId || disk.vmId === vmId) continue;
    const vm = await s.inventory.getVm(disk.vmId);
    if (vm?.status === 'Down' && !vm.deleteProtected) return disk.id;
  }
  throw new Error('no removable disk in the fixture');
}

test('CreateSnapshot terminated while its tasks run: steps revert, the sweep puts the disks back OK, removes the snapshot row, releases the locks, audits; a running RemoveDisk keeps its locks', async () => {
  const s = await stacks.start({
    faults: { durations: { 'Volume.create': 2_000, 'Image.delete': 60_000 } },
  });
  const vm = s.vmByName('web-01');

  // A command that runs through the whole test: the janitor must leave it alone.
  const runningDisk = await otherDisk(s, vm.id);
  const { handle: running } = await submitRemoveDisk(
    s.client,
    { diskId: runningDisk },
    { taskQueue: s.taskQueue, inventory: s.inventory },
  );
  await eventually(async () =>
    (await s.inventory.getDisk(runningDisk))?.status === 'LOCKED' ? true : undefined,
  );

  const handle = await startCreateSnapshot(s, { vmId: vm.id, description: 'terminated' });
  const owner = handle.workflowId;
  await eventually(
    () => (s.sim.listTasks().length >= 1 + vm.disks.length ? true : undefined),
    20_000,
    'every Volume.create task started',
  );
  const [snapshot] = (await s.inventory.listSnapshots({ vmId: vm.id })).filter(
    (sn) => sn.status === 'LOCKED',
  );
  expect(snapshot).toBeDefined();
  await handle.terminate('test: no clean-up of its own');
  // Its own finish never ran: locked and LOCKED.
  expect((await s.inventory.listLocks({ owner })).length).toBe(1 + vm.disks.length);

  const released = await sweepUntilReleased(s, owner);

  expect(released.locks).toBe(1 + vm.disks.length);
  expect(released.unproven).toEqual([]);
  expect(await s.inventory.listLocks({ owner })).toEqual([]);
  for (const id of vm.disks) expect((await s.inventory.getDisk(id))?.status).toBe('OK');
  expect(await s.inventory.getSnapshot(snapshot!.id)).toBeUndefined();
  expect((await s.inventory.getVm(vm.id))?.status).toBe('Down');
  const types = await auditTypes(s, owner);
  expect(types.filter((t) => t === OrphanAuditType.statusRestored)).toHaveLength(vm.disks.length);
  expect(types).toContain(OrphanAuditType.removed);
  expect(types).toContain(OrphanAuditType.locksReleased);
  // Every chain is as before the snapshot (the steps reverted their volumes).
  for (const id of vm.disks) {
    const disk = s.fixture.disks.find((d) => d.id === id)!;
    expect(s.sim.imageChain(disk.domainId, id)?.map((v) => v.id)).toEqual(disk.volumeIds);
  }

  // The running command: its locks and its LOCKED disk are untouched.
  expect(await running.describe()).toMatchObject({ status: { name: 'RUNNING' } });
  expect((await s.inventory.listLocks({ owner: running.workflowId })).length).toBeGreaterThan(0);
  expect((await s.inventory.getDisk(runningDisk))?.status).toBe('LOCKED');
  expect(await auditTypes(s, running.workflowId)).not.toContain(OrphanAuditType.locksReleased);
  await running.terminate('test over');
});

test('RemoveVm terminated after its first image (one at a time): that step finishes its image, the sweep puts the untouched disks back OK', async () => {
  const s = await stacks.start({
    faults: { durations: { 'Image.delete': 1_500 } },
    config: { MAX_CONCURRENT_IMAGES: '1' },
  });
  const vm = s.vmByName('web-01');
  const owner = workflowIds.removeVm(vm.id);
  const handle = await s.client.workflow.start(WorkflowType.removeVm, {
    taskQueue: s.taskQueue,
    workflowId: owner,
    args: [{ vmId: vm.id, force: false }],
  });
  await eventually(() => (s.sim.listTasks().length === 1 ? true : undefined), 20_000, 'the first task');
  await handle.terminate('test: no clean-up of its own');

  const released = await sweepUntilReleased(s, owner);

  expect(released.locks).toBe(1 + vm.disks.length);
  expect(await s.inventory.listLocks()).toEqual([]);
  // The VM record went before the first image; its first image's step ended it (gone: removed).
  expect(await s.inventory.getVm(vm.id)).toBeUndefined();
  const left = (await Promise.all(vm.disks.map((id) => s.inventory.getDisk(id)))).filter(
    (d) => d !== undefined,
  );
  expect(left.length).toBeGreaterThanOrEqual(vm.disks.length - 1);
  for (const disk of left) expect(disk.status).toBe('OK');
  expect(released.changes).toHaveLength(left.length);
  expect((await auditTypes(s, owner)).filter((t) => t === OrphanAuditType.statusRestored)).toHaveLength(
    left.length,
  );
  await expectStorageMatchesInventory(s);
});

test('a RemoveVm that is gone from Temporal (not found) left the VM ImageLocked and its disks LOCKED: Down and OK again', async () => {
  const s = await stacks.start();
  const vm = s.vmByName('db-01');
  const owner = workflowIds.removeVm(vm.id);
  await s.inventory.acquireLocks(owner, 'RemoveVm db-01', [
    { type: 'VM', id: vm.id },
    ...vm.disks.map((id) => ({ type: 'DISK' as const, id })),
  ]);
  await s.inventory.setVmStatus(vm.id, 'ImageLocked');
  await s.inventory.setDiskStatus(vm.disks, 'LOCKED');

  const released = await sweepUntilReleased(s, owner);

  expect(released.changes).toHaveLength(vm.disks.length + 1);
  expect((await s.inventory.getVm(vm.id))?.status).toBe('Down');
  for (const id of vm.disks) expect((await s.inventory.getDisk(id))?.status).toBe('OK');
  expect(await s.inventory.listLocks()).toEqual([]);
  // A second sweep has nothing left to do.
  expect((await sweep(s)).orphans).toEqual({ released: [], waiting: [], failed: [] });
});

test('AddDisk terminated with its step while Volume.create runs: the sweep waits for the task, then the disk is OK with the volume VDSM made', async () => {
  const s = await stacks.start({ faults: { durations: { 'Volume.create': 5_000 } } });
  const vm = s.vmByName('web-01');
  const domain = s.fixture.domains[0]!;
  const handle = await startAddDisk(s, {
    domainId: domain.id,
    sizeBytes: 1024 ** 3,
    alias: 'orphan-01',
    vmId: vm.id,
    sparse: true,
    wipeAfterDelete: false,
  });
  const owner = handle.workflowId;
  const task = await eventually(() => s.sim.listTasks()[0], 20_000, 'the Volume.create task');
  const diskLock = (await s.inventory.listLocks({ owner })).find((l) => l.type === 'DISK')!;
  // Everything is terminated: nothing stops or reverts the task, which goes on on the SPM.
  await s.client.workflow
    .getHandle(workflowIds.taskStep(owner, 'AddImageFromScratch', diskLock.id))
    .terminate();
  await handle.terminate('test: no clean-up of its own');

  const first = await sweep(s);
  expect(first.orphans.waiting).toEqual([{ owner, why: expect.stringContaining(task.id) as unknown }]);
  expect(await s.inventory.listLocks({ owner })).toHaveLength(2);

  const released = await sweepUntilReleased(s, owner);
  expect(released.changes).toEqual([expect.stringContaining('LOCKED -> OK') as unknown]);
  const disk = await s.inventory.getDisk(diskLock.id);
  expect(disk?.status).toBe('OK');
  const [volume] = await s.inventory.listVolumes({ diskId: diskLock.id });
  const stored = s.sim.imageChain(domain.id, diskLock.id)!;
  expect(stored.map((v) => v.id)).toEqual([volume!.id]);
  expect(volume!.sizeBytes).toBe(stored[0]!.capacity);
  expect(await s.inventory.listLocks()).toEqual([]);
  expect(lockedByFixture(s, diskLock.id)).toBe(false);
});
