/**
 * RemoveVm under load: all commands submitted at once, throughput, latency, detection delay and
 * the steps' timelines; and the warm-up commands whose histories give the shape the baseline copies.
 */
import {
  childIds,
  countersOf,
  diffCounters,
  submitRemoveVms,
  totalCounts,
  TYPES,
  waitForClosed,
  type Submission,
} from '../support/driver';
import type { VmPlan } from '../support/fixtures';
import { analyze, fetchEvents, fetchMany, type Execution } from '../support/histories';
import { round, summarize } from '../support/stats';
import type { Duration } from '../../src/vdsm-sim/faults';
import {
  assertWorkersAlive,
  cpuMark,
  cpuUse,
  mib,
  peakWorkerRss,
  pollResults,
  setDurations,
  type Ctx,
} from '../run/context';
import {
  detection,
  failureReasons,
  historyByType,
  retriesOf,
  roundSummary,
  statusCounts,
  stepTimeline,
} from '../run/measures';
import type { BenchResult, CommandPhaseResult } from '../run/result';

export interface CommandRun {
  submissions: Submission[];
  parents: Map<string, Execution>;
  children: Execution[];
  startAt: number;
  endAt: number;
  counters: Record<string, number>;
  countersPerPool: ReturnType<typeof diffCounters>;
}

export async function runCommands(ctx: Ctx, vms: VmPlan[], deadlineMs: number): Promise<CommandRun> {
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

export async function commandPhase(
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
export async function warmup(ctx: Ctx, vms: VmPlan[]): Promise<BenchResult['shape']> {
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
