/**
 * The SQLite store's schema and first contents: pending migrations, then the seed fixture if the
 * store has no pool yet. Runs inside SqliteInventory's init write transaction.
 */
import type Database from 'better-sqlite3';
import { SQLITE_MIGRATIONS, pendingMigrations } from './migrations';
import type { seedEntities } from './seed';
import * as volumes from './sqlite-volumes';

const bit = (value: boolean): number => (value ? 1 : 0);

/** Migrates the store, then seeds it from `entities` if it has no pool; returns whether it seeded. */
export function migrateAndSeed(
  db: Database.Database,
  q: volumes.Stmt,
  entities: ReturnType<typeof seedEntities> | undefined,
): boolean {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
  );
  const current = q('SELECT max(version) AS version FROM schema_version').get() as {
    version: number | null;
  };
  for (const migration of pendingMigrations(SQLITE_MIGRATIONS, current.version ?? 0)) {
    db.exec(migration.sql);
    q('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(
      migration.version,
      new Date().toISOString(),
    );
  }
  if (!entities) return false;
  // A store from before domain sizes were kept learns them from the fixture that names its domains.
  const fillSize = q('UPDATE storage_domains SET size_bytes = ? WHERE id = ? AND size_bytes = 0');
  for (const d of entities.domains) fillSize.run(d.sizeBytes, d.id);
  if (q('SELECT 1 FROM storage_pools LIMIT 1').get() !== undefined) return false;
  const { pool, domains, hosts, vms, disks } = entities;
  q('INSERT INTO storage_pools (id, name, master_domain_id) VALUES (?, ?, ?)').run(
    pool.id,
    pool.name,
    pool.masterDomainId,
  );
  const insertDomain = q(
    `INSERT INTO storage_domains (id, pool_id, name, storage_type, discard_after_delete, supports_discard, size_bytes)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const d of domains) {
    insertDomain.run(
      d.id,
      d.poolId,
      d.name,
      d.storageType,
      bit(d.discardAfterDelete),
      bit(d.supportsDiscard),
      d.sizeBytes,
    );
  }
  const insertHost = q(
    'INSERT INTO hosts (id, pool_id, name, vds_id, address, port) VALUES (?, ?, ?, ?, ?, ?)',
  );
  for (const h of hosts) insertHost.run(h.id, h.poolId, h.name, h.vdsId, h.address, h.port);
  const insertVm = q('INSERT INTO vms (id, pool_id, name, status, delete_protected) VALUES (?, ?, ?, ?, ?)');
  for (const v of vms) insertVm.run(v.id, v.poolId, v.name, v.status, bit(v.deleteProtected));
  const insertDisk = q(
    `INSERT INTO disks (id, pool_id, alias, vm_id, domain_id, size_bytes, wipe_after_delete, shareable, status)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const d of disks) {
    insertDisk.run(
      d.id,
      d.poolId,
      d.alias,
      d.vmId,
      d.domainId,
      d.sizeBytes,
      bit(d.wipeAfterDelete),
      bit(d.shareable),
      d.status,
    );
  }
  const createdAt = new Date().toISOString();
  for (const v of entities.volumes) volumes.insertVolume(q, v, createdAt);
  for (const a of entities.attachments) volumes.insertAttachment(q, a);
  return true;
}
