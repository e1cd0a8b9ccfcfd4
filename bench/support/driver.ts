/** Submitting commands, waiting for them through visibility, and simulator counter bookkeeping. */
import type { Client } from '@temporalio/client';
import { submitRemoveVm } from '../../src/client';
import { workflowIds, WorkflowType } from '../../src/shared/names';
import type { Simulator } from '../../src/vdsm-sim/simulator';
import { listExecutions, type Execution } from './histories';
import { mapLimit, sleep } from './stats';

export interface Submission {
  workflowId: string;
  vmId: string;
  submitAt: number;
}

/** RemoveVm for each VM (a few start RPCs at a time); records when each was submitted. */
export async function submitRemoveVms(
  client: Client,
  taskQueue: string,
  vmIds: readonly string[],
  concurrency = 16,
): Promise<Submission[]> {
  return mapLimit(vmIds, concurrency, async (vmId) => {
    const submitAt = Date.now();
    const { handle } = await withRetry(() => submitRemoveVm(client, { vmId }, { taskQueue }));
    return { workflowId: handle.workflowId, vmId, submitAt };
  });
}

/** Retries an RPC through transient errors (a restarting server), up to `attempts`. */
export async function withRetry<T>(call: () => Promise<T>, attempts = 30, delayMs = 1_000): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const text = String((err as Error).message ?? err);
      const transient = /UNAVAILABLE|DEADLINE_EXCEEDED|ECONNREFUSED|ECONNRESET|Failed to connect/i.test(text);
      if (!transient || attempt >= attempts) throw err;
      await sleep(delayMs);
    }
  }
}

export const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Waits until every id of `type` started since `since` is closed, as visibility shows it: first
 * until no such execution is running, then until each id is listed closed. Returns them by id.
 */
export async function waitForClosed(
  client: Client,
  options: {
    taskQueue: string;
    type: string;
    since: number;
    ids: ReadonlySet<string>;
    deadlineMs: number;
    onWait?: (running: number) => void;
  },
): Promise<Map<string, Execution>> {
  const filter = `WorkflowType = '${options.type}' AND StartTime >= '${iso(options.since)}'`;
  const deadline = Date.now() + options.deadlineMs;
  let lastReport = 0;
  for (;;) {
    let running = -1;
    try {
      running = (
        await client.workflow.count(
          `TaskQueue = '${options.taskQueue}' AND ${filter} AND ExecutionStatus = 'Running'`,
        )
      ).count;
    } catch {
      // Server restarting: ask again.
    }
    if (running === 0) {
      const executions = await listExecutions(client, options.taskQueue, filter);
      const byId = new Map<string, Execution>();
      for (const e of executions) {
        if (!options.ids.has(e.workflowId)) continue;
        const known = byId.get(e.workflowId);
        if (!known || e.startTime >= known.startTime) byId.set(e.workflowId, e);
      }
      const closed = [...options.ids].every((id) => {
        const e = byId.get(id);
        return e !== undefined && e.status !== 'RUNNING';
      });
      if (closed) return byId;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${options.type}: ${running} executions still running after ${Math.round(options.deadlineMs / 1000)} s`,
      );
    }
    if (options.onWait && Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      options.onWait(running);
    }
    await sleep(500);
  }
}

/** The RemoveImage children of a command, by their deterministic ids. */
export function childIds(parentWorkflowId: string, diskIds: readonly string[]): string[] {
  return diskIds.map((diskId) => workflowIds.removeImage(parentWorkflowId, diskId));
}

export const TYPES = { parent: WorkflowType.removeVm, child: WorkflowType.removeImage } as const;

export type VerbCounts = Record<string, Record<string, number>>;

/** Requests per verb per pool, summed over each pool's hosts. */
export function countersOf(sims: ReadonlyMap<string, Simulator>): VerbCounts {
  const out: VerbCounts = {};
  for (const [poolId, sim] of sims) out[poolId] = { ...(sim.counters().pools[poolId]?.verbs ?? {}) };
  return out;
}

export function diffCounters(before: VerbCounts, after: VerbCounts): VerbCounts {
  const out: VerbCounts = {};
  for (const [poolId, verbs] of Object.entries(after)) {
    const was = before[poolId] ?? {};
    const diff: Record<string, number> = {};
    for (const [verb, n] of Object.entries(verbs)) {
      const d = n - (was[verb] ?? 0);
      if (d !== 0) diff[verb] = d;
    }
    out[poolId] = diff;
  }
  return out;
}

/** Sum over pools. */
export function totalCounts(counts: VerbCounts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const verbs of Object.values(counts)) {
    for (const [verb, n] of Object.entries(verbs)) out[verb] = (out[verb] ?? 0) + n;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}
