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

/*
 * Version 3 turns each disk's volume_ids (its chain, base first) into volume rows: parent = the
 * previous id, the last one active, none in a snapshot (older stores had no snapshots), capacity =
 * the disk's size, ILLEGAL when the disk is. Formats follow the engine's default for a fresh thin
 * disk (baseVolumeFormat in fixture/schema.ts, which seeding uses too): the base RAW on file
 * storage and COW on block storage (iscsi, fcp), every volume above it COW; all SPARSE.
 */
const VOLUMES_FROM_CHAINS_SQLITE = `
      INSERT INTO volumes (id, disk_id, domain_id, parent_id, active, snapshot_id, format, volume_type,
                           legality, size_bytes, actual_size_bytes, created_at)
      SELECT j.value, d.id, d.domain_id,
             CASE WHEN j.key = 0 THEN NULL ELSE json_extract(d.volume_ids, '$[' || (j.key - 1) || ']') END,
             j.key = json_array_length(d.volume_ids) - 1,
             NULL,
             CASE WHEN j.key > 0 OR sd.storage_type IN ('iscsi', 'fcp') THEN 'COW' ELSE 'RAW' END,
             'SPARSE',
             CASE WHEN d.status = 'ILLEGAL' THEN 'ILLEGAL' ELSE 'LEGAL' END,
             d.size_bytes, NULL, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
      FROM disks d JOIN storage_domains sd ON sd.id = d.domain_id, json_each(d.volume_ids) j;`;

const VOLUMES_FROM_CHAINS_POSTGRES = `
      INSERT INTO volumes (id, disk_id, domain_id, parent_id, active, snapshot_id, format, volume_type,
                           legality, size_bytes, actual_size_bytes, created_at)
      SELECT v.id, d.id, d.domain_id,
             CASE WHEN v.n = 1 THEN NULL ELSE d.volume_ids ->> (v.n - 2)::int END,
             v.n = jsonb_array_length(d.volume_ids),
             NULL,
             CASE WHEN v.n > 1 OR sd.storage_type IN ('iscsi', 'fcp') THEN 'COW' ELSE 'RAW' END,
             'SPARSE',
             CASE WHEN d.status = 'ILLEGAL' THEN 'ILLEGAL' ELSE 'LEGAL' END,
             d.size_bytes, NULL, now()
      FROM disks d JOIN storage_domains sd ON sd.id = d.domain_id
        CROSS JOIN LATERAL jsonb_array_elements_text(d.volume_ids) WITH ORDINALITY AS v(id, n);`;

/*
 * Version 4: every disk's vm_id becomes an attachment (plugged, no pass-discard: older stores knew
 * neither), and a shareable disk's vm_id is cleared (it belongs to no VM; its VMs are its
 * attachments). Domains learn whether they can discard: block storage can, file storage cannot
 * (what VDSM reports for LUNs that discard, and what the fixture assumes).
 */
const SUPPORTS_DISCARD_BY_KIND = `
      UPDATE storage_domains SET supports_discard = (storage_type IN ('iscsi', 'fcp'));`;

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
  {
    version: 3,
    description: 'volumes and snapshots (volume_ids become volume rows), domain sizes, shared entity locks',
    sql: `
      ALTER TABLE storage_domains ADD COLUMN size_bytes INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE snapshots (
        id TEXT PRIMARY KEY,
        vm_id TEXT NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
        description TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX snapshots_vm ON snapshots (vm_id, created_at);
      CREATE TABLE volumes (
        id TEXT PRIMARY KEY,
        disk_id TEXT NOT NULL REFERENCES disks (id) ON DELETE CASCADE,
        domain_id TEXT NOT NULL REFERENCES storage_domains (id),
        parent_id TEXT,
        active INTEGER NOT NULL CHECK (active IN (0, 1)),
        snapshot_id TEXT,
        format TEXT NOT NULL,
        volume_type TEXT NOT NULL,
        legality TEXT NOT NULL,
        size_bytes INTEGER NOT NULL CHECK (size_bytes > 0),
        actual_size_bytes INTEGER CHECK (actual_size_bytes >= 0),
        created_at TEXT NOT NULL
      );
      CREATE INDEX volumes_disk ON volumes (disk_id);
      CREATE UNIQUE INDEX volumes_active_leaf ON volumes (disk_id) WHERE active = 1;
      CREATE INDEX volumes_domain ON volumes (domain_id);
      CREATE INDEX volumes_snapshot ON volumes (snapshot_id);
      ${VOLUMES_FROM_CHAINS_SQLITE}
      ALTER TABLE disks DROP COLUMN volume_ids;
      CREATE TABLE entity_locks_v3 (
        entity_type TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        mode TEXT NOT NULL,
        reason TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        PRIMARY KEY (entity_type, entity_id, owner)
      );
      INSERT INTO entity_locks_v3 (entity_type, entity_id, owner, mode, reason, acquired_at)
        SELECT entity_type, entity_id, owner, 'exclusive', reason, acquired_at FROM entity_locks;
      DROP TABLE entity_locks;
      ALTER TABLE entity_locks_v3 RENAME TO entity_locks;
      CREATE INDEX entity_locks_owner ON entity_locks (owner);
    `,
  },
  {
    version: 4,
    description:
      'disk attachments (a shareable disk on several VMs, plugged, pass-discard), domain discard support',
    sql: `
      ALTER TABLE storage_domains ADD COLUMN supports_discard INTEGER NOT NULL DEFAULT 0 CHECK (supports_discard IN (0, 1));
      ${SUPPORTS_DISCARD_BY_KIND}
      CREATE TABLE vm_disks (
        vm_id TEXT NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
        disk_id TEXT NOT NULL REFERENCES disks (id) ON DELETE CASCADE,
        plugged INTEGER NOT NULL CHECK (plugged IN (0, 1)),
        pass_discard INTEGER NOT NULL CHECK (pass_discard IN (0, 1)),
        PRIMARY KEY (vm_id, disk_id)
      );
      CREATE INDEX vm_disks_disk ON vm_disks (disk_id);
      INSERT INTO vm_disks (vm_id, disk_id, plugged, pass_discard)
        SELECT vm_id, id, 1, 0 FROM disks WHERE vm_id IS NOT NULL;
      UPDATE disks SET vm_id = NULL WHERE shareable = 1;
    `,
  },
  {
    version: 5,
    description: 'status polls shared by workers: one poller per pool, its last answer for the others',
    sql: `
      CREATE TABLE status_polls (
        pool_id TEXT PRIMARY KEY,
        poller TEXT NOT NULL,
        lease_expires_at_ms INTEGER NOT NULL,
        seq INTEGER NOT NULL DEFAULT 0,
        ended_at_ms INTEGER,
        statuses TEXT NOT NULL DEFAULT '{}'
      );
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
  {
    version: 3,
    description: 'volumes and snapshots (volume_ids become volume rows), domain sizes, shared entity locks',
    sql: `
      ALTER TABLE storage_domains ADD COLUMN size_bytes BIGINT NOT NULL DEFAULT 0;
      CREATE TABLE snapshots (
        id TEXT PRIMARY KEY,
        vm_id TEXT NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
        description TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
      );
      CREATE INDEX snapshots_vm ON snapshots (vm_id, created_at);
      CREATE TABLE volumes (
        id TEXT PRIMARY KEY,
        disk_id TEXT NOT NULL REFERENCES disks (id) ON DELETE CASCADE,
        domain_id TEXT NOT NULL REFERENCES storage_domains (id),
        parent_id TEXT,
        active BOOLEAN NOT NULL,
        snapshot_id TEXT,
        format TEXT NOT NULL,
        volume_type TEXT NOT NULL,
        legality TEXT NOT NULL,
        size_bytes BIGINT NOT NULL CHECK (size_bytes > 0),
        actual_size_bytes BIGINT CHECK (actual_size_bytes >= 0),
        created_at TIMESTAMPTZ NOT NULL
      );
      CREATE INDEX volumes_disk ON volumes (disk_id);
      CREATE UNIQUE INDEX volumes_active_leaf ON volumes (disk_id) WHERE active;
      CREATE INDEX volumes_domain ON volumes (domain_id);
      CREATE INDEX volumes_snapshot ON volumes (snapshot_id);
      ${VOLUMES_FROM_CHAINS_POSTGRES}
      ALTER TABLE disks DROP COLUMN volume_ids;
      ALTER TABLE entity_locks DROP CONSTRAINT entity_locks_pkey;
      ALTER TABLE entity_locks DROP CONSTRAINT entity_locks_entity_type_check;
      ALTER TABLE entity_locks ADD COLUMN mode TEXT NOT NULL DEFAULT 'exclusive';
      ALTER TABLE entity_locks ALTER COLUMN mode DROP DEFAULT;
      ALTER TABLE entity_locks ADD PRIMARY KEY (entity_type, entity_id, owner);
    `,
  },
  {
    version: 4,
    description:
      'disk attachments (a shareable disk on several VMs, plugged, pass-discard), domain discard support',
    sql: `
      ALTER TABLE storage_domains ADD COLUMN supports_discard BOOLEAN NOT NULL DEFAULT false;
      ${SUPPORTS_DISCARD_BY_KIND}
      CREATE TABLE vm_disks (
        vm_id TEXT NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
        disk_id TEXT NOT NULL REFERENCES disks (id) ON DELETE CASCADE,
        plugged BOOLEAN NOT NULL,
        pass_discard BOOLEAN NOT NULL,
        PRIMARY KEY (vm_id, disk_id)
      );
      CREATE INDEX vm_disks_disk ON vm_disks (disk_id);
      INSERT INTO vm_disks (vm_id, disk_id, plugged, pass_discard)
        SELECT vm_id, id, true, false FROM disks WHERE vm_id IS NOT NULL;
      UPDATE disks SET vm_id = NULL WHERE shareable;
    `,
  },
  {
    version: 5,
    description: 'status polls shared by workers: one poller per pool, its last answer for the others',
    sql: `
      CREATE TABLE status_polls (
        pool_id TEXT PRIMARY KEY,
        poller TEXT NOT NULL,
        lease_expires_at TIMESTAMPTZ NOT NULL,
        seq BIGINT NOT NULL DEFAULT 0,
        ended_at_ms BIGINT,
        statuses TEXT NOT NULL DEFAULT '{}'
      );
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
