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
  /** The administrator's choice: discard a disk's blocks when it is deleted. */
  discardAfterDelete: boolean;
  /**
   * Whether the storage can discard at all (the engine's `supports_discard`). Image.delete sends
   * `discard` only where it is true (PostDeleteActionHandler), whatever discardAfterDelete says.
   */
  supportsDiscard: boolean;
  /** block domains (iscsi, fcp) vs file domains (nfs, glusterfs, localfs, posixfs) */
  kind: 'block' | 'file';
  /** 0 when the store does not know it (a domain from before sizes were kept): nothing fits. */
  sizeBytes: number;
  /**
   * sizeBytes minus the capacity of every volume on it (provisioned, as the engine's storage
   * allocation check does for a new disk). Negative when the domain is over-committed.
   */
  freeBytes: number;
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
  /**
   * The VM a non-shareable disk belongs to; null for a floating disk and for every shareable disk
   * (it belongs to no VM). Which VMs use a disk: listDiskAttachments.
   */
  vmId: string | null;
  domainId: string;
  sizeBytes: number;
  wipeAfterDelete: boolean;
  shareable: boolean;
  status: ImageStatus;
  /** The volume chain, base first (from the volumes table). */
  volumeIds: string[];
  /** The active volume's (the engine shows a disk as its active image): COW once it has snapshots. */
  format: VolumeFormat;
  volumeType: VolumeType;
}

/**
 * A disk attached to a VM (the engine's vm_device + disk_vm_element). A non-shareable disk has at
 * most one, to its `vmId`; a shareable disk may have several. Removing the VM removes its
 * attachments; removing the disk removes the disk's.
 */
export interface DiskAttachment {
  vmId: string;
  diskId: string;
  /** Plugged into the VM: while the VM is not Down it uses the disk. */
  plugged: boolean;
  /** The guest's discards reach the storage: Image.delete discards where the domain can. */
  passDiscard: boolean;
}

export type VolumeFormat = 'COW' | 'RAW';
export type VolumeType = 'SPARSE' | 'PREALLOCATED';
export type VolumeLegality = 'LEGAL' | 'ILLEGAL';
export interface Volume {
  id: string;
  diskId: string;
  domainId: string;
  /** null for the base */
  parentId: string | null;
  /** the leaf of its chain: what the VM writes to (the engine's `active`) */
  active: boolean;
  /**
   * the snapshot this volume belongs to once it is no longer the leaf; null while active. Volumes
   * seeded from a fixture (which has no snapshots) or migrated from an older store keep null, and
   * removeVm leaves the ids of the snapshots it removed on volumes of the detached disks.
   */
  snapshotId: string | null;
  format: VolumeFormat;
  volumeType: VolumeType;
  legality: VolumeLegality;
  /** virtual size (capacity) */
  sizeBytes: number;
  actualSizeBytes: number | null;
  createdAt: string;
}

export type SnapshotStatus = 'OK' | 'LOCKED' | 'IN_PREVIEW';
export interface Snapshot {
  id: string;
  vmId: string;
  description: string;
  status: SnapshotStatus;
  createdAt: string;
}

export type EntityType = 'VM' | 'DISK' | 'SNAPSHOT';
/**
 * The engine's lock modes: shared holders of an entity coexist; an exclusive lock excludes every
 * other holder (shared or exclusive) of a different owner.
 */
export type LockMode = 'exclusive' | 'shared';
export interface EntityRef {
  type: EntityType;
  id: string;
  /** default 'exclusive' */
  mode?: LockMode;
}
export interface EntityLock extends EntityRef {
  mode: LockMode;
  /** Workflow id of the command that holds it. */
  owner: string;
  reason: string;
  acquiredAt: string;
}

/**
 * What addDisk takes: the disk and the id of its first (base, active) volume. With a vmId the disk
 * is attached to that VM (plugged, no pass-discard); a shareable disk is attached but belongs to
 * no VM (its `Disk.vmId` is null).
 */
export interface NewDisk {
  id: string;
  poolId: string;
  alias: string;
  vmId: string | null;
  domainId: string;
  sizeBytes: number;
  wipeAfterDelete: boolean;
  shareable: boolean;
  status: ImageStatus;
  format: VolumeFormat;
  volumeType: VolumeType;
  volumeId: string;
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

/** What leadStatusPolls answers: whether the worker leads now, and the last publication's number and end. */
export interface StatusPollLead {
  leading: boolean;
  seq: number;
  endedAtMs: number | null;
}

/** A pool's published status poll answer (statuses as JSON; end time on the poller's clock). */
export interface PublishedTaskStatuses {
  seq: number;
  statusesJson: string;
  endedAtMs: number | null;
}
export interface InventoryRepository {
  /**
   * Creates tables if missing; seeds from the fixture only when the inventory is empty (and fills
   * in the sizes of domains the store has no size for). Returns whether it seeded.
   */
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
  /**
   * By alias. `vmId`: the disks that VM owns (non-shareable); `attachedTo`: every disk attached to
   * that VM, shareable ones included.
   */
  listDisks(filter?: { vmId?: string; attachedTo?: string; status?: ImageStatus }): Promise<Disk[]>;
  getDisk(id: string): Promise<Disk | undefined>;
  /** Attachments of a disk, of a VM, or all; by VM id, then disk id. */
  listDiskAttachments(filter?: { diskId?: string; vmId?: string }): Promise<DiskAttachment[]>;

  /**
   * All-or-nothing: takes every lock or none. Re-entrant: an owner asking again for an entity it
   * holds keeps its one lock (first reason and time); asking for `exclusive` what it holds `shared`
   * upgrades it, which succeeds only if no other owner holds the entity. The same entity named twice
   * in one call counts once, in the stronger mode. Throws EntityLockedError listing every conflict.
   */
  acquireLocks(owner: string, reason: string, entities: EntityRef[]): Promise<void>;
  /** Releases every lock of the owner; returns how many. */
  releaseLocks(owner: string): Promise<number>;
  listLocks(filter?: { owner?: string }): Promise<EntityLock[]>;

  setVmStatus(vmId: string, status: VmStatus): Promise<void>;
  /**
   * Removes the VM record, its snapshots and its attachments; its disks stay (vmId set to null)
   * until their own end actions, and its shareable disks stay attached to their other VMs.
   * Idempotent.
   */
  removeVm(vmId: string): Promise<void>;
  setDiskStatus(diskIds: string[], status: ImageStatus): Promise<void>;
  /** The disk and all its volumes now live on another domain (MoveDisk's end). Idempotent. */
  moveDiskToDomain(diskId: string, domainId: string): Promise<void>;
  /** Removes the disk's records, its volumes and attachments with it. Idempotent. */
  removeDisk(diskId: string): Promise<void>;

  /**
   * Adds the disk (status as given, normally LOCKED) with its first volume (base, active, LEGAL,
   * capacity = the disk's size), unless a disk with that id exists (then nothing changes).
   * NotFoundError for an unknown pool, domain or VM; InventoryConflictError when the domain is not
   * in the pool or the volume id belongs to another disk.
   */
  addDisk(disk: NewDisk): Promise<void>;
  /** Chain order, base first; several disks (a snapshot's volumes): by disk id, each base first. */
  listVolumes(filter?: { diskId?: string; snapshotId?: string }): Promise<Volume[]>;
  getVolume(id: string): Promise<Volume | undefined>;
  /**
   * Idempotent (same id → no change). NotFoundError for an unknown disk; InventoryConflictError
   * when it would be a second active volume of the disk.
   */
  addVolume(volume: Omit<Volume, 'createdAt'>): Promise<void>;
  /** NotFoundError for an unknown volume; InventoryConflictError for a second active volume. */
  updateVolume(
    id: string,
    patch: Partial<
      Pick<
        Volume,
        'active' | 'snapshotId' | 'legality' | 'sizeBytes' | 'actualSizeBytes' | 'format' | 'volumeType'
      >
    >,
  ): Promise<void>;
  /**
   * Idempotent. Refuses (InventoryConflictError) a volume that is another's parent, and the last
   * volume of a disk (remove the disk instead).
   */
  removeVolume(id: string): Promise<void>;
  /**
   * In one transaction: the disk's current leaf becomes INTERNAL (active=false, snapshotId set),
   * and the new volume is added as the active leaf with the old leaf as parent. Idempotent: a
   * second call with the same new volume id changes nothing. NotFoundError for an unknown disk or
   * snapshot; InventoryConflictError when the disk has no active leaf, or newVolume names another disk.
   */
  addSnapshotLeaf(input: {
    diskId: string;
    snapshotId: string;
    newVolume: Omit<Volume, 'createdAt' | 'parentId' | 'active' | 'snapshotId'>;
  }): Promise<void>;
  /**
   * The undo of addSnapshotLeaf (CreateSnapshot's failure path), in one transaction: removes the
   * leaf and makes its parent the active leaf again (snapshotId null). Idempotent: a volume that is
   * gone changes nothing. InventoryConflictError when the volume is not the disk's active leaf or
   * has no parent.
   */
  removeSnapshotLeaf(input: { diskId: string; volumeId: string }): Promise<void>;

  /**
   * RemoveSnapshot's merge of one disk, in one transaction: the base (the snapshot's volume) takes
   * the top's place in the chain (its `active` and `snapshotId`, the larger capacity), the top's
   * child is rebased onto the base, and the top goes — or, with `topLeftIllegal` (VDSM took it out
   * of the chain but could not delete it), stays as an ILLEGAL volume outside the chain (not
   * active, no snapshot, no child). Idempotent: a top that is gone or already out of the chain
   * changes nothing. InventoryConflictError when the top is not the base's child on that disk.
   */
  applySnapshotMerge(input: {
    diskId: string;
    baseVolumeId: string;
    topVolumeId: string;
    topLeftIllegal: boolean;
  }): Promise<void>;

  /** Idempotent (same id → no change). NotFoundError for an unknown VM. */
  addSnapshot(snapshot: Omit<Snapshot, 'createdAt'>): Promise<void>;
  getSnapshot(id: string): Promise<Snapshot | undefined>;
  /** Oldest first. */
  listSnapshots(filter?: { vmId?: string }): Promise<Snapshot[]>;
  /** NotFoundError for an unknown snapshot. */
  setSnapshotStatus(id: string, status: SnapshotStatus): Promise<void>;
  /** Idempotent. Refuses (InventoryConflictError) while a volume still belongs to it. */
  removeSnapshot(id: string): Promise<void>;
  /**
   * Records a domain's size (an operator's or a store upgraded from before sizes were kept). Also
   * done by init(seed) for every domain whose size is unknown and that the fixture names.
   */
  setDomainSize(domainId: string, sizeBytes: number): Promise<void>;

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

  /**
   * Status polls shared by the workers: one worker at a time polls a pool's SPM (its lease,
   * renewed by each call; free when expired), the others read what it published. Returns whether
   * `worker` leads now, and the last publication's sequence number and end time (poller's clock).
   */
  leadStatusPolls(poolId: string, worker: string, leaseMs: number): Promise<StatusPollLead>;
  /** Publishes a poll's answer (JSON) if `worker` still leads; returns the new sequence number. */
  publishTaskStatuses(
    poolId: string,
    worker: string,
    statusesJson: string,
    endedAtMs: number,
  ): Promise<number | undefined>;
  /** The pool's last published answer, if newer than `afterSeq`. */
  readTaskStatuses(poolId: string, afterSeq: number): Promise<PublishedTaskStatuses | undefined>;
  /** Gives the pool's polls up (the worker has nothing left to wait for there): the next caller leads. */
  quitStatusPolls(poolId: string, worker: string): Promise<void>;

  listTaskClaims(filter?: { poolId?: string; owner?: string }): Promise<TaskClaim[]>;
  /** How many tasks of the pool steps have claimed (started and not cleared yet). */
  countTaskClaims(poolId: string): Promise<number>;
  /** Drops the claim (task cleared) and the owner's intent. Idempotent. */
  releaseTaskClaim(vdsmTaskId: string): Promise<void>;

  /** Upserts observations of the tasks an SPM reports now; returns them all (for this pool). */
  observeTasks(poolId: string, states: Record<string, string>, now: string): Promise<TaskObservation[]>;
  markTaskReported(vdsmTaskId: string, now: string): Promise<void>;
  forgetTasks(vdsmTaskIds: string[]): Promise<void>;
}
