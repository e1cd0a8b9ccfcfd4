/**
 * AddDisk's own activities: validate and lock, add the rows LOCKED, and the command's end.
 * The image itself is made by an AddImageFromScratch task step (end action in end-actions.ts).
 */
import type { EntityRef } from '../inventory/port';
import { checkAddDisk } from '../rules/add-disk';
import type { AddDiskInput, AddDiskPlan } from '../shared/commands';
import type { ActivityDeps } from './deps';
import { currentWorkflowId, typed } from './failures';
import { auditOnce } from './task-step';

export interface FinishAddDiskInput {
  plan: AddDiskPlan;
  outcome: 'succeeded' | 'failed' | 'cancelled';
  /** True when the step never ran: the rows added LOCKED go again. */
  removeRows: boolean;
  reason: string | null;
}

export function createAddDiskActivities(deps: ActivityDeps): {
  prepareAddDisk(input: { input: AddDiskInput; diskId: string; volumeId: string }): Promise<AddDiskPlan>;
  finishAddDisk(input: FinishAddDiskInput): Promise<void>;
} {
  const { inventory } = deps;
  return {
    /**
     * As the engine: validate, lock (a shared lock on the VM: other disks may be added to it at the
     * same time; an exclusive one on the new disk), add the disk and its volume LOCKED. Re-running
     * it (activity retry) finds its own rows and locks and passes.
     */
    async prepareAddDisk({ input, diskId, volumeId }) {
      return typed(async () => {
        const commandId = currentWorkflowId();
        const owned = new Set([
          diskId,
          ...(await inventory.listLocks({ owner: commandId })).map((l) => l.id),
        ]);
        const { domain, vm, format, volumeType } = await checkAddDisk(inventory, input, { entityIds: owned });
        const entities: EntityRef[] = [
          { type: 'DISK', id: diskId, mode: 'exclusive' },
          ...(vm ? [{ type: 'VM' as const, id: vm.id, mode: 'shared' as const }] : []),
        ];
        await inventory.acquireLocks(commandId, `AddDisk ${input.alias}`, entities);
        await inventory.addDisk({
          id: diskId,
          poolId: domain.poolId,
          alias: input.alias,
          vmId: vm?.id ?? null,
          domainId: domain.id,
          sizeBytes: input.sizeBytes,
          wipeAfterDelete: input.wipeAfterDelete,
          shareable: false,
          status: 'LOCKED',
          format,
          volumeType,
          volumeId,
        });
        await auditOnce(inventory, {
          type: 'USER_ADD_DISK',
          severity: 'INFO',
          message: `Add-Disk operation of ${input.alias} was initiated${vm ? ` on VM ${vm.name}` : ''}.`,
          correlationId: commandId,
          entityIds: [diskId, ...(vm ? [vm.id] : [])],
        });
        return {
          diskId,
          volumeId,
          alias: input.alias,
          poolId: domain.poolId,
          domainId: domain.id,
          vmId: vm?.id ?? null,
          vmName: vm?.name ?? null,
          sizeBytes: input.sizeBytes,
          format,
          volumeType,
          initialSizeBytes: null,
          startMaxAttempts: deps.config.taskStartMaxAttempts,
        };
      });
    },

    async finishAddDisk({ plan, outcome, removeRows, reason }) {
      return typed(async () => {
        const commandId = currentWorkflowId();
        if (removeRows) await inventory.removeDisk(plan.diskId);
        await inventory.releaseLocks(commandId);
        const target = plan.vmName ? ` to VM ${plan.vmName}` : '';
        const audit =
          outcome === 'succeeded'
            ? {
                type: plan.vmId ? 'USER_ADD_DISK_TO_VM_FINISHED_SUCCESS' : 'USER_ADD_DISK_FINISHED_SUCCESS',
                severity: 'INFO' as const,
                message: `The disk ${plan.alias} was successfully added${target}.`,
              }
            : {
                type: plan.vmId ? 'USER_ADD_DISK_TO_VM_FINISHED_FAILURE' : 'USER_ADD_DISK_FINISHED_FAILURE',
                severity: 'ERROR' as const,
                message: `Add-Disk operation failed to complete${target} (disk ${plan.alias})${outcome === 'cancelled' ? ': cancelled' : reason ? `: ${reason}` : ''}.`,
              };
        await auditOnce(inventory, { ...audit, correlationId: commandId, entityIds: [plan.diskId] });
      });
    },
  };
}
