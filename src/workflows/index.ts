// Every workflow type the worker registers; the bundle is built from this file.
export { removeVmWorkflow } from './remove-vm';
export { removeDiskWorkflow } from './remove-disk';
export { addDiskWorkflow } from './add-disk';
export { createSnapshotWorkflow } from './create-snapshot';
export { removeImageWorkflow, addImageFromScratchWorkflow, createSnapshotDiskWorkflow } from './task-step';
export { taskJanitorWorkflow } from './task-janitor';
