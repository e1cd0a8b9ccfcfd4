import { Pool, type PoolClient } from 'pg';
import type { ImageStatus, VmStatus } from '../shared/vocabulary';
import { SnapshotRow, asInventoryError, checkImageStatus, parseRow, parseRows } from './codec';
import {
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
import * as entities from './postgres-entities';
import * as locksAudit from './postgres-locks-audit';
import * as schema from './postgres-schema';
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
    const fixture = seed ? seedEntities(seed) : undefined;
    return this.transaction('init', (c) => schema.migrateAndSeed(c, fixture));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
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
