/**
 * The PostgreSQL side of disks' volumes and snapshots. Each function runs inside one transaction of
 * PostgresInventory at READ COMMITTED. Whatever changes a disk's chain first locks the disk's row
 * (FOR UPDATE), so two changes of one chain (an activity and its overlapping retry) run one after
 * the other and the second sees what the first did.
 */
import type { PoolClient } from 'pg';
import { DiskRow, VolumeRow, parseRow, parseRows, type DiskRecord } from './codec';
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
import { chainsOrder, withVolumes } from './volumes';

export type Queryable = Pick<PoolClient, 'query'>;
/** What the helper modules of PostgresInventory get: its pool, statements and transactions. */
export interface PostgresDb {
  /** The pool itself, for statements that wrap their own errors. */
  pool: Queryable;
  /** One statement as its own transaction; errors become InventoryErrors of `operation`. */
  query(operation: string, sql: string, params?: unknown[]): Promise<{ rows: unknown[]; rowCount: number }>;
  /** Runs `body` in one transaction; a serialisation failure or deadlock runs it again. */
  transaction<T>(operation: string, body: (client: Queryable) => Promise<T>): Promise<T>;
}
type NewVolume = Omit<Volume, 'createdAt'>;
type VolumePatch = Parameters<InventoryRepository['updateVolume']>[1];

/**
 * Selects disks (alias `d`) with their volumes as a JSON array in one statement, so one snapshot
 * of the database answers both (two statements could see a disk and miss its volumes).
 */
export const DISK_WITH_VOLUMES = `d.*, COALESCE((SELECT json_agg(v.*) FROM volumes v WHERE v.disk_id = d.id), '[]'::json) AS volumes`;

/** Rows selected with DISK_WITH_VOLUMES, as disks. */
export function disksFromRows(rows: unknown[], operation: string): Disk[] {
  const records = parseRows(DiskRow, rows, operation);
  const volumes = parseRows(
    VolumeRow,
    rows.flatMap((row) => (row as { volumes?: unknown[] }).volumes ?? []),
    operation,
  );
  return withVolumes(records, volumes, operation);
}

/** Inserts volume rows given as a JSON array (seeding, addDisk, addVolume, addSnapshotLeaf). */
export async function insertVolumes(c: Queryable, volumes: NewVolume[]): Promise<void> {
  await c.query(
    `INSERT INTO volumes (id, disk_id, domain_id, parent_id, active, snapshot_id, format, volume_type,
                          legality, size_bytes, actual_size_bytes, created_at)
     SELECT "id", "diskId", "domainId", "parentId", "active", "snapshotId", "format", "volumeType",
            "legality", "sizeBytes", "actualSizeBytes", now()
     FROM jsonb_to_recordset($1::jsonb)
       AS r("id" text, "diskId" text, "domainId" text, "parentId" text, "active" boolean, "snapshotId" text,
            "format" text, "volumeType" text, "legality" text, "sizeBytes" bigint, "actualSizeBytes" bigint)`,
    [JSON.stringify(volumes)],
  );
}

async function one<T>(
  c: Queryable,
  schema: Parameters<typeof parseRow<T>>[0],
  sql: string,
  params: unknown[],
  operation: string,
): Promise<T | undefined> {
  const { rows } = await c.query(sql, params);
  return parseRow(schema, rows[0], operation);
}

async function exists(c: Queryable, sql: string, params: unknown[]): Promise<boolean> {
  return ((await c.query(sql, params)).rowCount ?? 0) > 0;
}

const getVolume = (c: Queryable, id: string, operation: string): Promise<Volume | undefined> =>
  one(c, VolumeRow, 'SELECT * FROM volumes WHERE id = $1', [id], operation);

const activeLeaf = (c: Queryable, diskId: string, operation: string): Promise<Volume | undefined> =>
  one(c, VolumeRow, 'SELECT * FROM volumes WHERE disk_id = $1 AND active', [diskId], operation);

/** Locks the disk's row for the rest of the transaction; undefined when there is no such disk. */
const lockDisk = (c: Queryable, diskId: string, operation: string): Promise<DiskRecord | undefined> =>
  one(c, DiskRow, 'SELECT * FROM disks WHERE id = $1 FOR UPDATE', [diskId], operation);

async function requireDisk(c: Queryable, diskId: string, operation: string): Promise<DiskRecord> {
  const disk = await lockDisk(c, diskId, operation);
  if (!disk) throw new NotFoundError('Disk', diskId);
  return disk;
}

export async function addDisk(c: Queryable, disk: NewDisk): Promise<void> {
  if (await exists(c, 'SELECT 1 FROM disks WHERE id = $1', [disk.id])) return;
  if (!(await exists(c, 'SELECT 1 FROM storage_pools WHERE id = $1', [disk.poolId]))) {
    throw new NotFoundError('StoragePool', disk.poolId);
  }
  const { rows } = await c.query<{ pool_id: string }>('SELECT pool_id FROM storage_domains WHERE id = $1', [
    disk.domainId,
  ]);
  if (!rows[0]) throw new NotFoundError('StorageDomain', disk.domainId);
  if (rows[0].pool_id !== disk.poolId) {
    throw new InventoryConflictError('addDisk', `domain ${disk.domainId} is not in pool ${disk.poolId}`);
  }
  if (disk.vmId !== null && !(await exists(c, 'SELECT 1 FROM vms WHERE id = $1', [disk.vmId]))) {
    throw new NotFoundError('VM', disk.vmId);
  }
  const clash = await getVolume(c, disk.volumeId, 'addDisk');
  // An overlapping attempt committed this very disk since the check above (READ COMMITTED).
  if (clash?.diskId === disk.id) return;
  if (clash) {
    throw new InventoryConflictError('addDisk', `volume ${disk.volumeId} belongs to disk ${clash.diskId}`);
  }
  const inserted = await c.query(
    `INSERT INTO disks (id, pool_id, alias, vm_id, domain_id, size_bytes, wipe_after_delete, shareable, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING`,
    [
      disk.id,
      disk.poolId,
      disk.alias,
      disk.shareable ? null : disk.vmId,
      disk.domainId,
      disk.sizeBytes,
      disk.wipeAfterDelete,
      disk.shareable,
      disk.status,
    ],
  );
  // An overlapping attempt added it first: its volume comes with it.
  if ((inserted.rowCount ?? 0) === 0) return;
  await insertVolumes(c, [
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
  ]);
  if (disk.vmId !== null) {
    await insertAttachments(c, [{ vmId: disk.vmId, diskId: disk.id, plugged: true, passDiscard: false }]);
  }
}

/** Inserts attachments given as a JSON array (seeding, addDisk). */
export async function insertAttachments(c: Queryable, attachments: DiskAttachment[]): Promise<void> {
  await c.query(
    `INSERT INTO vm_disks (vm_id, disk_id, plugged, pass_discard)
     SELECT "vmId", "diskId", "plugged", "passDiscard"
     FROM jsonb_to_recordset($1::jsonb) AS r("vmId" text, "diskId" text, "plugged" boolean, "passDiscard" boolean)`,
    [JSON.stringify(attachments)],
  );
}

export async function listVolumes(
  c: Queryable,
  filter: { diskId?: string; snapshotId?: string },
): Promise<Volume[]> {
  const { rows } = await c.query(
    `SELECT * FROM volumes WHERE ($1::text IS NULL OR disk_id = $1) AND ($2::text IS NULL OR snapshot_id = $2)`,
    [filter.diskId ?? null, filter.snapshotId ?? null],
  );
  return chainsOrder(parseRows(VolumeRow, rows, 'listVolumes'));
}

export const findVolume = (c: Queryable, id: string): Promise<Volume | undefined> =>
  getVolume(c, id, 'getVolume');

export async function addVolume(c: Queryable, volume: NewVolume): Promise<void> {
  await requireDisk(c, volume.diskId, 'addVolume');
  if (await getVolume(c, volume.id, 'addVolume')) return;
  if (volume.active) {
    const leaf = await activeLeaf(c, volume.diskId, 'addVolume');
    if (leaf) {
      throw new InventoryConflictError(
        'addVolume',
        `disk ${volume.diskId} already has the active volume ${leaf.id}`,
      );
    }
  }
  await insertVolumes(c, [volume]);
}

export async function updateVolume(c: Queryable, id: string, patch: VolumePatch): Promise<void> {
  const before = await getVolume(c, id, 'updateVolume');
  if (!before) throw new NotFoundError('Volume', id);
  await lockDisk(c, before.diskId, 'updateVolume');
  // Read again under the disk's lock: a change of the chain may have committed meanwhile.
  const volume = await getVolume(c, id, 'updateVolume');
  if (!volume) throw new NotFoundError('Volume', id);
  if (patch.active === true && !volume.active) {
    const leaf = await activeLeaf(c, volume.diskId, 'updateVolume');
    if (leaf) {
      throw new InventoryConflictError(
        'updateVolume',
        `disk ${volume.diskId} already has the active volume ${leaf.id}`,
      );
    }
  }
  const next = { ...volume, ...patch };
  await c.query(
    `UPDATE volumes SET active = $1, snapshot_id = $2, legality = $3, size_bytes = $4, actual_size_bytes = $5,
       format = $6, volume_type = $7 WHERE id = $8`,
    [
      next.active,
      next.snapshotId,
      next.legality,
      next.sizeBytes,
      next.actualSizeBytes,
      next.format,
      next.volumeType,
      id,
    ],
  );
}

export async function removeVolume(c: Queryable, id: string): Promise<void> {
  const before = await getVolume(c, id, 'removeVolume');
  if (!before) return;
  await lockDisk(c, before.diskId, 'removeVolume');
  const volume = await getVolume(c, id, 'removeVolume');
  if (!volume) return;
  const child = await c.query<{ id: string }>('SELECT id FROM volumes WHERE parent_id = $1 LIMIT 1', [id]);
  if (child.rows[0]) {
    throw new InventoryConflictError('removeVolume', `volume ${id} is the parent of ${child.rows[0].id}`);
  }
  if (!(await exists(c, 'SELECT 1 FROM volumes WHERE disk_id = $1 AND id <> $2', [volume.diskId, id]))) {
    throw new InventoryConflictError(
      'removeVolume',
      `volume ${id} is the last of disk ${volume.diskId}: remove the disk instead`,
    );
  }
  await c.query('DELETE FROM volumes WHERE id = $1', [id]);
}

export async function addSnapshotLeaf(
  c: Queryable,
  input: Parameters<InventoryRepository['addSnapshotLeaf']>[0],
): Promise<void> {
  const { diskId, snapshotId, newVolume } = input;
  await requireDisk(c, diskId, 'addSnapshotLeaf');
  const existing = await getVolume(c, newVolume.id, 'addSnapshotLeaf');
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
  // FOR SHARE: removeSnapshot (FOR UPDATE) cannot remove it before this volume belongs to it.
  if (!(await exists(c, 'SELECT 1 FROM snapshots WHERE id = $1 FOR SHARE', [snapshotId]))) {
    throw new NotFoundError('Snapshot', snapshotId);
  }
  const leaf = await activeLeaf(c, diskId, 'addSnapshotLeaf');
  if (!leaf) throw new InventoryConflictError('addSnapshotLeaf', `disk ${diskId} has no active volume`);
  await c.query('UPDATE volumes SET active = false, snapshot_id = $1 WHERE id = $2', [snapshotId, leaf.id]);
  await insertVolumes(c, [{ ...newVolume, parentId: leaf.id, active: true, snapshotId: null }]);
}

export async function removeSnapshotLeaf(
  c: Queryable,
  input: { diskId: string; volumeId: string },
): Promise<void> {
  if (!(await lockDisk(c, input.diskId, 'removeSnapshotLeaf'))) return; // the disk and its volumes are gone
  const volume = await getVolume(c, input.volumeId, 'removeSnapshotLeaf');
  if (!volume) return;
  if (volume.diskId !== input.diskId || !volume.active || volume.parentId === null) {
    throw new InventoryConflictError(
      'removeSnapshotLeaf',
      `volume ${input.volumeId} is not a snapshot leaf of disk ${input.diskId}`,
    );
  }
  await c.query('DELETE FROM volumes WHERE id = $1', [volume.id]);
  await c.query('UPDATE volumes SET active = true, snapshot_id = NULL WHERE id = $1', [volume.parentId]);
}

export async function applySnapshotMerge(
  c: Queryable,
  input: Parameters<InventoryRepository['applySnapshotMerge']>[0],
): Promise<void> {
  const op = 'applySnapshotMerge';
  if (!(await lockDisk(c, input.diskId, op))) return; // the disk and its volumes are gone
  const top = await getVolume(c, input.topVolumeId, op);
  if (!top) return;
  const children = parseRows(
    VolumeRow,
    (await c.query('SELECT * FROM volumes WHERE parent_id = $1', [top.id])).rows,
    op,
  );
  // Already out of the chain (an earlier attempt kept it ILLEGAL): a top is a leaf or has a child.
  if (!top.active && children.length === 0) return;
  const base = await getVolume(c, input.baseVolumeId, op);
  if (!base || top.diskId !== input.diskId || base.diskId !== input.diskId || top.parentId !== base.id) {
    throw new InventoryConflictError(
      op,
      `volume ${input.topVolumeId} is not the child of ${input.baseVolumeId} on disk ${input.diskId}`,
    );
  }
  await c.query('UPDATE volumes SET parent_id = $1 WHERE parent_id = $2', [base.id, top.id]);
  if (input.topLeftIllegal) {
    await c.query(
      "UPDATE volumes SET active = false, snapshot_id = NULL, legality = 'ILLEGAL' WHERE id = $1",
      [top.id],
    );
  } else {
    await c.query('DELETE FROM volumes WHERE id = $1', [top.id]);
  }
  await c.query('UPDATE volumes SET active = $1, snapshot_id = $2, size_bytes = $3 WHERE id = $4', [
    top.active,
    top.snapshotId,
    Math.max(base.sizeBytes, top.sizeBytes),
    base.id,
  ]);
}

export async function addSnapshot(c: Queryable, snapshot: Omit<Snapshot, 'createdAt'>): Promise<void> {
  if (await exists(c, 'SELECT 1 FROM snapshots WHERE id = $1', [snapshot.id])) return;
  if (!(await exists(c, 'SELECT 1 FROM vms WHERE id = $1', [snapshot.vmId]))) {
    throw new NotFoundError('VM', snapshot.vmId);
  }
  await c.query(
    `INSERT INTO snapshots (id, vm_id, description, status, created_at) VALUES ($1, $2, $3, $4, now())
     ON CONFLICT (id) DO NOTHING`,
    [snapshot.id, snapshot.vmId, snapshot.description, snapshot.status],
  );
}

export async function removeSnapshot(c: Queryable, id: string): Promise<void> {
  await c.query('SELECT 1 FROM snapshots WHERE id = $1 FOR UPDATE', [id]);
  const { rows } = await c.query<{ id: string }>('SELECT id FROM volumes WHERE snapshot_id = $1 LIMIT 1', [
    id,
  ]);
  if (rows[0]) {
    throw new InventoryConflictError(
      'removeSnapshot',
      `volume ${rows[0].id} still belongs to snapshot ${id}`,
    );
  }
  await c.query('DELETE FROM snapshots WHERE id = $1', [id]);
}
