/** The history-length comparison: one RemoveImage step with a short task and one with a long task. */
import { childIds, submitRemoveVms, TYPES, waitForClosed, type Submission } from '../support/driver';
import { analyze, fetchEvents } from '../support/histories';
import { sleep } from '../support/stats';
import { setDurations, type Ctx } from '../run/context';
import { detection } from '../run/measures';
import type { HistoryCompareResult } from '../run/result';

/** Starts the long then the short single-image commands; they run while the baseline does. */
export async function startHistoryRuns(
  ctx: Ctx,
): Promise<{ long: Submission; short: Submission; since: number }> {
  const since = Date.now() - 200;
  const startOne = async (name: string, ms: number): Promise<Submission> => {
    const vm = ctx.vms.get(name)!;
    setDurations(ctx, { kind: 'fixed', ms });
    const [submission] = await submitRemoveVms(ctx.stack.client, ctx.stack.taskQueue, [vm.id]);
    const diskId = vm.diskIds[0]!;
    // The task's duration is drawn when VDSM accepts it: wait for it before changing durations.
    const deadline = Date.now() + 60_000;
    while (![...ctx.sampler.tasks.values()].some((t) => t.imageId === diskId)) {
      if (Date.now() > deadline) throw new Error(`the Image.delete task of ${name} never appeared`);
      await sleep(50);
    }
    return submission!;
  };
  const long = await startOne('hist-long', ctx.options.historyLongMs);
  const short = await startOne('hist-short', ctx.options.historyShortMs);
  setDurations(ctx, { kind: 'zero' });
  return { long, short, since };
}

export async function finishHistoryRuns(
  ctx: Ctx,
  started: { long: Submission; short: Submission; since: number },
): Promise<HistoryCompareResult> {
  const { client } = ctx.stack;
  await waitForClosed(client, {
    taskQueue: ctx.stack.taskQueue,
    type: TYPES.parent,
    since: started.since,
    ids: new Set([started.long.workflowId, started.short.workflowId]),
    deadlineMs: ctx.options.historyLongMs + 5 * 60_000,
  });
  const one = async (submission: Submission, name: string) => {
    const vm = ctx.vms.get(name)!;
    const [childId] = childIds(submission.workflowId, vm.diskIds);
    const description = await client.workflow.getHandle(childId!).describe();
    const facts = analyze(await fetchEvents(client, childId!));
    const d = detection(ctx, [{ facts }]);
    return {
      events: description.historyLength,
      sizeBytes: description.historySize ?? 0,
      detectionUpperS: d.tasks ? d.upperBoundS.max : null,
      activities: facts.activities.map((a) => a.type),
    };
  };
  const short = await one(started.short, 'hist-short');
  const long = await one(started.long, 'hist-long');
  return {
    shortTaskMs: ctx.options.historyShortMs,
    longTaskMs: ctx.options.historyLongMs,
    short,
    long,
    equalLength: short.events === long.events,
  };
}
