/**
 * What every phase shares: the running stack, the task sampler, the fixture's VMs, and the
 * measures taken from them (worker memory and CPU, status polls per interval).
 */
import type { Duration } from '../../src/vdsm-sim/faults';
import { cpuSeconds } from '../support/cpu';
import type { VmPlan } from '../support/fixtures';
import type { Stack } from '../support/stack';
import { round } from '../support/stats';
import type { TaskSampler } from '../support/task-sampler';
import type { WorkerProcess } from '../support/worker-process';
import type { BenchOptions } from './options';
import type { BenchResult, CpuUse, PollResult } from './result';

export const MiB = 1024 * 1024;

export interface Ctx {
  options: BenchOptions;
  stack: Stack;
  sampler: TaskSampler;
  vms: Map<string, VmPlan>;
  engine: BenchResult['engine'];
  log: (line: string) => void;
  baselineWorker?: WorkerProcess;
  baselineQueue: string;
  baselineEnv: Record<string, string>;
}

export const mib = (bytes: number): number => round(bytes / MiB, 1);

export function setDurations(ctx: Ctx, duration: Duration): void {
  // Every SPM verb the phases start: Image.delete (RemoveVm), Volume.create (AddDisk, CreateSnapshot).
  for (const sim of ctx.stack.sims.values())
    sim.setFaults({ durations: { 'Image.delete': duration, 'Volume.create': duration } });
}

export function assertWorkersAlive(ctx: Ctx): void {
  const dead = ctx.stack.workers.filter((w) => !w.running);
  if (dead.length) {
    throw new Error(
      `worker process(es) exited: ${dead.map((w) => `${w.options.name} ${JSON.stringify(w.exit)} (log ${w.options.logFile})`).join('; ')}`,
    );
  }
}

export function peakWorkerRss(ctx: Ctx, from: number, to: number): number {
  for (const w of ctx.stack.workers) w.sampleNow();
  return Math.max(0, ...ctx.stack.workerLives.map((w) => w.peakRss(from, to)));
}

export function pollResults(ctx: Ctx, from: number, to: number): PollResult[] {
  const windowS = (to - from) / 1000;
  return ctx.stack.fixtures.map((fixture) => {
    const { calls, gapsMs, times } = ctx.sampler.pollsBetween(fixture.pool.id, from, to);
    const intervals = (to - from) / ctx.engine.pollMinMs;
    const span = ctx.engine.pollMinMs - 100;
    let maxInAnyInterval = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while ((times[i] as number) - (times[j] as number) >= span) j++;
      maxInAnyInterval = Math.max(maxInAnyInterval, i - j + 1);
    }
    return {
      poolId: fixture.pool.id,
      poolName: fixture.pool.name,
      windowS: round(windowS, 1),
      calls,
      perMinIntervalPerWorker: round(calls / intervals / ctx.options.workers, 3),
      maxInAnyInterval,
      minGapMs: gapsMs.length ? Math.min(...gapsMs) : null,
      meanGapMs: gapsMs.length ? Math.round(gapsMs.reduce((a, b) => a + b, 0) / gapsMs.length) : null,
    };
  });
}

export interface CpuMark {
  at: number;
  ovirt: number | undefined;
  baseline: number | undefined;
  server: number | undefined;
  bench: number;
}

export function cpuMark(ctx: Ctx): CpuMark {
  const workers = ctx.stack.workers.map((w) => cpuSeconds(w.pid));
  const known = workers.filter((c): c is number => c !== undefined);
  const usage = process.cpuUsage();
  return {
    at: Date.now(),
    ovirt: known.length === workers.length ? known.reduce((a, b) => a + b, 0) : undefined,
    baseline: cpuSeconds(ctx.baselineWorker?.pid),
    server: cpuSeconds(ctx.stack.serverPid),
    bench: (usage.user + usage.system) / 1e6,
  };
}

export function cpuUse(before: CpuMark, after: CpuMark): CpuUse {
  const d = (a: number | undefined, b: number | undefined): number | null =>
    a === undefined || b === undefined ? null : round(b - a, 2);
  return {
    ovirtWorkers: d(before.ovirt, after.ovirt),
    baselineWorker: d(before.baseline, after.baseline),
    temporalServer: d(before.server, after.server),
    benchProcess: round(after.bench - before.bench, 2),
    wallS: round((after.at - before.at) / 1000, 2),
  };
}
