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

/** What a step needs to remove one image; built by the parent's prepare activity. */
export interface ImagePlan {
  diskId: string;
  alias: string;
  poolId: string;
  domainId: string;
  /** Image.delete postZero = the disk's wipe-after-delete. */
  postZero: boolean;
  /** Image.delete discard = the domain's discard-after-delete. */
  discard: boolean;
  sizeBytes: number;
  /** Status before the command locked it (restored if the command is undone before any delete). */
  priorStatus: 'OK' | 'LOCKED' | 'ILLEGAL';
}

export interface RemoveVmPlan {
  vmId: string;
  vmName: string;
  poolId: string;
  priorVmStatus: string;
  images: ImagePlan[];
  /** From the worker's config, recorded in history so replay sees the same window. */
  maxConcurrentImages: number;
}

export interface RemoveImageInput {
  parentCommandId: string;
  rootCommandId: string;
  vmId: string | null;
  image: ImagePlan;
  force: boolean;
}

export interface RemoveImageResult {
  diskId: string;
  succeeded: boolean;
  vdsmTaskId: string | null;
  /** Why the image was not removed (VDSM code/message, cancellation). */
  failureReason: string | null;
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
