/**
 * Command inputs, validated at the edges (client, CLI) with zod and re-checked by workflows.
 * Workflow-safe: zod is pure.
 */
import { z } from 'zod';

const uuid = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a UUID')
  .transform((s) => s.toLowerCase());

export const RemoveVmInput = z
  .object({
    vmId: uuid,
    /** Remove even if some disks are LOCKED by something else (the engine's `force`). */
    force: z.boolean().default(false),
  })
  .strict();
export type RemoveVmInput = z.infer<typeof RemoveVmInput>;

export const RemoveDiskInput = z
  .object({
    diskId: uuid,
    force: z.boolean().default(false),
  })
  .strict();
export type RemoveDiskInput = z.infer<typeof RemoveDiskInput>;

/** Largest disk the CLI and client accept (the engine caps a disk at 8 TiB for some types; 1 PiB is a sanity bound). */
export const MAX_DISK_SIZE_BYTES = 2 ** 50;

/** A disk alias as the engine accepts it: printable, no control characters. */
const alias = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .regex(/^[^\p{Cc}]+$/u, 'must not contain control characters');

/**
 * AddDisk: a new image on a data domain, optionally attached to a VM. `format`/`sparse` left out
 * take the engine's defaults for the domain (see `resolveVolumeFormat`).
 */
export const AddDiskInput = z
  .object({
    domainId: uuid,
    sizeBytes: z.number().int().positive('must be more than 0 bytes').max(MAX_DISK_SIZE_BYTES),
    alias,
    vmId: uuid.nullable().default(null),
    format: z.enum(['cow', 'raw']).optional(),
    sparse: z.boolean().default(true),
    wipeAfterDelete: z.boolean().default(false),
    /** Chosen by the client so a resubmission reaches the same run (workflow id `AddDisk/<commandId>`). */
    commandId: uuid,
  })
  .strict();
export type AddDiskInput = z.infer<typeof AddDiskInput>;

/** Cold CreateSnapshot of a VM that is Down: one new COW leaf per disk, all or nothing. */
export const CreateSnapshotInput = z
  .object({
    vmId: uuid,
    description: z.string().min(1, 'must not be empty').max(4000),
    /** Only these disks of the VM (default: every non-shareable disk). */
    diskIds: z
      .array(uuid)
      .min(1)
      .refine((ids) => new Set(ids).size === ids.length, 'must not repeat a disk')
      .optional(),
    /** Chosen by the client so a resubmission reaches the same run (workflow id `CreateSnapshot/<commandId>`). */
    commandId: uuid,
  })
  .strict();
export type CreateSnapshotInput = z.infer<typeof CreateSnapshotInput>;

/** Cold RemoveSnapshot of a VM that is Down: each disk's snapshot volume merged with its child. */
export const RemoveSnapshotInput = z
  .object({
    vmId: uuid,
    /** One removal of a snapshot at a time: its id is the business id (`RemoveSnapshot/<snapshotId>`). */
    snapshotId: uuid,
  })
  .strict();
export type RemoveSnapshotInput = z.infer<typeof RemoveSnapshotInput>;

/** Cold MoveDisk: the disk's image goes to another data domain of its pool (VMs Down). */
export const MoveDiskInput = z
  .object({
    diskId: uuid,
    toDomainId: uuid,
  })
  .strict();
export type MoveDiskInput = z.infer<typeof MoveDiskInput>;

/** Cold CopyDisk: a new floating disk on another (or the same) domain with the disk's data. */
export const CopyDiskInput = z
  .object({
    diskId: uuid,
    toDomainId: uuid,
    /** The copy's alias (default: `<alias>_copy`). */
    alias: alias.optional(),
    /** Chosen by the client so a resubmission reaches the same run (workflow id `CopyDisk/<commandId>`). */
    commandId: uuid,
  })
  .strict();
export type CopyDiskInput = z.infer<typeof CopyDiskInput>;

/** MoveDisk/CopyDisk after validation: source and destination, ids of what gets made. */
export interface MoveOrCopyPlan {
  op: 'move' | 'copy';
  diskId: string;
  alias: string;
  poolId: string;
  srcDomainId: string;
  srcDomainName: string;
  dstDomainId: string;
  dstDomainName: string;
  sizeBytes: number;
  /** The source's active volume: what the copy reads (through its chain). */
  srcVolumeId: string;
  /** The destination image (move: the disk's own id; copy: the new disk's). */
  dstDiskId: string;
  dstVolumeId: string;
  dstAlias: string;
  format: 'COW' | 'RAW';
  volumeType: 'SPARSE' | 'PREALLOCATED';
  /** The source disk's own status before the command (restored when the move fails). */
  priorStatus: 'OK' | 'LOCKED' | 'ILLEGAL';
  vmId: string | null;
  startMaxAttempts: number;
}

export interface MoveOrCopyResult {
  diskId: string;
  domainId: string;
  volumeId: string;
}

/** What a step needs to remove one image; built by the parent's prepare activity. */
export interface ImagePlan {
  diskId: string;
  alias: string;
  poolId: string;
  domainId: string;
  domainName: string;
  /** Image.delete postZero = the disk's wipe-after-delete. */
  postZero: boolean;
  /** Image.delete discard = the domain's discard-after-delete. */
  discard: boolean;
  sizeBytes: number;
  /** The image's volumes, base first (named in DELETE_IMAGE_GROUP_TASK_FAILED). */
  volumeIds: string[];
  /** Status before the command locked it (restored if the command is undone before any delete). */
  priorStatus: 'OK' | 'LOCKED' | 'ILLEGAL';
}

/** RemoveDisk after validation: its image, and the VMs it was attached to (named in the audit). */
export interface RemoveDiskPlan {
  image: ImagePlan;
  attachedVmNames: string[];
  startMaxAttempts: number;
}

export interface RemoveVmPlan {
  vmId: string;
  vmName: string;
  poolId: string;
  priorVmStatus: string;
  images: ImagePlan[];
  /** From the worker's config, recorded in history so replay sees the same window. */
  maxConcurrentImages: number;
  /** From the worker's config (TASK_START_MAX_ATTEMPTS), recorded in history like the window. */
  startMaxAttempts: number;
}

/** AddDisk after validation: the new disk, its rows added LOCKED, its ids chosen by the workflow. */
export interface AddDiskPlan {
  diskId: string;
  volumeId: string;
  alias: string;
  poolId: string;
  domainId: string;
  vmId: string | null;
  vmName: string | null;
  sizeBytes: number;
  format: 'COW' | 'RAW';
  volumeType: 'SPARSE' | 'PREALLOCATED';
  /** Volume.create initialSize: set for sparse COW on block storage, where the volume grows. */
  initialSizeBytes: number | null;
  startMaxAttempts: number;
}

export interface AddDiskResult {
  diskId: string;
  volumeId: string;
}

/** One disk of a CreateSnapshot: its current leaf gets a new COW child. */
export interface SnapshotDiskPlan {
  diskId: string;
  alias: string;
  domainId: string;
  sizeBytes: number;
  leafVolumeId: string;
  /** Chosen by the workflow after validation (deterministic on replay). */
  newVolumeId: string;
  /** Volume.create `sequence`: one more than the chain's length. */
  sequence: number;
  priorStatus: 'OK' | 'LOCKED' | 'ILLEGAL';
}

export interface CreateSnapshotPlan {
  snapshotId: string;
  vmId: string;
  vmName: string;
  poolId: string;
  description: string;
  disks: SnapshotDiskPlan[];
  startMaxAttempts: number;
}

export interface CreateSnapshotResult {
  snapshotId: string;
  vmId: string;
  /** The new active volume of each disk. */
  volumes: Array<{ diskId: string; volumeId: string }>;
}

/**
 * One disk of a RemoveSnapshot: the snapshot's volume (base) and its child (top), merged with the
 * engine's cold merge: the top's data goes into the base, then the top leaves the chain.
 */
export interface RemoveSnapshotDiskPlan {
  diskId: string;
  alias: string;
  domainId: string;
  baseVolumeId: string;
  topVolumeId: string;
  /** Image.deleteVolumes of the top, as PostDeleteActionHandler fixes them (see imagePlan). */
  postZero: boolean;
  discard: boolean;
}

export interface RemoveSnapshotPlan {
  snapshotId: string;
  description: string;
  vmId: string;
  vmName: string;
  poolId: string;
  disks: RemoveSnapshotDiskPlan[];
  startMaxAttempts: number;
}

/** Where a disk's merge stopped: the stage that failed, or 'merged' once every stage is done. */
export type RemoveSnapshotStage = 'PrepareMerge' | 'ColdMerge' | 'FinalizeMerge' | 'DestroyImage' | 'merged';

export interface RemoveSnapshotResult {
  snapshotId: string;
  vmId: string;
  mergedDiskIds: string[];
}

/** Details of a failed RemoveSnapshot: what merged, what failed at which stage, what is ILLEGAL. */
export interface RemoveSnapshotFailureDetails {
  vmId: string;
  snapshotId: string;
  mergedDiskIds: string[];
  failedStages: Record<string, RemoveSnapshotStage>;
  illegalDiskIds: string[];
}

export interface RemoveVmResult {
  vmId: string;
  vmName: string;
  removedDiskIds: string[];
}

export interface RemoveDiskResult {
  diskId: string;
}

/** Formats a zod error so each line names the field and the rule. */
export function describeZodError(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(input)'}: ${i.message}`).join('; ');
}
