/**
 * The inventory: the engine-side entities that commands validate and end actions change, plus
 * durable entity locks, the audit log and the bookkeeping that makes task creation idempotent.
 * One port; SQLite (embedded) and PostgreSQL (production) adapters implement it. Every method is
 * one transaction. Workflows never see it: activities do.
 */
import type { DataCenterFixture } from '../fixture/schema';
import type { ImageStatus, VmStatus } from '../shared/vocabulary';

export interface StoragePool {
  id: string;
  name: string;
  masterDomainId: string;
}
export interface StorageDomain {
  id: string;
  poolId: string;
  name: string;
  storageType: string;
  discardAfterDelete: boolean;
}
export interface Host {
  id: string;
  poolId: string;
  name: string;
  vdsId: number;
  /** Where its VDSM listens. */
  address: string;
  port: number;
}
export interface Vm {
  id: string;
  poolId: string;
  name: string;
  status: VmStatus;
  deleteProtected: boolean;
}
export interface Disk {
  /** Disk id == image group id. */
  id: string;
  poolId: string;
  alias: string;
  vmId: string | null;
  domainId: string;
  sizeBytes: number;
  wipeAfterDelete: boolean;
  shareable: boolean;
  status: ImageStatus;
  volumeIds: string[];
}

export type EntityType = 'VM' | 'DISK';
export interface EntityRef {
  type: EntityType;
  id: string;
}
export interface EntityLock extends EntityRef {
  /** Workflow id of the command that holds it. */
  owner: string;
  reason: string;
  acquiredAt: string;
}

export type AuditSeverity = 'INFO' | 'WARNING' | 'ERROR';
export interface AuditEntry {
  id: number;
  time: string;
  /** Engine AuditLogType name, e.g. USER_REMOVE_VM_FINISHED, DELETE_IMAGE_GROUP_TASK_FAILED. */
  type: string;
  severity: AuditSeverity;
  message: string;
  /** Workflow id of the command (the engine's correlation id). */
  correlationId: string | null;
  entityIds: string[];
}
export type NewAuditEntry = Omit<AuditEntry, 'id' | 'time'> & { time?: string };

/** A VDSM task that a workflow step owns. Finished tasks nobody owns are the janitor's. */
export interface TaskClaim {
  vdsmTaskId: string;
  poolId: string;
  /** Workflow id of the task step. */
  owner: string;
  verb: string;
  /** The image / volume / job the task works on. */
  subjectId: string;
  claimedAt: string;
}

/**
 * Written before a task-creating verb is sent: the task ids the SPM already had. If the step
 * crashes between sending and recording, its retry finds its task as the one new, unclaimed id.
 */
export interface TaskStartIntent {
  owner: string;
  poolId: string;
  verb: string;
  subjectId: string;
  knownTaskIds: string[];
  createdAt: string;
  /** Order of intents in the pool: starts are serialised per pool, so a later intent saw every earlier task. */
  seq: number;
  /** Set once the verb answered (or reconciliation found it). */
  vdsmTaskId: string | null;
  /**
   * A VDSM code the verb was refused with after it may already have changed storage (405 after
   * Image.delete renamed the image). Kept across the owner's later intents.
   */
  refusedCode: number | null;
}

/** The janitor's memory of tasks it has seen on an SPM: VDSM reports no start time. */
export interface TaskObservation {
  vdsmTaskId: string;
  poolId: string;
  firstSeenAt: string;
  lastState: string;
  lastChangeAt: string;
  /** Set once the janitor reported it as over the age limit (reported once, not every sweep). */
  reportedAt: string | null;
}

export class EntityLockedError extends Error {
  override readonly name = 'EntityLockedError';
  constructor(readonly conflicts: EntityLock[]) {
    super(
      `locked by another command: ${conflicts.map((l) => `${l.type} ${l.id} (${l.owner}: ${l.reason})`).join(', ')}`,
    );
  }
}

export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  constructor(
    readonly entity: string,
    readonly id: string,
  ) {
    super(`${entity} ${id} does not exist`);
  }
}

export interface InventoryRepository {
  /** Creates tables if missing; seeds from the fixture only when the inventory is empty. Returns whether it seeded. */
  init(seed?: { fixture: DataCenterFixture; vdsmAddress: string; vdsmBasePort: number }): Promise<boolean>;
  close(): Promise<void>;

  listPools(): Promise<StoragePool[]>;
  getPool(id: string): Promise<StoragePool | undefined>;
  listDomains(poolId?: string): Promise<StorageDomain[]>;
  getDomain(id: string): Promise<StorageDomain | undefined>;
  listHosts(poolId: string): Promise<Host[]>;
  /** Points a host at another address (real VDSM hosts, or a simulator on other ports). */
  setHostAddress(hostId: string, address: string, port: number): Promise<void>;
  listVms(): Promise<Vm[]>;
  getVm(id: string): Promise<Vm | undefined>;
  listDisks(filter?: { vmId?: string; status?: ImageStatus }): Promise<Disk[]>;
  getDisk(id: string): Promise<Disk | undefined>;

  /**
   * All-or-nothing: takes every lock or none. Re-entrant: locks the owner already holds count as
   * taken. Throws EntityLockedError listing every conflicting lock.
   */
  acquireLocks(owner: string, reason: string, entities: EntityRef[]): Promise<void>;
  /** Releases every lock of the owner; returns how many. */
  releaseLocks(owner: string): Promise<number>;
  listLocks(filter?: { owner?: string }): Promise<EntityLock[]>;

  setVmStatus(vmId: string, status: VmStatus): Promise<void>;
  /** Removes the VM record; its disks stay (vmId set to null) until their own end actions. Idempotent. */
  removeVm(vmId: string): Promise<void>;
  setDiskStatus(diskIds: string[], status: ImageStatus): Promise<void>;
  /** Removes the disk's records. Idempotent. */
  removeDisk(diskId: string): Promise<void>;

  addAudit(entry: NewAuditEntry): Promise<void>;
  /**
   * Adds the entry unless one of the same correlation id and type exists, atomically (activities
   * retry, and two attempts may overlap). Returns whether it added it.
   */
  addAuditOnce(entry: NewAuditEntry & { correlationId: string }): Promise<boolean>;
  listAudit(filter?: { correlationId?: string; type?: string; limit?: number }): Promise<AuditEntry[]>;

  /**
   * Serialises task-creating verbs per pool across workers: true when the lease is free, expired,
   * or already the owner's (the expiry is then renewed).
   */
  acquireStartLease(poolId: string, owner: string, leaseMs: number): Promise<boolean>;
  releaseStartLease(poolId: string, owner: string): Promise<void>;
  getStartIntent(owner: string): Promise<TaskStartIntent | undefined>;
  /** Replaces the owner's intent (a new, later `seq`; `refusedCode` is kept). */
  putStartIntent(
    intent: Omit<TaskStartIntent, 'createdAt' | 'vdsmTaskId' | 'seq' | 'refusedCode'>,
  ): Promise<void>;
  /** The pool's intents, oldest first; `pending` = those whose task is not known yet. */
  listStartIntents(filter: { poolId: string; pending?: boolean }): Promise<TaskStartIntent[]>;
  /** Records that the owner's verb was refused with `code` (see `TaskStartIntent.refusedCode`). */
  markStartIntentRefused(owner: string, code: number): Promise<void>;
  /** Records the task id on the intent and claims the task for the owner, in one transaction. */
  completeStartIntent(owner: string, vdsmTaskId: string): Promise<void>;
  /** Removes the owner's intent (e.g. the verb failed synchronously and left no task). */
  deleteStartIntent(owner: string): Promise<void>;

  listTaskClaims(filter?: { poolId?: string; owner?: string }): Promise<TaskClaim[]>;
  /** Drops the claim (task cleared) and the owner's intent. Idempotent. */
  releaseTaskClaim(vdsmTaskId: string): Promise<void>;

  /** Upserts observations of the tasks an SPM reports now; returns them all (for this pool). */
  observeTasks(poolId: string, states: Record<string, string>, now: string): Promise<TaskObservation[]>;
  markTaskReported(vdsmTaskId: string, now: string): Promise<void>;
  forgetTasks(vdsmTaskIds: string[]): Promise<void>;
}
