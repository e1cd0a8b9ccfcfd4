/**
 * Cold MoveDisk's and CopyDisk's refusal rules (MoveOrCopyDiskCommand.validate), shared by the
 * client and the prepare activity.
 */
import type { Disk, InventoryRepository, StorageDomain, Vm, Volume } from '../inventory/port';
import type { CopyDiskInput, MoveDiskInput } from '../shared/commands';
import { ErrorType } from '../shared/errors';
import { NOTHING_OWNED, Refusal, type OwnedByCommand } from './refusal';
import { REMOVABLE_VM_STATUSES } from '../shared/vocabulary';

export interface MoveOrCopyChecked {
  disk: Disk;
  source: StorageDomain;
  destination: StorageDomain;
  /** The disk's active volume: what is copied (through its chain). */
  leaf: Volume;
  vms: Vm[];
  format: 'COW' | 'RAW';
  volumeType: 'SPARSE' | 'PREALLOCATED';
}

export async function checkMoveOrCopy(
  inventory: InventoryRepository,
  op: 'move' | 'copy',
  input: MoveDiskInput | CopyDiskInput,
  owned: OwnedByCommand = NOTHING_OWNED,
): Promise<MoveOrCopyChecked> {
  const disk = await inventory.getDisk(input.diskId);
  if (!disk)
    throw new Refusal(ErrorType.DiskNotFound, `disk ${input.diskId} does not exist`, 'disk', {
      diskId: input.diskId,
    });
  if (disk.status === 'LOCKED' && !owned.entityIds.has(disk.id)) {
    throw new Refusal(ErrorType.DiskLocked, `disk ${disk.alias} is locked by another operation`, 'disk', {
      diskId: disk.id,
    });
  }
  if (disk.status === 'ILLEGAL') {
    throw new Refusal(ErrorType.DiskIllegal, `disk ${disk.alias} is ILLEGAL`, 'disk', { diskId: disk.id });
  }
  const destination = await inventory.getDomain(input.toDomainId);
  if (!destination) {
    throw new Refusal(
      ErrorType.StorageDomainNotFound,
      `storage domain ${input.toDomainId} does not exist`,
      'to',
      {
        domainId: input.toDomainId,
      },
    );
  }
  const source = (await inventory.getDomain(disk.domainId))!;
  // A move that is already done (our own retry) is no longer on the source.
  if (op === 'move' && destination.id === source.id && !owned.entityIds.has(disk.id)) {
    throw new Refusal(ErrorType.InvalidInput, `disk ${disk.alias} is already on ${destination.name}`, 'to', {
      domainId: destination.id,
    });
  }
  if (destination.poolId !== disk.poolId) {
    throw new Refusal(
      ErrorType.InvalidInput,
      `storage domain ${destination.name} is not in the data center of disk ${disk.alias}`,
      'to',
      { domainId: destination.id },
    );
  }
  const chain = await inventory.listVolumes({ diskId: disk.id });
  const leaf = chain.find((v) => v.active);
  if (!leaf)
    throw new Refusal(ErrorType.DiskIllegal, `disk ${disk.alias} has no active volume`, 'disk', {
      diskId: disk.id,
    });
  if (op === 'move' && chain.length > 1) {
    // Moving keeps the chain (one volume and one copy per volume); this version moves single-volume
    // disks only and says so rather than collapsing snapshots away.
    throw new Refusal(
      ErrorType.InvalidInput,
      `disk ${disk.alias} has ${chain.length} volumes (snapshots); moving a volume chain is not supported yet: copy it (collapsed) instead`,
      'disk',
      { diskId: disk.id, volumes: chain.length },
    );
  }
  // The copy collapses the chain into one volume of the disk's format; a raw sparse volume cannot
  // live on block storage.
  const format = op === 'copy' && chain.length > 1 ? 'COW' : leaf.format;
  const volumeType = leaf.volumeType;
  if (destination.kind === 'block' && format === 'RAW' && volumeType === 'SPARSE') {
    throw new Refusal(
      ErrorType.VolumeFormatNotAllowed,
      `disk ${disk.alias} is raw and sparse, which block storage domain ${destination.name} cannot hold`,
      'to',
      { domainId: destination.id },
    );
  }
  if (disk.sizeBytes > destination.freeBytes && !owned.entityIds.has(disk.id)) {
    throw new Refusal(
      ErrorType.NotEnoughSpace,
      `storage domain ${destination.name} has ${destination.freeBytes} bytes free; disk ${disk.alias} needs ${disk.sizeBytes}`,
      'to',
      { domainId: destination.id, freeBytes: destination.freeBytes, sizeBytes: disk.sizeBytes },
    );
  }
  const vms = disk.vmId ? [await inventory.getVm(disk.vmId)].filter((v): v is Vm => v !== undefined) : [];
  const running = vms.filter(
    (vm) => !REMOVABLE_VM_STATUSES.includes(vm.status) && !owned.entityIds.has(vm.id),
  );
  if (running.length) {
    throw new Refusal(
      ErrorType.VmStatusNotAllowed,
      `disk ${disk.alias} is attached to ${running.map((vm) => `VM ${vm.name}, which is ${vm.status}`).join('; ')}; a cold ${op} needs it Down`,
      'disk',
      { diskId: disk.id, vmIds: running.map((vm) => vm.id) },
    );
  }
  return { disk, source, destination, leaf, vms, format, volumeType };
}
