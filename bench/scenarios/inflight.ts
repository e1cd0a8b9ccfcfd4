/**
 * Tasks in flight: Image.delete tasks made to last an hour, VMs submitted until 1, 100, 1,000
 * tasks exist on the SPMs, status polls and worker memory counted at each level; then the
 * commands are cancelled and drained.
 */
import { chunkVms } from '../support/fixtures';
import {
  countersOf,
  diffCounters,
  submitRemoveVms,
  totalCounts,
  TYPES,
  waitForClosed,
  withRetry,
  type Submission,
} from '../support/driver';
import { mapLimit, round, sleep } from '../support/stats';
import type { WorkerProcess } from '../support/worker-process';
import { assertWorkersAlive, mib, peakWorkerRss, pollResults, setDurations, type Ctx } from '../run/context';
import { statusCounts } from '../run/measures';
import type { InflightLevel, InflightResult } from '../run/result';

/** What one SPM holds at most: VDSM's irs.max_tasks (500 queued) + thread_pool_size (10) = 510. */
const TASKS_PER_POOL_CAP = 500;

/** Which VMs each in-flight level adds, per pool (pools filled up to TASKS_PER_POOL_CAP). */
export function planInflight(
  levels: number[],
  window: number,
): { pools: number; adds: Array<Array<{ pool: number; name: string; disks: number }>> } {
  const fill: number[] = [];
  const adds: Array<Array<{ pool: number; name: string; disks: number }>> = [];
  let previous = 0;
  for (const [levelIndex, level] of levels.entries()) {
    let need = level - previous;
    const add: Array<{ pool: number; name: string; disks: number }> = [];
    for (let pool = 0; need > 0; pool++) {
      const room = TASKS_PER_POOL_CAP - (fill[pool] ?? 0);
      if (room <= 0) continue;
      const take = Math.min(room, need);
      fill[pool] = (fill[pool] ?? 0) + take;
      need -= take;
      for (const vm of chunkVms(`fly-${levelIndex}-${pool}`, take, window)) add.push({ pool, ...vm });
    }
    adds.push(add);
    previous = level;
  }
  return { pools: Math.max(1, fill.length), adds };
}

export async function inflightPhase(
  ctx: Ctx,
  plan: ReturnType<typeof planInflight>,
): Promise<InflightResult> {
  const { options, stack } = ctx;
  // Longer than the whole phase: nothing ends until the commands are cancelled.
  setDurations(ctx, { kind: 'fixed', ms: 3_600_000 });
  // VDSM lets a stopped purge run to its end (the simulator does too): jobs made abortable, so the
  // drain after the cancel takes seconds, not the hour the tasks were given.
  for (const sim of stack.sims.values()) sim.setFaults({ abortableJobs: 'all' });
  const levels: InflightLevel[] = [];
  const submitted: Submission[] = [];
  const since = Date.now() - 200;
  const fixtureOfPool = (i: number) => stack.fixtures[i]!;
  const target = new Map<string, number>();
  for (const [index, adds] of plan.adds.entries()) {
    const level = options.inflight[index]!;
    const rampStart = Date.now();
    const vms = adds.map((a) => ctx.vms.get(a.name)!);
    for (const a of adds) {
      const poolId = fixtureOfPool(a.pool).pool.id;
      target.set(poolId, (target.get(poolId) ?? 0) + a.disks);
    }
    ctx.log(`in flight: going to ${level} tasks (${[...target.values()].join(' + ')} per pool)`);
    submitted.push(
      ...(await submitRemoveVms(
        stack.client,
        stack.taskQueue,
        vms.map((v) => v.id),
      )),
    );
    const deadline = Date.now() + 10 * 60_000;
    const liveByPool = (): Map<string, number> => {
      const live = new Map<string, number>();
      for (const t of ctx.sampler.tasks.values()) {
        if (t.verb === 'deleteImage' && t.goneBy === undefined && t.endedBy === undefined)
          live.set(t.poolId, (live.get(t.poolId) ?? 0) + 1);
      }
      return live;
    };
    for (;;) {
      const live = liveByPool();
      if ([...target].every(([poolId, n]) => (live.get(poolId) ?? 0) >= n)) break;
      assertWorkersAlive(ctx);
      if (Date.now() > deadline)
        throw new Error(`in flight: only ${JSON.stringify(Object.fromEntries(live))} tasks after 10 min`);
      await sleep(200);
    }
    // Every step is now waiting in the hub (it starts waiting right after its task is accepted).
    await sleep(2_000);
    const rampEnd = Date.now();
    const before = countersOf(stack.sims);
    const windowStart = Date.now();
    await sleep(options.inflightWindowMs);
    const windowEnd = Date.now();
    const after = countersOf(stack.sims);
    const live = liveByPool();
    const rssAtEnd = Math.max(0, ...stack.workers.map((w) => w.sampleNow()?.rssBytes ?? 0));
    const afterGc = options.workerBundle === 'prebuilt' ? await memoryAfterGc(stack.workers) : null;
    levels.push({
      tasksInFlight: [...live.values()].reduce((a, b) => a + b, 0),
      perPool: Object.fromEntries(stack.fixtures.map((f) => [f.pool.name, live.get(f.pool.id) ?? 0])),
      rampS: round((rampEnd - rampStart) / 1000, 1),
      window: pollResults(ctx, windowStart, windowEnd),
      ramp: pollResults(ctx, rampStart, rampEnd),
      vdsmCallsInWindow: totalCounts(diffCounters(before, after)),
      workerPeakRssMiB: mib(peakWorkerRss(ctx, windowStart, windowEnd)),
      workerRssAtEndMiB: mib(rssAtEnd),
      liveHeapAfterGcMiB: afterGc?.heapUsed ?? null,
      memoryAfterGcMiB: afterGc,
    });
  }
  ctx.log(
    `in flight: cancelling ${submitted.length} commands (their steps stop, roll back and clear their tasks)`,
  );
  const drainStart = Date.now();
  await mapLimit(submitted, 16, (s) =>
    withRetry(() => stack.client.workflow.getHandle(s.workflowId).cancel()),
  );
  const closed = await waitForClosed(stack.client, {
    taskQueue: stack.taskQueue,
    type: TYPES.parent,
    since,
    ids: new Set(submitted.map((s) => s.workflowId)),
    deadlineMs: 20 * 60_000,
    onWait: (running) => ctx.log(`  ... ${running} cancelled commands still cleaning up`),
  });
  setDurations(ctx, { kind: 'zero' });
  for (const sim of stack.sims.values()) sim.setFaults({ abortableJobs: null });
  return {
    levels,
    drain: {
      commands: submitted.length,
      elapsedS: round((Date.now() - drainStart) / 1000, 1),
      statuses: statusCounts(closed.values()),
    },
  };
}

/** Asks prebuilt-experiment workers for a full GC and their memory figures (first worker's), MiB. */
export async function memoryAfterGc(workers: WorkerProcess[]): Promise<Record<string, number> | null> {
  const asked = Date.now();
  for (const w of workers) if (w.pid !== undefined) process.kill(w.pid, 'SIGUSR2');
  await sleep(2_000);
  const report = workers[0]?.memoryReports.filter((m) => m.at >= asked).at(-1)?.report;
  if (!report) return null;
  return Object.fromEntries(
    Object.entries(report)
      .filter((e): e is [string, number] => typeof e[1] === 'number')
      .map(([k, v]) => [k, mib(v)]),
  );
}
