/**
 * The PostgreSQL store's schema and first contents: pending migrations, then the seed fixture if the
 * store has no pool yet. Runs inside PostgresInventory's init transaction.
 */
import { POSTGRES_MIGRATIONS, pendingMigrations } from './migrations';
import * as volumes from './postgres-volumes';
import type { seedEntities } from './seed';

/** Serialises schema changes and seeding of one database across processes (pg_advisory_xact_lock key). */
const SCHEMA_LOCK_KEY = 0x7a5c1eed;

/** Migrates the store, then seeds it from `entities` if it has no pool; returns whether it seeded. */
export async function migrateAndSeed(
  c: volumes.Queryable,
  entities: ReturnType<typeof seedEntities> | undefined,
): Promise<boolean> {
  // Worker and CLI may start together: one of them migrates and seeds, the other then sees it done.
  await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY]);
  await c.query(
    'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)',
  );
  const { rows } = await c.query<{ version: number | null }>(
    'SELECT max(version) AS version FROM schema_version',
  );
  for (const migration of pendingMigrations(POSTGRES_MIGRATIONS, rows[0]?.version ?? 0)) {
    await c.query(migration.sql);
    await c.query('INSERT INTO schema_version (version, applied_at) VALUES ($1, now())', [migration.version]);
  }
  if (!entities) return false;
  // A store from before domain sizes were kept learns them from the fixture that names its domains.
  await c.query(
    `UPDATE storage_domains d SET size_bytes = r."sizeBytes"
     FROM jsonb_to_recordset($1::jsonb) AS r("id" text, "sizeBytes" bigint)
     WHERE d.id = r."id" AND d.size_bytes = 0`,
    [JSON.stringify(entities.domains)],
  );
  const existing = await c.query('SELECT 1 FROM storage_pools LIMIT 1');
  if ((existing.rowCount ?? 0) > 0) return false;
  const { pool, domains, hosts, vms, disks } = entities;
  await c.query('INSERT INTO storage_pools (id, name, master_domain_id) VALUES ($1, $2, $3)', [
    pool.id,
    pool.name,
    pool.masterDomainId,
  ]);
  // One statement per table: the fixture travels as a JSON array of rows.
  await c.query(
    `INSERT INTO storage_domains (id, pool_id, name, storage_type, discard_after_delete, supports_discard, size_bytes)
     SELECT "id", "poolId", "name", "storageType", "discardAfterDelete", "supportsDiscard", "sizeBytes"
     FROM jsonb_to_recordset($1::jsonb)
       AS r("id" text, "poolId" text, "name" text, "storageType" text, "discardAfterDelete" boolean,
            "supportsDiscard" boolean, "sizeBytes" bigint)`,
    [JSON.stringify(domains)],
  );
  await c.query(
    `INSERT INTO hosts (id, pool_id, name, vds_id, address, port)
     SELECT "id", "poolId", "name", "vdsId", "address", "port"
     FROM jsonb_to_recordset($1::jsonb)
       AS r("id" text, "poolId" text, "name" text, "vdsId" integer, "address" text, "port" integer)`,
    [JSON.stringify(hosts)],
  );
  await c.query(
    `INSERT INTO vms (id, pool_id, name, status, delete_protected)
     SELECT "id", "poolId", "name", "status", "deleteProtected"
     FROM jsonb_to_recordset($1::jsonb)
       AS r("id" text, "poolId" text, "name" text, "status" text, "deleteProtected" boolean)`,
    [JSON.stringify(vms)],
  );
  await c.query(
    `INSERT INTO disks (id, pool_id, alias, vm_id, domain_id, size_bytes, wipe_after_delete, shareable, status)
     SELECT "id", "poolId", "alias", "vmId", "domainId", "sizeBytes", "wipeAfterDelete", "shareable", "status"
     FROM jsonb_to_recordset($1::jsonb)
       AS r("id" text, "poolId" text, "alias" text, "vmId" text, "domainId" text, "sizeBytes" bigint,
            "wipeAfterDelete" boolean, "shareable" boolean, "status" text)`,
    [JSON.stringify(disks)],
  );
  await volumes.insertVolumes(c, entities.volumes);
  await volumes.insertAttachments(c, entities.attachments);
  return true;
}
