/**
 * One contract for both inventory adapters: every test runs against SQLite (a file per test) and
 * PostgreSQL (a database per test on a throw-away server).
 */
import { generateDataCenter } from '../src/fixture';
import {
  EntityLockedError,
  InventoryError,
  NotFoundError,
  TaskClaimError,
  hostPorts,
  openInventory,
  type EntityRef,
  type InventoryRepository,
  type InventorySeed,
} from '../src/inventory';
import { BACKENDS, rejection, type Backend } from './support/inventory-backends';

const FIXTURE = generateDataCenter({ name: 'InvTest', vmCount: 8, hostCount: 3 });
const SEED: InventorySeed = { fixture: FIXTURE, vdsmAddress: '127.0.0.1', vdsmBasePort: 54_400 };
const POOL_ID = FIXTURE.pool.id;

const vmNamed = (name: string) => {
  const vm = FIXTURE.vms.find((v) => v.name === name);
  if (!vm) throw new Error(`fixture has no VM ${name}`);
  return vm;
};
const disksOf = (vmId: string) => FIXTURE.disks.filter((d) => d.vmId === vmId);
const WEB = vmNamed('web-01');
const WEB_DISKS = disksOf(WEB.id);
const FLOATING = FIXTURE.disks.filter((d) => d.vmId === null);
/** What the fixture's volumes on a domain take: every volume of a chain has the disk's capacity. */
const provisioned = (domainId: string): number =>
  FIXTURE.disks
    .filter((d) => d.domainId === domainId)
    .reduce((sum, d) => sum + d.sizeBytes * d.volumeIds.length, 0);
const kindOf = (domainId: string) =>
  FIXTURE.domains.find((d) => d.id === domainId)!.storageType === 'iscsi' ? 'block' : 'file';
/** A disk shows its active volume's format: COW + SPARSE above a base, else the default of its domain kind. */
const fixtureDiskFormat = (d: (typeof FIXTURE.disks)[number]) =>
  d.volumeIds.length > 1
    ? { format: 'COW', volumeType: 'SPARSE' }
    : { format: kindOf(d.domainId) === 'block' ? 'COW' : 'RAW', volumeType: 'SPARSE' };
const vmRef = (id: string): EntityRef => ({ type: 'VM', id });
const diskRef = (id: string): EntityRef => ({ type: 'DISK', id });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(BACKENDS)('%s inventory', (_kind, makeBackend) => {
  let backend: Backend;
  const opened: InventoryRepository[] = [];

  beforeAll(async () => {
    backend = await makeBackend();
  }, 300_000);
  afterAll(async () => {
    await backend?.stop();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((inv) => inv.close()));
  });

  const open = (url: string): InventoryRepository => {
    const inv = openInventory(url);
    opened.push(inv);
    return inv;
  };
  const seeded = async (): Promise<{ inv: InventoryRepository; url: string }> => {
    const url = await backend.newUrl();
    const inv = open(url);
    await expect(inv.init(SEED)).resolves.toBe(true);
    return { inv, url };
  };

  describe('schema and seeding', () => {
    it('seeds exactly the fixture: pool, domains, hosts on their ports, VMs and disks with statuses', async () => {
      const { inv } = await seeded();
      expect(await inv.listPools()).toEqual([
        { id: POOL_ID, name: FIXTURE.pool.name, masterDomainId: FIXTURE.pool.masterDomainId },
      ]);
      const domains = await inv.listDomains(POOL_ID);
      expect(domains.map((d) => d.id).sort()).toEqual(FIXTURE.domains.map((d) => d.id).sort());
      const iscsi = FIXTURE.domains.find((d) => d.storageType === 'iscsi')!;
      expect(await inv.getDomain(iscsi.id)).toEqual({
        id: iscsi.id,
        poolId: POOL_ID,
        name: iscsi.name,
        storageType: 'iscsi',
        discardAfterDelete: true,
        supportsDiscard: true,
        kind: 'block',
        sizeBytes: iscsi.sizeBytes,
        freeBytes: iscsi.sizeBytes - provisioned(iscsi.id),
      });
      expect(domains.find((d) => d.storageType === 'nfs')?.kind).toBe('file');

      const ports = hostPorts(FIXTURE, SEED.vdsmBasePort);
      expect(await inv.listHosts(POOL_ID)).toEqual(
        FIXTURE.hosts.map((h) => ({
          id: h.id,
          poolId: POOL_ID,
          name: h.name,
          vdsId: h.vdsId,
          address: '127.0.0.1',
          port: ports.get(h.id),
        })),
      );

      const vms = await inv.listVms();
      expect(vms).toHaveLength(FIXTURE.vms.length);
      for (const v of FIXTURE.vms) {
        expect(await inv.getVm(v.id)).toEqual({
          id: v.id,
          poolId: POOL_ID,
          name: v.name,
          status: v.status,
          deleteProtected: v.deleteProtected,
        });
      }
      expect(vms.filter((v) => v.status === 'Up').length).toBeGreaterThan(0);
      expect(vms.filter((v) => v.deleteProtected).length).toBeGreaterThan(0);

      const disks = await inv.listDisks();
      expect(disks).toHaveLength(FIXTURE.disks.length);
      for (const { attachedTo: _attachedTo, ...d } of FIXTURE.disks) {
        expect(await inv.getDisk(d.id)).toEqual({ ...d, poolId: POOL_ID, ...fixtureDiskFormat(d) });
      }
      expect(disks.some((d) => d.volumeIds.length > 1)).toBe(true);
      expect((await inv.listDisks({ status: 'LOCKED' })).map((d) => d.alias)).toEqual(['locked-01_Disk1']);
    });

    it('seeds only an empty inventory: a second init neither duplicates nor resets state', async () => {
      const { inv, url } = await seeded();
      await inv.setVmStatus(WEB.id, 'ImageLocked');
      await inv.removeDisk(FLOATING[0]!.id);
      await inv.close();

      const again = open(url);
      await expect(again.init(SEED)).resolves.toBe(false);
      expect(await again.listPools()).toHaveLength(1);
      expect(await again.listVms()).toHaveLength(FIXTURE.vms.length);
      expect(await again.listDisks()).toHaveLength(FIXTURE.disks.length - 1);
      expect((await again.getVm(WEB.id))?.status).toBe('ImageLocked');
      expect(await again.getDisk(FLOATING[0]!.id)).toBeUndefined();
    });

    it('init without a seed creates an empty, versioned schema; init is repeatable', async () => {
      const url = await backend.newUrl();
      const inv = open(url);
      await expect(inv.init()).resolves.toBe(false);
      await expect(inv.init()).resolves.toBe(false);
      expect(await inv.listPools()).toEqual([]);
      expect(await inv.listVms()).toEqual([]);
      expect(await backend.raw(url, 'SELECT version FROM schema_version ORDER BY version')).toEqual([
        { version: 1 },
        { version: 2 },
        { version: 3 },
        { version: 4 },
        { version: 5 },
      ]);
      // Seeding still happens later, while the inventory is empty.
      await expect(inv.init(SEED)).resolves.toBe(true);
      expect(await inv.listVms()).toHaveLength(FIXTURE.vms.length);
    });

    it('refuses a store whose schema is newer than the program', async () => {
      const { inv, url } = await seeded();
      await backend.raw(
        url,
        "INSERT INTO schema_version (version, applied_at) VALUES (99, '2030-01-01T00:00:00Z')",
      );
      const err = await rejection(inv.init());
      expect(err).toBeInstanceOf(InventoryError);
      expect((err as Error).message).toMatch(/version 99, newer than this program's 5/);
    });

    it('rejects a row that does not parse with an InventoryError naming the operation', async () => {
      const { inv, url } = await seeded();
      await backend.raw(url, `UPDATE vms SET status = 'Exploded' WHERE id = '${WEB.id}'`);
      const err = await rejection(inv.getVm(WEB.id));
      expect(err).toBeInstanceOf(InventoryError);
      expect((err as InventoryError).operation).toBe('getVm');
      expect((err as Error).message).toMatch(/status/);
    });
  });

  describe('entities', () => {
    it('answers undefined for unknown ids and filters disks by VM and status', async () => {
      const { inv } = await seeded();
      const unknown = '00000000-0000-4000-8000-000000000000';
      expect(await inv.getPool(unknown)).toBeUndefined();
      expect(await inv.getDomain(unknown)).toBeUndefined();
      expect(await inv.getVm(unknown)).toBeUndefined();
      expect(await inv.getDisk(unknown)).toBeUndefined();
      expect(await inv.listHosts(unknown)).toEqual([]);
      expect(await inv.listDomains(unknown)).toEqual([]);
      expect((await inv.listDomains()).length).toBe(FIXTURE.domains.length);

      expect((await inv.listDisks({ vmId: WEB.id })).map((d) => d.id).sort()).toEqual(
        WEB_DISKS.map((d) => d.id).sort(),
      );
      const locked = vmNamed('locked-01');
      expect((await inv.listDisks({ vmId: locked.id, status: 'OK' })).map((d) => d.alias)).toEqual([
        'locked-01_Disk2',
      ]);
    });

    it('setHostAddress repoints a host; an unknown host is NotFound', async () => {
      const { inv } = await seeded();
      const host = FIXTURE.hosts[1]!;
      await inv.setHostAddress(host.id, 'vdsm-2.example.org', 54_321);
      const after = (await inv.listHosts(POOL_ID)).find((h) => h.id === host.id);
      expect(after).toMatchObject({ address: 'vdsm-2.example.org', port: 54_321 });
      await expect(inv.setHostAddress('nope', 'x', 1)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('setVmStatus changes one VM; an unknown VM is NotFound; an unknown status is refused', async () => {
      const { inv } = await seeded();
      await inv.setVmStatus(WEB.id, 'ImageLocked');
      expect((await inv.getVm(WEB.id))?.status).toBe('ImageLocked');
      expect((await inv.getVm(vmNamed('db-01').id))?.status).toBe('Down');
      await expect(inv.setVmStatus('nope', 'Down')).rejects.toBeInstanceOf(NotFoundError);
      await expect(inv.setVmStatus(WEB.id, 'Sideways' as never)).rejects.toBeInstanceOf(InventoryError);
    });

    it('setDiskStatus changes exactly the listed disks and skips ids that no longer exist', async () => {
      const { inv } = await seeded();
      const [first, second, untouched] = WEB_DISKS;
      await inv.setDiskStatus([first!.id, second!.id, 'gone-already'], 'LOCKED');
      expect((await inv.getDisk(first!.id))?.status).toBe('LOCKED');
      expect((await inv.getDisk(second!.id))?.status).toBe('LOCKED');
      expect((await inv.getDisk(untouched!.id))?.status).toBe('OK');
      await inv.setDiskStatus([first!.id], 'ILLEGAL');
      expect((await inv.getDisk(first!.id))?.status).toBe('ILLEGAL');
      await inv.setDiskStatus([], 'OK');
      await expect(inv.setDiskStatus([first!.id], 'BROKEN' as never)).rejects.toBeInstanceOf(InventoryError);
    });

    it('removeVm removes the VM, keeps its disks detached, and is idempotent', async () => {
      const { inv } = await seeded();
      await inv.removeVm(WEB.id);
      expect(await inv.getVm(WEB.id)).toBeUndefined();
      expect(await inv.listDisks({ vmId: WEB.id })).toEqual([]);
      for (const d of WEB_DISKS) {
        expect(await inv.getDisk(d.id)).toMatchObject({ id: d.id, vmId: null, status: d.status });
      }
      await inv.removeVm(WEB.id);
      await inv.removeVm('never-existed');
      expect(await inv.listVms()).toHaveLength(FIXTURE.vms.length - 1);
    });

    it('removeDisk removes the disk and is idempotent', async () => {
      const { inv } = await seeded();
      const disk = WEB_DISKS[0]!;
      await inv.removeDisk(disk.id);
      await inv.removeDisk(disk.id);
      expect(await inv.getDisk(disk.id)).toBeUndefined();
      expect((await inv.listDisks({ vmId: WEB.id })).map((d) => d.id)).not.toContain(disk.id);
      expect(await inv.listDisks()).toHaveLength(FIXTURE.disks.length - 1);
    });
  });

  describe('entity locks', () => {
    it('takes every lock or none, and lists every conflict with its owner and reason', async () => {
      const { inv } = await seeded();
      const [d1, d2, d3] = WEB_DISKS;
      await inv.acquireLocks('cmd-A', 'RemoveVm web-01', [vmRef(WEB.id), diskRef(d1!.id), diskRef(d2!.id)]);

      const err = await rejection(
        inv.acquireLocks('cmd-B', 'RemoveDisk', [diskRef(d3!.id), diskRef(d2!.id), vmRef(WEB.id)]),
      );
      expect(err).toBeInstanceOf(EntityLockedError);
      const conflicts = (err as EntityLockedError).conflicts;
      expect(conflicts.map(({ type, id, owner, reason }) => ({ type, id, owner, reason }))).toEqual([
        { type: 'DISK', id: d2!.id, owner: 'cmd-A', reason: 'RemoveVm web-01' },
        { type: 'VM', id: WEB.id, owner: 'cmd-A', reason: 'RemoveVm web-01' },
      ]);
      expect(conflicts.every((c) => !Number.isNaN(Date.parse(c.acquiredAt)))).toBe(true);
      expect((err as Error).message).toContain(`VM ${WEB.id} (cmd-A: RemoveVm web-01)`);
      // None taken: d3 stayed free.
      expect(await inv.listLocks({ owner: 'cmd-B' })).toEqual([]);
      await inv.acquireLocks('cmd-C', 'RemoveDisk', [diskRef(d3!.id)]);
    });

    it('is re-entrant for the same owner and keeps the first acquisition', async () => {
      const { inv } = await seeded();
      const [d1] = WEB_DISKS;
      await inv.acquireLocks('cmd-A', 'first', [vmRef(WEB.id)]);
      const [vmLock] = await inv.listLocks({ owner: 'cmd-A' });
      await inv.acquireLocks('cmd-A', 'second', [vmRef(WEB.id), diskRef(d1!.id), diskRef(d1!.id)]);
      const locks = await inv.listLocks({ owner: 'cmd-A' });
      expect(locks).toHaveLength(2);
      expect(locks.find((l) => l.type === 'VM')).toEqual(vmLock);
      expect(locks.find((l) => l.type === 'DISK')).toMatchObject({
        id: d1!.id,
        owner: 'cmd-A',
        reason: 'second',
      });
      await inv.acquireLocks('cmd-A', 'nothing', []);
    });

    it('locks a VM and a disk with the same id independently (type is part of the key)', async () => {
      const { inv } = await seeded();
      await inv.acquireLocks('cmd-A', 'vm', [vmRef('same-id')]);
      await inv.acquireLocks('cmd-B', 'disk', [diskRef('same-id')]);
      expect((await inv.listLocks()).map((l) => `${l.type}:${l.owner}`).sort()).toEqual([
        'DISK:cmd-B',
        'VM:cmd-A',
      ]);
    });

    it('releaseLocks releases only the owner’s locks and returns how many', async () => {
      const { inv } = await seeded();
      const [d1, d2] = WEB_DISKS;
      await inv.acquireLocks('cmd-A', 'a', [vmRef(WEB.id), diskRef(d1!.id)]);
      await inv.acquireLocks('cmd-B', 'b', [diskRef(d2!.id)]);
      await expect(inv.releaseLocks('cmd-A')).resolves.toBe(2);
      await expect(inv.releaseLocks('cmd-A')).resolves.toBe(0);
      expect((await inv.listLocks()).map((l) => l.owner)).toEqual(['cmd-B']);
      // Released entities are free for others.
      await inv.acquireLocks('cmd-C', 'c', [vmRef(WEB.id), diskRef(d1!.id)]);
    });

    it('lets exactly one of two concurrent owners of overlapping sets win, every round', async () => {
      const { url } = await seeded();
      const a = open(url);
      const b = open(url);
      const [d1, d2, d3] = WEB_DISKS;
      for (let round = 0; round < 15; round++) {
        const results = await Promise.allSettled([
          a.acquireLocks(`A-${round}`, 'race', [vmRef(WEB.id), diskRef(d1!.id), diskRef(d2!.id)]),
          b.acquireLocks(`B-${round}`, 'race', [diskRef(d3!.id), diskRef(d2!.id), diskRef(d1!.id)]),
        ]);
        const winners = results.filter((r) => r.status === 'fulfilled');
        expect(winners).toHaveLength(1);
        const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        expect(loser.reason).toBeInstanceOf(EntityLockedError);
        const winner = results[0].status === 'fulfilled' ? `A-${round}` : `B-${round}`;
        const locks = await a.listLocks();
        expect(new Set(locks.map((l) => l.owner))).toEqual(new Set([winner]));
        expect(locks).toHaveLength(3);
        expect((loser.reason as EntityLockedError).conflicts.every((c) => c.owner === winner)).toBe(true);
        await a.releaseLocks(winner);
      }
    });

    it('keeps locks, claims and audit across closing and reopening the store', async () => {
      const { inv, url } = await seeded();
      await inv.acquireLocks('cmd-A', 'RemoveVm web-01', [
        vmRef(WEB.id),
        ...WEB_DISKS.map((d) => diskRef(d.id)),
      ]);
      await inv.putStartIntent({
        owner: 'step-1',
        poolId: POOL_ID,
        verb: 'deleteImage',
        subjectId: 'img',
        knownTaskIds: [],
      });
      await inv.completeStartIntent('step-1', 'task-1');
      await inv.addAudit({
        type: 'USER_REMOVE_VM',
        severity: 'INFO',
        message: 'm',
        correlationId: 'cmd-A',
        entityIds: [],
      });
      const before = await inv.listLocks();
      await inv.close();

      const reopened = open(url);
      await reopened.init(SEED);
      expect(await reopened.listLocks()).toEqual(before);
      await expect(reopened.acquireLocks('cmd-B', 'other', [vmRef(WEB.id)])).rejects.toBeInstanceOf(
        EntityLockedError,
      );
      expect((await reopened.listTaskClaims()).map((c) => c.vdsmTaskId)).toEqual(['task-1']);
      expect((await reopened.getStartIntent('step-1'))?.vdsmTaskId).toBe('task-1');
      expect(await reopened.listAudit({ correlationId: 'cmd-A' })).toHaveLength(1);
      await expect(reopened.releaseLocks('cmd-A')).resolves.toBe(1 + WEB_DISKS.length);
    });
  });

  describe('audit log', () => {
    it('addAuditOnce adds one entry per correlation id and type, even when attempts overlap', async () => {
      const { inv, url } = await seeded();
      // A second connection, as a second worker would have.
      const other = open(url);
      await other.init();
      try {
        const entry = (n: number) => ({
          type: 'DELETE_IMAGE_GROUP_TASK_FAILED',
          severity: 'ERROR' as const,
          message: `attempt ${n}`,
          correlationId: 'step-1',
          entityIds: [],
        });
        const added = await Promise.all(
          Array.from({ length: 8 }, (_, n) => (n % 2 ? other : inv).addAuditOnce(entry(n))),
        );
        expect(added.filter(Boolean)).toHaveLength(1);
        expect(await inv.listAudit({ correlationId: 'step-1' })).toHaveLength(1);
        await expect(inv.addAuditOnce({ ...entry(9), type: 'OTHER' })).resolves.toBe(true);
        await expect(inv.addAuditOnce({ ...entry(10), correlationId: 'step-2' })).resolves.toBe(true);
      } finally {
        await other.close();
      }
    });

    it('lists newest first, filters by correlation id and type, honours limit, keeps entity ids', async () => {
      const { inv } = await seeded();
      const entry = (type: string, correlationId: string | null, time: string, entityIds: string[] = []) =>
        inv.addAudit({
          type,
          severity: 'INFO',
          message: `${type} at ${time}`,
          correlationId,
          entityIds,
          time,
        });
      await entry('USER_REMOVE_VM', 'cmd-1', '2025-01-01T10:00:00.000Z', [WEB.id, WEB_DISKS[0]!.id]);
      await entry('USER_REMOVE_VM_FINISHED', 'cmd-1', '2025-01-01T10:05:00.000Z');
      // Written later but happened earlier: order follows the time, not the insertion.
      await entry('DELETE_IMAGE_GROUP_TASK_FAILED', 'cmd-1', '2025-01-01T10:02:00+00:00');
      await entry('TASK_CLEARING_ASYNC_TASK', null, '2025-01-01T11:00:00.000Z');
      await inv.addAudit({
        type: 'USER_REMOVE_VM',
        severity: 'ERROR',
        message: 'now',
        correlationId: 'cmd-2',
        entityIds: [],
      });

      const all = await inv.listAudit();
      expect(all.map((e) => e.message)).toEqual([
        'now',
        'TASK_CLEARING_ASYNC_TASK at 2025-01-01T11:00:00.000Z',
        'USER_REMOVE_VM_FINISHED at 2025-01-01T10:05:00.000Z',
        'DELETE_IMAGE_GROUP_TASK_FAILED at 2025-01-01T10:02:00+00:00',
        'USER_REMOVE_VM at 2025-01-01T10:00:00.000Z',
      ]);
      expect(all[3]!.time).toBe('2025-01-01T10:02:00.000Z');
      expect(new Set(all.map((e) => e.id)).size).toBe(5);
      expect(all[4]).toEqual({
        id: expect.any(Number),
        time: '2025-01-01T10:00:00.000Z',
        type: 'USER_REMOVE_VM',
        severity: 'INFO',
        message: 'USER_REMOVE_VM at 2025-01-01T10:00:00.000Z',
        correlationId: 'cmd-1',
        entityIds: [WEB.id, WEB_DISKS[0]!.id],
      });
      expect(all[1]!.correlationId).toBeNull();

      expect((await inv.listAudit({ correlationId: 'cmd-1' })).map((e) => e.type)).toEqual([
        'USER_REMOVE_VM_FINISHED',
        'DELETE_IMAGE_GROUP_TASK_FAILED',
        'USER_REMOVE_VM',
      ]);
      expect((await inv.listAudit({ type: 'USER_REMOVE_VM' })).map((e) => e.correlationId)).toEqual([
        'cmd-2',
        'cmd-1',
      ]);
      expect(await inv.listAudit({ correlationId: 'cmd-1', type: 'USER_REMOVE_VM', limit: 1 })).toHaveLength(
        1,
      );
      expect((await inv.listAudit({ limit: 2 })).map((e) => e.message)).toEqual([
        all[0]!.message,
        all[1]!.message,
      ]);
      expect(await inv.listAudit({ limit: 0 })).toEqual([]);
      await expect(inv.listAudit({ limit: -1 })).rejects.toBeInstanceOf(InventoryError);
      await expect(
        inv.addAudit({
          type: 'X',
          severity: 'INFO',
          message: 'm',
          correlationId: null,
          entityIds: [],
          time: 'yesterday',
        }),
      ).rejects.toBeInstanceOf(InventoryError);
    });
  });

  describe('start lease', () => {
    it('is granted when free or own (renewing it), refused while another owner holds it, free again once expired', async () => {
      const { inv } = await seeded();
      await expect(inv.acquireStartLease(POOL_ID, 'step-1', 60_000)).resolves.toBe(true);
      await expect(inv.acquireStartLease(POOL_ID, 'step-2', 60_000)).resolves.toBe(false);
      await expect(inv.acquireStartLease(POOL_ID, 'step-1', 150)).resolves.toBe(true);
      // Leases are per pool.
      await expect(inv.acquireStartLease('other-pool', 'step-2', 60_000)).resolves.toBe(true);
      await expect(inv.acquireStartLease(POOL_ID, 'step-2', 60_000)).resolves.toBe(false);
      await sleep(250);
      await expect(inv.acquireStartLease(POOL_ID, 'step-2', 60_000)).resolves.toBe(true);
      await expect(inv.acquireStartLease(POOL_ID, 'step-1', 60_000)).resolves.toBe(false);
      await expect(inv.acquireStartLease(POOL_ID, 'step-1', 0)).rejects.toBeInstanceOf(InventoryError);
    });

    it('is released only by its owner', async () => {
      const { inv } = await seeded();
      await inv.acquireStartLease(POOL_ID, 'step-1', 60_000);
      await inv.releaseStartLease(POOL_ID, 'step-2');
      await expect(inv.acquireStartLease(POOL_ID, 'step-2', 60_000)).resolves.toBe(false);
      await inv.releaseStartLease(POOL_ID, 'step-1');
      await expect(inv.acquireStartLease(POOL_ID, 'step-2', 60_000)).resolves.toBe(true);
    });

    it('goes to exactly one of many concurrent callers', async () => {
      const { url } = await seeded();
      const stores = [open(url), open(url), open(url)];
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          stores[i % stores.length]!.acquireStartLease(POOL_ID, `step-${i}`, 60_000),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });

  describe('shared status polls', () => {
    it('one worker leads a pool until its lease expires or it quits; only the leader publishes, readers get newer answers', async () => {
      const { inv } = await seeded();
      await expect(inv.leadStatusPolls(POOL_ID, 'w1', 200)).resolves.toEqual({
        leading: true,
        seq: 0,
        endedAtMs: null,
      });
      await expect(inv.leadStatusPolls(POOL_ID, 'w2', 200)).resolves.toMatchObject({ leading: false });
      await expect(inv.publishTaskStatuses(POOL_ID, 'w2', '{"x":1}', 5)).resolves.toBeUndefined();
      await expect(inv.publishTaskStatuses(POOL_ID, 'w1', '{"a":1}', 7)).resolves.toBe(1);
      await expect(inv.readTaskStatuses(POOL_ID, 0)).resolves.toEqual({
        seq: 1,
        statusesJson: '{"a":1}',
        endedAtMs: 7,
      });
      await expect(inv.readTaskStatuses(POOL_ID, 1)).resolves.toBeUndefined();
      await sleep(300);
      await expect(inv.publishTaskStatuses(POOL_ID, 'w1', '{"b":1}', 9)).resolves.toBeUndefined();
      await expect(inv.leadStatusPolls(POOL_ID, 'w2', 60_000)).resolves.toEqual({
        leading: true,
        seq: 1,
        endedAtMs: 7,
      });
      await expect(inv.leadStatusPolls(POOL_ID, 'w1', 60_000)).resolves.toMatchObject({ leading: false });
      await inv.quitStatusPolls(POOL_ID, 'w1');
      await expect(inv.leadStatusPolls(POOL_ID, 'w1', 60_000)).resolves.toMatchObject({ leading: false });
      await inv.quitStatusPolls(POOL_ID, 'w2');
      await expect(inv.leadStatusPolls(POOL_ID, 'w1', 60_000)).resolves.toMatchObject({ leading: true });
    });
  });

  describe('start intents and task claims', () => {
    const intent = (owner: string, knownTaskIds: string[] = ['t-old']) => ({
      owner,
      poolId: POOL_ID,
      verb: 'deleteImage',
      subjectId: WEB_DISKS[0]!.id,
      knownTaskIds,
    });

    it('putStartIntent records and replaces the owner’s intent', async () => {
      const { inv } = await seeded();
      expect(await inv.getStartIntent('step-1')).toBeUndefined();
      await inv.putStartIntent(intent('step-1', ['t-1', 't-2']));
      const first = await inv.getStartIntent('step-1');
      expect(first).toEqual({
        ...intent('step-1', ['t-1', 't-2']),
        createdAt: expect.any(String),
        seq: expect.any(Number),
        vdsmTaskId: null,
        refusedCode: null,
      });
      await inv.completeStartIntent('step-1', 't-new');
      await inv.putStartIntent({ ...intent('step-1', []), verb: 'createVolume' });
      expect(await inv.getStartIntent('step-1')).toMatchObject({
        verb: 'createVolume',
        knownTaskIds: [],
        vdsmTaskId: null,
      });
      await inv.deleteStartIntent('step-1');
      await inv.deleteStartIntent('step-1');
      expect(await inv.getStartIntent('step-1')).toBeUndefined();
    });

    it('completeStartIntent records the task and claims it in one go, idempotently', async () => {
      const { inv } = await seeded();
      await inv.putStartIntent(intent('step-1'));
      await inv.completeStartIntent('step-1', 't-9');
      await inv.completeStartIntent('step-1', 't-9');
      expect((await inv.getStartIntent('step-1'))?.vdsmTaskId).toBe('t-9');
      expect(await inv.listTaskClaims()).toEqual([
        {
          vdsmTaskId: 't-9',
          poolId: POOL_ID,
          owner: 'step-1',
          verb: 'deleteImage',
          subjectId: WEB_DISKS[0]!.id,
          claimedAt: expect.any(String),
        },
      ]);
    });

    it('completeStartIntent refuses without an intent, with another task, or a task another owner claimed', async () => {
      const { inv } = await seeded();
      await expect(inv.completeStartIntent('nobody', 't-1')).rejects.toBeInstanceOf(TaskClaimError);
      await inv.putStartIntent(intent('step-1'));
      await inv.completeStartIntent('step-1', 't-1');
      await expect(inv.completeStartIntent('step-1', 't-2')).rejects.toThrow(/already names task t-1/);
      await inv.putStartIntent(intent('step-2'));
      await expect(inv.completeStartIntent('step-2', 't-1')).rejects.toThrow(/step-1 already claimed it/);
      // The refused call changed nothing.
      expect((await inv.getStartIntent('step-2'))?.vdsmTaskId).toBeNull();
      expect((await inv.listTaskClaims()).map((c) => c.owner)).toEqual(['step-1']);
    });

    it('listTaskClaims filters by pool and owner; releaseTaskClaim drops the claim and its intent', async () => {
      const { inv } = await seeded();
      await inv.putStartIntent(intent('step-1'));
      await inv.completeStartIntent('step-1', 't-1');
      await inv.putStartIntent({ ...intent('step-2'), poolId: 'pool-2' });
      await inv.completeStartIntent('step-2', 't-2');
      await inv.putStartIntent(intent('step-3'));

      expect((await inv.listTaskClaims({ poolId: POOL_ID })).map((c) => c.vdsmTaskId)).toEqual(['t-1']);
      expect((await inv.listTaskClaims({ owner: 'step-2' })).map((c) => c.vdsmTaskId)).toEqual(['t-2']);
      expect(await inv.listTaskClaims({ poolId: POOL_ID, owner: 'step-2' })).toEqual([]);
      expect([await inv.countTaskClaims(POOL_ID), await inv.countTaskClaims('pool-2')]).toEqual([1, 1]);

      await inv.releaseTaskClaim('t-1');
      await inv.releaseTaskClaim('t-1');
      expect(await inv.countTaskClaims(POOL_ID)).toBe(0);
      expect((await inv.listTaskClaims()).map((c) => c.vdsmTaskId)).toEqual(['t-2']);
      expect(await inv.getStartIntent('step-1')).toBeUndefined();
      expect(await inv.getStartIntent('step-2')).toBeDefined();
      expect(await inv.getStartIntent('step-3')).toBeDefined();
    });

    it('listStartIntents lists a pool’s intents in the order they were written; pending = no task yet', async () => {
      const { inv } = await seeded();
      await inv.putStartIntent(intent('step-b'));
      await inv.putStartIntent(intent('step-a'));
      await inv.putStartIntent({ ...intent('step-other-pool'), poolId: 'pool-2' });
      await inv.putStartIntent(intent('step-c'));
      await inv.completeStartIntent('step-a', 't-a');
      // Rewriting an intent moves it to the end: it was written again, after the others.
      await inv.putStartIntent(intent('step-b', ['t-a']));

      const all = await inv.listStartIntents({ poolId: POOL_ID });
      expect(all.map((i) => i.owner)).toEqual(['step-a', 'step-c', 'step-b']);
      expect(all.map((i) => i.seq)).toEqual([...all.map((i) => i.seq)].sort((a, b) => a - b));
      expect(new Set(all.map((i) => i.seq)).size).toBe(3);
      expect((await inv.listStartIntents({ poolId: POOL_ID, pending: true })).map((i) => i.owner)).toEqual([
        'step-c',
        'step-b',
      ]);
    });

    it('markStartIntentRefused records the code, and a rewritten intent of the owner keeps it', async () => {
      const { inv } = await seeded();
      await inv.putStartIntent(intent('step-1'));
      await inv.markStartIntentRefused('step-1', 405);
      expect((await inv.getStartIntent('step-1'))?.refusedCode).toBe(405);
      await inv.putStartIntent(intent('step-1', ['t-x']));
      expect(await inv.getStartIntent('step-1')).toMatchObject({ knownTaskIds: ['t-x'], refusedCode: 405 });
      await inv.deleteStartIntent('step-1');
      await inv.putStartIntent(intent('step-1'));
      expect((await inv.getStartIntent('step-1'))?.refusedCode).toBeNull();
    });

    it('releaseTaskClaim keeps a newer intent of the same owner that is still in flight', async () => {
      const { inv } = await seeded();
      await inv.putStartIntent(intent('step-1'));
      await inv.completeStartIntent('step-1', 't-1');
      await inv.putStartIntent(intent('step-1', ['t-1']));
      await inv.releaseTaskClaim('t-1');
      expect(await inv.listTaskClaims()).toEqual([]);
      expect(await inv.getStartIntent('step-1')).toMatchObject({ knownTaskIds: ['t-1'], vdsmTaskId: null });
    });
  });

  describe('task observations', () => {
    const T0 = '2025-03-01T00:00:00.000Z';
    const T1 = '2025-03-01T00:01:00.000Z';
    const T2 = '2025-03-01T00:02:00.000Z';

    it('remembers first sight, moves lastChangeAt only on a state change, forgets tasks no longer reported', async () => {
      const { inv } = await seeded();
      const first = await inv.observeTasks(POOL_ID, { 'task-a': 'running|', 'task-b': 'running|' }, T0);
      expect(first).toEqual([
        {
          vdsmTaskId: 'task-a',
          poolId: POOL_ID,
          firstSeenAt: T0,
          lastState: 'running|',
          lastChangeAt: T0,
          reportedAt: null,
        },
        {
          vdsmTaskId: 'task-b',
          poolId: POOL_ID,
          firstSeenAt: T0,
          lastState: 'running|',
          lastChangeAt: T0,
          reportedAt: null,
        },
      ]);

      const second = await inv.observeTasks(
        POOL_ID,
        { 'task-a': 'running|', 'task-b': 'finished|success' },
        T1,
      );
      expect(second.find((o) => o.vdsmTaskId === 'task-a')).toMatchObject({
        firstSeenAt: T0,
        lastChangeAt: T0,
      });
      expect(second.find((o) => o.vdsmTaskId === 'task-b')).toMatchObject({
        firstSeenAt: T0,
        lastState: 'finished|success',
        lastChangeAt: T1,
      });

      // task-b vanished from the SPM's answer: its observation goes; a new task starts its own clock.
      const third = await inv.observeTasks(POOL_ID, { 'task-a': 'running|', 'task-c': 'running|' }, T2);
      expect(third.map((o) => [o.vdsmTaskId, o.firstSeenAt])).toEqual([
        ['task-a', T0],
        ['task-c', T2],
      ]);
      const again = await inv.observeTasks(POOL_ID, { 'task-b': 'finished|success' }, T2);
      expect(again).toEqual([expect.objectContaining({ vdsmTaskId: 'task-b', firstSeenAt: T2 })]);
      expect(await inv.observeTasks(POOL_ID, {}, T2)).toEqual([]);
    });

    it('keeps each pool’s observations apart', async () => {
      const { inv } = await seeded();
      await inv.observeTasks('pool-1', { 'task-1': 'running|' }, T0);
      await inv.observeTasks('pool-2', { 'task-2': 'running|' }, T1);
      expect(
        (await inv.observeTasks('pool-1', { 'task-1': 'running|' }, T2)).map((o) => o.vdsmTaskId),
      ).toEqual(['task-1']);
      expect(await inv.observeTasks('pool-2', { 'task-2': 'running|' }, T2)).toEqual([
        expect.objectContaining({ vdsmTaskId: 'task-2', firstSeenAt: T1 }),
      ]);
    });

    it('markTaskReported stamps the observation once; forgetTasks drops observations', async () => {
      const { inv } = await seeded();
      await inv.observeTasks(
        POOL_ID,
        { 'task-a': 'running|', 'task-b': 'running|', 'task-c': 'running|' },
        T0,
      );
      await inv.markTaskReported('task-a', T1);
      await inv.markTaskReported('unknown-task', T1);
      const seen = await inv.observeTasks(
        POOL_ID,
        { 'task-a': 'running|', 'task-b': 'running|', 'task-c': 'running|' },
        T2,
      );
      expect(seen.find((o) => o.vdsmTaskId === 'task-a')?.reportedAt).toBe(T1);
      expect(seen.find((o) => o.vdsmTaskId === 'task-b')?.reportedAt).toBeNull();

      await inv.forgetTasks(['task-a', 'task-b', 'never-seen']);
      await inv.forgetTasks([]);
      // Forgotten tasks that are still reported start over.
      const after = await inv.observeTasks(POOL_ID, { 'task-a': 'running|', 'task-c': 'running|' }, T2);
      expect(after.map((o) => [o.vdsmTaskId, o.firstSeenAt, o.reportedAt])).toEqual([
        ['task-c', T0, null],
        ['task-a', T2, null],
      ]);
      await expect(inv.observeTasks(POOL_ID, {}, 'not a time')).rejects.toBeInstanceOf(InventoryError);
    });
  });
});
