/** The report's section on AddDisk and CreateSnapshot: throughput next to RemoveVm, each against its same-shape baseline. */
import type { BaselineResult, BenchResult, CommandPhaseResult, CommandShape } from '../run/result';
import { round, type Summary } from './stats';

const cell = (c: string | number | null | undefined): string =>
  c === null || c === undefined ? '–' : String(c);
const pct = (s: Summary | undefined): string => (s && s.count ? `${s.p50} / ${s.p95} / ${s.p99}` : '–');

const shapeLine = (name: string, s: CommandShape | undefined, group: boolean): string =>
  s
    ? `${name}: ${s.parentActivitiesBefore} + ${s.parentActivitiesAfter} parent activities; step ${s.childActivities} activities (${s.childActivityTypes.join(', ')}) + ${s.childLocalActivities} local${group ? '; the baseline children report their end and wait for the verdict signal' : ''}.`
    : `${name}: not run.`;

export function renderVolumeSection(r: BenchResult): string[] {
  const { phases } = r;
  if (!phases.addDisk && !phases.createSnapshot) return [];
  const runs: Array<[string, CommandPhaseResult | undefined, BaselineResult | undefined]> = [
    ['RemoveVm', phases.zero, phases.baseline],
    ['AddDisk', phases.addDisk, phases.addDiskBaseline],
    ['CreateSnapshot', phases.createSnapshot, phases.createSnapshotBaseline],
  ];
  const header = [
    'command',
    'commands',
    'steps (images)',
    'elapsed s',
    'commands/s',
    'images/s',
    'baseline commands/s',
    'baseline children/s',
    'ratio images/s ÷ children/s',
    'latency s p50 / p95 / p99',
    'baseline latency s p50 / p95',
    'outcomes',
  ];
  const rows = runs
    .filter(([, p]) => p !== undefined)
    .map(([name, p, b]) => [
      name,
      p!.commands,
      p!.images,
      p!.elapsedS,
      p!.commandsPerS,
      p!.imagesPerS,
      b?.commandsPerS,
      b?.childrenPerS,
      b ? round(p!.imagesPerS / b.childrenPerS, 2) : null,
      pct(p!.latencyS),
      b ? `${b.latencyS.p50} / ${b.latencyS.p95}` : null,
      JSON.stringify(p!.statuses),
    ]);
  const out = [
    '',
    '## AddDisk and CreateSnapshot next to RemoveVm (zero-length tasks; each against its same-shape baseline)',
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
    '',
    shapeLine('AddDisk', r.volumeShapes?.addDisk, false),
    shapeLine('CreateSnapshot', r.volumeShapes?.createSnapshot, true),
  ];
  for (const [name, p] of runs.slice(1)) {
    if (!p) continue;
    const history = Object.entries(p.history)
      .map(([type, h]) => `${type} ${h.events.p50} events (${h.sizeBytes.p50} bytes) p50`)
      .join(', ');
    const d = p.detection;
    out.push(
      '',
      `${name}: history ${history}; detection delay p50 / p95 ${d && d.tasks ? `${d.upperBoundS.p50} / ${d.upperBoundS.p95} s` : '–'}; VDSM calls ${JSON.stringify(p.vdsmCalls)}; worker peak RSS ${p.workerPeakRssMiB} MiB; CPU s worker ${cell(p.cpu.ovirtWorkers)}, server ${cell(p.cpu.temporalServer)}.`,
    );
    if (p.failures.length) out.push('', `Failures (${name}): ${p.failures.join('; ')}`);
  }
  return out;
}
