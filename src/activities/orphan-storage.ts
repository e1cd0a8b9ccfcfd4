/**
 * The storage half of the orphan rules (src/activities/orphan-locks.ts): what the pool's SPM says
 * of a LOCKED disk's image and volumes, and the verdict for the disk.
 */
import type { Disk } from '../inventory/port';
import type { VdsmTaskStatus, VolumeInfo } from '../vdsm/port';
import type { OrphanChange } from './orphan-locks';
import type { CommandKind } from './orphan-running';
import type { SpmLocator } from './spm-locator';

const sameSet = (a: string[], b: string[]): boolean =>
  a.length === b.length && [...a].sort().join() === [...b].sort().join();

/** Storage as the pool's SPM reports it, each answer asked once per plan. */
export class StorageView {
  private readonly images = new Map<string, Promise<Set<string>>>();
  private taskStatuses: Promise<Record<string, VdsmTaskStatus>> | undefined;
  constructor(
    private readonly spm: SpmLocator,
    readonly poolId: string,
  ) {}

  imagesOf(domainId: string): Promise<Set<string>> {
    let images = this.images.get(domainId);
    if (!images) {
      images = this.spm
        .onSpm(this.poolId, (s) => s.api.storageDomainGetImages(domainId))
        .then((ids) => new Set(ids));
      this.images.set(domainId, images);
    }
    return images;
  }

  volumesOf(disk: Disk): Promise<string[]> {
    return this.spm.onSpm(this.poolId, (s) =>
      s.api.imageGetVolumes({ imageID: disk.id, storagepoolID: this.poolId, storagedomainID: disk.domainId }),
    );
  }

  volumeInfo(disk: Disk, volumeId: string): Promise<VolumeInfo> {
    return this.spm.onSpm(this.poolId, (s) =>
      s.api.volumeGetInfo({
        volumeID: volumeId,
        imageID: disk.id,
        storagepoolID: this.poolId,
        storagedomainID: disk.domainId,
      }),
    );
  }

  tasks(): Promise<Record<string, VdsmTaskStatus>> {
    this.taskStatuses ??= this.spm.onSpm(this.poolId, (s) => s.api.hostGetAllTasksStatuses());
    return this.taskStatuses;
  }
}

export type DiskVerdict = { change: OrphanChange } | { unproven: string } | null;

/** The rules of the header for one disk; null when it is not LOCKED (nothing to restore). */
export async function proveDisk(
  view: StorageView,
  disk: Disk,
  kind: CommandKind | null,
): Promise<DiskVerdict> {
  if (disk.status !== 'LOCKED') return null;
  const base = { diskId: disk.id, alias: disk.alias };
  const onDomain = (await view.imagesOf(disk.domainId)).has(disk.id);
  const stored = onDomain ? await view.volumesOf(disk) : [];
  if (kind === 'AddDisk') {
    const volumeId = disk.volumeIds[0];
    if (!volumeId || !stored.includes(volumeId))
      return { change: { kind: 'removeDisk', ...base, why: 'its new volume is not on storage' } };
  } else if (!onDomain) {
    return {
      change: {
        kind: 'diskStatus',
        ...base,
        from: 'LOCKED',
        to: 'ILLEGAL',
        why: 'its image is not on its domain (purged, or renamed for removal and never purged)',
      },
    };
  }
  if (!sameSet(stored, disk.volumeIds)) {
    const unknown = stored.filter((v) => !disk.volumeIds.includes(v));
    const missing = disk.volumeIds.filter((v) => !stored.includes(v));
    return {
      unproven: `storage and inventory disagree on its volumes${unknown.length ? `; storage only: ${unknown.join(', ')}` : ''}${missing.length ? `; inventory only: ${missing.join(', ')}` : ''}`,
    };
  }
  const infos = await Promise.all(stored.map((v) => view.volumeInfo(disk, v)));
  const illegal = infos.filter((i) => i.legality !== 'LEGAL').map((i) => i.uuid);
  if (illegal.length)
    return {
      change: {
        kind: 'diskStatus',
        ...base,
        from: 'LOCKED',
        to: 'ILLEGAL',
        why: `VDSM reports volume(s) ${illegal.join(', ')} ILLEGAL`,
      },
    };
  const change: OrphanChange = {
    kind: 'diskStatus',
    ...base,
    from: 'LOCKED',
    to: 'OK',
    why: 'its image is on storage with every volume the inventory lists, all LEGAL',
  };
  if (kind === 'AddDisk') {
    const info = infos[0]!;
    change.volume = {
      id: info.uuid,
      facts: {
        sizeBytes: Number(info.capacity),
        actualSizeBytes: Number(info.truesize),
        format: info.format,
        volumeType: info.type,
        legality: info.legality,
      },
    };
  }
  return { change };
}
