/**
 * AddDisk end to end on the general task step: real dev server, the simulator over STOMP on
 * loopback, the SQLite inventory, an in-process worker. Each test has a data center of its own.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { queryCommandState } from '../src/client';
import type { AddDiskResult } from '../src/shared/commands';
import { ErrorType } from '../src/shared/errors';
import { eventually, startEngineStack, type EngineStack } from './support/engine-stack';
import { chains, expectStorageMatchesInventory, lockedByFixture, startAddDisk } from './support/storage';
import { failureOf } from './support/workflow-failure';

jest.setTimeout(90_000);

const GiB = 1024 ** 3;
let stack: EngineStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

/** Nothing locked, no SPM task or claim left, storage and inventory agree. */
async function expectClean(s: EngineStack): Promise<void> {
  expect(await s.inventory.listLocks()).toEqual([]);
  expect(s.sim.listTasks()).toEqual([]);
  expect(await s.inventory.listTaskClaims()).toEqual([]);
  expect(
    (await s.inventory.listDisks()).filter((d) => d.status === 'LOCKED' && !lockedByFixture(s, d.id)),
  ).toEqual([]);
  await expectStorageMatchesInventory(s);
}

function domainOf(s: EngineStack, storageType: 'nfs' | 'iscsi') {
  return s.fixture.domains.find((d) => d.storageType === storageType)!;
}

test('adds a floating disk: one Volume.create task, the disk OK with its volume, audited, cleared', async () => {
  stack = await startEngineStack({ faults: { durations: { 'Volume.create': 300 } } });
  const s = stack;
  const domain = domainOf(s, 'iscsi');
  const handle = await startAddDisk(s, {
    domainId: domain.id,
    sizeBytes: 10 * GiB,
    alias: 'scratch-01',
    vmId: null,
    sparse: true,
    wipeAfterDelete: false,
  });
  const result = (await handle.result()) as AddDiskResult;

  const disk = await s.inventory.getDisk(result.diskId);
  expect(disk).toMatchObject({ alias: 'scratch-01', status: 'OK', domainId: domain.id, vmId: null });
  // Sparse on block storage: COW, as the engine chooses.
  const [volume, ...others] = await s.inventory.listVolumes({ diskId: result.diskId });
  expect(others).toEqual([]);
  expect(volume).toMatchObject({ id: result.volumeId, format: 'COW', active: true, legality: 'LEGAL' });
  expect(volume!.sizeBytes).toBe(10 * GiB);
  expect((await chains(s, domain.id, result.diskId)).storage).toEqual([[result.volumeId, null, true]]);
  expect(s.sim.counters().pools[s.fixture.pool.id]!.verbs['Volume.create']).toBe(1);

  const state = await queryCommandState(s.client, handle.workflowId);
  expect(state).toMatchObject({ commandType: 'AddDisk', commandStatus: 'ENDED_SUCCESSFULLY' });
  expect(state.tasks).toEqual([
    expect.objectContaining({
      commandType: 'AddImageFromScratch',
      taskType: 'createVolume',
      state: 'Cleared',
      status: 'finished',
      result: 'success',
    }),
  ]);
  const audit = await s.inventory.listAudit({ correlationId: handle.workflowId });
  expect(audit.map((a) => a.type)).toEqual(
    expect.arrayContaining(['USER_ADD_DISK', 'USER_ADD_DISK_FINISHED_SUCCESS']),
  );
  await expectClean(s);
});

test('two disks added to one VM at once share its lock; each gets the VM audit', async () => {
  stack = await startEngineStack({ faults: { durations: { 'Volume.create': 1_000 } } });
  const s = stack;
  const vm = s.vmByName('web-01');
  const domain = domainOf(s, 'nfs');
  const [a, b] = await Promise.all(
    ['extra-a', 'extra-b'].map((alias) =>
      startAddDisk(s, {
        domainId: domain.id,
        sizeBytes: GiB,
        alias,
        vmId: vm.id,
        sparse: true,
        wipeAfterDelete: false,
      }),
    ),
  );
  // Both hold a shared lock on the VM while their tasks run.
  await eventually(async () => {
    const vmLocks = (await s.inventory.listLocks()).filter((l) => l.type === 'VM' && l.id === vm.id);
    return vmLocks.length === 2 && vmLocks.every((l) => l.mode === 'shared') ? true : undefined;
  });
  const results = (await Promise.all([a!.result(), b!.result()])) as AddDiskResult[];
  for (const r of results) {
    // Sparse on file storage: RAW (a sparse file).
    expect(await s.inventory.getDisk(r.diskId)).toMatchObject({ vmId: vm.id, status: 'OK', format: 'RAW' });
  }
  expect((await s.inventory.listAudit({ type: 'USER_ADD_DISK_TO_VM_FINISHED_SUCCESS' })).length).toBe(2);
  await expectClean(s);
});

test('a Volume.create task that fails: the disk rows go, the command fails with the step type, nothing left', async () => {
  stack = await startEngineStack({
    faults: {
      durations: { 'Volume.create': 200 },
      failures: [{ verb: 'Volume.create', phase: 'task', code: 100, count: 1 }],
    },
  });
  const s = stack;
  const domain = domainOf(s, 'nfs');
  const disksBefore = (await s.inventory.listDisks()).length;
  const handle = await startAddDisk(s, {
    domainId: domain.id,
    sizeBytes: GiB,
    alias: 'doomed',
    vmId: null,
    sparse: true,
    wipeAfterDelete: false,
  });
  const failure = await failureOf(handle.result());
  expect(failure.cause).toBeInstanceOf(ApplicationFailure);
  expect((failure.cause as ApplicationFailure).type).toBe(ErrorType.TaskFailed);
  expect((await s.inventory.listDisks()).length).toBe(disksBefore);
  expect(await s.inventory.listAudit({ type: 'USER_ADD_DISK_FINISHED_FAILURE' })).toHaveLength(1);
  await expectClean(s);
});

test('refused before anything starts: no space, raw+sparse on block, duplicate alias on the VM', async () => {
  stack = await startEngineStack();
  const s = stack;
  const nfs = domainOf(s, 'nfs');
  const iscsi = domainOf(s, 'iscsi');
  const vm = s.vmByName('web-01');
  const alias = (await s.inventory.listDisks({ vmId: vm.id }))[0]!.alias;
  const cases: Array<[Parameters<typeof startAddDisk>[1], string]> = [
    [
      {
        domainId: nfs.id,
        sizeBytes: 100_000 * GiB,
        alias: 'huge',
        vmId: null,
        sparse: true,
        wipeAfterDelete: false,
      },
      ErrorType.NotEnoughSpace,
    ],
    [
      {
        domainId: iscsi.id,
        sizeBytes: GiB,
        alias: 'raw',
        vmId: null,
        format: 'raw',
        sparse: true,
        wipeAfterDelete: false,
      },
      ErrorType.VolumeFormatNotAllowed,
    ],
    [
      { domainId: nfs.id, sizeBytes: GiB, alias, vmId: vm.id, sparse: true, wipeAfterDelete: false },
      ErrorType.DiskAliasInUse,
    ],
  ];
  const disksBefore = (await s.inventory.listDisks()).length;
  for (const [input, type] of cases) {
    const failure = await failureOf((await startAddDisk(s, input)).result());
    expect({ input: input.alias, type: (failure.cause as ApplicationFailure).type }).toEqual({
      input: input.alias,
      type,
    });
  }
  expect((await s.inventory.listDisks()).length).toBe(disksBefore);
  expect(s.sim.counters().pools[s.fixture.pool.id]?.verbs['Volume.create'] ?? 0).toBe(0);
  await expectClean(s);
});

test('cancelled while Volume.create runs: the task is stopped and rolled back, the rows go', async () => {
  // VDSM lets a volume creation run to its end after Task.stop, then aborts and rolls it back.
  stack = await startEngineStack({ faults: { durations: { 'Volume.create': 5_000 }, rollbackMs: 300 } });
  const s = stack;
  const domain = domainOf(s, 'nfs');
  const disksBefore = (await s.inventory.listDisks()).length;
  const handle = await startAddDisk(s, {
    domainId: domain.id,
    sizeBytes: GiB,
    alias: 'cancel-me',
    vmId: null,
    sparse: true,
    wipeAfterDelete: false,
  });
  await eventually(async () =>
    (await queryCommandState(s.client, handle.workflowId)).tasks[0]?.state === 'Polling' ? true : undefined,
  );
  await handle.cancel();
  const failure = await failureOf(handle.result());
  expect(failure.cause).toBeInstanceOf(CancelledFailure);
  expect((await s.inventory.listDisks()).length).toBe(disksBefore);
  expect(s.sim.counters().pools[s.fixture.pool.id]!.verbs['Task.stop']).toBe(1);
  await expectClean(s);
});
