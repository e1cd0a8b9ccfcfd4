/**
 * The task step when VDSM's recovery (an SPM restart or failover) rolled its task back although
 * the step never asked for a stop: Image.delete is started once more if the image is still on its
 * domain, and only a second failure makes the disk ILLEGAL. Time-skipping server, in-memory
 * activities (test/support/fake-activities.ts).
 */
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { AddDiskPlan, ImagePlan } from '../../src/shared/commands';
import { ErrorType } from '../../src/shared/errors';
import { commandStateQuery, taskTableQuery } from '../../src/shared/messages';
import type { TaskStepInput } from '../../src/shared/steps';
import type { VdsmTaskStatus } from '../../src/vdsm/port';
import { addImageStep, removeImageStep } from '../../src/workflows/step-inputs';
import { addImageFromScratchWorkflow, removeImageWorkflow } from '../../src/workflows/task-step';
import { type Behaviour, FakeActivities, taskIdOf } from '../support/fake-activities';
import { until, timeSkippingSuitePerFile } from '../support/time-skipping';

const suite = timeSkippingSuitePerFile();

const POOL = 'pool-1';
const DOMAIN = 'domain-1';
const PARENT = { commandId: 'RemoveVm/unit-recovery-parent', vmId: 'vm-1' };

function removeStep(diskId = 'disk-a'): TaskStepInput {
  const image: ImagePlan = {
    diskId,
    alias: `vm-1_${diskId}`,
    poolId: POOL,
    domainId: DOMAIN,
    domainName: 'data-1',
    postZero: true,
    discard: false,
    sizeBytes: 1 << 30,
    volumeIds: [`${diskId}-vol-1`],
    priorStatus: 'OK',
  };
  return removeImageStep(PARENT, image, false, 3);
}

/** What a task reloaded by a new SPM and rolled back reports: cleanSuccess, code 0 (no error of its own). */
const RECOVERED: Omit<VdsmTaskStatus, 'taskID'> = {
  taskState: 'finished',
  taskResult: 'cleanSuccess',
  code: 0,
  message: 'Task is initializing',
};

/** startSpmTask behaviour: a task (`id`) that VDSM's recovery has rolled back by the time it is polled. */
const recoveredTask =
  (id: string): Behaviour<'startSpmTask'> =>
  async (_input, fake) => {
    fake.tasks.set(id, { taskID: id, ...RECOVERED });
    return { kind: 'started', vdsmTaskId: id, spmHostId: 'spm-host', reconciled: false };
  };

describe('a task rolled back by VDSM recovery', () => {
  test('rolled back once, image still there: cleared, audited, started again, then success', async () => {
    const fake = new FakeActivities().on('startSpmTask', recoveredTask('vdsm-task-lost'), 1);
    const result = await suite.run(removeImageWorkflow, [removeStep()], fake);

    expect(fake.names()).toEqual([
      'startSpmTask',
      'waitForTaskEnd',
      'imageGone',
      'clearTask',
      'auditTaskRestart',
      'startSpmTask',
      'waitForTaskEnd',
      'endTaskStep',
      'clearTask',
    ]);
    // The old task is cleared before the verb goes out again; the same verb and params are sent.
    expect(fake.callsOf('clearTask')[0]).toEqual({ poolId: POOL, vdsmTaskId: 'vdsm-task-lost' });
    const [first, second] = fake.callsOf('startSpmTask');
    expect(second!.task).toEqual(first!.task);
    expect(fake.callsOf('auditTaskRestart')[0]).toMatchObject({
      verb: 'Image.delete',
      vdsmTaskId: 'vdsm-task-lost',
      image: { id: 'disk-a' },
      end: { kind: 'removeImage', diskId: 'disk-a' },
    });
    expect(result).toMatchObject({
      succeeded: true,
      vdsmTaskId: taskIdOf('disk-a'),
      failureReason: null,
      failureType: null,
    });
    expect(result.row).toMatchObject({ state: 'Cleared', result: 'success', vdsmTaskId: taskIdOf('disk-a') });
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({ succeeded: true });
    expect(fake.callsOf('clearTask')[1]).toEqual({ poolId: POOL, vdsmTaskId: taskIdOf('disk-a') });
  });

  test('rolled back twice: started again once only, then the disk is ILLEGAL as before', async () => {
    const fake = new FakeActivities()
      .on('startSpmTask', recoveredTask('vdsm-task-lost-1'), 1)
      .on('startSpmTask', recoveredTask('vdsm-task-lost-2'), 1);
    const handle = await suite.start(removeImageWorkflow, [removeStep()], fake);
    const result = await handle.result();
    const state = await handle.query(commandStateQuery);

    expect(fake.callsOf('startSpmTask')).toHaveLength(2);
    expect(fake.callsOf('auditTaskRestart')).toHaveLength(1);
    expect(fake.callsOf('clearTask').map((c) => c.vdsmTaskId)).toEqual([
      'vdsm-task-lost-1',
      'vdsm-task-lost-2',
    ]);
    expect(result).toMatchObject({
      succeeded: false,
      vdsmTaskId: 'vdsm-task-lost-2',
      failureType: ErrorType.TaskFailed,
    });
    expect(result.failureReason).toContain('VDSM rolled it back (cleanSuccess)');
    // removeImage's failure end: the disk becomes ILLEGAL (storage as before: rolled back).
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({
      succeeded: false,
      rolledBack: true,
      end: { kind: 'removeImage' },
    });
    expect(state.commandStatus).toBe('ENDED_WITH_FAILURE');
  });

  test('the image left its domain listing (renamed for deletion): not started again, the failure says why', async () => {
    const fake = new FakeActivities()
      .on('startSpmTask', recoveredTask('vdsm-task-lost'), 1)
      .on('imageGone', async () => true);
    const result = await suite.run(removeImageWorkflow, [removeStep()], fake);

    expect(fake.names()).toEqual(['startSpmTask', 'waitForTaskEnd', 'imageGone', 'endTaskStep', 'clearTask']);
    expect(result).toMatchObject({ succeeded: false, failureType: ErrorType.TaskFailed });
    expect(result.failureReason).toContain('renamed for deletion');
  });

  test('the second start fails: no task, the disk is ILLEGAL, the failure names the start', async () => {
    const fake = new FakeActivities()
      .on('startSpmTask', recoveredTask('vdsm-task-lost'), 1)
      .on('startSpmTask', async () => {
        throw new Error('SPM refused');
      });
    const result = await suite.run(removeImageWorkflow, [removeStep()], fake);

    expect(result).toMatchObject({ succeeded: false, vdsmTaskId: 'vdsm-task-lost' });
    expect(result.failureReason).toContain('starting it again failed');
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({ succeeded: false });
  });

  test('Volume.create rolled back by recovery is not started again (AddDisk fails cleanly)', async () => {
    const plan: AddDiskPlan = {
      diskId: 'disk-new',
      volumeId: 'vol-new',
      alias: 'new-disk',
      poolId: POOL,
      domainId: DOMAIN,
      vmId: null,
      vmName: null,
      sizeBytes: 1 << 30,
      format: 'COW',
      volumeType: 'SPARSE',
      initialSizeBytes: null,
      startMaxAttempts: 3,
    };
    const fake = new FakeActivities().endsAs(
      'vol-new',
      'finished',
      'cleanSuccess',
      0,
      'Task is initializing',
    );
    const result = await suite.run(
      addImageFromScratchWorkflow,
      [addImageStep({ commandId: 'AddDisk/unit-recovery-parent', vmId: null }, plan)],
      fake,
    );

    expect(fake.names()).toEqual(['startSpmTask', 'waitForTaskEnd', 'endTaskStep', 'clearTask']);
    expect(result).toMatchObject({ succeeded: false, failureType: ErrorType.TaskFailed });
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({ succeeded: false, rolledBack: true });
  });
});

describe('a task the step stopped itself', () => {
  test('cancelled while polling, rolled back (code 0): not started again', async () => {
    const fake = new FakeActivities().endsAs('disk-a', 'running');
    const handle = await suite.start(removeImageWorkflow, [removeStep()], fake);
    await until(
      'state Polling',
      async () => (await handle.query(taskTableQuery))[0]!,
      (row) => row.state === 'Polling',
    );
    await handle.cancel();
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    // The stop's rollback looks like recovery's (cleanSuccess, code 0), but the step asked for it.
    expect(fake.tasks.size).toBe(0);
    expect(fake.callsOf('startSpmTask')).toHaveLength(1);
    expect(fake.callsOf('auditTaskRestart')).toHaveLength(0);
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({ succeeded: false, rolledBack: true });
  });
});
