/**
 * The host-job step through the whole MoveDisk command when things go wrong: a worker process
 * SIGKILLed right after the simulator accepted SDM.copy_data (the retry meets "job exists" and
 * follows the one job), every job event lost (the Host.getJobs poll ends the step), and the host
 * running the copy dying mid-copy (the destination is fenced, then removed; the source untouched).
 * Real dev server, simulator on loopback, workers as real processes or in-process.
 */
import type { ApplicationFailure } from '@temporalio/common';
import { queryCommandState } from '../src/client';
import type { MoveOrCopyResult } from '../src/shared/commands';
import { ErrorType } from '../src/shared/errors';
import { eventually, poolVerbs, stackPerTest, type EngineStack } from './support/engine-stack';
import { chains, expectNothingLeft, floatingDisk, startMoveDisk } from './support/storage';
import { killed, killSpawnedWorkers, spawnWorker } from './support/worker-process';
import { failureOf } from './support/workflow-failure';

jest.setTimeout(180_000);

const stacks = stackPerTest(killSpawnedWorkers);

/** Every job the simulator's hosts know (ended ones stay for jobAutodeleteMs, an hour by default). */
const jobIds = (s: EngineStack): string[] =>
  Object.values(s.sim.listJobs()).flatMap((perHost) => Object.keys(perHost));

test('worker SIGKILLed right after SDM.copy_data was accepted: another worker follows the one job to a moved disk', async () => {
  const s = await stacks.start({
    worker: false,
    // Every answer is slow from the start (the verb runs at once), so the worker dies with the
    // copy job accepted and its "true" unheard, however late this test sees the job.
    faults: {
      durations: { 'Volume.create': 200, 'SDM.copy_data': 2_000, 'Image.delete': 200 },
      latencyMs: 4_000,
    },
  });
  const { disk, to } = floatingDisk(s);
  const worker = spawnWorker(s);
  const handle = await startMoveDisk(s, disk.id, to.id);
  await eventually(() => (jobIds(s).length === 1 ? true : undefined), 60_000, 'SDM.copy_data accepted');
  await killed(worker);
  s.sim.setFaults({ latencyMs: null });
  const [jobId] = jobIds(s);

  spawnWorker(s);
  const result = (await handle.result()) as MoveOrCopyResult;
  expect(result).toMatchObject({ diskId: disk.id, domainId: to.id });
  // The retry sent the verb again and met "job exists": one job on the simulator, ours.
  expect(jobIds(s)).toEqual([jobId]);
  expect(poolVerbs(s)['SDM.copy_data']).toBe(2);
  expect(poolVerbs(s)).toMatchObject({ 'Volume.create': 1, 'Image.delete': 1 });
  const state = await queryCommandState(s.client, handle.workflowId);
  expect(state.commandStatus).toBe('ENDED_SUCCESSFULLY');
  expect(state.tasks.find((t) => t.commandType === 'CopyData')).toMatchObject({
    vdsmTaskId: jobId,
    state: 'Cleared',
    result: 'success',
  });
  expect(await s.inventory.getDisk(disk.id)).toMatchObject({ domainId: to.id, status: 'OK' });
  expect(s.sim.imageExists(disk.domainId, disk.id)).toBe(false);
  expect((await chains(s, to.id, disk.id)).storage).toHaveLength(1);
  await expectNothingLeft(s);
});

test('every job event lost: the Host.getJobs poll ends the copy and the move completes', async () => {
  const s = await stacks.start({
    faults: {
      durations: { 'Volume.create': 200, 'SDM.copy_data': 600, 'Image.delete': 200 },
      dropJobEvents: true,
    },
  });
  const { disk, to } = floatingDisk(s);
  const handle = await startMoveDisk(s, disk.id, to.id);
  await handle.result();
  const row = (await queryCommandState(s.client, handle.workflowId)).tasks.find(
    (t) => t.commandType === 'CopyData',
  );
  expect(row).toMatchObject({ state: 'Cleared', result: 'success', message: 'job done (seen by poll)' });
  expect(poolVerbs(s)['Host.getJobs']).toBeGreaterThan(0);
  expect(await s.inventory.getDisk(disk.id)).toMatchObject({ domainId: to.id, status: 'OK' });
  await expectNothingLeft(s);
});

test('the host running the copy dies mid-copy: the destination is fenced and removed, the move fails, the source is untouched', async () => {
  const downMs = 1_000;
  const s = await stacks.start({
    faults: {
      durations: { 'Volume.create': 200, 'SDM.copy_data': 2_000, 'Image.delete': 200 },
      jobFaults: [{ verb: 'SDM.copy_data', mode: 'crashHost', atFraction: 0.5, downMs, count: 1 }],
    },
  });
  const { disk, to } = floatingDisk(s);
  const sourceChain = await chains(s, disk.domainId, disk.id);
  const handle = await startMoveDisk(s, disk.id, to.id);
  await eventually(() => (jobIds(s).length === 1 ? true : undefined), 60_000, 'the copy job started');
  // The job vanishes with its host. A crashed SPM loses its role; the engine would elect another.
  await eventually(() => (jobIds(s).length === 0 ? true : undefined), 60_000, 'the host crashed');
  if (!s.sim.spmHostId()) {
    await new Promise((resolve) => setTimeout(resolve, downMs + 200));
    await s.sim.failover();
  }

  const failure = await failureOf(handle.result());
  expect((failure.cause as ApplicationFailure).type).toBe(ErrorType.TaskFailed);
  const row = (await queryCommandState(s.client, handle.workflowId)).tasks.find(
    (t) => t.commandType === 'CopyData',
  );
  expect(row).toMatchObject({ state: 'Cleared', result: 'failure' });
  expect(row?.message).toMatch(/job fenced \(judged by the volume's generation\)/);
  // Fenced (generation + 3), never called done, then removed with its image.
  expect(poolVerbs(s)['SDM.update_volume']).toBe(1);
  expect(s.sim.imageExists(to.id, disk.id)).toBe(false);
  expect(await s.inventory.getDisk(disk.id)).toMatchObject({ domainId: disk.domainId, status: 'OK' });
  expect(await chains(s, disk.domainId, disk.id)).toEqual(sourceChain);
  expect(await s.inventory.listAudit({ type: 'USER_MOVED_DISK_FINISHED_FAILURE' })).toHaveLength(1);
  await expectNothingLeft(s);
});
