/**
 * The async-task engine under the faults the engine used to suffer from: a worker SIGKILLed while
 * polling and right after the task-creating call, a VDSM restart with persisted tasks, an SPM
 * failover mid-task, transient VDSM codes, a VM with 100 images, and the janitor. Real dev server,
 * simulator on loopback, workers as real processes where they get killed.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { type ApplicationFailure } from '@temporalio/common';
import type { JanitorReport } from '../src/activities';
import { queryCommandState, submitRemoveVm } from '../src/client';
import { ErrorType, type IllegalDisksDetails } from '../src/shared/errors';
import { workflowIds } from '../src/shared/names';
import { eventually, expectClean, startEngineStack, type EngineStack } from './support/engine-stack';
import { killed, killSpawnedWorkers, spawnWorker } from './support/worker-process';

jest.setTimeout(180_000);

let stack: EngineStack | undefined;
afterEach(async () => {
  killSpawnedWorkers();
  await stack?.stop();
  stack = undefined;
});

function poolCounters(s: EngineStack): Record<string, number> {
  return s.sim.counters().pools[s.fixture.pool.id]?.verbs ?? {};
}

async function illegalDetails(promise: Promise<unknown>): Promise<IllegalDisksDetails> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
  expect(cause.type).toBe(ErrorType.FinishedWithIllegalDisks);
  return cause.details?.[0] as IllegalDisksDetails;
}

test('worker SIGKILLed while polling: another worker finishes the command, no duplicate task', async () => {
  stack = await startEngineStack({ worker: false, faults: { durations: { 'Image.delete': 6_000 } } });
  const s = stack;
  const vm = s.vmByName('web-01');
  const worker = spawnWorker(s);
  const { handle } = await submitRemoveVm(s.client, { vmId: vm.id }, { taskQueue: s.taskQueue });
  await eventually(() => (s.sim.listTasks().length === 4 ? true : undefined), 60_000, '4 tasks started');
  await eventually(async () =>
    (await queryCommandState(s.client, handle.workflowId)).tasks.every((t) => t.state === 'Polling')
      ? true
      : undefined,
  );
  await killed(worker);

  await s.startWorker();
  const result = await handle.result();
  expect(result.removedDiskIds).toHaveLength(4);
  expect(poolCounters(s)['Image.delete']).toBe(4);
  await expectClean(s, vm.disks);
});

test('worker SIGKILLed right after Image.delete was accepted: the retry finds its task instead of creating another', async () => {
  // Answers are slow, the verb itself runs at once: the worker dies with the task created but
  // its id never received.
  stack = await startEngineStack({
    worker: false,
    dc: { extraVms: [{ name: 'solo-01', disks: 1 }] },
    faults: { durations: { 'Image.delete': 1_000 } },
  });
  const s = stack;
  const vm = s.vmByName('solo-01');
  const worker = spawnWorker(s);
  const { handle } = await submitRemoveVm(s.client, { vmId: vm.id }, { taskQueue: s.taskQueue });
  await eventually(
    async () => ((await s.inventory.listLocks()).length > 0 ? true : undefined),
    60_000,
    'the command to lock its VM',
  );
  s.sim.setFaults({ latencyMs: 4_000 });
  await eventually(
    () => (s.sim.listTasks().length === 1 ? true : undefined),
    60_000,
    'Image.delete accepted',
  );
  await killed(worker);
  expect(await s.inventory.listTaskClaims()).toEqual([]);
  s.sim.setFaults({ latencyMs: null });

  await s.startWorker();
  const result = await handle.result();
  expect(result.removedDiskIds).toEqual(vm.disks);
  expect(poolCounters(s)['Image.delete']).toBe(1);
  const row = (await queryCommandState(s.client, handle.workflowId)).tasks[0]!;
  expect(row).toMatchObject({ state: 'Cleared', result: 'success' });
  await expectClean(s, vm.disks);
});

test('VDSM restart with persisted tasks: in-flight tasks roll back and take the failure path', async () => {
  stack = await startEngineStack({ faults: { durations: { 'Image.delete': 60_000 }, rollbackMs: 200 } });
  const s = stack;
  const vm = s.vmByName('web-01');
  const { handle } = await submitRemoveVm(s.client, { vmId: vm.id }, { taskQueue: s.taskQueue });
  await eventually(() => (s.sim.listTasks().length === 4 ? true : undefined), 30_000, '4 tasks started');
  await s.sim.restart();

  const details = await illegalDetails(handle.result());
  expect(details.illegalDiskIds.sort()).toEqual([...vm.disks].sort());
  const state = await queryCommandState(s.client, handle.workflowId);
  for (const row of state.tasks)
    expect(row).toMatchObject({ state: 'Cleared', status: 'finished', result: 'cleanSuccess' });
  // Each purge had renamed (or begun zeroing) its image: a second delete could not purge it, so
  // none is started again (test/whole-stack-crash.test.ts: deletes that had not begun are).
  expect(poolCounters(s)['Image.delete']).toBe(4);
  expect(await s.inventory.listAudit({ type: 'DELETE_IMAGE_GROUP_TASK_RESTARTED_AFTER_RECOVERY' })).toEqual(
    [],
  );
  await expectClean(s, vm.disks);
});

test('SPM failover mid-task: steps find the new SPM (654), the lost tasks fail, everything is cleared', async () => {
  stack = await startEngineStack({ faults: { durations: { 'Image.delete': 60_000 }, rollbackMs: 200 } });
  const s = stack;
  const vm = s.vmByName('web-01');
  const oldSpm = s.sim.spmHostId();
  const { handle } = await submitRemoveVm(s.client, { vmId: vm.id }, { taskQueue: s.taskQueue });
  await eventually(() => (s.sim.listTasks().length === 4 ? true : undefined), 30_000, '4 tasks started');
  const { to } = await s.sim.failover();
  expect(to).not.toBe(oldSpm);

  const details = await illegalDetails(handle.result());
  expect(details.illegalDiskIds).toHaveLength(4);
  const perHost = s.sim.counters().hosts;
  expect(perHost[to]!.verbs['Task.clear']).toBe(4);
  expect(perHost[oldSpm!]!.verbs['Host.getAllTasksStatuses']).toBeGreaterThan(0);
  await expectClean(s, vm.disks);
});

test('VDSM code 99 (recovering) on Image.delete means wait and retry', async () => {
  stack = await startEngineStack({
    faults: {
      durations: { 'Image.delete': 100 },
      failures: [{ verb: 'Image.delete', phase: 'sync', code: 99, count: 2 }],
    },
  });
  const s = stack;
  const vm = s.vmByName('web-01');
  const { handle } = await submitRemoveVm(s.client, { vmId: vm.id }, { taskQueue: s.taskQueue });
  expect((await handle.result()).removedDiskIds).toHaveLength(4);
  // Two refused attempts (no task created) and one accepted per image.
  expect(poolCounters(s)['Image.delete']).toBe(6);
  await expectClean(s, vm.disks);
});

test('a VM with 100 images: one child each, status polling coalesced per pool', async () => {
  stack = await startEngineStack({
    dc: { extraVms: [{ name: 'big-01', disks: 100 }] },
    faults: { durations: { 'Image.delete': { kind: 'uniform', minMs: 500, maxMs: 3_000 } } },
  });
  const s = stack;
  const vm = s.vmByName('big-01');
  const started = Date.now();
  const { handle } = await submitRemoveVm(s.client, { vmId: vm.id }, { taskQueue: s.taskQueue });
  const result = await handle.result();
  const elapsedMs = Date.now() - started;
  expect(result.removedDiskIds).toHaveLength(100);
  const verbs = poolCounters(s);
  expect(verbs['Image.delete']).toBe(100);
  // One worker, one pool: never more than one status poll per minimum interval (200 ms here),
  // however many of the 100 tasks are in flight (one poll per task would be ~100× more).
  expect(verbs['Host.getAllTasksStatuses']!).toBeLessThanOrEqual(Math.ceil(elapsedMs / 200) + 1);
  const child = s.client.workflow.getHandle(workflowIds.removeImage(handle.workflowId, vm.disks[0]!));
  expect((await child.describe()).status.name).toBe('COMPLETED');
  await expectClean(s, vm.disks);
});

/** One janitor sweep, as its Schedule would start it. */
function sweepOnce(s: EngineStack): Promise<JanitorReport> {
  return s.client.workflow.execute('taskJanitorWorkflow', {
    taskQueue: s.taskQueue,
    workflowId: `${workflowIds.taskJanitor(s.fixture.pool.id)}/${Date.now()}`,
    args: [{ poolId: s.fixture.pool.id }],
  }) as Promise<JanitorReport>;
}

describe('janitor', () => {
  test('clears a finished task nobody owns after the grace period, and audits it', async () => {
    stack = await startEngineStack({ faults: { durations: { 'Image.delete': 100 } } });
    const s = stack;
    const disk = s.fixture.disks.find((d) => d.vmId === null)!;
    const spmId = s.sim.spmHostId();
    const spm = s.sim.hosts.find((h) => h.hostId === spmId)!;
    const api = s.vdsm.host({ hostId: spm.hostId, address: spm.address, port: spm.port });
    // An orphan: started outside any workflow (as after the engine lost its DB row).
    const orphan = await api.imageDelete({
      imageID: disk.id,
      storagepoolID: s.fixture.pool.id,
      storagedomainID: disk.domainId,
      postZero: false,
      force: false,
      discard: false,
    });
    await eventually(async () =>
      (await api.taskGetStatus(orphan)).taskState === 'finished' ? true : undefined,
    );

    const sweep = () => sweepOnce(s);
    // First sight starts the grace period; nothing is cleared yet.
    expect((await sweep()).cleared).toEqual([]);
    await new Promise((r) => setTimeout(r, 1_200));
    expect((await sweep()).cleared).toEqual([orphan]);
    expect(s.sim.listTasks()).toEqual([]);
    const audit = await s.inventory.listAudit({ type: 'TASK_CLEARING_ASYNC_TASK' });
    expect(audit).toHaveLength(1);
    expect(audit[0]!.entityIds).toContain(orphan);
  });

  test('reports an over-age task its running command owns, and leaves it running', async () => {
    stack = await startEngineStack({
      faults: { durations: { 'Image.delete': 8_000 } },
      config: { TASK_AGE_LIMIT_MS: '500' },
    });
    const s = stack;
    const vm = s.vmByName('web-01');
    const { handle } = await submitRemoveVm(s.client, { vmId: vm.id }, { taskQueue: s.taskQueue });
    await eventually(() => (s.sim.listTasks().length === 4 ? true : undefined), 30_000, '4 tasks started');
    const sweep = () => sweepOnce(s);
    await sweep();
    await new Promise((r) => setTimeout(r, 800));
    const report = await sweep();
    expect(report.reportedLongRunning).toHaveLength(4);
    expect(report.stopped).toEqual([]);
    expect(poolCounters(s)['Task.stop']).toBeUndefined();
    expect((await handle.result()).removedDiskIds).toHaveLength(4);
    expect(await s.inventory.listAudit({ type: 'ASYNC_TASK_RUNNING_LONG' })).toHaveLength(4);
    await expectClean(s, vm.disks);
  });
});
