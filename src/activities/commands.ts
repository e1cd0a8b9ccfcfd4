import type { EntityRef } from '../inventory/port';
import { checkRemoveDisk, checkRemoveVm, imagePlans } from '../rules/remove';
import type {
  ImagePlan,
  RemoveDiskInput,
  RemoveDiskPlan,
  RemoveVmInput,
  RemoveVmPlan,
} from '../shared/commands';
import type { ImageStatus, VmStatus } from '../shared/vocabulary';
import type { ActivityDeps } from './deps';
import { currentWorkflowId, typed } from './failures';
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
  /** RemoveDisk: the domain the image was on and the VMs it was attached to (named in the audit). */
  domainName?: string;
  attachedVmNames?: string[];
}

export function createCommandActivities(deps: ActivityDeps): {
  prepareRemoveVm(input: RemoveVmInput): Promise<RemoveVmPlan>;
  removeVmRecord(input: { vmId: string }): Promise<void>;
  prepareRemoveDisk(input: RemoveDiskInput): Promise<RemoveDiskPlan>;
  finishCommand(input: FinishCommandInput): Promise<void>;
} {
  const { inventory, config } = deps;

  return {
    /**
     * RemoveVm's validate + lock, as the engine (rules in src/rules/remove.ts). Then, durably: lock
     * the VM and its images, set the VM ImageLocked and the images LOCKED. Re-running it (activity
     * retry) finds its own locks and passes.
     */
    async prepareRemoveVm(input) {
      return typed(async () => {
        const commandId = commandIdOfCurrentRun();
        const owned = new Set((await inventory.listLocks({ owner: commandId })).map((l) => l.id));
        const { vm, disks } = await checkRemoveVm(inventory, input, { entityIds: owned });
        const retrying = owned.has(vm.id);
        const entities: EntityRef[] = [
          { type: 'VM', id: vm.id },
          ...disks.map((d) => ({ type: 'DISK' as const, id: d.id })),
        ];
        await inventory.acquireLocks(commandId, `RemoveVm ${vm.name}`, entities);
        const images = await imagePlans(inventory, disks);
        await inventory.setVmStatus(vm.id, 'ImageLocked');
        await inventory.setDiskStatus(
          disks.map((d) => d.id),
          'LOCKED',
        );
        return {
          vmId: vm.id,
          vmName: vm.name,
          poolId: images[0]?.poolId ?? vm.poolId,
          // A retry sees its own ImageLocked; the first attempt only passed with a removable
          // status, and Down is the one a VM is removed from in practice.
          priorVmStatus: retrying ? 'Down' : vm.status,
          images,
          maxConcurrentImages: config.maxConcurrentImages,
          startMaxAttempts: config.taskStartMaxAttempts,
        };
      });
    },

    async removeVmRecord({ vmId }) {
      return typed(() => inventory.removeVm(vmId));
    },

    /**
     * RemoveDisk's validate + lock, as the engine: an exclusive lock on the disk and a shared one
     * on each VM it is attached to (other disks of the VM may go at the same time).
     */
    async prepareRemoveDisk(input) {
      return typed(async () => {
        const commandId = commandIdOfCurrentRun();
        const owned = new Set((await inventory.listLocks({ owner: commandId })).map((l) => l.id));
        const { disk, vms } = await checkRemoveDisk(inventory, input, { entityIds: owned });
        const entities: EntityRef[] = [
          { type: 'DISK', id: disk.id, mode: 'exclusive' },
          ...vms.map((vm) => ({ type: 'VM' as const, id: vm.id, mode: 'shared' as const })),
        ];
        await inventory.acquireLocks(commandId, `RemoveDisk ${disk.alias}`, entities);
        const [image] = await imagePlans(inventory, [disk]);
        await inventory.setDiskStatus([disk.id], 'LOCKED');
        return {
          image: image!,
          attachedVmNames: vms.map((vm) => vm.name),
          startMaxAttempts: config.taskStartMaxAttempts,
        };
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
        const audit = finishAudit(input);
        await auditOnce(inventory, {
          ...audit,
          correlationId: commandId,
          entityIds: [input.subjectId, ...input.illegalDiskIds],
        });
      });
    },
  };
}

/**
 * The engine's audit types and messages for the end of RemoveVm and RemoveDisk (AuditLogType,
 * AuditLogMessages.properties). The engine has no user cancel: USER_REMOVE_VM_CANCELLED and
 * USER_REMOVE_DISK_CANCELLED are this project's additions.
 */
function finishAudit(input: FinishCommandInput): {
  type: string;
  severity: 'INFO' | 'WARNING';
  message: string;
} {
  const name = input.subjectName;
  const illegal = input.illegalDiskIds.length;
  if (input.commandType === 'RemoveVm') {
    switch (input.outcome) {
      case 'succeeded':
        return {
          type: 'USER_REMOVE_VM_FINISHED',
          severity: 'INFO',
          message: `VM ${name} was successfully removed.`,
        };
      case 'failed':
        return {
          type: 'USER_REMOVE_VM_FINISHED_WITH_ILLEGAL_DISKS',
          severity: 'WARNING',
          message: `VM ${name} has been removed, but the following disks could not be removed: ${input.reason ?? input.illegalDiskIds.join(', ')}. These disks will appear in the main disks tab in illegal state, please remove manually when possible.`,
        };
      case 'cancelled':
        return {
          type: 'USER_REMOVE_VM_CANCELLED',
          severity: 'WARNING',
          message: `Removal of VM ${name} was cancelled${illegal ? `; ${illegal} disk(s) left ILLEGAL` : ''}.`,
        };
    }
  }
  const domain = input.domainName ?? 'its domain';
  switch (input.outcome) {
    case 'succeeded':
      return input.attachedVmNames?.length
        ? {
            type: 'USER_FINISHED_REMOVE_DISK_ATTACHED_TO_VMS',
            severity: 'INFO',
            message: `Disk ${name} associated to the VMs ${input.attachedVmNames.join(', ')} was successfully removed from domain ${domain}.`,
          }
        : {
            type: 'USER_FINISHED_REMOVE_DISK',
            severity: 'INFO',
            message: `Disk ${name} was successfully removed from domain ${domain}.`,
          };
    case 'failed':
      return {
        type: 'USER_FINISHED_FAILED_REMOVE_DISK',
        severity: 'WARNING',
        message: `Failed to remove disk ${name} from storage domain ${domain}${input.reason ? `: ${input.reason}` : ''}.`,
      };
    case 'cancelled':
      return {
        type: 'USER_REMOVE_DISK_CANCELLED',
        severity: 'WARNING',
        message: `Removal of disk ${name} was cancelled${illegal ? '; the disk is ILLEGAL' : ''}.`,
      };
  }
}
