/**
 * AddDisk's refusal rules (the engine's AddDiskCommand.validate, for an image on a data domain),
 * shared by the client (answer before anything starts) and the prepare activity (authoritative).
 */
import type { InventoryRepository, StorageDomain, Vm } from '../inventory/port';
import type { AddDiskInput } from '../shared/commands';
import { ErrorType } from '../shared/errors';
import { NOTHING_OWNED, Refusal, type OwnedByCommand } from './refusal';

export interface AddDiskChecked {
  domain: StorageDomain;
  vm: Vm | null;
  format: 'COW' | 'RAW';
  volumeType: 'SPARSE' | 'PREALLOCATED';
}

/**
 * The engine's defaults when the caller names no format: a preallocated volume is RAW; a sparse
 * one is COW on block storage (a LV cannot be sparse) and RAW on file storage (a sparse file).
 */
export function resolveVolumeFormat(
  domain: Pick<StorageDomain, 'kind'>,
  input: Pick<AddDiskInput, 'format' | 'sparse'>,
): { format: 'COW' | 'RAW'; volumeType: 'SPARSE' | 'PREALLOCATED' } {
  const volumeType = input.sparse ? 'SPARSE' : 'PREALLOCATED';
  if (input.format) return { format: input.format === 'cow' ? 'COW' : 'RAW', volumeType };
  return { format: input.sparse && domain.kind === 'block' ? 'COW' : 'RAW', volumeType };
}

/** VM statuses a disk cannot be added to: the VM is being changed by another storage command. */
const VM_STATUSES_REFUSING_DISKS = new Set(['ImageLocked']);

export async function checkAddDisk(
  inventory: InventoryRepository,
  input: AddDiskInput,
  owned: OwnedByCommand = NOTHING_OWNED,
): Promise<AddDiskChecked> {
  const domain = await inventory.getDomain(input.domainId);
  if (!domain) {
    throw new Refusal(
      ErrorType.StorageDomainNotFound,
      `storage domain ${input.domainId} does not exist`,
      'domain',
      {
        domainId: input.domainId,
      },
    );
  }
  let vm: Vm | null = null;
  if (input.vmId) {
    vm = (await inventory.getVm(input.vmId)) ?? null;
    if (!vm)
      throw new Refusal(ErrorType.VmNotFound, `VM ${input.vmId} does not exist`, 'vm', { vmId: input.vmId });
    if (vm.poolId !== domain.poolId) {
      throw new Refusal(
        ErrorType.InvalidInput,
        `storage domain ${domain.name} is not in the data center of VM ${vm.name}`,
        'domain',
        { domainId: domain.id, vmId: vm.id },
      );
    }
    if (VM_STATUSES_REFUSING_DISKS.has(vm.status) && !owned.entityIds.has(vm.id)) {
      throw new Refusal(ErrorType.VmStatusNotAllowed, `VM ${vm.name} is ${vm.status}`, 'vm', {
        vmId: vm.id,
        status: vm.status,
      });
    }
    const sameAlias = (await inventory.listDisks({ vmId: vm.id })).find(
      (d) => d.alias === input.alias && !owned.entityIds.has(d.id),
    );
    if (sameAlias) {
      throw new Refusal(
        ErrorType.DiskAliasInUse,
        `VM ${vm.name} already has a disk named ${input.alias} (${sameAlias.id})`,
        'alias',
        { vmId: vm.id, diskId: sameAlias.id },
      );
    }
  }
  const { format, volumeType } = resolveVolumeFormat(domain, input);
  if (domain.kind === 'block' && format === 'RAW' && volumeType === 'SPARSE') {
    throw new Refusal(
      ErrorType.VolumeFormatNotAllowed,
      `a raw disk on block storage domain ${domain.name} must be preallocated (a logical volume cannot be sparse)`,
      'format',
      { domainId: domain.id },
    );
  }
  // On a retry our own new disk already takes its space.
  const ownDisks = owned.entityIds.size
    ? (await inventory.listDisks()).filter((d) => owned.entityIds.has(d.id) && d.domainId === domain.id)
    : [];
  const free = domain.freeBytes + ownDisks.reduce((sum, d) => sum + d.sizeBytes, 0);
  if (input.sizeBytes > free) {
    throw new Refusal(
      ErrorType.NotEnoughSpace,
      `storage domain ${domain.name} has ${free} bytes free; the disk needs ${input.sizeBytes}`,
      'size',
      { domainId: domain.id, freeBytes: free, sizeBytes: input.sizeBytes },
    );
  }
  return { domain, vm, format, volumeType };
}
