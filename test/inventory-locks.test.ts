/**
 * Shared and exclusive entity locks, the engine's two modes, on both adapters: shared holders
 * coexist, an exclusive lock excludes every other owner, re-entrancy and upgrade keep one lock per
 * owner and entity, and concurrent acquirers never break that.
 */
import { generateDataCenter } from '../src/fixture';
import {
  EntityLockedError,
  InventoryError,
  type EntityLock,
  type EntityRef,
  type InventorySeed,
} from '../src/inventory';
import { BACKENDS, rejection, useBackend } from './support/inventory-backends';

const FIXTURE = generateDataCenter({ name: 'LockTest', vmCount: 4, hostCount: 1 });
const SEED: InventorySeed = { fixture: FIXTURE, vdsmAddress: '127.0.0.1', vdsmBasePort: 54_500 };
const VM = FIXTURE.vms[0]!.id;
const [D1, D2] = FIXTURE.disks.filter((d) => d.vmId === VM).map((d) => d.id);

const shared = (type: EntityRef['type'], id: string): EntityRef => ({ type, id, mode: 'shared' });
const exclusive = (type: EntityRef['type'], id: string): EntityRef => ({ type, id, mode: 'exclusive' });
const summary = (locks: EntityLock[]) =>
  locks.map(({ type, id, owner, mode }) => `${type}:${id.slice(0, 8)}:${owner}:${mode}`).sort();
const conflictsOf = (err: unknown) => {
  expect(err).toBeInstanceOf(EntityLockedError);
  return (err as EntityLockedError).conflicts.map(({ type, id, owner, mode }) => ({ type, id, owner, mode }));
};

describe.each(BACKENDS)('%s inventory: lock modes', (_kind, makeBackend) => {
  const h = useBackend(makeBackend);

  it('lets shared holders of an entity coexist, each with its own lock', async () => {
    const { inv } = await h.seeded(SEED);
    await inv.acquireLocks('add-disk-1', 'AddDisk', [shared('VM', VM)]);
    await inv.acquireLocks('add-disk-2', 'AddDisk', [shared('VM', VM)]);
    const locks = await inv.listLocks();
    expect(summary(locks)).toEqual(
      [`VM:${VM.slice(0, 8)}:add-disk-1:shared`, `VM:${VM.slice(0, 8)}:add-disk-2:shared`].sort(),
    );
    expect(locks.find((l) => l.owner === 'add-disk-2')).toMatchObject({ reason: 'AddDisk', mode: 'shared' });
    // Releasing one holder leaves the other.
    await expect(inv.releaseLocks('add-disk-1')).resolves.toBe(1);
    expect((await inv.listLocks()).map((l) => l.owner)).toEqual(['add-disk-2']);
  });

  it('refuses an exclusive lock while shared holders exist, listing every one of them', async () => {
    const { inv } = await h.seeded(SEED);
    await inv.acquireLocks('add-disk-1', 'AddDisk', [shared('VM', VM)]);
    await inv.acquireLocks('add-disk-2', 'AddDisk', [shared('VM', VM)]);
    const err = await rejection(inv.acquireLocks('snap', 'CreateSnapshot', [{ type: 'VM', id: VM }]));
    expect(conflictsOf(err)).toEqual([
      { type: 'VM', id: VM, owner: 'add-disk-1', mode: 'shared' },
      { type: 'VM', id: VM, owner: 'add-disk-2', mode: 'shared' },
    ]);
    expect(await inv.listLocks({ owner: 'snap' })).toEqual([]);
  });

  it('refuses a shared lock while another owner holds the entity exclusively', async () => {
    const { inv } = await h.seeded(SEED);
    await inv.acquireLocks('snap', 'CreateSnapshot', [{ type: 'VM', id: VM }]);
    const err = await rejection(
      inv.acquireLocks('add-disk', 'AddDisk', [shared('VM', VM), exclusive('DISK', D1!)]),
    );
    expect(conflictsOf(err)).toEqual([{ type: 'VM', id: VM, owner: 'snap', mode: 'exclusive' }]);
    // All or nothing: the free disk was not taken either.
    expect(await inv.listLocks({ owner: 'add-disk' })).toEqual([]);
    await inv.releaseLocks('snap');
    await inv.acquireLocks('add-disk', 'AddDisk', [shared('VM', VM), exclusive('DISK', D1!)]);
  });

  it('is re-entrant in either mode: one lock per owner and entity, an exclusive one stays exclusive', async () => {
    const { inv } = await h.seeded(SEED);
    await inv.acquireLocks('cmd', 'first', [shared('VM', VM), exclusive('DISK', D1!)]);
    const [before] = await inv.listLocks({ owner: 'cmd' }).then((l) => l.filter((x) => x.type === 'VM'));
    await inv.acquireLocks('cmd', 'again', [shared('VM', VM), shared('DISK', D1!)]);
    const locks = await inv.listLocks({ owner: 'cmd' });
    expect(locks).toHaveLength(2);
    expect(locks.find((l) => l.type === 'VM')).toEqual(before);
    expect(locks.find((l) => l.type === 'DISK')).toMatchObject({ mode: 'exclusive', reason: 'first' });
  });

  it('upgrades shared → exclusive when the owner is the only holder, keeping the first reason and time', async () => {
    const { inv } = await h.seeded(SEED);
    await inv.acquireLocks('cmd', 'first', [shared('VM', VM)]);
    const [before] = await inv.listLocks({ owner: 'cmd' });
    await inv.acquireLocks('cmd', 'second', [exclusive('VM', VM)]);
    const after = await inv.listLocks();
    expect(after).toEqual([{ ...before, mode: 'exclusive' }]);
    // Now exclusive: another owner's shared request is refused.
    const err = await rejection(inv.acquireLocks('other', 'x', [shared('VM', VM)]));
    expect(conflictsOf(err)).toEqual([{ type: 'VM', id: VM, owner: 'cmd', mode: 'exclusive' }]);
  });

  it('refuses the upgrade while another owner shares the entity, and changes nothing', async () => {
    const { inv } = await h.seeded(SEED);
    await inv.acquireLocks('cmd', 'mine', [shared('VM', VM)]);
    await inv.acquireLocks('other', 'theirs', [shared('VM', VM)]);
    const err = await rejection(
      inv.acquireLocks('cmd', 'upgrade', [exclusive('VM', VM), exclusive('DISK', D2!)]),
    );
    expect(conflictsOf(err)).toEqual([{ type: 'VM', id: VM, owner: 'other', mode: 'shared' }]);
    expect(summary(await inv.listLocks())).toEqual(
      [`VM:${VM.slice(0, 8)}:cmd:shared`, `VM:${VM.slice(0, 8)}:other:shared`].sort(),
    );
  });

  it('takes an entity named twice in one call once, in the stronger mode; locks snapshots too', async () => {
    const { inv } = await h.seeded(SEED);
    await inv.acquireLocks('cmd', 'r', [
      shared('DISK', D1!),
      exclusive('DISK', D1!),
      shared('SNAPSHOT', 'snap-1'),
    ]);
    expect(summary(await inv.listLocks())).toEqual(
      [`DISK:${D1!.slice(0, 8)}:cmd:exclusive`, 'SNAPSHOT:snap-1:cmd:shared'].sort(),
    );
    await expect(
      inv.acquireLocks('x', 'r', [{ type: 'DISK', id: D1!, mode: 'both' as never }]),
    ).rejects.toBeInstanceOf(InventoryError);
    await expect(inv.acquireLocks('x', 'r', [{ type: 'TEMPLATE' as never, id: 't' }])).rejects.toBeInstanceOf(
      InventoryError,
    );
  });

  it('under concurrency, an exclusive acquirer and shared ones never hold the entity together', async () => {
    const { url } = await h.seeded(SEED);
    const stores = [h.open(url), h.open(url), h.open(url)];
    for (let round = 0; round < 12; round++) {
      const entity = `vm-${round}`;
      const results = await Promise.allSettled([
        stores[0]!.acquireLocks(`X-${round}`, 'snapshot', [{ type: 'VM', id: entity }]),
        stores[1]!.acquireLocks(`S1-${round}`, 'add', [shared('VM', entity)]),
        stores[2]!.acquireLocks(`S2-${round}`, 'add', [shared('VM', entity)]),
      ]);
      for (const r of results)
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(EntityLockedError);
      const holders = (await stores[0]!.listLocks()).filter((l) => l.id === entity);
      const exclusiveWon = results[0].status === 'fulfilled';
      if (exclusiveWon) {
        expect(holders.map((l) => l.owner)).toEqual([`X-${round}`]);
        expect(results.slice(1).every((r) => r.status === 'rejected')).toBe(true);
      } else {
        // The shared ones never conflict with each other: both hold it.
        expect(holders.map((l) => l.owner).sort()).toEqual([`S1-${round}`, `S2-${round}`]);
        expect(holders.every((l) => l.mode === 'shared')).toBe(true);
      }
    }
  });
});
