/**
 * Cold CreateSnapshot's refusal rules (CreateSnapshotForVmCommand.validate, for a VM that is
 * Down), shared by the client and the prepare activity.
 */
import type { Disk, InventoryRepository, Vm, Volume } from '../inventory/port';
import type { CreateSnapshotInput } from '../shared/commands';
import { ErrorType } from '../shared/errors';
import { NOTHING_OWNED, Refusal, type OwnedByCommand } from './refusal';

export interface SnapshotCandidate {
  disk: Disk;
  leaf: Volume;
  chainLength: number;
}

export interface CreateSnapshotChecked {
  vm: Vm;
  disks: SnapshotCandidate[];
}

export async function checkCreateSnapshot(
  inventory: InventoryRepository,
  input: CreateSnapshotInput,
  owned: OwnedByCommand = NOTHING_OWNED,
): Promise<CreateSnapshotChecked> {
  const vm = await inventory.getVm(input.vmId);
  if (!vm)
    throw new Refusal(ErrorType.VmNotFound, `VM ${input.vmId} does not exist`, 'vm', { vmId: input.vmId });
  if (vm.status !== 'Down') {
    throw new Refusal(
      ErrorType.VmStatusNotAllowed,
      `VM ${vm.name} is ${vm.status}; a cold snapshot needs it Down`,
      'vm',
      { vmId: vm.id, status: vm.status },
    );
  }
  // Shareable disks are not snapshotted (the engine's ONLY_NOT_SHAREABLE, ONLY_SNAPABLE).
  const snapshotable = (await inventory.listDisks({ vmId: vm.id })).filter((d) => !d.shareable);
  let chosen = snapshotable;
  if (input.diskIds) {
    const byId = new Map(snapshotable.map((d) => [d.id, d]));
    const unknown = input.diskIds.filter((id) => !byId.has(id));
    if (unknown.length) {
      throw new Refusal(
        ErrorType.NoSnapshotableDisks,
        `not snapshotable disks of VM ${vm.name}: ${unknown.join(', ')}`,
        'disks',
        { vmId: vm.id, diskIds: unknown },
      );
    }
    chosen = input.diskIds.map((id) => byId.get(id)!);
  }
  if (chosen.length === 0) {
    throw new Refusal(ErrorType.NoSnapshotableDisks, `VM ${vm.name} has no disk to snapshot`, 'vm', {
      vmId: vm.id,
    });
  }
  const locked = chosen.filter((d) => d.status === 'LOCKED' && !owned.entityIds.has(d.id));
  if (locked.length) {
    throw new Refusal(
      ErrorType.DiskLocked,
      `VM ${vm.name} has locked disks: ${locked.map((d) => d.alias).join(', ')}`,
      'disks',
      { vmId: vm.id, diskIds: locked.map((d) => d.id) },
    );
  }
  const illegal = chosen.filter((d) => d.status === 'ILLEGAL');
  if (illegal.length) {
    throw new Refusal(
      ErrorType.DiskIllegal,
      `VM ${vm.name} has illegal disks, which cannot be snapshotted: ${illegal.map((d) => d.alias).join(', ')}`,
      'disks',
      { vmId: vm.id, diskIds: illegal.map((d) => d.id) },
    );
  }
  const disks: SnapshotCandidate[] = [];
  for (const disk of chosen) {
    const chain = await inventory.listVolumes({ diskId: disk.id });
    const leaf = chain.find((v) => v.active);
    if (!leaf || leaf.legality !== 'LEGAL') {
      throw new Refusal(
        ErrorType.DiskIllegal,
        `disk ${disk.alias} has no legal active volume to snapshot`,
        'disks',
        { diskId: disk.id },
      );
    }
    disks.push({ disk, leaf, chainLength: chain.length });
  }
  return { vm, disks };
}
