/** The bench's Markdown report (stdout). */
import type { BenchResult, CommandPhaseResult, PollResult, StepTimeline } from '../run/result';
import { renderHostJobSection } from '../scenarios/host-jobs';
import { renderVolumeSection } from './report-volume';
import type { Summary } from './stats';

const table = (header: string[], rows: Array<Array<string | number | null | undefined>>): string =>
  [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map((c) => (c === null || c === undefined ? '–' : String(c))).join(' | ')} |`),
  ].join('\n');

const pct = (s: Summary | undefined): string =>
  s && s.count ? `${s.p50} / ${s.p95} / ${s.p99} (max ${s.max})` : '–';

const yes = (met: boolean | null): string => (met === null ? 'n/a' : met ? '**met**' : '**MISSED**');

function pollRows(what: string, polls: PollResult[]): Array<Array<string | number | null>> {
  return polls.map((p) => [
    what,
    p.poolName,
    p.windowS,
    p.calls,
    p.perMinIntervalPerWorker,
    p.maxInAnyInterval,
    p.minGapMs,
    p.meanGapMs,
  ]);
}

export function renderReport(r: BenchResult): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`# ovirt-tasks bench — ${r.startedAt}`);
  out.push('');
  out.push(
    `Machine: ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, node ${m.node}, ${m.temporalCli}; load average at start ${m.loadAverageAtStart.join(' ')}. Run took ${r.elapsedS} s.`,
  );
  out.push(
    `Worker: ${r.options.workerBundle === 'prebuilt' ? 'EXPERIMENT — prebuilt-worker (product workflow bundle, memory after a full GC)' : '`node bin/ovirt-tasks worker` (loads lib/workflow-bundle.js)'}${Object.keys(r.options.workerEnv).length ? `, extra env ${JSON.stringify(r.options.workerEnv)}` : ''}. Engine: POLL_MIN ${r.engine.pollMinMs} ms, POLL_MAX ${r.engine.pollMaxMs} ms, backoff ${r.engine.pollBackoff}, fast phase ${r.engine.pollFastPhaseMs} ms, MAX_CONCURRENT_IMAGES ${r.engine.window}; ${r.options.workers} worker process(es).`,
  );
  out.push(
    `Shape (from a real history): RemoveVm runs ${r.shape.parentActivitiesBefore} activities before its children and ${r.shape.parentActivitiesAfter} after; a RemoveImage step runs ${r.shape.childActivities} (${r.shape.childActivityTypes.join(', ')}) and ${r.shape.childLocalActivities} local activities; the baseline copies that shape with no-ops.`,
  );
  out.push('');
  out.push('## Targets');
  out.push('');
  out.push(
    table(
      ['target', 'measured', 'result'],
      r.targets.map((t) => [t.target, t.measured + (t.note ? ` (${t.note})` : ''), yes(t.met)]),
    ),
  );

  const phases = [r.phases.zero, r.phases.realistic].filter((p): p is CommandPhaseResult => p !== undefined);
  out.push('');
  out.push('## Throughput and latency');
  out.push('');
  const rows: Array<Array<string | number | null>> = phases.map((p) => [
    `ovirt-tasks ${p.label}`,
    p.durations,
    p.commands,
    p.images,
    p.elapsedS,
    p.commandsPerS,
    p.imagesPerS,
    pct(p.latencyS),
    JSON.stringify(p.statuses),
  ]);
  const b = r.phases.baseline;
  if (b) {
    rows.push([
      'Temporal baseline (no-op, same shape)',
      'zero',
      b.commands,
      b.commands * b.childrenPerCommand,
      b.elapsedS,
      b.commandsPerS,
      b.childrenPerS,
      pct(b.latencyS),
      '',
    ]);
  }
  out.push(
    table(
      [
        'run',
        'task durations',
        'commands',
        'images',
        'elapsed s',
        'commands/s',
        'images/s',
        'latency s p50 / p95 / p99',
        'outcomes',
      ],
      rows,
    ),
  );
  for (const p of phases)
    if (p.failures.length) out.push('', `Failures (${p.label}): ${p.failures.join('; ')}`);
  for (const p of phases) {
    const retried = Object.entries(p.retries);
    out.push(
      '',
      `Activity retries (${p.label}): ${retried.length ? retried.map(([t, x]) => `${t} ${x.retried}× (max attempt ${x.maxAttempt})`).join(', ') : 'none'}.`,
    );
  }

  out.push(...renderVolumeSection(r));
  out.push(...renderHostJobSection(r.phases.hostJobs));

  out.push('');
  out.push('## Detection delay (VDSM task ended → waitForTaskEnd completed in history)');
  out.push('');
  const detRows = phases
    .filter((p) => p.detection)
    .map((p) => [
      p.label,
      p.detection!.tasks,
      p.detection!.unmatched,
      pct(p.detection!.upperBoundS),
      pct(p.detection!.lowerBoundS),
      pct(p.detection!.fromWaitingUpperS),
      `${p.detection!.sampleSpacingMs.p50} / ${p.detection!.sampleSpacingMs.p95}`,
    ]);
  const h = r.phases.history;
  if (h) {
    detRows.push([
      `single ${h.shortTaskMs / 1000} s task`,
      1,
      0,
      `${h.short.detectionUpperS ?? '–'}`,
      '',
      '',
      '',
    ]);
    detRows.push([
      `single ${h.longTaskMs / 1000} s task`,
      1,
      0,
      `${h.long.detectionUpperS ?? '–'}`,
      '',
      '',
      '',
    ]);
  }
  out.push(
    table(
      [
        'run',
        'tasks',
        'unmatched',
        'upper bound s p50 / p95 / p99 (max)',
        'lower bound s',
        'from when the step began waiting, upper bound s',
        'sample spacing ms p50 / p95',
      ],
      detRows,
    ),
  );

  out.push('');
  out.push('## Where a step spends its time (from histories; s p50 / p95)');
  out.push('');
  const timelines: Array<[string, StepTimeline]> = phases.map((p) => [
    `RemoveImage, ${p.label}`,
    p.stepTimeline,
  ]);
  if (b) timelines.push(['baseline child', b.stepTimeline]);
  const segments = [...new Set(timelines.flatMap(([, t]) => Object.keys(t)))];
  out.push(
    table(
      ['segment', ...timelines.map(([name]) => name)],
      segments.map((seg) => [
        seg,
        ...timelines.map(([, t]) => (t[seg] ? `${t[seg].p50} / ${t[seg].p95}` : '–')),
      ]),
    ),
  );

  out.push('');
  out.push('## CPU seconds used during each run (whole machine is shared)');
  out.push('');
  const cpuRows: Array<Array<string | number | null>> = phases.map((p) => [
    `ovirt-tasks ${p.label}`,
    p.cpu.wallS,
    p.cpu.ovirtWorkers,
    p.cpu.temporalServer,
    p.cpu.benchProcess,
    p.cpu.ovirtWorkers === null ? null : Math.round((p.cpu.ovirtWorkers / p.images) * 1000),
  ]);
  if (b) {
    cpuRows.push([
      'baseline',
      b.cpu.wallS,
      b.cpu.baselineWorker,
      b.cpu.temporalServer,
      b.cpu.benchProcess,
      b.cpu.baselineWorker === null
        ? null
        : Math.round((b.cpu.baselineWorker / (b.commands * b.childrenPerCommand)) * 1000),
    ]);
  }
  out.push(
    table(
      [
        'run',
        'wall s',
        'worker CPU s',
        'Temporal server CPU s',
        'bench + simulator CPU s',
        'worker CPU ms per image',
      ],
      cpuRows,
    ),
  );

  out.push('');
  out.push('## History events per workflow type');
  out.push('');
  const histRows: Array<Array<string | number>> = [];
  for (const p of phases) {
    for (const [type, s] of Object.entries(p.history)) {
      histRows.push([
        p.label,
        type,
        s.count,
        `${s.events.min} / ${s.events.p50} / ${s.events.max}`,
        `${s.sizeBytes.p50} / ${s.sizeBytes.max}`,
      ]);
    }
  }
  if (b) {
    for (const [type, s] of Object.entries(b.history)) {
      histRows.push([
        'baseline',
        type,
        s.count,
        `${s.events.min} / ${s.events.p50} / ${s.events.max}`,
        `${s.sizeBytes.p50} / ${s.sizeBytes.max}`,
      ]);
    }
  }
  out.push(table(['run', 'type', 'executions', 'events min / p50 / max', 'bytes p50 / max'], histRows));
  if (h) {
    out.push('');
    out.push(
      `RemoveImage with a ${h.shortTaskMs / 1000} s task: ${h.short.events} events (${h.short.sizeBytes} bytes); with a ${h.longTaskMs / 1000} s task: ${h.long.events} events (${h.long.sizeBytes} bytes) — ${h.equalLength ? 'same length' : 'DIFFERENT length'}.`,
    );
  }

  const pe = r.shape.parentEventTypes;
  const ce = r.shape.childEventTypes;
  if (pe && ce) {
    out.push('');
    out.push(
      `Event types of one RemoveVm (${r.options.images} images) and one RemoveImage, against the baseline's:`,
    );
    out.push('');
    const types = [
      ...new Set([
        ...Object.keys(pe),
        ...Object.keys(ce),
        ...Object.keys(b?.parentEventTypes ?? {}),
        ...Object.keys(b?.childEventTypes ?? {}),
      ]),
    ].sort();
    const sum = (x: Record<string, number> | undefined): number | null =>
      x ? Object.values(x).reduce((a, c) => a + c, 0) : null;
    out.push(
      table(
        ['event type', 'RemoveVm', 'baseline parent', 'RemoveImage', 'baseline child'],
        [
          ...types.map((t) => [
            t,
            pe[t] ?? 0,
            b?.parentEventTypes[t] ?? 0,
            ce[t] ?? 0,
            b?.childEventTypes[t] ?? 0,
          ]),
          ['total', sum(pe), sum(b?.parentEventTypes), sum(ce), sum(b?.childEventTypes)],
        ],
      ),
    );
  }

  out.push('');
  out.push('## VDSM calls per verb (all pools)');
  out.push('');
  const verbs = [...new Set(phases.flatMap((p) => Object.keys(p.vdsmCalls)))].sort();
  out.push(
    table(
      ['verb', ...phases.map((p) => `${p.label} (${p.images} images)`)],
      verbs.map((v) => [v, ...phases.map((p) => p.vdsmCalls[v] ?? 0)]),
    ),
  );

  out.push('');
  out.push('## Host.getAllTasksStatuses per pool per poll interval');
  out.push('');
  const polls: Array<Array<string | number | null>> = [];
  for (const p of phases) polls.push(...pollRows(p.label, p.statusPolls));
  for (const l of r.phases.inflight?.levels ?? []) {
    polls.push(...pollRows(`${l.tasksInFlight} in flight: ramp (${l.rampS} s)`, l.ramp));
    polls.push(...pollRows(`${l.tasksInFlight} in flight: window`, l.window));
  }
  out.push(
    table(
      [
        'when',
        'pool',
        'window s',
        'calls',
        `calls ÷ (window ÷ ${r.engine.pollMinMs} ms) ÷ workers`,
        `most calls in any ${r.engine.pollMinMs} ms`,
        'min gap ms',
        'mean gap ms',
      ],
      polls,
    ),
  );
  const inflight = r.phases.inflight;
  if (inflight) {
    out.push('');
    out.push('## Tasks in flight: worker memory and VDSM calls');
    out.push('');
    out.push(
      table(
        [
          'tasks in flight',
          'per pool',
          'worker peak RSS MiB (window)',
          'after a full GC: heap used / heap total / external / RSS MiB',
          'VDSM calls in the window',
        ],
        inflight.levels.map((l) => [
          l.tasksInFlight,
          JSON.stringify(l.perPool),
          l.workerPeakRssMiB,
          l.memoryAfterGcMiB
            ? `${l.memoryAfterGcMiB.heapUsed} / ${l.memoryAfterGcMiB.heapTotal} / ${l.memoryAfterGcMiB.external} / ${l.memoryAfterGcMiB.rss}`
            : 'n/a (product worker)',
          JSON.stringify(l.vdsmCallsInWindow),
        ]),
      ),
    );
    out.push('');
    out.push(
      `Drain: ${inflight.drain.commands} commands cancelled, all closed in ${inflight.drain.elapsedS} s (${JSON.stringify(inflight.drain.statuses)}).`,
    );
  }

  const s = r.phases.scale;
  if (s) {
    out.push('');
    out.push('## Scale');
    out.push('');
    if (s.bigVm) {
      out.push(
        `One RemoveVm of ${s.bigVm.images} images: ${s.bigVm.status} in ${s.bigVm.elapsedS} s; parent history ${s.bigVm.parentEvents} events, ${s.bigVm.parentSizeBytes} bytes, ${s.bigVm.signalsReceived} signals; at most ${s.bigVm.maxPendingChildren} pending children and ${s.bigVm.maxPendingActivities} pending activities; steps ${s.bigVm.childEvents.min}–${s.bigVm.childEvents.max} events; worker peak RSS ${s.bigVm.workerPeakRssMiB} MiB.`,
      );
    }
    const retries = (r: Record<string, { retried: number; maxAttempt: number }>): string =>
      Object.entries(r)
        .map(([t, x]) => `${t} ${x.retried}× (max attempt ${x.maxAttempt})`)
        .join(', ') || 'none';
    if (s.bigVm) out.push('', `Sampled step retries (big VM): ${retries(s.bigVm.stepRetries)}.`);
    if (s.batch) {
      out.push('');
      out.push(
        `Batch of ${s.batch.vms} RemoveVm × ${s.batch.imagesPerVm} images (${s.batch.images} images): ${JSON.stringify(s.batch.statuses)} in ${s.batch.elapsedS} s (${s.batch.commandsPerS} commands/s, ${s.batch.imagesPerS} images/s); latency s p50/p95/p99 ${pct(s.batch.latencyS)}; largest history ${s.batch.largestHistory.type} ${s.batch.largestHistory.events} events / ${s.batch.largestHistory.sizeBytes} bytes; max pending children ${s.batch.maxPendingChildren}; worker peak RSS ${s.batch.workerPeakRssMiB} MiB.`,
      );
      if (s.batch.failures.length) out.push('', `Failures: ${s.batch.failures.join('; ')}`);
      out.push('', `Sampled step retries (batch): ${retries(s.batch.stepRetries)}.`);
      const segs = Object.entries(s.batch.stepTimeline)
        .map(([k, v]) => `${k} ${v.p50}/${v.p95}`)
        .join('; ');
      out.push('', `Sampled step timeline (batch, s p50/p95): ${segs}.`);
    }
    out.push('');
    out.push(
      `Server limit warnings in its log: ${s.serverWarnings.length ? s.serverWarnings.join('\n') : 'none'}`,
    );
  }

  out.push('');
  out.push('## Worker processes');
  out.push('');
  out.push(
    table(
      ['process', 'ready after s', 'VmHWM MiB (lifetime peak)', 'exit'],
      r.workers.map((w) => [w.name, w.readyAfterS, w.peakHwmMiB, w.exit ?? 'stopped by the bench']),
    ),
  );
  const rss = phases.map((p) => `${p.label} ${p.workerPeakRssMiB} MiB`);
  if (b) rss.push(`baseline ${b.workerPeakRssMiB} MiB`);
  out.push('');
  out.push(`Peak VmRSS during runs: ${rss.join(', ')}.`);
  return out.join('\n');
}
