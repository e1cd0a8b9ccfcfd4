/**
 * Cold CreateSnapshot's own activities: validate and lock, the snapshot row LOCKED, and the
 * command's end. Each disk's new leaf is made by a CreateSnapshotDisk task step.
 */
import type { EntityRef } from '../inventory/port';
import { checkCreateSnapshot } from '../rules/create-snapshot';
import type { CreateSnapshotInput, CreateSnapshotPlan, SnapshotDiskPlan } from '../shared/commands';
import type { ActivityDeps } from './deps';
import { currentWorkflowId, typed } from './failures';
import { auditOnce } from './task-step';

export type PreparedSnapshot = Omit<CreateSnapshotPlan, 'disks'> & {
  disks: Array<Omit<SnapshotDiskPlan, 'newVolumeId'>>;
};

export interface FinishCreateSnapshotInput {
  plan: PreparedSnapshot;
  outcome: 'succeeded' | 'failed' | 'cancelled';
  reason: string | null;
}

export function createSnapshotActivities(deps: ActivityDeps): {
  prepareCreateSnapshot(input: { input: CreateSnapshotInput; snapshotId: string }): Promise<PreparedSnapshot>;
  finishCreateSnapshot(input: FinishCreateSnapshotInput): Promise<void>;
} {
  const { inventory } = deps;
  return {
    /**
     * As the engine: validate; an exclusive lock on the VM for the whole command (and on each disk,
     * so no disk command slips in); the snapshot row and the disks LOCKED. Re-running it (activity
     * retry) finds its own locks and rows and passes.
     */
    async prepareCreateSnapshot({ input, snapshotId }) {
      return typed(async () => {
        const commandId = currentWorkflowId();
        const owned = new Set((await inventory.listLocks({ owner: commandId })).map((l) => l.id));
        const { vm, disks } = await checkCreateSnapshot(inventory, input, { entityIds: owned });
        const entities: EntityRef[] = [
          { type: 'VM', id: vm.id, mode: 'exclusive' },
          ...disks.map((d) => ({ type: 'DISK' as const, id: d.disk.id, mode: 'exclusive' as const })),
        ];
        await inventory.acquireLocks(commandId, `CreateSnapshot ${input.description}`, entities);
        await inventory.addSnapshot({
          id: snapshotId,
          vmId: vm.id,
          description: input.description,
          status: 'LOCKED',
        });
        await inventory.setDiskStatus(
          disks.map((d) => d.disk.id),
          'LOCKED',
        );
        await auditOnce(inventory, {
          type: 'USER_CREATE_SNAPSHOT',
          severity: 'INFO',
          message: `Snapshot '${input.description}' creation for VM '${vm.name}' was initiated.`,
          correlationId: commandId,
          entityIds: [vm.id, snapshotId],
        });
        return {
          snapshotId,
          vmId: vm.id,
          vmName: vm.name,
          poolId: vm.poolId,
          description: input.description,
          startMaxAttempts: deps.config.taskStartMaxAttempts,
          disks: disks.map(({ disk, leaf, chainLength }) => ({
            diskId: disk.id,
            alias: disk.alias,
            domainId: disk.domainId,
            sizeBytes: disk.sizeBytes,
            leafVolumeId: leaf.id,
            sequence: chainLength + 1,
            // A retry sees its own LOCKED: only OK disks pass the rules the first time.
            priorStatus: 'OK' as const,
          })),
        };
      });
    },

    /**
     * Success: the snapshot is OK and so are its disks. Failure or cancel: every step reverted its
     * volume, so the snapshot row goes and the disks are as they were (a disk a step could not
     * bring back is ILLEGAL already and stays so). Locks go on every path.
     */
    async finishCreateSnapshot({ plan, outcome, reason }) {
      return typed(async () => {
        const commandId = currentWorkflowId();
        const diskIds = plan.disks.map((d) => d.diskId);
        const stillLocked = (await Promise.all(diskIds.map((id) => inventory.getDisk(id))))
          .filter((d) => d?.status === 'LOCKED')
          .map((d) => d!.id);
        await inventory.setDiskStatus(stillLocked, 'OK');
        if (outcome === 'succeeded') await inventory.setSnapshotStatus(plan.snapshotId, 'OK');
        else await inventory.removeSnapshot(plan.snapshotId);
        await inventory.releaseLocks(commandId);
        const audit =
          outcome === 'succeeded'
            ? {
                type: 'USER_CREATE_SNAPSHOT_FINISHED_SUCCESS',
                severity: 'INFO' as const,
                message: `Snapshot '${plan.description}' creation for VM '${plan.vmName}' has been completed.`,
              }
            : {
                type: 'USER_CREATE_SNAPSHOT_FINISHED_FAILURE',
                severity: 'ERROR' as const,
                message: `Failed to complete snapshot '${plan.description}' creation for VM '${plan.vmName}'${outcome === 'cancelled' ? ': cancelled' : reason ? `: ${reason}` : ''}.`,
              };
        await auditOnce(inventory, {
          ...audit,
          correlationId: commandId,
          entityIds: [plan.vmId, plan.snapshotId],
        });
      });
    },
  };
}
