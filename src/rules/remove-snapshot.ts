/**
 * Cold RemoveSnapshot's refusal rules (RemoveSnapshotCommand.validate for a VM that is Down),
 * shared by the client and the prepare activity: the VM exists and is Down, the snapshot exists,
 * belongs to it and is OK (not LOCKED by another command, not in preview), and each of its disks
 * is neither LOCKED nor ILLEGAL and has the snapshot's volume with a child to merge into it.
 */
import type { Disk, InventoryRepository, Snapshot, StorageDomain, Vm, Volume } from '../inventory/port';
import type { RemoveSnapshotInput } from '../shared/commands';
import { ErrorType } from '../shared/errors';
import { NOTHING_OWNED, Refusal, type OwnedByCommand } from './refusal';

/** One disk of the snapshot: its volume (base) and the base's child (top), merged into the base. */
export interface SnapshotMergeCandidate {
  disk: Disk;
  domain: StorageDomain | undefined;
  base: Volume;
  top: Volume;
}

export interface RemoveSnapshotChecked {
  vm: Vm;
  snapshot: Snapshot;
  disks: SnapshotMergeCandidate[];
}

export async function checkRemoveSnapshot(
  inventory: InventoryRepository,
  input: RemoveSnapshotInput,
  owned: OwnedByCommand = NOTHING_OWNED,
): Promise<RemoveSnapshotChecked> {
  const vm = await inventory.getVm(input.vmId);
  if (!vm)
    throw new Refusal(ErrorType.VmNotFound, `VM ${input.vmId} does not exist`, 'vm', { vmId: input.vmId });
  const snapshot = await inventory.getSnapshot(input.snapshotId);
  if (!snapshot || snapshot.vmId !== vm.id) {
    throw new Refusal(
      ErrorType.SnapshotNotFound,
      `VM ${vm.name} has no snapshot ${input.snapshotId}`,
      'snapshot',
      { vmId: vm.id, snapshotId: input.snapshotId },
    );
  }
  if (vm.status !== 'Down') {
    // Live merge (a running VM) is a different command; this one is cold only.
    throw new Refusal(
      ErrorType.VmStatusNotAllowed,
      `VM ${vm.name} is ${vm.status}; a cold snapshot removal needs it Down`,
      'vm',
      { vmId: vm.id, status: vm.status },
    );
  }
  if (snapshot.status !== 'OK' && !owned.entityIds.has(snapshot.id)) {
    throw new Refusal(
      ErrorType.SnapshotLocked,
      `snapshot '${snapshot.description}' of VM ${vm.name} is ${snapshot.status}`,
      'snapshot',
      { snapshotId: snapshot.id, status: snapshot.status },
    );
  }
  const volumes = await inventory.listVolumes({ snapshotId: snapshot.id });
  const disks: SnapshotMergeCandidate[] = [];
  for (const base of volumes) {
    const disk = await inventory.getDisk(base.diskId);
    if (!disk) continue;
    if (disk.status === 'LOCKED' && !owned.entityIds.has(disk.id)) {
      throw new Refusal(
        ErrorType.DiskLocked,
        `disk ${disk.alias} is locked by another operation`,
        'snapshot',
        {
          diskId: disk.id,
        },
      );
    }
    if (disk.status === 'ILLEGAL') {
      throw new Refusal(
        ErrorType.DiskIllegal,
        `disk ${disk.alias} is ILLEGAL; its snapshot volumes cannot be merged`,
        'snapshot',
        { diskId: disk.id },
      );
    }
    const chain = await inventory.listVolumes({ diskId: disk.id });
    // The snapshot's volume became INTERNAL when the snapshot was taken: its child holds what came after.
    const top = chain.find((v) => v.parentId === base.id);
    if (!top) {
      throw new Refusal(
        ErrorType.DiskIllegal,
        `disk ${disk.alias} has no volume above snapshot volume ${base.id} to merge`,
        'snapshot',
        { diskId: disk.id, volumeId: base.id },
      );
    }
    const illegal = [base, top].find((v) => v.legality !== 'LEGAL');
    if (illegal) {
      throw new Refusal(
        ErrorType.DiskIllegal,
        `volume ${illegal.id} of disk ${disk.alias} is ILLEGAL`,
        'snapshot',
        {
          diskId: disk.id,
          volumeId: illegal.id,
        },
      );
    }
    disks.push({ disk, domain: await inventory.getDomain(disk.domainId), base, top });
  }
  if (disks.length === 0) {
    // The engine removes a snapshot without disks (a memory-only one) at once; this project's
    // snapshots always have disks, so a snapshot without volumes is a broken record to look at.
    throw new Refusal(
      ErrorType.SnapshotNotFound,
      `snapshot '${snapshot.description}' of VM ${vm.name} has no disk volumes`,
      'snapshot',
      { snapshotId: snapshot.id },
    );
  }
  return { vm, snapshot, disks };
}
