/**
 * The invariants every command kind shares, checked once a scenario's commands closed: closed and
 * typed outcomes, one task per step (from the steps' histories against the simulator's samples),
 * no lock left, RemoveVm's disks agreeing with storage, and every SPM task cleared. The chain and
 * group checks of the volume-making commands are in volume-checks.ts.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType, type IllegalDisksDetails } from '../../src/shared/errors';
import { scheduleIds, WorkflowType } from '../../src/shared/names';
import { childIds, withRetry } from '../support/driver';
import { analyze, childWorkflowIds, fetchEvents, type Execution } from '../support/histories';
import type { Stack } from '../support/stack';
import { mapLimit, sleep } from '../support/stats';
import type { TaskSampler } from '../support/task-sampler';
import type { ChaosCommand } from './commands';
import { poolOf, type ChaosOptions, type InvariantName, type Violation } from './types';

export type AddViolation = (invariant: InvariantName, detail: string) => void;

export interface Outcome {
  ok: boolean;
  completed: boolean;
  label: string;
  failure?: ApplicationFailure;
  /** A COMPLETED command's result. */
  result?: unknown;
}

/** A command and how it closed (undefined: it did not close). */
export interface Closed {
  command: ChaosCommand;
  outcome: Outcome | undefined;
}

async function commandOutcome(stack: Stack, e: Execution): Promise<Outcome> {
  if (e.status !== 'COMPLETED' && e.status !== 'FAILED')
    return { ok: false, completed: false, label: e.status };
  try {
    const result = await withRetry(() => stack.client.workflow.getHandle(e.workflowId, e.runId).result());
    if (e.status === 'COMPLETED') return { ok: true, completed: true, label: 'succeeded', result };
    return { ok: false, completed: false, label: 'FAILED without a failure' };
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure) {
      const known = (Object.values(ErrorType) as string[]).includes(err.cause.type ?? '');
      return {
        ok: known && Boolean(err.cause.message),
        completed: false,
        label: `failed: ${err.cause.type ?? 'untyped'}`,
        failure: err.cause,
      };
    }
    return {
      ok: false,
      completed: false,
      label: `failed untyped: ${String((err as Error).message).slice(0, 100)}`,
    };
  }
}

/** closed + typedOutcome; counts outcomes per kind ("CreateSnapshot failed: GroupFailed"). */
export async function checkOutcomes(
  stack: Stack,
  commands: ChaosCommand[],
  closed: Map<string, Execution> | undefined,
  add: AddViolation,
  outcomes: Record<string, number>,
): Promise<Closed[]> {
  return mapLimit(commands, 4, async (command) => {
    const e = closed?.get(command.workflowId);
    if (!e || e.status === 'RUNNING') {
      add('closed', `${command.workflowId} still running`);
      return { command, outcome: undefined };
    }
    const outcome = await commandOutcome(stack, e);
    const key = `${command.kind} ${outcome.label}`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
    if (!outcome.ok) add('typedOutcome', `${command.workflowId}: ${outcome.label}`);
    return { command, outcome };
  });
}

/** The step workflows a command started: RemoveVm's by their deterministic ids, others' from its history. */
async function stepIdsOf(stack: Stack, command: ChaosCommand): Promise<string[]> {
  if (command.kind === 'RemoveVm') return childIds(command.workflowId, command.vm.diskIds);
  try {
    return childWorkflowIds(await withRetry(() => fetchEvents(stack.client, command.workflowId), 5));
  } catch {
    return [];
  }
}

const isSuccess = (r: unknown): boolean => {
  const s = r as { taskState?: string; taskResult?: string } | undefined;
  return s?.taskState === 'finished' && s.taskResult === 'success';
};

/**
 * From every step's history: the task its start got (one at most: noDuplicateTasks), and for a
 * step of a failed CreateSnapshot, that a task which finished with success was reverted. Then every
 * deleteImage / createVolume task the simulator showed since the scenario began must be a step's.
 */
export async function checkStepTasks(
  stack: Stack,
  sampler: TaskSampler,
  closed: Closed[],
  since: number,
  add: AddViolation,
  violations: Violation[],
): Promise<void> {
  const deleteStepTask = new Map<string, string>();
  /** Image → the task VDSM's recovery rolled back and its step replaced (audited by the step). */
  const restartedTask = new Map<string, string>();
  const restarts = new Map(
    (await stack.inventory.listAudit({ type: 'DELETE_IMAGE_GROUP_TASK_RESTARTED_AFTER_RECOVERY' })).map(
      (a) => [a.correlationId, a],
    ),
  );
  const owned = new Set<string>();
  /** How each RemoveImage step's start ended, for diagnosing a task it does not own. */
  const stepStart = new Map<string, string>();
  await mapLimit(closed, 4, async ({ command, outcome }) => {
    const groupFailed = command.kind === 'CreateSnapshot' && outcome !== undefined && !outcome.completed;
    for (const stepId of await stepIdsOf(stack, command)) {
      const imageId = stepId.split('/').at(-1)!;
      let events;
      try {
        events = await withRetry(() => fetchEvents(stack.client, stepId), 5);
      } catch {
        continue; // never started (the command failed first)
      }
      const activities = analyze(events).activities;
      const starts = activities.filter((a) => a.type === 'startSpmTask');
      const ids = new Set(
        starts
          .filter((a) => a.outcome === 'completed')
          .map((a) => a.result as { kind?: string; vdsmTaskId?: string })
          .filter((r) => r.kind === 'started')
          .map((r) => r.vdsmTaskId!),
      );
      // A step starts a second task only after VDSM's recovery rolled its first back, and audits it.
      const restart = restarts.get(stepId);
      const lost = restart ? [...ids].find((id) => restart.entityIds.includes(id)) : undefined;
      if (ids.size > (lost ? 2 : 1)) add('noDuplicateTasks', `step ${stepId} started ${ids.size} tasks`);
      for (const id of ids) owned.add(id);
      if (command.kind === 'RemoveVm') {
        const id = [...ids].filter((i) => i !== lost).at(-1);
        if (id) deleteStepTask.set(imageId, id);
        if (lost) restartedTask.set(imageId, lost);
        stepStart.set(
          imageId,
          starts
            .map((a) => {
              const r = a.result as { kind?: string; vdsmMessage?: string } | undefined;
              return `startSpmTask ${a.outcome} on attempt ${a.attempt}${a.failure ? ` (${a.failure})` : ''}${r?.kind ? ` → ${r.kind}${r.vdsmMessage ? ` (${r.vdsmMessage})` : ''}` : ''}`;
            })
            .join('; ') || 'no startSpmTask',
        );
      }
      if (groupFailed) {
        const firstEnd = activities.find((a) => a.type === 'waitForTaskEnd' && a.outcome === 'completed');
        const reverted = activities.some((a) => a.type === 'revertTask' && a.outcome === 'completed');
        if (isSuccess(firstEnd?.result) && !reverted) {
          add('groupReverted', `${stepId}: its task finished with success and was never reverted`);
        }
      }
    }
  });

  const poolId = poolOf(stack);
  const removeVmDisks = new Set(
    closed.filter((c) => c.command.kind === 'RemoveVm').flatMap((c) => c.command.vm.diskIds),
  );
  const janitorClears = await stack.inventory.listAudit({ type: 'TASK_CLEARING_ASYNC_TASK' });
  for (const v of checkDeleteTasks(sampler, poolId, removeVmDisks, deleteStepTask, since, restartedTask)) {
    // Say what the step did and whether the janitor took the task.
    const diskId = [...removeVmDisks].find((d) => v.detail.includes(d));
    const taskId = /task ([0-9a-f-]{36})/.exec(v.detail)?.[1];
    const cleared = janitorClears.find((a) => taskId !== undefined && a.entityIds.includes(taskId));
    const sampled = taskId ? sampler.tasks.get(taskId) : undefined;
    violations.push({
      ...v,
      detail: `${v.detail}; step: ${diskId ? (stepStart.get(diskId) ?? 'not started') : '?'}; task first seen at +${sampled ? Math.round((sampled.firstSeenAt - since) / 100) / 10 : '?'} s, ended ${sampled?.endedBy ? `at +${Math.round((sampled.endedBy - since) / 100) / 10} s (${sampled.state})` : 'never seen'}${cleared ? `; janitor: ${cleared.time} ${cleared.message}` : ''}`,
    });
  }
  for (const t of sampler.tasks.values()) {
    if (t.verb === 'createVolume' && t.poolId === poolId && t.firstSeenAt >= since && !owned.has(t.id)) {
      const cleared = janitorClears.find((a) => a.entityIds.includes(t.id));
      add(
        'noOrphanTasks',
        `createVolume task ${t.id} is owned by no step (last seen ${t.state})${cleared ? `; janitor: ${cleared.message}` : ''}`,
      );
    }
  }
}

/**
 * The duplicate and orphan checks of Image.delete, on their own so a test can feed them planted
 * tasks: every deleteImage task the simulator showed for these images must be the one task its
 * step recorded (from the step's history). A second task for an image, or one that is not its
 * step's, is a duplicate; a task whose step recorded none is an orphan (the step lost it). Tasks
 * whose image could not be read are checked against every step's task.
 */
export function checkDeleteTasks(
  sampler: TaskSampler,
  poolId: string,
  diskIds: ReadonlySet<string>,
  stepTask: ReadonlyMap<string, string>,
  /** Unmapped tasks first seen before this belong to an earlier scenario. */
  since = 0,
  /** Image → the task its step replaced after VDSM's recovery rolled it back (also the step's). */
  restarted: ReadonlyMap<string, string> = new Map(),
): Violation[] {
  const out: Violation[] = [];
  const byImage = sampler.deleteTasksByImage();
  for (const diskId of diskIds) {
    const tasks = byImage.get(diskId) ?? [];
    if (tasks.length > (restarted.has(diskId) ? 2 : 1)) {
      out.push({
        invariant: 'noDuplicateTasks',
        detail: `image ${diskId} had ${tasks.length} Image.delete tasks: ${tasks.map((t) => t.id).join(', ')}`,
      });
    }
    for (const t of tasks) {
      const owner = stepTask.get(diskId);
      if (owner === undefined) {
        out.push({
          invariant: 'noOrphanTasks',
          detail: `image ${diskId}: task ${t.id} is owned by no step (its step recorded none)`,
        });
      } else if (owner !== t.id && restarted.get(diskId) !== t.id) {
        out.push({
          invariant: 'noDuplicateTasks',
          detail: `image ${diskId}: task ${t.id} is not the task its step owns (${owner})`,
        });
      }
    }
  }
  const owned = new Set([...stepTask.values(), ...restarted.values()]);
  for (const t of byImage.get('') ?? []) {
    if (t.poolId === poolId && t.firstSeenAt >= since && !owned.has(t.id)) {
      out.push({ invariant: 'noOrphanTasks', detail: `task ${t.id} (image unknown) is owned by no step` });
    }
  }
  return out;
}

/** No entity lock; no VM of a command ImageLocked; RemoveVm's disks agree with storage and its outcome. */
export async function checkLocksAndRemovals(
  stack: Stack,
  closed: Closed[],
  add: AddViolation,
  notes: string[],
): Promise<void> {
  const locks = await stack.inventory.listLocks();
  if (locks.length)
    add(
      'noLocks',
      `${locks.length} locks left: ${locks
        .slice(0, 3)
        .map((l) => `${l.type} ${l.id} (${l.owner})`)
        .join(', ')}`,
    );
  for (const vm of new Set(closed.map((c) => c.command.vm))) {
    const record = await stack.inventory.getVm(vm.id);
    if (record?.status === 'ImageLocked') add('noLocks', `VM ${vm.name} is ImageLocked`);
  }

  const fixture = stack.fixtures[0]!;
  const domainOf = new Map(fixture.disks.map((d) => [d.id, d.domainId]));
  const sim = stack.sim(fixture.pool.id);
  const removedByCommand = new Set<string>();
  const illegalByCommand = new Set<string>();
  const removals = closed.filter((c) => c.command.kind === 'RemoveVm');
  for (const { command, outcome } of removals) {
    if (outcome?.completed) for (const d of command.vm.diskIds) removedByCommand.add(d);
    const details = outcome?.failure?.details?.[0] as IllegalDisksDetails | undefined;
    if (outcome?.failure?.type === ErrorType.FinishedWithIllegalDisks && details) {
      for (const d of details.removedDiskIds) removedByCommand.add(d);
      for (const d of details.illegalDiskIds) illegalByCommand.add(d);
    }
  }
  const storage = sim.storageSnapshot();
  let leftovers = 0;
  for (const diskId of removals.flatMap((c) => c.command.vm.diskIds)) {
    const record = await stack.inventory.getDisk(diskId);
    const domainId = domainOf.get(diskId)!;
    const onStorage = sim.imageExists(domainId, diskId);
    if (record?.status === 'LOCKED') add('noLocks', `disk ${diskId} is LOCKED`);
    if (record === undefined && onStorage)
      add('storageAgrees', `disk ${diskId} removed from the inventory but its image exists`);
    if (record?.status === 'OK' && !onStorage) add('storageAgrees', `disk ${diskId} is OK but has no image`);
    if (record === undefined && storage[domainId]?.removed.includes(diskId)) leftovers++;
    if (removedByCommand.has(diskId) && record !== undefined) {
      add('outcomeConsistent', `disk ${diskId} reported removed but still ${record.status}`);
    }
    if (illegalByCommand.has(diskId) && record?.status !== 'ILLEGAL') {
      add('outcomeConsistent', `disk ${diskId} reported illegal but ${record?.status ?? 'removed'}`);
    }
  }
  if (leftovers) {
    notes.push(
      `${leftovers} removed disk(s) left a _remove_me_ image on storage (Image.delete answered 268 after a lost attempt)`,
    );
  }
}

/** What the pool's janitor Schedule did lately: says why a task outlived the grace period. */
async function janitorState(stack: Stack): Promise<string> {
  try {
    const schedule = await stack.client.schedule.getHandle(scheduleIds.taskJanitor(poolOf(stack))).describe();
    const runs: string[] = [];
    for await (const run of stack.client.workflow.list({
      query: `WorkflowType = '${WorkflowType.taskJanitor}' AND TaskQueue = '${stack.taskQueue}'`,
      pageSize: 5,
    })) {
      const ended = run.closeTime
        ? `+${Math.round((Date.now() - run.closeTime.getTime()) / 1000)} s ago`
        : '';
      let why = '';
      if (run.status.name === 'FAILED' || run.status.name === 'TIMED_OUT') {
        why = await stack.client.workflow
          .getHandle(run.workflowId, run.runId)
          .result()
          .then(
            () => '',
            (err: unknown) => `: ${describeCause(err)}`,
          );
      }
      runs.push(`${run.status.name} ${ended}${why}`);
      if (runs.length >= 5) break;
    }
    return `janitor: ${schedule.info.runningActions.length} running, ${schedule.info.recentActions.length} recent; last runs: ${runs.join('; ') || 'none'}`;
  } catch (err) {
    return `janitor state unreadable: ${(err as Error).message}`;
  }
}

/** The innermost message of a failure chain. */
function describeCause(err: unknown): string {
  let e = err as Error & { cause?: unknown };
  while (e.cause instanceof Error) e = e.cause;
  return e.message;
}

/** After the commands closed: the janitor must clear whatever is left within its grace. */
export async function checkTasksCleared(
  stack: Stack,
  options: ChaosOptions,
  violations: Violation[],
): Promise<number> {
  const sim = stack.sim(poolOf(stack));
  const deadline = Date.now() + options.janitorGraceMs + 3 * options.janitorIntervalMs + 30_000;
  const started = Date.now();
  for (;;) {
    const tasks = sim.listTasks().filter((t) => t.tag === 'spm');
    const claims = await stack.inventory.listTaskClaims();
    if (tasks.length === 0 && claims.length === 0) return Date.now() - started;
    if (Date.now() > deadline) {
      if (tasks.length)
        violations.push({
          invariant: 'tasksCleared',
          detail: `${tasks.length} SPM task(s) left: ${tasks
            .slice(0, 3)
            .map((t) => `${t.id} ${t.verb} ${t.state} on ${t.hostName}`)
            .join(', ')} (SPM: ${sim.spmHostId() ?? 'none'}); ${await janitorState(stack)}`,
        });
      if (claims.length)
        violations.push({
          invariant: 'tasksCleared',
          detail: `${claims.length} task claim(s) left: ${claims
            .slice(0, 3)
            .map((c) => `${c.vdsmTaskId} (${c.owner})`)
            .join(', ')}`,
        });
      return Date.now() - started;
    }
    await sleep(500);
  }
}
