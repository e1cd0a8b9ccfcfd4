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
  type WorkflowExecutionInfo,
  type WorkflowExecutionStatusName,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import type { History } from '@temporalio/common/lib/proto-utils';
import { z } from 'zod';
import type { Disk, InventoryRepository } from '../inventory/port';
import { describeZodError, RemoveDiskInput, RemoveVmInput, type ImagePlan } from '../shared/commands';
import { commandStateQuery, taskTableQuery, type CommandState, type TaskRow } from '../shared/messages';
import { DEFAULT_TASK_QUEUE, workflowIds, WorkflowType } from '../shared/names';
import { MAX_IDS_IN_SEARCH_ATTRIBUTE, SA } from '../shared/search-attributes';
import { CommandStatus, CommandType } from '../shared/vocabulary';
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

/** A running or succeeded run of the command, which submitting it again reaches instead of a new one. */
async function reusableRun<W extends Workflow>(
  client: Client,
  workflowId: string,
): Promise<Submitted<W> | undefined> {
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
  return undefined;
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
  const existing = await reusableRun<W>(client, workflowId);
  if (existing) return existing;
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
    // The inventory check is for new runs: a running command has locked its disks, a succeeded
    // one has removed its VM, and submitting either again must still reach it.
    const existing = await reusableRun<typeof removeVmWorkflow>(client, workflowIds.removeVm(input.vmId));
    if (existing) return existing;
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
  options: SubmitOptions = {},
): Promise<Submitted<typeof removeDiskWorkflow>> {
  const input = parse(RemoveDiskInput, rawInput, 'RemoveDisk');
  let summary = `Remove disk ${input.diskId}`;
  let details: string | undefined;
  if (options.inventory) {
    const existing = await reusableRun<typeof removeDiskWorkflow>(
      client,
      workflowIds.removeDisk(input.diskId),
    );
    if (existing) return existing;
    const disk = await options.inventory.getDisk(input.diskId);
    if (!disk) throw new CommandRefusedError(`disk ${input.diskId} does not exist`, 'DiskNotFound');
    if (disk.status === 'LOCKED' && !input.force) {
      throw new CommandRefusedError(
        `disk ${disk.alias} is locked (use --force to remove anyway)`,
        'DiskLocked',
      );
    }
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

/** What the run's details show per image: the same fields the prepare activity sends to VDSM. */
async function imagePlans(inventory: InventoryRepository, disks: Disk[]): Promise<ImagePlan[]> {
  const discardByDomain = new Map((await inventory.listDomains()).map((d) => [d.id, d.discardAfterDelete]));
  return disks.map((d) => ({
    diskId: d.id,
    alias: d.alias,
    poolId: d.poolId,
    domainId: d.domainId,
    postZero: d.wipeAfterDelete,
    discard: discardByDomain.get(d.domainId) ?? false,
    sizeBytes: d.sizeBytes,
    priorStatus: d.status,
  }));
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

/** Steps whose own row `queryLiveCommandState` asks for, at most: one query each. */
const MAX_STEP_QUERIES = 50;

/**
 * The command's state with each unfinished step's row read from the step itself: a step reports to
 * its parent only when its task starts and when it is cleared, so Ended, AttemptingEndAction,
 * ClearFailed and aborting show only in the step. A step that does not answer (not started yet)
 * keeps its parent's row.
 */
export async function queryLiveCommandState(client: Client, workflowId: string): Promise<CommandState> {
  const state = await queryCommandState(client, workflowId);
  const unfinished = state.tasks
    .filter((t) => t.state !== 'Cleared' && t.commandId !== workflowId)
    .slice(0, MAX_STEP_QUERIES);
  const answers = await Promise.allSettled(
    unfinished.map((t) => client.workflow.getHandle(t.commandId).query(taskTableQuery)),
  );
  const ownRows = new Map<string, TaskRow>();
  for (const answer of answers) {
    const row = answer.status === 'fulfilled' ? answer.value[0] : undefined;
    if (row) ownRows.set(row.imageId, row);
  }
  return { ...state, tasks: state.tasks.map((t) => ownRows.get(t.imageId) ?? t) };
}

/** What `listCommands` filters on; each is a custom search attribute. */
export interface CommandFilter {
  vmId?: string;
  commandType?: CommandType;
  commandStatus?: CommandStatus;
}

const CommandFilterSchema = z
  .object({
    vmId: RemoveVmInput.shape.vmId.optional(),
    commandType: z.enum(CommandType).optional(),
    commandStatus: z.enum(CommandStatus).optional(),
  })
  .strict();

/**
 * The visibility query `listCommands` runs. Without a type it lists commands (RemoveVm, RemoveDisk),
 * not their RemoveImage steps. Values are validated first because they are quoted into the query.
 */
export function commandListQuery(filter: CommandFilter): string {
  const parsed = CommandFilterSchema.safeParse(filter);
  if (!parsed.success)
    throw new InvalidCommandInputError(`invalid filter: ${describeZodError(parsed.error)}`);
  const { vmId, commandType, commandStatus } = parsed.data;
  const clauses = [
    commandType ? `CommandType = '${commandType}'` : `CommandType IN ('RemoveVm', 'RemoveDisk')`,
  ];
  if (vmId) clauses.push(`VmId = '${vmId}'`);
  if (commandStatus) clauses.push(`CommandStatus = '${commandStatus}'`);
  return clauses.join(' AND ');
}

export interface CommandListing {
  workflowId: string;
  runId: string;
  commandType: string | undefined;
  commandStatus: string | undefined;
  executionStatus: WorkflowExecutionStatusName;
  startTime: Date;
  closeTime: Date | undefined;
  summary: string | undefined;
}

/** Runs described at once while listing (summaries are not in visibility records). */
const DESCRIBE_BATCH = 20;

/** The newest `limit` (≥ 1) runs matching the filter; visibility lags the runs by up to a few seconds. */
export async function listCommands(
  client: Client,
  filter: CommandFilter,
  limit: number,
): Promise<CommandListing[]> {
  const query = commandListQuery(filter);
  const executions: WorkflowExecutionInfo[] = [];
  for await (const execution of client.workflow.list({ query, pageSize: limit })) {
    executions.push(execution);
    if (executions.length >= limit) break;
  }
  const listings: CommandListing[] = [];
  for (let i = 0; i < executions.length; i += DESCRIBE_BATCH) {
    const batch = executions.slice(i, i + DESCRIBE_BATCH);
    listings.push(
      ...(await Promise.all(
        batch.map(async (e) => ({
          workflowId: e.workflowId,
          runId: e.runId,
          commandType: e.typedSearchAttributes.get(SA.CommandType),
          commandStatus: e.typedSearchAttributes.get(SA.CommandStatus),
          executionStatus: e.status.name,
          startTime: e.startTime,
          closeTime: e.closeTime,
          // The summary lives in the run's user metadata, which only describe() returns.
          summary: await (await client.workflow.getHandle(e.workflowId, e.runId).describe()).staticSummary(),
        })),
      )),
    );
  }
  return listings;
}

/** One run's event history, for replay tests. */
export interface CommandHistory {
  workflowId: string;
  runId: string;
  workflowType: string;
  /** Set on a step: the command that started it. */
  parentWorkflowId: string | null;
  executionStatus: WorkflowExecutionStatusName;
  history: History;
}

/** The history of a command's run (the latest unless `runId`), then those of its steps (child workflows). */
export async function fetchCommandHistories(
  client: Client,
  workflowId: string,
  runId?: string,
): Promise<CommandHistory[]> {
  const description = await client.workflow.getHandle(workflowId, runId).describe();
  const history = await client.workflow.getHandle(workflowId, description.runId).fetchHistory();
  const children = (history.events ?? []).flatMap((event) => {
    const child = event.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
    return child?.workflowId && child.runId ? [{ workflowId: child.workflowId, runId: child.runId }] : [];
  });
  const childHistories = await Promise.all(
    children.map((child) => fetchCommandHistories(client, child.workflowId, child.runId)),
  );
  return [
    {
      workflowId,
      runId: description.runId,
      workflowType: description.type,
      parentWorkflowId: description.parentExecution?.workflowId ?? null,
      executionStatus: description.status.name,
      history,
    },
    ...childHistories.flat(),
  ];
}
