import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { ImageStatus, VmStatus } from '../shared/vocabulary';
import { asInventoryError } from './codec';
import { InventoryError } from './errors';
import {
  type AuditEntry,
  type Disk,
  type DiskAttachment,
  type EntityLock,
  type EntityRef,
  type Host,
  type InventoryRepository,
  type NewAuditEntry,
  type NewDisk,
  type PublishedTaskStatuses,
  type Snapshot,
  type SnapshotStatus,
  type StatusPollLead,
  type StorageDomain,
  type StoragePool,
  type TaskClaim,
  type TaskObservation,
  type TaskStartIntent,
  type Vm,
  type Volume,
} from './port';
import { seedEntities, type InventorySeed } from './seed';
import * as entities from './sqlite-entities';
import * as locksAudit from './sqlite-locks-audit';
import * as schema from './sqlite-schema';
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
  /** The statement cache as a function, for the helpers in sqlite-*.ts. */
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
    const fixture = seed ? seedEntities(seed) : undefined;
    return this.write('init', () => schema.migrateAndSeed(this.db, this.q, fixture));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  async listPools(): Promise<StoragePool[]> {
    return entities.listPools(this.ctx);
  }

  async getPool(id: string): Promise<StoragePool | undefined> {
    return entities.getPool(this.ctx, id);
  }

  async listDomains(poolId?: string): Promise<StorageDomain[]> {
    return entities.listDomains(this.ctx, poolId);
  }

  async getDomain(id: string): Promise<StorageDomain | undefined> {
    return entities.getDomain(this.ctx, id);
  }

  async listHosts(poolId: string): Promise<Host[]> {
    return entities.listHosts(this.ctx, poolId);
  }

  async setHostAddress(hostId: string, address: string, port: number): Promise<void> {
    return entities.setHostAddress(this.ctx, hostId, address, port);
  }

  async listVms(): Promise<Vm[]> {
    return entities.listVms(this.ctx);
  }

  async getVm(id: string): Promise<Vm | undefined> {
    return entities.getVm(this.ctx, id);
  }

  async listDisks(
    filter: { vmId?: string; attachedTo?: string; status?: ImageStatus } = {},
  ): Promise<Disk[]> {
    return entities.listDisks(this.ctx, filter);
  }

  async getDisk(id: string): Promise<Disk | undefined> {
    return entities.getDisk(this.ctx, id);
  }

  async listDiskAttachments(filter: { diskId?: string; vmId?: string } = {}): Promise<DiskAttachment[]> {
    return entities.listDiskAttachments(this.ctx, filter);
  }

  async acquireLocks(owner: string, reason: string, entities: EntityRef[]): Promise<void> {
    return locksAudit.acquireLocks(this.ctx, owner, reason, entities);
  }

  async releaseLocks(owner: string): Promise<number> {
    return locksAudit.releaseLocks(this.ctx, owner);
  }

  async listLocks(filter: { owner?: string } = {}): Promise<EntityLock[]> {
    return locksAudit.listLocks(this.ctx, filter);
  }

  async setVmStatus(vmId: string, status: VmStatus): Promise<void> {
    return entities.setVmStatus(this.ctx, vmId, status);
  }

  async removeVm(vmId: string): Promise<void> {
    return entities.removeVm(this.ctx, vmId);
  }

  async setDiskStatus(diskIds: string[], status: ImageStatus): Promise<void> {
    return entities.setDiskStatus(this.ctx, diskIds, status);
  }

  async moveDiskToDomain(diskId: string, domainId: string): Promise<void> {
    return entities.moveDiskToDomain(this.ctx, diskId, domainId);
  }

  async removeDisk(diskId: string): Promise<void> {
    return entities.removeDisk(this.ctx, diskId);
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
    return entities.setDomainSize(this.ctx, domainId, sizeBytes);
  }

  async addAudit(entry: NewAuditEntry): Promise<void> {
    return locksAudit.addAudit(this.ctx, entry);
  }

  async addAuditOnce(entry: NewAuditEntry & { correlationId: string }): Promise<boolean> {
    return locksAudit.addAuditOnce(this.ctx, entry);
  }

  async listAudit(
    filter: { correlationId?: string; type?: string; limit?: number } = {},
  ): Promise<AuditEntry[]> {
    return locksAudit.listAudit(this.ctx, filter);
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

  async leadStatusPolls(poolId: string, worker: string, leaseMs: number): Promise<StatusPollLead> {
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

  async readTaskStatuses(poolId: string, afterSeq: number): Promise<PublishedTaskStatuses | undefined> {
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
