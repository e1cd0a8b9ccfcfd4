/**
 * The typed client API: what other programs import to submit and follow ovirt-tasks commands.
 * Input is validated with zod before anything is contacted; commands get business workflow ids,
 * so submitting the same command twice reaches one execution.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import type { z } from 'zod';
import type { InventoryRepository } from '../inventory/port';
import { describeZodError, RemoveDiskInput, RemoveVmInput, type ImagePlan } from '../shared/commands';
import { commandStateQuery, type CommandState } from '../shared/messages';
import { DEFAULT_TASK_QUEUE, workflowIds, WorkflowType } from '../shared/names';
import { SA } from '../shared/search-attributes';
import type { removeDiskWorkflow, removeVmWorkflow } from '../workflows';
import { renderImagesDetails } from '../workflows/details';

/** Input that fails validation: nothing was started or contacted. */
export class InvalidCommandInputError extends Error {
  override readonly name = 'InvalidCommandInputError';
}

/** The inventory refuses the command up front (unknown VM, locked disk, ...): nothing was started. */
export class CommandRefusedError extends Error {
  override readonly name = 'CommandRefusedError';
  constructor(
    message: string,
    readonly type: string,
  ) {
    super(message);
  }
}

export interface SubmitOptions {
  taskQueue?: string;
  /** When given, the command is checked against it first and the run gets a readable summary. */
  inventory?: InventoryRepository;
}

export interface Submitted<W extends Workflow> {
  handle: WorkflowHandle<W>;
  /** False when an earlier submission of the same command already exists (running or done). */
  started: boolean;
}

function parse<S extends z.ZodTypeAny>(schema: S, input: unknown, command: string): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success)
    throw new InvalidCommandInputError(`invalid ${command} input: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

/** Starts with the command's business id; an existing run of the same command is reused. */
async function startIdempotent<W extends Workflow>(
  client: Client,
  workflowType: string,
  workflowId: string,
  options: Omit<Parameters<Client['workflow']['start']>[1], 'workflowId' | 'taskQueue'> & {
    taskQueue: string;
  },
): Promise<Submitted<W>> {
  const existing = await client.workflow
    .getHandle(workflowId)
    .describe()
    .catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    });
  if (existing && (existing.status.name === 'RUNNING' || existing.status.name === 'COMPLETED')) {
    return { handle: client.workflow.getHandle<W>(workflowId, existing.runId), started: false };
  }
  try {
    const handle = await client.workflow.start(workflowType, {
      ...options,
      workflowId,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      // A command that ended badly may be submitted again; one that succeeded may not.
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    });
    return { handle: client.workflow.getHandle<W>(workflowId, handle.firstExecutionRunId), started: true };
  } catch (err) {
    // Lost a race with another submitter of the same command: theirs is the one execution.
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return { handle: client.workflow.getHandle<W>(workflowId), started: false };
    }
    throw err;
  }
}

export async function submitRemoveVm(
  client: Client,
  rawInput: unknown,
  options: SubmitOptions = {},
): Promise<Submitted<typeof removeVmWorkflow>> {
  const input = parse(RemoveVmInput, rawInput, 'RemoveVm');
  let summary = `Remove VM ${input.vmId}`;
  let details: string | undefined;
  let imageIds: string[] = [];
  let poolId: string | undefined;
  if (options.inventory) {
    const vm = await options.inventory.getVm(input.vmId);
    if (!vm) throw new CommandRefusedError(`VM ${input.vmId} does not exist`, 'VmNotFound');
    const disks = (await options.inventory.listDisks({ vmId: vm.id })).filter((d) => !d.shareable);
    const locked = disks.filter((d) => d.status === 'LOCKED');
    if (locked.length && !input.force) {
      throw new CommandRefusedError(
        `VM ${vm.name} has locked disks: ${locked.map((d) => d.alias).join(', ')} (use --force to remove anyway)`,
        'DiskLocked',
      );
    }
    summary = `Remove VM ${vm.name}: ${disks.length} image${disks.length === 1 ? '' : 's'}`;
    details = renderImagesDetails(`VM ${vm.name} (${vm.id})`, disks.map(toPlanLike));
    imageIds = disks.slice(0, 50).map((d) => d.id);
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
  options: SubmitOptions = {},
): Promise<Submitted<typeof removeDiskWorkflow>> {
  const input = parse(RemoveDiskInput, rawInput, 'RemoveDisk');
  let summary = `Remove disk ${input.diskId}`;
  let details: string | undefined;
  if (options.inventory) {
    const disk = await options.inventory.getDisk(input.diskId);
    if (!disk) throw new CommandRefusedError(`disk ${input.diskId} does not exist`, 'DiskNotFound');
    if (disk.status === 'LOCKED' && !input.force) {
      throw new CommandRefusedError(
        `disk ${disk.alias} is locked (use --force to remove anyway)`,
        'DiskLocked',
      );
    }
    summary = `Remove disk ${disk.alias}: 1 image`;
    details = renderImagesDetails(`Disk ${disk.alias}`, [toPlanLike(disk)]);
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

function toPlanLike(d: {
  id: string;
  alias: string;
  poolId: string;
  domainId: string;
  wipeAfterDelete: boolean;
  sizeBytes: number;
  status: ImagePlan['priorStatus'];
}): ImagePlan {
  return {
    diskId: d.id,
    alias: d.alias,
    poolId: d.poolId,
    domainId: d.domainId,
    postZero: d.wipeAfterDelete,
    discard: false,
    sizeBytes: d.sizeBytes,
    priorStatus: d.status,
  };
}

/** The command's state and per-task table (the engine's async_tasks rows). */
export async function queryCommandState(client: Client, workflowId: string): Promise<CommandState> {
  return client.workflow.getHandle(workflowId).query(commandStateQuery);
}

export async function cancelCommand(client: Client, workflowId: string): Promise<void> {
  await client.workflow.getHandle(workflowId).cancel();
}

/** Web UI link of a run. */
export function webUiLink(uiBaseUrl: string, namespace: string, workflowId: string, runId?: string): string {
  const base = `${uiBaseUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${encodeURIComponent(runId)}/history` : base;
}
