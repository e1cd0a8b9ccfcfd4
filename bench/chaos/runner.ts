/**
 * The chaos runner: under a mixed load of RemoveVm, AddDisk, cold CreateSnapshot, MoveDisk and CopyDisk commands,
 * SIGKILLs and restarts worker processes, restarts the Temporal dev server (same SQLite file, same
 * port), restarts the VDSM simulator, fails the SPM over, injects latency and dropped connections,
 * at seeded random moments; then checks the invariants (types.ts INVARIANTS). Loopback only,
 * bounded in time. The faults are in faults.ts, the load in commands.ts, the checks in
 * invariants.ts and volume-checks.ts.
 */
import { join } from 'node:path';
import { waitForClosed } from '../support/driver';
import { buildFixtures, vmsByName } from '../support/fixtures';
import type { Execution } from '../support/histories';
import { createRng, type Rng } from '../support/random';
import { Stack } from '../support/stack';
import { sleep } from '../support/stats';
import { spmTaskDir, TaskSampler } from '../support/task-sampler';
import {
  placement,
  planCommands,
  prepareSnapshots,
  seededUuid,
  submitCommand,
  type ChaosCommand,
  type PlannedCommand,
} from './commands';
import { heal, injectFaults, superviseWorkers } from './faults';
import { checkLocksAndRemovals, checkOutcomes, checkStepTasks, checkTasksCleared } from './invariants';
import { checkMoveOrCopyCommands, checkNoJobsLeft } from './move-copy-checks';
import { chainsBefore, checkVolumeCommands, type VolumeCheckMemory } from './volume-checks';
import type {
  ChaosOptions,
  ChaosReport,
  DurationSummary,
  InvariantName,
  ScenarioCtx,
  ScenarioReport,
  ScenarioName,
  Slowdown,
  Violation,
} from './types';

export { checkDeleteTasks } from './invariants';
export { renderChaosReport } from './report';
export * from './types';

/**
 * Submits the commands at seeded moments over the first 80% of the fault window, so that commands
 * are in flight whenever a fault strikes (a few at t=0 so there is load from the start).
 */
async function submitSpread(
  ctx: ScenarioCtx,
  planned: PlannedCommand[],
  vmOf: (p: PlannedCommand) => ChaosCommand['vm'],
  rng: Rng = ctx.rng,
): Promise<ChaosCommand[]> {
  const span = Math.floor(ctx.options.faultWindowMs * 0.8);
  const where = placement(ctx.stack.fixtures[0]!);
  const times = planned
    .map((p, i) => ({ p, atMs: i < 2 ? 0 : rng.int(0, span) }))
    .sort((a, b) => a.atMs - b.atMs);
  const out: Array<Promise<ChaosCommand>> = [];
  for (const { p, atMs } of times) {
    const wait = ctx.t0 + atMs - Date.now();
    if (wait > 0) await sleep(wait);
    out.push(submitCommand(ctx.stack.client, ctx.stack.taskQueue, p, vmOf(p), where));
  }
  return Promise.all(out);
}

/** Waits for every command of every kind to close; one visibility wait per workflow type. */
async function waitForCommands(
  stack: Stack,
  commands: ChaosCommand[],
  since: number,
  options: ChaosOptions,
): Promise<Map<string, Execution>> {
  const types = [...new Set(commands.map((c) => c.workflowType))];
  const maps = await Promise.all(
    types.map((type) =>
      waitForClosed(stack.client, {
        taskQueue: stack.taskQueue,
        type,
        since,
        ids: new Set(commands.filter((c) => c.workflowType === type).map((c) => c.workflowId)),
        deadlineMs: options.settleDeadlineMs,
        onWait: (running) => options.log(`  ... ${running} ${type} running`),
      }),
    ),
  );
  return new Map(maps.flatMap((m) => [...m]));
}

/** Submit-to-close seconds of the commands that closed. */
function durationsS(commands: ChaosCommand[], closed: Map<string, Execution>): number[] {
  return commands
    .map((c) => closed.get(c.workflowId)?.closeTime)
    .map((end, i) => (end === undefined ? undefined : (end - commands[i]!.submitAt) / 1000))
    .filter((d): d is number => d !== undefined)
    .sort((a, b) => a - b);
}

function summarize(sorted: number[]): DurationSummary {
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  const r = (n: number): number => Math.round(n * 10) / 10;
  return { p50S: r(at(0.5)), p95S: r(at(0.95)), maxS: r(sorted[sorted.length - 1] ?? NaN) };
}

/** The scenario's copy of its commands on VMs of their own, run without faults (the slowdown's baseline). */
const CALM_SUFFIX = '-calm';
const needsCalmRun = (name: ScenarioName): boolean => name === 'hostile-peer';

/** Seeds the submit times of both runs of a compared scenario, so they submit at the same moments. */
const scheduleRng = (seed: number): Rng => createRng(seed + 1);

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const rng = createRng(options.seed);
  const log = options.log;
  // Each scenario works on VMs of its own, with 1..maxDisks disks drawn from the seed.
  const plan = options.scenarios.map((name) => ({
    name,
    commands: planCommands(rng, name, options.commandsPerScenario, options.maxDisksPerVm),
  }));
  // The calm copies draw their ids from a separate rng, so the other scenarios' plans stay as they were.
  const calmRng = createRng(options.seed + 2);
  const calmPlans = new Map(
    plan
      .filter((p) => needsCalmRun(p.name))
      .map((p) => [
        p.name,
        p.commands.map((c) => ({
          ...c,
          vmName: c.vmName.replace(p.name, p.name + CALM_SUFFIX),
          commandId: seededUuid(calmRng),
        })),
      ]),
  );
  const fixtures = buildFixtures([
    {
      name: 'chaos',
      vms: [...plan.map((p) => p.commands), ...calmPlans.values()].flatMap((commands) =>
        commands.map((c) => ({ name: c.vmName, disks: c.disks })),
      ),
    },
  ]);
  const vms = vmsByName(fixtures);
  const fixture = fixtures[0]!;
  const taskMs = { kind: 'uniform', minMs: options.taskMinMs, maxMs: options.taskMaxMs } as const;
  const stack = await Stack.start({
    fixtures,
    persistentServer: true,
    faults: {
      seed: options.seed,
      durations: { 'Image.delete': taskMs, 'Volume.create': taskMs, 'SDM.copy_data': taskMs },
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
  const memory: VolumeCheckMemory = {
    reported: new Set(),
    lockedByFixture: new Set(fixture.disks.filter((d) => d.status === 'LOCKED').map((d) => d.id)),
  };
  const reports: ScenarioReport[] = [];
  try {
    sampler.start();
    log(`starting ${options.workers} worker processes (task queue ${stack.taskQueue}, data in ${stack.dir})`);
    await Promise.all(Array.from({ length: options.workers }, () => stack.startWorker()));
    for (const { name, commands: planned } of plan) {
      const vmOf = (p: PlannedCommand) => vms.get(p.vmName)!;
      const kinds: Record<string, number> = {};
      for (const p of planned) kinds[p.kind] = (kinds[p.kind] ?? 0) + 1;
      const images = planned
        .filter((p) => p.kind !== 'AddDisk')
        .reduce((n, p) => n + vmOf(p).diskIds.length, 0);
      log(`scenario ${name}: ${JSON.stringify(kinds)}, ${images} existing images`);
      const calm = calmPlans.get(name);
      let calmDurations: number[] | undefined;
      const calmNotes: string[] = [];
      if (calm) {
        log(`  the same commands without the fault first (baseline)`);
        const calmCtx: ScenarioCtx = { stack, rng, options, t0: Date.now(), faults: [], notes: [] };
        const calmSince = Date.now() - 500;
        try {
          const calmCommands = await submitSpread(calmCtx, calm, vmOf, scheduleRng(options.seed));
          const calmClosed = await waitForCommands(stack, calmCommands, calmSince, options);
          calmDurations = durationsS(calmCommands, calmClosed);
          log(`  baseline closed: ${JSON.stringify(summarize(calmDurations))}`);
        } catch (err) {
          // No baseline, no slowdown figure; the scenario and its invariants still run.
          calmCtx.notes.push(`the baseline run failed: ${(err as Error).message.slice(0, 300)}`);
        }
        calmNotes.push(...calmCtx.notes);
      }
      const ctx: ScenarioCtx = { stack, rng, options, t0: Date.now(), faults: [], notes: [...calmNotes] };
      const violations: Violation[] = [];
      const add = (invariant: InvariantName, detail: string): void => {
        violations.push({ invariant, detail });
      };
      const outcomes: Record<string, number> = {};
      const before = chainsBefore(
        stack,
        planned
          .filter((p) => ['CreateSnapshot', 'MoveDisk', 'CopyDisk', 'RemoveSnapshot'].includes(p.kind))
          .flatMap((p) => vmOf(p).diskIds),
      );
      // RemoveSnapshot's snapshots, made before the faults and the clock of the scenario start.
      await prepareSnapshots(stack.client, stack.taskQueue, planned, vmOf);
      ctx.t0 = Date.now();
      const stopSupervisor = superviseWorkers(ctx);
      const since = Date.now() - 500;
      let commands: ChaosCommand[] = [];
      let recoveryTailS: number | undefined;
      let slowdown: Slowdown | undefined;
      try {
        const faults = injectFaults(ctx, name);
        commands = await submitSpread(ctx, planned, vmOf, calm ? scheduleRng(options.seed) : ctx.rng);
        await faults;
        await heal(ctx);
        log(
          `  faults done at ${Math.round((Date.now() - ctx.t0) / 1000)} s; waiting for the commands to close`,
        );
        let closedExecutions: Map<string, Execution> | undefined;
        try {
          closedExecutions = await waitForCommands(stack, commands, since, options);
        } catch (err) {
          add('closed', (err as Error).message);
        }
        if (closedExecutions) {
          const restartAt = ctx.lastRestartAt;
          // Only commands submitted before the restart lived through the crash; later ones would
          // add their ordinary run time to the tail.
          const ends = commands
            .filter((c) => restartAt !== undefined && c.submitAt < restartAt)
            .map((c) => closedExecutions.get(c.workflowId)?.closeTime ?? 0);
          if (restartAt !== undefined && ends.length > 0) {
            recoveryTailS = Math.round((Math.max(...ends) - restartAt) / 100) / 10;
            log(
              `  recovery tail: the last command in flight at the restart ended ${recoveryTailS} s after it`,
            );
          }
          if (calmDurations) {
            const c = summarize(calmDurations);
            const f = summarize(durationsS(commands, closedExecutions));
            const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
            slowdown = {
              calm: c,
              faulted: f,
              p50Ratio: ratio(f.p50S, c.p50S),
              maxRatio: ratio(f.maxS, c.maxS),
            };
            log(`  slowdown: ${JSON.stringify(slowdown)}`);
          }
        }
        const janitorMs = await checkTasksCleared(stack, options, violations);
        log(`  commands closed; SPM tasks cleared after ${Math.round(janitorMs / 1000)} s more`);
        sampler.sample();
        const closed = await checkOutcomes(stack, commands, closedExecutions, add, outcomes);
        await checkStepTasks(stack, sampler, closed, since, add, violations);
        await checkLocksAndRemovals(stack, closed, add, ctx.notes);
        await checkVolumeCommands(stack, closed, before, memory, add);
        await checkMoveOrCopyCommands(stack, closed, before, add);
        checkNoJobsLeft(stack, add);
      } catch (err) {
        add('closed', `the scenario itself failed: ${(err as Error).stack ?? String(err)}`);
      } finally {
        stopSupervisor();
      }
      const report: ScenarioReport = {
        name,
        commands: planned.length,
        kinds,
        images,
        outcomes,
        faults: ctx.faults,
        violations,
        notes: [...new Set(ctx.notes)],
        elapsedS: Math.round((Date.now() - ctx.t0) / 100) / 10,
        ...(recoveryTailS !== undefined && { recoveryTailS }),
        ...(slowdown && { slowdown }),
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
