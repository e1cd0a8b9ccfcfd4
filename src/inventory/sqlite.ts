import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { ImageStatus, VmStatus } from '../shared/vocabulary';
import {
  AttachmentRow,
  AuditRow,
  DOMAIN_COLUMNS,
  DiskRow,
  DomainRow,
  HostRow,
  LockRow,
  PoolRow,
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
import { InventoryError } from './errors';
import { SQLITE_MIGRATIONS, pendingMigrations } from './migrations';
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
import { seedEntities, type InventorySeed } from './seed';
import * as tasks from './sqlite-tasks';
import * as volumes from './sqlite-volumes';
import { checkSnapshotStatus, checkVolumeFields } from './volumes';

export interface SqliteInventoryOptions {
  /** How long a write waits for another connection's write transaction before failing. */
  busyTimeoutMs?: number;
  /**
   * Read only (the CLI): the file must exist, nothing is written, init() must not be called
   * (openExistingInventory checks the schema instead).
   */
  readOnly?: boolean;
}

const bit = (value: boolean): number => (value ? 1 : 0);

/**
 * The embedded inventory: one SQLite file that the worker and the CLI may open at once.
 *
 * - WAL: readers never block the writer and the writer never blocks readers across processes.
 * - synchronous=FULL: every commit is fsynced before it returns. NORMAL in WAL mode may lose the
 *   last commits on power loss; here a lost commit is a lock a command believes it holds, or a task
 *   claim whose loss makes a retried step send its verb twice. Commits are small and rare (per
 *   command and per task), so the fsync costs little.
 * - Writes run as BEGIN IMMEDIATE: the write lock is taken up front and waited for (busy timeout),
 *   instead of a read transaction failing with SQLITE_BUSY when it later tries to write.
 * - Foreign keys on, for the entity tables.
 */
export class SqliteInventory implements InventoryRepository {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  /** The statement cache as a function, for the helpers in sqlite-volumes.ts. */
  private readonly q: volumes.Stmt = (sql) => this.stmt(sql);
  /** Statements and transactions, for the helpers in sqlite-*.ts. */
  private readonly ctx: volumes.SqliteDb = {
    q: this.q,
    read: (operation, body) => this.read(operation, body),
    write: (operation, body) => this.write(operation, body),
  };

  constructor(
    readonly path: string,
    options: SqliteInventoryOptions = {},
  ) {
    try {
      if (options.readOnly) {
        // The worker set WAL on the file; a reader only has to follow it.
        this.db = new Database(path, {
          readonly: true,
          fileMustExist: true,
          timeout: options.busyTimeoutMs ?? 10_000,
        });
      } else {
        if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
        this.db = new Database(path, { timeout: options.busyTimeoutMs ?? 10_000 });
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = FULL');
      }
      this.db.pragma('foreign_keys = ON');
    } catch (err) {
      throw new InventoryError('open', `cannot open SQLite inventory ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Runs `body` as one write transaction (BEGIN IMMEDIATE). */
  private async write<T>(operation: string, body: () => T): Promise<T> {
    try {
      return this.db.transaction(body).immediate();
    } catch (err) {
      throw asInventoryError(operation, err);
    }
  }

  /** Runs `body` as one read transaction: every statement in it sees the same snapshot. */
  private async read<T>(operation: string, body: () => T): Promise<T> {
    try {
      return this.db.transaction(body).deferred();
    } catch (err) {
      throw asInventoryError(operation, err);
    }
  }

  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  async init(seed?: InventorySeed): Promise<boolean> {
    const entities = seed ? seedEntities(seed) : undefined;
    return this.write('init', () => {
      this.db.exec(
        'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
      );
      const current = this.stmt('SELECT max(version) AS version FROM schema_version').get() as {
        version: number | null;
      };
      for (const migration of pendingMigrations(SQLITE_MIGRATIONS, current.version ?? 0)) {
        this.db.exec(migration.sql);
        this.stmt('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(
          migration.version,
          new Date().toISOString(),
        );
      }
      if (!entities) return false;
      // A store from before domain sizes were kept learns them from the fixture that names its domains.
      const fillSize = this.stmt('UPDATE storage_domains SET size_bytes = ? WHERE id = ? AND size_bytes = 0');
      for (const d of entities.domains) fillSize.run(d.sizeBytes, d.id);
      if (this.stmt('SELECT 1 FROM storage_pools LIMIT 1').get() !== undefined) return false;
      const { pool, domains, hosts, vms, disks } = entities;
      this.stmt('INSERT INTO storage_pools (id, name, master_domain_id) VALUES (?, ?, ?)').run(
        pool.id,
        pool.name,
        pool.masterDomainId,
      );
      const insertDomain = this.stmt(
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
      const insertHost = this.stmt(
        'INSERT INTO hosts (id, pool_id, name, vds_id, address, port) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const h of hosts) insertHost.run(h.id, h.poolId, h.name, h.vdsId, h.address, h.port);
      const insertVm = this.stmt(
        'INSERT INTO vms (id, pool_id, name, status, delete_protected) VALUES (?, ?, ?, ?, ?)',
      );
      for (const v of vms) insertVm.run(v.id, v.poolId, v.name, v.status, bit(v.deleteProtected));
      const insertDisk = this.stmt(
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
      for (const v of entities.volumes) volumes.insertVolume(this.q, v, createdAt);
      for (const a of entities.attachments) volumes.insertAttachment(this.q, a);
      return true;
    });
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  async listPools(): Promise<StoragePool[]> {
    return this.read('listPools', () =>
      parseRows(PoolRow, this.stmt('SELECT * FROM storage_pools ORDER BY name, id').all(), 'listPools'),
    );
  }

  async getPool(id: string): Promise<StoragePool | undefined> {
    return this.read('getPool', () =>
      parseRow(PoolRow, this.stmt('SELECT * FROM storage_pools WHERE id = ?').get(id), 'getPool'),
    );
  }

  async listDomains(poolId?: string): Promise<StorageDomain[]> {
    return this.read('listDomains', () =>
      parseRows(
        DomainRow,
        this.stmt(
          `SELECT ${DOMAIN_COLUMNS} FROM storage_domains d WHERE (? IS NULL OR d.pool_id = ?) ORDER BY d.name, d.id`,
        ).all(poolId ?? null, poolId ?? null),
        'listDomains',
      ),
    );
  }

  async getDomain(id: string): Promise<StorageDomain | undefined> {
    return this.read('getDomain', () =>
      parseRow(
        DomainRow,
        this.stmt(`SELECT ${DOMAIN_COLUMNS} FROM storage_domains d WHERE d.id = ?`).get(id),
        'getDomain',
      ),
    );
  }

  async listHosts(poolId: string): Promise<Host[]> {
    return this.read('listHosts', () =>
      parseRows(
        HostRow,
        this.stmt('SELECT * FROM hosts WHERE pool_id = ? ORDER BY vds_id').all(poolId),
        'listHosts',
      ),
    );
  }

  async setHostAddress(hostId: string, address: string, port: number): Promise<void> {
    return this.write('setHostAddress', () => {
      const { changes } = this.stmt('UPDATE hosts SET address = ?, port = ? WHERE id = ?').run(
        address,
        port,
        hostId,
      );
      if (changes === 0) throw new NotFoundError('Host', hostId);
    });
  }

  async listVms(): Promise<Vm[]> {
    return this.read('listVms', () =>
      parseRows(VmRow, this.stmt('SELECT * FROM vms ORDER BY name, id').all(), 'listVms'),
    );
  }

  async getVm(id: string): Promise<Vm | undefined> {
    return this.read('getVm', () =>
      parseRow(VmRow, this.stmt('SELECT * FROM vms WHERE id = ?').get(id), 'getVm'),
    );
  }

  async listDisks(
    filter: { vmId?: string; attachedTo?: string; status?: ImageStatus } = {},
  ): Promise<Disk[]> {
    const vmId = filter.vmId ?? null;
    const attachedTo = filter.attachedTo ?? null;
    const status = filter.status ?? null;
    return this.read('listDisks', () =>
      volumes.disksWithVolumes(
        this.q,
        parseRows(
          DiskRow,
          this.stmt(
            `SELECT * FROM disks WHERE (@vmId IS NULL OR vm_id = @vmId) AND (@status IS NULL OR status = @status)
               AND (@attachedTo IS NULL OR id IN (SELECT disk_id FROM vm_disks WHERE vm_id = @attachedTo))
             ORDER BY alias, id`,
          ).all({ vmId, attachedTo, status }),
          'listDisks',
        ),
        'listDisks',
      ),
    );
  }

  async getDisk(id: string): Promise<Disk | undefined> {
    return this.read('getDisk', () => {
      const record = parseRow(DiskRow, this.stmt('SELECT * FROM disks WHERE id = ?').get(id), 'getDisk');
      return record && volumes.disksWithVolumes(this.q, [record], 'getDisk')[0];
    });
  }

  async listDiskAttachments(filter: { diskId?: string; vmId?: string } = {}): Promise<DiskAttachment[]> {
    return this.read('listDiskAttachments', () =>
      parseRows(
        AttachmentRow,
        this.stmt(
          `SELECT * FROM vm_disks WHERE (@diskId IS NULL OR disk_id = @diskId) AND (@vmId IS NULL OR vm_id = @vmId)
           ORDER BY vm_id, disk_id`,
        ).all({ diskId: filter.diskId ?? null, vmId: filter.vmId ?? null }),
        'listDiskAttachments',
      ),
    );
  }

  async acquireLocks(owner: string, reason: string, entities: EntityRef[]): Promise<void> {
    const wanted = wantedLocks(entities);
    return this.write('acquireLocks', () => {
      const select = this.stmt('SELECT * FROM entity_locks WHERE entity_type = ? AND entity_id = ?');
      const held = wanted.flatMap((w) => parseRows(LockRow, select.all(w.type, w.id), 'acquireLocks'));
      const plan = planLocks(owner, wanted, held);
      if (plan.conflicts.length > 0) throw new EntityLockedError(plan.conflicts);
      const insert = this.stmt(
        'INSERT INTO entity_locks (entity_type, entity_id, owner, mode, reason, acquired_at) VALUES (?, ?, ?, ?, ?, ?)',
      );
      const at = new Date().toISOString();
      for (const w of plan.insert) insert.run(w.type, w.id, owner, w.mode, reason, at);
      const upgrade = this.stmt(
        "UPDATE entity_locks SET mode = 'exclusive' WHERE entity_type = ? AND entity_id = ? AND owner = ?",
      );
      for (const w of plan.upgrade) upgrade.run(w.type, w.id, owner);
    });
  }

  async releaseLocks(owner: string): Promise<number> {
    return this.write(
      'releaseLocks',
      () => this.stmt('DELETE FROM entity_locks WHERE owner = ?').run(owner).changes,
    );
  }

  async listLocks(filter: { owner?: string } = {}): Promise<EntityLock[]> {
    const owner = filter.owner ?? null;
    return this.read('listLocks', () =>
      parseRows(
        LockRow,
        this.stmt(
          'SELECT * FROM entity_locks WHERE (? IS NULL OR owner = ?) ORDER BY acquired_at, entity_type, entity_id, owner',
        ).all(owner, owner),
        'listLocks',
      ),
    );
  }

  async setVmStatus(vmId: string, status: VmStatus): Promise<void> {
    checkVmStatus(status, 'setVmStatus');
    return this.write('setVmStatus', () => {
      const { changes } = this.stmt('UPDATE vms SET status = ? WHERE id = ?').run(status, vmId);
      if (changes === 0) throw new NotFoundError('VM', vmId);
    });
  }

  async removeVm(vmId: string): Promise<void> {
    return this.write('removeVm', () => {
      this.stmt('UPDATE disks SET vm_id = NULL WHERE vm_id = ?').run(vmId);
      this.stmt('DELETE FROM vm_disks WHERE vm_id = ?').run(vmId);
      this.stmt('DELETE FROM snapshots WHERE vm_id = ?').run(vmId);
      this.stmt('DELETE FROM vms WHERE id = ?').run(vmId);
    });
  }

  async setDiskStatus(diskIds: string[], status: ImageStatus): Promise<void> {
    checkImageStatus(status, 'setDiskStatus');
    return this.write('setDiskStatus', () => {
      const update = this.stmt('UPDATE disks SET status = ? WHERE id = ?');
      for (const id of diskIds) update.run(status, id);
    });
  }

  async moveDiskToDomain(diskId: string, domainId: string): Promise<void> {
    return this.write('moveDiskToDomain', () => {
      this.stmt('UPDATE disks SET domain_id = ? WHERE id = ?').run(domainId, diskId);
      this.stmt('UPDATE volumes SET domain_id = ? WHERE disk_id = ?').run(domainId, diskId);
    });
  }

  async removeDisk(diskId: string): Promise<void> {
    return this.write('removeDisk', () => {
      this.stmt('DELETE FROM volumes WHERE disk_id = ?').run(diskId);
      this.stmt('DELETE FROM vm_disks WHERE disk_id = ?').run(diskId);
      this.stmt('DELETE FROM disks WHERE id = ?').run(diskId);
    });
  }

  async addDisk(disk: NewDisk): Promise<void> {
    volumes.checkNewDisk(disk);
    return this.write('addDisk', () => volumes.addDisk(this.q, disk));
  }

  async listVolumes(filter: { diskId?: string; snapshotId?: string } = {}): Promise<Volume[]> {
    return this.read('listVolumes', () => volumes.listVolumes(this.q, filter));
  }

  async getVolume(id: string): Promise<Volume | undefined> {
    return this.read('getVolume', () => volumes.findVolume(this.q, id));
  }

  async addVolume(volume: Omit<Volume, 'createdAt'>): Promise<void> {
    checkVolumeFields(volume, 'addVolume');
    return this.write('addVolume', () => volumes.addVolume(this.q, volume));
  }

  async updateVolume(id: string, patch: volumes.VolumePatch): Promise<void> {
    checkVolumeFields(patch, 'updateVolume');
    return this.write('updateVolume', () => volumes.updateVolume(this.q, id, patch));
  }

  async removeVolume(id: string): Promise<void> {
    return this.write('removeVolume', () => volumes.removeVolume(this.q, id));
  }

  async addSnapshotLeaf(input: Parameters<InventoryRepository['addSnapshotLeaf']>[0]): Promise<void> {
    checkVolumeFields(input.newVolume, 'addSnapshotLeaf');
    return this.write('addSnapshotLeaf', () => volumes.addSnapshotLeaf(this.q, input));
  }

  async removeSnapshotLeaf(input: { diskId: string; volumeId: string }): Promise<void> {
    return this.write('removeSnapshotLeaf', () => volumes.removeSnapshotLeaf(this.q, input));
  }

  async applySnapshotMerge(input: Parameters<InventoryRepository['applySnapshotMerge']>[0]): Promise<void> {
    return this.write('applySnapshotMerge', () => volumes.applySnapshotMerge(this.q, input));
  }

  async addSnapshot(snapshot: Omit<Snapshot, 'createdAt'>): Promise<void> {
    checkSnapshotStatus(snapshot.status, 'addSnapshot');
    return this.write('addSnapshot', () => volumes.addSnapshot(this.q, snapshot));
  }

  async getSnapshot(id: string): Promise<Snapshot | undefined> {
    return this.read('getSnapshot', () => volumes.getSnapshot(this.q, id));
  }

  async listSnapshots(filter: { vmId?: string } = {}): Promise<Snapshot[]> {
    return this.read('listSnapshots', () => volumes.listSnapshots(this.q, filter));
  }

  async setSnapshotStatus(id: string, status: SnapshotStatus): Promise<void> {
    return this.write('setSnapshotStatus', () => volumes.setSnapshotStatus(this.q, id, status));
  }

  async removeSnapshot(id: string): Promise<void> {
    return this.write('removeSnapshot', () => volumes.removeSnapshot(this.q, id));
  }

  async setDomainSize(domainId: string, sizeBytes: number): Promise<void> {
    checkPositiveInt(sizeBytes, 'sizeBytes', 'setDomainSize');
    return this.write('setDomainSize', () => {
      const { changes } = this.stmt('UPDATE storage_domains SET size_bytes = ? WHERE id = ?').run(
        sizeBytes,
        domainId,
      );
      if (changes === 0) throw new NotFoundError('StorageDomain', domainId);
    });
  }

  async addAudit(entry: NewAuditEntry): Promise<void> {
    const time = entry.time === undefined ? new Date().toISOString() : isoTime(entry.time, 'addAudit');
    return this.write('addAudit', () => this.insertAudit(entry, time));
  }

  async addAuditOnce(entry: NewAuditEntry & { correlationId: string }): Promise<boolean> {
    const time = entry.time === undefined ? new Date().toISOString() : isoTime(entry.time, 'addAuditOnce');
    // One write transaction: SQLite serialises writers, so check and insert cannot interleave.
    return this.write('addAuditOnce', () => {
      const exists = this.stmt('SELECT 1 FROM audit_log WHERE correlation_id = ? AND type = ? LIMIT 1').get(
        entry.correlationId,
        entry.type,
      );
      if (exists) return false;
      this.insertAudit(entry, time);
      return true;
    });
  }

  private insertAudit(entry: NewAuditEntry, time: string): void {
    this.stmt(
      `INSERT INTO audit_log (time, type, severity, message, correlation_id, entity_ids)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(
      time,
      entry.type,
      entry.severity,
      entry.message,
      entry.correlationId,
      JSON.stringify(entry.entityIds),
    );
  }

  async listAudit(
    filter: { correlationId?: string; type?: string; limit?: number } = {},
  ): Promise<AuditEntry[]> {
    const limit = auditLimit(filter.limit);
    return this.read('listAudit', () =>
      parseRows(
        AuditRow,
        this.stmt(
          `SELECT * FROM audit_log
           WHERE (@correlationId IS NULL OR correlation_id = @correlationId) AND (@type IS NULL OR type = @type)
           ORDER BY time DESC, id DESC LIMIT @limit`,
        ).all({ correlationId: filter.correlationId ?? null, type: filter.type ?? null, limit: limit ?? -1 }),
        'listAudit',
      ),
    );
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
