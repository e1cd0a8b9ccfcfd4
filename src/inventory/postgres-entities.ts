/**
 * The PostgreSQL side of the entities: pools, domains, hosts, VMs, disks and their attachments.
 * Single statements are their own transaction; changes over several tables run in one.
 */
import type { ImageStatus, VmStatus } from '../shared/vocabulary';
import {
  AttachmentRow,
  DOMAIN_COLUMNS,
  DomainRow,
  HostRow,
  PoolRow,
  VmRow,
  checkImageStatus,
  checkPositiveInt,
  checkVmStatus,
  parseRow,
  parseRows,
} from './codec';
import {
  NotFoundError,
  type Disk,
  type DiskAttachment,
  type Host,
  type StorageDomain,
  type StoragePool,
  type Vm,
} from './port';
import * as volumes from './postgres-volumes';
import type { PostgresDb } from './postgres-volumes';

export async function listPools(db: PostgresDb): Promise<StoragePool[]> {
  const { rows } = await db.query('listPools', 'SELECT * FROM storage_pools ORDER BY name, id');
  return parseRows(PoolRow, rows, 'listPools');
}

export async function getPool(db: PostgresDb, id: string): Promise<StoragePool | undefined> {
  const { rows } = await db.query('getPool', 'SELECT * FROM storage_pools WHERE id = $1', [id]);
  return parseRow(PoolRow, rows[0], 'getPool');
}

export async function listDomains(db: PostgresDb, poolId?: string): Promise<StorageDomain[]> {
  const { rows } = await db.query(
    'listDomains',
    `SELECT ${DOMAIN_COLUMNS} FROM storage_domains d WHERE ($1::text IS NULL OR d.pool_id = $1) ORDER BY d.name, d.id`,
    [poolId ?? null],
  );
  return parseRows(DomainRow, rows, 'listDomains');
}

export async function getDomain(db: PostgresDb, id: string): Promise<StorageDomain | undefined> {
  const { rows } = await db.query(
    'getDomain',
    `SELECT ${DOMAIN_COLUMNS} FROM storage_domains d WHERE d.id = $1`,
    [id],
  );
  return parseRow(DomainRow, rows[0], 'getDomain');
}

export async function listHosts(db: PostgresDb, poolId: string): Promise<Host[]> {
  const { rows } = await db.query('listHosts', 'SELECT * FROM hosts WHERE pool_id = $1 ORDER BY vds_id', [
    poolId,
  ]);
  return parseRows(HostRow, rows, 'listHosts');
}

export async function setHostAddress(
  db: PostgresDb,
  hostId: string,
  address: string,
  port: number,
): Promise<void> {
  const { rowCount } = await db.query(
    'setHostAddress',
    'UPDATE hosts SET address = $1, port = $2 WHERE id = $3',
    [address, port, hostId],
  );
  if (rowCount === 0) throw new NotFoundError('Host', hostId);
}

export async function listVms(db: PostgresDb): Promise<Vm[]> {
  const { rows } = await db.query('listVms', 'SELECT * FROM vms ORDER BY name, id');
  return parseRows(VmRow, rows, 'listVms');
}

export async function getVm(db: PostgresDb, id: string): Promise<Vm | undefined> {
  const { rows } = await db.query('getVm', 'SELECT * FROM vms WHERE id = $1', [id]);
  return parseRow(VmRow, rows[0], 'getVm');
}

export async function listDisks(
  db: PostgresDb,
  filter: { vmId?: string; attachedTo?: string; status?: ImageStatus } = {},
): Promise<Disk[]> {
  const { rows } = await db.query(
    'listDisks',
    `SELECT ${volumes.DISK_WITH_VOLUMES} FROM disks d
     WHERE ($1::text IS NULL OR d.vm_id = $1) AND ($2::text IS NULL OR d.status = $2)
       AND ($3::text IS NULL OR d.id IN (SELECT disk_id FROM vm_disks WHERE vm_id = $3))
     ORDER BY d.alias, d.id`,
    [filter.vmId ?? null, filter.status ?? null, filter.attachedTo ?? null],
  );
  return volumes.disksFromRows(rows, 'listDisks');
}

export async function getDisk(db: PostgresDb, id: string): Promise<Disk | undefined> {
  const { rows } = await db.query(
    'getDisk',
    `SELECT ${volumes.DISK_WITH_VOLUMES} FROM disks d WHERE d.id = $1`,
    [id],
  );
  return volumes.disksFromRows(rows, 'getDisk')[0];
}

export async function listDiskAttachments(
  db: PostgresDb,
  filter: { diskId?: string; vmId?: string } = {},
): Promise<DiskAttachment[]> {
  const { rows } = await db.query(
    'listDiskAttachments',
    `SELECT * FROM vm_disks WHERE ($1::text IS NULL OR disk_id = $1) AND ($2::text IS NULL OR vm_id = $2)
     ORDER BY vm_id, disk_id`,
    [filter.diskId ?? null, filter.vmId ?? null],
  );
  return parseRows(AttachmentRow, rows, 'listDiskAttachments');
}

export async function setVmStatus(db: PostgresDb, vmId: string, status: VmStatus): Promise<void> {
  checkVmStatus(status, 'setVmStatus');
  const { rowCount } = await db.query('setVmStatus', 'UPDATE vms SET status = $1 WHERE id = $2', [
    status,
    vmId,
  ]);
  if (rowCount === 0) throw new NotFoundError('VM', vmId);
}

export async function removeVm(db: PostgresDb, vmId: string): Promise<void> {
  await db.transaction('removeVm', async (c) => {
    await c.query('UPDATE disks SET vm_id = NULL WHERE vm_id = $1', [vmId]);
    await c.query('DELETE FROM vm_disks WHERE vm_id = $1', [vmId]);
    await c.query('DELETE FROM snapshots WHERE vm_id = $1', [vmId]);
    await c.query('DELETE FROM vms WHERE id = $1', [vmId]);
  });
}

export async function setDiskStatus(db: PostgresDb, diskIds: string[], status: ImageStatus): Promise<void> {
  checkImageStatus(status, 'setDiskStatus');
  await db.query('setDiskStatus', 'UPDATE disks SET status = $1 WHERE id = ANY($2::text[])', [
    status,
    diskIds,
  ]);
}

export async function moveDiskToDomain(db: PostgresDb, diskId: string, domainId: string): Promise<void> {
  await db.transaction('moveDiskToDomain', async (c) => {
    await c.query('UPDATE disks SET domain_id = $1 WHERE id = $2', [domainId, diskId]);
    await c.query('UPDATE volumes SET domain_id = $1 WHERE disk_id = $2', [domainId, diskId]);
  });
}

export async function removeDisk(db: PostgresDb, diskId: string): Promise<void> {
  await db.transaction('removeDisk', async (c) => {
    await c.query('DELETE FROM volumes WHERE disk_id = $1', [diskId]);
    await c.query('DELETE FROM vm_disks WHERE disk_id = $1', [diskId]);
    await c.query('DELETE FROM disks WHERE id = $1', [diskId]);
  });
}

export async function setDomainSize(db: PostgresDb, domainId: string, sizeBytes: number): Promise<void> {
  checkPositiveInt(sizeBytes, 'sizeBytes', 'setDomainSize');
  const { rowCount } = await db.query(
    'setDomainSize',
    'UPDATE storage_domains SET size_bytes = $1 WHERE id = $2',
    [sizeBytes, domainId],
  );
  if (rowCount === 0) throw new NotFoundError('StorageDomain', domainId);
}
