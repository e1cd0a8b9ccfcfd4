/**
 * Volume chains, shared by both adapters: ordering a disk's volumes base first, deriving what a
 * disk shows from them, and checking volume and snapshot inputs before they are written.
 */
import { baseVolumeFormat, domainKind, type DataCenterFixture } from '../fixture/schema';
import {
  SnapshotStatuses,
  VolumeFormats,
  VolumeLegalities,
  VolumeTypes,
  checkOneOf,
  checkPositiveInt,
  type DiskRecord,
} from './codec';
import { InventoryError } from './errors';
import type { Disk, Snapshot, Volume } from './port';

const byAge = (a: Volume, b: Volume): number =>
  a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

/**
 * One disk's volumes base first, following parent links. A chain is a line; should it not be (a
 * parent that is gone, a fork), every volume still appears once: roots and siblings oldest first.
 */
export function chainOrder(volumes: Volume[]): Volume[] {
  const ids = new Set(volumes.map((v) => v.id));
  const children = new Map<string | null, Volume[]>();
  for (const v of [...volumes].sort(byAge)) {
    const parent = v.parentId !== null && ids.has(v.parentId) ? v.parentId : null;
    children.set(parent, [...(children.get(parent) ?? []), v]);
  }
  const ordered: Volume[] = [];
  const seen = new Set<string>();
  const walk = (parent: string | null): void => {
    for (const v of children.get(parent) ?? []) {
      if (seen.has(v.id)) continue;
      seen.add(v.id);
      ordered.push(v);
      walk(v.id);
    }
  };
  walk(null);
  // A cycle of parent links has no root: append what the walk could not reach.
  for (const v of [...volumes].sort(byAge)) if (!seen.has(v.id)) ordered.push(v);
  return ordered;
}

/** Volumes of several disks: by disk id, each disk's chain base first. */
export function chainsOrder(volumes: Volume[]): Volume[] {
  const byDisk = groupByDisk(volumes);
  return [...byDisk.keys()].sort().flatMap((diskId) => chainOrder(byDisk.get(diskId) ?? []));
}

function groupByDisk(volumes: Volume[]): Map<string, Volume[]> {
  const byDisk = new Map<string, Volume[]>();
  for (const v of volumes) byDisk.set(v.diskId, [...(byDisk.get(v.diskId) ?? []), v]);
  return byDisk;
}

/**
 * Disks as the port shows them: the chain from the volumes table, and the format of the active
 * volume (the last of the chain if none is active, between the two steps of an undo). A disk
 * without volumes cannot be made through the port: it is reported as a malformed store.
 */
export function withVolumes(disks: DiskRecord[], volumes: Volume[], operation: string): Disk[] {
  const byDisk = groupByDisk(volumes);
  return disks.map((disk) => {
    const chain = chainOrder(byDisk.get(disk.id) ?? []);
    const leaf = chain.find((v) => v.active) ?? chain.at(-1);
    if (!leaf) throw new InventoryError(operation, `disk ${disk.id} has no volumes`);
    return { ...disk, volumeIds: chain.map((v) => v.id), format: leaf.format, volumeType: leaf.volumeType };
  });
}

/** Checks what addVolume / addSnapshotLeaf / updateVolume write. */
export function checkVolumeFields(
  v: Partial<Pick<Volume, 'format' | 'volumeType' | 'legality' | 'sizeBytes' | 'actualSizeBytes'>>,
  operation: string,
): void {
  if (v.format !== undefined) checkOneOf(v.format, VolumeFormats, 'volume format', operation);
  if (v.volumeType !== undefined) checkOneOf(v.volumeType, VolumeTypes, 'volume type', operation);
  if (v.legality !== undefined) checkOneOf(v.legality, VolumeLegalities, 'volume legality', operation);
  if (v.sizeBytes !== undefined) checkPositiveInt(v.sizeBytes, 'sizeBytes', operation);
  if (v.actualSizeBytes !== undefined && v.actualSizeBytes !== null) {
    if (!Number.isSafeInteger(v.actualSizeBytes) || v.actualSizeBytes < 0) {
      throw new InventoryError(
        operation,
        `actualSizeBytes must be a non-negative integer, got ${v.actualSizeBytes}`,
      );
    }
  }
}

export function checkSnapshotStatus(status: Snapshot['status'], operation: string): void {
  checkOneOf(status, SnapshotStatuses, 'snapshot status', operation);
}

/**
 * A fixture disk's chain as volume rows: the base as the disk was created (`baseVolumeFormat`),
 * every volume above it COW + SPARSE (what a snapshot adds), the last one active. The fixture has
 * no snapshots, so the volumes below the leaf belong to none. An ILLEGAL disk's volumes are ILLEGAL
 * (the engine keeps the status per volume; a failed removal marks them all).
 */
export function fixtureVolumes(
  fixture: DataCenterFixture,
  disk: DataCenterFixture['disks'][number],
): Array<Omit<Volume, 'createdAt'>> {
  const domain = fixture.domains.find((d) => d.id === disk.domainId);
  const base = baseVolumeFormat(domainKind(domain?.storageType ?? 'nfs'), disk);
  return disk.volumeIds.map((id, i) => ({
    id,
    diskId: disk.id,
    domainId: disk.domainId,
    parentId: i === 0 ? null : (disk.volumeIds[i - 1] as string),
    active: i === disk.volumeIds.length - 1,
    snapshotId: null,
    format: i === 0 ? base.format : 'COW',
    volumeType: i === 0 ? base.volumeType : 'SPARSE',
    legality: disk.status === 'ILLEGAL' ? 'ILLEGAL' : 'LEGAL',
    sizeBytes: disk.sizeBytes,
    actualSizeBytes: null,
  }));
}
