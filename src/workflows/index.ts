// Every workflow type the worker registers; the bundle is built from this file.
export { removeVmWorkflow } from './remove-vm';
export { removeDiskWorkflow } from './remove-disk';
export { removeImageWorkflow } from './remove-image';
export { taskJanitorWorkflow } from './task-janitor';
