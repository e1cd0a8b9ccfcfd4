/**
 * Applying an orphan plan (src/activities/orphan-locks.ts): statuses first, locks last, so a
 * release interrupted half-way is finished by the next one (a restored entity is not LOCKED any
 * more and is not planned again). Every action is audited with one of this project's audit types
 * (the engine has none for it: its unlock_entity.sh writes no audit).
 */
import type { InventoryRepository } from '../inventory/port';
import type { OrphanChange, OrphanDeps, OrphanPlan } from './orphan-locks';

/** This project's audit types for what the janitor and `ovirt-tasks unlock` do to orphans. */
export const OrphanAuditType = {
  /** The locks of a closed command were released (WARNING). */
  locksReleased: 'ORPHANED_LOCKS_RELEASED',
  /** A status a closed command set was restored, as storage proves it (WARNING). */
  statusRestored: 'ORPHANED_ENTITY_STATUS_RESTORED',
  /** A disk or snapshot row of a closed command that storage does not hold was removed (WARNING). */
  removed: 'ORPHANED_ENTITY_REMOVED',
  /** An image a closed command left on storage: its removal step was started (WARNING). */
  imageRemovalStarted: 'ORPHANED_IMAGE_REMOVAL_STARTED',
  /** A status that could not be proved: left as it is for an administrator (ERROR). */
  leftLocked: 'ORPHANED_ENTITY_LEFT_LOCKED',
} as const;

export function describeChange(change: OrphanChange): string {
  switch (change.kind) {
    case 'vmStatus':
      return `VM ${change.name} (${change.vmId}): ${change.from} -> ${change.to} (${change.why})`;
    case 'diskStatus':
      return `disk ${change.alias} (${change.diskId}): ${change.from} -> ${change.to} (${change.why})`;
    case 'removeDisk':
      return `disk ${change.alias} (${change.diskId}): removed from the inventory (${change.why})`;
    case 'removeSnapshot':
      return `snapshot '${change.description}' (${change.snapshotId}): removed from the inventory (${change.why})`;
    case 'snapshotStatus':
      return `snapshot '${change.description}' (${change.snapshotId}): ${change.from} -> ${change.to} (${change.why})`;
    case 'moveDisk':
      return `disk ${change.alias} (${change.diskId}): moved to ${change.toDomainName} (${change.toDomainId}), ${change.from} -> ${change.to} (${change.why})`;
  }
}

const subjectOf = (change: OrphanChange): string =>
  change.kind === 'vmStatus'
    ? change.vmId
    : change.kind === 'removeSnapshot' || change.kind === 'snapshotStatus'
      ? change.snapshotId
      : change.diskId;

async function applyChange(inventory: InventoryRepository, change: OrphanChange): Promise<void> {
  switch (change.kind) {
    case 'vmStatus':
      return inventory.setVmStatus(change.vmId, change.to);
    case 'diskStatus':
      if (change.volume) await inventory.updateVolume(change.volume.id, change.volume.facts);
      return inventory.setDiskStatus([change.diskId], change.to);
    case 'removeDisk':
      return inventory.removeDisk(change.diskId);
    case 'removeSnapshot':
      return inventory.removeSnapshot(change.snapshotId);
    case 'snapshotStatus':
      return inventory.setSnapshotStatus(change.snapshotId, change.to);
    case 'moveDisk':
      await inventory.moveDiskToDomain(change.diskId, change.toDomainId);
      return inventory.setDiskStatus([change.diskId], change.to);
  }
}

export interface AppliedPlan {
  /** False when the owner runs again (a new run of the same business id): nothing was changed. */
  applied: boolean;
  locksReleased: number;
  /** Removal steps started (plan.removeImages): nothing else changed, a later plan goes on. */
  removalsStarted: string[];
}

/**
 * Applies a plan that is not blocked. `actor` names who did it in the audit ("Janitor",
 * "ovirt-tasks unlock"). The owner is asked once more first: a command submitted again under the
 * same id since the plan was made owns its locks again.
 */
export async function applyOrphanPlan(
  deps: OrphanDeps,
  plan: OrphanPlan,
  actor: string,
): Promise<AppliedPlan> {
  if (plan.blockedBy) throw new Error(`cannot apply a blocked plan: ${plan.blockedBy.why}`);
  const { inventory } = deps;
  if (plan.owner && (await deps.isRunning(plan.owner)))
    return { applied: false, locksReleased: 0, removalsStarted: [] };
  const of = plan.owner ? ` left by ${plan.owner}` : '';
  if (plan.removeImages.length) {
    // Storage first: the statuses and locks wait until the images are gone (a later plan).
    if (!deps.commands) throw new Error('removing an image a closed command left needs Temporal');
    for (const image of plan.removeImages) {
      await deps.commands.startImageRemoval(image.step);
      await inventory.addAudit({
        type: OrphanAuditType.imageRemovalStarted,
        severity: 'WARNING',
        message: `${actor}: ${image.step.description} (${image.stepId}): ${image.why}${of}.`,
        correlationId: plan.owner,
        entityIds: [image.step.image.id, image.step.image.domainId],
      });
    }
    return { applied: true, locksReleased: 0, removalsStarted: plan.removeImages.map((i) => i.stepId) };
  }
  for (const change of plan.changes) {
    await applyChange(inventory, change);
    await inventory.addAudit({
      type:
        change.kind === 'vmStatus' ||
        change.kind === 'diskStatus' ||
        change.kind === 'snapshotStatus' ||
        change.kind === 'moveDisk'
          ? OrphanAuditType.statusRestored
          : OrphanAuditType.removed,
      severity: 'WARNING',
      message: `${actor}: ${describeChange(change)}${of}.`,
      correlationId: plan.owner,
      entityIds: [subjectOf(change)],
    });
  }
  for (const left of plan.unproven) {
    await inventory.addAudit({
      type: OrphanAuditType.leftLocked,
      severity: 'ERROR',
      message: `${actor}: ${left.type} ${left.id} stays ${left.status}${of}: ${left.why}. An administrator must check it.`,
      correlationId: plan.owner,
      entityIds: [left.id],
    });
  }
  let locksReleased = 0;
  if (plan.owner && plan.releaseLocks.length) {
    locksReleased = await inventory.releaseLocks(plan.owner);
    if (locksReleased > 0)
      await inventory.addAudit({
        type: OrphanAuditType.locksReleased,
        severity: 'WARNING',
        message: `${actor}: released ${locksReleased} lock(s) of ${plan.owner}, which is no longer running: ${plan.releaseLocks.map((l) => `${l.type} ${l.id} (${l.mode})`).join(', ')}.`,
        correlationId: plan.owner,
        entityIds: [...new Set(plan.releaseLocks.map((l) => l.id))],
      });
  }
  return { applied: true, locksReleased, removalsStarted: [] };
}
