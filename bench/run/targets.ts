/** The targets of the project, judged on a run's figures (met: true, false, or null when not evaluated). */
import { hostJobTargets } from '../scenarios/host-jobs';
import { TYPES } from '../support/driver';
import { round } from '../support/stats';
import { MiB } from './context';
import type { BenchResult, DetectionResult, PollResult, TargetResult } from './result';

export function evaluateTargets(result: BenchResult): TargetResult[] {
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
    // Since issue 13 the workers share one poller per pool: the bound is 1 whatever their number.
    targets.push({
      target:
        '≤ 1 Host.getAllTasksStatuses per pool per poll interval across all workers, at any number of tasks in flight',
      measured: `at most ${worstInterval} call(s) of a pool within any ${engine.pollMinMs} ms (${workers} worker${workers > 1 ? 's' : ''}); smallest gap ${minGap ?? 'n/a'} ms; highest average ${round(worstRate * workers, 3)} per interval (all workers); ${pollSets.length} windows up to ${Math.max(0, ...(phases.inflight?.levels ?? []).map((l) => l.tasksInFlight))} tasks in flight`,
      met: worstInterval <= 1,
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
  if (phases.zero) {
    // Besides the shared status polls, the engine sends Image.delete and Task.clear per image.
    const calls = phases.zero.vdsmCalls;
    const perImage =
      Object.entries(calls)
        .filter(([verb]) => verb !== 'Host.getAllTasksStatuses')
        .reduce((n, [, c]) => n + c, 0) / Math.max(1, phases.zero.images);
    targets.push({
      target: 'VDSM calls per removed image besides the status polls ≤ 2 (Image.delete, Task.clear)',
      measured: `${round(perImage, 3)} per image (${Object.entries(calls)
        .map(([verb, c]) => `${verb} ${c}`)
        .join(', ')}; ${phases.zero.images} images)`,
      met: perImage <= 2,
    });
    const events = phases.zero.history[TYPES.child]?.events;
    if (events)
      targets.push({
        target: 'RemoveImage history events ≤ baseline child (19) + 4',
        measured: `${events.p50} p50, ${events.max} max (a workflow task retried under load adds 3)`,
        met: events.p50 <= 23,
      });
  }
  if (phases.zero && phases.baseline) {
    const ratio = phases.zero.imagesPerS / phases.baseline.childrenPerS;
    const workers = result.options.workers;
    targets.push({
      target: 'throughput ≥ 0.85 × same-shape Temporal baseline',
      measured: `${phases.zero.imagesPerS} images/s vs ${phases.baseline.childrenPerS} children/s = ${round(ratio, 2)} ×${workers > 1 ? ` (${round(phases.zero.imagesPerS / workers, 2)} images/s per worker, ${workers} workers)` : ''}`,
      met: ratio >= 0.85,
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
  targets.push(...hostJobTargets(phases.hostJobs));
  return targets;
}
