/**
 * The chaos runner: under a load of RemoveVm commands, SIGKILLs and restarts worker processes,
 * restarts the Temporal dev server (same SQLite file, same port), restarts the VDSM simulator,
 * fails the SPM over, injects latency and dropped connections, at seeded random moments; then
 * checks the invariants (see INVARIANTS). Loopback only, bounded in time.
 */
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType, type IllegalDisksDetails } from '../../src/shared/errors';
import { scheduleIds, WorkflowType } from '../../src/shared/names';
import {
  childIds,
  submitRemoveVms,
  TYPES,
  waitForClosed,
  withRetry,
  type Submission,
} from '../support/driver';
import { buildFixtures, vmsByName, type VmPlan } from '../support/fixtures';
import { analyze, fetchEvents, type Execution } from '../support/histories';
import { createRng, type Rng } from '../support/random';
import { Stack } from '../support/stack';
import { mapLimit, sleep } from '../support/stats';
import { spmTaskDir, TaskSampler } from '../support/task-sampler';
import type { WorkerProcess } from '../support/worker-process';

export const SCENARIOS = [
  'worker-kill',
  'temporal-restart',
  'vdsm-restart',
  'spm-failover',
  'network',
  'mixed',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const INVARIANTS = {
  closed: 'every command closed before the deadline',
  typedOutcome: 'each succeeded, or failed with a typed reason (ApplicationFailure type + message)',
  noDuplicateTasks:
    'at most one Image.delete task per image and per step (a step never owns another task than its image has)',
  noOrphanTasks: 'every Image.delete task is the one its step recorded (no step lost its task)',
  tasksCleared: 'no SPM task and no task claim left after the janitor grace period',
  noLocks: 'no entity lock left, no disk LOCKED, no VM ImageLocked',
  storageAgrees: 'inventory agrees with storage (removed: no image; OK: image; ILLEGAL: either)',
  outcomeConsistent: "a command's result matches its disks (removed ones gone, illegal ones ILLEGAL)",
} as const;
export type InvariantName = keyof typeof INVARIANTS;

export interface ChaosOptions {
  seed: number;
  scenarios: ScenarioName[];
  commandsPerScenario: number;
  maxDisksPerVm: number;
  workers: number;
  taskMinMs: number;
  taskMaxMs: number;
  /** Faults happen between 1 s and this long after the commands are submitted. */
  faultWindowMs: number;
  /** How long commands may take to close after the faults healed. */
  settleDeadlineMs: number;
  janitorGraceMs: number;
  janitorIntervalMs: number;
  keepDir: boolean;
  log: (line: string) => void;
}

export const DEFAULT_CHAOS_OPTIONS: Omit<ChaosOptions, 'seed' | 'log'> = {
  scenarios: [...SCENARIOS],
  commandsPerScenario: 24,
  maxDisksPerVm: 4,
  workers: 2,
  taskMinMs: 500,
  taskMaxMs: 4_000,
  faultWindowMs: 20_000,
  settleDeadlineMs: 8 * 60_000,
  janitorGraceMs: 5_000,
  janitorIntervalMs: 5_000,
  keepDir: false,
};

export interface FaultEvent {
  atS: number;
  fault: string;
  outcome: string;
}

export interface Violation {
  invariant: InvariantName;
  detail: string;
}

export interface ScenarioReport {
  name: ScenarioName;
  commands: number;
  images: number;
  outcomes: Record<string, number>;
  faults: FaultEvent[];
  violations: Violation[];
  /** Not invariants, but worth knowing (unexpected worker exits, orphan tasks the janitor took...). */
  notes: string[];
  elapsedS: number;
}

export interface ChaosReport {
  seed: number;
  options: Omit<ChaosOptions, 'log'>;
  scenarios: ScenarioReport[];
  elapsedS: number;
  ok: boolean;
}

interface ScenarioCtx {
  stack: Stack;
  rng: Rng;
  options: ChaosOptions;
  t0: number;
  faults: FaultEvent[];
  notes: string[];
}

type FaultAction = (ctx: ScenarioCtx) => Promise<string>;

const poolOf = (stack: Stack): string => stack.fixtures[0]!.pool.id;

/** SIGKILL a random worker; a new one starts after 1–4 s (it webpacks its workflows first). */
const killWorker: FaultAction = async (ctx) => {
  const alive = ctx.stack.workers.filter((w) => w.running);
  if (alive.length === 0) return 'skipped: no worker running';
  const victim = ctx.rng.pick(alive);
  const pid = victim.pid;
  await victim.kill('SIGKILL');
  const downMs = ctx.rng.int(1_000, 4_000);
  await sleep(downMs);
  await startReplacement(ctx, victim);
  return `SIGKILLed pid ${pid}, replaced after ${downMs} ms`;
};

async function startReplacement(ctx: ScenarioCtx, dead: WorkerProcess): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.stack.replaceWorker(dead);
      return;
    } catch (err) {
      // The server may be restarting meanwhile: the worker exits 3; try again.
      if (attempt >= 10) throw err;
      ctx.notes.push(`worker start attempt ${attempt} failed: ${(err as Error).message.slice(0, 200)}`);
      await sleep(2_000);
    }
  }
}

const restartTemporal: FaultAction = async (ctx) => {
  const downMs = ctx.rng.int(500, 3_000);
  await ctx.stack.restartServer(downMs);
  return `dev server stopped, restarted after ${downMs} ms on the same port and db`;
};

const restartVdsm: FaultAction = async (ctx) => {
  const sim = ctx.stack.sim(poolOf(ctx.stack));
  await sim.restart();
  return 'simulator crashed and restarted from disk';
};

const failover: FaultAction = async (ctx) => {
  const sim = ctx.stack.sim(poolOf(ctx.stack));
  if (!sim.running) return 'skipped: simulator down';
  const { from, to } = await sim.failover();
  const name = (id: string | undefined) => ctx.stack.fixtures[0]!.hosts.find((h) => h.id === id)?.name ?? id;
  return `SPM ${name(from)} → ${name(to)}`;
};

/** Latency and dropped connections for 6–12 s. */
const network: FaultAction = async (ctx) => {
  const sim = ctx.stack.sim(poolOf(ctx.stack));
  const maxLatency = ctx.rng.int(100, 400);
  const probability = Math.round(ctx.rng.between(0.02, 0.08) * 1000) / 1000;
  const forMs = ctx.rng.int(6_000, 12_000);
  sim.setFaults({
    latencyMs: { kind: 'uniform', minMs: 10, maxMs: maxLatency },
    dropConnections: { probability },
  });
  await sleep(forMs);
  sim.setFaults({ latencyMs: null, dropConnections: null });
  return `latency 10–${maxLatency} ms and ${(probability * 100).toFixed(1)}% dropped connections for ${forMs} ms`;
};

function scheduleFor(name: ScenarioName): Array<{ name: string; action: FaultAction }> {
  switch (name) {
    case 'worker-kill':
      return [
        { name: 'kill worker', action: killWorker },
        { name: 'kill worker', action: killWorker },
      ];
    case 'temporal-restart':
      return [{ name: 'restart Temporal', action: restartTemporal }];
    case 'vdsm-restart':
      return [
        { name: 'restart VDSM', action: restartVdsm },
        { name: 'restart VDSM', action: restartVdsm },
      ];
    case 'spm-failover':
      return [
        { name: 'SPM failover', action: failover },
        { name: 'SPM failover', action: failover },
      ];
    case 'network':
      return [{ name: 'latency + drops', action: network }];
    case 'mixed':
      return [
        { name: 'kill worker', action: killWorker },
        { name: 'restart Temporal', action: restartTemporal },
        { name: 'restart VDSM', action: restartVdsm },
        { name: 'SPM failover', action: failover },
        { name: 'latency + drops', action: network },
      ];
  }
}

/** Runs the faults at seeded moments in [1 s, faultWindowMs], one after the other. */
async function injectFaults(ctx: ScenarioCtx, name: ScenarioName): Promise<void> {
  const planned = scheduleFor(name)
    .map((f) => ({ ...f, atMs: ctx.rng.int(1_000, ctx.options.faultWindowMs) }))
    .sort((a, b) => a.atMs - b.atMs);
  for (const fault of planned) {
    const wait = ctx.t0 + fault.atMs - Date.now();
    if (wait > 0) await sleep(wait);
    const atS = Math.round((Date.now() - ctx.t0) / 100) / 10;
    let outcome: string;
    try {
      outcome = await fault.action(ctx);
    } catch (err) {
      outcome = `failed to inject: ${(err as Error).message.slice(0, 200)}`;
    }
    ctx.options.log(`  ${atS}s ${fault.name}: ${outcome}`);
    ctx.faults.push({ atS, fault: fault.name, outcome });
  }
}

/**
 * Submits the commands at seeded moments over the first 80% of the fault window, so that commands
 * are in flight whenever a fault strikes (a few at t=0 so there is load from the start).
 */
async function submitSpread(ctx: ScenarioCtx, vms: VmPlan[]): Promise<Submission[]> {
  const span = Math.floor(ctx.options.faultWindowMs * 0.8);
  const times = vms
    .map((vm, i) => ({ vm, atMs: i < 2 ? 0 : ctx.rng.int(0, span) }))
    .sort((a, b) => a.atMs - b.atMs);
  const out: Array<Promise<Submission[]>> = [];
  for (const { vm, atMs } of times) {
    const wait = ctx.t0 + atMs - Date.now();
    if (wait > 0) await sleep(wait);
    out.push(submitRemoveVms(ctx.stack.client, ctx.stack.taskQueue, [vm.id], 1));
  }
  return (await Promise.all(out)).flat();
}

/** After the faults: simulator up with no transport faults, every worker slot filled. */
async function heal(ctx: ScenarioCtx): Promise<void> {
  const sim = ctx.stack.sim(poolOf(ctx.stack));
  sim.setFaults({ latencyMs: null, dropConnections: null });
  if (!sim.running) await sim.restart();
  for (const dead of ctx.stack.workers.filter((w) => !w.running)) await startReplacement(ctx, dead);
  while (ctx.stack.workers.length < ctx.options.workers) await ctx.stack.startWorker();
}

/** Restarts workers that died without being killed, and says so. */
function superviseWorkers(ctx: ScenarioCtx): () => void {
  let stopped = false;
  const loop = async (): Promise<void> => {
    while (!stopped) {
      for (const w of ctx.stack.workers) {
        if (w.exit && !w.exit.expected) {
          ctx.notes.push(
            `worker ${w.options.name} (pid ${w.pid}) exited by itself (code ${w.exit.code}, signal ${w.exit.signal}); restarted — see ${w.options.logFile}`,
          );
          await startReplacement(ctx, w).catch((err: unknown) =>
            ctx.notes.push(`restart failed: ${String(err)}`),
          );
        }
      }
      await sleep(1_000);
    }
  };
  const running = loop();
  return () => {
    stopped = true;
    void running;
  };
}

// ---------------------------------------------------------------- invariants

async function commandOutcome(
  stack: Stack,
  e: Execution,
): Promise<{ ok: boolean; label: string; failure?: ApplicationFailure }> {
  if (e.status === 'COMPLETED') return { ok: true, label: 'succeeded' };
  if (e.status !== 'FAILED') return { ok: false, label: e.status };
  try {
    await withRetry(() => stack.client.workflow.getHandle(e.workflowId, e.runId).result());
    return { ok: false, label: 'FAILED without a failure' };
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure) {
      const known = (Object.values(ErrorType) as string[]).includes(err.cause.type ?? '');
      return {
        ok: known && Boolean(err.cause.message),
        label: `failed: ${err.cause.type ?? 'untyped'}`,
        failure: err.cause,
      };
    }
    return { ok: false, label: `failed untyped: ${String((err as Error).message).slice(0, 100)}` };
  }
}

async function checkScenario(
  stack: Stack,
  sampler: TaskSampler,
  vms: VmPlan[],
  submissions: Submission[],
  parents: Map<string, Execution> | undefined,
  violations: Violation[],
  notes: string[],
  outcomes: Record<string, number>,
  since: number,
): Promise<void> {
  const add = (invariant: InvariantName, detail: string): void => {
    violations.push({ invariant, detail });
  };
  const diskIds = new Set(vms.flatMap((v) => v.diskIds));
  const fixture = stack.fixtures[0]!;
  const domainOf = new Map(fixture.disks.map((d) => [d.id, d.domainId]));
  const sim = stack.sim(fixture.pool.id);

  // closed + typed outcome + outcome consistency
  const removedByCommand = new Set<string>();
  const illegalByCommand = new Set<string>();
  for (const s of submissions) {
    const e = parents?.get(s.workflowId);
    if (!e || e.status === 'RUNNING') {
      add('closed', `${s.workflowId} still running`);
      continue;
    }
    const outcome = await commandOutcome(stack, e);
    outcomes[outcome.label] = (outcomes[outcome.label] ?? 0) + 1;
    if (!outcome.ok) add('typedOutcome', `${s.workflowId}: ${outcome.label}`);
    const vm = vms.find((v) => v.id === s.vmId)!;
    if (e.status === 'COMPLETED') for (const d of vm.diskIds) removedByCommand.add(d);
    const details = outcome.failure?.details?.[0] as IllegalDisksDetails | undefined;
    if (outcome.failure?.type === ErrorType.FinishedWithIllegalDisks && details) {
      for (const d of details.removedDiskIds) removedByCommand.add(d);
      for (const d of details.illegalDiskIds) illegalByCommand.add(d);
    }
  }

  // duplicates: the sampler's tasks per image, against the task each step says it started
  const stepTask = new Map<string, string>();
  /** How each step's start ended, for diagnosing a task it does not own. */
  const stepStart = new Map<string, string>();
  await mapLimit(submissions, 4, async (s) => {
    const vm = vms.find((v) => v.id === s.vmId)!;
    for (const [index, childId] of childIds(s.workflowId, vm.diskIds).entries()) {
      let events;
      try {
        events = await withRetry(() => fetchEvents(stack.client, childId), 5);
      } catch {
        continue; // never started (the command failed first)
      }
      const starts = analyze(events).activities.filter((a) => a.type === 'startImageDelete');
      const started = starts
        .filter((a) => a.outcome === 'completed')
        .map((a) => a.result as { kind?: string; vdsmTaskId?: string; vdsmMessage?: string });
      stepStart.set(
        vm.diskIds[index]!,
        starts
          .map((a) => {
            const r = a.result as { kind?: string; vdsmMessage?: string } | undefined;
            return `startImageDelete ${a.outcome} on attempt ${a.attempt}${a.failure ? ` (${a.failure})` : ''}${r?.kind ? ` → ${r.kind}${r.vdsmMessage ? ` (${r.vdsmMessage})` : ''}` : ''}`;
          })
          .join('; ') || 'no startImageDelete',
      );
      const ids = new Set(started.filter((r) => r.kind === 'started').map((r) => r.vdsmTaskId));
      if (ids.size > 1) add('noDuplicateTasks', `step ${childId} started ${ids.size} tasks`);
      const id = [...ids][0];
      if (id) stepTask.set(vm.diskIds[index]!, id);
    }
  });
  const janitorClears = await stack.inventory.listAudit({ type: 'TASK_CLEARING_ASYNC_TASK' });
  for (const v of checkDeleteTasks(sampler, fixture.pool.id, diskIds, stepTask, since)) {
    // Say what the step did and whether the janitor took the task.
    const diskId = [...diskIds].find((d) => v.detail.includes(d));
    const taskId = /task ([0-9a-f-]{36})/.exec(v.detail)?.[1];
    const cleared = janitorClears.find((a) => taskId !== undefined && a.entityIds.includes(taskId));
    const sampled = taskId ? sampler.tasks.get(taskId) : undefined;
    violations.push({
      ...v,
      detail: `${v.detail}; step: ${diskId ? (stepStart.get(diskId) ?? 'not started') : '?'}; task first seen at +${sampled ? Math.round((sampled.firstSeenAt - since) / 100) / 10 : '?'} s, ended ${sampled?.endedBy ? `at +${Math.round((sampled.endedBy - since) / 100) / 10} s (${sampled.state})` : 'never seen'}${cleared ? `; janitor: ${cleared.time} ${cleared.message}` : ''}`,
    });
  }

  // locks
  const locks = await stack.inventory.listLocks();
  if (locks.length)
    add(
      'noLocks',
      `${locks.length} locks left: ${locks
        .slice(0, 3)
        .map((l) => `${l.type} ${l.id} (${l.owner})`)
        .join(', ')}`,
    );
  for (const vm of vms) {
    const record = await stack.inventory.getVm(vm.id);
    if (record?.status === 'ImageLocked') add('noLocks', `VM ${vm.name} is ImageLocked`);
  }

  // storage agreement and outcome consistency
  const storage = sim.storageSnapshot();
  let leftovers = 0;
  for (const diskId of diskIds) {
    const record = await stack.inventory.getDisk(diskId);
    const domainId = domainOf.get(diskId)!;
    const onStorage = sim.imageExists(domainId, diskId);
    if (record?.status === 'LOCKED') add('noLocks', `disk ${diskId} is LOCKED`);
    if (record === undefined && onStorage)
      add('storageAgrees', `disk ${diskId} removed from the inventory but its image exists`);
    if (record?.status === 'OK' && !onStorage) add('storageAgrees', `disk ${diskId} is OK but has no image`);
    if (record === undefined && storage[domainId]?.removed.includes(diskId)) leftovers++;
    if (removedByCommand.has(diskId) && record !== undefined) {
      add('outcomeConsistent', `disk ${diskId} reported removed but still ${record.status}`);
    }
    if (illegalByCommand.has(diskId) && record?.status !== 'ILLEGAL') {
      add('outcomeConsistent', `disk ${diskId} reported illegal but ${record?.status ?? 'removed'}`);
    }
  }
  if (leftovers) {
    notes.push(
      `${leftovers} removed disk(s) left a _remove_me_ image on storage (Image.delete answered 268 after a lost attempt)`,
    );
  }
}

/**
 * The duplicate and orphan checks, on their own so a test can feed them planted tasks: every
 * deleteImage task the simulator showed for these images must be the one task its step recorded
 * (from the step's history). A second task for an image, or one that is not its step's, is a
 * duplicate; a task whose step recorded none is an orphan (the step lost it). Tasks whose image
 * could not be read are checked against every step's task.
 */
export function checkDeleteTasks(
  sampler: TaskSampler,
  poolId: string,
  diskIds: ReadonlySet<string>,
  stepTask: ReadonlyMap<string, string>,
  /** Unmapped tasks first seen before this belong to an earlier scenario. */
  since = 0,
): Violation[] {
  const out: Violation[] = [];
  const byImage = sampler.deleteTasksByImage();
  for (const diskId of diskIds) {
    const tasks = byImage.get(diskId) ?? [];
    if (tasks.length > 1) {
      out.push({
        invariant: 'noDuplicateTasks',
        detail: `image ${diskId} had ${tasks.length} Image.delete tasks: ${tasks.map((t) => t.id).join(', ')}`,
      });
    }
    for (const t of tasks) {
      const owner = stepTask.get(diskId);
      if (owner === undefined) {
        out.push({
          invariant: 'noOrphanTasks',
          detail: `image ${diskId}: task ${t.id} is owned by no step (its step recorded none)`,
        });
      } else if (owner !== t.id) {
        out.push({
          invariant: 'noDuplicateTasks',
          detail: `image ${diskId}: task ${t.id} is not the task its step owns (${owner})`,
        });
      }
    }
  }
  const owned = new Set(stepTask.values());
  for (const t of byImage.get('') ?? []) {
    if (t.poolId === poolId && t.firstSeenAt >= since && !owned.has(t.id)) {
      out.push({ invariant: 'noOrphanTasks', detail: `task ${t.id} (image unknown) is owned by no step` });
    }
  }
  return out;
}

/** What the pool's janitor Schedule did lately: says why a task outlived the grace period. */
async function janitorState(stack: Stack): Promise<string> {
  try {
    const schedule = await stack.client.schedule.getHandle(scheduleIds.taskJanitor(poolOf(stack))).describe();
    const runs: string[] = [];
    for await (const run of stack.client.workflow.list({
      query: `WorkflowType = '${WorkflowType.taskJanitor}' AND TaskQueue = '${stack.taskQueue}'`,
      pageSize: 5,
    })) {
      const ended = run.closeTime
        ? `+${Math.round((Date.now() - run.closeTime.getTime()) / 1000)} s ago`
        : '';
      let why = '';
      if (run.status.name === 'FAILED' || run.status.name === 'TIMED_OUT') {
        why = await stack.client.workflow
          .getHandle(run.workflowId, run.runId)
          .result()
          .then(
            () => '',
            (err: unknown) => `: ${describeCause(err)}`,
          );
      }
      runs.push(`${run.status.name} ${ended}${why}`);
      if (runs.length >= 5) break;
    }
    return `janitor: ${schedule.info.runningActions.length} running, ${schedule.info.recentActions.length} recent; last runs: ${runs.join('; ') || 'none'}`;
  } catch (err) {
    return `janitor state unreadable: ${(err as Error).message}`;
  }
}

/** The innermost message of a failure chain. */
function describeCause(err: unknown): string {
  let e = err as Error & { cause?: unknown };
  while (e.cause instanceof Error) e = e.cause;
  return e.message;
}

/** After the commands closed: the janitor must clear whatever is left within its grace. */
async function checkTasksCleared(
  stack: Stack,
  options: ChaosOptions,
  violations: Violation[],
): Promise<number> {
  const sim = stack.sim(poolOf(stack));
  const deadline = Date.now() + options.janitorGraceMs + 3 * options.janitorIntervalMs + 30_000;
  const started = Date.now();
  for (;;) {
    const tasks = sim.listTasks().filter((t) => t.tag === 'spm');
    const claims = await stack.inventory.listTaskClaims();
    if (tasks.length === 0 && claims.length === 0) return Date.now() - started;
    if (Date.now() > deadline) {
      if (tasks.length)
        violations.push({
          invariant: 'tasksCleared',
          detail: `${tasks.length} SPM task(s) left: ${tasks
            .slice(0, 3)
            .map((t) => `${t.id} ${t.verb} ${t.state} on ${t.hostName}`)
            .join(', ')} (SPM: ${sim.spmHostId() ?? 'none'}); ${await janitorState(stack)}`,
        });
      if (claims.length)
        violations.push({
          invariant: 'tasksCleared',
          detail: `${claims.length} task claim(s) left: ${claims
            .slice(0, 3)
            .map((c) => `${c.vdsmTaskId} (${c.owner})`)
            .join(', ')}`,
        });
      return Date.now() - started;
    }
    await sleep(500);
  }
}

// ---------------------------------------------------------------- run

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const rng = createRng(options.seed);
  const log = options.log;
  // Each scenario removes VMs of its own, with 1..maxDisks disks drawn from the seed.
  const plan = options.scenarios.map((name) => ({
    name,
    vms: Array.from({ length: options.commandsPerScenario }, (_, i) => ({
      name: `${name}-${i}`,
      disks: rng.int(1, options.maxDisksPerVm),
    })),
  }));
  const fixtures = buildFixtures([{ name: 'chaos', vms: plan.flatMap((p) => p.vms) }]);
  const vms = vmsByName(fixtures);
  const fixture = fixtures[0]!;
  const stack = await Stack.start({
    fixtures,
    persistentServer: true,
    faults: {
      seed: options.seed,
      durations: { 'Image.delete': { kind: 'uniform', minMs: options.taskMinMs, maxMs: options.taskMaxMs } },
    },
    workerSettings: {
      POLL_MIN_INTERVAL_MS: '200',
      POLL_MAX_INTERVAL_MS: '2000',
      POLL_FAST_PHASE_MS: '2000',
      VDSM_REQUEST_TIMEOUT_MS: '5000',
      JANITOR_GRACE_MS: String(options.janitorGraceMs),
      JANITOR_INTERVAL_MS: String(options.janitorIntervalMs),
    },
    keepDir: options.keepDir,
    log,
  });
  const sampler = new TaskSampler(
    [
      {
        poolId: fixture.pool.id,
        sim: stack.sim(fixture.pool.id),
        taskDir: spmTaskDir(join(stack.dir, 'vdsm-0'), fixture.pool.id, fixture.pool.masterDomainId),
      },
    ],
    50,
  );
  const reports: ScenarioReport[] = [];
  try {
    sampler.start();
    log(`starting ${options.workers} worker processes (task queue ${stack.taskQueue}, data in ${stack.dir})`);
    await Promise.all(Array.from({ length: options.workers }, () => stack.startWorker()));
    for (const { name } of plan) {
      const scenarioVms = plan.find((p) => p.name === name)!.vms.map((v) => vms.get(v.name)!);
      const images = scenarioVms.reduce((n, v) => n + v.diskIds.length, 0);
      log(`scenario ${name}: ${scenarioVms.length} RemoveVm, ${images} images`);
      const ctx: ScenarioCtx = { stack, rng, options, t0: Date.now(), faults: [], notes: [] };
      const violations: Violation[] = [];
      const outcomes: Record<string, number> = {};
      const stopSupervisor = superviseWorkers(ctx);
      const since = Date.now() - 500;
      let submissions: Submission[] = [];
      let parents: Map<string, Execution> | undefined;
      try {
        const faults = injectFaults(ctx, name);
        submissions = await submitSpread(ctx, scenarioVms);
        await faults;
        await heal(ctx);
        log(
          `  faults done at ${Math.round((Date.now() - ctx.t0) / 1000)} s; waiting for the commands to close`,
        );
        try {
          parents = await waitForClosed(stack.client, {
            taskQueue: stack.taskQueue,
            type: TYPES.parent,
            since,
            ids: new Set(submissions.map((s) => s.workflowId)),
            deadlineMs: options.settleDeadlineMs,
            onWait: (running) => log(`  ... ${running} commands running`),
          });
        } catch (err) {
          violations.push({ invariant: 'closed', detail: (err as Error).message });
        }
        const janitorMs = await checkTasksCleared(stack, options, violations);
        log(`  commands closed; SPM tasks cleared after ${Math.round(janitorMs / 1000)} s more`);
        sampler.sample();
        await checkScenario(
          stack,
          sampler,
          scenarioVms,
          submissions,
          parents,
          violations,
          ctx.notes,
          outcomes,
          since,
        );
      } catch (err) {
        violations.push({
          invariant: 'closed',
          detail: `the scenario itself failed: ${(err as Error).stack ?? String(err)}`,
        });
      } finally {
        stopSupervisor();
      }
      const report: ScenarioReport = {
        name,
        commands: scenarioVms.length,
        images,
        outcomes,
        faults: ctx.faults,
        violations,
        notes: [...new Set(ctx.notes)],
        elapsedS: Math.round((Date.now() - ctx.t0) / 100) / 10,
      };
      reports.push(report);
      log(
        `  ${violations.length ? `${violations.length} VIOLATION(S)` : 'all invariants hold'} (${report.elapsedS} s)`,
      );
    }
  } finally {
    sampler.stop();
    await stack.stop();
  }
  return {
    seed: options.seed,
    options: { ...options, log: undefined } as unknown as Omit<ChaosOptions, 'log'>,
    scenarios: reports,
    elapsedS: Math.round((Date.now() - started) / 100) / 10,
    ok: reports.every((r) => r.violations.length === 0),
  };
}

/** Markdown summary: scenarios × invariants. */
export function renderChaosReport(report: ChaosReport): string {
  const names = Object.keys(INVARIANTS) as InvariantName[];
  const lines = [
    `# ovirt-tasks chaos — seed ${report.seed} (replay: \`npm run chaos -- --seed ${report.seed}\`)`,
    '',
    `| scenario | commands | images | outcomes | ${names.join(' | ')} | s |`,
    `|---|---|---|---|${names.map(() => '---').join('|')}|---|`,
    ...report.scenarios.map((s) => {
      const cells = names.map((n) => {
        const count = s.violations.filter((v) => v.invariant === n).length;
        return count ? `✗ ${count}` : '✓';
      });
      const outcomes = Object.entries(s.outcomes)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ');
      return `| ${s.name} | ${s.commands} | ${s.images} | ${outcomes} | ${cells.join(' | ')} | ${s.elapsedS} |`;
    }),
    '',
    ...names.map((n) => `- **${n}**: ${INVARIANTS[n]}`),
  ];
  for (const s of report.scenarios) {
    lines.push('', `### ${s.name}`, '');
    for (const f of s.faults) lines.push(`- ${f.atS} s ${f.fault}: ${f.outcome}`);
    for (const v of s.violations) lines.push(`- ✗ ${v.invariant}: ${v.detail}`);
    for (const n of s.notes) lines.push(`- note: ${n}`);
  }
  lines.push(
    '',
    report.ok ? `All invariants hold (${report.elapsedS} s).` : `VIOLATIONS (${report.elapsedS} s).`,
  );
  return lines.join('\n');
}
