/**
 * A RemoveSnapshot terminated mid-run (client terminate(): its own end never runs) while its merge
 * jobs run: the janitor's sweep waits for its steps (a merge job cannot be aborted: the ColdMerge
 * steps follow their jobs to the end), then releases its locks, puts the disks back OK as storage
 * proves and the snapshot back OK (its disks did not merge). Real parts: the suite's dev server,
 * the simulator, a SQLite inventory, an in-process worker.
 */
import { OrphanAuditType } from '../src/activities/orphan-release';
import { queryCommandState } from '../src/client';
import type { CreateSnapshotResult } from '../src/shared/commands';
import { workflowIds } from '../src/shared/names';
import { eventually, stackPerTest } from './support/engine-stack';
import { auditTypes, sweep, sweepUntilReleased } from './support/janitor';
import {
  chains,
  expectStorageMatchesInventory,
  startCreateSnapshot,
  startRemoveSnapshot,
} from './support/storage';

jest.setTimeout(150_000);

const stacks = stackPerTest();

test('RemoveSnapshot terminated while its merge jobs run: the sweep waits for them, then disks and snapshot are OK again and the locks go', async () => {
  const s = await stacks.start({
    faults: {
      durations: {
        'Volume.create': 100,
        'StoragePool.prepareMerge': 100,
        'SDM.merge': 6_000,
        'StoragePool.finalizeMerge': 100,
        'Image.deleteVolumes': 100,
      },
    },
  });
  const vm = s.vmByName('web-01');
  const diskIds = vm.disks.slice(0, 2);
  const created = (await (
    await startCreateSnapshot(s, { vmId: vm.id, description: 'interrupted', diskIds })
  ).result()) as CreateSnapshotResult;
  const chainsAfterSnapshot = new Map<string, unknown>();
  for (const id of diskIds) {
    const disk = (await s.inventory.getDisk(id))!;
    chainsAfterSnapshot.set(id, (await chains(s, disk.domainId, id)).storage);
  }

  const owner = workflowIds.removeSnapshot(created.snapshotId);
  const handle = await startRemoveSnapshot(s, vm.id, created.snapshotId);
  await eventually(
    async () =>
      (await queryCommandState(s.client, owner)).tasks.filter(
        (t) => t.commandType === 'ColdMerge' && t.state === 'Polling',
      ).length === diskIds.length
        ? true
        : undefined,
    30_000,
    'every merge job running',
  );
  await handle.terminate('test: no clean-up of its own');
  expect((await s.inventory.listLocks({ owner })).length).toBe(2 + diskIds.length);

  // The merge steps still follow their jobs: nothing is released yet.
  const early = await sweep(s);
  expect(early.orphans.released.map((r) => r.owner)).not.toContain(owner);
  expect(early.orphans.waiting.find((w) => w.owner === owner)?.why).toMatch(/ColdMerge.*still running/);
  expect((await s.inventory.listLocks({ owner })).length).toBe(2 + diskIds.length);

  const released = await sweepUntilReleased(s, owner);
  expect(released.unproven).toEqual([]);
  expect(released.changes).toEqual(
    expect.arrayContaining([expect.stringMatching(new RegExp(`snapshot 'interrupted'.*LOCKED -> OK`))]),
  );
  expect(await s.inventory.listLocks({ owner })).toEqual([]);
  for (const id of diskIds) {
    expect((await s.inventory.getDisk(id))?.status).toBe('OK');
    // FinalizeMerge never ran: the chain is the one the snapshot made.
    const disk = (await s.inventory.getDisk(id))!;
    expect((await chains(s, disk.domainId, id)).storage).toEqual(chainsAfterSnapshot.get(id));
  }
  expect(await s.inventory.getSnapshot(created.snapshotId)).toMatchObject({ status: 'OK' });
  const types = await auditTypes(s, owner);
  expect(types.filter((t) => t === OrphanAuditType.statusRestored)).toHaveLength(diskIds.length + 1);
  expect(types).toContain(OrphanAuditType.locksReleased);
  await expectStorageMatchesInventory(s);
});
