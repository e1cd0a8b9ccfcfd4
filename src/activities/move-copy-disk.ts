/**
 * MoveDisk's and CopyDisk's own activities: validate and lock, and the command's end (the disk's
 * domain mapping moved, or the copy's rows, and the audit). The storage work is done by steps:
 * Volume.create on the destination (task), SDM.copy_data (host job), then for a move the source's
 * Image.delete (task).
 */
import type { EntityRef } from '../inventory/port';
import { checkMoveOrCopy } from '../rules/move-copy-disk';
import type { CopyDiskInput, MoveDiskInput, MoveOrCopyPlan } from '../shared/commands';
import type { ActivityDeps } from './deps';
import { currentWorkflowId, typed } from './failures';
import { auditOnce } from './task-step';

export interface FinishMoveOrCopyInput {
  plan: MoveOrCopyPlan;
  outcome: 'succeeded' | 'failed' | 'cancelled';
  /** Move: the data is on the destination (the source's removal may still have failed). */
  dataMoved: boolean;
  reason: string | null;
}

export function createMoveOrCopyActivities(deps: ActivityDeps): {
  prepareMoveOrCopy(input: {
    op: 'move' | 'copy';
    input: MoveDiskInput | CopyDiskInput;
    dstDiskId: string;
    dstVolumeId: string;
  }): Promise<MoveOrCopyPlan>;
  finishMoveOrCopy(input: FinishMoveOrCopyInput): Promise<void>;
} {
  const { inventory, config } = deps;
  return {
    /**
     * As the engine: an exclusive lock on the disk (and on the copy), a shared one on each VM using
     * it; the disk LOCKED; a copy's rows added LOCKED. Re-running it finds its own locks and rows.
     */
    async prepareMoveOrCopy({ op, input, dstDiskId, dstVolumeId }) {
      return typed(async () => {
        const commandId = currentWorkflowId();
        // What a retry finds already ours: its locks (a move's destination id is the disk's own).
        const owned = new Set((await inventory.listLocks({ owner: commandId })).map((l) => l.id));
        const checked = await checkMoveOrCopy(inventory, op, input, { entityIds: owned });
        const { disk, source, destination, leaf, vms } = checked;
        const entities: EntityRef[] = [
          { type: 'DISK', id: disk.id, mode: 'exclusive' },
          ...(op === 'copy' ? [{ type: 'DISK' as const, id: dstDiskId, mode: 'exclusive' as const }] : []),
          ...vms.map((vm) => ({ type: 'VM' as const, id: vm.id, mode: 'shared' as const })),
        ];
        await inventory.acquireLocks(
          commandId,
          `${op === 'move' ? 'MoveDisk' : 'CopyDisk'} ${disk.alias}`,
          entities,
        );
        const dstAlias =
          op === 'move' ? disk.alias : ((input as CopyDiskInput).alias ?? `${disk.alias}_copy`);
        if (op === 'copy') {
          await inventory.addDisk({
            id: dstDiskId,
            poolId: disk.poolId,
            alias: dstAlias,
            vmId: null,
            domainId: destination.id,
            sizeBytes: disk.sizeBytes,
            wipeAfterDelete: disk.wipeAfterDelete,
            shareable: false,
            status: 'LOCKED',
            format: checked.format,
            volumeType: checked.volumeType,
            volumeId: dstVolumeId,
          });
        }
        // A retry sees the disk LOCKED by us: it was OK when first checked (LOCKED/ILLEGAL are refused).
        await inventory.setDiskStatus([disk.id], 'LOCKED');
        return {
          op,
          diskId: disk.id,
          alias: disk.alias,
          poolId: disk.poolId,
          srcDomainId: source.id,
          srcDomainName: source.name,
          dstDomainId: destination.id,
          dstDomainName: destination.name,
          sizeBytes: disk.sizeBytes,
          srcVolumeId: leaf.id,
          dstDiskId: op === 'move' ? disk.id : dstDiskId,
          dstVolumeId: op === 'move' ? leaf.id : dstVolumeId,
          dstAlias,
          format: checked.format,
          volumeType: checked.volumeType,
          priorStatus: 'OK',
          vmId: vms[0]?.id ?? null,
          startMaxAttempts: config.taskStartMaxAttempts,
        };
      });
    },

    async finishMoveOrCopy({ plan, outcome, dataMoved, reason }) {
      return typed(async () => {
        const commandId = currentWorkflowId();
        if (plan.op === 'move') {
          if (dataMoved) await inventory.moveDiskToDomain(plan.diskId, plan.dstDomainId);
          await inventory.setDiskStatus([plan.diskId], plan.priorStatus);
        } else {
          await inventory.setDiskStatus([plan.diskId], plan.priorStatus);
          if (outcome === 'succeeded') await inventory.setDiskStatus([plan.dstDiskId], 'OK');
          else await inventory.removeDisk(plan.dstDiskId);
        }
        await inventory.releaseLocks(commandId);
        const verb = plan.op === 'move' ? 'moved' : 'copied';
        const audit =
          outcome === 'succeeded'
            ? {
                type:
                  plan.op === 'move'
                    ? 'USER_MOVED_DISK_FINISHED_SUCCESS'
                    : 'USER_COPIED_DISK_FINISHED_SUCCESS',
                severity: 'INFO' as const,
                message: `Disk ${plan.alias} was successfully ${verb} to domain ${plan.dstDomainName}.`,
              }
            : {
                type:
                  plan.op === 'move'
                    ? 'USER_MOVED_DISK_FINISHED_FAILURE'
                    : 'USER_COPIED_DISK_FINISHED_FAILURE',
                severity: 'ERROR' as const,
                message: `User failed to ${plan.op} disk ${plan.alias} to domain ${plan.dstDomainName}${outcome === 'cancelled' ? ': cancelled' : reason ? `: ${reason}` : ''}.`,
              };
        await auditOnce(inventory, {
          ...audit,
          correlationId: commandId,
          entityIds: [plan.diskId, plan.dstDiskId],
        });
      });
    },
  };
}
