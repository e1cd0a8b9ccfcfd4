/**
 * The general task step under worker crashes, for the verbs AddDisk and CreateSnapshot use: a
 * worker SIGKILLed right after VDSM accepted Volume.create (the retry finds its task through the
 * intent, never sends the verb again), and a worker SIGKILLed while a failed group waits to revert.
 * Real dev server, simulator on loopback, workers as real processes.
 */
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { queryCommandState } from '../src/client';
import type { AddDiskResult } from '../src/shared/commands';
import { ErrorType } from '../src/shared/errors';
import { eventually, startEngineStack, type EngineStack } from './support/engine-stack';
import { chains, expectStorageMatchesInventory, startAddDisk, startCreateSnapshot } from './support/storage';
import { killed, killSpawnedWorkers, spawnWorker } from './support/worker-process';

jest.setTimeout(180_000);

let stack: EngineStack | undefined;
afterEach(async () => {
  killSpawnedWorkers();
  await stack?.stop();
  stack = undefined;
});

const GiB = 1024 ** 3;
const verbs = (s: EngineStack): Record<string, number> =>
  s.sim.counters().pools[s.fixture.pool.id]?.verbs ?? {};

test('worker SIGKILLed right after Volume.create was accepted: exactly one volume and one task, claimed and cleared', async () => {
  stack = await startEngineStack({ worker: false, faults: { durations: { 'Volume.create': 1_000 } } });
  const s = stack;
  const domain = s.fixture.domains.find((d) => d.storageType === 'nfs')!;
  const worker = spawnWorker(s);
  const handle = await startAddDisk(s, {
    domainId: domain.id,
    sizeBytes: GiB,
    alias: 'crash-01',
    vmId: null,
    sparse: true,
    wipeAfterDelete: false,
  });
  await eventually(
    async () => ((await s.inventory.listLocks()).length > 0 ? true : undefined),
    60_000,
    'the disk locked',
  );
  // Answers are slow, the verb runs at once: the worker dies with the task created but its id unheard.
  s.sim.setFaults({ latencyMs: 4_000 });
  await eventually(
    () => (s.sim.listTasks().length === 1 ? true : undefined),
    60_000,
    'Volume.create accepted',
  );
  await killed(worker);
  expect(await s.inventory.listTaskClaims()).toEqual([]);
  s.sim.setFaults({ latencyMs: null });

  await s.startWorker();
  const result = (await handle.result()) as AddDiskResult;
  expect(verbs(s)['Volume.create']).toBe(1);
  expect((await chains(s, domain.id, result.diskId)).storage).toEqual([[result.volumeId, null, true]]);
  expect(await s.inventory.getDisk(result.diskId)).toMatchObject({ status: 'OK' });
  const row = (await queryCommandState(s.client, handle.workflowId)).tasks[0]!;
  expect(row).toMatchObject({ state: 'Cleared', result: 'success', taskType: 'createVolume' });
  expect(s.sim.listTasks()).toEqual([]);
  expect(await s.inventory.listTaskClaims()).toEqual([]);
  expect(await s.inventory.listLocks()).toEqual([]);
  await expectStorageMatchesInventory(s);
});

test('worker SIGKILLed while a failed snapshot group waits to revert: another worker reverts every finished task', async () => {
  // Tasks end at different times: the worker dies with some members Ended (waiting for the verdict).
  stack = await startEngineStack({
    worker: false,
    faults: {
      seed: 11,
      durations: { 'Volume.create': { kind: 'uniform', minMs: 300, maxMs: 6_000 } },
      failures: [{ verb: 'Volume.create', phase: 'task', code: 100, count: 1 }],
    },
  });
  const s = stack;
  const vm = s.vmByName('web-01');
  const before = await Promise.all(
    vm.disks.map(async (id) => chains(s, s.fixture.disks.find((d) => d.id === id)!.domainId, id)),
  );
  const worker = spawnWorker(s);
  const handle = await startCreateSnapshot(s, { vmId: vm.id, description: 'crash' });
  await eventually(
    async () => {
      const rows = (await queryCommandState(s.client, handle.workflowId)).tasks;
      return rows.some((t) => t.state === 'Ended') ? true : undefined;
    },
    60_000,
    'a member Ended',
  );
  await killed(worker);
  await s.startWorker();

  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect(((err as WorkflowFailedError).cause as ApplicationFailure).type).toBe(ErrorType.TaskFailed);
  const after = await Promise.all(
    vm.disks.map(async (id) => chains(s, s.fixture.disks.find((d) => d.id === id)!.domainId, id)),
  );
  expect(after).toEqual(before);
  expect(verbs(s)['Volume.create']).toBe(4);
  expect(verbs(s)['Task.revert']).toBe(3);
  expect(s.sim.listTasks()).toEqual([]);
  expect(await s.inventory.listLocks()).toEqual([]);
  expect(await s.inventory.listSnapshots({ vmId: vm.id })).toEqual([]);
  await expectStorageMatchesInventory(s);
});
