/**
 * The task-creating step's bookkeeping against the real simulator and a real SQLite inventory:
 * reconciliation after lost answers, the janitor's respect for starts in flight, and Image.delete
 * against a full SPM queue. The activities run in a mock activity context (one piece under test);
 * VDSM, the inventory and the Temporal server they consult are real.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, type OvirtActivities } from '../src/activities';
import type { ImagePlan } from '../src/shared/commands';
import type { SpmTaskSpec } from '../src/shared/steps';
import { ErrorType } from '../src/shared/errors';
import type { VdsmHostApi } from '../src/vdsm/port';
import { BLANK_UUID } from '../src/vdsm-sim/storage';
import { removeImageStep } from '../src/workflows/step-inputs';
import { eventually, startEngineStack, type EngineStack } from './support/engine-stack';

jest.setTimeout(120_000);

let stack: EngineStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

function activitiesOf(s: EngineStack): OvirtActivities {
  return createActivities({ vdsm: s.vdsm, inventory: s.inventory, config: s.config, temporal: s.client })
    .activities;
}

/** Runs one activity as the given workflow (the step that owns the task). */
function asStep<A extends unknown[], R>(
  owner: string,
  fn: (...args: A) => Promise<R>,
  ...args: A
): Promise<R> {
  const env = new MockActivityEnvironment({
    workflowExecution: { workflowId: owner, runId: randomUUID() },
    heartbeatTimeoutMs: 30_000,
  });
  return env.run(fn, ...args);
}

function spmApi(s: EngineStack): VdsmHostApi {
  const spm = s.sim.hosts[0]!;
  return s.vdsm.host({ hostId: spm.hostId, address: spm.address, port: spm.port });
}

async function planOf(s: EngineStack, diskId: string): Promise<ImagePlan> {
  const disk = (await s.inventory.getDisk(diskId))!;
  return {
    diskId,
    alias: disk.alias,
    poolId: disk.poolId,
    domainId: disk.domainId,
    domainName: disk.domainId,
    postZero: false,
    discard: false,
    sizeBytes: disk.sizeBytes,
    volumeIds: disk.volumeIds,
    priorStatus: 'OK',
  };
}

/** The start activity's input for a RemoveImage step of `plan`. */
function deleteOf(plan: ImagePlan): { task: SpmTaskSpec; poolId: string } {
  return { task: removeImageStep({ commandId: 'test', vmId: null }, plan, false, 1).task, poolId: plan.poolId };
}

/** What a step does before its Image.delete answer is lost: an intent, then the verb, nothing recorded. */
async function startWithLostAnswer(s: EngineStack, owner: string, plan: ImagePlan): Promise<string> {
  const api = spmApi(s);
  await s.inventory.putStartIntent({
    owner,
    poolId: plan.poolId,
    verb: 'deleteImage',
    subjectId: plan.diskId,
    knownTaskIds: Object.keys(await api.hostGetAllTasksInfo()),
  });
  return api.imageDelete({
    imageID: plan.diskId,
    storagepoolID: plan.poolId,
    storagedomainID: plan.domainId,
    postZero: false,
    force: false,
    discard: false,
  });
}

/**
 * Starts Image.delete as step `owner` through `activities` (one worker's: they learn the SPM then)
 * and waits until the task has finished; returns its id.
 */
async function startedAndFinished(
  s: EngineStack,
  activities: OvirtActivities,
  owner: string,
  plan: ImagePlan,
): Promise<string> {
  const started = await asStep(owner, activities.startSpmTask, deleteOf(plan));
  if (started.kind !== 'started') throw new Error(`expected a started task, got ${started.kind}`);
  const task = started.vdsmTaskId;
  await eventually(
    async () => ((await spmApi(s).taskGetStatus(task)).taskState === 'finished' ? true : undefined),
    10_000,
    'the task finished',
  );
  return task;
}

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

test('two steps lost their Image.delete answers in a row: each retry finds its own task, nothing is sent again', async () => {
  stack = await startEngineStack({ worker: false, faults: { durations: { 'Image.delete': 60_000 } } });
  const s = stack;
  const [diskA, diskB] = s.vmByName('web-01').disks;
  const planA = await planOf(s, diskA!);
  const planB = await planOf(s, diskB!);
  const taskA = await startWithLostAnswer(s, 'step-a', planA);
  const taskB = await startWithLostAnswer(s, 'step-b', planB);
  const { startSpmTask } = activitiesOf(s);

  // A retries first: both unclaimed tasks are new to its intent; only A's existed when B wrote its own.
  const resultA = await asStep('step-a', startSpmTask, deleteOf(planA));
  const resultB = await asStep('step-b', startSpmTask, deleteOf(planB));

  expect(resultA).toMatchObject({ kind: 'started', vdsmTaskId: taskA, reconciled: true });
  expect(resultB).toMatchObject({ kind: 'started', vdsmTaskId: taskB, reconciled: true });
  expect(s.sim.counters().pools[s.fixture.pool.id]?.verbs['Image.delete']).toBe(2);
  const claims = await s.inventory.listTaskClaims({ poolId: planA.poolId });
  expect(claims.map((c) => [c.owner, c.vdsmTaskId]).sort()).toEqual([
    ['step-a', taskA],
    ['step-b', taskB],
  ]);
});

test('the janitor leaves a finished task alone while a running step may still claim it, and clears it once that step has ended', async () => {
  stack = await startEngineStack({ worker: false, config: { JANITOR_GRACE_MS: '0' } });
  const s = stack;
  // The owner: a workflow that stays RUNNING (no worker polls its queue).
  const owner = `step-${randomUUID()}`;
  const ownerHandle = await s.client.workflow.start('neverRuns', {
    workflowId: owner,
    taskQueue: `nobody-${randomUUID()}`,
  });
  const plan = await planOf(s, s.vmByName('web-01').disks[0]!);
  const task = await startWithLostAnswer(s, owner, plan);
  const { sweepPoolTasks } = activitiesOf(s);
  const sweep = (): ReturnType<typeof sweepPoolTasks> =>
    asStep('janitor', sweepPoolTasks, { poolId: plan.poolId });

  await eventually(
    async () => ((await spmApi(s).taskGetStatus(task)).taskState === 'finished' ? true : undefined),
    10_000,
    'the task finished',
  );

  const whileRunning = await sweep();
  expect(whileRunning.cleared).toEqual([]);
  expect(Object.keys(await spmApi(s).hostGetAllTasksInfo())).toContain(task);

  await ownerHandle.terminate('the step ended without claiming its task');
  const afterEnd = await sweep();
  expect(afterEnd.cleared).toEqual([task]);
  expect(Object.keys(await spmApi(s).hostGetAllTasksInfo())).not.toContain(task);
  expect(await s.inventory.getStartIntent(owner)).toBeUndefined();
});

test('a full SPM task queue: Image.delete is not sent, so VDSM never renames the image', async () => {
  stack = await startEngineStack({
    worker: false,
    config: { VDSM_SPM_TASK_LIMIT: '2' },
    faults: { durations: { 'Image.delete': 60_000 } },
  });
  const s = stack;
  const [first, second, third] = s.vmByName('web-01').disks;
  const { startSpmTask } = activitiesOf(s);
  for (const [i, disk] of [first, second].entries()) {
    await asStep(`step-${i}`, startSpmTask, deleteOf(await planOf(s, disk!)));
  }
  const plan = await planOf(s, third!);

  const failure = await failureOf(asStep('step-full', startSpmTask, deleteOf(plan)));

  expect(failure.type).toBe(ErrorType.SpmTaskQueueFull);
  expect(failure.nonRetryable).toBe(false);
  expect(s.sim.imageExists(plan.domainId, plan.diskId)).toBe(true);
  expect(s.sim.counters().pools[s.fixture.pool.id]?.verbs['Image.delete']).toBe(2);
  expect(await s.inventory.getStartIntent('step-full')).toBeUndefined();
});

test('405 after VDSM renamed the image: the retry fails ImageNotPurged instead of calling the disk removed', async () => {
  // The limit is VDSM's own here, so the SPM's queue really fills and answers 405.
  stack = await startEngineStack({
    worker: false,
    config: { VDSM_SPM_TASK_LIMIT: '100000' },
    faults: { durations: { 'Volume.create': 120_000 } },
  });
  const s = stack;
  const api = spmApi(s);
  const plan = await planOf(s, s.vmByName('web-01').disks[0]!);
  const fillers = Array.from({ length: 510 }, () =>
    api.volumeCreate({
      volumeID: randomUUID(),
      storagepoolID: plan.poolId,
      storagedomainID: plan.domainId,
      imageID: randomUUID(),
      size: String(1024 ** 3),
      volFormat: 5,
      preallocate: 2,
      diskType: 'DATA',
      desc: 'queue filler',
      srcImgUUID: BLANK_UUID,
      srcVolUUID: BLANK_UUID,
    }),
  );
  expect(await Promise.all(fillers)).toHaveLength(510);
  const { startSpmTask } = activitiesOf(s);

  const refused = await failureOf(asStep('step-405', startSpmTask, deleteOf(plan)));
  expect(refused.type).toBe(ErrorType.VdsmError);
  expect(refused.details?.[0]).toMatchObject({ code: 405 });
  expect(s.sim.imageExists(plan.domainId, plan.diskId)).toBe(false);
  expect((await s.inventory.getStartIntent('step-405'))?.refusedCode).toBe(405);

  const retried = await failureOf(asStep('step-405', startSpmTask, deleteOf(plan)));
  expect(retried.type).toBe(ErrorType.ImageNotPurged);
  expect(retried.nonRetryable).toBe(true);
  expect(retried.message).toContain('_remove_me_');
  expect(await s.inventory.getStartIntent('step-405')).toBeUndefined();
});

test('a start queued behind another in the same worker heartbeats while it waits its turn', async () => {
  // Every answer takes 1.5 s, so the first start holds the pool's turn for several seconds.
  stack = await startEngineStack({ worker: false, faults: { latencyMs: 1_500 } });
  const s = stack;
  const [first, second] = s.vmByName('web-01').disks;
  const { startSpmTask } = activitiesOf(s);
  const envOf = (owner: string): MockActivityEnvironment =>
    new MockActivityEnvironment({
      workflowExecution: { workflowId: owner, runId: randomUUID() },
      heartbeatTimeoutMs: 3_000,
    });
  const firstEnv = envOf('step-first');
  const queuedEnv = envOf('step-queued');
  let queuedBeats = 0;
  queuedEnv.on('heartbeat', () => (queuedBeats += 1));

  const firstDone = firstEnv.run(startSpmTask, deleteOf(await planOf(s, first!)));
  const queuedDone = queuedEnv.run(startSpmTask, deleteOf(await planOf(s, second!)));
  await firstDone;
  const beatsWhileQueued = queuedBeats;
  await queuedDone;

  // A 3 s heartbeat timeout needs a beat at least every 3 s; the first start took longer than that.
  expect(beatsWhileQueued).toBeGreaterThanOrEqual(2);
});

test('a step clears its task on the new SPM after a failover its worker did not see (401 from the old SPM is not believed)', async () => {
  stack = await startEngineStack({ worker: false, faults: { durations: { 'Image.delete': 0 } } });
  const s = stack;
  const plan = await planOf(s, s.vmByName('web-01').disks[0]!);
  // One set of activities, as one worker: it learns the SPM when it starts the task.
  const activities = activitiesOf(s);
  const task = await startedAndFinished(s, activities, 'step-failover', plan);
  const { from, to } = await s.sim.failover();
  expect(to).not.toBe(from);
  expect(s.sim.listTasks().find((t) => t.id === task)?.hostId).toBe(to);

  await asStep('step-failover', activities.clearTask, { poolId: plan.poolId, vdsmTaskId: task });

  expect(s.sim.listTasks().map((t) => t.id)).not.toContain(task);
  expect(await s.inventory.listTaskClaims({ poolId: plan.poolId })).toEqual([]);
});

test('a task VDSM refuses to clear does not keep the janitor from the others; the next sweep takes it', async () => {
  stack = await startEngineStack({ worker: false, config: { JANITOR_GRACE_MS: '0' } });
  const s = stack;
  const [diskA, diskB] = s.vmByName('web-01').disks;
  // Two finished tasks whose steps are gone (no such workflow): orphans.
  const tasks = [
    await startWithLostAnswer(s, `gone-${randomUUID()}`, await planOf(s, diskA!)),
    await startWithLostAnswer(s, `gone-${randomUUID()}`, await planOf(s, diskB!)),
  ];
  await eventually(
    async () => {
      const statuses = await spmApi(s).hostGetAllTasksStatuses();
      return tasks.every((t) => statuses[t]?.taskState === 'finished') ? true : undefined;
    },
    10_000,
    'both tasks finished',
  );
  s.sim.setFaults({ failures: [{ verb: 'Task.clear', phase: 'sync', count: 1, code: 100 }] });
  const { sweepPoolTasks } = activitiesOf(s);
  const sweep = (): ReturnType<typeof sweepPoolTasks> =>
    asStep('janitor', sweepPoolTasks, { poolId: s.fixture.pool.id });

  const first = await sweep();
  expect(first.failed).toHaveLength(1);
  expect(first.failed[0]?.error).toMatch(/.+/);
  expect(first.cleared).toHaveLength(1);
  expect([...first.cleared, first.failed[0]?.taskId].sort()).toEqual([...tasks].sort());

  const second = await sweep();
  expect(second.failed).toEqual([]);
  expect(second.cleared).toEqual([first.failed[0]?.taskId]);
  expect(Object.keys(await spmApi(s).hostGetAllTasksInfo())).toEqual([]);
});

test('an SPM host that stops answering is asked again only after a new resolution: the retry clears on the new SPM', async () => {
  stack = await startEngineStack({ worker: false, config: { VDSM_REQUEST_TIMEOUT_MS: '1000' } });
  const s = stack;
  const plan = await planOf(s, s.vmByName('web-01').disks[0]!);
  const activities = activitiesOf(s);
  const task = await startedAndFinished(s, activities, 'step-dead-spm', plan);
  // The SPM role moves, then the old SPM goes silent (a host that died is why failovers happen).
  const { from } = await s.sim.failover();
  s.sim.setFaults({ stopAnswering: [from!] });
  const clear = (): Promise<void> =>
    asStep('step-dead-spm', activities.clearTask, { poolId: plan.poolId, vdsmTaskId: task });

  const firstAttempt = await clear().then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(firstAttempt).toBeInstanceOf(ApplicationFailure);
  expect(s.sim.listTasks().map((t) => t.id)).toContain(task);

  await clear();
  expect(s.sim.listTasks().map((t) => t.id)).not.toContain(task);
});
