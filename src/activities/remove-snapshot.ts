/**
 * Cold RemoveSnapshot's own activities: validate and lock, each disk's end once its merge stages
 * are done or one failed (storage decides what the inventory records), and the command's end.
 * The storage work is done by steps: PrepareMerge, FinalizeMerge and DestroyImage (SPM tasks) and
 * ColdMerge (an SDM.merge host job).
 */
import type { EntityRef, InventoryRepository } from '../inventory/port';
import { imagePlan } from '../rules/remove';
import { checkRemoveSnapshot } from '../rules/remove-snapshot';
import type {
  RemoveSnapshotDiskPlan,
  RemoveSnapshotInput,
  RemoveSnapshotPlan,
  RemoveSnapshotStage,
} from '../shared/commands';
import { isVdsmError, VdsmCode } from '../vdsm/errors';
import type { VolumeInfo } from '../vdsm/port';
import type { ActivityDeps } from './deps';
import { currentWorkflowId, typed } from './failures';
import type { SpmLocator } from './spm-locator';
import { auditOnce } from './task-step';

export interface EndRemoveSnapshotDiskInput {
  poolId: string;
  disk: RemoveSnapshotDiskPlan;
  /** The stage that failed, or 'merged' when every stage succeeded. */
  stage: RemoveSnapshotStage;
}

export interface RemoveSnapshotDiskOutcome {
  diskId: string;
  /** The top left the chain (merged, or out of the chain but left ILLEGAL on the domain). */
  merged: boolean;
  status: 'OK' | 'ILLEGAL';
  /** A merged-away volume VDSM could not delete: ILLEGAL on the domain, to remove by hand. */
  leftoverVolumeId: string | null;
}

export interface FinishRemoveSnapshotInput {
  plan: RemoveSnapshotPlan;
  outcomes: RemoveSnapshotDiskOutcome[];
  cancelled: boolean;
  reason: string | null;
}

export function createRemoveSnapshotActivities(
  deps: ActivityDeps,
  spm: SpmLocator,
): {
  prepareRemoveSnapshot(input: { input: RemoveSnapshotInput }): Promise<RemoveSnapshotPlan>;
  endRemoveSnapshotDisk(input: EndRemoveSnapshotDiskInput): Promise<RemoveSnapshotDiskOutcome>;
  finishRemoveSnapshot(input: FinishRemoveSnapshotInput): Promise<void>;
} {
  const { inventory, config } = deps;

  /** The top volume on storage, or null when VDSM says it does not exist (201). */
  async function topOnStorage(poolId: string, disk: RemoveSnapshotDiskPlan): Promise<VolumeInfo | null> {
    try {
      return await spm.onSpm(poolId, (s) =>
        s.api.volumeGetInfo({
          volumeID: disk.topVolumeId,
          imageID: disk.diskId,
          storagepoolID: poolId,
          storagedomainID: disk.domainId,
        }),
      );
    } catch (err) {
      if (isVdsmError(err, VdsmCode.VolumeDoesNotExist)) return null;
      throw err;
    }
  }

  return {
    /**
     * As the engine: validate; exclusive locks on the VM, the snapshot and its disks for the whole
     * command; the snapshot and the disks LOCKED. Re-running it (activity retry) finds its own locks.
     */
    async prepareRemoveSnapshot({ input }) {
      return typed(async () => {
        const commandId = currentWorkflowId();
        const owned = new Set((await inventory.listLocks({ owner: commandId })).map((l) => l.id));
        const { vm, snapshot, disks } = await checkRemoveSnapshot(inventory, input, { entityIds: owned });
        const entities: EntityRef[] = [
          { type: 'VM', id: vm.id, mode: 'exclusive' },
          { type: 'SNAPSHOT', id: snapshot.id, mode: 'exclusive' },
          ...disks.map((d) => ({ type: 'DISK' as const, id: d.disk.id, mode: 'exclusive' as const })),
        ];
        await inventory.acquireLocks(commandId, `RemoveSnapshot ${snapshot.description}`, entities);
        await inventory.setSnapshotStatus(snapshot.id, 'LOCKED');
        await inventory.setDiskStatus(
          disks.map((d) => d.disk.id),
          'LOCKED',
        );
        await auditOnce(inventory, {
          type: 'USER_REMOVE_SNAPSHOT',
          severity: 'INFO',
          message: `Snapshot '${snapshot.description}' deletion for VM '${vm.name}' was initiated.`,
          correlationId: commandId,
          entityIds: [vm.id, snapshot.id],
        });
        return {
          snapshotId: snapshot.id,
          description: snapshot.description,
          vmId: vm.id,
          vmName: vm.name,
          poolId: vm.poolId,
          startMaxAttempts: config.taskStartMaxAttempts,
          disks: disks.map(({ disk, domain, base, top }) => {
            const { postZero, discard } = imagePlan(disk, domain);
            return {
              diskId: disk.id,
              alias: disk.alias,
              domainId: disk.domainId,
              baseVolumeId: base.id,
              topVolumeId: top.id,
              postZero,
              discard,
            };
          }),
        };
      });
    },

    /**
     * Forward only, as the engine: no stage is undone. Storage says what the inventory records.
     * Before FinalizeMerge nothing a VM sees has changed: the disk is OK again. FinalizeMerge marks
     * the top ILLEGAL before it takes it out of the chain, so after a failed FinalizeMerge or
     * DestroyImage an ILLEGAL top is out of the chain: the chain is merged in the inventory and the
     * top kept as an ILLEGAL leftover (the disk ILLEGAL); a top VDSM no longer has is merged.
     */
    async endRemoveSnapshotDisk({ poolId, disk, stage }) {
      return typed(async () => {
        let merged = stage === 'merged';
        let leftover = false;
        if (stage === 'FinalizeMerge' || stage === 'DestroyImage') {
          const top = await topOnStorage(poolId, disk);
          if (top === null) merged = true;
          else if (top.legality === 'ILLEGAL') leftover = true;
        }
        if (merged || leftover) {
          await inventory.applySnapshotMerge({
            diskId: disk.diskId,
            baseVolumeId: disk.baseVolumeId,
            topVolumeId: disk.topVolumeId,
            topLeftIllegal: leftover,
          });
        }
        const status = leftover ? 'ILLEGAL' : 'OK';
        await setStatusIfLocked(inventory, disk.diskId, status);
        return {
          diskId: disk.diskId,
          merged: merged || leftover,
          status,
          leftoverVolumeId: leftover ? disk.topVolumeId : null,
        };
      });
    },

    /**
     * Every disk merged: the snapshot row goes. Otherwise it stays, OK, holding the disks that did
     * not merge (the engine's partial snapshot). Locks go on every path; audited as the engine.
     */
    async finishRemoveSnapshot({ plan, outcomes, cancelled, reason }) {
      return typed(async () => {
        const commandId = currentWorkflowId();
        // Each disk as its end found it; one whose end never ran (cancelled first) is as it was.
        for (const d of plan.disks) {
          const status = outcomes.find((o) => o.diskId === d.diskId)?.status ?? 'OK';
          await setStatusIfLocked(inventory, d.diskId, status);
        }
        const merged = outcomes.filter((o) => o.merged).map((o) => o.diskId);
        const all = merged.length === plan.disks.length;
        const snapshot = await inventory.getSnapshot(plan.snapshotId);
        if (snapshot) {
          const left = await inventory.listVolumes({ snapshotId: plan.snapshotId });
          if (left.length === 0) await inventory.removeSnapshot(plan.snapshotId);
          else await inventory.setSnapshotStatus(plan.snapshotId, 'OK');
        }
        await inventory.releaseLocks(commandId);
        const aliasOf = (id: string): string => plan.disks.find((d) => d.diskId === id)?.alias ?? id;
        const leftovers = outcomes.filter((o) => o.leftoverVolumeId);
        const leftoverText = leftovers.length
          ? ` Merged-away volume(s) left ILLEGAL on storage, to remove by hand: ${leftovers.map((o) => `${o.leftoverVolumeId} (disk ${aliasOf(o.diskId)})`).join(', ')}.`
          : '';
        const base = { correlationId: commandId, entityIds: [plan.vmId, plan.snapshotId] };
        if (all && !reason) {
          await auditOnce(inventory, {
            ...base,
            type: 'USER_REMOVE_SNAPSHOT_FINISHED_SUCCESS',
            severity: 'INFO',
            message: `Snapshot '${plan.description}' deletion for VM '${plan.vmName}' has been completed.`,
          });
          return;
        }
        const why = cancelled ? ': cancelled' : reason ? `: ${reason}` : '';
        if (merged.length > 0) {
          const remaining = plan.disks.filter((d) => !merged.includes(d.diskId)).map((d) => d.alias);
          await auditOnce(inventory, {
            ...base,
            type: 'USER_REMOVE_SNAPSHOT_FINISHED_FAILURE_PARTIAL_SNAPSHOT',
            severity: 'WARNING',
            message: `Due to partial snapshot removal, Snapshot '${plan.description}' of VM '${plan.vmName}' now contains only the following disks: ${remaining.join(', ')}${why}.${leftoverText}`,
          });
        }
        await auditOnce(inventory, {
          ...base,
          type: 'USER_REMOVE_SNAPSHOT_FINISHED_FAILURE',
          severity: 'ERROR',
          message: `Failed to delete snapshot '${plan.description}' for VM '${plan.vmName}'${why}.${leftoverText}`,
        });
      });
    },
  };
}

/** A disk this command LOCKED gets its end status; one already ILLEGAL stays so. */
async function setStatusIfLocked(
  inventory: InventoryRepository,
  diskId: string,
  status: 'OK' | 'ILLEGAL',
): Promise<void> {
  const disk = await inventory.getDisk(diskId);
  if (disk?.status === 'LOCKED') await inventory.setDiskStatus([diskId], status);
}
