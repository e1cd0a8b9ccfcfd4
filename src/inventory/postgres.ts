import { Pool, type PoolClient } from 'pg';
import type { ImageStatus, VmStatus } from '../shared/vocabulary';
import {
  AttachmentRow,
  AuditRow,
  DOMAIN_COLUMNS,
  DomainRow,
  HostRow,
  LockRow,
  PoolRow,
  SnapshotRow,
  VmRow,
  asInventoryError,
  auditLimit,
  checkImageStatus,
  checkPositiveInt,
  checkVmStatus,
  isoTime,
  parseRow,
  parseRows,
} from './codec';
import { planLocks, wantedLocks } from './locks';
import { POSTGRES_MIGRATIONS, pendingMigrations } from './migrations';
import {
  EntityLockedError,
  NotFoundError,
  type AuditEntry,
  type Disk,
  type DiskAttachment,
  type EntityLock,
  type EntityRef,
  type Host,
  type InventoryRepository,
  type NewAuditEntry,
  type NewDisk,
  type Snapshot,
  type SnapshotStatus,
  type StorageDomain,
  type StoragePool,
  type TaskClaim,
  type TaskObservation,
  type TaskStartIntent,
  type Vm,
  type Volume,
} from './port';
import * as tasks from './postgres-tasks';
import * as volumes from './postgres-volumes';
import { seedEntities, type InventorySeed } from './seed';
import { checkSnapshotStatus, checkVolumeFields } from './volumes';

export interface PostgresInventoryOptions {
  /** Connections in the pool. */
  maxConnections?: number;
  /** Read only (the CLI): every transaction of the session is READ ONLY; init() must not be called. */
  readOnly?: boolean;
}

type Queryable = volumes.Queryable;

/** Serialisation failure and deadlock: the transaction did nothing and may simply run again. */
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);
const MAX_TRANSACTION_ATTEMPTS = 5;
/** Serialises schema changes and seeding of one database across processes (pg_advisory_xact_lock key). */
const SCHEMA_LOCK_KEY = 0x7a5c1eed;

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The production inventory on PostgreSQL. Transactions run at READ COMMITTED with explicit row
 * locks where a decision depends on what was read (locks, intents); single-statement methods are
 * their own transaction. Times that compare across workers (lease expiry, lock times) come from the
 * database's clock, so workers with skewed clocks still agree.
 */
export class PostgresInventory implements InventoryRepository {
  private readonly pool: Pool;
  private closed = false;
  /** Pool, statements and transactions, for the helpers in postgres-*.ts. */
  private readonly ctx: volumes.PostgresDb;

  constructor(connectionString: string, options: PostgresInventoryOptions = {}) {
    this.pool = new Pool({
      connectionString,
      max: options.maxConnections ?? 10,
      application_name: options.readOnly ? 'ovirt-tasks-cli' : 'ovirt-tasks-inventory',
      ...(options.readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
    });
    // An idle connection that dies (server restart, network) is dropped by the pool and the next
    // query reconnects; without a listener the 'error' event would crash the process.
    this.pool.on('error', () => undefined);
    this.ctx = {
      pool: this.pool,
      query: (operation, sql, params) => this.query(operation, sql, params),
      transaction: (operation, body) => this.transaction(operation, body),
    };
  }

  private async query(
    operation: string,
    sql: string,
    params: unknown[] = [],
  ): Promise<{ rows: unknown[]; rowCount: number }> {
    try {
      const result = await this.pool.query(sql, params);
      return { rows: result.rows as unknown[], rowCount: result.rowCount ?? 0 };
    } catch (err) {
      throw asInventoryError(operation, err);
    }
  }

  /** Runs `body` in one transaction; a serialisation failure or deadlock runs it again. */
  private async transaction<T>(operation: string, body: (client: Queryable) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw asInventoryError(operation, err);
      }
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await body(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true; // the connection is gone: do not give it back to the pool
        }
        const state = sqlState(err);
        if (!broken && state && RETRYABLE_SQLSTATES.has(state) && attempt < MAX_TRANSACTION_ATTEMPTS)
          continue;
        throw asInventoryError(operation, err);
      } finally {
        client.release(broken);
      }
    }
  }

  async init(seed?: InventorySeed): Promise<boolean> {
    const entities = seed ? seedEntities(seed) : undefined;
    return this.transaction('init', async (c) => {
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
        await c.query('INSERT INTO schema_version (version, applied_at) VALUES ($1, now())', [
          migration.version,
        ]);
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
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  async listPools(): Promise<StoragePool[]> {
    const { rows } = await this.query('listPools', 'SELECT * FROM storage_pools ORDER BY name, id');
    return parseRows(PoolRow, rows, 'listPools');
  }

  async getPool(id: string): Promise<StoragePool | undefined> {
    const { rows } = await this.query('getPool', 'SELECT * FROM storage_pools WHERE id = $1', [id]);
    return parseRow(PoolRow, rows[0], 'getPool');
  }

  async listDomains(poolId?: string): Promise<StorageDomain[]> {
    const { rows } = await this.query(
      'listDomains',
      `SELECT ${DOMAIN_COLUMNS} FROM storage_domains d WHERE ($1::text IS NULL OR d.pool_id = $1) ORDER BY d.name, d.id`,
      [poolId ?? null],
    );
    return parseRows(DomainRow, rows, 'listDomains');
  }

  async getDomain(id: string): Promise<StorageDomain | undefined> {
    const { rows } = await this.query(
      'getDomain',
      `SELECT ${DOMAIN_COLUMNS} FROM storage_domains d WHERE d.id = $1`,
      [id],
    );
    return parseRow(DomainRow, rows[0], 'getDomain');
  }

  async listHosts(poolId: string): Promise<Host[]> {
    const { rows } = await this.query('listHosts', 'SELECT * FROM hosts WHERE pool_id = $1 ORDER BY vds_id', [
      poolId,
    ]);
    return parseRows(HostRow, rows, 'listHosts');
  }

  async setHostAddress(hostId: string, address: string, port: number): Promise<void> {
    const { rowCount } = await this.query(
      'setHostAddress',
      'UPDATE hosts SET address = $1, port = $2 WHERE id = $3',
      [address, port, hostId],
    );
    if (rowCount === 0) throw new NotFoundError('Host', hostId);
  }

  async listVms(): Promise<Vm[]> {
    const { rows } = await this.query('listVms', 'SELECT * FROM vms ORDER BY name, id');
    return parseRows(VmRow, rows, 'listVms');
  }

  async getVm(id: string): Promise<Vm | undefined> {
    const { rows } = await this.query('getVm', 'SELECT * FROM vms WHERE id = $1', [id]);
    return parseRow(VmRow, rows[0], 'getVm');
  }

  async listDisks(
    filter: { vmId?: string; attachedTo?: string; status?: ImageStatus } = {},
  ): Promise<Disk[]> {
    const { rows } = await this.query(
      'listDisks',
      `SELECT ${volumes.DISK_WITH_VOLUMES} FROM disks d
       WHERE ($1::text IS NULL OR d.vm_id = $1) AND ($2::text IS NULL OR d.status = $2)
         AND ($3::text IS NULL OR d.id IN (SELECT disk_id FROM vm_disks WHERE vm_id = $3))
       ORDER BY d.alias, d.id`,
      [filter.vmId ?? null, filter.status ?? null, filter.attachedTo ?? null],
    );
    return volumes.disksFromRows(rows, 'listDisks');
  }

  async getDisk(id: string): Promise<Disk | undefined> {
    const { rows } = await this.query(
      'getDisk',
      `SELECT ${volumes.DISK_WITH_VOLUMES} FROM disks d WHERE d.id = $1`,
      [id],
    );
    return volumes.disksFromRows(rows, 'getDisk')[0];
  }

  async listDiskAttachments(filter: { diskId?: string; vmId?: string } = {}): Promise<DiskAttachment[]> {
    const { rows } = await this.query(
      'listDiskAttachments',
      `SELECT * FROM vm_disks WHERE ($1::text IS NULL OR disk_id = $1) AND ($2::text IS NULL OR vm_id = $2)
       ORDER BY vm_id, disk_id`,
      [filter.diskId ?? null, filter.vmId ?? null],
    );
    return parseRows(AttachmentRow, rows, 'listDiskAttachments');
  }

  /**
   * Takes a transaction-scoped advisory lock per wanted entity first (in the global order), so
   * acquirers of a common entity run one after the other: with several holders allowed per entity
   * there is no single row to conflict on. Then reads every holder, which under READ COMMITTED
   * includes whatever an earlier acquirer committed before releasing its advisory locks.
   */
  async acquireLocks(owner: string, reason: string, entities: EntityRef[]): Promise<void> {
    const wanted = wantedLocks(entities);
    if (wanted.length === 0) return;
    const types = wanted.map((w) => w.type);
    const ids = wanted.map((w) => w.id);
    await this.transaction('acquireLocks', async (c) => {
      // Hash collisions only make unrelated entities wait for each other; an order the planner does
      // not keep can only deadlock, which PostgreSQL detects and transaction() runs again.
      await c.query(
        `SELECT pg_advisory_xact_lock(hashtextextended('entity-lock:' || k, 0))
         FROM (SELECT t || ':' || i AS k, n FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(t, i, n)
               ORDER BY n) AS ordered`,
        [types, ids],
      );
      const { rows } = await c.query(
        `SELECT l.* FROM entity_locks l
         JOIN unnest($1::text[], $2::text[]) AS w(t, i) ON l.entity_type = w.t AND l.entity_id = w.i`,
        [types, ids],
      );
      const plan = planLocks(owner, wanted, parseRows(LockRow, rows, 'acquireLocks'));
      if (plan.conflicts.length > 0) throw new EntityLockedError(plan.conflicts);
      if (plan.insert.length > 0) {
        await c.query(
          `INSERT INTO entity_locks (entity_type, entity_id, owner, mode, reason, acquired_at)
           SELECT t, i, $4, m, $5, now() FROM unnest($1::text[], $2::text[], $3::text[]) AS w(t, i, m)`,
          [
            plan.insert.map((w) => w.type),
            plan.insert.map((w) => w.id),
            plan.insert.map((w) => w.mode),
            owner,
            reason,
          ],
        );
      }
      if (plan.upgrade.length > 0) {
        await c.query(
          `UPDATE entity_locks l SET mode = 'exclusive' FROM unnest($1::text[], $2::text[]) AS w(t, i)
           WHERE l.entity_type = w.t AND l.entity_id = w.i AND l.owner = $3`,
          [plan.upgrade.map((w) => w.type), plan.upgrade.map((w) => w.id), owner],
        );
      }
    });
  }

  async releaseLocks(owner: string): Promise<number> {
    const { rowCount } = await this.query('releaseLocks', 'DELETE FROM entity_locks WHERE owner = $1', [
      owner,
    ]);
    return rowCount;
  }

  async listLocks(filter: { owner?: string } = {}): Promise<EntityLock[]> {
    const { rows } = await this.query(
      'listLocks',
      `SELECT * FROM entity_locks WHERE ($1::text IS NULL OR owner = $1)
       ORDER BY acquired_at, entity_type, entity_id, owner`,
      [filter.owner ?? null],
    );
    return parseRows(LockRow, rows, 'listLocks');
  }

  async setVmStatus(vmId: string, status: VmStatus): Promise<void> {
    checkVmStatus(status, 'setVmStatus');
    const { rowCount } = await this.query('setVmStatus', 'UPDATE vms SET status = $1 WHERE id = $2', [
      status,
      vmId,
    ]);
    if (rowCount === 0) throw new NotFoundError('VM', vmId);
  }

  async removeVm(vmId: string): Promise<void> {
    await this.transaction('removeVm', async (c) => {
      await c.query('UPDATE disks SET vm_id = NULL WHERE vm_id = $1', [vmId]);
      await c.query('DELETE FROM vm_disks WHERE vm_id = $1', [vmId]);
      await c.query('DELETE FROM snapshots WHERE vm_id = $1', [vmId]);
      await c.query('DELETE FROM vms WHERE id = $1', [vmId]);
    });
  }

  async setDiskStatus(diskIds: string[], status: ImageStatus): Promise<void> {
    checkImageStatus(status, 'setDiskStatus');
    await this.query('setDiskStatus', 'UPDATE disks SET status = $1 WHERE id = ANY($2::text[])', [
      status,
      diskIds,
    ]);
  }

  async moveDiskToDomain(diskId: string, domainId: string): Promise<void> {
    await this.transaction('moveDiskToDomain', async (c) => {
      await c.query('UPDATE disks SET domain_id = $1 WHERE id = $2', [domainId, diskId]);
      await c.query('UPDATE volumes SET domain_id = $1 WHERE disk_id = $2', [domainId, diskId]);
    });
  }

  async removeDisk(diskId: string): Promise<void> {
    await this.transaction('removeDisk', async (c) => {
      await c.query('DELETE FROM volumes WHERE disk_id = $1', [diskId]);
      await c.query('DELETE FROM vm_disks WHERE disk_id = $1', [diskId]);
      await c.query('DELETE FROM disks WHERE id = $1', [diskId]);
    });
  }

  async addDisk(disk: NewDisk): Promise<void> {
    checkImageStatus(disk.status, 'addDisk');
    checkVolumeFields(disk, 'addDisk');
    await this.transaction('addDisk', (c) => volumes.addDisk(c, disk));
  }

  async listVolumes(filter: { diskId?: string; snapshotId?: string } = {}): Promise<Volume[]> {
    try {
      return await volumes.listVolumes(this.pool, filter);
    } catch (err) {
      throw asInventoryError('listVolumes', err);
    }
  }

  async getVolume(id: string): Promise<Volume | undefined> {
    try {
      return await volumes.findVolume(this.pool, id);
    } catch (err) {
      throw asInventoryError('getVolume', err);
    }
  }

  async addVolume(volume: Omit<Volume, 'createdAt'>): Promise<void> {
    checkVolumeFields(volume, 'addVolume');
    await this.transaction('addVolume', (c) => volumes.addVolume(c, volume));
  }

  async updateVolume(id: string, patch: Parameters<InventoryRepository['updateVolume']>[1]): Promise<void> {
    checkVolumeFields(patch, 'updateVolume');
    await this.transaction('updateVolume', (c) => volumes.updateVolume(c, id, patch));
  }

  async removeVolume(id: string): Promise<void> {
    await this.transaction('removeVolume', (c) => volumes.removeVolume(c, id));
  }

  async addSnapshotLeaf(input: Parameters<InventoryRepository['addSnapshotLeaf']>[0]): Promise<void> {
    checkVolumeFields(input.newVolume, 'addSnapshotLeaf');
    await this.transaction('addSnapshotLeaf', (c) => volumes.addSnapshotLeaf(c, input));
  }

  async removeSnapshotLeaf(input: { diskId: string; volumeId: string }): Promise<void> {
    await this.transaction('removeSnapshotLeaf', (c) => volumes.removeSnapshotLeaf(c, input));
  }

  async applySnapshotMerge(input: Parameters<InventoryRepository['applySnapshotMerge']>[0]): Promise<void> {
    await this.transaction('applySnapshotMerge', (c) => volumes.applySnapshotMerge(c, input));
  }

  async addSnapshot(snapshot: Omit<Snapshot, 'createdAt'>): Promise<void> {
    checkSnapshotStatus(snapshot.status, 'addSnapshot');
    await this.transaction('addSnapshot', (c) => volumes.addSnapshot(c, snapshot));
  }

  async getSnapshot(id: string): Promise<Snapshot | undefined> {
    const { rows } = await this.query('getSnapshot', 'SELECT * FROM snapshots WHERE id = $1', [id]);
    return parseRow(SnapshotRow, rows[0], 'getSnapshot');
  }

  async listSnapshots(filter: { vmId?: string } = {}): Promise<Snapshot[]> {
    const { rows } = await this.query(
      'listSnapshots',
      'SELECT * FROM snapshots WHERE ($1::text IS NULL OR vm_id = $1) ORDER BY created_at, id',
      [filter.vmId ?? null],
    );
    return parseRows(SnapshotRow, rows, 'listSnapshots');
  }

  async setSnapshotStatus(id: string, status: SnapshotStatus): Promise<void> {
    checkSnapshotStatus(status, 'setSnapshotStatus');
    const { rowCount } = await this.query(
      'setSnapshotStatus',
      'UPDATE snapshots SET status = $1 WHERE id = $2',
      [status, id],
    );
    if (rowCount === 0) throw new NotFoundError('Snapshot', id);
  }

  async removeSnapshot(id: string): Promise<void> {
    await this.transaction('removeSnapshot', (c) => volumes.removeSnapshot(c, id));
  }

  async setDomainSize(domainId: string, sizeBytes: number): Promise<void> {
    checkPositiveInt(sizeBytes, 'sizeBytes', 'setDomainSize');
    const { rowCount } = await this.query(
      'setDomainSize',
      'UPDATE storage_domains SET size_bytes = $1 WHERE id = $2',
      [sizeBytes, domainId],
    );
    if (rowCount === 0) throw new NotFoundError('StorageDomain', domainId);
  }

  async addAudit(entry: NewAuditEntry): Promise<void> {
    try {
      await insertAudit(this.pool, entry);
    } catch (err) {
      throw asInventoryError('addAudit', err);
    }
  }

  async addAuditOnce(entry: NewAuditEntry & { correlationId: string }): Promise<boolean> {
    return this.transaction('addAuditOnce', async (c) => {
      // Under READ COMMITTED two transactions could both see "absent": serialise on the key.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [
        entry.correlationId,
        entry.type,
      ]);
      const { rows } = await c.query(
        'SELECT 1 FROM audit_log WHERE correlation_id = $1 AND type = $2 LIMIT 1',
        [entry.correlationId, entry.type],
      );
      if (rows.length > 0) return false;
      await insertAudit(c, entry);
      return true;
    });
  }

  async listAudit(
    filter: { correlationId?: string; type?: string; limit?: number } = {},
  ): Promise<AuditEntry[]> {
    const limit = auditLimit(filter.limit);
    const { rows } = await this.query(
      'listAudit',
      `SELECT * FROM audit_log WHERE ($1::text IS NULL OR correlation_id = $1) AND ($2::text IS NULL OR type = $2)
       ORDER BY time DESC, id DESC LIMIT $3`,
      [filter.correlationId ?? null, filter.type ?? null, limit ?? null],
    );
    return parseRows(AuditRow, rows, 'listAudit');
  }

  async acquireStartLease(poolId: string, owner: string, leaseMs: number): Promise<boolean> {
    return tasks.acquireStartLease(this.ctx, poolId, owner, leaseMs);
  }

  async releaseStartLease(poolId: string, owner: string): Promise<void> {
    return tasks.releaseStartLease(this.ctx, poolId, owner);
  }

  async getStartIntent(owner: string): Promise<TaskStartIntent | undefined> {
    return tasks.getStartIntent(this.ctx, owner);
  }

  async putStartIntent(
    intent: Omit<TaskStartIntent, 'createdAt' | 'vdsmTaskId' | 'seq' | 'refusedCode'>,
  ): Promise<void> {
    return tasks.putStartIntent(this.ctx, intent);
  }

  async listStartIntents(filter: { poolId: string; pending?: boolean }): Promise<TaskStartIntent[]> {
    return tasks.listStartIntents(this.ctx, filter);
  }

  async markStartIntentRefused(owner: string, code: number): Promise<void> {
    return tasks.markStartIntentRefused(this.ctx, owner, code);
  }

  async completeStartIntent(owner: string, vdsmTaskId: string): Promise<void> {
    return tasks.completeStartIntent(this.ctx, owner, vdsmTaskId);
  }

  async deleteStartIntent(owner: string): Promise<void> {
    return tasks.deleteStartIntent(this.ctx, owner);
  }

  async listTaskClaims(filter: { poolId?: string; owner?: string } = {}): Promise<TaskClaim[]> {
    return tasks.listTaskClaims(this.ctx, filter);
  }

  async leadStatusPolls(
    poolId: string,
    worker: string,
    leaseMs: number,
  ): Promise<{ leading: boolean; seq: number; endedAtMs: number | null }> {
    return tasks.leadStatusPolls(this.ctx, poolId, worker, leaseMs);
  }

  async publishTaskStatuses(
    poolId: string,
    worker: string,
    statusesJson: string,
    endedAtMs: number,
  ): Promise<number | undefined> {
    return tasks.publishTaskStatuses(this.ctx, poolId, worker, statusesJson, endedAtMs);
  }

  async readTaskStatuses(
    poolId: string,
    afterSeq: number,
  ): Promise<{ seq: number; statusesJson: string; endedAtMs: number | null } | undefined> {
    return tasks.readTaskStatuses(this.ctx, poolId, afterSeq);
  }

  async quitStatusPolls(poolId: string, worker: string): Promise<void> {
    return tasks.quitStatusPolls(this.ctx, poolId, worker);
  }

  async countTaskClaims(poolId: string): Promise<number> {
    return tasks.countTaskClaims(this.ctx, poolId);
  }

  async releaseTaskClaim(vdsmTaskId: string): Promise<void> {
    return tasks.releaseTaskClaim(this.ctx, vdsmTaskId);
  }

  async observeTasks(
    poolId: string,
    states: Record<string, string>,
    now: string,
  ): Promise<TaskObservation[]> {
    return tasks.observeTasks(this.ctx, poolId, states, now);
  }

  async markTaskReported(vdsmTaskId: string, now: string): Promise<void> {
    return tasks.markTaskReported(this.ctx, vdsmTaskId, now);
  }

  async forgetTasks(vdsmTaskIds: string[]): Promise<void> {
    return tasks.forgetTasks(this.ctx, vdsmTaskIds);
  }
}

async function insertAudit(c: Queryable, entry: NewAuditEntry): Promise<void> {
  const time = entry.time === undefined ? null : isoTime(entry.time, 'addAudit');
  await c.query(
    `INSERT INTO audit_log (time, type, severity, message, correlation_id, entity_ids)
     VALUES (COALESCE($1::timestamptz, now()), $2, $3, $4, $5, $6::jsonb)`,
    [time, entry.type, entry.severity, entry.message, entry.correlationId, JSON.stringify(entry.entityIds)],
  );
}
