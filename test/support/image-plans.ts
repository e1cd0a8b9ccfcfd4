/** Removal plans of inventory disks, for tests that run the start activity without a workflow. */
import type { InventoryRepository } from '../../src/inventory/port';
import type { ImagePlan } from '../../src/shared/commands';
import type { SpmTaskSpec } from '../../src/shared/steps';
import { removeImageStep } from '../../src/workflows/step-inputs';

/** The ImagePlan of an inventory disk as RemoveDisk plans it (no post-zero, no discard, status OK). */
export async function imagePlanOf(inventory: InventoryRepository, diskId: string): Promise<ImagePlan> {
  const disk = await inventory.getDisk(diskId);
  if (!disk) throw new Error(`no disk ${diskId} in the inventory`);
  return {
    diskId,
    alias: disk.alias,
    poolId: disk.poolId,
    domainId: disk.domainId,
    domainName: disk.domainId,
    postZero: false,
    discard: false,
    sizeBytes: disk.sizeBytes,
    volumeIds: disk.volumeIds,
    priorStatus: 'OK',
  };
}

/** The start activity's input for a RemoveImage step of `plan`. */
export function deleteStartOf(plan: ImagePlan): { task: SpmTaskSpec; poolId: string } {
  return {
    task: removeImageStep({ commandId: 'test', vmId: null }, plan, false, 1).task,
    poolId: plan.poolId,
  };
}
