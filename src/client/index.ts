/**
 * The typed client API: what other programs import to submit and follow ovirt-tasks commands.
 * Input is validated with zod before anything is contacted; commands get business workflow ids,
 * so submitting the same command twice reaches one execution.
 */
import type { Client } from '@temporalio/client';
import { checkRemoveDisk, checkRemoveVm, imagePlans } from '../rules/remove';
import { RemoveDiskInput, RemoveVmInput } from '../shared/commands';
import { DEFAULT_TASK_QUEUE, workflowIds, WorkflowType } from '../shared/names';
import { MAX_IDS_IN_SEARCH_ATTRIBUTE, SA } from '../shared/search-attributes';
import type { removeDiskWorkflow, removeVmWorkflow } from '../workflows';
import { renderImagesDetails } from '../workflows/details';
import {
  parseSubmitCall,
  refusedAsError,
  reusableRun,
  startIdempotent,
  type SubmitOptions,
  type Submitted,
} from './start';
import { parseInput } from './validate';

export { CommandRefusedError, InvalidCommandInputError } from './errors';
export {
  submitAddDisk,
  submitCopyDisk,
  submitCreateSnapshot,
  submitMoveDisk,
  submitRemoveSnapshot,
} from './submit-storage';
export type { SubmitOptions, Submitted } from './start';
export {
  cancelCommand,
  commandListQuery,
  fetchCommandHistories,
  listCommands,
  queryCommandState,
  queryLiveCommandState,
  TOP_LEVEL_COMMAND_TYPES,
  webUiLink,
  type CommandFilter,
  type CommandHistory,
  type CommandListing,
} from './read';
export { CommandWorkflowId, MAX_LIST_LIMIT, WORKFLOW_ID_RULE } from './validate';

export async function submitRemoveVm(
  client: Client,
  rawInput: unknown,
  rawOptions: SubmitOptions = {},
): Promise<Submitted<typeof removeVmWorkflow>> {
  const input = parseInput(RemoveVmInput, rawInput, 'RemoveVm');
  const { options } = parseSubmitCall(client, rawOptions, 'submitRemoveVm');
  let summary = `Remove VM ${input.vmId}`;
  let details: string | undefined;
  let imageIds: string[] = [];
  let poolId: string | undefined;
  if (options.inventory) {
    // The inventory check is for new runs: a running command has locked its disks, a succeeded
    // one has removed its VM, and submitting either again must still reach it.
    const existing = await reusableRun<typeof removeVmWorkflow>(client, workflowIds.removeVm(input.vmId));
    if (existing) return existing;
    const { vm, disks } = await refusedAsError(() => checkRemoveVm(options.inventory!, input));
    summary = `Remove VM ${vm.name}: ${disks.length} image${disks.length === 1 ? '' : 's'}`;
    details = renderImagesDetails(`VM ${vm.name} (${vm.id})`, await imagePlans(options.inventory, disks));
    imageIds = disks.slice(0, MAX_IDS_IN_SEARCH_ATTRIBUTE).map((d) => d.id);
    poolId = vm.poolId;
  }
  return startIdempotent(client, WorkflowType.removeVm, workflowIds.removeVm(input.vmId), {
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    args: [input],
    staticSummary: summary,
    staticDetails: details,
    typedSearchAttributes: [
      { key: SA.CommandType, value: 'RemoveVm' },
      { key: SA.CommandStatus, value: 'NOT_STARTED' },
      { key: SA.VmId, value: input.vmId },
      ...(imageIds.length ? [{ key: SA.ImageIds, value: imageIds }] : []),
      ...(poolId ? [{ key: SA.StoragePoolId, value: poolId }] : []),
    ],
  });
}

export async function submitRemoveDisk(
  client: Client,
  rawInput: unknown,
  rawOptions: SubmitOptions = {},
): Promise<Submitted<typeof removeDiskWorkflow>> {
  const input = parseInput(RemoveDiskInput, rawInput, 'RemoveDisk');
  const { options } = parseSubmitCall(client, rawOptions, 'submitRemoveDisk');
  let summary = `Remove disk ${input.diskId}`;
  let details: string | undefined;
  if (options.inventory) {
    const existing = await reusableRun<typeof removeDiskWorkflow>(
      client,
      workflowIds.removeDisk(input.diskId),
    );
    if (existing) return existing;
    const { disk } = await refusedAsError(() => checkRemoveDisk(options.inventory!, input));
    summary = `Remove disk ${disk.alias}: 1 image`;
    details = renderImagesDetails(`Disk ${disk.alias}`, await imagePlans(options.inventory, [disk]));
  }
  return startIdempotent(client, WorkflowType.removeDisk, workflowIds.removeDisk(input.diskId), {
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    args: [input],
    staticSummary: summary,
    staticDetails: details,
    typedSearchAttributes: [
      { key: SA.CommandType, value: 'RemoveDisk' },
      { key: SA.CommandStatus, value: 'NOT_STARTED' },
      { key: SA.ImageIds, value: [input.diskId] },
    ],
  });
}
