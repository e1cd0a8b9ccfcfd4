/**
 * What a task start costs on the SPM, against the real simulator and a real SQLite inventory: a
 * start after the pool's last status poll sends its verb and nothing else (the engine's one call),
 * and the SPM's task list is read only when a start's answer may have been lost, so a retry still
 * finds its task instead of sending the verb twice.
 */
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../src/activities';
import type { SpmTaskSpec } from '../src/shared/steps';
import type { VdsmConnector } from '../src/vdsm/port';
import { startEngineStack, type EngineStack } from './support/engine-stack';
import { deleteStartOf, imagePlanOf } from './support/image-plans';

jest.setTimeout(120_000);

let stack: EngineStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

/** A connector whose Image.delete reaches VDSM and then, when told, loses its answer. */
function losingAnswers(inner: VdsmConnector): { connector: VdsmConnector; loseNext: () => void } {
  let lose = false;
  const connector: VdsmConnector = {
    host(endpoint) {
      const api = inner.host(endpoint);
      return new Proxy(api, {
        get(target, prop, receiver) {
          if (prop !== 'imageDelete') return Reflect.get(target, prop, receiver) as unknown;
          return async (params: Parameters<typeof api.imageDelete>[0]) => {
            const taskId = await target.imageDelete(params);
            if (!lose) return taskId;
            lose = false;
            throw new Error('connection lost before the answer was read');
          };
        },
      });
    },
    close: () => inner.close(),
  };
  return { connector, loseNext: () => (lose = true) };
}

/** Runs one activity as attempt `attempt` of the step `owner`. */
function asStep<A extends unknown[], R>(
  owner: string,
  attempt: number,
  fn: (...args: A) => Promise<R>,
  ...args: A
): Promise<R> {
  const env = new MockActivityEnvironment({
    workflowExecution: { workflowId: owner, runId: randomUUID() },
    attempt,
    heartbeatTimeoutMs: 30_000,
  });
  return env.run(fn, ...args);
}

async function deleteOf(s: EngineStack, diskId: string): Promise<{ task: SpmTaskSpec; poolId: string }> {
  return deleteStartOf(await imagePlanOf(s.inventory, diskId));
}

test('a start after the pool was polled sends only its verb; a retry after a lost answer reads the task list and finds its task', async () => {
  // A grace longer than the test: the last poll's task list stays fresh enough to stand for the SPM's.
  stack = await startEngineStack({ worker: false, config: { JANITOR_GRACE_MS: '60000' } });
  const s = stack;
  const poolId = s.fixture.pool.id;
  const { connector, loseNext } = losingAnswers(s.vdsm);
  const { activities, statusHub } = createActivities({
    vdsm: connector,
    inventory: s.inventory,
    config: s.config,
    temporal: s.client,
  });
  const [diskA, diskB, diskC, diskD] = s.vmByName('web-01').disks;
  const calls = (): Record<string, number> => s.sim.counters().pools[poolId]?.verbs ?? {};

  // Nothing polled yet: the first start of this worker must ask the SPM what it holds.
  const a = await asStep('step-a', 1, activities.startSpmTask, await deleteOf(s, diskA!));
  expect(calls()['Host.getAllTasksInfo']).toBe(1);
  if (a.kind !== 'started') throw new Error(`expected a started task, got ${a.kind}`);
  await asStep('step-a', 1, activities.waitForTaskEnd, { poolId, vdsmTaskId: a.vdsmTaskId });
  expect(statusHub.lastKnownTaskIds(poolId, 60_000)).toContain(a.vdsmTaskId);

  s.sim.resetCounters();
  const b = await asStep('step-b', 1, activities.startSpmTask, await deleteOf(s, diskB!));
  expect(b).toMatchObject({ kind: 'started', reconciled: false });
  expect(calls()).toEqual({ 'Image.delete': 1 });

  // C's Image.delete reaches VDSM but its answer is lost: its intent stays pending.
  s.sim.resetCounters();
  loseNext();
  await expect(asStep('step-c', 1, activities.startSpmTask, await deleteOf(s, diskC!))).rejects.toThrow(
    'connection lost',
  );
  expect(calls()).toEqual({ 'Image.delete': 1 });
  const known = new Set([a.vdsmTaskId, b.kind === 'started' ? b.vdsmTaskId : '']);
  const taskC = s.sim.listTasks().find((t) => !known.has(t.id))?.id;
  expect(taskC).toBeDefined();

  // While C's start is pending, another step's first start reads the task list before sending.
  s.sim.resetCounters();
  await asStep('step-d', 1, activities.startSpmTask, await deleteOf(s, diskD!));
  expect(calls()).toEqual({ 'Host.getAllTasksInfo': 1, 'Image.delete': 1 });

  // C's retry finds its task and sends nothing.
  s.sim.resetCounters();
  const c = await asStep('step-c', 2, activities.startSpmTask, await deleteOf(s, diskC!));
  expect(c).toMatchObject({ kind: 'started', vdsmTaskId: taskC, reconciled: true });
  expect(calls()).toEqual({ 'Host.getAllTasksInfo': 1 });
  const claimsOfC = await s.inventory.listTaskClaims({ owner: 'step-c' });
  expect(claimsOfC.map((claim) => claim.vdsmTaskId)).toEqual([taskC]);
});

test('a retried start whose first attempt wrote no intent reads the task list (the count must be the real one)', async () => {
  stack = await startEngineStack({ worker: false, config: { JANITOR_GRACE_MS: '60000' } });
  const s = stack;
  const poolId = s.fixture.pool.id;
  const { activities } = createActivities({ vdsm: s.vdsm, inventory: s.inventory, config: s.config });
  const [diskA, diskB] = s.vmByName('web-01').disks;
  const a = await asStep('step-a', 1, activities.startSpmTask, await deleteOf(s, diskA!));
  if (a.kind !== 'started') throw new Error(`expected a started task, got ${a.kind}`);
  await asStep('step-a', 1, activities.waitForTaskEnd, { poolId, vdsmTaskId: a.vdsmTaskId });

  s.sim.resetCounters();
  await asStep('step-b', 2, activities.startSpmTask, await deleteOf(s, diskB!));
  expect(s.sim.counters().pools[poolId]?.verbs).toEqual({ 'Host.getAllTasksInfo': 1, 'Image.delete': 1 });
});

test("another worker's first start takes the task list the pool's poller published: it sends only its verb", async () => {
  stack = await startEngineStack({ worker: false, config: { JANITOR_GRACE_MS: '60000' } });
  const s = stack;
  const poolId = s.fixture.pool.id;
  const deps = { vdsm: s.vdsm, inventory: s.inventory, config: s.config };
  const first = createActivities(deps).activities;
  const second = createActivities(deps).activities;
  const [diskA, diskB] = s.vmByName('web-01').disks;
  const a = await asStep('step-a', 1, first.startSpmTask, await deleteOf(s, diskA!));
  if (a.kind !== 'started') throw new Error(`expected a started task, got ${a.kind}`);
  // The first worker's hub polls the pool (it leads its polls) and publishes the answer.
  await asStep('step-a', 1, first.waitForTaskEnd, { poolId, vdsmTaskId: a.vdsmTaskId });

  s.sim.resetCounters();
  const b = await asStep('step-b', 1, second.startSpmTask, await deleteOf(s, diskB!));
  expect(b).toMatchObject({ kind: 'started', reconciled: false });
  // A new worker finds the SPM once (StoragePool.getSpmStatus of the pool's hosts), then sends the verb.
  const { 'StoragePool.getSpmStatus': located, ...verbs } = s.sim.counters().pools[poolId]?.verbs ?? {};
  expect(located).toBeGreaterThan(0);
  expect(verbs).toEqual({ 'Image.delete': 1 });
  expect((await s.inventory.getStartIntent('step-b'))?.knownTaskIds).toContain(a.vdsmTaskId);
});
