/**
 * The inventory schema, one versioned list per dialect. `init()` applies the versions a store does
 * not have yet, in order, each recorded in `schema_version`. Applied migrations never change: a new
 * column or table is a new version appended to both lists.
 *
 * No foreign keys from locks and task bookkeeping to entities: a lock outlives the record it guards
 * (RemoveVm removes the VM row while it still holds the VM's lock), and task rows describe VDSM
 * state that exists whatever the inventory says. Statuses are checked on write and parsed on read
 * rather than by CHECK constraints, so adding a status to the vocabulary needs no migration.
 */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'entities, durable locks, audit log, task bookkeeping',
    sql: `
      CREATE TABLE storage_pools (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        master_domain_id TEXT NOT NULL
      );
      CREATE TABLE storage_domains (
        id TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL REFERENCES storage_pools (id),
        name TEXT NOT NULL,
        storage_type TEXT NOT NULL,
        discard_after_delete INTEGER NOT NULL CHECK (discard_after_delete IN (0, 1))
      );
      CREATE INDEX storage_domains_pool ON storage_domains (pool_id);
      CREATE TABLE hosts (
        id TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL REFERENCES storage_pools (id),
        name TEXT NOT NULL,
        vds_id INTEGER NOT NULL,
        address TEXT NOT NULL,
        port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
        UNIQUE (pool_id, vds_id)
      );
      CREATE TABLE vms (
        id TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL REFERENCES storage_pools (id),
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        delete_protected INTEGER NOT NULL CHECK (delete_protected IN (0, 1))
      );
      CREATE TABLE disks (
        id TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL REFERENCES storage_pools (id),
        alias TEXT NOT NULL,
        vm_id TEXT REFERENCES vms (id) ON DELETE SET NULL,
        domain_id TEXT NOT NULL REFERENCES storage_domains (id),
        size_bytes INTEGER NOT NULL CHECK (size_bytes > 0),
        wipe_after_delete INTEGER NOT NULL CHECK (wipe_after_delete IN (0, 1)),
        shareable INTEGER NOT NULL CHECK (shareable IN (0, 1)),
        status TEXT NOT NULL,
        volume_ids TEXT NOT NULL
      );
      CREATE INDEX disks_vm ON disks (vm_id);
      CREATE INDEX disks_status ON disks (status);
      CREATE TABLE entity_locks (
        entity_type TEXT NOT NULL CHECK (entity_type IN ('VM', 'DISK')),
        entity_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        reason TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        PRIMARY KEY (entity_type, entity_id)
      );
      CREATE INDEX entity_locks_owner ON entity_locks (owner);
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time TEXT NOT NULL,
        type TEXT NOT NULL,
        severity TEXT NOT NULL CHECK (severity IN ('INFO', 'WARNING', 'ERROR')),
        message TEXT NOT NULL,
        correlation_id TEXT,
        entity_ids TEXT NOT NULL
      );
      CREATE INDEX audit_log_time ON audit_log (time, id);
      CREATE INDEX audit_log_correlation ON audit_log (correlation_id, type);
      CREATE TABLE start_leases (
        pool_id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL
      );
      CREATE TABLE task_start_intents (
        owner TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL,
        verb TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        known_task_ids TEXT NOT NULL,
        created_at TEXT NOT NULL,
        vdsm_task_id TEXT
      );
      CREATE INDEX task_start_intents_task ON task_start_intents (vdsm_task_id);
      CREATE TABLE task_claims (
        vdsm_task_id TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        verb TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        claimed_at TEXT NOT NULL
      );
      CREATE INDEX task_claims_pool ON task_claims (pool_id);
      CREATE INDEX task_claims_owner ON task_claims (owner);
      CREATE TABLE task_observations (
        vdsm_task_id TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        last_state TEXT NOT NULL,
        last_change_at TEXT NOT NULL,
        reported_at TEXT
      );
      CREATE INDEX task_observations_pool ON task_observations (pool_id);
    `,
  },
  {
    version: 2,
    description: 'start intents: an order per pool, and the code a verb was refused with',
    sql: `
      ALTER TABLE task_start_intents ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE task_start_intents ADD COLUMN refused_code INTEGER;
      CREATE INDEX task_start_intents_pool ON task_start_intents (pool_id, seq);
    `,
  },
];

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'entities, durable locks, audit log, task bookkeeping',
    sql: `
      CREATE TABLE storage_pools (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        master_domain_id TEXT NOT NULL
      );
      CREATE TABLE storage_domains (
        id TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL REFERENCES storage_pools (id),
        name TEXT NOT NULL,
        storage_type TEXT NOT NULL,
        discard_after_delete BOOLEAN NOT NULL
      );
      CREATE INDEX storage_domains_pool ON storage_domains (pool_id);
      CREATE TABLE hosts (
        id TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL REFERENCES storage_pools (id),
        name TEXT NOT NULL,
        vds_id INTEGER NOT NULL,
        address TEXT NOT NULL,
        port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
        UNIQUE (pool_id, vds_id)
      );
      CREATE TABLE vms (
        id TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL REFERENCES storage_pools (id),
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        delete_protected BOOLEAN NOT NULL
      );
      CREATE TABLE disks (
        id TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL REFERENCES storage_pools (id),
        alias TEXT NOT NULL,
        vm_id TEXT REFERENCES vms (id) ON DELETE SET NULL,
        domain_id TEXT NOT NULL REFERENCES storage_domains (id),
        size_bytes BIGINT NOT NULL CHECK (size_bytes > 0),
        wipe_after_delete BOOLEAN NOT NULL,
        shareable BOOLEAN NOT NULL,
        status TEXT NOT NULL,
        volume_ids JSONB NOT NULL
      );
      CREATE INDEX disks_vm ON disks (vm_id);
      CREATE INDEX disks_status ON disks (status);
      CREATE TABLE entity_locks (
        entity_type TEXT NOT NULL CHECK (entity_type IN ('VM', 'DISK')),
        entity_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        reason TEXT NOT NULL,
        acquired_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (entity_type, entity_id)
      );
      CREATE INDEX entity_locks_owner ON entity_locks (owner);
      CREATE TABLE audit_log (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        time TIMESTAMPTZ NOT NULL,
        type TEXT NOT NULL,
        severity TEXT NOT NULL CHECK (severity IN ('INFO', 'WARNING', 'ERROR')),
        message TEXT NOT NULL,
        correlation_id TEXT,
        entity_ids JSONB NOT NULL
      );
      CREATE INDEX audit_log_time ON audit_log (time, id);
      CREATE INDEX audit_log_correlation ON audit_log (correlation_id, type);
      CREATE TABLE start_leases (
        pool_id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
      );
      CREATE TABLE task_start_intents (
        owner TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL,
        verb TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        known_task_ids JSONB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        vdsm_task_id TEXT
      );
      CREATE INDEX task_start_intents_task ON task_start_intents (vdsm_task_id);
      CREATE TABLE task_claims (
        vdsm_task_id TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        verb TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        claimed_at TIMESTAMPTZ NOT NULL
      );
      CREATE INDEX task_claims_pool ON task_claims (pool_id);
      CREATE INDEX task_claims_owner ON task_claims (owner);
      CREATE TABLE task_observations (
        vdsm_task_id TEXT PRIMARY KEY,
        pool_id TEXT NOT NULL,
        first_seen_at TIMESTAMPTZ NOT NULL,
        last_state TEXT NOT NULL,
        last_change_at TIMESTAMPTZ NOT NULL,
        reported_at TIMESTAMPTZ
      );
      CREATE INDEX task_observations_pool ON task_observations (pool_id);
    `,
  },
  {
    version: 2,
    description: 'start intents: an order per pool, and the code a verb was refused with',
    sql: `
      CREATE SEQUENCE task_start_intent_seq;
      ALTER TABLE task_start_intents ADD COLUMN seq BIGINT NOT NULL DEFAULT nextval('task_start_intent_seq');
      ALTER TABLE task_start_intents ADD COLUMN refused_code INTEGER;
      CREATE INDEX task_start_intents_pool ON task_start_intents (pool_id, seq);
    `,
  },
];

/** Versions a store at `current` still needs; a store newer than this program is refused. */
export function pendingMigrations(migrations: readonly Migration[], current: number): Migration[] {
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new Error(
      `the inventory schema is version ${current}, newer than this program's ${latest}: upgrade it`,
    );
  }
  return migrations.filter((m) => m.version > current);
}
