/**
 * RemoveSnapshot's inventory write, applySnapshotMerge, on both adapters: the snapshot's volume
 * (base) takes its child's (top's) place, the top's child is rebased, the top goes or stays as an
 * ILLEGAL leftover outside the chain; idempotent; refused for volumes that are not parent and child.
 */
import { generateDataCenter } from '../src/fixture';
import { InventoryConflictError, type InventorySeed, type Volume } from '../src/inventory';
import { BACKENDS, rejection, useBackend } from './support/inventory-backends';

const FIXTURE = generateDataCenter({ name: 'MergeTest', vmCount: 8, hostCount: 1 });
const SEED: InventorySeed = { fixture: FIXTURE, vdsmAddress: '127.0.0.1', vdsmBasePort: 54_700 };
const WEB = FIXTURE.vms.find((v) => v.name === 'web-01')!;
const DISK = FIXTURE.disks.find((d) => d.volumeIds.length === 1 && d.vmId === WEB.id)!;
const BASE = DISK.volumeIds[0]!;

const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const [S1, S2, V1, V2] = [uuid(1), uuid(2), uuid(11), uuid(12)];
const leaf = (id: string) => ({
  id,
  diskId: DISK.id,
  domainId: DISK.domainId,
  format: 'COW' as const,
  volumeType: 'SPARSE' as const,
  legality: 'LEGAL' as const,
  sizeBytes: DISK.sizeBytes * 2,
  actualSizeBytes: null,
});
const shape = (volumes: Volume[]) =>
  volumes.map(({ id, parentId, active, snapshotId, legality }) => ({
    id,
    parentId,
    active,
    snapshotId,
    legality,
  }));

describe.each(BACKENDS)('%s inventory: applySnapshotMerge', (_kind, makeBackend) => {
  const h = useBackend(makeBackend);

  /** DISK: BASE (snapshot S1) ← V1 (snapshot S2) ← V2 (active), or BASE (S1) ← V1 (active). */
  async function snapshotted(twoSnapshots: boolean) {
    const { inv } = await h.seeded(SEED);
    await inv.addSnapshot({ id: S1, vmId: WEB.id, description: 'one', status: 'OK' });
    await inv.addSnapshotLeaf({ diskId: DISK.id, snapshotId: S1, newVolume: leaf(V1) });
    if (twoSnapshots) {
      await inv.addSnapshot({ id: S2, vmId: WEB.id, description: 'two', status: 'OK' });
      await inv.addSnapshotLeaf({ diskId: DISK.id, snapshotId: S2, newVolume: leaf(V2) });
    }
    return inv;
  }

  it('a leaf top: the base is the active leaf again, the top goes, the snapshot can go; twice is once', async () => {
    const inv = await snapshotted(false);
    const merge = { diskId: DISK.id, baseVolumeId: BASE, topVolumeId: V1, topLeftIllegal: false };
    await inv.applySnapshotMerge(merge);
    await inv.applySnapshotMerge(merge);

    expect(shape(await inv.listVolumes({ diskId: DISK.id }))).toEqual([
      { id: BASE, parentId: null, active: true, snapshotId: null, legality: 'LEGAL' },
    ]);
    // The base grew to the top's capacity (prepareMerge extends it).
    expect((await inv.getVolume(BASE))?.sizeBytes).toBe(DISK.sizeBytes * 2);
    await inv.removeSnapshot(S1);
    expect(await inv.getSnapshot(S1)).toBeUndefined();
  });

  it("an internal top: the base takes the top's snapshot and the leaf is rebased onto it", async () => {
    const inv = await snapshotted(true);
    await inv.applySnapshotMerge({
      diskId: DISK.id,
      baseVolumeId: BASE,
      topVolumeId: V1,
      topLeftIllegal: false,
    });

    expect(shape(await inv.listVolumes({ diskId: DISK.id }))).toEqual([
      { id: BASE, parentId: null, active: false, snapshotId: S2, legality: 'LEGAL' },
      { id: V2, parentId: BASE, active: true, snapshotId: null, legality: 'LEGAL' },
    ]);
    expect(await inv.listVolumes({ snapshotId: S1 })).toEqual([]);
    expect((await inv.getDisk(DISK.id))?.volumeIds).toEqual([BASE, V2]);
  });

  it('a top VDSM could not delete stays as an ILLEGAL volume outside the chain; twice is once', async () => {
    const inv = await snapshotted(true);
    const merge = { diskId: DISK.id, baseVolumeId: BASE, topVolumeId: V1, topLeftIllegal: true };
    await inv.applySnapshotMerge(merge);
    await inv.applySnapshotMerge(merge);

    const volumes = await inv.listVolumes({ diskId: DISK.id });
    expect(shape(volumes).sort((a, b) => a.id.localeCompare(b.id))).toEqual(
      [
        { id: BASE, parentId: null, active: false, snapshotId: S2, legality: 'LEGAL' },
        { id: V1, parentId: BASE, active: false, snapshotId: null, legality: 'ILLEGAL' },
        { id: V2, parentId: BASE, active: true, snapshotId: null, legality: 'LEGAL' },
      ].sort((a, b) => a.id.localeCompare(b.id)),
    );
    expect(await inv.listVolumes({ snapshotId: S1 })).toEqual([]);
  });

  it('refuses volumes that are not parent and child on the disk, and changes nothing', async () => {
    const inv = await snapshotted(true);
    const before = await inv.listVolumes({ diskId: DISK.id });
    const err = await rejection(
      inv.applySnapshotMerge({ diskId: DISK.id, baseVolumeId: BASE, topVolumeId: V2, topLeftIllegal: false }),
    );
    expect(err).toBeInstanceOf(InventoryConflictError);
    expect((err as Error).message).toContain(`volume ${V2} is not the child of ${BASE}`);
    expect(await inv.listVolumes({ diskId: DISK.id })).toEqual(before);
  });
});
