/**
 * The SQLite side of the entities: pools, domains, hosts, VMs, disks and their attachments. Each
 * function runs as one transaction of SqliteInventory.
 */
import type { ImageStatus, VmStatus } from '../shared/vocabulary';
import {
  AttachmentRow,
  DOMAIN_COLUMNS,
  DiskRow,
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
import * as volumes from './sqlite-volumes';
import type { SqliteDb } from './sqlite-volumes';

export async function listPools(db: SqliteDb): Promise<StoragePool[]> {
  return db.read('listPools', () =>
    parseRows(PoolRow, db.q('SELECT * FROM storage_pools ORDER BY name, id').all(), 'listPools'),
  );
}

export async function getPool(db: SqliteDb, id: string): Promise<StoragePool | undefined> {
  return db.read('getPool', () =>
    parseRow(PoolRow, db.q('SELECT * FROM storage_pools WHERE id = ?').get(id), 'getPool'),
  );
}

export async function listDomains(db: SqliteDb, poolId?: string): Promise<StorageDomain[]> {
  return db.read('listDomains', () =>
    parseRows(
      DomainRow,
      db
        .q(
          `SELECT ${DOMAIN_COLUMNS} FROM storage_domains d WHERE (? IS NULL OR d.pool_id = ?) ORDER BY d.name, d.id`,
        )
        .all(poolId ?? null, poolId ?? null),
      'listDomains',
    ),
  );
}

export async function getDomain(db: SqliteDb, id: string): Promise<StorageDomain | undefined> {
  return db.read('getDomain', () =>
    parseRow(
      DomainRow,
      db.q(`SELECT ${DOMAIN_COLUMNS} FROM storage_domains d WHERE d.id = ?`).get(id),
      'getDomain',
    ),
  );
}

export async function listHosts(db: SqliteDb, poolId: string): Promise<Host[]> {
  return db.read('listHosts', () =>
    parseRows(
      HostRow,
      db.q('SELECT * FROM hosts WHERE pool_id = ? ORDER BY vds_id').all(poolId),
      'listHosts',
    ),
  );
}

export async function setHostAddress(
  db: SqliteDb,
  hostId: string,
  address: string,
  port: number,
): Promise<void> {
  return db.write('setHostAddress', () => {
    const { changes } = db
      .q('UPDATE hosts SET address = ?, port = ? WHERE id = ?')
      .run(address, port, hostId);
    if (changes === 0) throw new NotFoundError('Host', hostId);
  });
}

export async function listVms(db: SqliteDb): Promise<Vm[]> {
  return db.read('listVms', () =>
    parseRows(VmRow, db.q('SELECT * FROM vms ORDER BY name, id').all(), 'listVms'),
  );
}

export async function getVm(db: SqliteDb, id: string): Promise<Vm | undefined> {
  return db.read('getVm', () => parseRow(VmRow, db.q('SELECT * FROM vms WHERE id = ?').get(id), 'getVm'));
}

export async function listDisks(
  db: SqliteDb,
  filter: { vmId?: string; attachedTo?: string; status?: ImageStatus } = {},
): Promise<Disk[]> {
  const vmId = filter.vmId ?? null;
  const attachedTo = filter.attachedTo ?? null;
  const status = filter.status ?? null;
  return db.read('listDisks', () =>
    volumes.disksWithVolumes(
      db.q,
      parseRows(
        DiskRow,
        db
          .q(
            `SELECT * FROM disks WHERE (@vmId IS NULL OR vm_id = @vmId) AND (@status IS NULL OR status = @status)
             AND (@attachedTo IS NULL OR id IN (SELECT disk_id FROM vm_disks WHERE vm_id = @attachedTo))
           ORDER BY alias, id`,
          )
          .all({ vmId, attachedTo, status }),
        'listDisks',
      ),
      'listDisks',
    ),
  );
}

export async function getDisk(db: SqliteDb, id: string): Promise<Disk | undefined> {
  return db.read('getDisk', () => {
    const record = parseRow(DiskRow, db.q('SELECT * FROM disks WHERE id = ?').get(id), 'getDisk');
    return record && volumes.disksWithVolumes(db.q, [record], 'getDisk')[0];
  });
}

export async function listDiskAttachments(
  db: SqliteDb,
  filter: { diskId?: string; vmId?: string } = {},
): Promise<DiskAttachment[]> {
  return db.read('listDiskAttachments', () =>
    parseRows(
      AttachmentRow,
      db
        .q(
          `SELECT * FROM vm_disks WHERE (@diskId IS NULL OR disk_id = @diskId) AND (@vmId IS NULL OR vm_id = @vmId)
         ORDER BY vm_id, disk_id`,
        )
        .all({ diskId: filter.diskId ?? null, vmId: filter.vmId ?? null }),
      'listDiskAttachments',
    ),
  );
}

export async function setVmStatus(db: SqliteDb, vmId: string, status: VmStatus): Promise<void> {
  checkVmStatus(status, 'setVmStatus');
  return db.write('setVmStatus', () => {
    const { changes } = db.q('UPDATE vms SET status = ? WHERE id = ?').run(status, vmId);
    if (changes === 0) throw new NotFoundError('VM', vmId);
  });
}

export async function removeVm(db: SqliteDb, vmId: string): Promise<void> {
  return db.write('removeVm', () => {
    db.q('UPDATE disks SET vm_id = NULL WHERE vm_id = ?').run(vmId);
    db.q('DELETE FROM vm_disks WHERE vm_id = ?').run(vmId);
    db.q('DELETE FROM snapshots WHERE vm_id = ?').run(vmId);
    db.q('DELETE FROM vms WHERE id = ?').run(vmId);
  });
}

export async function setDiskStatus(db: SqliteDb, diskIds: string[], status: ImageStatus): Promise<void> {
  checkImageStatus(status, 'setDiskStatus');
  return db.write('setDiskStatus', () => {
    const update = db.q('UPDATE disks SET status = ? WHERE id = ?');
    for (const id of diskIds) update.run(status, id);
  });
}

export async function moveDiskToDomain(db: SqliteDb, diskId: string, domainId: string): Promise<void> {
  return db.write('moveDiskToDomain', () => {
    db.q('UPDATE disks SET domain_id = ? WHERE id = ?').run(domainId, diskId);
    db.q('UPDATE volumes SET domain_id = ? WHERE disk_id = ?').run(domainId, diskId);
  });
}

export async function removeDisk(db: SqliteDb, diskId: string): Promise<void> {
  return db.write('removeDisk', () => {
    db.q('DELETE FROM volumes WHERE disk_id = ?').run(diskId);
    db.q('DELETE FROM vm_disks WHERE disk_id = ?').run(diskId);
    db.q('DELETE FROM disks WHERE id = ?').run(diskId);
  });
}

export async function setDomainSize(db: SqliteDb, domainId: string, sizeBytes: number): Promise<void> {
  checkPositiveInt(sizeBytes, 'sizeBytes', 'setDomainSize');
  return db.write('setDomainSize', () => {
    const { changes } = db
      .q('UPDATE storage_domains SET size_bytes = ? WHERE id = ?')
      .run(sizeBytes, domainId);
    if (changes === 0) throw new NotFoundError('StorageDomain', domainId);
  });
}
