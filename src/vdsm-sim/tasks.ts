import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { VdsmTaskResult, VdsmTaskState } from '../vdsm/port';
import { VdsmErrors, TaskAbortedFault, VdsmFault } from './errors';
import { writeFileAtomic } from './storage';

/**
 * VDSM's storage tasks (lib/vdsm/storage/task.py, taskManager.py, threadPool.py) over timers:
 * the same internal states and legal moves, the same wire mapping, codes and messages, a pool of
 * 10 workers with a bounded wait queue, and SPM tasks persisted on every state change.
 */

export type TaskState =
  | 'unknown'
  | 'init'
  | 'preparing'
  | 'blocked'
  | 'acquiring'
  | 'queued'
  | 'running'
  | 'finished'
  | 'aborting'
  | 'waitrecover'
  | 'racquiring'
  | 'recovering'
  | 'raborting'
  | 'recovered'
  | 'failed';

/** task.State._moveto: new state ← the states it may be entered from. */
const MOVE_TO: Record<TaskState, readonly TaskState[]> = {
  unknown: [],
  init: [],
  preparing: ['init', 'blocked'],
  blocked: ['preparing'],
  acquiring: ['preparing', 'acquiring'],
  queued: ['acquiring', 'running'],
  running: ['queued'],
  finished: ['running', 'preparing'],
  aborting: ['preparing', 'blocked', 'acquiring', 'queued', 'running'],
  waitrecover: ['aborting'],
  racquiring: ['aborting', 'finished', 'racquiring', 'waitrecover'],
  recovering: ['racquiring'],
  raborting: ['racquiring', 'recovering', 'waitrecover'],
  recovered: ['recovering'],
  failed: ['recovering', 'aborting', 'raborting'],
};

const DEPRECATED_STATE: Record<TaskState, VdsmTaskState> = {
  unknown: 'unknown',
  init: 'init',
  preparing: 'running',
  blocked: 'running',
  acquiring: 'running',
  queued: 'running',
  running: 'running',
  finished: 'finished',
  aborting: 'aborting',
  waitrecover: 'cleaning',
  recovering: 'cleaning',
  racquiring: 'cleaning',
  raborting: 'aborting',
  recovered: 'finished',
  failed: 'finished',
};

const DEPRECATED_RESULT: Partial<Record<TaskState, VdsmTaskResult>> = {
  finished: 'success',
  recovered: 'cleanSuccess',
  failed: 'cleanFailure',
};

export const isDone = (state: TaskState): boolean =>
  state === 'finished' || state === 'recovered' || state === 'failed';
const isRecovering = (state: TaskState): boolean => state === 'racquiring' || state === 'recovering';
const canAbort = (state: TaskState): boolean => MOVE_TO.aborting.includes(state);
const canAbortRecovery = (state: TaskState): boolean => MOVE_TO.raborting.includes(state);

/** A rollback step, stored with the task so a host that reloads it can still run it. */
export type RecoveryAction =
  | { kind: 'removeVolume'; domainId: string; imageId: string; volumeId: string }
  | { kind: 'removeImage'; domainId: string; imageId: string };

export interface Recovery {
  name: string;
  action: RecoveryAction;
}

/**
 * task.TaskRecoveryType. Every task VDSM schedules gets `auto`; `none` or `manual` only come back
 * from a task file that says so.
 */
export type RecoveryPolicy = 'auto' | 'manual' | 'none';

/** The single job of a task (VDSM tasks run their jobs in order; storage verbs schedule one). */
export interface JobPlan {
  /** VDSM's job name, e.g. `purgeImage_<imageId>`. */
  name: string;
  workMs: number;
  /**
   * Time the task waits in `acquiring` for its resource locks before it queues for a worker (the
   * `acquireMs` fault); its job has not touched storage meanwhile. Default 0.
   */
  acquireMs?: number;
  /**
   * Whether Task.stop can cut the work short: VDSM registers an abort callback only around
   * qemu-img and fallocate/zeroing operations (task.abort_callback). A job without one runs to its
   * end and the task aborts after it. Default true.
   */
  abortable?: boolean;
  /** When the job starts: may push recoveries and change storage; a throw fails the job. */
  begin?(task: SimTask): void;
  /** When the work is done: a throw fails the job. */
  complete(task: SimTask): void;
  /** When the job ends without completing (failed or stopped), before the rollback. */
  abandon?(task: SimTask): void;
}

export interface TaskResult {
  code: number;
  message: string;
  result: string;
}

/** Task.getStatus / a value of Host.getAllTasksStatuses. */
export interface TaskStatusDict {
  taskID: string;
  taskState: VdsmTaskState;
  taskResult: VdsmTaskResult;
  code: number;
  message: string;
}

export interface TaskSnapshot {
  id: string;
  verb: string;
  tag: string;
  state: TaskState;
  taskState: VdsmTaskState;
  taskResult: VdsmTaskResult;
  code: number;
  message: string;
  /** Every internal state the task went through in this host's memory. */
  history: TaskState[];
}

/** What a persisted task file holds. Like VDSM, the result is kept only for finished tasks. */
interface PersistedTask {
  metadataVersion: 1;
  id: string;
  name: string;
  tag: string;
  state: TaskState;
  recoveryPolicy: RecoveryPolicy;
  cleanPolicy: 'auto' | 'manual';
  jobs: Array<{ name: string }>;
  recoveries: Recovery[];
  result?: TaskResult;
}

/** `<master domain>/master/tasks`: one JSON file per SPM task, replaced atomically. */
export class TaskStore {
  constructor(readonly dir: string) {}

  save(task: SimTask): void {
    const persisted: PersistedTask = {
      metadataVersion: 1,
      id: task.id,
      name: task.name,
      tag: task.tag,
      state: task.state,
      recoveryPolicy: task.recoveryPolicy,
      cleanPolicy: task.cleanPolicy,
      jobs: task.job ? [{ name: task.job.name }] : [],
      recoveries: task.recoveries,
      ...(task.state === 'finished' ? { result: task.result } : {}),
    };
    writeFileAtomic(join(this.dir, `${task.id}.json`), JSON.stringify(persisted));
  }

  remove(taskId: string): void {
    rmSync(join(this.dir, `${taskId}.json`), { force: true });
  }

  /** Every readable task file; unreadable ones are skipped (VDSM: "Skipping directory"). */
  loadAll(): SimTask[] {
    if (!existsSync(this.dir)) return [];
    const tasks: SimTask[] = [];
    for (const file of readdirSync(this.dir)) {
      if (!file.endsWith('.json')) continue;
      try {
        const persisted = JSON.parse(readFileSync(join(this.dir, file), 'utf8')) as PersistedTask;
        const task = new SimTask(persisted.name, persisted.id);
        task.tag = persisted.tag;
        task.state = persisted.state;
        task.history = [persisted.state];
        task.cleanPolicy = persisted.cleanPolicy;
        task.recoveryPolicy = persisted.recoveryPolicy ?? 'auto';
        task.recoveries = persisted.recoveries;
        if (persisted.result) task.result = persisted.result;
        task.store = this;
        tasks.push(task);
      } catch {
        continue;
      }
    }
    return tasks;
  }

  ensure(): void {
    mkdirSync(this.dir, { recursive: true });
  }
}

type WorkOutcome = 'done' | 'stopped' | 'detached';

export class SimTask {
  tag = 'hsm';
  cleanPolicy: 'auto' | 'manual' = 'auto';
  recoveryPolicy: RecoveryPolicy = 'auto';
  state: TaskState = 'init';
  history: TaskState[] = ['init'];
  result: TaskResult = { code: 0, message: 'Task is initializing', result: '' };
  recoveries: Recovery[] = [];
  job: JobPlan | undefined;
  /** SPM tasks only: where every state change is written. */
  store: TaskStore | undefined;
  /** task._aborting: Task.stop asked; the next state change turns into aborting/raborting. */
  abortRequested = false;
  /** A flow (worker, rollback by a caller) currently drives the task: VDSM's ref > 0. */
  active = false;
  /** The host let go of it (crash, spmStop): timers are dead and it writes nothing more. */
  detached = false;
  interruptWork: ((outcome: WorkOutcome) => void) | undefined;
  readonly timers = new Set<NodeJS.Timeout>();
  readonly wakers = new Set<(alive: boolean) => void>();

  constructor(
    readonly name: string,
    readonly id: string = randomUUID(),
  ) {}

  pushRecovery(recovery: Recovery): void {
    this.recoveries.push(recovery);
    this.persist();
  }

  clearRecoveries(): void {
    this.recoveries = [];
    this.persist();
  }

  persist(): void {
    // task.persist(): nothing before leaving init, nothing for unpersisted (hsm) tasks.
    if (this.store && this.state !== 'init' && !this.detached) this.store.save(this);
  }

  status(): TaskStatusDict {
    return {
      taskID: this.id,
      taskState: DEPRECATED_STATE[this.state],
      taskResult: DEPRECATED_RESULT[this.state] ?? '',
      code: this.result.code,
      message: this.result.message,
    };
  }

  info(): { id: string; verb: string } {
    return { id: this.id, verb: this.name };
  }

  details(): {
    id: string;
    verb: string;
    state: TaskState;
    code: number;
    message: string;
    result: string;
    tag: string;
  } {
    return {
      id: this.id,
      verb: this.name,
      state: this.state,
      code: this.result.code,
      message: this.result.message,
      result: this.result.result,
      tag: this.tag,
    };
  }

  snapshot(): TaskSnapshot {
    const status = this.status();
    return {
      id: this.id,
      verb: this.name,
      tag: this.tag,
      state: this.state,
      taskState: status.taskState,
      taskResult: status.taskResult,
      code: status.code,
      message: status.message,
      history: [...this.history],
    };
  }

  get aborting(): boolean {
    return this.abortRequested || this.state === 'aborting' || this.state === 'raborting';
  }
}

export interface TaskManagerHooks {
  /** Runs one rollback step; a throw fails the rollback (→ failed, cleanFailure). */
  runRecovery(action: RecoveryAction): void;
  /** An injected rollback failure for this task, if any. */
  rollbackFailure(task: SimTask): VdsmFault | undefined;
  rollbackMs(): number;
  abortLatencyMs(): number;
  onStateChange(task: SimTask): void;
  log(line: string): void;
}

/** irs.thread_pool_size */
const WORKERS = 10;
/** irs.max_tasks: tasks waiting for a worker (the running ones do not count). */
const MAX_QUEUED = 500;

interface WorkItem {
  task: SimTask;
  mode: 'commit' | 'recover';
}

/** One host's task manager and thread pool. */
export class TaskManager {
  private readonly tasks = new Map<string, SimTask>();
  private readonly waiting: WorkItem[] = [];
  /** Cleared while still active (hsm tasks have no store): a crash must still stop them. */
  private readonly orphans = new Set<SimTask>();
  private busyWorkers = 0;

  constructor(private readonly hooks: TaskManagerHooks) {}

  /** taskManager._getTask: 1000 for an id VDSM rejects outright, 401 for an unknown one. */
  get(taskId: string): SimTask {
    if (!taskId || taskId.includes('.')) throw VdsmErrors.invalidParameter('taskID', taskId);
    const task = this.tasks.get(taskId);
    if (!task) throw VdsmErrors.unknownTask(taskId);
    return task;
  }

  list(tag?: string): SimTask[] {
    return [...this.tasks.values()].filter((t) => tag === undefined || t.tag === tag);
  }

  /**
   * Task.prepare() after the verb scheduled its job: preparing → acquiring → queued, then a worker
   * runs it. A full wait queue is 405 and leaves no task behind.
   */
  accept(task: SimTask): void {
    if (!task.job) throw new Error(`task ${task.id} has no job`);
    if (this.waiting.filter((w) => w.mode === 'commit').length >= MAX_QUEUED) throw VdsmErrors.addTask();
    task.store?.ensure();
    this.move(task, 'preparing');
    this.move(task, 'acquiring');
    this.tasks.set(task.id, task);
    const acquired = (): void => {
      // A stop (or a crash) while it waited already moved it on.
      if (task.detached || task.state !== 'acquiring') return;
      this.move(task, 'queued');
      this.enqueue({ task, mode: 'commit' });
    };
    if (task.job.acquireMs) this.later(task, task.job.acquireMs, acquired);
    else acquired();
  }

  /** Tasks found on the master domain by a new SPM: done ones stay as they are, others roll back. */
  adopt(loaded: SimTask[]): void {
    for (const task of loaded) {
      this.tasks.set(task.id, task);
      this.enqueue({ task, mode: 'recover' });
    }
  }

  /** Task.stop */
  async stop(task: SimTask): Promise<void> {
    if (task.aborting) throw new TaskAbortedFault(task.id);
    if (isDone(task.state)) return;
    // VDSM ignores a stop during recovery only for auto-clean (hsm) tasks.
    if (isRecovering(task.state) && task.cleanPolicy === 'auto') return;
    task.abortRequested = true;
    if (task.active) {
      // A worker runs the job. An abortable one is cut off once its operation notices (abort
      // latency); any other runs to its end. Either way the worker then aborts and rolls back.
      if (task.state === 'running' && task.job?.abortable !== false)
        this.later(task, this.hooks.abortLatencyMs(), () => task.interruptWork?.('stopped'));
      return;
    }
    // Nobody drives it (still queued): the caller aborts and rolls it back, as _decref does.
    this.dequeue(task);
    await this.drive(task, () => this.doAbort(task));
  }

  /** Task.clear */
  clear(task: SimTask): void {
    if (task.store) {
      if (!isDone(task.state)) throw VdsmErrors.taskState(task.state);
      task.store.remove(task.id);
    } else if (task.active || !isDone(task.state)) {
      this.orphans.add(task);
    }
    this.tasks.delete(task.id);
    this.dequeue(task);
  }

  /**
   * Task.revert (task.rollback): a no-op under the `none` recovery policy; otherwise the finished
   * task rolls back in the caller, before the answer. A flow still holding the task is 442.
   */
  async revert(task: SimTask, injectedFailure?: () => VdsmFault | undefined): Promise<void> {
    if (task.recoveryPolicy === 'none') return;
    if (!isDone(task.state)) throw VdsmErrors.taskNotFinished(task.state);
    if (task.active) throw VdsmErrors.taskHasRefs(task.id);
    this.move(task, 'racquiring');
    const injected = injectedFailure?.();
    this.move(task, 'recovering');
    await this.drive(task, () => this.recover(task, injected));
  }

  /** spmStop: the SPM tasks leave this host's memory; their files stay for the next SPM. */
  unload(tag: string): void {
    for (const task of this.list(tag)) {
      this.detach(task);
      this.tasks.delete(task.id);
      this.dequeue(task);
    }
  }

  /** A crash: every task and timer of this host is gone; files stay as last written. */
  detachAll(): void {
    for (const task of [...this.tasks.values(), ...this.orphans]) this.detach(task);
    this.tasks.clear();
    this.orphans.clear();
    this.waiting.length = 0;
  }

  private detach(task: SimTask): void {
    task.detached = true;
    for (const timer of task.timers) clearTimeout(timer);
    task.timers.clear();
    for (const wake of task.wakers) wake(false);
    task.wakers.clear();
    task.interruptWork?.('detached');
  }

  private enqueue(item: WorkItem): void {
    this.waiting.push(item);
    this.pump();
  }

  private dequeue(task: SimTask): void {
    const index = this.waiting.findIndex((w) => w.task === task);
    if (index >= 0) this.waiting.splice(index, 1);
  }

  private pump(): void {
    while (this.busyWorkers < WORKERS && this.waiting.length > 0) {
      const item = this.waiting.shift()!;
      this.busyWorkers += 1;
      const run = item.mode === 'commit' ? () => this.commit(item.task) : () => this.recoverLoaded(item.task);
      void this.drive(item.task, run).finally(() => {
        this.busyWorkers -= 1;
        this.pump();
      });
    }
  }

  /** Runs a flow that owns the task; an unexpected error leaves the task as it is and is logged. */
  private async drive(task: SimTask, flow: () => Promise<void>): Promise<void> {
    task.active = true;
    try {
      await flow();
    } catch (err) {
      this.hooks.log(`task ${task.id}: ${(err as Error).stack ?? String(err)}`);
    } finally {
      task.active = false;
      if (isDone(task.state)) this.orphans.delete(task);
    }
  }

  /** task.commit → _runJobs */
  private async commit(task: SimTask): Promise<void> {
    const job = task.job;
    if (task.detached || task.state !== 'queued' || !job) return;
    this.move(task, 'running');
    task.result = { code: 0, message: 'running job 1 of 1', result: '' };
    let failure: unknown;
    try {
      job.begin?.(task);
    } catch (err) {
      failure = err;
    }
    let completed = false;
    let cutOff = false;
    if (failure === undefined) {
      const outcome = await this.work(task, job.workMs);
      if (outcome === 'detached') return;
      cutOff = outcome === 'stopped';
      if (outcome === 'done') {
        // The work ran to its end, stopped or not: its effects happen (_run(j.run) returned).
        try {
          job.complete(task);
          completed = true;
        } catch (err) {
          failure = err;
        }
      }
    }
    if (task.detached) return;
    if (completed && !task.aborting) {
      task.result = { code: 0, message: '1 jobs completed successfully', result: '' };
      this.move(task, 'finished');
      return;
    }
    if (!completed) job.abandon?.(task);
    if (cutOff) {
      // The aborted operation raised inside _run, whose own stop() then raised TaskAborted(str(task)).
      const aborted = new TaskAbortedFault(task.id);
      task.result = { code: aborted.abortedCode, message: aborted.abortedValue, result: '' };
    } else if (failure === undefined) {
      // Stopped but the job completed: _runJobs raises TaskAborted("shutting down").
      const aborted = new TaskAbortedFault('shutting down');
      task.result = { code: aborted.abortedCode, message: aborted.abortedValue, result: '' };
    } else {
      // _run: a storage error keeps its code, anything else is 100; both become TaskAborted.
      const fault =
        failure instanceof VdsmFault
          ? failure
          : new VdsmFault(100, failure instanceof Error ? failure.message : JSON.stringify(failure));
      const aborted = new TaskAbortedFault(fault.message, fault.storage ? fault.code : 100);
      task.abortRequested = true;
      task.result = { code: aborted.abortedCode, message: aborted.abortedValue, result: '' };
    }
    await this.doAbort(task);
  }

  /**
   * _doAbort: aborting, then by recovery policy (__state_aborting) auto: racquiring → recovering →
   * rollback; none: failed without a rollback; manual: waitrecover, where it stays. A task already
   * past the point of aborting (in recovery) goes raborting → failed.
   */
  private async doAbort(task: SimTask): Promise<void> {
    if (!canAbort(task.state)) {
      this.move(task, 'raborting');
      this.move(task, 'failed');
      return;
    }
    this.move(task, 'aborting');
    if (task.recoveryPolicy === 'none') {
      this.move(task, 'failed');
      return;
    }
    if (task.recoveryPolicy === 'manual') {
      this.move(task, 'waitrecover');
      return;
    }
    this.move(task, 'racquiring');
    this.move(task, 'recovering');
    await this.recover(task);
  }

  /** _recover: pops recoveries (LIFO) while recovering → recovered, or raborting → failed. */
  private async recover(task: SimTask, injected?: VdsmFault): Promise<void> {
    if (!(await this.sleep(task, this.hooks.rollbackMs()))) return;
    try {
      const failure = injected ?? this.hooks.rollbackFailure(task);
      if (failure) throw failure;
      while (task.state === 'recovering') {
        const recovery = task.recoveries.pop();
        if (!recovery) break;
        this.hooks.runRecovery(recovery.action);
      }
    } catch (err) {
      this.hooks.log(`task ${task.id}: rollback failed: ${(err as Error).message}`);
      if (task.state === 'recovering') this.move(task, 'raborting');
      this.move(task, 'failed');
      return;
    }
    if (task.state === 'recovering') this.move(task, 'recovered');
    else if (task.state === 'raborting') this.move(task, 'failed');
  }

  /** task.recover() for a task loaded from the master domain. */
  private async recoverLoaded(task: SimTask): Promise<void> {
    if (task.detached || isDone(task.state)) return;
    if (canAbort(task.state)) {
      task.abortRequested = true;
      await this.doAbort(task);
    } else if (isRecovering(task.state)) {
      this.move(task, 'racquiring', true);
      this.move(task, 'recovering');
      await this.recover(task);
    } else if (task.state !== 'waitrecover') {
      // Caught mid-abort: a forced abort of aborting/raborting ends in failed without a rollback.
      this.move(task, 'failed', true);
    }
  }

  /** task._updateState: an abort request redirects the move; illegal moves are 441. */
  private move(task: SimTask, requested: TaskState, force = false): void {
    if (task.detached) return;
    let target = requested;
    if (task.abortRequested) {
      if (canAbort(task.state)) target = 'aborting';
      else if (canAbortRecovery(task.state) && requested !== 'recovered') target = 'raborting';
    }
    task.abortRequested = false;
    if (!force && !MOVE_TO[target].includes(task.state)) throw VdsmErrors.stateTransition(task.state, target);
    task.state = target;
    task.history.push(target);
    try {
      task.persist();
    } catch (err) {
      // VDSM logs a failed persist and goes on.
      this.hooks.log(`task ${task.id}: persisting failed: ${(err as Error).message}`);
    }
    this.hooks.onStateChange(task);
  }

  /** The job's work: ends after `ms`, or early when stopped or detached. */
  private work(task: SimTask, ms: number): Promise<WorkOutcome> {
    return new Promise((resolve) => {
      const timer = this.later(task, ms, () => finish('done'));
      const finish = (outcome: WorkOutcome): void => {
        clearTimeout(timer);
        task.timers.delete(timer);
        task.interruptWork = undefined;
        resolve(outcome);
      };
      task.interruptWork = finish;
    });
  }

  /** Resolves true after `ms`, false if the task is detached first. */
  private sleep(task: SimTask, ms: number): Promise<boolean> {
    if (task.detached) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = (alive: boolean): void => {
        task.wakers.delete(wake);
        resolve(alive);
      };
      task.wakers.add(wake);
      this.later(task, ms, () => wake(true));
    });
  }

  private later(task: SimTask, ms: number, run: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      task.timers.delete(timer);
      run();
    }, ms);
    task.timers.add(timer);
    return timer;
  }
}
