/**
 * Following commands: their state, cancellation, listing and histories. Each call validates its
 * arguments first (InvalidCommandInputError naming the field): ids are quoted into queries.
 */
import type { Client, WorkflowExecutionInfo, WorkflowExecutionStatusName } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils';
import { z } from 'zod';
import { RemoveVmInput } from '../shared/commands';
import { commandStateQuery, taskTableQuery, type CommandState, type TaskRow } from '../shared/messages';
import { SA } from '../shared/search-attributes';
import { CommandStatus, CommandType } from '../shared/vocabulary';
import { withLiveJobs } from './job-progress';
import { CommandWorkflowId, MAX_LIST_LIMIT, parseInput, RunId, TemporalClient } from './validate';

const WorkflowCall = z.object({ client: TemporalClient, workflowId: CommandWorkflowId }).strict();

/** The command's state and per-task table (the engine's async_tasks rows). */
export async function queryCommandState(client: Client, workflowId: string): Promise<CommandState> {
  const input = parseInput(WorkflowCall, { client, workflowId }, 'queryCommandState');
  return input.client.workflow.getHandle(input.workflowId).query(commandStateQuery);
}

export async function cancelCommand(client: Client, workflowId: string): Promise<void> {
  const input = parseInput(WorkflowCall, { client, workflowId }, 'cancelCommand');
  await input.client.workflow.getHandle(input.workflowId).cancel();
}

const WebUiLinkInput = z
  .object({
    uiBaseUrl: z.string().regex(/^https?:\/\/[^\s/]+/, 'must be an http:// or https:// URL'),
    namespace: z.string().min(1, 'must not be empty'),
    workflowId: z.string().min(1, 'must not be empty'),
    runId: RunId.optional(),
  })
  .strict();

/** Web UI link of a run. */
export function webUiLink(uiBaseUrl: string, namespace: string, workflowId: string, runId?: string): string {
  const input = parseInput(WebUiLinkInput, { uiBaseUrl, namespace, workflowId, runId }, 'webUiLink');
  const base = `${input.uiBaseUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(input.namespace)}/workflows/${encodeURIComponent(input.workflowId)}`;
  return input.runId ? `${base}/${encodeURIComponent(input.runId)}/history` : base;
}

/** Steps whose own row `queryLiveCommandState` asks for, at most: one query each. */
const MAX_STEP_QUERIES = 50;

/**
 * The command's state with each unfinished step's row read from the step itself: a step reports to
 * its parent only when its task starts and when it is cleared, so Ended, AttemptingEndAction,
 * ClearFailed and aborting show only in the step. A step that does not answer (not started yet)
 * keeps its parent's row. A running host job's phase, status and progress come from its waiting
 * activity's last heartbeat (job-progress.ts).
 */
export async function queryLiveCommandState(client: Client, workflowId: string): Promise<CommandState> {
  const input = parseInput(WorkflowCall, { client, workflowId }, 'queryLiveCommandState');
  const state = await input.client.workflow.getHandle(input.workflowId).query(commandStateQuery);
  const unfinished = state.tasks
    .filter((t) => t.state !== 'Cleared' && t.commandId !== input.workflowId)
    .slice(0, MAX_STEP_QUERIES);
  const answers = await Promise.allSettled(
    unfinished.map((t) => input.client.workflow.getHandle(t.commandId).query(taskTableQuery)),
  );
  const ownRows = new Map<string, TaskRow>();
  for (const answer of answers) {
    const row = answer.status === 'fulfilled' ? answer.value[0] : undefined;
    if (row) ownRows.set(row.commandId, row);
  }
  const tasks = state.tasks.map((t) => ownRows.get(t.commandId) ?? t);
  return { ...state, tasks: await withLiveJobs(input.client, tasks) };
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

/** The commands a user submits: `list` without a type shows these, not their steps. */
export const TOP_LEVEL_COMMAND_TYPES: readonly CommandType[] = [
  'RemoveVm',
  'RemoveDisk',
  'AddDisk',
  'CreateSnapshot',
  'MoveDisk',
  'CopyDisk',
  'RemoveSnapshot',
];

/**
 * The visibility query `listCommands` runs. Without a type it lists commands (RemoveVm, RemoveDisk,
 * AddDisk, CreateSnapshot), not their steps (RemoveImage, AddImageFromScratch, CreateSnapshotDisk). Values are validated first because they are quoted into the query.
 */
export function commandListQuery(filter: CommandFilter): string {
  const { vmId, commandType, commandStatus } = parseInput(CommandFilterSchema, filter, 'filter');
  const clauses = [
    commandType
      ? `CommandType = '${commandType}'`
      : `CommandType IN (${TOP_LEVEL_COMMAND_TYPES.map((t) => `'${t}'`).join(', ')})`,
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

const ListInput = z
  .object({
    client: TemporalClient,
    filter: z.unknown(),
    limit: z
      .number({ invalid_type_error: 'must be a number' })
      .int('must be an integer')
      .min(1, 'must be at least 1')
      .max(MAX_LIST_LIMIT, `must be at most ${MAX_LIST_LIMIT}`),
  })
  .strict();

/** The newest `limit` (1–1000) runs matching the filter; visibility lags the runs by up to a few seconds. */
export async function listCommands(
  client: Client,
  filter: CommandFilter,
  limit: number,
): Promise<CommandListing[]> {
  const input = parseInput(ListInput, { client, filter, limit }, 'listCommands');
  const query = commandListQuery(filter);
  const executions: WorkflowExecutionInfo[] = [];
  for await (const execution of input.client.workflow.list({ query, pageSize: input.limit })) {
    executions.push(execution);
    if (executions.length >= input.limit) break;
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
          summary: await (
            await input.client.workflow.getHandle(e.workflowId, e.runId).describe()
          ).staticSummary(),
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

const HistoriesInput = z
  .object({ client: TemporalClient, workflowId: CommandWorkflowId, runId: RunId.optional() })
  .strict();

/** The history of a command's run (the latest unless `runId`), then those of its steps (child workflows). */
export async function fetchCommandHistories(
  client: Client,
  workflowId: string,
  runId?: string,
): Promise<CommandHistory[]> {
  const input = parseInput(HistoriesInput, { client, workflowId, runId }, 'fetchCommandHistories');
  return histories(input.client, input.workflowId, input.runId);
}

async function histories(client: Client, workflowId: string, runId?: string): Promise<CommandHistory[]> {
  const description = await client.workflow.getHandle(workflowId, runId).describe();
  const history = await client.workflow.getHandle(workflowId, description.runId).fetchHistory();
  const children = (history.events ?? []).flatMap((event) => {
    const child = event.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
    return child?.workflowId && child.runId ? [{ workflowId: child.workflowId, runId: child.runId }] : [];
  });
  const childHistories = await Promise.all(
    children.map((child) => histories(client, child.workflowId, child.runId)),
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
