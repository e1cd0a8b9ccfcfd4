import type { Disk, EntityRef, InventoryRepository } from '../inventory/port';
import type { ImagePlan, RemoveVmPlan } from '../shared/commands';
import { ErrorType } from '../shared/errors';
import { REMOVABLE_VM_STATUSES, type ImageStatus, type VmStatus } from '../shared/vocabulary';
import type { ActivityDeps } from './deps';
import { currentWorkflowId, invalid, typed } from './failures';
import { auditOnce } from './task-step';

const commandIdOfCurrentRun = currentWorkflowId;

export type CommandOutcome = 'succeeded' | 'failed' | 'cancelled';

export interface FinishCommandInput {
  commandType: 'RemoveVm' | 'RemoveDisk';
  subjectId: string;
  subjectName: string;
  outcome: CommandOutcome;
  /** Set when nothing was deleted yet: entity statuses go back to what they were. */
  restore: {
    vm?: { id: string; status: string };
    disks: Array<{ id: string; status: ImagePlan['priorStatus'] }>;
  } | null;
  illegalDiskIds: string[];
  reason: string | null;
}

async function imagePlan(inventory: InventoryRepository, disk: Disk): Promise<ImagePlan> {
  const domain = await inventory.getDomain(disk.domainId);
  return {
    diskId: disk.id,
    alias: disk.alias,
    poolId: disk.poolId,
    domainId: disk.domainId,
    postZero: disk.wipeAfterDelete,
    discard: domain?.discardAfterDelete ?? false,
    sizeBytes: disk.sizeBytes,
    priorStatus: disk.status,
  };
}

/** Disks LOCKED by something other than this command block removal unless forced. */
async function foreignLockedDisks(
  inventory: InventoryRepository,
  commandId: string,
  disks: Disk[],
): Promise<Disk[]> {
  const ours = new Set((await inventory.listLocks({ owner: commandId })).map((l) => l.id));
  return disks.filter((d) => d.status === 'LOCKED' && !ours.has(d.id));
}

export function createCommandActivities(deps: ActivityDeps): {
  prepareRemoveVm(input: { vmId: string; force: boolean }): Promise<RemoveVmPlan>;
  removeVmRecord(input: { vmId: string }): Promise<void>;
  prepareRemoveDisk(input: { diskId: string; force: boolean }): Promise<ImagePlan>;
  finishCommand(input: FinishCommandInput): Promise<void>;
} {
  const { inventory, config } = deps;

  return {
    /**
     * RemoveVm's validate + lock, as the engine: the VM exists, is not delete-protected, is in a
     * status that allows removal, its disks are not locked (unless force). Then, durably: lock the
     * VM and its images, set the VM ImageLocked and the images LOCKED. Re-running it (activity
     * retry) finds its own locks and passes.
     */
    async prepareRemoveVm({ vmId, force }) {
      return typed(async () => {
        const commandId = commandIdOfCurrentRun();
        const vm = await inventory.getVm(vmId);
        if (!vm) throw invalid(ErrorType.VmNotFound, `VM ${vmId} does not exist`, { vmId });
        if (vm.deleteProtected) {
          throw invalid(ErrorType.VmDeleteProtected, `VM ${vm.name} is delete-protected`, { vmId });
        }
        const ownLocks = new Set((await inventory.listLocks({ owner: commandId })).map((l) => l.id));
        const retrying = ownLocks.has(vm.id);
        if (!retrying && !REMOVABLE_VM_STATUSES.includes(vm.status)) {
          throw invalid(
            ErrorType.VmStatusNotAllowed,
            `VM ${vm.name} is ${vm.status}; it can be removed only when ${REMOVABLE_VM_STATUSES.join(', ')}`,
            { vmId, status: vm.status },
          );
        }
        // Shareable disks outlive the VM (the engine detaches them); only its own images go.
        const disks = (await inventory.listDisks({ vmId })).filter((d) => !d.shareable);
        const locked = await foreignLockedDisks(inventory, commandId, disks);
        if (locked.length > 0 && !force) {
          throw invalid(
            ErrorType.DiskLocked,
            `VM ${vm.name} has locked disks: ${locked.map((d) => d.alias).join(', ')} (use force to remove anyway)`,
            { vmId, diskIds: locked.map((d) => d.id) },
          );
        }
        const entities: EntityRef[] = [
          { type: 'VM', id: vm.id },
          ...disks.map((d) => ({ type: 'DISK' as const, id: d.id })),
        ];
        await inventory.acquireLocks(commandId, `RemoveVm ${vm.name}`, entities);
        const images = await Promise.all(disks.map((d) => imagePlan(inventory, d)));
        await inventory.setVmStatus(vm.id, 'ImageLocked');
        await inventory.setDiskStatus(
          disks.map((d) => d.id),
          'LOCKED',
        );
        if (!retrying) {
          await auditOnce(inventory, {
            type: 'USER_REMOVE_VM',
            severity: 'INFO',
            message: `Removal of VM ${vm.name} started (${disks.length} disks)`,
            correlationId: commandId,
            entityIds: [vm.id, ...disks.map((d) => d.id)],
          });
        }
        return {
          vmId: vm.id,
          vmName: vm.name,
          poolId: images[0]?.poolId ?? vm.poolId,
          // A retry sees its own ImageLocked; the first attempt only passed with a removable
          // status, and Down is the one a VM is removed from in practice.
          priorVmStatus: retrying ? 'Down' : vm.status,
          images,
          maxConcurrentImages: config.maxConcurrentImages,
        };
      });
    },

    async removeVmRecord({ vmId }) {
      return typed(() => inventory.removeVm(vmId));
    },

    async prepareRemoveDisk({ diskId, force }) {
      return typed(async () => {
        const commandId = commandIdOfCurrentRun();
        const disk = await inventory.getDisk(diskId);
        if (!disk) throw invalid(ErrorType.DiskNotFound, `disk ${diskId} does not exist`, { diskId });
        const entities: EntityRef[] = [{ type: 'DISK', id: disk.id }];
        if (disk.vmId) {
          const vm = await inventory.getVm(disk.vmId);
          if (vm && !REMOVABLE_VM_STATUSES.includes(vm.status)) {
            throw invalid(
              ErrorType.VmStatusNotAllowed,
              `disk ${disk.alias} is attached to VM ${vm.name}, which is ${vm.status}; stop the VM first`,
              { diskId, vmId: vm.id, status: vm.status },
            );
          }
        }
        const locked = await foreignLockedDisks(inventory, commandId, [disk]);
        if (locked.length > 0 && !force) {
          throw invalid(ErrorType.DiskLocked, `disk ${disk.alias} is locked (use force to remove anyway)`, {
            diskId,
          });
        }
        await inventory.acquireLocks(commandId, `RemoveDisk ${disk.alias}`, entities);
        const plan = await imagePlan(inventory, disk);
        await inventory.setDiskStatus([disk.id], 'LOCKED');
        return plan;
      });
    },

    /**
     * The command's own end: put back what was never touched, release every lock, audit the
     * outcome. Runs on every path (success, failure, cancellation).
     */
    async finishCommand(input) {
      return typed(async () => {
        const commandId = commandIdOfCurrentRun();
        if (input.restore) {
          if (input.restore.vm && (await inventory.getVm(input.restore.vm.id))) {
            await inventory.setVmStatus(input.restore.vm.id, input.restore.vm.status as VmStatus);
          }
          const byStatus = new Map<ImageStatus, string[]>();
          for (const d of input.restore.disks)
            byStatus.set(d.status, [...(byStatus.get(d.status) ?? []), d.id]);
          for (const [status, ids] of byStatus) await inventory.setDiskStatus(ids, status);
        }
        await inventory.releaseLocks(commandId);
        const what =
          input.commandType === 'RemoveVm' ? `VM ${input.subjectName}` : `disk ${input.subjectName}`;
        const audit = {
          succeeded: {
            type: input.commandType === 'RemoveVm' ? 'USER_REMOVE_VM_FINISHED' : 'USER_FINISHED_REMOVE_DISK',
            severity: 'INFO' as const,
            message: `Removal of ${what} finished`,
          },
          failed: {
            type:
              input.commandType === 'RemoveVm'
                ? 'USER_REMOVE_VM_FINISHED_ILLEGAL_DISKS'
                : 'USER_FINISHED_FAILED_REMOVE_DISK',
            severity: 'ERROR' as const,
            message: `Removal of ${what} failed: ${input.reason ?? 'unknown reason'}`,
          },
          cancelled: {
            type:
              input.commandType === 'RemoveVm' ? 'USER_REMOVE_VM_CANCELLED' : 'USER_REMOVE_DISK_CANCELLED',
            severity: 'WARNING' as const,
            message: `Removal of ${what} was cancelled${input.illegalDiskIds.length ? `; ${input.illegalDiskIds.length} disk(s) left ILLEGAL` : ''}`,
          },
        }[input.outcome];
        await auditOnce(inventory, {
          ...audit,
          correlationId: commandId,
          entityIds: [input.subjectId, ...input.illegalDiskIds],
        });
      });
    },
  };
}
