/**
 * RemoveVm / RemoveDisk end to end: real dev server, the simulator on loopback sockets, the
 * SQLite inventory, an in-process worker. Each test has a data center of its own.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import {
  CommandRefusedError,
  InvalidCommandInputError,
  queryCommandState,
  submitRemoveDisk,
  submitRemoveVm,
} from '../src/client';
import { ErrorType, type IllegalDisksDetails } from '../src/shared/errors';
import { workflowIds } from '../src/shared/names';
import { eventually, expectClean, startEngineStack, type EngineStack } from './support/engine-stack';

jest.setTimeout(90_000);

let stack: EngineStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

async function failureOf(promise: Promise<unknown>): Promise<WorkflowFailedError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof WorkflowFailedError) return err;
    throw err;
  }
  throw new Error('the workflow was expected to fail');
}

test('removes a VM with 4 images: records, storage and locks all agree', async () => {
  stack = await startEngineStack({ faults: { durations: { 'Image.delete': 300 } } });
  const vm = stack.vmByName('web-01');
  expect(vm.disks).toHaveLength(4);

  const { handle, started } = await submitRemoveVm(
    stack.client,
    { vmId: vm.id },
    { taskQueue: stack.taskQueue, inventory: stack.inventory },
  );
  expect(started).toBe(true);
  expect(handle.workflowId).toBe(workflowIds.removeVm(vm.id));
  const result = await handle.result();

  expect(result.removedDiskIds.sort()).toEqual([...vm.disks].sort());
  expect(await stack.inventory.getVm(vm.id)).toBeUndefined();
  for (const diskId of vm.disks) expect(await stack.inventory.getDisk(diskId)).toBeUndefined();
  await expectClean(stack, vm.disks);

  // The command's own table, as the engine's async_tasks showed it.
  const state = await queryCommandState(stack.client, handle.workflowId);
  expect(state.commandStatus).toBe('ENDED_SUCCESSFULLY');
  expect(state.images).toEqual({ total: 4, succeeded: 4, failed: 0, running: 0 });
  for (const row of state.tasks) {
    expect(row).toMatchObject({
      state: 'Cleared',
      status: 'finished',
      result: 'success',
      taskType: 'deleteImage',
    });
    expect(row.vdsmTaskId).toMatch(/^[0-9a-f-]{36}$/);
    expect(row.commandId).toBe(workflowIds.removeImage(handle.workflowId, row.imageId));
  }
  const counters = stack.sim.counters().pools[stack.fixture.pool.id]!;
  expect(counters.verbs['Image.delete']).toBe(4);
  expect(counters.verbs['Task.clear']).toBe(4);

  const audit = await stack.inventory.listAudit({ correlationId: handle.workflowId });
  expect(audit.map((a) => a.type)).toEqual(expect.arrayContaining(['USER_REMOVE_VM_FINISHED']));
  const description = await handle.describe();
  expect(description.typedSearchAttributes.getAll().map((p) => p.key.name)).toEqual(
    expect.arrayContaining([
      'CommandType',
      'VmId',
      'CommandStatus',
      'ImageIds',
      'StoragePoolId',
      'VdsmTaskIds',
    ]),
  );
});

test('one of 4 images fails: the VM ends "finished with illegal disks", that disk ILLEGAL, the rest removed', async () => {
  stack = await startEngineStack({
    faults: {
      durations: { 'Image.delete': 200 },
      failures: [{ verb: 'Image.delete', phase: 'task', code: 100, count: 1 }],
    },
  });
  const vm = stack.vmByName('web-01');
  const { handle } = await submitRemoveVm(stack.client, { vmId: vm.id }, { taskQueue: stack.taskQueue });
  const failure = await failureOf(handle.result());

  expect(failure.cause).toBeInstanceOf(ApplicationFailure);
  const cause = failure.cause as ApplicationFailure;
  expect(cause.type).toBe(ErrorType.FinishedWithIllegalDisks);
  const details = cause.details?.[0] as IllegalDisksDetails;
  expect(details.illegalDiskIds).toHaveLength(1);
  expect(details.removedDiskIds).toHaveLength(3);
  const illegal = await stack.inventory.getDisk(details.illegalDiskIds[0]!);
  expect(illegal?.status).toBe('ILLEGAL');
  expect(await stack.inventory.getVm(vm.id)).toBeUndefined();
  await expectClean(stack, vm.disks);
  const audit = await stack.inventory.listAudit({ type: 'DELETE_IMAGE_GROUP_TASK_FAILED' });
  expect(audit).toHaveLength(1);
  expect(audit[0]!.entityIds).toContain(details.illegalDiskIds[0]);
  const state = await queryCommandState(stack.client, handle.workflowId);
  expect(state.commandStatus).toBe('ENDED_WITH_FAILURE');
  const failedRow = state.tasks.find((t) => t.imageId === details.illegalDiskIds[0])!;
  expect(failedRow).toMatchObject({
    state: 'Cleared',
    status: 'finished',
    result: 'cleanSuccess',
    code: 100,
  });
});

test('268 on delete (image already gone) ends that image successfully at once', async () => {
  stack = await startEngineStack({ faults: { durations: { 'Image.delete': 100 } } });
  const vm = stack.vmByName('web-01');
  const gone = stack.fixture.disks.find((d) => d.id === vm.disks[0])!;
  // Someone removed the image behind the engine's back.
  const spmHostId = stack.sim.spmHostId();
  const spm = stack.sim.hosts.find((h) => h.hostId === spmHostId)!;
  const api = stack.vdsm.host({ hostId: spm.hostId, address: spm.address, port: spm.port });
  const taskId = await api.imageDelete({
    imageID: gone.id,
    storagepoolID: stack.fixture.pool.id,
    storagedomainID: gone.domainId,
    postZero: false,
    force: false,
    discard: false,
  });
  await eventually(async () =>
    (await api.taskGetStatus(taskId)).taskState === 'finished' ? true : undefined,
  );
  await api.taskClear(taskId);
  stack.sim.resetCounters();

  const { handle } = await submitRemoveVm(stack.client, { vmId: vm.id }, { taskQueue: stack.taskQueue });
  const result = await handle.result();
  expect(result.removedDiskIds).toHaveLength(4);
  expect(stack.sim.counters().pools[stack.fixture.pool.id]!.verbs['Image.delete']).toBe(4);
  const row = (await queryCommandState(stack.client, handle.workflowId)).tasks.find(
    (t) => t.imageId === gone.id,
  )!;
  expect(row).toMatchObject({ vdsmTaskId: null, code: 268, state: 'Cleared', result: 'success' });
  await expectClean(stack, vm.disks);
});

test('cancelling mid-task stops the VDSM tasks; VDSM lets each purge finish, so the images are gone and called removed', async () => {
  // As VDSM: an image purge has no abort callback, so Task.stop lets it run to its end and then
  // reports the task rolled back (cleanSuccess). Storage is the truth: the images are removed.
  stack = await startEngineStack({ faults: { durations: { 'Image.delete': 3_000 }, rollbackMs: 300 } });
  const vm = stack.vmByName('web-01');
  const { handle } = await submitRemoveVm(stack.client, { vmId: vm.id }, { taskQueue: stack.taskQueue });
  await eventually(() => (stack!.sim.listTasks().length === 4 ? true : undefined), 20_000, '4 running tasks');
  await eventually(async () => {
    const s = await queryCommandState(stack!.client, handle.workflowId);
    return s.tasks.every((t) => t.state === 'Polling') ? true : undefined;
  });
  await handle.cancel();
  const failure = await failureOf(handle.result());
  expect(failure.cause).toBeInstanceOf(CancelledFailure);

  const counters = stack.sim.counters().pools[stack.fixture.pool.id]!;
  expect(counters.verbs['Task.stop']).toBe(4);
  expect(counters.verbs['Task.clear']).toBe(4);
  for (const diskId of vm.disks) expect(await stack.inventory.getDisk(diskId)).toBeUndefined();
  const rows = (await queryCommandState(stack.client, handle.workflowId)).tasks;
  for (const row of rows) {
    expect(row).toMatchObject({
      state: 'Cleared',
      status: 'finished',
      result: 'cleanSuccess',
      stepSucceeded: true,
    });
    expect(row.message).toMatch(/gone from its domain/);
  }
  await expectClean(stack, vm.disks);
  const audit = await stack.inventory.listAudit({ correlationId: handle.workflowId });
  expect(audit.map((a) => a.type)).toContain('USER_REMOVE_VM_CANCELLED');
});

test('submitting the same RemoveVm twice gives one execution', async () => {
  stack = await startEngineStack({ faults: { durations: { 'Image.delete': 500 } } });
  const vm = stack.vmByName('web-01');
  const [a, b] = await Promise.all([
    submitRemoveVm(stack.client, { vmId: vm.id }, { taskQueue: stack.taskQueue }),
    submitRemoveVm(stack.client, { vmId: vm.id }, { taskQueue: stack.taskQueue }),
  ]);
  const runA = (await a.handle.describe()).runId;
  const runB = (await b.handle.describe()).runId;
  expect(runA).toBe(runB);
  await a.handle.result();
  // After success, a third submission finds the finished run instead of starting another.
  const c = await submitRemoveVm(stack.client, { vmId: vm.id }, { taskQueue: stack.taskQueue });
  expect(c.started).toBe(false);
  expect((await c.handle.describe()).runId).toBe(runA);
  expect(stack.sim.counters().pools[stack.fixture.pool.id]!.verbs['Image.delete']).toBe(4);
  await expectClean(stack, vm.disks);
});

test('RemoveDisk removes one floating disk on the same step', async () => {
  stack = await startEngineStack({ faults: { durations: { 'Image.delete': 100 } } });
  const disk = stack.fixture.disks.find((d) => d.vmId === null)!;
  const { handle } = await submitRemoveDisk(
    stack.client,
    { diskId: disk.id },
    { taskQueue: stack.taskQueue, inventory: stack.inventory },
  );
  expect(await handle.result()).toEqual({ diskId: disk.id });
  expect(await stack.inventory.getDisk(disk.id)).toBeUndefined();
  await expectClean(stack, [disk.id]);
});

test('a start VDSM keeps refusing with a retryable code gives up after TASK_START_MAX_ATTEMPTS: the disk is ILLEGAL, typed', async () => {
  stack = await startEngineStack({
    config: { TASK_START_MAX_ATTEMPTS: '3' },
    faults: { failures: [{ verb: 'Image.delete', phase: 'sync', code: 851 }] },
  });
  const disk = stack.fixture.disks.find((d) => d.vmId === null)!;
  const { handle } = await submitRemoveDisk(
    stack.client,
    { diskId: disk.id },
    { taskQueue: stack.taskQueue },
  );
  const failure = await failureOf(handle.result());
  expect((failure.cause as ApplicationFailure).type).toBe(ErrorType.VdsmError);
  expect(stack.sim.counters().pools[stack.fixture.pool.id]!.verbs['Image.delete']).toBe(3);
  expect((await stack.inventory.getDisk(disk.id))?.status).toBe('ILLEGAL');
  await expectClean(stack, [disk.id]);
});

test('VDSM 256 (image delete error) ends the step with failure at once, without retrying', async () => {
  stack = await startEngineStack({
    faults: { failures: [{ verb: 'Image.delete', phase: 'sync', code: 256, count: 1 }] },
  });
  const disk = stack.fixture.disks.find((d) => d.vmId === null)!;
  const { handle } = await submitRemoveDisk(
    stack.client,
    { diskId: disk.id },
    { taskQueue: stack.taskQueue },
  );
  const failure = await failureOf(handle.result());
  expect((failure.cause as ApplicationFailure).type).toBe(ErrorType.VdsmError);
  expect(stack.sim.counters().pools[stack.fixture.pool.id]!.verbs['Image.delete']).toBe(1);
  const audit = await stack.inventory.listAudit({ type: 'DELETE_IMAGE_GROUP_TASK_FAILED' });
  expect(audit).toHaveLength(1);
  // The engine's message, with the image's volume ids.
  for (const volumeId of disk.volumeIds) expect(audit[0]!.message).toContain(volumeId);
  expect(audit[0]!.severity).toBe('ERROR');
  expect(await stack.inventory.listAudit({ type: 'USER_FINISHED_FAILED_REMOVE_DISK' })).toEqual([
    expect.objectContaining({ severity: 'WARNING' }),
  ]);
});

describe('validation refuses bad commands before anything changes', () => {
  beforeEach(async () => {
    stack = await startEngineStack();
  });

  test('malformed input is rejected by the client before contacting anything', async () => {
    await expect(submitRemoveVm(stack!.client, { vmId: 'not-a-uuid' })).rejects.toThrow(
      InvalidCommandInputError,
    );
    await expect(
      submitRemoveVm(stack!.client, { vmId: stack!.vmByName('web-01').id, extra: 1 }),
    ).rejects.toThrow(/Unrecognized key/);
    await expect(submitRemoveDisk(stack!.client, {})).rejects.toThrow(/diskId: Required/);
  });

  test('unknown VM: refused by the client with an inventory, failed typed by the workflow without one', async () => {
    const vmId = '00000000-0000-4000-8000-000000000000';
    await expect(submitRemoveVm(stack!.client, { vmId }, { inventory: stack!.inventory })).rejects.toThrow(
      CommandRefusedError,
    );
    const { handle } = await submitRemoveVm(stack!.client, { vmId }, { taskQueue: stack!.taskQueue });
    const failure = await failureOf(handle.result());
    expect((failure.cause as ApplicationFailure).type).toBe(ErrorType.VmNotFound);
  });

  test.each([
    [
      'an Up VM',
      (s: EngineStack) => s.fixture.vms.find((v) => v.status === 'Up')!.id,
      ErrorType.VmStatusNotAllowed,
    ],
    [
      'a delete-protected VM',
      (s: EngineStack) => s.fixture.vms.find((v) => v.deleteProtected)!.id,
      ErrorType.VmDeleteProtected,
    ],
    ['a VM with a LOCKED disk', (s: EngineStack) => s.vmByName('locked-01').id, ErrorType.DiskLocked],
  ])('%s fails with a typed error and changes nothing', async (_what, pick, type) => {
    const vmId = pick(stack!);
    const s = stack!;
    const before = { vm: await s.inventory.getVm(vmId), disks: await s.inventory.listDisks({ vmId }) };
    const { handle } = await submitRemoveVm(stack!.client, { vmId }, { taskQueue: stack!.taskQueue });
    const failure = await failureOf(handle.result());
    expect((failure.cause as ApplicationFailure).type).toBe(type);
    expect(await stack!.inventory.getVm(vmId)).toEqual(before.vm);
    expect(await stack!.inventory.listDisks({ vmId })).toEqual(before.disks);
    expect(await stack!.inventory.listLocks()).toEqual([]);
    expect(stack!.sim.counters().pools[stack!.fixture.pool.id]?.verbs['Image.delete'] ?? 0).toBe(0);
  });

  test('force removes a VM whose disk is LOCKED', async () => {
    const vm = stack!.vmByName('locked-01');
    const { handle } = await submitRemoveVm(
      stack!.client,
      { vmId: vm.id, force: true },
      { taskQueue: stack!.taskQueue },
    );
    await handle.result();
    await expectClean(stack!, vm.disks);
  });
});
