/**
 * AddDisk and cold CreateSnapshot under load, measured as RemoveVm is: every command submitted at
 * once (16 start RPCs at a time), zero-length Volume.create tasks, throughput = count ÷ (last close
 * − first submission), latency, detection delay, step timelines. Warm-up commands give the shape
 * each one's baseline copies: AddDisk = parent + 1 child; CreateSnapshot = parent + one child per
 * disk, all at once, each waiting for the parent's verdict before its end (bench/baseline/).
 */
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { AddDiskInput, CreateSnapshotInput } from '../../src/shared/commands';
import { workflowIds, WorkflowType } from '../../src/shared/names';
import type { BaselineParentInput } from '../baseline/workflows';
import { countersOf, diffCounters, totalCounts, waitForClosed, withRetry } from '../support/driver';
import type { VmPlan } from '../support/fixtures';
import { analyze, fetchEvents, fetchMany, listExecutions, type Execution } from '../support/histories';
import { mapLimit, round, summarize } from '../support/stats';
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
import type { CommandPhaseResult, CommandShape } from '../run/result';

export type VolumeCommand = 'AddDisk' | 'CreateSnapshot';

const TYPES: Record<VolumeCommand, { parent: string; child: string }> = {
  AddDisk: { parent: WorkflowType.addDisk, child: WorkflowType.addImageFromScratch },
  CreateSnapshot: { parent: WorkflowType.createSnapshot, child: WorkflowType.createSnapshotDisk },
};

/** What each command of a run works on: AddDisk a domain (floating disks), CreateSnapshot a Down VM. */
export type VolumeTarget = { domainId: string } | { vm: VmPlan };

interface Started {
  workflowId: string;
  submitAt: number;
}

async function start(ctx: Ctx, kind: VolumeCommand, target: VolumeTarget, i: number): Promise<Started> {
  const commandId = randomUUID();
  const [workflowId, args]: [string, [AddDiskInput] | [CreateSnapshotInput]] =
    'domainId' in target
      ? [
          workflowIds.addDisk(commandId),
          [
            {
              domainId: target.domainId,
              sizeBytes: 1024 ** 3,
              alias: `bench-added-${i}-${commandId.slice(0, 8)}`,
              vmId: null,
              sparse: true,
              wipeAfterDelete: false,
              commandId,
            },
          ],
        ]
      : [
          workflowIds.createSnapshot(commandId),
          [{ vmId: target.vm.id, description: `bench ${i}`, commandId }],
        ];
  const submitAt = Date.now();
  await withRetry(async () => {
    try {
      await ctx.stack.client.workflow.start(TYPES[kind].parent, {
        taskQueue: ctx.stack.taskQueue,
        workflowId,
        args,
      });
    } catch (err) {
      // A retried start whose first answer was lost: the command is running.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  });
  return { workflowId, submitAt };
}

interface VolumeRun {
  started: Started[];
  parents: Map<string, Execution>;
  children: Execution[];
  startAt: number;
  endAt: number;
  counters: Record<string, number>;
}

async function runVolumeCommands(ctx: Ctx, kind: VolumeCommand, targets: VolumeTarget[]): Promise<VolumeRun> {
  const { client, taskQueue } = ctx.stack;
  const since = Date.now() - 200;
  const before = countersOf(ctx.stack.sims);
  const started = await mapLimit(
    targets.map((t, i) => [t, i] as const),
    16,
    ([t, i]) => start(ctx, kind, t, i),
  );
  const parents = await waitForClosed(client, {
    taskQueue,
    type: TYPES[kind].parent,
    since,
    ids: new Set(started.map((s) => s.workflowId)),
    deadlineMs: 30 * 60_000,
    onWait: (running) => {
      assertWorkersAlive(ctx);
      ctx.log(`  ... ${running} ${kind} still running`);
    },
  });
  const endAt = Date.now();
  const counters = totalCounts(diffCounters(before, countersOf(ctx.stack.sims)));
  // Steps' ids embed ids the workflow chose: found by type and parent id prefix.
  const prefixes = started.map((s) => `${s.workflowId}/`);
  const children = (
    await listExecutions(
      client,
      taskQueue,
      `WorkflowType = '${TYPES[kind].child}' AND StartTime >= '${new Date(since).toISOString()}'`,
    )
  ).filter((c) => prefixes.some((p) => c.workflowId.startsWith(p)));
  return {
    started,
    parents,
    children,
    startAt: Math.min(...started.map((s) => s.submitAt)),
    endAt,
    counters,
  };
}

/** Warm-up commands of one kind; a succeeded one's history gives the shape its baseline copies. */
export async function volumeWarmup(
  ctx: Ctx,
  kind: VolumeCommand,
  targets: VolumeTarget[],
): Promise<CommandShape> {
  setDurations(ctx, { kind: 'zero' });
  ctx.log(`warm-up: ${targets.length} ${kind}`);
  const run = await runVolumeCommands(ctx, kind, targets);
  const parent = [...run.parents.values()].find((e) => e.status === 'COMPLETED');
  if (!parent)
    throw new Error(`no warm-up ${kind} succeeded: ${JSON.stringify(statusCounts(run.parents.values()))}`);
  const parentFacts = analyze(await fetchEvents(ctx.stack.client, parent.workflowId, parent.runId));
  const child = run.children.find((c) => c.workflowId.startsWith(`${parent.workflowId}/`));
  if (!child) throw new Error(`no step of the warm-up ${kind} found`);
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

/** The baseline input that mirrors a command's shape. */
export function baselineShapeOf(
  kind: VolumeCommand,
  shape: CommandShape,
  childrenPerCommand: number,
): BaselineParentInput {
  return {
    children: childrenPerCommand,
    activitiesBefore: shape.parentActivitiesBefore,
    activitiesAfter: shape.parentActivitiesAfter,
    childActivities: shape.childActivities,
    childLocalActivities: shape.childLocalActivities,
    window: childrenPerCommand,
    group: kind === 'CreateSnapshot',
  };
}

export async function volumePhase(
  ctx: Ctx,
  kind: VolumeCommand,
  targets: VolumeTarget[],
): Promise<CommandPhaseResult> {
  setDurations(ctx, { kind: 'zero' });
  const disks = targets.reduce((n, t) => n + ('vm' in t ? t.vm.diskIds.length : 1), 0);
  ctx.log(`${kind}: ${targets.length} commands, ${disks} new volumes, zero-length tasks`);
  const cpuBefore = cpuMark(ctx);
  const run = await runVolumeCommands(ctx, kind, targets);
  const cpuAfter = cpuMark(ctx);
  const lastClose = Math.max(...[...run.parents.values()].map((e) => e.closeTime ?? run.endAt));
  const elapsedS = (lastClose - run.startAt) / 1000;
  const latency = run.started.map(
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
    label: kind,
    durations: 'zero',
    commands: run.started.length,
    images,
    elapsedS: round(elapsedS, 2),
    commandsPerS: round(run.started.length / elapsedS, 2),
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
