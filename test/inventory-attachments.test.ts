/**
 * Disk attachments on both adapters: a shareable disk attached to several VMs (plugged,
 * pass-discard), what removing a VM or a disk does to them, domains' discard support, and the
 * upgrade of a version-3 store whose disks had one vm_id each. Plus the fixture's rules for them.
 */
import { DataCenterFixture, generateDataCenter } from '../src/fixture';
import { type InventorySeed, type NewDisk } from '../src/inventory';
import { POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS } from '../src/inventory/migrations';
import { BACKENDS, useBackend } from './support/inventory-backends';

/** Upgrades end at the newest schema, whatever its number. */
const LATEST_SCHEMA_VERSION = SQLITE_MIGRATIONS.at(-1)?.version;

const GiB = 1024 ** 3;
const FIXTURE = generateDataCenter({ name: 'AttTest', vmCount: 8, hostCount: 1 });
const SEED: InventorySeed = { fixture: FIXTURE, vdsmAddress: '127.0.0.1', vdsmBasePort: 54_700 };
const POOL_ID = FIXTURE.pool.id;
const NFS = FIXTURE.domains.find((d) => d.storageType === 'nfs')!;
const ISCSI = FIXTURE.domains.find((d) => d.storageType === 'iscsi')!;
const SHARED = FIXTURE.disks.find((d) => d.shareable)!;
const [HOLDER_A, HOLDER_B] = SHARED.attachedTo!.map((a) => FIXTURE.vms.find((v) => v.id === a.vmId)!);
const ownDisks = (vmId: string) => FIXTURE.disks.filter((d) => d.vmId === vmId);
const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('the built-in fixture', () => {
  it('has one shareable disk, on the iSCSI domain, attached to two Down VMs; the first passes discards', () => {
    expect(FIXTURE.disks.filter((d) => d.shareable)).toHaveLength(1);
    expect(SHARED).toMatchObject({ alias: 'shared-01', vmId: null, domainId: ISCSI.id });
    expect(SHARED.attachedTo).toEqual([
      { vmId: HOLDER_A!.id, plugged: true, passDiscard: true },
      { vmId: HOLDER_B!.id, plugged: true, passDiscard: false },
    ]);
    expect([HOLDER_A!.status, HOLDER_B!.status]).toEqual(['Down', 'Down']);
    expect(HOLDER_A!.id).not.toBe(HOLDER_B!.id);
    expect([HOLDER_A!.name, HOLDER_B!.name]).not.toContain('web-01');
  });

  it('a data center without two Down VMs to share it has no shareable disk', () => {
    expect(generateDataCenter({ name: 'AttTest', vmCount: 1 }).disks.some((d) => d.shareable)).toBe(false);
  });

  it('domain overrides reach only the domain named', () => {
    const dc = generateDataCenter({
      name: 'AttTest',
      vmCount: 2,
      domains: { 'iscsi-01': { discardAfterDelete: false }, 'nfs-02': { supportsDiscard: true } },
    });
    expect(dc.domains.map((d) => [d.name, d.discardAfterDelete, d.supportsDiscard])).toEqual([
      ['atttest-nfs-01', false, undefined],
      ['atttest-iscsi-01', false, undefined],
      ['atttest-nfs-02', false, true],
    ]);
  });

  const withDisk = (patch: Record<string, unknown>) => ({
    ...FIXTURE,
    disks: [...FIXTURE.disks.filter((d) => !d.shareable), { ...SHARED, ...patch }],
  });
  const issues = (raw: unknown) => {
    const parsed = DataCenterFixture.safeParse(raw);
    return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('accepts VM ids as attachments (plugged, no pass-discard) and refuses what cannot be seeded', () => {
    const parsed = DataCenterFixture.parse(withDisk({ attachedTo: [HOLDER_A!.id] }));
    expect(parsed.disks.at(-1)!.attachedTo).toEqual([
      { vmId: HOLDER_A!.id, plugged: true, passDiscard: false },
    ]);
    const at = `disks.${FIXTURE.disks.length - 1}`;
    expect(issues(withDisk({ shareable: false }))).toEqual([
      `${at}.attachedTo: only a shareable disk is attached to several VMs (set vmId instead)`,
    ]);
    expect(issues(withDisk({ vmId: HOLDER_A!.id }))).toEqual([
      `${at}.vmId: a shareable disk belongs to no VM: list its VMs in attachedTo`,
    ]);
    expect(issues(withDisk({ attachedTo: [HOLDER_A!.id, uuid(9)] }))).toEqual([
      `${at}.attachedTo.1: must name one of the VMs`,
    ]);
    expect(issues(withDisk({ attachedTo: [HOLDER_A!.id, { vmId: HOLDER_A!.id }] }))).toEqual([
      `${at}.attachedTo.1: repeats a VM`,
    ]);
  });
});

describe.each(BACKENDS)('%s inventory: disk attachments', (kind, makeBackend) => {
  const h = useBackend(makeBackend);

  it('seeds each disk’s attachments: its own VM’s, the shareable disk’s two, none for floating disks', async () => {
    const { inv } = await h.seeded(SEED);
    const shared = await inv.getDisk(SHARED.id);
    expect(shared).toMatchObject({ shareable: true, vmId: null });
    expect(await inv.listDiskAttachments({ diskId: SHARED.id })).toEqual(
      [
        { vmId: HOLDER_A!.id, diskId: SHARED.id, plugged: true, passDiscard: true },
        { vmId: HOLDER_B!.id, diskId: SHARED.id, plugged: true, passDiscard: false },
      ].sort((a, b) => (a.vmId < b.vmId ? -1 : 1)),
    );
    const all = await inv.listDiskAttachments();
    const own = FIXTURE.disks.filter((d) => d.vmId !== null);
    expect(all).toHaveLength(own.length + 2);
    for (const d of own) {
      expect(await inv.listDiskAttachments({ diskId: d.id })).toEqual([
        { vmId: d.vmId, diskId: d.id, plugged: true, passDiscard: false },
      ]);
    }
    for (const d of FIXTURE.disks.filter((x) => x.vmId === null && !x.shareable)) {
      expect(await inv.listDiskAttachments({ diskId: d.id })).toEqual([]);
    }
    expect((await inv.listDiskAttachments({ vmId: HOLDER_A!.id })).map((a) => a.diskId).sort()).toEqual(
      [...ownDisks(HOLDER_A!.id).map((d) => d.id), SHARED.id].sort(),
    );
  });

  it('listDisks: vmId gives the disks a VM owns, attachedTo every disk attached to it', async () => {
    const { inv } = await h.seeded(SEED);
    const owned = ownDisks(HOLDER_B!.id).map((d) => d.id);
    expect((await inv.listDisks({ vmId: HOLDER_B!.id })).map((d) => d.id).sort()).toEqual([...owned].sort());
    expect((await inv.listDisks({ attachedTo: HOLDER_B!.id })).map((d) => d.id).sort()).toEqual(
      [...owned, SHARED.id].sort(),
    );
    expect(
      (await inv.listDisks({ attachedTo: HOLDER_B!.id, status: 'OK' })).some((d) => d.id === SHARED.id),
    ).toBe(true);
    expect(await inv.listDisks({ attachedTo: uuid(7) })).toEqual([]);
  });

  it('domains say whether they can discard: block yes, file no, unless the fixture says otherwise', async () => {
    const { inv } = await h.seeded(SEED);
    expect((await inv.getDomain(ISCSI.id))?.supportsDiscard).toBe(true);
    expect((await inv.getDomain(NFS.id))?.supportsDiscard).toBe(false);
    const other = generateDataCenter({
      name: 'AttOther',
      vmCount: 2,
      domains: { 'iscsi-01': { supportsDiscard: false }, 'nfs-01': { supportsDiscard: true } },
    });
    const { inv: inv2 } = await h.seeded({ ...SEED, fixture: other });
    const byName = new Map((await inv2.listDomains()).map((d) => [d.name, d.supportsDiscard]));
    expect(Object.fromEntries(byName)).toEqual({
      'attother-iscsi-01': false,
      'attother-nfs-01': true,
      'attother-nfs-02': false,
    });
  });

  it('removeVm takes the VM’s attachments with it: the shareable disk stays attached to the other VM', async () => {
    const { inv } = await h.seeded(SEED);
    await inv.removeVm(HOLDER_A!.id);
    expect(await inv.listDiskAttachments({ vmId: HOLDER_A!.id })).toEqual([]);
    expect(await inv.listDiskAttachments({ diskId: SHARED.id })).toEqual([
      { vmId: HOLDER_B!.id, diskId: SHARED.id, plugged: true, passDiscard: false },
    ]);
    expect(await inv.getDisk(SHARED.id)).toMatchObject({ status: 'OK', vmId: null });
    for (const d of ownDisks(HOLDER_A!.id)) {
      expect(await inv.getDisk(d.id)).toMatchObject({ vmId: null });
      expect(await inv.listDiskAttachments({ diskId: d.id })).toEqual([]);
    }
    await inv.removeVm(HOLDER_A!.id);
  });

  it('removeDisk takes the disk’s attachments with it', async () => {
    const { inv } = await h.seeded(SEED);
    await inv.removeDisk(SHARED.id);
    expect(await inv.listDiskAttachments({ diskId: SHARED.id })).toEqual([]);
    expect((await inv.listDisks({ attachedTo: HOLDER_A!.id })).map((d) => d.id)).not.toContain(SHARED.id);
    expect(await inv.getVm(HOLDER_A!.id)).toBeDefined();
  });

  it('addDisk attaches a disk given a VM (plugged); a shareable one is attached but owned by none', async () => {
    const { inv } = await h.seeded(SEED);
    const base: NewDisk = {
      id: uuid(1),
      poolId: POOL_ID,
      alias: 'new',
      vmId: HOLDER_A!.id,
      domainId: ISCSI.id,
      sizeBytes: GiB,
      wipeAfterDelete: false,
      shareable: false,
      status: 'LOCKED',
      format: 'COW',
      volumeType: 'SPARSE',
      volumeId: uuid(2),
    };
    await inv.addDisk(base);
    await inv.addDisk(base);
    expect(await inv.listDiskAttachments({ diskId: base.id })).toEqual([
      { vmId: HOLDER_A!.id, diskId: base.id, plugged: true, passDiscard: false },
    ]);
    expect((await inv.getDisk(base.id))?.vmId).toBe(HOLDER_A!.id);
    await inv.addDisk({ ...base, id: uuid(3), volumeId: uuid(4), shareable: true });
    expect((await inv.getDisk(uuid(3)))?.vmId).toBeNull();
    expect(await inv.listDiskAttachments({ diskId: uuid(3) })).toEqual([
      { vmId: HOLDER_A!.id, diskId: uuid(3), plugged: true, passDiscard: false },
    ]);
    await inv.addDisk({ ...base, id: uuid(5), volumeId: uuid(6), vmId: null });
    expect(await inv.listDiskAttachments({ diskId: uuid(5) })).toEqual([]);
  });

  describe('upgrade from version 3', () => {
    const MIGRATIONS = kind === 'sqlite' ? SQLITE_MIGRATIONS : POSTGRES_MIGRATIONS;
    const bool = (b: boolean) => (kind === 'sqlite' ? String(Number(b)) : String(b));
    const now = kind === 'sqlite' ? `'2026-01-01T00:00:00.000Z'` : 'now()';
    const VM_1 = uuid(71);
    const VM_2 = uuid(72);
    const disk = (n: number, vmId: string | null, shareable: boolean, domainId: string) =>
      `('${uuid(n)}', '${POOL_ID}', 'd${n}', ${vmId ? `'${vmId}'` : 'NULL'}, '${domainId}', ${GiB}, ${bool(false)}, ${bool(shareable)}, 'OK')`;
    const volume = (n: number, domainId: string) =>
      `('${uuid(n + 100)}', '${uuid(n)}', '${domainId}', NULL, ${bool(true)}, NULL, 'RAW', 'SPARSE', 'LEGAL', ${GiB}, NULL, ${now})`;

    it('each disk’s vm_id becomes a plugged attachment; a shareable disk’s vm_id is cleared; block domains can discard', async () => {
      const url = await h.backend().newUrl();
      await h.backend().exec(
        url,
        `${MIGRATIONS[0]!.sql}
         ${MIGRATIONS[1]!.sql}
         ${MIGRATIONS[2]!.sql}
         CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at ${kind === 'sqlite' ? 'TEXT' : 'TIMESTAMPTZ'} NOT NULL);
         INSERT INTO schema_version VALUES (1, ${now}), (2, ${now}), (3, ${now});
         INSERT INTO storage_pools VALUES ('${POOL_ID}', 'dc', '${NFS.id}');
         INSERT INTO storage_domains (id, pool_id, name, storage_type, discard_after_delete, size_bytes)
           VALUES ('${NFS.id}', '${POOL_ID}', 'nfs', 'nfs', ${bool(false)}, ${100 * GiB}),
                  ('${ISCSI.id}', '${POOL_ID}', 'iscsi', 'iscsi', ${bool(true)}, ${100 * GiB});
         INSERT INTO vms (id, pool_id, name, status, delete_protected)
           VALUES ('${VM_1}', '${POOL_ID}', 'one', 'Down', ${bool(false)}),
                  ('${VM_2}', '${POOL_ID}', 'two', 'Up', ${bool(false)});
         INSERT INTO disks (id, pool_id, alias, vm_id, domain_id, size_bytes, wipe_after_delete, shareable, status)
           VALUES ${disk(81, VM_1, false, NFS.id)}, ${disk(82, VM_2, true, ISCSI.id)}, ${disk(83, null, false, NFS.id)};
         INSERT INTO volumes (id, disk_id, domain_id, parent_id, active, snapshot_id, format, volume_type, legality,
                              size_bytes, actual_size_bytes, created_at)
           VALUES ${volume(81, NFS.id)}, ${volume(82, ISCSI.id)}, ${volume(83, NFS.id)};`,
      );
      const inv = h.open(url);
      await expect(inv.init()).resolves.toBe(false);
      expect(await inv.listDiskAttachments()).toEqual([
        { vmId: VM_1, diskId: uuid(81), plugged: true, passDiscard: false },
        { vmId: VM_2, diskId: uuid(82), plugged: true, passDiscard: false },
      ]);
      expect((await inv.getDisk(uuid(81)))?.vmId).toBe(VM_1);
      expect((await inv.getDisk(uuid(82)))?.vmId).toBeNull();
      expect((await inv.listDisks({ attachedTo: VM_2 })).map((d) => d.id)).toEqual([uuid(82)]);
      expect((await inv.getDomain(ISCSI.id))?.supportsDiscard).toBe(true);
      expect((await inv.getDomain(NFS.id))?.supportsDiscard).toBe(false);
      expect(await h.backend().raw(url, 'SELECT max(version) AS v FROM schema_version')).toEqual([
        { v: LATEST_SCHEMA_VERSION },
      ]);
    });
  });
});
