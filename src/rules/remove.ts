/**
 * RemoveVm's and RemoveDisk's refusal rules (RemoveVmCommand.validate, RemoveDiskCommand.validate)
 * and what each image's Image.delete is sent with (PostDeleteActionHandler), shared by the client
 * (answer before anything starts) and the prepare activities (authoritative, under the locks).
 */
import type { Disk, DiskAttachment, InventoryRepository, StorageDomain, Vm } from '../inventory/port';
import type { ImagePlan, RemoveDiskInput, RemoveVmInput } from '../shared/commands';
import { ErrorType } from '../shared/errors';
import { REMOVABLE_VM_STATUSES } from '../shared/vocabulary';
import { NOTHING_OWNED, Refusal, type OwnedByCommand } from './refusal';

/**
 * Image.delete's postZero and discard, as PostDeleteActionHandler fixes them:
 * - postZero (wipe after delete) only on block domains: a file domain's volumes are files, the
 *   file system owns their blocks;
 * - discard only where the domain supports it: when the domain discards after delete, or when
 *   some VM has the disk with pass-discard (then even if the domain does not discard after delete).
 */
export function imagePlan(
  disk: Disk,
  domain: StorageDomain | undefined,
  attachments: readonly DiskAttachment[] = [],
): ImagePlan {
  const passDiscard = attachments.some((a) => a.diskId === disk.id && a.passDiscard);
  const supportsDiscard = domain?.supportsDiscard ?? false;
  return {
    diskId: disk.id,
    alias: disk.alias,
    poolId: disk.poolId,
    domainId: disk.domainId,
    domainName: domain?.name ?? disk.domainId,
    postZero: disk.wipeAfterDelete && domain?.kind === 'block',
    discard: supportsDiscard && ((domain?.discardAfterDelete ?? false) || passDiscard),
    sizeBytes: disk.sizeBytes,
    volumeIds: disk.volumeIds,
    priorStatus: disk.status,
  };
}

/** The plans of `disks`, with their domains and attachments as the inventory has them now. */
export async function imagePlans(inventory: InventoryRepository, disks: Disk[]): Promise<ImagePlan[]> {
  const domains = new Map((await inventory.listDomains()).map((d) => [d.id, d]));
  const attachments = await Promise.all(disks.map((d) => inventory.listDiskAttachments({ diskId: d.id })));
  return disks.map((d, i) => imagePlan(d, domains.get(d.domainId), attachments[i]));
}

export interface RemoveVmChecked {
  vm: Vm;
  /** The VM's own images: shareable disks outlive it (the engine detaches them). */
  disks: Disk[];
}

export async function checkRemoveVm(
  inventory: InventoryRepository,
  input: RemoveVmInput,
  owned: OwnedByCommand = NOTHING_OWNED,
): Promise<RemoveVmChecked> {
  const vm = await inventory.getVm(input.vmId);
  if (!vm)
    throw new Refusal(ErrorType.VmNotFound, `VM ${input.vmId} does not exist`, 'vm', { vmId: input.vmId });
  if (vm.deleteProtected) {
    throw new Refusal(ErrorType.VmDeleteProtected, `VM ${vm.name} is delete-protected`, 'vm', {
      vmId: vm.id,
    });
  }
  // Our own retry finds the VM ImageLocked by us.
  if (!owned.entityIds.has(vm.id) && !REMOVABLE_VM_STATUSES.includes(vm.status)) {
    throw new Refusal(
      ErrorType.VmStatusNotAllowed,
      `VM ${vm.name} is ${vm.status}; it can be removed only when ${REMOVABLE_VM_STATUSES.join(', ')}`,
      'vm',
      { vmId: vm.id, status: vm.status },
    );
  }
  const disks = (await inventory.listDisks({ vmId: vm.id })).filter((d) => !d.shareable);
  const locked = disks.filter((d) => d.status === 'LOCKED' && !owned.entityIds.has(d.id));
  if (locked.length > 0 && !input.force) {
    throw new Refusal(
      ErrorType.DiskLocked,
      `VM ${vm.name} has locked disks: ${locked.map((d) => d.alias).join(', ')} (use force to remove anyway)`,
      'vm',
      { vmId: vm.id, diskIds: locked.map((d) => d.id) },
    );
  }
  return { vm, disks };
}

export interface RemoveDiskChecked {
  disk: Disk;
  /** Every VM the disk is attached to, by name: each must let it go, and each is named in the audit. */
  vms: Vm[];
}

export async function checkRemoveDisk(
  inventory: InventoryRepository,
  input: RemoveDiskInput,
  owned: OwnedByCommand = NOTHING_OWNED,
): Promise<RemoveDiskChecked> {
  const disk = await inventory.getDisk(input.diskId);
  if (!disk) {
    throw new Refusal(ErrorType.DiskNotFound, `disk ${input.diskId} does not exist`, 'disk', {
      diskId: input.diskId,
    });
  }
  // The engine refuses a LOCKED disk whatever `force` says: forceDelete only reaches VDSM.
  if (disk.status === 'LOCKED' && !owned.entityIds.has(disk.id)) {
    throw new Refusal(ErrorType.DiskLocked, `disk ${disk.alias} is locked by another operation`, 'disk', {
      diskId: disk.id,
    });
  }
  const attachments = await inventory.listDiskAttachments({ diskId: disk.id });
  const attached = (
    await Promise.all(attachments.map(async (a) => ({ attachment: a, vm: await inventory.getVm(a.vmId) })))
  )
    .filter((x): x is { attachment: DiskAttachment; vm: Vm } => x.vm !== undefined)
    .sort((a, b) => (a.vm.name < b.vm.name ? -1 : a.vm.name > b.vm.name ? 1 : 0));
  // RemoveDiskCommand.validateAllVmsForDiskAreDown: a VM that is not Down still uses the disk
  // unless it is unplugged from it.
  const busy = attached.filter(({ attachment, vm }) => attachment.plugged && vm.status !== 'Down');
  if (busy.length) {
    throw new Refusal(
      ErrorType.VmStatusNotAllowed,
      `disk ${disk.alias} is plugged into ${busy.map(({ vm }) => `VM ${vm.name}, which is ${vm.status}`).join('; ')}; stop the VM or unplug the disk first`,
      'disk',
      { diskId: disk.id, vmIds: busy.map(({ vm }) => vm.id) },
    );
  }
  return { disk, vms: attached.map(({ vm }) => vm) };
}
