/** The bench's knobs: command-line flags (and BENCH_* environment defaults), `--quick` presets. */
import { Command, Option } from 'commander';

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
  /** AddDisk commands of the volume-command run (0 = skip). */
  addDisks: number;
  /** CreateSnapshot commands of the volume-command run, each of a VM with `images` disks (0 = skip). */
  snapshots: number;
  /** CopyDisk commands per host-job round (events, then poll only; 0 = skip): bench/scenarios/host-jobs.ts. */
  hostJobs: number;
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

export function parseOptions(argv: string[]): BenchOptions {
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
    .option('--add-disks <n>', 'AddDisk commands (floating disks, zero-length tasks; 0 = skip)', int, 100)
    .option('--snapshots <n>', 'CreateSnapshot commands of VMs with --images disks (0 = skip)', int, 50)
    .option(
      '--host-jobs <n>',
      'CopyDisk commands per host-job round, with and without events (0 = skip)',
      int,
      40,
    )
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
    addDisks: o.addDisks as number,
    snapshots: o.snapshots as number,
    hostJobs: o.hostJobs as number,
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
      addDisks: 10,
      snapshots: 5,
      hostJobs: 10,
      scaleVmImages: 50,
      scaleBatchVms: 20,
    };
    for (const [key, value] of Object.entries(quick)) {
      if (program.getOptionValueSource(key) !== 'cli') Object.assign(options, { [key]: value });
    }
  }
  return options;
}
