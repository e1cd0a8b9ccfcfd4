// Every workflow type the worker registers; the bundle is built from this file.
export { removeVmWorkflow } from './remove-vm';
export { removeDiskWorkflow } from './remove-disk';
export { addDiskWorkflow } from './add-disk';
export { createSnapshotWorkflow } from './create-snapshot';
export { moveDiskWorkflow, copyDiskWorkflow } from './move-copy-disk';
export { removeSnapshotWorkflow } from './remove-snapshot';
export {
  removeImageWorkflow,
  addImageFromScratchWorkflow,
  createSnapshotDiskWorkflow,
  createVolumeContainerWorkflow,
  prepareMergeWorkflow,
  finalizeMergeWorkflow,
  destroyImageWorkflow,
} from './task-step';
export { copyDataWorkflow, coldMergeWorkflow } from './host-job-step';
export { taskJanitorWorkflow } from './task-janitor';
