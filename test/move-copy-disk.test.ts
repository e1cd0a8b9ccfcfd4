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
import { ExitCode } from '../src/cli/exit-codes';
import { poolVerbs, stackPerTest } from './support/engine-stack';
import { runStackCli } from './support/stack-cli';
import {
  chains,
  expectStorageMatchesInventory,
  floatingDisk,
  startCopyDisk,
  startMoveDisk,
} from './support/storage';
import { failureOf } from './support/workflow-failure';

jest.setTimeout(120_000);

const stacks = stackPerTest();

test('moves a disk: destination volume, data copied by a host job, source removed, mapping moved', async () => {
  const s = await stacks.start({
    faults: { durations: { 'Volume.create': 200, 'SDM.copy_data': 500, 'Image.delete': 200 } },
  });
  const { disk, to } = floatingDisk(s);
  const handle = await startMoveDisk(s, disk.id, to.id);
  const result = (await handle.result()) as MoveOrCopyResult;

  expect(result).toMatchObject({ diskId: disk.id, domainId: to.id });
  expect(await s.inventory.getDisk(disk.id)).toMatchObject({ domainId: to.id, status: 'OK' });
  expect(s.sim.imageExists(disk.domainId, disk.id)).toBe(false);
  expect((await chains(s, to.id, disk.id)).storage).toHaveLength(1);
  expect(poolVerbs(s)).toMatchObject({ 'Volume.create': 1, 'SDM.copy_data': 1, 'Image.delete': 1 });
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
  const s = await stacks.start({ faults: { durations: { 'Volume.create': 200, 'SDM.copy_data': 300 } } });
  const { disk, to } = floatingDisk(s);
  const commandId = randomUUID();
  const handle = await startCopyDisk(s, disk.id, to.id, commandId);
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
  const s = await stacks.start({
    faults: {
      durations: { 'Volume.create': 200, 'SDM.copy_data': 300, 'Image.delete': 200 },
      failures: [{ verb: 'SDM.copy_data', phase: 'task', code: 100, count: 1 }],
    },
  });
  const { disk, to } = floatingDisk(s);
  const handle = await startMoveDisk(s, disk.id, to.id);
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
  const s = await stacks.start();
  const { disk } = floatingDisk(s);
  const same = await failureOf((await startMoveDisk(s, disk.id, disk.domainId)).result());
  expect((same.cause as ApplicationFailure).type).toBe(ErrorType.InvalidInput);
  expect(poolVerbs(s)['Volume.create'] ?? 0).toBe(0);
  expect(await s.inventory.listLocks()).toEqual([]);
});

test('ovirt-tasks submit move-disk --wait moves it; a move to its own domain is refused before anything starts', async () => {
  const s = await stacks.start({
    faults: { durations: { 'Volume.create': 200, 'SDM.copy_data': 300, 'Image.delete': 200 } },
  });
  const { disk, to } = floatingDisk(s);
  const refused = await runStackCli(s, [
    'submit',
    'move-disk',
    '--disk',
    disk.id,
    '--to',
    s.fixture.domains.find((d) => d.id === disk.domainId)!.name,
  ]);
  expect(refused.status).toBe(ExitCode.Usage);
  expect(refused.stderr).toMatch(/refused \(InvalidInput\): disk .* is already on/);
  expect(poolVerbs(s)['Volume.create'] ?? 0).toBe(0);

  const moved = await runStackCli(s, ['submit', 'move-disk', '--disk', disk.id, '--to', to.name, '--wait']);
  expect({ status: moved.status, stderr: moved.stderr }).toMatchObject({ status: ExitCode.Ok });
  expect(await s.inventory.getDisk(disk.id)).toMatchObject({ domainId: to.id, status: 'OK' });
});
