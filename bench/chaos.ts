/**
 * `npm run chaos`: runs the chaos scenarios (bench/chaos/runner.ts), prints the scenarios ×
 * invariants table, writes bench/results/chaos-<timestamp>.json and exits 1 on any violation.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { projectRoot } from '../src/dev/project-root';
import {
  DEFAULT_CHAOS_OPTIONS,
  renderChaosReport,
  runChaos,
  SCENARIOS,
  type ScenarioName,
} from './chaos/runner';
import { randomSeed } from './support/random';

async function main(): Promise<number> {
  const int = (v: string): number => {
    const n = Number.parseInt(v, 10);
    if (!Number.isInteger(n) || n < 0) throw new Error(`not a non-negative integer: ${v}`);
    return n;
  };
  const d = DEFAULT_CHAOS_OPTIONS;
  const program = new Command('chaos')
    .description('ovirt-tasks chaos scenarios with invariant checks (see docs/benchmarks.md)')
    .option('--seed <n>', 'seed of every random choice (printed; replays the same schedule)', int)
    .option('--scenarios <list>', `comma separated: ${SCENARIOS.join(', ')}`, d.scenarios.join(','))
    .option(
      '--commands <n>',
      'commands per scenario: four in nine RemoveVm, a ninth each AddDisk, CreateSnapshot, MoveDisk, CopyDisk and RemoveSnapshot',
      int,
      d.commandsPerScenario,
    )
    .option('--max-disks <n>', 'disks per VM: 1..n', int, d.maxDisksPerVm)
    .option('--workers <n>', 'worker processes', int, d.workers)
    .option(
      '--task-min-ms <ms>',
      'shortest SPM task or host job (Image.delete, Volume.create, SDM.copy_data)',
      int,
      d.taskMinMs,
    )
    .option(
      '--task-max-ms <ms>',
      'longest SPM task or host job (Image.delete, Volume.create, SDM.copy_data)',
      int,
      d.taskMaxMs,
    )
    .option(
      '--fault-window-ms <ms>',
      'faults happen between 1 s and this after submitting',
      int,
      d.faultWindowMs,
    )
    .option(
      '--settle-ms <ms>',
      'deadline for the commands to close after the faults',
      int,
      d.settleDeadlineMs,
    )
    .option('--janitor-grace-ms <ms>', 'JANITOR_GRACE_MS of the workers', int, d.janitorGraceMs)
    .option('--janitor-interval-ms <ms>', 'JANITOR_INTERVAL_MS of the workers', int, d.janitorIntervalMs)
    .option('--keep', 'keep the temp dir (logs, databases)', false)
    .option('--out <file>', 'JSON report (default bench/results/chaos-<timestamp>.json)');
  program.parse(process.argv);
  const o = program.opts<Record<string, unknown>>();
  const scenarios = String(o.scenarios)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = scenarios.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (unknown.length) {
    console.error(`unknown scenario(s): ${unknown.join(', ')} (known: ${SCENARIOS.join(', ')})`);
    return 2;
  }
  const seed = (o.seed as number | undefined) ?? randomSeed();
  const started = Date.now();
  const log = (line: string): void =>
    console.error(`[chaos ${Math.round((Date.now() - started) / 1000)}s] ${line}`);
  log(`seed ${seed} (replay with --seed ${seed})`);
  const report = await runChaos({
    ...d,
    seed,
    scenarios: scenarios as ScenarioName[],
    commandsPerScenario: o.commands as number,
    maxDisksPerVm: Math.max(1, o.maxDisks as number),
    workers: Math.max(1, o.workers as number),
    taskMinMs: o.taskMinMs as number,
    taskMaxMs: o.taskMaxMs as number,
    faultWindowMs: Math.max(2_000, o.faultWindowMs as number),
    settleDeadlineMs: o.settleMs as number,
    janitorGraceMs: o.janitorGraceMs as number,
    janitorIntervalMs: Math.max(1, o.janitorIntervalMs as number),
    keepDir: o.keep as boolean,
    log,
  });
  const file =
    (o.out as string | undefined) ??
    join(
      projectRoot(),
      'bench',
      'results',
      `chaos-${new Date(started).toISOString().replace(/[:.]/g, '-')}.json`,
    );
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(renderChaosReport(report));
  console.log(`\nJSON: ${file}`);
  return report.ok ? 0 : 1;
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
