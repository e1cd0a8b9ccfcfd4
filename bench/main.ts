/**
 * `npm run bench`: drives the real stack (its own Temporal dev server, in-process VDSM simulators,
 * `ovirt-tasks worker` child processes, a SQLite inventory) and a same-shape baseline of no-op
 * Temporal workflows on the same server, then prints a Markdown report and writes
 * bench/results/<timestamp>.json. `--help` lists the knobs; docs/benchmarks.md explains the
 * measures.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { Command, Option } from 'commander';
import { projectRoot } from '../src/dev/project-root';
import { resolveTemporalBinary } from '../src/dev/temporal-binary';
import { scheduleIds } from '../src/shared/names';
import type { Duration } from '../src/vdsm-sim/faults';
import { BASELINE_READY_LINE } from './baseline/worker';
import type { BaselineParentInput } from './baseline/workflows';
import {
  childIds,
  countersOf,
  diffCounters,
  submitRemoveVms,
  totalCounts,
  TYPES,
  waitForClosed,
  withRetry,
  type Submission,
} from './support/driver';
import { buildFixtures, chunkVms, vmsByName, type PoolPlan, type VmPlan } from './support/fixtures';
import { analyze, fetchEvents, fetchMany, listExecutions, type Execution } from './support/histories';
import { cpuSeconds } from './support/cpu';
import { machineInfo, type MachineInfo } from './support/machine';
import { renderReport } from './support/report';
import { Stack, type StackOptions } from './support/stack';
import { mapLimit, round, sleep, summarize, type Summary } from './support/stats';
import { spmTaskDir, TaskSampler } from './support/task-sampler';
import { OVIRT_WORKER_READY_LINE, workerEnvironment, WorkerProcess } from './support/worker-process';

/** What one SPM holds at most: VDSM's irs.max_tasks (500 queued) + thread_pool_size (10) = 510. */
const TASKS_PER_POOL_CAP = 500;
const MiB = 1024 * 1024;

export interface BenchOptions {
  commands: number;
  images: number;
  workers: number;
  durations: Array<'zero' | 'realistic'>;
  realisticCommands: number;
  realisticMinMs: number;
  realisticMaxMs: number;
  baseline: boolean;
  history: boolean;
  historyShortMs: number;
  historyLongMs: number;
  inflight: number[];
  inflightWindowMs: number;
  warmup: number;
  scale: boolean;
  scaleVmImages: number;
  scaleBatchVms: number;
  scaleBatchImages: number;
  window: number;
  sampleMs: number;
  /** Extra environment of the ovirt-tasks worker children (tuning experiments: MALLOC_ARENA_MAX=2, ...). */
  workerEnv: Record<string, string>;
  /**
   * inprocess: `node bin/ovirt-tasks worker`, the product (it loads lib/workflow-bundle.js, which
   * `npm run build` writes); prebuilt: experiment worker, same bundle, plus memory after a full GC.
   */
  workerBundle: 'inprocess' | 'prebuilt';
  seed: number;
  keep: boolean;
  out: string | undefined;
}

function parseOptions(argv: string[]): BenchOptions {
  const int = (v: string): number => {
    const n = Number.parseInt(v, 10);
    if (!Number.isInteger(n) || n < 0) throw new Error(`not a non-negative integer: ${v}`);
    return n;
  };
  const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
  const program = new Command('bench')
    .description('ovirt-tasks benchmark (see docs/benchmarks.md)')
    .option(
      '--commands <n>',
      'RemoveVm commands of the zero-duration throughput run',
      int,
      int(env('BENCH_COMMANDS', '200')),
    )
    .option('--images <n>', 'images per VM in the throughput runs', int, int(env('BENCH_IMAGES', '4')))
    .option('--workers <n>', 'ovirt-tasks worker processes', int, int(env('BENCH_WORKERS', '1')))
    .option(
      '--durations <list>',
      'zero,realistic (comma separated)',
      env('BENCH_DURATIONS', 'zero,realistic'),
    )
    .option('--realistic-commands <n>', 'RemoveVm commands of the realistic-duration run', int, 20)
    .option('--realistic-min-ms <ms>', 'shortest realistic Image.delete task', int, 2_000)
    .option('--realistic-max-ms <ms>', 'longest realistic Image.delete task', int, 8_000)
    .option('--no-baseline', 'skip the same-shape Temporal baseline')
    .option('--no-history', 'skip the 1 s / 60 s history-length comparison')
    .option('--history-short-ms <ms>', 'the short task of the history comparison', int, 1_000)
    .option('--history-long-ms <ms>', 'the long task of the history comparison', int, 60_000)
    .option('--inflight <list>', 'tasks kept in flight while counting status polls ("" = skip)', '1,100,1000')
    .option('--inflight-window-ms <ms>', 'counting window per in-flight level', int, 25_000)
    .option('--warmup <n>', 'warm-up commands (not measured)', int, 5)
    .option('--scale', 'also run the scale runs (1,000-image VM, 10,000-image batch): long', false)
    .option('--scale-vm-images <n>', 'images of the one big VM', int, 1_000)
    .option('--scale-batch-vms <n>', 'VMs of the batch', int, 2_500)
    .option('--scale-batch-images <n>', 'images per VM of the batch', int, 4)
    .option('--sample-ms <ms>', 'simulator task sampling period', int, 50)
    .addOption(
      new Option(
        '--worker-bundle <how>',
        'inprocess: the product `ovirt-tasks worker` (loads the bundle `npm run build` wrote); prebuilt: experiment worker, same bundle, also reports memory after a full GC',
      )
        .choices(['inprocess', 'prebuilt'])
        .default('inprocess'),
    )
    .option('--seed <n>', 'seed of the simulator dice', int, 42)
    .option(
      '--worker-env <KEY=VALUE>',
      'extra environment of the worker children (repeatable), e.g. OVIRT_TASKS_MAX_CACHED_WORKFLOWS=100 or MALLOC_ARENA_MAX=8 (default 2, as in the Docker image)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--keep', 'keep the temp dir (logs, databases)', false)
    .option('--out <file>', 'JSON result file (default bench/results/<timestamp>.json)')
    .addOption(new Option('--quick', 'tiny smoke run of every phase (minutes)').default(false));
  program.parse(argv);
  const o = program.opts<Record<string, unknown>>();
  const options: BenchOptions = {
    commands: o.commands as number,
    images: o.images as number,
    workers: Math.max(1, o.workers as number),
    durations: String(o.durations)
      .split(',')
      .map((s) => s.trim())
      .filter((s): s is 'zero' | 'realistic' => s === 'zero' || s === 'realistic'),
    realisticCommands: o.realisticCommands as number,
    realisticMinMs: o.realisticMinMs as number,
    realisticMaxMs: o.realisticMaxMs as number,
    baseline: o.baseline as boolean,
    history: o.history as boolean,
    historyShortMs: o.historyShortMs as number,
    historyLongMs: o.historyLongMs as number,
    inflight: String(o.inflight)
      .split(',')
      .filter((s) => s.trim() !== '')
      .map((s) => int(s.trim()))
      .filter((n) => n > 0)
      .sort((a, b) => a - b),
    inflightWindowMs: o.inflightWindowMs as number,
    warmup: o.warmup as number,
    scale: o.scale as boolean,
    scaleVmImages: o.scaleVmImages as number,
    scaleBatchVms: o.scaleBatchVms as number,
    scaleBatchImages: o.scaleBatchImages as number,
    window: Number(process.env.MAX_CONCURRENT_IMAGES ?? 200),
    sampleMs: o.sampleMs as number,
    workerBundle: o.workerBundle as 'inprocess' | 'prebuilt',
    workerEnv: Object.fromEntries(
      (o.workerEnv as string[]).map((kv) => {
        const at = kv.indexOf('=');
        if (at <= 0) throw new Error(`--worker-env wants KEY=VALUE, got ${kv}`);
        return [kv.slice(0, at), kv.slice(at + 1)];
      }),
    ),
    seed: o.seed as number,
    keep: o.keep as boolean,
    out: o.out as string | undefined,
  };
  if (o.quick) {
    // Small defaults for whatever was not given on the command line.
    const quick: Partial<BenchOptions> = {
      commands: 10,
      images: 2,
      realisticCommands: 4,
      realisticMinMs: 500,
      realisticMaxMs: 2_000,
      historyLongMs: 5_000,
      inflight: [1, 20],
      inflightWindowMs: 5_000,
      warmup: 2,
      scaleVmImages: 50,
      scaleBatchVms: 20,
    };
    for (const [key, value] of Object.entries(quick)) {
      if (program.getOptionValueSource(key) !== 'cli') Object.assign(options, { [key]: value });
    }
  }
  return options;
}

// ---------------------------------------------------------------- results

export interface CommandPhaseResult {
  label: string;
  durations: string;
  commands: number;
  images: number;
  elapsedS: number;
  commandsPerS: number;
  imagesPerS: number;
  /** Submit (client, before the start RPC) → close (server's close time), seconds. */
  latencyS: Summary;
  statuses: Record<string, number>;
  failures: string[];
  detection: DetectionResult | undefined;
  history: Record<string, { count: number; events: Summary; sizeBytes: Summary }>;
  activitiesPerChild: Record<string, number>;
  vdsmCalls: Record<string, number>;
  statusPolls: PollResult[];
  workerPeakRssMiB: number;
  stepTimeline: StepTimeline;
  /** Activities that needed more than one attempt (retries leave no events but the attempt number). */
  retries: Record<string, { retried: number; maxAttempt: number }>;
  cpu: CpuUse;
}

export interface DetectionResult {
  /** Steps whose task was matched to the simulator's samples. */
  tasks: number;
  unmatched: number;
  /** Task ended (bracketed by samples) → ActivityTaskCompleted of waitForTaskEnd, seconds. */
  upperBoundS: Summary;
  lowerBoundS: Summary;
  /**
   * Same, but counted from when the step began waiting (waitForTaskEnd scheduled) if the task had
   * ended before: the hub's share alone, without the step's own start path.
   */
  fromWaitingUpperS: Summary;
  sampleSpacingMs: Summary;
}

/** Where a step's time goes (from its history), seconds p50 / p95. */
export type StepTimeline = Record<string, { p50: number; p95: number }>;

export interface CpuUse {
  /** CPU seconds used during the run by: */
  ovirtWorkers: number | null;
  baselineWorker: number | null;
  temporalServer: number | null;
  benchProcess: number;
  /** Wall-clock seconds of the run. */
  wallS: number;
}

export interface PollResult {
  poolId: string;
  poolName: string;
  windowS: number;
  calls: number;
  /** calls ÷ (window ÷ POLL_MIN_INTERVAL_MS) ÷ workers: must be ≤ 1. */
  perMinIntervalPerWorker: number;
  /**
   * Most calls of the pool inside any one poll interval (sliding; the interval less 100 ms, two
   * sampling periods, since call times are known to ±50 ms). The target: ≤ 1 per worker.
   */
  maxInAnyInterval: number;
  minGapMs: number | null;
  meanGapMs: number | null;
}

export interface BaselineResult {
  commands: number;
  childrenPerCommand: number;
  shape: BaselineParentInput;
  elapsedS: number;
  commandsPerS: number;
  childrenPerS: number;
  latencyS: Summary;
  history: Record<string, { count: number; events: Summary; sizeBytes: Summary }>;
  workerPeakRssMiB: number;
  stepTimeline: StepTimeline;
  cpu: CpuUse;
  /** Event types of one baseline parent and one of its children. */
  parentEventTypes: Record<string, number>;
  childEventTypes: Record<string, number>;
}

export interface HistoryCompareResult {
  shortTaskMs: number;
  longTaskMs: number;
  short: { events: number; sizeBytes: number; detectionUpperS: number | null; activities: string[] };
  long: { events: number; sizeBytes: number; detectionUpperS: number | null; activities: string[] };
  equalLength: boolean;
}

export interface InflightLevel {
  tasksInFlight: number;
  perPool: Record<string, number>;
  rampS: number;
  window: PollResult[];
  ramp: PollResult[];
  vdsmCallsInWindow: Record<string, number>;
  workerPeakRssMiB: number;
  workerRssAtEndMiB: number;
  /** Prebuilt-bundle experiment only: V8 heap still used after a full GC at the window's end. */
  liveHeapAfterGcMiB: number | null;
  /** Prebuilt-bundle experiment only: process.memoryUsage() right after that GC, MiB. */
  memoryAfterGcMiB: Record<string, number> | null;
}

export interface InflightResult {
  levels: InflightLevel[];
  drain: { commands: number; elapsedS: number; statuses: Record<string, number> };
}

export interface ScaleResult {
  bigVm?: {
    images: number;
    elapsedS: number;
    status: string;
    parentEvents: number;
    parentSizeBytes: number;
    maxPendingChildren: number;
    maxPendingActivities: number;
    signalsReceived: number;
    childEvents: Summary;
    workerPeakRssMiB: number;
    /** From a sample of the steps' histories. */
    stepRetries: Record<string, { retried: number; maxAttempt: number }>;
    stepTimeline: StepTimeline;
  };
  batch?: {
    vms: number;
    imagesPerVm: number;
    images: number;
    elapsedS: number;
    commandsPerS: number;
    imagesPerS: number;
    latencyS: Summary;
    statuses: Record<string, number>;
    failures: string[];
    largestHistory: { workflowId: string; type: string; events: number; sizeBytes: number };
    maxPendingChildren: number;
    workerPeakRssMiB: number;
    vdsmCalls: Record<string, number>;
    /** From a sample of the steps' histories. */
    stepRetries: Record<string, { retried: number; maxAttempt: number }>;
    stepTimeline: StepTimeline;
  };
  serverWarnings: string[];
}

export interface TargetResult {
  target: string;
  measured: string;
  met: boolean | null;
  note?: string;
}

export interface BenchResult {
  startedAt: string;
  finishedAt: string;
  elapsedS: number;
  machine: MachineInfo;
  options: BenchOptions;
  engine: {
    pollMinMs: number;
    pollMaxMs: number;
    pollBackoff: number;
    pollFastPhaseMs: number;
    window: number;
  };
  shape: {
    parentActivitiesBefore: number;
    parentActivitiesAfter: number;
    childActivities: number;
    childLocalActivities: number;
    childActivityTypes: string[];
    /** Event types of one warm-up RemoveVm (with `images` images) and one of its RemoveImage steps. */
    parentEventTypes?: Record<string, number>;
    childEventTypes?: Record<string, number>;
  };
  phases: {
    zero?: CommandPhaseResult;
    realistic?: CommandPhaseResult;
    baseline?: BaselineResult;
    history?: HistoryCompareResult;
    inflight?: InflightResult;
    scale?: ScaleResult;
  };
  workers: Array<{ name: string; peakHwmMiB: number; readyAfterS: number | null; exit: string | null }>;
  targets: TargetResult[];
}

// ---------------------------------------------------------------- context

interface Ctx {
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

const mib = (bytes: number): number => round(bytes / MiB, 1);

function setDurations(ctx: Ctx, duration: Duration): void {
  for (const sim of ctx.stack.sims.values()) sim.setFaults({ durations: { 'Image.delete': duration } });
}

function assertWorkersAlive(ctx: Ctx): void {
  const dead = ctx.stack.workers.filter((w) => !w.running);
  if (dead.length) {
    throw new Error(
      `worker process(es) exited: ${dead.map((w) => `${w.options.name} ${JSON.stringify(w.exit)} (log ${w.options.logFile})`).join('; ')}`,
    );
  }
}

function peakWorkerRss(ctx: Ctx, from: number, to: number): number {
  for (const w of ctx.stack.workers) w.sampleNow();
  return Math.max(0, ...ctx.stack.workerLives.map((w) => w.peakRss(from, to)));
}

function pollResults(ctx: Ctx, from: number, to: number): PollResult[] {
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

function historyByType(
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

function statusCounts(executions: Iterable<Execution>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of executions) out[e.status] = (out[e.status] ?? 0) + 1;
  return out;
}

async function failureReasons(ctx: Ctx, executions: Iterable<Execution>, limit = 5): Promise<string[]> {
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
function detection(ctx: Ctx, facts: Array<{ facts: ReturnType<typeof analyze> }>): DetectionResult {
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

function roundSummary(s: Summary, digits = 2): Summary {
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

/**
 * Where each step's time went: every activity (scheduled → closed) and every gap between one
 * activity closing and the next being scheduled (workflow tasks, and for RemoveImage the signal
 * to the parent it awaits), then the last activity → the workflow closing.
 */
function retriesOf(
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

function stepTimeline(all: Array<{ facts: ReturnType<typeof analyze> }>): StepTimeline {
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

interface CpuMark {
  at: number;
  ovirt: number | undefined;
  baseline: number | undefined;
  server: number | undefined;
  bench: number;
}

function cpuMark(ctx: Ctx): CpuMark {
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

function cpuUse(before: CpuMark, after: CpuMark): CpuUse {
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

// ---------------------------------------------------------------- phases

interface CommandRun {
  submissions: Submission[];
  parents: Map<string, Execution>;
  children: Execution[];
  startAt: number;
  endAt: number;
  counters: Record<string, number>;
  countersPerPool: ReturnType<typeof diffCounters>;
}

async function runCommands(ctx: Ctx, vms: VmPlan[], deadlineMs: number): Promise<CommandRun> {
  const { client } = ctx.stack;
  const since = Date.now() - 200;
  const before = countersOf(ctx.stack.sims);
  const submissions = await submitRemoveVms(
    client,
    ctx.stack.taskQueue,
    vms.map((v) => v.id),
  );
  const parents = await waitForClosed(client, {
    taskQueue: ctx.stack.taskQueue,
    type: TYPES.parent,
    since,
    ids: new Set(submissions.map((s) => s.workflowId)),
    deadlineMs,
    onWait: (running) => {
      assertWorkersAlive(ctx);
      ctx.log(`  ... ${running} commands still running`);
    },
  });
  const endAt = Date.now();
  const countersPerPool = diffCounters(before, countersOf(ctx.stack.sims));
  const wanted = new Set(
    submissions.flatMap((s) => childIds(s.workflowId, vms.find((v) => v.id === s.vmId)?.diskIds ?? [])),
  );
  const childMap = await waitForClosed(client, {
    taskQueue: ctx.stack.taskQueue,
    type: TYPES.child,
    since,
    ids: wanted,
    deadlineMs: 60_000,
  });
  return {
    submissions,
    parents,
    children: [...childMap.values()],
    startAt: Math.min(...submissions.map((s) => s.submitAt)),
    endAt,
    counters: totalCounts(countersPerPool),
    countersPerPool,
  };
}

async function commandPhase(
  ctx: Ctx,
  label: string,
  vms: VmPlan[],
  duration: Duration,
  durationLabel: string,
): Promise<CommandPhaseResult> {
  setDurations(ctx, duration);
  ctx.log(
    `${label}: ${vms.length} RemoveVm, ${vms.reduce((n, v) => n + v.diskIds.length, 0)} images, ${durationLabel}`,
  );
  const cpuBefore = cpuMark(ctx);
  const run = await runCommands(ctx, vms, 30 * 60_000);
  const cpuAfter = cpuMark(ctx);
  const lastClose = Math.max(...[...run.parents.values()].map((e) => e.closeTime ?? run.endAt));
  const elapsedS = (lastClose - run.startAt) / 1000;
  const latency = run.submissions.map(
    (s) => ((run.parents.get(s.workflowId)?.closeTime ?? run.endAt) - s.submitAt) / 1000,
  );
  const images = run.children.length;
  ctx.log(`  closed in ${round(elapsedS, 1)} s; reading ${images} step histories`);
  const childFacts = await fetchMany(ctx.stack.client, run.children, 8);
  const activitiesPerChild: Record<string, number> = {};
  for (const { facts } of childFacts) {
    const key = String(facts.activities.length);
    activitiesPerChild[key] = (activitiesPerChild[key] ?? 0) + 1;
  }
  return {
    label,
    durations: durationLabel,
    commands: run.submissions.length,
    images,
    elapsedS: round(elapsedS, 2),
    commandsPerS: round(run.submissions.length / elapsedS, 2),
    imagesPerS: round(images / elapsedS, 2),
    latencyS: roundSummary(summarize(latency)),
    statuses: statusCounts(run.parents.values()),
    failures: await failureReasons(ctx, run.parents.values()),
    detection: detection(ctx, childFacts),
    history: historyByType([...run.parents.values(), ...run.children]),
    activitiesPerChild,
    vdsmCalls: run.counters,
    statusPolls: pollResults(ctx, run.startAt, run.endAt),
    workerPeakRssMiB: mib(peakWorkerRss(ctx, run.startAt, run.endAt)),
    stepTimeline: stepTimeline(childFacts),
    retries: retriesOf(childFacts),
    cpu: cpuUse(cpuBefore, cpuAfter),
  };
}

/** Warm-up commands; their histories give the shape the baseline copies. */
async function warmup(ctx: Ctx, vms: VmPlan[]): Promise<BenchResult['shape']> {
  setDurations(ctx, { kind: 'zero' });
  ctx.log(`warm-up: ${vms.length} RemoveVm`);
  const run = await runCommands(ctx, vms, 10 * 60_000);
  const parent = [...run.parents.values()].find((e) => e.status === 'COMPLETED');
  if (!parent)
    throw new Error(`no warm-up command succeeded: ${JSON.stringify(statusCounts(run.parents.values()))}`);
  const parentFacts = analyze(await fetchEvents(ctx.stack.client, parent.workflowId, parent.runId));
  const child = run.children.find((c) => c.workflowId.startsWith(`${parent.workflowId}/`));
  if (!child) throw new Error('no child of the warm-up command found');
  const childFacts = analyze(await fetchEvents(ctx.stack.client, child.workflowId, child.runId));
  return {
    parentActivitiesBefore: parentFacts.activitiesBeforeChildren,
    parentActivitiesAfter: parentFacts.activities.length - parentFacts.activitiesBeforeChildren,
    childActivities: childFacts.activities.length,
    childLocalActivities: childFacts.localActivities,
    childActivityTypes: childFacts.activities.map((a) => a.type),
    parentEventTypes: parentFacts.eventTypes,
    childEventTypes: childFacts.eventTypes,
  };
}

async function startBaselineWorker(ctx: Ctx): Promise<WorkerProcess> {
  const script = join(__dirname, 'baseline', 'worker.js');
  return WorkerProcess.start({
    name: 'baseline-worker',
    args: [script],
    env: workerEnvironment({
      TEMPORAL_ADDRESS: ctx.stack.address,
      TEMPORAL_NAMESPACE: 'default',
      BASELINE_TASK_QUEUE: ctx.baselineQueue,
      ...ctx.baselineEnv,
    }),
    logFile: join(ctx.stack.dir, 'baseline-worker.log'),
    readyLine: BASELINE_READY_LINE,
  });
}

async function baselineRun(ctx: Ctx, label: string, commands: number, shape: BaselineParentInput) {
  const { client } = ctx.stack;
  const since = Date.now() - 200;
  const submissions = await mapLimit(
    Array.from({ length: commands }, (_, i) => i),
    16,
    async (i) => {
      const workflowId = `baseline/${label}/${i}`;
      const submitAt = Date.now();
      await withRetry(() =>
        client.workflow.start('baselineParent', { taskQueue: ctx.baselineQueue, workflowId, args: [shape] }),
      );
      return { workflowId, submitAt };
    },
  );
  const parents = await waitForClosed(client, {
    taskQueue: ctx.baselineQueue,
    type: 'baselineParent',
    since,
    ids: new Set(submissions.map((s) => s.workflowId)),
    deadlineMs: 30 * 60_000,
  });
  return { submissions, parents, since };
}

async function baselinePhase(ctx: Ctx, shape: BaselineParentInput): Promise<BaselineResult> {
  const worker = ctx.baselineWorker!;
  ctx.log(
    `baseline: warm-up ${ctx.options.warmup}, then ${ctx.options.commands} parents × ${shape.children} children`,
  );
  if (ctx.options.warmup > 0) await baselineRun(ctx, 'warmup', ctx.options.warmup, shape);
  const cpuBefore = cpuMark(ctx);
  const { submissions, parents, since } = await baselineRun(ctx, 'measured', ctx.options.commands, shape);
  const cpuAfter = cpuMark(ctx);
  const startAt = Math.min(...submissions.map((s) => s.submitAt));
  const lastClose = Math.max(...[...parents.values()].map((e) => e.closeTime ?? Date.now()));
  const elapsedS = (lastClose - startAt) / 1000;
  const children = await listExecutions(
    ctx.stack.client,
    ctx.baselineQueue,
    `WorkflowType = 'baselineChild' AND StartTime >= '${new Date(since).toISOString()}'`,
  );
  worker.sampleNow();
  // The same breakdown as the steps', from a sample of the children.
  const sample = children.filter((_, i) => i % Math.max(1, Math.floor(children.length / 200)) === 0);
  const childFacts = await fetchMany(ctx.stack.client, sample, 8);
  return {
    commands: submissions.length,
    childrenPerCommand: shape.children,
    shape,
    elapsedS: round(elapsedS, 2),
    commandsPerS: round(submissions.length / elapsedS, 2),
    childrenPerS: round((submissions.length * shape.children) / elapsedS, 2),
    latencyS: roundSummary(
      summarize(
        submissions.map((s) => ((parents.get(s.workflowId)?.closeTime ?? lastClose) - s.submitAt) / 1000),
      ),
    ),
    history: historyByType([...parents.values(), ...children]),
    workerPeakRssMiB: mib(worker.peakRss(startAt, lastClose)),
    stepTimeline: stepTimeline(childFacts),
    cpu: cpuUse(cpuBefore, cpuAfter),
    parentEventTypes: analyze(await fetchEvents(ctx.stack.client, submissions[0]!.workflowId)).eventTypes,
    childEventTypes: childFacts[0]?.facts.eventTypes ?? {},
  };
}

/** Starts the long then the short single-image commands; they run while the baseline does. */
async function startHistoryRuns(ctx: Ctx): Promise<{ long: Submission; short: Submission; since: number }> {
  const since = Date.now() - 200;
  const startOne = async (name: string, ms: number): Promise<Submission> => {
    const vm = ctx.vms.get(name)!;
    setDurations(ctx, { kind: 'fixed', ms });
    const [submission] = await submitRemoveVms(ctx.stack.client, ctx.stack.taskQueue, [vm.id]);
    const diskId = vm.diskIds[0]!;
    // The task's duration is drawn when VDSM accepts it: wait for it before changing durations.
    const deadline = Date.now() + 60_000;
    while (![...ctx.sampler.tasks.values()].some((t) => t.imageId === diskId)) {
      if (Date.now() > deadline) throw new Error(`the Image.delete task of ${name} never appeared`);
      await sleep(50);
    }
    return submission!;
  };
  const long = await startOne('hist-long', ctx.options.historyLongMs);
  const short = await startOne('hist-short', ctx.options.historyShortMs);
  setDurations(ctx, { kind: 'zero' });
  return { long, short, since };
}

async function finishHistoryRuns(
  ctx: Ctx,
  started: { long: Submission; short: Submission; since: number },
): Promise<HistoryCompareResult> {
  const { client } = ctx.stack;
  await waitForClosed(client, {
    taskQueue: ctx.stack.taskQueue,
    type: TYPES.parent,
    since: started.since,
    ids: new Set([started.long.workflowId, started.short.workflowId]),
    deadlineMs: ctx.options.historyLongMs + 5 * 60_000,
  });
  const one = async (submission: Submission, name: string) => {
    const vm = ctx.vms.get(name)!;
    const [childId] = childIds(submission.workflowId, vm.diskIds);
    const description = await client.workflow.getHandle(childId!).describe();
    const facts = analyze(await fetchEvents(client, childId!));
    const d = detection(ctx, [{ facts }]);
    return {
      events: description.historyLength,
      sizeBytes: description.historySize ?? 0,
      detectionUpperS: d.tasks ? d.upperBoundS.max : null,
      activities: facts.activities.map((a) => a.type),
    };
  };
  const short = await one(started.short, 'hist-short');
  const long = await one(started.long, 'hist-long');
  return {
    shortTaskMs: ctx.options.historyShortMs,
    longTaskMs: ctx.options.historyLongMs,
    short,
    long,
    equalLength: short.events === long.events,
  };
}

/** Which VMs each in-flight level adds, per pool (pools filled up to TASKS_PER_POOL_CAP). */
function planInflight(
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

async function inflightPhase(ctx: Ctx, plan: ReturnType<typeof planInflight>): Promise<InflightResult> {
  const { options, stack } = ctx;
  // Longer than the whole phase: nothing ends until the commands are cancelled.
  setDurations(ctx, { kind: 'fixed', ms: 3_600_000 });
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
async function memoryAfterGc(workers: WorkerProcess[]): Promise<Record<string, number> | null> {
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

function serverWarnings(ctx: Ctx): string[] {
  try {
    const text = readFileSync(join(ctx.stack.dir, 'temporal.log'), 'utf8');
    const lines = text.split('\n').filter((l) => /exceeds (the )?(warn|warning|error) limit/i.test(l));
    return lines.slice(0, 20).map((l) => l.slice(0, 400));
  } catch {
    return [];
  }
}

/** Retries and timeline of at most 300 evenly picked steps. */
async function sampledSteps(ctx: Ctx, children: Execution[]) {
  const every = Math.max(1, Math.floor(children.length / 300));
  const facts = await fetchMany(
    ctx.stack.client,
    children.filter((_, i) => i % every === 0),
    8,
  );
  return { stepRetries: retriesOf(facts), stepTimeline: stepTimeline(facts) };
}

async function scalePhase(ctx: Ctx, bigVm: VmPlan, batch: VmPlan[]): Promise<ScaleResult> {
  const { stack } = ctx;
  setDurations(ctx, { kind: 'zero' });
  const result: ScaleResult = { serverWarnings: [] };

  ctx.log(`scale: one VM with ${bigVm.diskIds.length} images`);
  const big = await runCommands(ctx, [bigVm], 60 * 60_000);
  const parent = [...big.parents.values()][0]!;
  const parentFacts = analyze(await fetchEvents(stack.client, parent.workflowId, parent.runId));
  result.bigVm = {
    images: bigVm.diskIds.length,
    elapsedS: round(((parent.closeTime ?? big.endAt) - big.startAt) / 1000, 1),
    status: parent.status,
    parentEvents: parent.historyLength,
    parentSizeBytes: parent.historySize,
    maxPendingChildren: parentFacts.maxPendingChildren,
    maxPendingActivities: parentFacts.maxPendingActivities,
    signalsReceived: parentFacts.signalsReceived,
    childEvents: summarize(big.children.map((c) => c.historyLength)),
    workerPeakRssMiB: mib(peakWorkerRss(ctx, big.startAt, big.endAt)),
    ...(await sampledSteps(ctx, big.children)),
  };
  ctx.log(
    `  done in ${result.bigVm.elapsedS} s: parent ${parent.historyLength} events, ${parent.historySize} bytes`,
  );

  const images = batch.reduce((n, v) => n + v.diskIds.length, 0);
  ctx.log(`scale: batch of ${batch.length} RemoveVm, ${images} images`);
  const run = await runCommands(ctx, batch, 3 * 60 * 60_000);
  const all = [...run.parents.values(), ...run.children];
  const largest = all.reduce((a, b) => (b.historyLength > a.historyLength ? b : a));
  const largestParent = [...run.parents.values()].reduce((a, b) =>
    b.historyLength > a.historyLength ? b : a,
  );
  const largestParentFacts = analyze(
    await fetchEvents(stack.client, largestParent.workflowId, largestParent.runId),
  );
  const lastClose = Math.max(...[...run.parents.values()].map((e) => e.closeTime ?? run.endAt));
  const elapsedS = (lastClose - run.startAt) / 1000;
  result.batch = {
    vms: batch.length,
    imagesPerVm: batch[0]?.diskIds.length ?? 0,
    images,
    elapsedS: round(elapsedS, 1),
    commandsPerS: round(batch.length / elapsedS, 2),
    imagesPerS: round(images / elapsedS, 2),
    latencyS: roundSummary(
      summarize(
        run.submissions.map(
          (s) => ((run.parents.get(s.workflowId)?.closeTime ?? run.endAt) - s.submitAt) / 1000,
        ),
      ),
    ),
    statuses: statusCounts(run.parents.values()),
    failures: await failureReasons(ctx, run.parents.values()),
    largestHistory: {
      workflowId: largest.workflowId,
      type: largest.type,
      events: largest.historyLength,
      sizeBytes: largest.historySize,
    },
    maxPendingChildren: largestParentFacts.maxPendingChildren,
    workerPeakRssMiB: mib(peakWorkerRss(ctx, run.startAt, run.endAt)),
    vdsmCalls: run.counters,
    ...(await sampledSteps(ctx, run.children)),
  };
  result.serverWarnings = serverWarnings(ctx);
  return result;
}

// ---------------------------------------------------------------- targets

function evaluateTargets(result: BenchResult): TargetResult[] {
  const targets: TargetResult[] = [];
  const { phases, engine } = result;
  const pollSets: Array<{ what: string; polls: PollResult[] }> = [];
  for (const p of [phases.zero, phases.realistic])
    if (p) pollSets.push({ what: p.label, polls: p.statusPolls });
  for (const l of phases.inflight?.levels ?? []) {
    pollSets.push({ what: `${l.tasksInFlight} in flight (window)`, polls: l.window });
    pollSets.push({ what: `${l.tasksInFlight} in flight (ramp)`, polls: l.ramp });
  }
  if (pollSets.length) {
    const worstInterval = Math.max(...pollSets.flatMap((s) => s.polls.map((p) => p.maxInAnyInterval)));
    const worstRate = Math.max(...pollSets.flatMap((s) => s.polls.map((p) => p.perMinIntervalPerWorker)));
    const gaps = pollSets
      .flatMap((s) => s.polls.map((p) => p.minGapMs))
      .filter((g): g is number => g !== null);
    const minGap = gaps.length ? Math.min(...gaps) : null;
    const workers = result.options.workers;
    targets.push({
      target:
        '≤ 1 Host.getAllTasksStatuses per pool per poll interval per worker, at any number of tasks in flight',
      measured: `at most ${worstInterval} call(s) of a pool within any ${engine.pollMinMs} ms (${workers} worker${workers > 1 ? 's' : ''}); smallest gap ${minGap ?? 'n/a'} ms; highest average ${worstRate} per interval per worker; ${pollSets.length} windows up to ${Math.max(0, ...(phases.inflight?.levels ?? []).map((l) => l.tasksInFlight))} tasks in flight`,
      met: worstInterval <= workers,
    });
  }
  const short = [phases.zero?.detection, phases.realistic?.detection].filter(
    (d): d is DetectionResult => d !== undefined && d.tasks > 0,
  );
  if (short.length) {
    const p95 = Math.max(...short.map((d) => d.upperBoundS.p95));
    targets.push({
      target: 'detection delay p95 ≤ 1.5 s for tasks shorter than 10 s',
      measured: `p95 ${p95} s (upper bound; zero ${phases.zero?.detection?.upperBoundS.p95 ?? '–'} s, realistic ${phases.realistic?.detection?.upperBoundS.p95 ?? '–'} s)`,
      met: p95 <= 1.5,
    });
  }
  const maxes = [...short.map((d) => d.upperBoundS.max)];
  if (phases.history?.long.detectionUpperS != null) maxes.push(phases.history.long.detectionUpperS);
  if (phases.history?.short.detectionUpperS != null) maxes.push(phases.history.short.detectionUpperS);
  if (maxes.length) {
    const limit = engine.pollMaxMs / 1000 + 1;
    const max = Math.max(...maxes);
    targets.push({
      target: `detection delay never above max interval + 1 s (${limit} s)`,
      measured: `max ${round(max, 3)} s (upper bound, incl. the ${round((result.options.historyLongMs ?? 0) / 1000, 0)} s task)`,
      met: max <= limit,
    });
  }
  if (phases.zero && phases.baseline) {
    const ratio = phases.zero.imagesPerS / phases.baseline.childrenPerS;
    targets.push({
      target: 'throughput ≥ 0.75 × same-shape Temporal baseline',
      measured: `${phases.zero.imagesPerS} images/s vs ${phases.baseline.childrenPerS} children/s = ${round(ratio, 2)} ×`,
      met: ratio >= 0.75,
    });
  }
  if (phases.history) {
    targets.push({
      target: `equal RemoveImage history length for a ${phases.history.shortTaskMs / 1000} s and a ${phases.history.longTaskMs / 1000} s task`,
      measured: `${phases.history.short.events} vs ${phases.history.long.events} events`,
      met: phases.history.equalLength,
    });
  }
  const biggest = phases.inflight?.levels.at(-1);
  if (biggest) {
    targets.push({
      target: `worker RSS ≤ 300 MB with 1,000 image tasks in flight`,
      measured: `${biggest.workerPeakRssMiB} MiB peak VmRSS with ${biggest.tasksInFlight} tasks in flight`,
      met: biggest.tasksInFlight >= 1000 ? biggest.workerPeakRssMiB * MiB <= 300 * 1000 * 1000 : null,
      note:
        biggest.tasksInFlight >= 1000 ? undefined : 'fewer than 1,000 tasks were in flight: not evaluated',
    });
  }
  if (phases.scale?.bigVm) {
    const b = phases.scale.bigVm;
    targets.push({
      target: '1,000-image RemoveVm within Temporal limits (2,000 pending; 10,240 events / 10 MB warnings)',
      measured: `${b.status}; ${b.parentEvents} events, ${round(b.parentSizeBytes / MiB, 2)} MiB, ≤ ${b.maxPendingChildren} pending children, ≤ ${b.maxPendingActivities} pending activities`,
      met:
        b.status === 'COMPLETED' &&
        b.parentEvents < 10_240 &&
        b.parentSizeBytes < 10 * MiB &&
        b.maxPendingChildren < 2000,
    });
  }
  if (phases.scale?.batch) {
    const b = phases.scale.batch;
    targets.push({
      target: `${b.images}-image batch finishes within Temporal limits`,
      measured: `${JSON.stringify(b.statuses)} in ${b.elapsedS} s; largest history ${b.largestHistory.events} events`,
      met: (b.statuses.COMPLETED ?? 0) === b.vms && b.largestHistory.events < 10_240,
    });
  }
  return targets;
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const options = parseOptions(process.argv);
  const startedAt = Date.now();
  const log = (line: string): void =>
    console.error(`[bench ${round((Date.now() - startedAt) / 1000, 0)}s] ${line}`);
  const machine = machineInfo(resolveTemporalBinary());
  log(
    `machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, node ${machine.node}, load ${machine.loadAverageAtStart.join(' ')}`,
  );

  // Pools: A holds every measured VM; further pools only hold in-flight VMs.
  const inflightPlan = planInflight(options.inflight, options.window);
  const poolA: PoolPlan = {
    name: 'bench-a',
    vms: [
      ...Array.from({ length: options.warmup }, (_, i) => ({ name: `warm-${i}`, disks: options.images })),
      ...(options.durations.includes('zero')
        ? Array.from({ length: options.commands }, (_, i) => ({ name: `zero-${i}`, disks: options.images }))
        : []),
      ...(options.durations.includes('realistic')
        ? Array.from({ length: options.realisticCommands }, (_, i) => ({
            name: `real-${i}`,
            disks: options.images,
          }))
        : []),
      { name: 'hist-short', disks: 1 },
      { name: 'hist-long', disks: 1 },
      ...(options.scale
        ? [
            { name: 'scale-vm', disks: options.scaleVmImages },
            ...Array.from({ length: options.scaleBatchVms }, (_, i) => ({
              name: `batch-${i}`,
              disks: options.scaleBatchImages,
            })),
          ]
        : []),
    ],
  };
  const pools: PoolPlan[] = [poolA];
  for (let p = 1; p < inflightPlan.pools; p++)
    pools.push({ name: `bench-${String.fromCharCode(97 + p)}`, vms: [] });
  for (const adds of inflightPlan.adds)
    for (const a of adds) pools[a.pool]!.vms.push({ name: a.name, disks: a.disks });
  const fixtures = buildFixtures(pools);
  const vms = vmsByName(fixtures);

  const workerSettings: Record<string, string> = {
    JANITOR_INTERVAL_MS: String(3_600_000),
    // As deployed: the Docker image sets it (glibc malloc arenas, docs/benchmarks.md).
    MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
    ...options.workerEnv,
  };
  for (const key of [
    'POLL_MIN_INTERVAL_MS',
    'POLL_MAX_INTERVAL_MS',
    'POLL_BACKOFF_FACTOR',
    'POLL_FAST_PHASE_MS',
    'MAX_CONCURRENT_IMAGES',
    'VDSM_REQUEST_TIMEOUT_MS',
  ]) {
    const value = process.env[key];
    if (value) workerSettings[key] = value;
  }
  const engine = {
    pollMinMs: Number(process.env.POLL_MIN_INTERVAL_MS ?? 1_000),
    pollMaxMs: Number(process.env.POLL_MAX_INTERVAL_MS ?? 10_000),
    pollBackoff: Number(process.env.POLL_BACKOFF_FACTOR ?? 1.5),
    pollFastPhaseMs: Number(process.env.POLL_FAST_PHASE_MS ?? 10_000),
    window: options.window,
  };

  const dir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-bench-'));
  let workerCommand: StackOptions['workerCommand'];
  const baselineEnv: Record<string, string> = {};
  if (options.workerBundle === 'prebuilt') {
    log('bundling the baseline workflows once (prebuilt-bundle experiment)');
    const baseline = await bundleWorkflowCode({
      workflowsPath: require.resolve('./baseline/workflows'),
      logger: new DefaultLogger('WARN'),
    });
    writeFileSync(join(dir, 'baseline-workflows.js'), baseline.code);
    workerCommand = {
      // The product's bundle (lib/workflow-bundle.js), as `ovirt-tasks worker` loads it.
      args: [join(__dirname, 'support', 'prebuilt-worker.js')],
      readyLine: OVIRT_WORKER_READY_LINE,
      env: {
        NODE_OPTIONS: ['--expose-gc', options.workerEnv.NODE_OPTIONS].filter(Boolean).join(' '),
      },
    };
    baselineEnv.BASELINE_BUNDLE = join(dir, 'baseline-workflows.js');
  }
  log(
    `starting the stack: ${fixtures.length} pool(s), ${fixtures.reduce((n, f) => n + f.disks.length, 0)} images`,
  );
  const stack = await Stack.start({
    dir,
    workerCommand,
    fixtures,
    faults: { seed: options.seed, durations: { 'Image.delete': { kind: 'zero' } } },
    workerSettings,
    keepDir: options.keep,
    log,
  });
  const sampler = new TaskSampler(
    fixtures.map((f, index) => ({
      poolId: f.pool.id,
      sim: stack.sim(f.pool.id),
      taskDir: spmTaskDir(join(stack.dir, `vdsm-${index}`), f.pool.id, f.pool.masterDomainId),
    })),
    options.sampleMs,
  );
  const ctx: Ctx = {
    options,
    stack,
    sampler,
    vms,
    engine,
    log,
    baselineQueue: `${stack.taskQueue}-baseline`,
    baselineEnv,
  };
  const result: BenchResult = {
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: '',
    elapsedS: 0,
    machine,
    options,
    engine,
    shape: {
      parentActivitiesBefore: 0,
      parentActivitiesAfter: 0,
      childActivities: 0,
      childLocalActivities: 0,
      childActivityTypes: [],
    },
    phases: {},
    workers: [],
    targets: [],
  };
  const stopOnSignal = (): void => {
    log('interrupted: stopping the stack');
    void stack.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  let failed: unknown;
  try {
    sampler.start();
    log(
      `starting ${options.workers} ovirt-tasks worker process(es)${options.baseline ? ' and the baseline worker' : ''}`,
    );
    const [, baselineWorker] = await Promise.all([
      mapLimit(Array.from({ length: options.workers }), 2, () => stack.startWorker()),
      options.baseline ? startBaselineWorker(ctx) : Promise.resolve(undefined),
    ]);
    ctx.baselineWorker = baselineWorker;
    // The janitor's sweeps also call Host.getAllTasksStatuses: paused, so every call counted is the hub's.
    for (const f of fixtures) {
      await withRetry(() =>
        stack.client.schedule.getHandle(scheduleIds.taskJanitor(f.pool.id)).pause('bench'),
      );
    }

    const warm = Array.from({ length: Math.max(1, options.warmup) }, (_, i) => vms.get(`warm-${i}`)).filter(
      (v): v is VmPlan => v !== undefined,
    );
    result.shape = warm.length
      ? await warmup(ctx, warm)
      : {
          parentActivitiesBefore: 2,
          parentActivitiesAfter: 1,
          childActivities: 2,
          childLocalActivities: 2,
          childActivityTypes: [],
        };
    log(
      `shape from a real history: parent ${result.shape.parentActivitiesBefore}+${result.shape.parentActivitiesAfter} activities, step ${result.shape.childActivities} (${result.shape.childActivityTypes.join(', ')}) + ${result.shape.childLocalActivities} local`,
    );

    if (options.durations.includes('zero')) {
      const list = Array.from({ length: options.commands }, (_, i) => vms.get(`zero-${i}`)!);
      result.phases.zero = await commandPhase(ctx, 'zero-duration', list, { kind: 'zero' }, 'zero');
    }
    const history = options.history ? await startHistoryRuns(ctx) : undefined;
    if (options.baseline) {
      result.phases.baseline = await baselinePhase(ctx, {
        children: options.images,
        activitiesBefore: result.shape.parentActivitiesBefore,
        activitiesAfter: result.shape.parentActivitiesAfter,
        childActivities: result.shape.childActivities,
        childLocalActivities: result.shape.childLocalActivities,
        window: options.window,
      });
    }
    if (history) {
      log(`history: waiting for the ${options.historyLongMs / 1000} s task`);
      result.phases.history = await finishHistoryRuns(ctx, history);
    }
    if (options.durations.includes('realistic')) {
      const list = Array.from({ length: options.realisticCommands }, (_, i) => vms.get(`real-${i}`)!);
      result.phases.realistic = await commandPhase(
        ctx,
        'realistic',
        list,
        { kind: 'uniform', minMs: options.realisticMinMs, maxMs: options.realisticMaxMs },
        `uniform ${options.realisticMinMs / 1000}–${options.realisticMaxMs / 1000} s`,
      );
    }
    if (options.inflight.length) result.phases.inflight = await inflightPhase(ctx, inflightPlan);
    if (options.scale) {
      const batch = Array.from({ length: options.scaleBatchVms }, (_, i) => vms.get(`batch-${i}`)!);
      result.phases.scale = await scalePhase(ctx, vms.get('scale-vm')!, batch);
    }
  } catch (err) {
    failed = err;
    log(`FAILED: ${(err as Error).stack ?? String(err)}`);
  } finally {
    sampler.stop();
    for (const w of stack.workerLives) w.sampleNow();
    result.workers = [...stack.workerLives, ...(ctx.baselineWorker ? [ctx.baselineWorker] : [])].map((w) => ({
      name: w.options.name,
      peakHwmMiB: mib(w.peakHwmBytes),
      readyAfterS: w.readyAt ? round((w.readyAt - w.startedAt) / 1000, 1) : null,
      exit: w.exit ? `code ${w.exit.code} signal ${w.exit.signal}` : null,
    }));
    await ctx.baselineWorker?.stop();
    if (options.keep) log(`keeping ${stack.dir}`);
    await stack.stop();
  }
  result.finishedAt = new Date().toISOString();
  result.elapsedS = round((Date.now() - startedAt) / 1000, 1);
  result.targets = evaluateTargets(result);

  const outFile =
    options.out ?? join(projectRoot(), 'bench', 'results', `${result.startedAt.replace(/[:.]/g, '-')}.json`);
  mkdirSync(join(outFile, '..'), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
  console.log(renderReport(result));
  console.log(`\nJSON: ${outFile}`);
  return failed ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
