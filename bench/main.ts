/**
 * `npm run bench`: drives the real stack (its own Temporal dev server, in-process VDSM simulators,
 * `ovirt-tasks worker` child processes, a SQLite inventory) and a same-shape baseline of no-op
 * Temporal workflows on the same server, then prints a Markdown report and writes
 * bench/results/<timestamp>.json. `--help` lists the knobs; docs/benchmarks.md explains the
 * measures. The phases are in bench/scenarios/, the options, result and targets in bench/run/.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { projectRoot } from '../src/dev/project-root';
import { resolveTemporalBinary } from '../src/dev/temporal-binary';
import { scheduleIds } from '../src/shared/names';
import { withRetry } from './support/driver';
import { buildFixtures, vmsByName, type PoolPlan, type VmPlan } from './support/fixtures';
import { machineInfo } from './support/machine';
import { renderReport } from './support/report';
import { Stack, type StackOptions } from './support/stack';
import { mapLimit, round } from './support/stats';
import { spmTaskDir, TaskSampler } from './support/task-sampler';
import { OVIRT_WORKER_READY_LINE } from './support/worker-process';
import { mib, type Ctx } from './run/context';
import { parseOptions } from './run/options';
import type { BenchResult } from './run/result';
import { evaluateTargets } from './run/targets';
import { baselinePhase, startBaselineWorker } from './scenarios/baseline';
import { finishHistoryRuns, startHistoryRuns } from './scenarios/history';
import { inflightPhase, planInflight } from './scenarios/inflight';
import { commandPhase, warmup } from './scenarios/remove-vm';
import { runVolumePhases } from './scenarios/volume-phases';
import { hostJobPhase, hostJobVms } from './scenarios/host-jobs';
import { scalePhase } from './scenarios/scale';

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
      // CreateSnapshot's VMs (Down, `images` disks each); AddDisk makes floating disks of its own.
      ...(options.snapshots > 0
        ? [
            ...Array.from({ length: options.warmup }, (_, i) => ({
              name: `snap-warm-${i}`,
              disks: options.images,
            })),
            ...Array.from({ length: options.snapshots }, (_, i) => ({
              name: `snap-${i}`,
              disks: options.images,
            })),
          ]
        : []),
      ...hostJobVms(options.hostJobs),
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
    faults: {
      seed: options.seed,
      durations: { 'Image.delete': { kind: 'zero' }, 'Volume.create': { kind: 'zero' } },
    },
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
    if (options.addDisks > 0 || options.snapshots > 0) await runVolumePhases(ctx, result);
    if (options.hostJobs > 0) result.phases.hostJobs = await hostJobPhase(ctx, options.hostJobs);
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
