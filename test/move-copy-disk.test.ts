/**
 * Cold MoveDisk and CopyDisk end to end: an SPM task (Volume.create on the destination), a host job
 * (SDM.copy_data, followed by events and Host.getJobs), and for a move the source's Image.delete.
 * Real dev server, the simulator over STOMP, the SQLite inventory, an in-process worker.
 */
import { randomUUID } from 'node:crypto';
import type { ApplicationFailure } from '@temporalio/common';
import { queryCommandState } from '../src/client';
import type { MoveOrCopyResult } from '../src/shared/commands';
import { ErrorType } from '../src/shared/errors';
import { workflowIds, WorkflowType } from '../src/shared/names';
import { ExitCode } from '../src/cli/exit-codes';
import { spawnCli } from './support/cli';
import { startEngineStack, type EngineStack } from './support/engine-stack';
import { testAddress, TEST_NAMESPACE } from './support/temporal';
import { chains, expectStorageMatchesInventory } from './support/storage';
import { failureOf } from './support/workflow-failure';

jest.setTimeout(120_000);

let stack: EngineStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

const verbs = (s: EngineStack): Record<string, number> =>
  s.sim.counters().pools[s.fixture.pool.id]?.verbs ?? {};

/** A floating single-volume disk on an NFS domain, and another NFS domain to move it to. */
function floatingDisk(s: EngineStack) {
  const disk = s.fixture.disks.find(
    (d) =>
      d.vmId === null &&
      !d.shareable &&
      d.volumeIds.length === 1 &&
      d.status === 'OK' &&
      s.fixture.domains.find((dom) => dom.id === d.domainId)?.storageType === 'nfs',
  )!;
  const to = s.fixture.domains.find((d) => d.storageType === 'nfs' && d.id !== disk.domainId)!;
  return { disk, to };
}

test('moves a disk: destination volume, data copied by a host job, source removed, mapping moved', async () => {
  stack = await startEngineStack({
    faults: { durations: { 'Volume.create': 200, 'SDM.copy_data': 500, 'Image.delete': 200 } },
  });
  const s = stack;
  const { disk, to } = floatingDisk(s);
  const handle = await s.client.workflow.start(WorkflowType.moveDisk, {
    taskQueue: s.taskQueue,
    workflowId: workflowIds.moveDisk(disk.id),
    args: [{ diskId: disk.id, toDomainId: to.id }],
  });
  const result = (await handle.result()) as MoveOrCopyResult;

  expect(result).toMatchObject({ diskId: disk.id, domainId: to.id });
  expect(await s.inventory.getDisk(disk.id)).toMatchObject({ domainId: to.id, status: 'OK' });
  expect(s.sim.imageExists(disk.domainId, disk.id)).toBe(false);
  expect((await chains(s, to.id, disk.id)).storage).toHaveLength(1);
  expect(verbs(s)).toMatchObject({ 'Volume.create': 1, 'SDM.copy_data': 1, 'Image.delete': 1 });
  const state = await queryCommandState(s.client, handle.workflowId);
  expect(state.commandStatus).toBe('ENDED_SUCCESSFULLY');
  expect(state.tasks.map((t) => [t.commandType, t.state])).toEqual([
    ['CreateVolumeContainer', 'Cleared'],
    ['CopyData', 'Cleared'],
    ['RemoveImage', 'Cleared'],
  ]);
  expect(await s.inventory.listAudit({ type: 'USER_MOVED_DISK_FINISHED_SUCCESS' })).toHaveLength(1);
  expect(await s.inventory.listLocks()).toEqual([]);
  expect(s.sim.listTasks()).toEqual([]);
  await expectStorageMatchesInventory(s);
});

test('copies a disk to a new floating disk; the source is untouched', async () => {
  stack = await startEngineStack({ faults: { durations: { 'Volume.create': 200, 'SDM.copy_data': 300 } } });
  const s = stack;
  const { disk, to } = floatingDisk(s);
  const commandId = randomUUID();
  const handle = await s.client.workflow.start(WorkflowType.copyDisk, {
    taskQueue: s.taskQueue,
    workflowId: workflowIds.copyDisk(commandId),
    args: [{ diskId: disk.id, toDomainId: to.id, commandId }],
  });
  const result = (await handle.result()) as MoveOrCopyResult;
  expect(result.diskId).not.toBe(disk.id);
  expect(await s.inventory.getDisk(result.diskId)).toMatchObject({
    domainId: to.id,
    status: 'OK',
    alias: `${disk.alias}_copy`,
  });
  expect(await s.inventory.getDisk(disk.id)).toMatchObject({ domainId: disk.domainId, status: 'OK' });
  expect(s.sim.imageExists(disk.domainId, disk.id)).toBe(true);
  expect(await s.inventory.listLocks()).toEqual([]);
  await expectStorageMatchesInventory(s);
});

test('the copy job fails: the destination is removed, the source untouched, the move fails typed', async () => {
  stack = await startEngineStack({
    faults: {
      durations: { 'Volume.create': 200, 'SDM.copy_data': 300, 'Image.delete': 200 },
      failures: [{ verb: 'SDM.copy_data', phase: 'task', code: 100, count: 1 }],
    },
  });
  const s = stack;
  const { disk, to } = floatingDisk(s);
  const handle = await s.client.workflow.start(WorkflowType.moveDisk, {
    taskQueue: s.taskQueue,
    workflowId: workflowIds.moveDisk(disk.id),
    args: [{ diskId: disk.id, toDomainId: to.id }],
  });
  const failure = await failureOf(handle.result());
  expect((failure.cause as ApplicationFailure).type).toBe(ErrorType.TaskFailed);
  expect(await s.inventory.getDisk(disk.id)).toMatchObject({ domainId: disk.domainId, status: 'OK' });
  expect(s.sim.imageExists(disk.domainId, disk.id)).toBe(true);
  expect(s.sim.imageExists(to.id, disk.id)).toBe(false);
  expect(await s.inventory.listLocks()).toEqual([]);
  expect(s.sim.listTasks()).toEqual([]);
  await expectStorageMatchesInventory(s);
});

test('refused before anything starts: a move to the domain the disk is on', async () => {
  stack = await startEngineStack();
  const s = stack;
  const { disk } = floatingDisk(s);
  const same = await failureOf(
    (
      await s.client.workflow.start(WorkflowType.moveDisk, {
        taskQueue: s.taskQueue,
        workflowId: workflowIds.moveDisk(disk.id),
        args: [{ diskId: disk.id, toDomainId: disk.domainId }],
      })
    ).result(),
  );
  expect((same.cause as ApplicationFailure).type).toBe(ErrorType.InvalidInput);
  expect(verbs(s)['Volume.create'] ?? 0).toBe(0);
  expect(await s.inventory.listLocks()).toEqual([]);
});

/** The built CLI against the stack, run to its end without blocking the in-process worker. */
function cli(
  s: EngineStack,
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(args, {
    TEMPORAL_ADDRESS: testAddress(),
    TEMPORAL_NAMESPACE: TEST_NAMESPACE,
    OVIRT_TASKS_INVENTORY_URL: s.inventoryUrl,
    OVIRT_TASKS_TASK_QUEUE: s.taskQueue,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

test('ovirt-tasks submit move-disk --wait moves it; a move to its own domain is refused before anything starts', async () => {
  stack = await startEngineStack({
    faults: { durations: { 'Volume.create': 200, 'SDM.copy_data': 300, 'Image.delete': 200 } },
  });
  const s = stack;
  const { disk, to } = floatingDisk(s);
  const refused = await cli(s, [
    'submit',
    'move-disk',
    '--disk',
    disk.id,
    '--to',
    s.fixture.domains.find((d) => d.id === disk.domainId)!.name,
  ]);
  expect(refused.status).toBe(ExitCode.Usage);
  expect(refused.stderr).toMatch(/refused \(InvalidInput\): disk .* is already on/);
  expect(verbs(s)['Volume.create'] ?? 0).toBe(0);

  const moved = await cli(s, ['submit', 'move-disk', '--disk', disk.id, '--to', to.name, '--wait']);
  expect({ status: moved.status, stderr: moved.stderr }).toMatchObject({ status: ExitCode.Ok });
  expect(await s.inventory.getDisk(disk.id)).toMatchObject({ domainId: to.id, status: 'OK' });
});
