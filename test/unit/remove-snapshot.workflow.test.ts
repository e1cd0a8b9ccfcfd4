/**
 * RemoveSnapshot on the time-skipping test server with in-memory activities: each disk's four
 * stages in order (PrepareMerge task, ColdMerge job, FinalizeMerge task, DestroyImage task), a
 * failure at each stage stopping that disk only (forward only: nothing undone), storage deciding
 * a disk's end after FinalizeMerge, a refusal, and a cancel while a merge job runs.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { RemoveSnapshotFailureDetails, RemoveSnapshotPlan } from '../../src/shared/commands';
import { ErrorType } from '../../src/shared/errors';
import { commandStateQuery, taskTableQuery } from '../../src/shared/messages';
import { removeSnapshotWorkflow } from '../../src/workflows/remove-snapshot';
import { fail, FakeActivities, failure as typedFailure } from '../support/fake-activities';
import { until, timeSkippingSuitePerFile } from '../support/time-skipping';
import { failureOf } from '../support/workflow-failure';

const suite = timeSkippingSuitePerFile();

const VM_ID = '11111111-1111-4111-8111-111111111111';
const DISKS = ['disk-1', 'disk-2', 'disk-3'];
const top = (diskId: string): string => `${diskId}-top`;
const base = (diskId: string): string => `${diskId}-base`;

function plan(snapshotId: string): RemoveSnapshotPlan {
  return {
    snapshotId,
    description: 'before upgrade',
    vmId: VM_ID,
    vmName: 'web-01',
    poolId: 'pool-1',
    startMaxAttempts: 3,
    disks: DISKS.map((diskId) => ({
      diskId,
      alias: `web-01_${diskId}`,
      domainId: 'domain-1',
      baseVolumeId: base(diskId),
      topVolumeId: top(diskId),
      postZero: false,
      discard: false,
    })),
  };
}

function snapshotFake(): FakeActivities {
  return new FakeActivities().on('prepareRemoveSnapshot', async ({ input }) => plan(input.snapshotId));
}

const input = () => ({ vmId: VM_ID, snapshotId: randomUUID() });

/** The storage verbs sent for one disk, in order. */
function stagesOf(fake: FakeActivities, diskId: string): string[] {
  return fake.calls.flatMap((c) => {
    if (c.name === 'startSpmTask') {
      const { task } = c.input as { task: { verb: string; params: Record<string, unknown> } };
      const img = task.params.imageID ?? (task.params.subchainInfo as { img_id: string }).img_id;
      return img === diskId ? [task.verb] : [];
    }
    if (c.name === 'startHostJob') {
      const { job } = c.input as { job: { verb: string; params: { subchain_info: { img_id: string } } } };
      return job.params.subchain_info.img_id === diskId ? [job.verb] : [];
    }
    return [];
  });
}

const ALL_STAGES = [
  'StoragePool.prepareMerge',
  'SDM.merge',
  'StoragePool.finalizeMerge',
  'Image.deleteVolumes',
];

function applicationFailure(err: Error): ApplicationFailure {
  const cause = (err as { cause?: unknown }).cause;
  if (!(cause instanceof ApplicationFailure))
    throw new Error(`expected an ApplicationFailure, got ${String(cause)}`);
  return cause;
}

describe('RemoveSnapshot', () => {
  test('every disk merged: four stages per disk in order, the snapshot finished as merged', async () => {
    const fake = snapshotFake();
    const handle = await suite.start(removeSnapshotWorkflow, [input()], fake);
    const result = await handle.result();
    const rows = await handle.query(taskTableQuery);

    expect([...result.mergedDiskIds].sort()).toEqual(DISKS);
    for (const disk of DISKS) expect(stagesOf(fake, disk)).toEqual(ALL_STAGES);
    const merge = fake
      .callsOf('startHostJob')
      .find((c) => JSON.stringify(c.job.params).includes('"disk-1"'))!;
    expect(merge.job).toMatchObject({ verb: 'SDM.merge' });
    expect(merge.job.params).toMatchObject({
      subchain_info: { img_id: 'disk-1', base_id: base('disk-1'), top_id: top('disk-1'), sd_id: 'domain-1' },
    });
    // The job is judged by the base: the volume it writes.
    expect(
      fake
        .callsOf('waitForHostJob')
        .map((c) => c.entity.volumeId)
        .sort(),
    ).toEqual(DISKS.map(base));
    const destroy = fake.callsOf('startSpmTask').filter((c) => c.task.verb === 'Image.deleteVolumes');
    expect(
      destroy.map((c) => (c.task.verb === 'Image.deleteVolumes' ? c.task.params.volumeList : [])).sort(),
    ).toEqual(DISKS.map((d) => [top(d)]));
    expect(
      fake
        .callsOf('endRemoveSnapshotDisk')
        .map((c) => [c.disk.diskId, c.stage])
        .sort(),
    ).toEqual(DISKS.map((d) => [d, 'merged']));
    expect(fake.callsOf('finishRemoveSnapshot')).toHaveLength(1);
    expect(fake.callsOf('finishRemoveSnapshot')[0]).toMatchObject({ cancelled: false, reason: null });
    expect(fake.callsOf('clearTask')).toHaveLength(9);
    expect(rows).toHaveLength(12);
    for (const row of rows)
      expect(row).toMatchObject({ state: 'Cleared', status: 'finished', result: 'success' });
    expect((await handle.query(commandStateQuery)).commandStatus).toBe('ENDED_SUCCESSFULLY');
  });

  test.each([
    ['PrepareMerge', 'prepareMerge', 1],
    ['FinalizeMerge', 'finalizeMerge', 3],
    ['DestroyImage', 'deleteVolume', 4],
  ] as const)(
    'a %s task fails on one disk: that disk stops there, the others merge',
    async (stage, taskVerb, sent) => {
      const fake = snapshotFake().endsAs(
        `${taskVerb}/${top('disk-2')}`,
        'finished',
        'cleanFailure',
        100,
        'boom',
      );
      const handle = await suite.start(removeSnapshotWorkflow, [input()], fake);
      const failure = applicationFailure(await failureOf(handle.result()));
      const details = failure.details?.[0] as RemoveSnapshotFailureDetails;

      expect(failure.type).toBe(ErrorType.TaskFailed);
      expect(failure.message).toContain(`disk web-01_disk-2: ${stage} failed`);
      expect(stagesOf(fake, 'disk-2')).toEqual(ALL_STAGES.slice(0, sent));
      expect(stagesOf(fake, 'disk-1')).toEqual(ALL_STAGES);
      expect(stagesOf(fake, 'disk-3')).toEqual(ALL_STAGES);
      // Forward only: nothing is reverted or stopped.
      expect(fake.callsOf('revertTask')).toEqual([]);
      expect(fake.callsOf('stopTask')).toEqual([]);
      expect(details).toMatchObject({ failedStages: { 'disk-2': stage }, illegalDiskIds: [] });
      expect([...details.mergedDiskIds].sort()).toEqual(['disk-1', 'disk-3']);
      const ends = fake.callsOf('endRemoveSnapshotDisk').map((c) => [c.disk.diskId, c.stage]);
      expect(ends.sort()).toEqual([
        ['disk-1', 'merged'],
        ['disk-2', stage],
        ['disk-3', 'merged'],
      ]);
      expect(fake.callsOf('finishRemoveSnapshot')[0]!.reason).toContain('web-01_disk-2');
      expect((await handle.query(commandStateQuery)).commandStatus).toBe('ENDED_WITH_FAILURE');
    },
  );

  test('the merge job fails on one disk: no FinalizeMerge for it, the disk ends as it was', async () => {
    const fake = snapshotFake().on('waitForHostJob', async (job, f) =>
      job.entity.imageId === 'disk-1'
        ? {
            status: 'failed',
            progress: 40,
            how: 'event',
            error: { code: 100, message: 'qemu-img commit failed' },
          }
        : f.byDefault('waitForHostJob', job),
    );
    const failure = applicationFailure(await failureOf(suite.run(removeSnapshotWorkflow, [input()], fake)));

    expect(failure.type).toBe(ErrorType.TaskFailed);
    expect(failure.message).toContain('ColdMerge failed');
    expect(failure.message).toContain('qemu-img commit failed');
    expect(stagesOf(fake, 'disk-1')).toEqual(ALL_STAGES.slice(0, 2));
    expect(fake.callsOf('endRemoveSnapshotDisk').find((c) => c.disk.diskId === 'disk-1')?.stage).toBe(
      'ColdMerge',
    );
    expect((failure.details?.[0] as RemoveSnapshotFailureDetails).failedStages).toEqual({
      'disk-1': 'ColdMerge',
    });
  });

  test('DestroyImage fails and storage still has the top: its disk is ILLEGAL, the command names it', async () => {
    const fake = snapshotFake()
      .endsAs(`deleteVolume/${top('disk-3')}`, 'finished', 'cleanFailure', 100, 'cannot remove')
      .on('endRemoveSnapshotDisk', async (end, f) =>
        end.disk.diskId === 'disk-3'
          ? { diskId: 'disk-3', merged: true, status: 'ILLEGAL', leftoverVolumeId: top('disk-3') }
          : f.byDefault('endRemoveSnapshotDisk', end),
      );
    const failure = applicationFailure(await failureOf(suite.run(removeSnapshotWorkflow, [input()], fake)));
    const details = failure.details?.[0] as RemoveSnapshotFailureDetails;

    expect(failure.type).toBe(ErrorType.TaskFailed);
    expect(details.illegalDiskIds).toEqual(['disk-3']);
    expect(details.failedStages).toEqual({ 'disk-3': 'DestroyImage' });
    // The chain of disk-3 is merged (its top left it), so it counts as merged for the snapshot.
    expect([...details.mergedDiskIds].sort()).toEqual(DISKS);
    expect(failure.message).toContain('ILLEGAL: disk-3');
  });

  test('a failed DestroyImage whose top VDSM no longer has is no failure', async () => {
    const fake = snapshotFake()
      .endsAs(`deleteVolume/${top('disk-1')}`, 'unknown')
      .on('endRemoveSnapshotDisk', async (end) => ({
        diskId: end.disk.diskId,
        merged: true,
        status: 'OK',
        leftoverVolumeId: null,
      }));
    const result = await suite.run(removeSnapshotWorkflow, [input()], fake);
    expect([...result.mergedDiskIds].sort()).toEqual(DISKS);
    expect(fake.callsOf('endRemoveSnapshotDisk').find((c) => c.disk.diskId === 'disk-1')?.stage).toBe(
      'DestroyImage',
    );
    expect(fake.callsOf('finishRemoveSnapshot')[0]).toMatchObject({ reason: null, cancelled: false });
  });

  test('a disk whose end cannot be recorded is ILLEGAL and fails the command with that failure type', async () => {
    const fake = snapshotFake().on('endRemoveSnapshotDisk', async (end, f) => {
      if (end.disk.diskId === 'disk-2')
        throw typedFailure(ErrorType.VdsmError, 'Volume.getInfo: 358 domain gone');
      return f.byDefault('endRemoveSnapshotDisk', end);
    });
    const failure = applicationFailure(await failureOf(suite.run(removeSnapshotWorkflow, [input()], fake)));
    const details = failure.details?.[0] as RemoveSnapshotFailureDetails;

    expect(failure.type).toBe(ErrorType.VdsmError);
    expect(failure.message).toContain('web-01_disk-2: its state after merged could not be recorded');
    expect(details).toMatchObject({ failedStages: { 'disk-2': 'merged' } });
    expect([...details.mergedDiskIds].sort()).toEqual(['disk-1', 'disk-3']);
    const finish = fake.callsOf('finishRemoveSnapshot')[0]!;
    expect(finish.outcomes.find((o) => o.diskId === 'disk-2')).toMatchObject({
      status: 'ILLEGAL',
      merged: false,
    });
  });

  test('refused: the workflow fails with the refusal type and no step starts', async () => {
    const fake = new FakeActivities().on(
      'prepareRemoveSnapshot',
      fail(ErrorType.VmStatusNotAllowed, 'VM web-01 is Up; a cold snapshot removal needs it Down'),
    );
    const handle = await suite.start(removeSnapshotWorkflow, [input()], fake);
    const failure = applicationFailure(await failureOf(handle.result()));

    expect(failure.type).toBe(ErrorType.VmStatusNotAllowed);
    expect(fake.names()).toEqual(['prepareRemoveSnapshot']);
    expect(await handle.query(commandStateQuery)).toMatchObject({ commandStatus: 'FAILED', tasks: [] });
  });

  test('invalid input fails before any activity', async () => {
    const fake = snapshotFake();
    const failure = applicationFailure(
      await failureOf(suite.run(removeSnapshotWorkflow, [{ vmId: VM_ID, snapshotId: 'nope' }], fake)),
    );
    expect(failure.type).toBe(ErrorType.InvalidInput);
    expect(failure.message).toContain('snapshotId');
    expect(fake.calls).toEqual([]);
  });

  test('cancelled while the merge jobs run: each job is followed to its end, then nothing more', async () => {
    let released = false;
    const fake = snapshotFake().on('waitForHostJob', async (job, f) => {
      while (!released) await new Promise((resolve) => setTimeout(resolve, 20));
      return f.byDefault('waitForHostJob', job);
    });
    const handle = await suite.start(removeSnapshotWorkflow, [input()], fake);
    await until(
      'three merge jobs followed',
      () => fake.callsOf('waitForHostJob').length,
      (n) => n === 3,
      15_000,
    );
    await handle.cancel();
    // The cancel reaches the parent while the jobs run; they end afterwards.
    await new Promise((resolve) => setTimeout(resolve, 200));
    released = true;
    const err = await failureOf(handle.result());

    expect(err.cause).toBeInstanceOf(CancelledFailure);
    for (const disk of DISKS) expect(stagesOf(fake, disk)).toEqual(ALL_STAGES.slice(0, 2));
    expect(fake.callsOf('finishRemoveSnapshot')).toEqual([expect.objectContaining({ cancelled: true })]);
    expect(fake.callsOf('endRemoveSnapshotDisk').map((c) => c.stage)).toEqual([
      'FinalizeMerge',
      'FinalizeMerge',
      'FinalizeMerge',
    ]);
  });
});
