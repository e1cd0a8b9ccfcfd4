import { VdsmMalformedResponseError } from '../vdsm/errors';
import type { VdsmTaskStatus } from '../vdsm/port';
import type { SpmLocator } from './spm-locator';

export interface PollingPolicy {
  minIntervalMs: number;
  maxIntervalMs: number;
  backoffFactor: number;
  /** Stay at the minimum interval this long after the last change before backing off. */
  fastPhaseMs: number;
}

interface Waiter {
  onStatus: ((status: VdsmTaskStatus) => void) | undefined;
  resolve: (status: VdsmTaskStatus) => void;
  reject: (err: unknown) => void;
}

/** The engine's rule: a task the SPM no longer reports is `unknown`, and unknown has ended. */
function vanished(taskID: string): VdsmTaskStatus {
  return {
    taskID,
    taskState: 'unknown',
    taskResult: '',
    code: 0,
    message: 'task is not reported by the SPM',
  };
}

function hasEnded(status: VdsmTaskStatus): boolean {
  return status.taskState === 'finished' || status.taskState === 'unknown';
}

/** The activity's cancellation reason is an Error (CancelledFailure); anything else gets wrapped. */
function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted'));
}

const statusKey = (s: VdsmTaskStatus): string => `${s.taskState}|${s.taskResult}|${s.code}|${s.message}`;

/**
 * Worker-level status hub: every task a worker waits on in a pool is served by at most one
 * Host.getAllTasksStatuses per poll interval, however many tasks are in flight. The interval
 * adapts like the engine's CoCo coordinator: minimum while anything changes (or during the fast
 * phase after a change), then backing off to the maximum; any change resets it.
 */
export class TaskStatusHub {
  private readonly pools = new Map<string, PoolPoller>();
  /**
   * When each pool's last poll answered (or failed), kept across pollers: a pool's poller goes
   * when nobody waits, and the next one must still respect the minimum interval.
   */
  private readonly lastPollEndedAt = new Map<string, number>();
  /** The task ids of each pool's last answered poll: what a start may take as already there. */
  private readonly lastTaskIds = new Map<string, { taskIds: string[]; at: number }>();
  private closed = false;

  constructor(
    private readonly spm: SpmLocator,
    private readonly policy: PollingPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  waitForEnd(
    poolId: string,
    taskId: string,
    options: { signal?: AbortSignal; onStatus?: (status: VdsmTaskStatus) => void } = {},
  ): Promise<VdsmTaskStatus> {
    if (this.closed) return Promise.reject(new Error('status hub is closed'));
    let poller = this.pools.get(poolId);
    if (!poller) {
      poller = new PoolPoller(poolId, this.spm, this.policy, this.now, {
        onIdle: () => this.pools.delete(poolId),
        lastPollEndedAt: () => this.lastPollEndedAt.get(poolId),
        pollEnded: (at) => this.lastPollEndedAt.set(poolId, at),
        answered: (taskIds) => this.lastTaskIds.set(poolId, { taskIds, at: this.now() }),
      });
      this.pools.set(poolId, poller);
    }
    return poller.wait(taskId, options);
  }

  /**
   * The task ids the pool's SPM reported in this worker's last poll, if it answered less than
   * `maxAgeMs` ago: every one existed before now, so a start may record them as known without
   * asking the SPM again.
   */
  lastKnownTaskIds(poolId: string, maxAgeMs: number): string[] | undefined {
    const last = this.lastTaskIds.get(poolId);
    return last && this.now() - last.at < maxAgeMs ? last.taskIds : undefined;
  }

  /** Polls made so far, per pool (for tests and benchmarks). */
  pollCounts(): Record<string, number> {
    return Object.fromEntries([...this.pools].map(([id, p]) => [id, p.polls]));
  }

  close(): void {
    this.closed = true;
    for (const poller of this.pools.values()) poller.abortAll(new Error('status hub closed'));
    this.pools.clear();
  }
}

class PoolPoller {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly lastSeen = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private timerDueAt = 0;
  private polling = false;
  private intervalMs: number;
  private lastChangeAt: number;
  polls = 0;

  constructor(
    private readonly poolId: string,
    private readonly spm: SpmLocator,
    private readonly policy: PollingPolicy,
    private readonly now: () => number,
    private readonly pool: {
      onIdle: () => void;
      lastPollEndedAt: () => number | undefined;
      pollEnded: (at: number) => void;
      answered: (taskIds: string[]) => void;
    },
  ) {
    this.intervalMs = policy.minIntervalMs;
    this.lastChangeAt = now();
  }

  /**
   * The earliest a poll may start: a minimum interval after the last one ended (so two calls
   * never reach the SPM within one interval, however long a call takes), or now if that has passed.
   */
  private earliestPollAt(): number {
    const last = this.pool.lastPollEndedAt();
    return Math.max(this.now(), last === undefined ? 0 : last + this.policy.minIntervalMs);
  }

  wait(
    taskId: string,
    options: { signal?: AbortSignal; onStatus?: (status: VdsmTaskStatus) => void },
  ): Promise<VdsmTaskStatus> {
    return new Promise<VdsmTaskStatus>((resolve, reject) => {
      if (options.signal?.aborted) return reject(abortReason(options.signal));
      const waiter: Waiter = { onStatus: options.onStatus, resolve, reject };
      let set = this.waiters.get(taskId);
      if (!set) {
        set = new Set();
        this.waiters.set(taskId, set);
      }
      set.add(waiter);
      options.signal?.addEventListener(
        'abort',
        () => {
          this.remove(taskId, waiter);
          if (options.signal) reject(abortReason(options.signal));
        },
        { once: true },
      );
      // A new task is a change: poll as soon as the minimum interval allows (now, if the pool
      // was not polled for that long), coalesced with the others.
      this.intervalMs = this.policy.minIntervalMs;
      this.lastChangeAt = this.now();
      // A poll in flight reschedules when it ends (at most an interval later).
      if (this.polling) return;
      const dueAt = this.earliestPollAt();
      // Pull a later (backed-off) poll forward; an earlier one already serves this waiter.
      if (this.timer && this.timerDueAt > dueAt) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      if (!this.timer) this.schedule(dueAt - this.now());
    });
  }

  abortAll(err: Error): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const set of this.waiters.values()) for (const w of set) w.reject(err);
    this.waiters.clear();
  }

  private remove(taskId: string, waiter: Waiter): void {
    const set = this.waiters.get(taskId);
    if (!set) return;
    set.delete(waiter);
    if (set.size === 0) {
      this.waiters.delete(taskId);
      this.lastSeen.delete(taskId);
    }
  }

  private schedule(delayMs: number): void {
    this.timerDueAt = this.now() + delayMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.poll();
    }, delayMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    if (this.waiters.size === 0) return this.pool.onIdle();
    this.polling = true;
    let changed = false;
    // Only tasks waited on before the call went out can be judged absent from its answer: a task
    // whose waiter came while the call was in flight may have been created after the SPM answered.
    const asked = new Set(this.waiters.keys());
    try {
      this.polls++;
      const statuses = await this.spm.onSpm(this.poolId, (s) => s.api.hostGetAllTasksStatuses());
      this.pool.answered(Object.keys(statuses));
      for (const taskId of [...this.waiters.keys()]) {
        const status = statuses[taskId] ?? (asked.has(taskId) ? vanished(taskId) : undefined);
        if (status) changed = this.deliver(taskId, status) || changed;
      }
    } catch (err) {
      if (err instanceof VdsmMalformedResponseError) {
        // One bad entry must fail one step, not every step of the pool: ask task by task.
        changed = (await this.pollEachTask()) || changed;
      }
      // Anything else (SPM unreachable, no SPM during failover) is transient: keep waiting;
      // the waiting activities keep heartbeating and Temporal sees them alive.
    } finally {
      this.polling = false;
      this.pool.pollEnded(this.now());
    }
    if (this.waiters.size === 0) {
      this.pool.onIdle();
      return;
    }
    const now = this.now();
    if (changed) this.lastChangeAt = now;
    this.intervalMs =
      changed || now - this.lastChangeAt < this.policy.fastPhaseMs
        ? this.policy.minIntervalMs
        : Math.min(this.policy.maxIntervalMs, Math.round(this.intervalMs * this.policy.backoffFactor));
    if (!this.timer) this.schedule(this.intervalMs);
  }

  private async pollEachTask(): Promise<boolean> {
    let changed = false;
    const { api } = await this.spm.spm(this.poolId);
    for (const taskId of [...this.waiters.keys()]) {
      try {
        changed = this.deliver(taskId, await api.taskGetStatus(taskId)) || changed;
      } catch (err) {
        if (err instanceof VdsmMalformedResponseError) {
          for (const w of this.waiters.get(taskId) ?? []) w.reject(err);
          this.waiters.delete(taskId);
          this.lastSeen.delete(taskId);
        }
      }
    }
    return changed;
  }

  /** Hands a status to the task's waiters; returns whether it changed since the last poll. */
  private deliver(taskId: string, status: VdsmTaskStatus): boolean {
    const set = this.waiters.get(taskId);
    if (!set) return false;
    const key = statusKey(status);
    const changed = this.lastSeen.get(taskId) !== key;
    this.lastSeen.set(taskId, key);
    for (const w of set) w.onStatus?.(status);
    if (hasEnded(status)) {
      for (const w of set) w.resolve(status);
      this.waiters.delete(taskId);
      this.lastSeen.delete(taskId);
    }
    return changed;
  }
}
