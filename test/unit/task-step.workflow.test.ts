/**
 * Every branch of the general task step (src/workflows/task-step.ts, runTaskStep) on the
 * time-skipping test server with in-memory activities: how the start, the wait, the end action,
 * Task.stop / Task.revert / Task.clear and the group verdict follow one another.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { AddDiskPlan, CreateSnapshotPlan, ImagePlan } from '../../src/shared/commands';
import { ErrorType } from '../../src/shared/errors';
import { commandStateQuery, groupVerdictSignal, taskTableQuery } from '../../src/shared/messages';
import type { TaskStepInput } from '../../src/shared/steps';
import { addImageStep, removeImageStep, snapshotDiskSteps } from '../../src/workflows/step-inputs';
import {
  addImageFromScratchWorkflow,
  createSnapshotDiskWorkflow,
  removeImageWorkflow,
} from '../../src/workflows/task-step';
import { fail, FakeActivities, hang, taskIdOf } from '../support/fake-activities';
import { timerDurationsMs, until, upsertedValues, timeSkippingSuitePerFile } from '../support/time-skipping';

const suite = timeSkippingSuitePerFile();

const POOL = 'pool-1';
const DOMAIN = 'domain-1';
/** The parent is not running in these tests: the step's progress signals to it fail and are logged. */
const PARENT = { commandId: 'RemoveVm/unit-parent', vmId: 'vm-1' };
/** Attempts a start gets while VDSM answers with retryable errors (the worker's TASK_START_MAX_ATTEMPTS). */
const START_MAX_ATTEMPTS = 3;

function removeStep(diskId = 'disk-a'): TaskStepInput {
  const image: ImagePlan = {
    diskId,
    alias: `vm-1_${diskId}`,
    poolId: POOL,
    domainId: DOMAIN,
    domainName: 'data-1',
    postZero: false,
    discard: false,
    sizeBytes: 1 << 30,
    volumeIds: [`${diskId}-vol-1`],
    priorStatus: 'OK',
  };
  return removeImageStep(PARENT, image, false, START_MAX_ATTEMPTS);
}

function addStep(diskId = 'disk-new', volumeId = 'vol-new'): TaskStepInput {
  const plan: AddDiskPlan = {
    diskId,
    volumeId,
    alias: 'new-disk',
    poolId: POOL,
    domainId: DOMAIN,
    vmId: null,
    vmName: null,
    sizeBytes: 1 << 30,
    format: 'COW',
    volumeType: 'SPARSE',
    initialSizeBytes: null,
    startMaxAttempts: START_MAX_ATTEMPTS,
  };
  return addImageStep({ commandId: 'AddDisk/unit-parent', vmId: null }, plan);
}

function snapshotStep(diskId = 'disk-s'): TaskStepInput {
  const plan: CreateSnapshotPlan = {
    snapshotId: 'snap-1',
    vmId: 'vm-1',
    vmName: 'vm-1',
    poolId: POOL,
    description: 'before upgrade',
    disks: [
      {
        diskId,
        alias: `vm-1_${diskId}`,
        domainId: DOMAIN,
        sizeBytes: 1 << 30,
        leafVolumeId: `${diskId}-leaf`,
        newVolumeId: `${diskId}-new`,
        sequence: 2,
        priorStatus: 'OK',
      },
    ],
    startMaxAttempts: START_MAX_ATTEMPTS,
  };
  return snapshotDiskSteps({ commandId: 'CreateSnapshot/unit-parent', vmId: 'vm-1' }, plan)[0]!;
}

/** The workflow's failure, which must be one. */
async function failureOf(promise: Promise<unknown>): Promise<WorkflowFailedError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err instanceof WorkflowFailedError) return err;
  throw new Error(
    `expected the workflow to fail, got ${err === undefined ? 'a result' : (err as Error).message}`,
  );
}

/** Waits until the step's own row reaches `state` (queries are answered while it waits). */
function untilState(handle: WorkflowHandle, state: string) {
  return until(
    `state ${state}`,
    async () => (await handle.query(taskTableQuery))[0]!,
    (row) => row.state === state,
  );
}

describe('start', () => {
  test('a start that fails keeps its typed failure (ImageNotPurged); nothing to wait for or clear', async () => {
    const fake = new FakeActivities().on(
      'startSpmTask',
      fail(ErrorType.ImageNotPurged, 'VDSM refused the purge (405)'),
    );
    const result = await suite.run(removeImageWorkflow, [removeStep()], fake);

    expect(result).toMatchObject({
      imageId: 'disk-a',
      succeeded: false,
      vdsmTaskId: null,
      failureType: 'ImageNotPurged',
      reverted: false,
    });
    expect(result.failureReason).toContain('VDSM refused the purge (405)');
    expect(result.row).toMatchObject({ state: 'Cleared', status: 'unknown', vdsmTaskId: null });
    expect(fake.names()).toEqual(['startSpmTask', 'endTaskStep']);
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({
      succeeded: false,
      rolledBack: true,
      failureReason: result.failureReason,
      end: { kind: 'removeImage', diskId: 'disk-a' },
    });
  });

  test('a start refused with a retryable error is retried, then the task starts', async () => {
    const fake = new FakeActivities().on(
      'startSpmTask',
      fail(ErrorType.SpmTaskQueueFull, 'SPM queue full', false),
      2,
    );
    const result = await suite.run(removeImageWorkflow, [removeStep()], fake);

    expect(fake.callsOf('startSpmTask')).toHaveLength(3);
    expect(result).toMatchObject({ succeeded: true, vdsmTaskId: taskIdOf('disk-a') });
  });

  test('a start still refused after startMaxAttempts fails the step with the refusal type', async () => {
    const fake = new FakeActivities().on('startSpmTask', fail(ErrorType.NoSpm, 'no SPM in pool-1', false));
    const result = await suite.run(removeImageWorkflow, [removeStep()], fake);

    expect(fake.callsOf('startSpmTask')).toHaveLength(START_MAX_ATTEMPTS);
    expect(result).toMatchObject({ succeeded: false, vdsmTaskId: null, failureType: ErrorType.NoSpm });
    expect(result.failureReason).toContain('no SPM in pool-1');
    expect(fake.names().slice(START_MAX_ATTEMPTS)).toEqual(['endTaskStep']);
  });

  test('Image.delete answering 268 (image already gone) ends the step successfully with no task', async () => {
    const fake = new FakeActivities().on('startSpmTask', async () => ({
      kind: 'alreadyDone',
      vdsmCode: 268,
      vdsmMessage: 'Image does not exist in domain',
    }));
    const result = await suite.run(removeImageWorkflow, [removeStep()], fake);

    expect(result).toMatchObject({
      succeeded: true,
      vdsmTaskId: null,
      failureReason: null,
      failureType: null,
    });
    expect(result.row).toMatchObject({ state: 'Cleared', status: 'finished', result: 'success', code: 268 });
    expect(fake.names()).toEqual(['startSpmTask', 'endTaskStep']);
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({ succeeded: true, rolledBack: false });
  });
});

describe('the task ends', () => {
  test('finished + success: end action succeeded, Task.clear, Cleared', async () => {
    const fake = new FakeActivities();
    const taskId = taskIdOf('disk-a');
    const handle = await suite.start(removeImageWorkflow, [removeStep()], fake);
    const result = await handle.result();
    const state = await handle.query(commandStateQuery);
    const history = await handle.fetchHistory();

    expect(result).toMatchObject({
      succeeded: true,
      vdsmTaskId: taskId,
      failureReason: null,
      failureType: null,
    });
    expect(fake.names()).toEqual(['startSpmTask', 'waitForTaskEnd', 'endTaskStep', 'clearTask']);
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({
      succeeded: true,
      rolledBack: false,
      failureReason: null,
    });
    expect(fake.callsOf('clearTask')[0]).toEqual({ poolId: POOL, vdsmTaskId: taskId });
    expect(fake.tasks.has(taskId)).toBe(false);
    expect(state).toMatchObject({
      commandType: 'RemoveImage',
      commandStatus: 'ENDED_SUCCESSFULLY',
      images: { total: 1, succeeded: 1, failed: 0, running: 0 },
    });
    expect(state.tasks[0]).toMatchObject({
      state: 'Cleared',
      status: 'finished',
      result: 'success',
      vdsmTaskId: taskId,
    });
    expect(upsertedValues(history, 'AsyncTaskState')).toEqual(['Polling', 'Cleared']);
    expect(upsertedValues(history, 'CommandStatus')).toEqual(['ENDED_SUCCESSFULLY']);
  });

  test.each([
    ['finished', 'cleanSuccess', true, 'VDSM rolled it back (cleanSuccess)'],
    ['finished', 'cleanFailure', false, 'its rollback failed too (cleanFailure)'],
    ['unknown', '', false, 'vanished from the SPM'],
  ] as const)(
    '%s/%s: end action failed, rolledBack=%s, Task.clear',
    async (taskState, taskResult, rolledBack, why) => {
      const fake = new FakeActivities().endsAs('disk-a', taskState, taskResult, 100, 'Volume does not exist');
      const handle = await suite.start(removeImageWorkflow, [removeStep()], fake);
      const result = await handle.result();
      const state = await handle.query(commandStateQuery);

      expect(result).toMatchObject({ succeeded: false, failureType: ErrorType.TaskFailed, reverted: false });
      expect(result.failureReason).toContain(why);
      // A purge that failed by itself is not looked up on storage: its volumes stay (ILLEGAL).
      expect(fake.names()).toEqual(['startSpmTask', 'waitForTaskEnd', 'endTaskStep', 'clearTask']);
      expect(fake.callsOf('endTaskStep')[0]).toMatchObject({
        succeeded: false,
        rolledBack,
        failureReason: result.failureReason,
      });
      expect(state.commandStatus).toBe('ENDED_WITH_FAILURE');
      expect(state.images).toEqual({ total: 1, succeeded: 0, failed: 1, running: 0 });
      expect(state.tasks[0]).toMatchObject({ state: 'Cleared', status: taskState, code: 100 });
    },
  );

  test('waiting fails (not a cancellation): Task.stop, then wait again, end action failed', async () => {
    const fake = new FakeActivities()
      .endsAs('disk-a', 'running')
      .on('waitForTaskEnd', fail(ErrorType.VdsmMalformedResponse, 'Host.getAllTasksStatuses: bad entry'), 1);
    const result = await suite.run(removeImageWorkflow, [removeStep()], fake);

    expect(fake.names()).toEqual([
      'startSpmTask',
      'waitForTaskEnd',
      'stopTask',
      'waitForTaskEnd',
      'imageGone',
      'endTaskStep',
      'clearTask',
    ]);
    // The polling failure's own type is kept for the command.
    expect(result).toMatchObject({ succeeded: false, failureType: ErrorType.VdsmMalformedResponse });
    expect(result.failureReason).toMatch(/^polling failed \(/);
    expect(result.row).toMatchObject({ state: 'Cleared', status: 'finished', result: 'cleanSuccess' });
    // Stopped and rolled back by VDSM: storage is as before the step.
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({ succeeded: false, rolledBack: true });
  });

  test('waiting fails: the failure reason names why polling failed', async () => {
    const fake = new FakeActivities()
      .endsAs('disk-a', 'running')
      .on('waitForTaskEnd', fail(ErrorType.VdsmMalformedResponse, 'Host.getAllTasksStatuses: bad entry'), 1);
    const result = await suite.run(removeImageWorkflow, [removeStep()], fake);

    // An administrator must learn why polling failed, not only that an activity did ("Activity
    // task failed" is the ActivityFailure's own message; the cause carries VDSM's).
    expect(result.failureReason).toContain('Host.getAllTasksStatuses: bad entry');
  });

  test('a delete stopped after polling failed whose image is gone from its domain ends successfully', async () => {
    const fake = new FakeActivities()
      .endsAs('disk-a', 'running')
      .on('waitForTaskEnd', fail(ErrorType.VdsmMalformedResponse, 'bad entry'), 1)
      .on('imageGone', async () => true);
    const result = await suite.run(removeImageWorkflow, [removeStep()], fake);

    expect(result).toMatchObject({
      succeeded: true,
      failureReason: null,
      failureType: null,
      reverted: false,
    });
    expect(result.row.message).toBe('aborted and rolled back; the image is gone from its domain: removed');
    expect(fake.names().slice(-3)).toEqual(['imageGone', 'endTaskStep', 'clearTask']);
    expect(fake.callsOf('imageGone')[0]).toEqual({ poolId: POOL, domainId: DOMAIN, imageId: 'disk-a' });
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({ succeeded: true, failureReason: null });
  });

  test('a stopped delete whose image cannot be looked up counts as still there: the step fails', async () => {
    const fake = new FakeActivities()
      .endsAs('disk-a', 'running')
      .on('waitForTaskEnd', fail(ErrorType.VdsmMalformedResponse, 'bad entry'), 1)
      .on('imageGone', fail(ErrorType.VdsmUnavailable, 'SPM unreachable', false));
    const result = await suite.run(removeImageWorkflow, [removeStep()], fake);

    expect(result).toMatchObject({ succeeded: false, failureType: ErrorType.VdsmMalformedResponse });
    // Retried as Task.stop / Task.revert are (three attempts), then taken as "still there".
    expect(fake.callsOf('imageGone')).toHaveLength(3);
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({ succeeded: false, rolledBack: true });
  });

  test('a failed Volume.create is not looked up on storage and has nothing to revert', async () => {
    const fake = new FakeActivities().endsAs('vol-new', 'finished', 'cleanFailure', 100, 'no space');
    const result = await suite.run(addImageFromScratchWorkflow, [addStep()], fake);

    expect(result).toMatchObject({ succeeded: false, reverted: false, failureType: ErrorType.TaskFailed });
    expect(fake.names()).toEqual(['startSpmTask', 'waitForTaskEnd', 'endTaskStep', 'clearTask']);
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({
      succeeded: false,
      rolledBack: false,
      end: { kind: 'addImage', diskId: 'disk-new', volumeId: 'vol-new' },
    });
  });
});

describe('cancellation', () => {
  test('while polling: Task.stop, wait for the rollback, end action, Task.clear, then the step is cancelled', async () => {
    const fake = new FakeActivities().endsAs('disk-a', 'running');
    const handle = await suite.start(removeImageWorkflow, [removeStep()], fake);
    await untilState(handle, 'Polling');
    await handle.cancel();
    const failure = await failureOf(handle.result());
    const state = await handle.query(commandStateQuery);

    expect(failure.cause).toBeInstanceOf(CancelledFailure);
    const afterStop = fake.names().slice(fake.names().indexOf('stopTask'));
    expect(afterStop).toEqual(['stopTask', 'waitForTaskEnd', 'imageGone', 'endTaskStep', 'clearTask']);
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({ succeeded: false, rolledBack: true });
    expect(fake.callsOf('endTaskStep')[0]!.failureReason).toMatch(/^cancelled: /);
    expect(state.commandStatus).toBe('ENDED_WITH_FAILURE');
    expect(state.tasks[0]).toMatchObject({ state: 'Cleared', status: 'finished', result: 'cleanSuccess' });
  });

  test('cancelled while polling, but the stopped purge removed the image: the step ends successfully', async () => {
    const fake = new FakeActivities().endsAs('disk-a', 'running').on('imageGone', async () => true);
    const handle = await suite.start(removeImageWorkflow, [removeStep()], fake);
    await untilState(handle, 'Polling');
    await handle.cancel();
    const result = await handle.result();

    // Storage is the truth: the image is gone, so the step says removed instead of cancelled.
    expect(result).toMatchObject({ succeeded: true, failureReason: null, failureType: null });
    expect(fake.names().slice(fake.names().indexOf('stopTask'))).toEqual([
      'stopTask',
      'waitForTaskEnd',
      'imageGone',
      'endTaskStep',
      'clearTask',
    ]);
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({ succeeded: true });
  });

  test('a revertible step whose task had already finished with success: Task.revert, then clear', async () => {
    // The first wait never answers (the SPM is slow to report), although the task has finished.
    const fake = new FakeActivities().on('waitForTaskEnd', hang(), 1);
    const taskId = taskIdOf('vol-new');
    const handle = await suite.start(addImageFromScratchWorkflow, [addStep()], fake);
    await untilState(handle, 'Polling');
    await handle.cancel();
    const failure = await failureOf(handle.result());
    const row = (await handle.query(taskTableQuery))[0]!;

    expect(failure.cause).toBeInstanceOf(CancelledFailure);
    const afterStop = fake.names().slice(fake.names().indexOf('stopTask'));
    expect(afterStop).toEqual([
      'stopTask',
      'waitForTaskEnd',
      'revertTask',
      'waitForTaskEnd',
      'endTaskStep',
      'clearTask',
    ]);
    expect(fake.callsOf('revertTask')[0]).toEqual({ poolId: POOL, vdsmTaskId: taskId });
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({
      succeeded: false,
      rolledBack: true,
      failureReason: 'reverted (cancelled)',
      end: { kind: 'addImage', diskId: 'disk-new', volumeId: 'vol-new' },
    });
    expect(row).toMatchObject({
      state: 'Cleared',
      status: 'finished',
      result: 'cleanSuccess',
      message: 'reverted',
    });
  });

  test('a group member cancelled while it waits for the verdict reverts its finished task and says so', async () => {
    const fake = new FakeActivities();
    const handle = await suite.start(createSnapshotDiskWorkflow, [snapshotStep()], fake);
    await untilState(handle, 'Ended');
    await handle.cancel();
    const result = await handle.result();

    expect(result).toMatchObject({ succeeded: false, reverted: true, failureType: ErrorType.Cancelled });
    expect(result.failureReason).toBe('reverted (cancelled)');
    expect(fake.names()).toEqual([
      'startSpmTask',
      'waitForTaskEnd',
      'revertTask',
      'waitForTaskEnd',
      'endTaskStep',
      'clearTask',
    ]);
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({ succeeded: false, rolledBack: true });
  });
});

describe('Task.clear and Task.revert retries', () => {
  test('Task.clear failing twice: ClearFailed, retried after a back-off, then Cleared', async () => {
    // Non-retryable here so each failure is one local activity (its own retries sleep in real time).
    const fake = new FakeActivities().on('clearTask', fail(ErrorType.VdsmUnavailable, 'SPM unreachable'), 2);
    const handle = await suite.start(removeImageWorkflow, [removeStep()], fake);
    const result = await handle.result();
    const history = await handle.fetchHistory();

    expect(result).toMatchObject({ succeeded: true });
    expect(result.row.state).toBe('Cleared');
    expect(fake.callsOf('clearTask')).toHaveLength(3);
    expect(upsertedValues(history, 'AsyncTaskState')).toEqual(['Polling', 'ClearFailed', 'Cleared']);
    // 2 s then 4 s of server time: skipped, not waited.
    expect(timerDurationsMs(history)).toEqual([2_000, 4_000]);
  });

  test('Task.revert failing transiently is retried until VDSM takes it', async () => {
    // Three failed attempts exhaust one activity's retries; the step then keeps asking.
    const fake = new FakeActivities().on('revertTask', fail(ErrorType.VdsmUnavailable, 'SPM busy', false), 4);
    const logsBefore = suite.logs.length;
    const handle = await suite.start(createSnapshotDiskWorkflow, [snapshotStep()], fake);
    await untilState(handle, 'Ended');
    await handle.signal(groupVerdictSignal, { commit: false, reason: 'disk b failed' });
    const result = await handle.result();

    expect(fake.callsOf('revertTask')).toHaveLength(5);
    expect(result).toMatchObject({ succeeded: false, reverted: true, failureType: ErrorType.GroupFailed });
    expect(result.row).toMatchObject({ status: 'finished', result: 'cleanSuccess' });
    // The workflow's log reaches the runtime's logger shortly after the activation that wrote it.
    const retried = () =>
      suite.logs.slice(logsBefore).filter((l) => l.message === 'Task.revert failed, retrying');
    await until('the retry warning', retried, (logs) => logs.length > 0);
    expect(retried()[0]!.meta).toMatchObject({ vdsmTaskId: taskIdOf('disk-s-new') });
  });
});

describe('an unreadable status after Task.revert', () => {
  test('still ends the step: end action failed (rolled back), Task.clear, Cleared', async () => {
    // The first wait answers; the one after Task.revert fails in a way no retry fixes.
    const fake = new FakeActivities()
      .on('waitForTaskEnd', async (input, f) => f.byDefault('waitForTaskEnd', input), 1)
      .on('waitForTaskEnd', fail(ErrorType.VdsmMalformedResponse, 'Task.getStatus: bad answer'), 1);
    const handle = await suite.start(createSnapshotDiskWorkflow, [snapshotStep()], fake);
    await untilState(handle, 'Ended');
    await handle.signal(groupVerdictSignal, { commit: false, reason: 'disk b failed' });
    const outcome = await handle.result().then(
      (result) => ({ result, error: undefined }),
      (error: unknown) => ({ result: undefined, error: (error as Error).message }),
    );

    // A step that reverted its task must still end it: the disk's rows and VDSM's task table
    // would otherwise keep a task nobody clears.
    expect(outcome.error).toBeUndefined();
    expect(fake.names().slice(2)).toEqual(['revertTask', 'waitForTaskEnd', 'endTaskStep', 'clearTask']);
    expect(outcome.result).toMatchObject({
      succeeded: false,
      reverted: true,
      failureType: ErrorType.GroupFailed,
    });
  });
});

describe('Task.stop failing', () => {
  test('a cancelled step whose Task.stop keeps failing waits for its task to end, then ends and clears it', async () => {
    // Three attempts (the activity's retries, skipped back-offs) all fail: the SPM is away, the task
    // runs on. The step must not call it ended while it runs: it waits for its end, whatever it is.
    const fake = new FakeActivities()
      .endsAs('disk-a', 'running')
      .on('stopTask', fail(ErrorType.VdsmUnavailable, 'SPM unreachable', false));
    const handle = await suite.start(removeImageWorkflow, [removeStep()], fake);
    await untilState(handle, 'Polling');
    // The wait after the failed stops sees the task finish (the purge completed).
    fake.on(
      'waitForTaskEnd',
      async ({ vdsmTaskId }) => ({
        taskID: vdsmTaskId,
        taskState: 'finished',
        taskResult: 'success',
        code: 0,
        message: '1 jobs completed successfully',
      }),
      1,
    );
    await handle.cancel();
    const result = await handle.result();

    expect(fake.callsOf('stopTask')).toHaveLength(3);
    // The task did its work: the image is removed, the task ended and cleared like any other.
    expect(result).toMatchObject({ succeeded: true, failureReason: null });
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({ succeeded: true });
    expect(fake.names()).toContain('clearTask');
  });
});

describe('all-or-nothing group member', () => {
  test('waits in Ended for the verdict; commit: end action succeeded', async () => {
    const fake = new FakeActivities();
    const handle = await suite.start(createSnapshotDiskWorkflow, [snapshotStep()], fake);
    await untilState(handle, 'Ended');
    // An hour of server time passes: still waiting, nothing ended.
    await suite.env.sleep('1 hour');
    expect((await handle.query(taskTableQuery))[0]!.state).toBe('Ended');
    expect(fake.names()).toEqual(['startSpmTask', 'waitForTaskEnd']);
    await handle.signal(groupVerdictSignal, { commit: true, reason: null });
    const result = await handle.result();

    expect(result).toMatchObject({
      succeeded: true,
      reverted: false,
      failureType: null,
      failureReason: null,
    });
    expect(fake.names()).toEqual(['startSpmTask', 'waitForTaskEnd', 'endTaskStep', 'clearTask']);
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({
      succeeded: true,
      rolledBack: false,
      end: { kind: 'snapshotDisk', diskId: 'disk-s', volumeId: 'disk-s-new', parentVolumeId: 'disk-s-leaf' },
    });
  });

  test('revert verdict: Task.revert, end action failed with GroupFailed', async () => {
    const fake = new FakeActivities();
    const handle = await suite.start(createSnapshotDiskWorkflow, [snapshotStep()], fake);
    await untilState(handle, 'Ended');
    await handle.signal(groupVerdictSignal, { commit: false, reason: 'Snapshot of disk vm-1_disk-b failed' });
    const result = await handle.result();

    expect(result).toMatchObject({ succeeded: false, reverted: true, failureType: ErrorType.GroupFailed });
    expect(result.failureReason).toBe('reverted (the group failed: Snapshot of disk vm-1_disk-b failed)');
    expect(fake.names()).toEqual([
      'startSpmTask',
      'waitForTaskEnd',
      'revertTask',
      'waitForTaskEnd',
      'endTaskStep',
      'clearTask',
    ]);
    expect(fake.callsOf('endTaskStep')[0]).toMatchObject({ succeeded: false, rolledBack: true });
  });
});
