/**
 * How each command describes its task steps: the verb and params VDSM gets, the end action, and
 * whether the step belongs to an all-or-nothing group. Pure: the ids come from the caller.
 */
import type { AddDiskPlan, CreateSnapshotPlan, ImagePlan } from '../shared/commands';
import type { TaskStepInput } from '../shared/steps';

/** VDSM's "no parent" volume id (srcImgUUID/srcVolUUID of a volume created from scratch). */
export const BLANK_UUID = '00000000-0000-0000-0000-000000000000';

const VOL_FORMAT = { COW: 4, RAW: 5 } as const;
const PREALLOCATE = { PREALLOCATED: 1, SPARSE: 2 } as const;

interface Parent {
  commandId: string;
  vmId: string | null;
}

/** RemoveImage: Image.delete of one image group, as RemoveVm and RemoveDisk send it. */
export function removeImageStep(
  parent: Parent,
  image: ImagePlan,
  force: boolean,
  startMaxAttempts: number,
): TaskStepInput {
  return {
    stepType: 'RemoveImage',
    parentCommandId: parent.commandId,
    rootCommandId: parent.commandId,
    vmId: parent.vmId,
    image: { id: image.diskId, alias: image.alias, poolId: image.poolId, domainId: image.domainId },
    description: `Removing disk ${image.alias}`,
    task: {
      verb: 'Image.delete',
      taskVerb: 'deleteImage',
      params: {
        imageID: image.diskId,
        storagepoolID: image.poolId,
        storagedomainID: image.domainId,
        postZero: image.postZero,
        force,
        discard: image.discard,
      },
    },
    end: { kind: 'removeImage', diskId: image.diskId, alias: image.alias, volumeIds: image.volumeIds },
    group: false,
    revertible: false,
    startMaxAttempts,
  };
}

/**
 * RemoveImage of an image no disk record stands for (a move's source, a copy's leftover
 * destination): Image.delete without zeroing, no records change, a failure is audited.
 */
export function storageOnlyRemoveImageStep(
  parent: Parent,
  image: { id: string; alias: string; poolId: string; domainId: string },
  description: string,
  failureAudit: { type: string; message: string },
  startMaxAttempts: number,
): TaskStepInput {
  return {
    stepType: 'RemoveImage',
    parentCommandId: parent.commandId,
    rootCommandId: parent.commandId,
    vmId: parent.vmId,
    image,
    description,
    task: {
      verb: 'Image.delete',
      taskVerb: 'deleteImage',
      params: {
        imageID: image.id,
        storagepoolID: image.poolId,
        storagedomainID: image.domainId,
        postZero: false,
        force: false,
        discard: false,
      },
    },
    end: {
      kind: 'storageOnly',
      failureAudit: { ...failureAudit, entityIds: [image.id, image.domainId] },
    },
    group: false,
    revertible: false,
    startMaxAttempts,
  };
}

/** AddImageFromScratch: Volume.create of the new disk's only volume, as AddDisk sends it. */
export function addImageStep(parent: Parent, plan: AddDiskPlan): TaskStepInput {
  return {
    stepType: 'AddImageFromScratch',
    parentCommandId: parent.commandId,
    rootCommandId: parent.commandId,
    vmId: parent.vmId,
    image: { id: plan.diskId, alias: plan.alias, poolId: plan.poolId, domainId: plan.domainId },
    description: `Adding disk ${plan.alias}`,
    task: {
      verb: 'Volume.create',
      taskVerb: 'createVolume',
      params: {
        volumeID: plan.volumeId,
        storagepoolID: plan.poolId,
        storagedomainID: plan.domainId,
        imageID: plan.diskId,
        size: String(plan.sizeBytes),
        volFormat: VOL_FORMAT[plan.format],
        preallocate: PREALLOCATE[plan.volumeType],
        diskType: 'DATA',
        desc: JSON.stringify({ DiskAlias: plan.alias, DiskDescription: '' }),
        srcImgUUID: BLANK_UUID,
        srcVolUUID: BLANK_UUID,
        sequence: 1,
        // A sparse COW volume on block storage starts small and grows (the engine sends initialSize).
        ...(plan.initialSizeBytes !== null ? { initialSize: String(plan.initialSizeBytes) } : {}),
      },
    },
    end: { kind: 'addImage', diskId: plan.diskId, volumeId: plan.volumeId },
    group: false,
    // A cancelled AddDisk adds nothing, even when Volume.create had already finished.
    revertible: true,
    startMaxAttempts: plan.startMaxAttempts,
  };
}

/** CreateSnapshotDisk: a new COW leaf on one disk's current leaf, a member of the snapshot's group. */
export function snapshotDiskSteps(parent: Parent, plan: CreateSnapshotPlan): TaskStepInput[] {
  return plan.disks.map((disk) => ({
    stepType: 'CreateSnapshotDisk',
    parentCommandId: parent.commandId,
    rootCommandId: parent.commandId,
    vmId: parent.vmId,
    image: { id: disk.diskId, alias: disk.alias, poolId: plan.poolId, domainId: disk.domainId },
    description: `Snapshot of disk ${disk.alias}`,
    task: {
      verb: 'Volume.create',
      taskVerb: 'createVolume',
      params: {
        volumeID: disk.newVolumeId,
        storagepoolID: plan.poolId,
        storagedomainID: disk.domainId,
        imageID: disk.diskId,
        size: String(disk.sizeBytes),
        volFormat: VOL_FORMAT.COW,
        preallocate: PREALLOCATE.SPARSE,
        diskType: 'DATA',
        desc: '',
        srcImgUUID: disk.diskId,
        srcVolUUID: disk.leafVolumeId,
        sequence: disk.sequence,
      },
    },
    end: {
      kind: 'snapshotDisk',
      diskId: disk.diskId,
      snapshotId: plan.snapshotId,
      volumeId: disk.newVolumeId,
      parentVolumeId: disk.leafVolumeId,
    },
    group: true,
    revertible: true,
    startMaxAttempts: plan.startMaxAttempts,
  }));
}
