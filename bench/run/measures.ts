/** Figures read from histories and visibility: per-type history sizes, outcomes, detection delay, step timelines, retries. */
import type { analyze, Execution } from '../support/histories';
import { round, summarize, type Summary } from '../support/stats';
import type { Ctx } from './context';
import type { DetectionResult, StepTimeline } from './result';

export function historyByType(
  executions: Execution[],
): Record<string, { count: number; events: Summary; sizeBytes: Summary }> {
  const out: Record<string, { count: number; events: Summary; sizeBytes: Summary }> = {};
  const types = [...new Set(executions.map((e) => e.type))];
  for (const type of types) {
    const of = executions.filter((e) => e.type === type);
    out[type] = {
      count: of.length,
      events: summarize(of.map((e) => e.historyLength)),
      sizeBytes: summarize(of.map((e) => e.historySize)),
    };
  }
  return out;
}

export function statusCounts(executions: Iterable<Execution>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of executions) out[e.status] = (out[e.status] ?? 0) + 1;
  return out;
}

export async function failureReasons(
  ctx: Ctx,
  executions: Iterable<Execution>,
  limit = 5,
): Promise<string[]> {
  const failed = [...executions].filter((e) => e.status !== 'COMPLETED').slice(0, limit);
  return Promise.all(
    failed.map(async (e) => {
      try {
        await ctx.stack.client.workflow.getHandle(e.workflowId, e.runId).result();
        return `${e.workflowId}: ${e.status}`;
      } catch (err) {
        const cause = (err as { cause?: Error & { type?: string } }).cause;
        return `${e.workflowId}: ${e.status} ${cause?.type ?? ''} ${cause?.message ?? (err as Error).message}`.slice(
          0,
          300,
        );
      }
    }),
  );
}

/** Detection delay of each step: its task's end (sampled) → waitForTaskEnd's ActivityTaskCompleted. */
export function detection(ctx: Ctx, facts: Array<{ facts: ReturnType<typeof analyze> }>): DetectionResult {
  const upper: number[] = [];
  const lower: number[] = [];
  const fromWaiting: number[] = [];
  let unmatched = 0;
  for (const { facts: f } of facts) {
    const wait = f.activities.find((a) => a.type === 'waitForTaskEnd' && a.outcome === 'completed');
    if (!wait || wait.closedAt === undefined) continue;
    const taskId = (wait.result as { taskID?: string } | undefined)?.taskID;
    const task = taskId ? ctx.sampler.tasks.get(taskId) : undefined;
    if (!task || task.endedBy === undefined || task.endedAfter === undefined) {
      unmatched++;
      continue;
    }
    upper.push((wait.closedAt - task.endedAfter) / 1000);
    lower.push(Math.max(0, wait.closedAt - task.endedBy) / 1000);
    fromWaiting.push((wait.closedAt - Math.max(task.endedAfter, wait.scheduledAt)) / 1000);
  }
  return {
    tasks: upper.length,
    unmatched,
    upperBoundS: roundSummary(summarize(upper), 3),
    lowerBoundS: roundSummary(summarize(lower), 3),
    fromWaitingUpperS: roundSummary(summarize(fromWaiting), 3),
    sampleSpacingMs: roundSummary(summarize(ctx.sampler.sampleSpacings()), 0),
  };
}

export function roundSummary(s: Summary, digits = 2): Summary {
  return {
    count: s.count,
    min: round(s.min, digits),
    p50: round(s.p50, digits),
    p95: round(s.p95, digits),
    p99: round(s.p99, digits),
    max: round(s.max, digits),
    mean: round(s.mean, digits),
  };
}

/** Activities that needed more than one attempt, per activity type. */
export function retriesOf(
  all: Array<{ facts: ReturnType<typeof analyze> }>,
): Record<string, { retried: number; maxAttempt: number }> {
  const out: Record<string, { retried: number; maxAttempt: number }> = {};
  for (const { facts } of all) {
    for (const a of facts.activities) {
      if (a.attempt <= 1) continue;
      const entry = (out[a.type] ??= { retried: 0, maxAttempt: 1 });
      entry.retried++;
      entry.maxAttempt = Math.max(entry.maxAttempt, a.attempt);
    }
  }
  return out;
}

/**
 * Where each step's time went: every activity (scheduled → closed) and every gap between one
 * activity closing and the next being scheduled (workflow tasks, and for RemoveImage the signal
 * to the parent it awaits), then the last activity → the workflow closing.
 */
export function stepTimeline(all: Array<{ facts: ReturnType<typeof analyze> }>): StepTimeline {
  const segments = new Map<string, number[]>();
  const put = (key: string, ms: number): void => {
    segments.set(key, [...(segments.get(key) ?? []), ms / 1000]);
  };
  for (const { facts } of all) {
    const runs = facts.activities.filter((a) => a.outcome === 'completed');
    let previous: (typeof runs)[number] | undefined;
    for (const [i, run] of runs.entries()) {
      const name = `${i + 1}. ${run.type}`;
      if (previous?.closedAt !== undefined) put(`gap → ${name}`, run.scheduledAt - previous.closedAt);
      else put(`workflow start → ${name}`, run.scheduledAt - facts.startedAt);
      if (run.closedAt !== undefined) put(name, run.closedAt - run.scheduledAt);
      previous = run;
    }
    if (previous?.closedAt !== undefined && facts.closedAt !== undefined) {
      put('last activity → workflow closed', facts.closedAt - previous.closedAt);
    }
  }
  const out: StepTimeline = {};
  for (const [key, values] of segments) {
    const s = summarize(values);
    out[key] = { p50: round(s.p50, 3), p95: round(s.p95, 3) };
  }
  return out;
}
