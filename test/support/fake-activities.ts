/**
 * In-memory activities for workflow unit tests (./time-skipping.ts). Every call is recorded in
 * order. By default they behave like a tiny SPM: a started task ends as `endsAs` says (finished +
 * success unless told otherwise) — a `running` task runs until Task.stop, which rolls it back
 * (cleanSuccess); Task.revert of a finished+success task rolls it back too (cleanSuccess), as
 * VDSM does (docs: /work/shared/reference/vdsm.md). `on(name, behaviour, times)` replaces the next
 * calls of one activity: fail with a typed failure, hang until cancelled, answer something else.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { HostJobOutcome, OvirtActivities } from '../../src/activities';
import { naturalKeyOf, type SpmTaskSpec } from '../../src/shared/steps';
import type { VdsmTaskStatus } from '../../src/vdsm/port';

export type ActivityName = keyof OvirtActivities;
export type InputOf<K extends ActivityName> = Parameters<OvirtActivities[K]>[0];
export type OutputOf<K extends ActivityName> = Awaited<ReturnType<OvirtActivities[K]>>;
export type Behaviour<K extends ActivityName> = (
  input: InputOf<K>,
  fake: FakeActivities,
) => Promise<OutputOf<K>>;

export interface Call {
  name: ActivityName;
  input: unknown;
}

/** A failure as the real activities raise it: an ApplicationFailure with a type from src/shared/errors.ts. */
export function failure(type: string, message = `fake ${type}`, nonRetryable = true): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable });
}

/** Behaviour: throw `failure(type, ...)`. */
export const fail =
  <K extends ActivityName>(type: string, message?: string, nonRetryable = true): Behaviour<K> =>
  async () => {
    throw failure(type, message, nonRetryable);
  };

/**
 * Behaviour: never answer; ends when the activity is cancelled. It heartbeats (the suite's workers
 * send heartbeats at once) so a cancel reaches it and it reports back: the test server skips no
 * time while any activity is outstanding, even one whose workflow has closed.
 */
export const hang =
  <K extends ActivityName>(): Behaviour<K> =>
  async () => {
    const context = Context.current();
    for (;;) {
      context.heartbeat();
      await Promise.race([context.cancelled, new Promise((resolve) => setTimeout(resolve, 20))]);
    }
  };

/** The task id the fake SPM gives the task of a natural key (image id, new volume id). */
export const taskIdOf = (key: string): string => `vdsm-task-${key}`;

type Ending = Pick<VdsmTaskStatus, 'taskState' | 'taskResult' | 'code' | 'message'>;
const SUCCESS: Ending = {
  taskState: 'finished',
  taskResult: 'success',
  code: 0,
  message: '1 jobs completed successfully',
};
const ROLLED_BACK: Ending = {
  taskState: 'finished',
  taskResult: 'cleanSuccess',
  code: 0,
  message: 'rolled back',
};

export class FakeActivities {
  readonly calls: Call[] = [];
  /** How each host job ends, by job id (done unless told otherwise): what waitForHostJob answers. */
  readonly jobEndings = new Map<string, HostJobOutcome>();
  /** The fake SPM's task table, by VDSM task id: what waitForTaskEnd answers. */
  readonly tasks = new Map<string, VdsmTaskStatus>();
  private readonly endings = new Map<string, Ending>();
  private readonly scripted = new Map<ActivityName, Array<{ behaviour: Behaviour<never>; left: number }>>();

  /**
   * The task started for `key` ends so: its natural key (image id for Image.delete, the new volume
   * id for Volume.create), `<taskVerb>/<natural key>` (one stage of a merge: the merge tasks of a
   * disk share the top volume as natural key) or its image id (a snapshot's volume ids are chosen
   * by the workflow).
   */
  endsAs(
    key: string,
    taskState: VdsmTaskStatus['taskState'],
    taskResult: VdsmTaskStatus['taskResult'] = '',
    code = 0,
    message = `${taskState} ${taskResult}`.trim(),
  ): this {
    this.endings.set(key, { taskState, taskResult, code, message });
    return this;
  }

  /** How the task of `task` ends (see `endsAs`); finished + success unless told otherwise. */
  endingOf(task: SpmTaskSpec): Ending {
    return (
      this.endings.get(`${task.taskVerb}/${naturalKeyOf(task)}`) ??
      this.endings.get(naturalKeyOf(task)) ??
      (task.params.imageID !== undefined ? this.endings.get(task.params.imageID) : undefined) ??
      SUCCESS
    );
  }

  /** The next `times` calls of `name` (every call by default) behave so; later ones fall back. */
  on<K extends ActivityName>(name: K, behaviour: Behaviour<K>, times = Infinity): this {
    const queue = this.scripted.get(name) ?? [];
    queue.push({ behaviour, left: times });
    this.scripted.set(name, queue);
    return this;
  }

  /** The inputs of every call of `name`, in order. */
  callsOf<K extends ActivityName>(name: K): Array<InputOf<K>> {
    return this.calls.filter((c) => c.name === name).map((c) => c.input as InputOf<K>);
  }

  /** Names of the calls, in order; with `about`, only calls whose input mentions that id. */
  names(about?: string): ActivityName[] {
    return this.calls.filter((c) => !about || JSON.stringify(c.input).includes(about)).map((c) => c.name);
  }

  /** What `name` does unless scripted (for a behaviour that scripts only some inputs). */
  byDefault<K extends ActivityName>(name: K, input: InputOf<K>): Promise<OutputOf<K>> {
    return (DEFAULTS[name] as Behaviour<K>)(input, this);
  }

  /** One call of an activity, as the worker makes it: recorded, then scripted or default. */
  async invoke(name: ActivityName, input: unknown): Promise<unknown> {
    this.calls.push({ name, input });
    const next = this.scripted.get(name)?.find((s) => s.left > 0);
    if (next) {
      next.left--;
      return next.behaviour(input as never, this);
    }
    return (DEFAULTS[name] as Behaviour<never>)(input as never, this);
  }
}

/** What each activity does unless scripted: the tiny SPM of the header comment. */
const DEFAULTS: { [K in ActivityName]: Behaviour<K> } = {
  startSpmTask: async ({ task }, fake) => {
    const vdsmTaskId = taskIdOf(naturalKeyOf(task));
    fake.tasks.set(vdsmTaskId, { taskID: vdsmTaskId, ...fake.endingOf(task) });
    return { kind: 'started', vdsmTaskId, spmHostId: 'spm-host', reconciled: false };
  },
  waitForTaskEnd: async (input, fake) => {
    const status = fake.tasks.get(input.vdsmTaskId);
    if (!status) {
      return {
        taskID: input.vdsmTaskId,
        taskState: 'unknown',
        taskResult: '',
        code: 401,
        message: 'Unknown task',
      };
    }
    // A running task ends only by Task.stop, and this wait does not see it: it hangs until cancelled.
    if (status.taskState === 'running') await hang<'waitForTaskEnd'>()(input, fake);
    return { ...status };
  },
  /** The image is still on its domain (a failed delete left it), unless the test says otherwise. */
  imageGone: async () => false,
  stopTask: async ({ vdsmTaskId }, fake) => {
    const status = fake.tasks.get(vdsmTaskId);
    if (status?.taskState === 'running')
      Object.assign(status, ROLLED_BACK, { message: 'aborted and rolled back' });
  },
  revertTask: async ({ vdsmTaskId }, fake) => {
    const status = fake.tasks.get(vdsmTaskId);
    if (status?.taskState !== 'finished')
      throw failure('VdsmError', `Task.revert ${vdsmTaskId}: 403 not done`);
    if (status.taskResult === 'success') Object.assign(status, ROLLED_BACK, { message: 'reverted' });
  },
  clearTask: async ({ vdsmTaskId }, fake) => {
    fake.tasks.delete(vdsmTaskId);
  },
  endTaskStep: async () => undefined,
  auditTaskRestart: async () => undefined,
  sweepPoolTasks: fail('InvalidInput', 'sweepPoolTasks is not faked'),
  // Host jobs (SDM verbs): accepted by one host, done as soon as they are followed unless
  // `jobEndings` says otherwise.
  startHostJob: async ({ job }) => ({ hostId: 'host-1', jobId: job.jobId }),
  waitForHostJob: async ({ jobId }, fake) =>
    fake.jobEndings.get(jobId) ?? { status: 'done', progress: 100, how: 'event' },
  volumeGeneration: async () => 0,
  prepareMoveOrCopy: fail('InvalidInput', 'prepareMoveOrCopy is not programmed'),
  finishMoveOrCopy: async () => undefined,
  prepareRemoveSnapshot: fail('InvalidInput', 'prepareRemoveSnapshot is not programmed'),
  // Storage as the workflow's stage implies: merged when every stage succeeded, else as it was.
  endRemoveSnapshotDisk: async ({ disk, stage }) => ({
    diskId: disk.diskId,
    merged: stage === 'merged',
    status: 'OK',
    leftoverVolumeId: null,
  }),
  finishRemoveSnapshot: async () => undefined,
  prepareAddDisk: fail('InvalidInput', 'prepareAddDisk is not programmed'),
  finishAddDisk: async () => undefined,
  prepareCreateSnapshot: fail('InvalidInput', 'prepareCreateSnapshot is not programmed'),
  finishCreateSnapshot: async () => undefined,
  prepareRemoveVm: fail('InvalidInput', 'prepareRemoveVm is not programmed'),
  removeVmRecord: async () => undefined,
  prepareRemoveDisk: fail('InvalidInput', 'prepareRemoveDisk is not programmed'),
  finishCommand: async () => undefined,
};

/** Every activity the worker registers (DEFAULTS' type makes the fakes cover each of them). */
export const FAKE_ACTIVITY_NAMES = Object.keys(DEFAULTS) as ActivityName[];
