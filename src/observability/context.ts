import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What an activity is about, carried through its async calls so a VDSM call made deep inside it
 * (or a status poll it scheduled) can be labelled without passing it down every function.
 */
export interface TaskContext {
  workflowId: string;
  runId: string;
  activityType: string;
  poolId?: string;
  vdsmTaskId?: string;
  /** The last VDSM host this activity talked to (set by the instrumented VDSM client). */
  host?: string;
}

const storage = new AsyncLocalStorage<TaskContext>();

export function runInTaskContext<T>(context: TaskContext, body: () => T): T {
  return storage.run(context, body);
}

export function currentTaskContext(): TaskContext | undefined {
  return storage.getStore();
}

/** The log fields of a task line: only those known, so a line never carries `undefined`. */
export function taskLogFields(context: TaskContext | undefined): Record<string, string> {
  if (!context) return {};
  const fields: Record<string, string> = {
    workflowId: context.workflowId,
    runId: context.runId,
    activityType: context.activityType,
  };
  if (context.poolId) fields.poolId = context.poolId;
  if (context.vdsmTaskId) fields.vdsmTaskId = context.vdsmTaskId;
  if (context.host) fields.host = context.host;
  return fields;
}

/** The host that last reported each task (its SPM), for lines logged where no VDSM call was made. */
const taskHosts = new Map<string, string>();
const MAX_TASK_HOSTS = 10_000;

export function noteTaskHost(taskId: string, host: string): void {
  taskHosts.delete(taskId);
  taskHosts.set(taskId, host);
  // Oldest first: a Map iterates in insertion order.
  if (taskHosts.size > MAX_TASK_HOSTS) taskHosts.delete(taskHosts.keys().next().value!);
}

export function taskHost(taskId: string): string | undefined {
  return taskHosts.get(taskId);
}
