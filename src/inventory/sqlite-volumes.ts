/**
 * The SQLite side of disks' volumes and snapshots. Each function runs inside one transaction of
 * SqliteInventory (writes are BEGIN IMMEDIATE, so SQLite serialises them: a check and the write that
 * depends on it cannot interleave with another writer).
 */
import type Database from 'better-sqlite3';
import {
  DiskRow,
  SnapshotRow,
  VolumeRow,
  checkImageStatus,
  parseRow,
  parseRows,
  type DiskRecord,
} from './codec';
import { InventoryConflictError } from './errors';
import {
  NotFoundError,
  type Disk,
  type DiskAttachment,
  type InventoryRepository,
  type NewDisk,
  type Snapshot,
  type Volume,
} from './port';
import { chainsOrder, checkSnapshotStatus, checkVolumeFields, withVolumes } from './volumes';

export type Stmt = (sql: string) => Database.Statement;
/** What the helper modules of SqliteInventory get: its statement cache and its transactions. */
export interface SqliteDb {
  /** The prepared statement of `sql` (cached). */
  q: Stmt;
  /** Runs `body` as one read transaction: every statement in it sees the same snapshot. */
  read<T>(operation: string, body: () => T): Promise<T>;
  /** Runs `body` as one write transaction (BEGIN IMMEDIATE). */
  write<T>(operation: string, body: () => T): Promise<T>;
}
type NewVolume = Omit<Volume, 'createdAt'>;
export type VolumePatch = Parameters<InventoryRepository['updateVolume']>[1];

const bit = (value: boolean): number => (value ? 1 : 0);
const now = (): string => new Date().toISOString();

/** The disks of `records` with their chains. */
export function disksWithVolumes(stmt: Stmt, records: DiskRecord[], operation: string): Disk[] {
  if (records.length === 0) return [];
  const rows =
    records.length === 1
      ? stmt('SELECT * FROM volumes WHERE disk_id = ?').all(records[0]!.id)
      : stmt('SELECT * FROM volumes WHERE disk_id IN (SELECT value FROM json_each(?))').all(
          JSON.stringify(records.map((d) => d.id)),
        );
  return withVolumes(records, parseRows(VolumeRow, rows, operation), operation);
}

export function insertAttachment(stmt: Stmt, a: DiskAttachment): void {
  stmt('INSERT INTO vm_disks (vm_id, disk_id, plugged, pass_discard) VALUES (?, ?, ?, ?)').run(
    a.vmId,
    a.diskId,
    bit(a.plugged),
    bit(a.passDiscard),
  );
}

export function insertVolume(stmt: Stmt, v: NewVolume, createdAt: string): void {
  stmt(
    `INSERT INTO volumes (id, disk_id, domain_id, parent_id, active, snapshot_id, format, volume_type,
                          legality, size_bytes, actual_size_bytes, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    v.id,
    v.diskId,
    v.domainId,
    v.parentId,
    bit(v.active),
    v.snapshotId,
    v.format,
    v.volumeType,
    v.legality,
    v.sizeBytes,
    v.actualSizeBytes,
    createdAt,
  );
}

function getVolume(stmt: Stmt, id: string, operation: string): Volume | undefined {
  return parseRow(VolumeRow, stmt('SELECT * FROM volumes WHERE id = ?').get(id), operation);
}

function activeLeaf(stmt: Stmt, diskId: string, operation: string): Volume | undefined {
  return parseRow(
    VolumeRow,
    stmt('SELECT * FROM volumes WHERE disk_id = ? AND active = 1').get(diskId),
    operation,
  );
}

function requireDisk(stmt: Stmt, diskId: string, operation: string): DiskRecord {
  const disk = parseRow(DiskRow, stmt('SELECT * FROM disks WHERE id = ?').get(diskId), operation);
  if (!disk) throw new NotFoundError('Disk', diskId);
  return disk;
}

export function checkNewDisk(disk: NewDisk): void {
  checkImageStatus(disk.status, 'addDisk');
  checkVolumeFields(disk, 'addDisk');
}

export function addDisk(stmt: Stmt, disk: NewDisk): void {
  if (stmt('SELECT 1 FROM disks WHERE id = ?').get(disk.id) !== undefined) return;
  if (stmt('SELECT 1 FROM storage_pools WHERE id = ?').get(disk.poolId) === undefined) {
    throw new NotFoundError('StoragePool', disk.poolId);
  }
  const domain = stmt('SELECT pool_id FROM storage_domains WHERE id = ?').get(disk.domainId) as
    { pool_id: string } | undefined;
  if (!domain) throw new NotFoundError('StorageDomain', disk.domainId);
  if (domain.pool_id !== disk.poolId) {
    throw new InventoryConflictError('addDisk', `domain ${disk.domainId} is not in pool ${disk.poolId}`);
  }
  if (disk.vmId !== null && stmt('SELECT 1 FROM vms WHERE id = ?').get(disk.vmId) === undefined) {
    throw new NotFoundError('VM', disk.vmId);
  }
  const clash = getVolume(stmt, disk.volumeId, 'addDisk');
  if (clash) {
    throw new InventoryConflictError('addDisk', `volume ${disk.volumeId} belongs to disk ${clash.diskId}`);
  }
  stmt(
    `INSERT INTO disks (id, pool_id, alias, vm_id, domain_id, size_bytes, wipe_after_delete, shareable, status)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    disk.id,
    disk.poolId,
    disk.alias,
    disk.shareable ? null : disk.vmId,
    disk.domainId,
    disk.sizeBytes,
    bit(disk.wipeAfterDelete),
    bit(disk.shareable),
    disk.status,
  );
  insertVolume(
    stmt,
    {
      id: disk.volumeId,
      diskId: disk.id,
      domainId: disk.domainId,
      parentId: null,
      active: true,
      snapshotId: null,
      format: disk.format,
      volumeType: disk.volumeType,
      legality: 'LEGAL',
      sizeBytes: disk.sizeBytes,
      actualSizeBytes: null,
    },
    now(),
  );
  if (disk.vmId !== null) {
    insertAttachment(stmt, { vmId: disk.vmId, diskId: disk.id, plugged: true, passDiscard: false });
  }
}

export function listVolumes(stmt: Stmt, filter: { diskId?: string; snapshotId?: string }): Volume[] {
  const rows = stmt(
    `SELECT * FROM volumes WHERE (@diskId IS NULL OR disk_id = @diskId)
       AND (@snapshotId IS NULL OR snapshot_id = @snapshotId)`,
  ).all({ diskId: filter.diskId ?? null, snapshotId: filter.snapshotId ?? null });
  return chainsOrder(parseRows(VolumeRow, rows, 'listVolumes'));
}

export function findVolume(stmt: Stmt, id: string): Volume | undefined {
  return getVolume(stmt, id, 'getVolume');
}

export function addVolume(stmt: Stmt, volume: NewVolume): void {
  if (getVolume(stmt, volume.id, 'addVolume')) return;
  requireDisk(stmt, volume.diskId, 'addVolume');
  if (volume.active) {
    const leaf = activeLeaf(stmt, volume.diskId, 'addVolume');
    if (leaf) {
      throw new InventoryConflictError(
        'addVolume',
        `disk ${volume.diskId} already has the active volume ${leaf.id}`,
      );
    }
  }
  insertVolume(stmt, volume, now());
}

export function updateVolume(stmt: Stmt, id: string, patch: VolumePatch): void {
  const volume = getVolume(stmt, id, 'updateVolume');
  if (!volume) throw new NotFoundError('Volume', id);
  if (patch.active === true && !volume.active) {
    const leaf = activeLeaf(stmt, volume.diskId, 'updateVolume');
    if (leaf) {
      throw new InventoryConflictError(
        'updateVolume',
        `disk ${volume.diskId} already has the active volume ${leaf.id}`,
      );
    }
  }
  const next = { ...volume, ...patch };
  stmt(
    `UPDATE volumes SET active = ?, snapshot_id = ?, legality = ?, size_bytes = ?, actual_size_bytes = ?,
       format = ?, volume_type = ? WHERE id = ?`,
  ).run(
    bit(next.active),
    next.snapshotId,
    next.legality,
    next.sizeBytes,
    next.actualSizeBytes,
    next.format,
    next.volumeType,
    id,
  );
}

export function removeVolume(stmt: Stmt, id: string): void {
  const volume = getVolume(stmt, id, 'removeVolume');
  if (!volume) return;
  const child = stmt('SELECT id FROM volumes WHERE parent_id = ? LIMIT 1').get(id) as
    { id: string } | undefined;
  if (child) throw new InventoryConflictError('removeVolume', `volume ${id} is the parent of ${child.id}`);
  const others = stmt('SELECT count(*) AS n FROM volumes WHERE disk_id = ? AND id <> ?').get(
    volume.diskId,
    id,
  ) as { n: number };
  if (others.n === 0) {
    throw new InventoryConflictError(
      'removeVolume',
      `volume ${id} is the last of disk ${volume.diskId}: remove the disk instead`,
    );
  }
  stmt('DELETE FROM volumes WHERE id = ?').run(id);
}

export function addSnapshotLeaf(
  stmt: Stmt,
  input: Parameters<InventoryRepository['addSnapshotLeaf']>[0],
): void {
  const { diskId, snapshotId, newVolume } = input;
  const existing = getVolume(stmt, newVolume.id, 'addSnapshotLeaf');
  if (existing) {
    if (existing.diskId !== diskId) {
      throw new InventoryConflictError(
        'addSnapshotLeaf',
        `volume ${newVolume.id} belongs to disk ${existing.diskId}, not ${diskId}`,
      );
    }
    return;
  }
  if (newVolume.diskId !== diskId) {
    throw new InventoryConflictError(
      'addSnapshotLeaf',
      `the new volume names disk ${newVolume.diskId}, not ${diskId}`,
    );
  }
  requireDisk(stmt, diskId, 'addSnapshotLeaf');
  if (stmt('SELECT 1 FROM snapshots WHERE id = ?').get(snapshotId) === undefined) {
    throw new NotFoundError('Snapshot', snapshotId);
  }
  const leaf = activeLeaf(stmt, diskId, 'addSnapshotLeaf');
  if (!leaf) throw new InventoryConflictError('addSnapshotLeaf', `disk ${diskId} has no active volume`);
  stmt('UPDATE volumes SET active = 0, snapshot_id = ? WHERE id = ?').run(snapshotId, leaf.id);
  insertVolume(stmt, { ...newVolume, parentId: leaf.id, active: true, snapshotId: null }, now());
}

export function removeSnapshotLeaf(stmt: Stmt, input: { diskId: string; volumeId: string }): void {
  const volume = getVolume(stmt, input.volumeId, 'removeSnapshotLeaf');
  if (!volume) return;
  if (volume.diskId !== input.diskId || !volume.active || volume.parentId === null) {
    throw new InventoryConflictError(
      'removeSnapshotLeaf',
      `volume ${input.volumeId} is not a snapshot leaf of disk ${input.diskId}`,
    );
  }
  stmt('DELETE FROM volumes WHERE id = ?').run(volume.id);
  stmt('UPDATE volumes SET active = 1, snapshot_id = NULL WHERE id = ?').run(volume.parentId);
}

export function applySnapshotMerge(
  stmt: Stmt,
  input: Parameters<InventoryRepository['applySnapshotMerge']>[0],
): void {
  const op = 'applySnapshotMerge';
  const top = getVolume(stmt, input.topVolumeId, op);
  if (!top) return;
  const children = parseRows(VolumeRow, stmt('SELECT * FROM volumes WHERE parent_id = ?').all(top.id), op);
  // Already out of the chain (an earlier attempt kept it ILLEGAL): a top is a leaf or has a child.
  if (!top.active && children.length === 0) return;
  const base = getVolume(stmt, input.baseVolumeId, op);
  if (!base || top.diskId !== input.diskId || base.diskId !== input.diskId || top.parentId !== base.id) {
    throw new InventoryConflictError(
      op,
      `volume ${input.topVolumeId} is not the child of ${input.baseVolumeId} on disk ${input.diskId}`,
    );
  }
  stmt('UPDATE volumes SET parent_id = ? WHERE parent_id = ?').run(base.id, top.id);
  if (input.topLeftIllegal) {
    stmt("UPDATE volumes SET active = 0, snapshot_id = NULL, legality = 'ILLEGAL' WHERE id = ?").run(top.id);
  } else {
    stmt('DELETE FROM volumes WHERE id = ?').run(top.id);
  }
  stmt('UPDATE volumes SET active = ?, snapshot_id = ?, size_bytes = ? WHERE id = ?').run(
    bit(top.active),
    top.snapshotId,
    Math.max(base.sizeBytes, top.sizeBytes),
    base.id,
  );
}

export function addSnapshot(stmt: Stmt, snapshot: Omit<Snapshot, 'createdAt'>): void {
  if (stmt('SELECT 1 FROM snapshots WHERE id = ?').get(snapshot.id) !== undefined) return;
  if (stmt('SELECT 1 FROM vms WHERE id = ?').get(snapshot.vmId) === undefined) {
    throw new NotFoundError('VM', snapshot.vmId);
  }
  stmt('INSERT INTO snapshots (id, vm_id, description, status, created_at) VALUES (?, ?, ?, ?, ?)').run(
    snapshot.id,
    snapshot.vmId,
    snapshot.description,
    snapshot.status,
    now(),
  );
}

export function getSnapshot(stmt: Stmt, id: string): Snapshot | undefined {
  return parseRow(SnapshotRow, stmt('SELECT * FROM snapshots WHERE id = ?').get(id), 'getSnapshot');
}

export function listSnapshots(stmt: Stmt, filter: { vmId?: string }): Snapshot[] {
  return parseRows(
    SnapshotRow,
    stmt('SELECT * FROM snapshots WHERE (? IS NULL OR vm_id = ?) ORDER BY created_at, id').all(
      filter.vmId ?? null,
      filter.vmId ?? null,
    ),
    'listSnapshots',
  );
}

export function setSnapshotStatus(stmt: Stmt, id: string, status: Snapshot['status']): void {
  checkSnapshotStatus(status, 'setSnapshotStatus');
  const { changes } = stmt('UPDATE snapshots SET status = ? WHERE id = ?').run(status, id);
  if (changes === 0) throw new NotFoundError('Snapshot', id);
}

export function removeSnapshot(stmt: Stmt, id: string): void {
  const volume = stmt('SELECT id FROM volumes WHERE snapshot_id = ? LIMIT 1').get(id) as
    { id: string } | undefined;
  if (volume) {
    throw new InventoryConflictError('removeSnapshot', `volume ${volume.id} still belongs to snapshot ${id}`);
  }
  stmt('DELETE FROM snapshots WHERE id = ?').run(id);
}
