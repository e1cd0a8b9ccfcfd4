/**
 * Reading workflow histories: event counts, activities run, when a given activity completed, and
 * the most children / activities a workflow had pending at once.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { mapLimit, sleep } from './stats';

const ET = temporal.api.enums.v1.EventType;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export async function fetchEvents(
  client: Client,
  workflowId: string,
  runId?: string,
): Promise<HistoryEvent[]> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  return history.events ?? [];
}

/** Event ids are int64 (Long objects from protobufjs). */
function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (value && typeof (value as { toNumber?: unknown }).toNumber === 'function') {
    return (value as { toNumber(): number }).toNumber();
  }
  return Number(value);
}

function firstPayload(payloads: temporal.api.common.v1.IPayloads | null | undefined): unknown {
  const payload = payloads?.payloads?.[0];
  return payload ? defaultPayloadConverter.fromPayload(payload) : undefined;
}

export interface ActivityRun {
  type: string;
  scheduledEventId: number;
  scheduledAt: number;
  /** Completed / failed / timed out / cancelled: when and how. */
  closedAt: number | undefined;
  outcome: 'completed' | 'failed' | 'timedOut' | 'canceled' | 'pending';
  result: unknown;
  /** Attempt that closed it (ActivityTaskStarted.attempt): > 1 means retries, invisible otherwise. */
  attempt: number;
  /** Failed: the failure's type and message (the ApplicationFailure's, when it is one). */
  failure?: string;
}

/** The marker the SDK's core records for each local activity. */
const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

export interface HistoryFacts {
  events: number;
  activities: ActivityRun[];
  /** Activities scheduled before the first child was initiated (parents only). */
  activitiesBeforeChildren: number;
  /** Local activities (one marker each: they never reach the server as activity tasks). */
  localActivities: number;
  children: number;
  signalsReceived: number;
  maxPendingChildren: number;
  maxPendingActivities: number;
  startedAt: number;
  closedAt: number | undefined;
  /** Events per type (EVENT_TYPE_ prefix dropped). */
  eventTypes: Record<string, number>;
}

/** Facts of one history. */
export function analyze(events: HistoryEvent[]): HistoryFacts {
  const activities = new Map<number, ActivityRun>();
  let children = 0;
  let firstChildAt: number | undefined;
  let pendingChildren = 0;
  let maxPendingChildren = 0;
  let pendingActivities = 0;
  let maxPendingActivities = 0;
  let signalsReceived = 0;
  let closedAt: number | undefined;
  const startedAt = tsToMs(events[0]?.eventTime);
  const close = (id: unknown, at: number, outcome: ActivityRun['outcome'], result?: unknown): void => {
    const run = activities.get(toNumber(id));
    if (!run || run.outcome !== 'pending') return;
    run.closedAt = at;
    run.outcome = outcome;
    run.result = result;
    pendingActivities--;
  };
  const eventTypes: Record<string, number> = {};
  let localActivities = 0;
  for (const event of events) {
    const typeName = (ET[event.eventType ?? 0] ?? String(event.eventType)).replace(/^EVENT_TYPE_/, '');
    eventTypes[typeName] = (eventTypes[typeName] ?? 0) + 1;
    if (event.markerRecordedEventAttributes?.markerName === LOCAL_ACTIVITY_MARKER) localActivities++;
    const at = tsToMs(event.eventTime);
    const id = toNumber(event.eventId);
    switch (event.eventType) {
      case ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        activities.set(id, {
          type: event.activityTaskScheduledEventAttributes?.activityType?.name ?? '?',
          scheduledEventId: id,
          scheduledAt: at,
          closedAt: undefined,
          outcome: 'pending',
          result: undefined,
          attempt: 1,
        });
        pendingActivities++;
        maxPendingActivities = Math.max(maxPendingActivities, pendingActivities);
        break;
      case ET.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
        const attrs = event.activityTaskStartedEventAttributes;
        const run = activities.get(toNumber(attrs?.scheduledEventId));
        if (run) run.attempt = attrs?.attempt ?? 1;
        break;
      }
      case ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: {
        const attrs = event.activityTaskCompletedEventAttributes;
        close(attrs?.scheduledEventId, at, 'completed', firstPayload(attrs?.result));
        break;
      }
      case ET.EVENT_TYPE_ACTIVITY_TASK_FAILED: {
        const attrs = event.activityTaskFailedEventAttributes;
        const run = activities.get(toNumber(attrs?.scheduledEventId));
        close(attrs?.scheduledEventId, at, 'failed');
        const f = attrs?.failure;
        if (run && f) run.failure = `${f.applicationFailureInfo?.type ?? 'failure'}: ${f.message ?? ''}`;
        break;
      }
      case ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
        close(event.activityTaskTimedOutEventAttributes?.scheduledEventId, at, 'timedOut');
        break;
      case ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
        close(event.activityTaskCanceledEventAttributes?.scheduledEventId, at, 'canceled');
        break;
      case ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        children++;
        firstChildAt ??= id;
        pendingChildren++;
        maxPendingChildren = Math.max(maxPendingChildren, pendingChildren);
        break;
      case ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED:
      case ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
      case ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED:
      case ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED:
      case ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT:
      case ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED:
        pendingChildren--;
        break;
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        signalsReceived++;
        break;
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        closedAt = at;
        break;
      default:
        break;
    }
  }
  const runs = [...activities.values()];
  return {
    events: events.length,
    activities: runs,
    activitiesBeforeChildren: runs.filter(
      (a) => firstChildAt === undefined || a.scheduledEventId < firstChildAt,
    ).length,
    localActivities,
    children,
    signalsReceived,
    maxPendingChildren,
    maxPendingActivities,
    startedAt,
    closedAt,
    eventTypes,
  };
}

export interface Execution {
  workflowId: string;
  runId: string;
  type: string;
  status: string;
  historyLength: number;
  historySize: number;
  startTime: number;
  closeTime: number | undefined;
}

function toExecution(info: WorkflowExecutionInfo): Execution {
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    type: info.type,
    status: info.status.name,
    historyLength: info.historyLength,
    historySize: info.historySize ?? 0,
    startTime: info.startTime.getTime(),
    closeTime: info.closeTime?.getTime(),
  };
}

/** Every execution of a task queue (visibility), retried through transient server errors. */
export async function listExecutions(
  client: Client,
  taskQueue: string,
  extraQuery = '',
): Promise<Execution[]> {
  const query = `TaskQueue = '${taskQueue}'${extraQuery ? ` AND ${extraQuery}` : ''}`;
  for (let attempt = 0; ; attempt++) {
    try {
      const out: Execution[] = [];
      for await (const info of client.workflow.list({ query, pageSize: 1000 })) out.push(toExecution(info));
      return out;
    } catch (err) {
      if (attempt >= 20) throw err;
      await sleep(1_000);
    }
  }
}

/**
 * Waits until every id is closed (visibility can lag a little behind the close), polling the
 * task queue's executions; returns them, or throws with the ids still open at the deadline.
 */
export async function waitClosed(
  client: Client,
  taskQueue: string,
  ids: ReadonlySet<string>,
  options: { deadlineMs: number; pollMs?: number; onProgress?: (open: number) => void },
): Promise<Map<string, Execution>> {
  const deadline = Date.now() + options.deadlineMs;
  for (;;) {
    let executions: Execution[] = [];
    try {
      executions = await listExecutions(client, taskQueue);
    } catch {
      // The server may be restarting: try again.
    }
    const latest = new Map<string, Execution>();
    for (const e of executions) {
      if (!ids.has(e.workflowId)) continue;
      const known = latest.get(e.workflowId);
      if (!known || e.startTime >= known.startTime) latest.set(e.workflowId, e);
    }
    const open = [...ids].filter((id) => {
      const status = latest.get(id)?.status;
      return status === undefined || status === 'RUNNING';
    });
    options.onProgress?.(open.length);
    if (open.length === 0) return latest;
    if (Date.now() > deadline) {
      throw new Error(
        `${open.length} of ${ids.size} workflows still open at the deadline: ${open.slice(0, 5).join(', ')}${open.length > 5 ? ', ...' : ''}`,
      );
    }
    await sleep(options.pollMs ?? 1_000);
  }
}

/** Full histories of many workflows, a few at a time. */
export async function fetchMany(
  client: Client,
  executions: readonly Execution[],
  concurrency = 8,
): Promise<Array<{ execution: Execution; facts: HistoryFacts }>> {
  return mapLimit(executions, concurrency, async (execution) => ({
    execution,
    facts: analyze(await fetchEvents(client, execution.workflowId, execution.runId)),
  }));
}

/** The workflow ids of the children a parent history initiated, in order (each once). */
export function childWorkflowIds(events: HistoryEvent[]): string[] {
  const ids = events
    .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId)
    .filter((id): id is string => typeof id === 'string' && id !== '');
  return [...new Set(ids)];
}
