/**
 * The same-shape baseline of RemoveVm: a parent with one child per image running no-op activities
 * (bench/baseline/), in its own worker process on its own task queue, same server, same run.
 */
import { join } from 'node:path';
import type { BaselineParentInput } from '../baseline/workflows';
import { BASELINE_READY_LINE } from '../baseline/worker';
import { waitForClosed, withRetry } from '../support/driver';
import { analyze, fetchEvents, fetchMany, listExecutions } from '../support/histories';
import { mapLimit, round, summarize } from '../support/stats';
import { workerEnvironment, WorkerProcess } from '../support/worker-process';
import { cpuMark, cpuUse, mib, type Ctx } from '../run/context';
import { historyByType, roundSummary, stepTimeline } from '../run/measures';
import type { BaselineResult } from '../run/result';

export async function startBaselineWorker(ctx: Ctx): Promise<WorkerProcess> {
  const script = join(__dirname, '..', 'baseline', 'worker.js');
  return WorkerProcess.start({
    name: 'baseline-worker',
    args: [script],
    env: workerEnvironment({
      TEMPORAL_ADDRESS: ctx.stack.address,
      TEMPORAL_NAMESPACE: 'default',
      BASELINE_TASK_QUEUE: ctx.baselineQueue,
      ...ctx.baselineEnv,
    }),
    logFile: join(ctx.stack.dir, 'baseline-worker.log'),
    readyLine: BASELINE_READY_LINE,
  });
}

export async function baselineRun(ctx: Ctx, label: string, commands: number, shape: BaselineParentInput) {
  const { client } = ctx.stack;
  const since = Date.now() - 200;
  const submissions = await mapLimit(
    Array.from({ length: commands }, (_, i) => i),
    16,
    async (i) => {
      const workflowId = `baseline/${label}/${i}`;
      const submitAt = Date.now();
      await withRetry(() =>
        client.workflow.start('baselineParent', { taskQueue: ctx.baselineQueue, workflowId, args: [shape] }),
      );
      return { workflowId, submitAt };
    },
  );
  const parents = await waitForClosed(client, {
    taskQueue: ctx.baselineQueue,
    type: 'baselineParent',
    since,
    ids: new Set(submissions.map((s) => s.workflowId)),
    deadlineMs: 30 * 60_000,
  });
  return { submissions, parents, since };
}

/** Which baseline run: RemoveVm's is `measured` after `warmup`, with the bench's command counts. */
export interface BaselineRunPlan {
  label: string;
  commands: number;
  warmup: number;
}

export async function baselinePhase(
  ctx: Ctx,
  shape: BaselineParentInput,
  plan: BaselineRunPlan = { label: 'measured', commands: ctx.options.commands, warmup: ctx.options.warmup },
): Promise<BaselineResult> {
  const worker = ctx.baselineWorker!;
  ctx.log(
    `baseline${plan.label === 'measured' ? '' : ` (${plan.label})`}: warm-up ${plan.warmup}, then ${plan.commands} parents × ${shape.children} children${shape.group ? ' (group)' : ''}`,
  );
  if (plan.warmup > 0)
    await baselineRun(ctx, plan.label === 'measured' ? 'warmup' : `${plan.label}-warmup`, plan.warmup, shape);
  const cpuBefore = cpuMark(ctx);
  const { submissions, parents, since } = await baselineRun(ctx, plan.label, plan.commands, shape);
  const cpuAfter = cpuMark(ctx);
  const startAt = Math.min(...submissions.map((s) => s.submitAt));
  const lastClose = Math.max(...[...parents.values()].map((e) => e.closeTime ?? Date.now()));
  const elapsedS = (lastClose - startAt) / 1000;
  const children = await listExecutions(
    ctx.stack.client,
    ctx.baselineQueue,
    `WorkflowType = 'baselineChild' AND StartTime >= '${new Date(since).toISOString()}'`,
  );
  worker.sampleNow();
  // The same breakdown as the steps', from a sample of the children.
  const sample = children.filter((_, i) => i % Math.max(1, Math.floor(children.length / 200)) === 0);
  const childFacts = await fetchMany(ctx.stack.client, sample, 8);
  return {
    commands: submissions.length,
    childrenPerCommand: shape.children,
    shape,
    elapsedS: round(elapsedS, 2),
    commandsPerS: round(submissions.length / elapsedS, 2),
    childrenPerS: round((submissions.length * shape.children) / elapsedS, 2),
    latencyS: roundSummary(
      summarize(
        submissions.map((s) => ((parents.get(s.workflowId)?.closeTime ?? lastClose) - s.submitAt) / 1000),
      ),
    ),
    history: historyByType([...parents.values(), ...children]),
    workerPeakRssMiB: mib(worker.peakRss(startAt, lastClose)),
    stepTimeline: stepTimeline(childFacts),
    cpu: cpuUse(cpuBefore, cpuAfter),
    parentEventTypes: analyze(await fetchEvents(ctx.stack.client, submissions[0]!.workflowId)).eventTypes,
    childEventTypes: childFacts[0]?.facts.eventTypes ?? {},
  };
}
