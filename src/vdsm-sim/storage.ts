import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { baseVolumeFormat, type DataCenterFixture, domainKind } from '../fixture/schema';

/** VDSM's "no volume / no image" UUID (sc.BLANK_UUID). */
export const BLANK_UUID = '00000000-0000-0000-0000-000000000000';
/** VDSM wraps generations at sc.MAX_GENERATION. */
const MAX_GENERATION = 999;
/** The fixture has no creation times: a fixed one keeps the default data center identical everywhere. */
const FIXTURE_CTIME = 1_700_000_000;
/** Journal entries before the snapshot is rewritten and the journal emptied. */
const COMPACT_AFTER = 2000;

export type VolumeFormat = 'COW' | 'RAW';
export type VolumeAllocation = 'SPARSE' | 'PREALLOCATED';
export type Legality = 'LEGAL' | 'ILLEGAL';
/** sc.VOLUME_TYPES: SHARED is a template volume other images use as their parent. */
export type VolumeRole = 'LEAF' | 'INTERNAL' | 'SHARED';

export interface VolumeRecord {
  id: string;
  /** BLANK_UUID for a base volume. */
  parentId: string;
  format: VolumeFormat;
  type: VolumeAllocation;
  voltype: VolumeRole;
  diskType: string;
  capacity: number;
  description: string;
  legality: Legality;
  generation: number;
  ctime: number;
  /** Volume.create `sequence` (metadata SEQ); absent in storage written before it existed: 0. */
  sequence?: number;
  /** Volume.create `initialSize`: what a thin COW volume allocates at first. */
  initialSize?: number;
}

/** One volume of an image's chain as the control endpoint shows it (for comparing with the inventory). */
export interface ChainVolume {
  id: string;
  parent: string;
  voltype: VolumeRole;
  legality: Legality;
  format: VolumeFormat;
  type: VolumeAllocation;
  capacity: number;
  generation: number;
  sequence: number;
}

export interface ImageRecord {
  /** Image.delete renamed it to `_remove_me_<id>`: invisible to every verb, waiting for the purge. */
  removed: boolean;
  /** The volume chain, base first. */
  volumes: VolumeRecord[];
}

export interface SpmMetadata {
  /** vdsId of the SPM, -1 when none (SPM_ID_FREE). */
  spmId: number;
  /** Lease version; -1 before the first SPM (LVER_INVALID). */
  lver: number;
}

interface StorageState {
  poolId: string;
  spm: SpmMetadata;
  domains: Record<string, Record<string, ImageRecord>>;
}

type JournalEntry =
  | { op: 'image'; domainId: string; imageId: string; image: ImageRecord | null }
  | { op: 'spm'; spm: SpmMetadata };

/** sc.MAX_GENERATION + 1: generations count modulo this. */
export const GENERATION_MODULUS = MAX_GENERATION + 1;

export function nextGeneration(generation: number): number {
  return generation >= MAX_GENERATION ? 0 : generation + 1;
}

/** Atomic replace: readers (and a crash) see the old file or the new one, never half of one. */
export function writeFileAtomic(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

function seedFromFixture(fixture: DataCenterFixture): StorageState {
  const domains: StorageState['domains'] = {};
  for (const domain of fixture.domains) domains[domain.id] = {};
  for (const disk of fixture.disks) {
    const images = domains[disk.domainId];
    if (!images) continue;
    const chain = disk.volumeIds;
    // The inventory seeds the same formats (inventory/volumes.ts fixtureVolumes).
    const storageType = fixture.domains.find((d) => d.id === disk.domainId)?.storageType ?? 'nfs';
    const base = baseVolumeFormat(domainKind(storageType), disk);
    images[disk.id] = {
      removed: false,
      volumes: chain.map((volumeId, i) => ({
        id: volumeId,
        parentId: i === 0 ? BLANK_UUID : (chain[i - 1] ?? BLANK_UUID),
        // Snapshots on top of the base are thin qcow2 overlays.
        format: i === 0 ? base.format : 'COW',
        type: i === 0 ? base.volumeType : 'SPARSE',
        voltype: i === chain.length - 1 ? 'LEAF' : 'INTERNAL',
        diskType: 'DATA',
        capacity: disk.sizeBytes,
        description: i === 0 ? disk.alias : '',
        legality: disk.status === 'ILLEGAL' ? 'ILLEGAL' : 'LEGAL',
        generation: 0,
        ctime: FIXTURE_CTIME,
        // The engine numbers a chain from 1 (AddDisk sends sequence=1, each snapshot one more).
        sequence: i + 1,
      })),
    };
  }
  return { poolId: fixture.pool.id, spm: { spmId: -1, lver: -1 }, domains };
}

/**
 * The pool's shared storage: domains, images and their volume chains, plus the SPM lease metadata
 * kept on the master domain. It outlives every host, so a restarted simulator keeps deleted images
 * deleted. Persistence: a snapshot plus an append-only journal of absolute writes (replaying the
 * journal over a newer snapshot changes nothing), so each change costs one small synchronous append.
 */
export class StorageModel {
  private readonly snapshotPath: string;
  private readonly journalPath: string;
  private journalEntries = 0;

  private constructor(
    dir: string,
    private readonly state: StorageState,
  ) {
    this.snapshotPath = join(dir, 'storage.json');
    this.journalPath = join(dir, 'storage.journal');
  }

  /** Loads `<dir>/storage.json` + journal, or seeds both from the fixture. */
  static open(dir: string, fixture: DataCenterFixture): StorageModel {
    const snapshotPath = join(dir, 'storage.json');
    const state = existsSync(snapshotPath)
      ? (JSON.parse(readFileSync(snapshotPath, 'utf8')) as StorageState)
      : seedFromFixture(fixture);
    if (state.poolId !== fixture.pool.id) {
      throw new Error(
        `${snapshotPath} belongs to pool ${state.poolId}, not to the fixture's pool ${fixture.pool.id}`,
      );
    }
    const model = new StorageModel(dir, state);
    model.replayJournal();
    model.compact();
    return model;
  }

  get spm(): SpmMetadata {
    return { ...this.state.spm };
  }

  setSpm(spm: SpmMetadata): void {
    this.state.spm = { ...spm };
    this.append({ op: 'spm', spm });
  }

  hasDomain(domainId: string): boolean {
    return domainId in this.state.domains;
  }

  domainIds(): string[] {
    return Object.keys(this.state.domains);
  }

  /** The image as VDSM sees it: removed images do not exist. */
  image(domainId: string, imageId: string): ImageRecord | undefined {
    const image = this.state.domains[domainId]?.[imageId];
    return image && !image.removed ? structuredClone(image) : undefined;
  }

  imageIds(domainId: string): string[] {
    return Object.entries(this.state.domains[domainId] ?? {})
      .filter(([, image]) => !image.removed)
      .map(([id]) => id);
  }

  removedImageIds(domainId: string): string[] {
    return Object.entries(this.state.domains[domainId] ?? {})
      .filter(([, image]) => image.removed)
      .map(([id]) => id);
  }

  /** A visible volume of the domain, whatever its image. */
  findVolume(domainId: string, volumeId: string): { imageId: string; volume: VolumeRecord } | undefined {
    for (const [imageId, image] of Object.entries(this.state.domains[domainId] ?? {})) {
      if (image.removed) continue;
      const volume = image.volumes.find((v) => v.id === volumeId);
      if (volume) return { imageId, volume: { ...volume } };
    }
    return undefined;
  }

  /** Image.delete's synchronous rename to `_remove_me_`. */
  hideImage(domainId: string, imageId: string): void {
    const image = this.state.domains[domainId]?.[imageId];
    if (image) this.write(domainId, imageId, { ...image, removed: true });
  }

  /** Removes the image and its volumes, hidden or not (purge, rollback of a copy). */
  deleteImage(domainId: string, imageId: string): void {
    if (this.state.domains[domainId]?.[imageId]) this.write(domainId, imageId, null);
  }

  /** Puts a whole image (a copy made by Image.move). */
  putImage(domainId: string, imageId: string, image: ImageRecord): void {
    this.write(domainId, imageId, structuredClone(image));
  }

  /**
   * Adds `volume` after its parent in its image's chain, creating the image if needed. The parent
   * becomes INTERNAL (volume.clone: setInternal), a SHARED one stays SHARED.
   */
  addVolume(domainId: string, imageId: string, volume: VolumeRecord): void {
    const current = this.state.domains[domainId]?.[imageId];
    const volumes = (current?.volumes ?? []).map((v) =>
      v.id === volume.parentId && v.voltype === 'LEAF' ? { ...v, voltype: 'INTERNAL' as const } : v,
    );
    this.write(domainId, imageId, { removed: false, volumes: [...volumes, { ...volume }] });
  }

  /**
   * Removes a volume; its parent is a LEAF again once it has no child left (recheckIfLeaf). An
   * image left empty goes too.
   */
  removeVolume(domainId: string, imageId: string, volumeId: string): void {
    const current = this.state.domains[domainId]?.[imageId];
    const removed = current?.volumes.find((v) => v.id === volumeId);
    if (!current || !removed) return;
    const rest = current.volumes.filter((v) => v.id !== volumeId);
    const volumes = rest.map((v) =>
      v.id === removed.parentId && v.voltype === 'INTERNAL' && !rest.some((c) => c.parentId === v.id)
        ? { ...v, voltype: 'LEAF' as const }
        : v,
    );
    this.write(domainId, imageId, volumes.length > 0 ? { ...current, volumes } : null);
  }

  /** The image's volumes in chain order (base first), for the control endpoint; undefined if no such image. */
  chain(domainId: string, imageId: string): ChainVolume[] | undefined {
    return this.image(domainId, imageId)?.volumes.map((v) => ({
      id: v.id,
      parent: v.parentId,
      voltype: v.voltype,
      legality: v.legality,
      format: v.format,
      type: v.type,
      capacity: v.capacity,
      generation: v.generation,
      sequence: v.sequence ?? 0,
    }));
  }

  updateVolume(
    domainId: string,
    imageId: string,
    volumeId: string,
    patch: Partial<
      Pick<VolumeRecord, 'legality' | 'generation' | 'parentId' | 'voltype' | 'description' | 'capacity'>
    >,
  ): void {
    const current = this.state.domains[domainId]?.[imageId];
    if (!current?.volumes.some((v) => v.id === volumeId)) return;
    const volumes = current.volumes.map((v) => (v.id === volumeId ? { ...v, ...patch } : v));
    this.write(domainId, imageId, { ...current, volumes });
  }

  /** Rewrites the snapshot and empties the journal. */
  compact(): void {
    writeFileAtomic(this.snapshotPath, JSON.stringify(this.state));
    writeFileSync(this.journalPath, '');
    this.journalEntries = 0;
  }

  private write(domainId: string, imageId: string, image: ImageRecord | null): void {
    const images = (this.state.domains[domainId] ??= {});
    if (image) images[imageId] = image;
    else delete images[imageId];
    this.append({ op: 'image', domainId, imageId, image });
  }

  private append(entry: JournalEntry): void {
    appendFileSync(this.journalPath, `${JSON.stringify(entry)}\n`);
    this.journalEntries += 1;
    if (this.journalEntries >= COMPACT_AFTER) this.compact();
  }

  private replayJournal(): void {
    if (!existsSync(this.journalPath)) return;
    for (const line of readFileSync(this.journalPath, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      let entry: JournalEntry;
      try {
        entry = JSON.parse(line) as JournalEntry;
      } catch {
        // A torn last line (power loss mid-append) is a write that never happened.
        continue;
      }
      if (entry.op === 'spm') {
        this.state.spm = entry.spm;
      } else {
        const images = (this.state.domains[entry.domainId] ??= {});
        if (entry.image) images[entry.imageId] = entry.image;
        else delete images[entry.imageId];
      }
    }
  }
}
