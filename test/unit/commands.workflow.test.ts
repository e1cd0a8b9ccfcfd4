/**
 * The parents of the task step on the time-skipping test server with in-memory activities:
 * CreateSnapshot's all-or-nothing group, AddDisk refused before any step, RemoveVm's partial
 * failure. The steps run as real child workflows; one fake serves the parent and its children.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { PreparedSnapshot } from '../../src/activities/create-snapshot';
import type { ImagePlan, RemoveVmPlan } from '../../src/shared/commands';
import { ErrorType, type IllegalDisksDetails } from '../../src/shared/errors';
import { commandStateQuery, taskProgressSignal, taskTableQuery } from '../../src/shared/messages';
import { addDiskWorkflow } from '../../src/workflows/add-disk';
import { createSnapshotWorkflow } from '../../src/workflows/create-snapshot';
import { removeVmWorkflow } from '../../src/workflows/remove-vm';
import { fail, failure as typedFailure, FakeActivities, taskIdOf } from '../support/fake-activities';
import { until, timeSkippingSuitePerFile } from '../support/time-skipping';

const suite = timeSkippingSuitePerFile();

const POOL = 'pool-1';
const DOMAIN = 'domain-1';
const VM_ID = '11111111-1111-4111-8111-111111111111';
const DOMAIN_UUID = '22222222-2222-4222-8222-222222222222';
const DISKS = ['disk-1', 'disk-2', 'disk-3'];

/** The workflow's failure, whose cause is an ApplicationFailure. */
async function applicationFailureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure) return err.cause;
  throw new Error(
    `expected the workflow to fail with an ApplicationFailure, got ${(err as Error | undefined)?.message}`,
  );
}

/** What prepareCreateSnapshot answers: three disks of the VM, each with its current leaf. */
function preparedSnapshot(snapshotId: string): PreparedSnapshot {
  return {
    snapshotId,
    vmId: VM_ID,
    vmName: 'web-01',
    poolId: POOL,
    description: 'before upgrade',
    disks: DISKS.map((diskId) => ({
      diskId,
      alias: `web-01_${diskId}`,
      domainId: DOMAIN,
      sizeBytes: 1 << 30,
      leafVolumeId: `${diskId}-leaf`,
      sequence: 2,
      priorStatus: 'OK' as const,
    })),
    startMaxAttempts: 3,
  };
}

/** The volume id the workflow chose for a disk's new leaf (its Volume.create names it). */
function volumeOf(fake: FakeActivities, diskId: string): string {
  const call = fake.callsOf('startSpmTask').find((c) => c.task.params.imageID === diskId);
  if (call?.task.verb !== 'Volume.create') throw new Error(`no Volume.create for ${diskId}`);
  return call.task.params.volumeID;
}

function snapshotFake(): FakeActivities {
  return new FakeActivities().on('prepareCreateSnapshot', async ({ snapshotId }) =>
    preparedSnapshot(snapshotId),
  );
}

const snapshotInput = () => ({ vmId: VM_ID, description: 'before upgrade', commandId: randomUUID() });

describe('CreateSnapshot (all or nothing)', () => {
  test('one disk task fails: the two that succeeded are reverted, the command fails', async () => {
    const fake = snapshotFake().endsAs('disk-2', 'finished', 'cleanFailure', 205, 'Cannot create volume');
    const handle = await suite.start(createSnapshotWorkflow, [snapshotInput()], fake);
    const failure = await applicationFailureOf(handle.result());
    const state = await handle.query(commandStateQuery);

    // The failed member names the outcome, not the members reverted because of it.
    expect(failure.type).toBe(ErrorType.TaskFailed);
    expect(failure.message).toContain('disk web-01_disk-2 failed');
    const started = fake.callsOf('startSpmTask').map((c) => c.task.params.imageID);
    expect(started.sort()).toEqual(DISKS);
    const reverted = fake.callsOf('revertTask').map((c) => c.vdsmTaskId);
    expect(reverted.sort()).toEqual(['disk-1', 'disk-3'].map((d) => taskIdOf(volumeOf(fake, d))).sort());
    for (const call of fake.callsOf('endTaskStep')) {
      // disk-2's task rolled back badly (cleanFailure); the others were reverted (cleanSuccess).
      expect(call).toMatchObject({ succeeded: false, rolledBack: call.image.id !== 'disk-2' });
    }
    expect(fake.callsOf('endTaskStep')).toHaveLength(3);
    expect(fake.callsOf('clearTask')).toHaveLength(3);
    expect(fake.callsOf('finishCreateSnapshot')).toHaveLength(1);
    expect(fake.callsOf('finishCreateSnapshot')[0]).toMatchObject({ outcome: 'failed' });
    expect(fake.callsOf('finishCreateSnapshot')[0]!.reason).toContain('every disk was reverted');
    expect(state.commandStatus).toBe('ENDED_WITH_FAILURE');
    expect(state.images).toEqual({ total: 3, succeeded: 0, failed: 3, running: 0 });
    for (const row of state.tasks)
      expect(row).toMatchObject({ state: 'Cleared', result: expect.stringMatching(/^clean/) });
  });

  test('every disk task succeeds: every member commits, the new volumes are the result', async () => {
    const fake = snapshotFake();
    const handle = await suite.start(createSnapshotWorkflow, [snapshotInput()], fake);
    const result = await handle.result();
    const rows = await handle.query(taskTableQuery);

    expect(fake.callsOf('revertTask')).toEqual([]);
    expect(
      fake
        .callsOf('endTaskStep')
        .map((c) => [c.image.id, c.succeeded])
        .sort(),
    ).toEqual(DISKS.map((d) => [d, true]));
    expect(fake.callsOf('finishCreateSnapshot')[0]).toMatchObject({ outcome: 'succeeded', reason: null });
    // The workflow chose the volume ids; the result names the ones VDSM was asked to create.
    expect([...result.volumes].sort((a, b) => a.diskId.localeCompare(b.diskId))).toEqual(
      DISKS.map((diskId) => ({ diskId, volumeId: volumeOf(fake, diskId) })),
    );
    expect(rows.map((r) => [r.imageId, r.state, r.status, r.result])).toEqual(
      DISKS.map((d) => [d, 'Cleared', 'finished', 'success']),
    );
  });
  test('cancelled while one task runs and two wait for the verdict: the two revert, the third stops', async () => {
    const fake = snapshotFake().endsAs('disk-3', 'running');
    const handle = await suite.start(createSnapshotWorkflow, [snapshotInput()], fake);
    await until(
      'two members Ended and one Polling',
      () => handle.query(taskTableQuery),
      (rows) => rows.map((r) => r.state).join() === 'Ended,Ended,Polling',
    );
    await handle.cancel();
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(
      fake
        .callsOf('revertTask')
        .map((c) => c.vdsmTaskId)
        .sort(),
    ).toEqual(['disk-1', 'disk-2'].map((d) => taskIdOf(volumeOf(fake, d))).sort());
    expect(fake.callsOf('stopTask').map((c) => c.vdsmTaskId)).toEqual([taskIdOf(volumeOf(fake, 'disk-3'))]);
    expect(
      fake
        .callsOf('endTaskStep')
        .map((c) => [c.image.id, c.succeeded, c.rolledBack])
        .sort(),
    ).toEqual(DISKS.map((d) => [d, false, true]));
    expect(fake.callsOf('clearTask')).toHaveLength(3);
    expect(fake.callsOf('finishCreateSnapshot')).toEqual([expect.objectContaining({ outcome: 'cancelled' })]);
  });
  test('a member whose Task.stop fails does not leave the command waiting for its verdict forever', async () => {
    // disk-3's status cannot be read, and Task.stop fails three times: the member's step ends
    // without ever reaching Ended. The other two wait for a verdict.
    const fake = snapshotFake()
      .endsAs('disk-3', 'running')
      .on('waitForTaskEnd', async (input, f) => {
        if (input.vdsmTaskId === taskIdOf(volumeOf(f, 'disk-3'))) {
          throw typedFailure(ErrorType.VdsmMalformedResponse, 'Task.getStatus: bad answer');
        }
        return f.byDefault('waitForTaskEnd', input);
      })
      .on('stopTask', fail(ErrorType.VdsmUnavailable, 'SPM unreachable', false));
    const handle = await suite.start(createSnapshotWorkflow, [snapshotInput()], fake);
    // Liveness, not speed: with time skipping a command that can end ends at once.
    const closed = await until(
      'the command to close',
      async () => (await handle.describe()).status.name,
      (status) => status !== 'RUNNING',
      15_000,
    ).catch((err: unknown) => (err as Error).message);

    expect(closed).toBe('FAILED');
    expect(fake.callsOf('revertTask')).toHaveLength(2);
    expect(fake.callsOf('finishCreateSnapshot')).toEqual([expect.objectContaining({ outcome: 'failed' })]);
  });
});

describe('CreateSnapshot rows only move forward', () => {
  test('a Polling report delivered after a member reported Ended does not make the group wait forever', async () => {
    // disk-3's task runs until released; disk-1 and disk-2 end at once and wait for the verdict.
    let released = false;
    const fake = snapshotFake().on('waitForTaskEnd', async (input, f) => {
      if (input.vdsmTaskId === taskIdOf(volumeOf(f, 'disk-3'))) {
        while (!released) await new Promise((r) => setTimeout(r, 50));
      }
      return f.byDefault('waitForTaskEnd', input);
    });
    const handle = await suite.start(createSnapshotWorkflow, [snapshotInput()], fake);
    const rows = await until(
      'disk-1 and disk-2 Ended',
      () => handle.query(taskTableQuery),
      (r) => r.filter((row) => row.state === 'Ended').length === 2,
      15_000,
    );
    // A late delivery of each ended member's Polling report (as after a worker restart).
    for (const row of rows.filter((r) => r.state === 'Ended')) {
      await handle.signal(taskProgressSignal, { ...row, state: 'Polling', status: 'running' });
    }
    expect((await handle.query(taskTableQuery)).filter((r) => r.state === 'Ended')).toHaveLength(2);
    released = true;
    const result = await handle.result();
    expect(result.volumes).toHaveLength(3);
  });
});

describe('AddDisk', () => {
  test('refused by validation: the workflow fails with the refusal type and no step starts', async () => {
    const fake = new FakeActivities().on(
      'prepareAddDisk',
      fail(ErrorType.NotEnoughSpace, 'storage domain data-1 has 1 GiB free, the disk needs 10 GiB'),
    );
    const input = {
      domainId: DOMAIN_UUID,
      sizeBytes: 10 * 2 ** 30,
      alias: 'big',
      vmId: null,
      sparse: true,
      wipeAfterDelete: false,
      commandId: randomUUID(),
    };
    const handle = await suite.start(addDiskWorkflow, [input], fake);
    const failure = await applicationFailureOf(handle.result());
    const state = await handle.query(commandStateQuery);

    expect(failure.type).toBe(ErrorType.NotEnoughSpace);
    expect(failure.message).toContain('has 1 GiB free');
    expect(fake.names()).toEqual(['prepareAddDisk']);
    expect(state).toMatchObject({ commandStatus: 'FAILED', tasks: [] });
  });
});

describe('RemoveVm', () => {
  function image(diskId: string): ImagePlan {
    return {
      diskId,
      alias: `web-01_${diskId}`,
      poolId: POOL,
      domainId: DOMAIN,
      domainName: 'data-1',
      postZero: false,
      discard: false,
      sizeBytes: 1 << 30,
      volumeIds: [`${diskId}-vol`],
      priorStatus: 'OK',
    };
  }
  const plan: RemoveVmPlan = {
    vmId: VM_ID,
    vmName: 'web-01',
    poolId: POOL,
    priorVmStatus: 'Down',
    images: DISKS.map(image),
    maxConcurrentImages: 2,
    startMaxAttempts: 3,
  };

  test('failing images: FinishedWithIllegalDisks names each failed disk with its failure type', async () => {
    const fake = new FakeActivities()
      .on('prepareRemoveVm', async () => plan)
      // disk-2: VDSM renamed the image, then refused the purge; disk-3: the purge failed by itself.
      .on('startSpmTask', async (input, f) => {
        if (input.task.params.imageID === 'disk-2')
          throw typedFailure(ErrorType.ImageNotPurged, 'purge refused (405)');
        return f.byDefault('startSpmTask', input);
      })
      .endsAs('disk-3', 'finished', 'cleanFailure', 252, 'Cannot remove image');
    const handle = await suite.start(removeVmWorkflow, [{ vmId: VM_ID, force: false }], fake);
    const failure = await applicationFailureOf(handle.result());
    const state = await handle.query(commandStateQuery);

    expect(failure.type).toBe(ErrorType.FinishedWithIllegalDisks);
    const details = failure.details?.[0] as IllegalDisksDetails;
    expect(details.vmId).toBe(VM_ID);
    expect(details.removedDiskIds).toEqual(['disk-1']);
    expect([...details.illegalDiskIds].sort()).toEqual(['disk-2', 'disk-3']);
    expect(details.failureTypes).toEqual({
      'disk-2': ErrorType.ImageNotPurged,
      'disk-3': ErrorType.TaskFailed,
    });
    expect(failure.message).toContain('web-01_disk-2');
    expect(fake.callsOf('removeVmRecord')).toEqual([{ vmId: VM_ID }]);
    const finish = fake.callsOf('finishCommand');
    expect(finish).toHaveLength(1);
    expect(finish[0]).toMatchObject({ commandType: 'RemoveVm', outcome: 'failed', restore: null });
    expect([...finish[0]!.illegalDiskIds].sort()).toEqual(['disk-2', 'disk-3']);
    expect(state.commandStatus).toBe('ENDED_WITH_FAILURE');
    expect(state.images).toEqual({ total: 3, succeeded: 1, failed: 2, running: 0 });
  });
});
