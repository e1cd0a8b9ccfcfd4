/**
 * The one home of names shared by client, worker, workflows and tools: task queue, workflow id
 * builders, schedule ids. Workflow ids are business ids, so submitting the same command twice
 * reaches the same execution.
 */
export const DEFAULT_TASK_QUEUE = 'ovirt-tasks';
export const DEFAULT_NAMESPACE = 'default';

export const workflowIds = {
  removeVm: (vmId: string): string => `RemoveVm/${vmId}`,
  removeDisk: (diskId: string): string => `RemoveDisk/${diskId}`,
  /** Deterministic child id: replay checks it, and a retried parent finds the same child. */
  removeImage: (parentWorkflowId: string, diskId: string): string =>
    `${parentWorkflowId}/RemoveImage/${diskId}`,
  addDisk: (commandId: string): string => `AddDisk/${commandId}`,
  createSnapshot: (commandId: string): string => `CreateSnapshot/${commandId}`,
  /** One move of a disk at a time: its id is the business id, like RemoveDisk's. */
  moveDisk: (diskId: string): string => `MoveDisk/${diskId}`,
  copyDisk: (commandId: string): string => `CopyDisk/${commandId}`,
  /** One removal of a snapshot at a time: its id is the business id. */
  removeSnapshot: (snapshotId: string): string => `RemoveSnapshot/${snapshotId}`,
  /** A task step of any command: `<parent>/<step command type>/<image id>`, deterministic like removeImage. */
  taskStep: (parentWorkflowId: string, stepType: string, imageId: string): string =>
    `${parentWorkflowId}/${stepType}/${imageId}`,
  taskJanitor: (poolId: string): string => `TaskJanitor/${poolId}`,
} as const;

export const scheduleIds = {
  taskJanitor: (poolId: string): string => `task-janitor/${poolId}`,
} as const;

/** Workflow type names (the exported function names in src/workflows). */
export const WorkflowType = {
  removeVm: 'removeVmWorkflow',
  removeDisk: 'removeDiskWorkflow',
  removeImage: 'removeImageWorkflow',
  addDisk: 'addDiskWorkflow',
  addImageFromScratch: 'addImageFromScratchWorkflow',
  createSnapshot: 'createSnapshotWorkflow',
  createSnapshotDisk: 'createSnapshotDiskWorkflow',
  moveDisk: 'moveDiskWorkflow',
  copyDisk: 'copyDiskWorkflow',
  createVolumeContainer: 'createVolumeContainerWorkflow',
  copyData: 'copyDataWorkflow',
  removeSnapshot: 'removeSnapshotWorkflow',
  prepareMerge: 'prepareMergeWorkflow',
  coldMerge: 'coldMergeWorkflow',
  finalizeMerge: 'finalizeMergeWorkflow',
  destroyImage: 'destroyImageWorkflow',
  taskJanitor: 'taskJanitorWorkflow',
} as const;
