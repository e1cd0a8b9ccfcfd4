/** The scale runs: one RemoveVm of a very large VM, and a large batch of RemoveVm submitted at once. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VmPlan } from '../support/fixtures';
import { analyze, fetchEvents, fetchMany, type Execution } from '../support/histories';
import { round, summarize } from '../support/stats';
import { mib, peakWorkerRss, setDurations, type Ctx } from '../run/context';
import { failureReasons, retriesOf, roundSummary, statusCounts, stepTimeline } from '../run/measures';
import type { ScaleResult } from '../run/result';
import { runCommands } from './remove-vm';

export function serverWarnings(ctx: Ctx): string[] {
  try {
    const text = readFileSync(join(ctx.stack.dir, 'temporal.log'), 'utf8');
    const lines = text.split('\n').filter((l) => /exceeds (the )?(warn|warning|error) limit/i.test(l));
    return lines.slice(0, 20).map((l) => l.slice(0, 400));
  } catch {
    return [];
  }
}

/** Retries and timeline of at most 300 evenly picked steps. */
export async function sampledSteps(ctx: Ctx, children: Execution[]) {
  const every = Math.max(1, Math.floor(children.length / 300));
  const facts = await fetchMany(
    ctx.stack.client,
    children.filter((_, i) => i % every === 0),
    8,
  );
  return { stepRetries: retriesOf(facts), stepTimeline: stepTimeline(facts) };
}

export async function scalePhase(ctx: Ctx, bigVm: VmPlan, batch: VmPlan[]): Promise<ScaleResult> {
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
