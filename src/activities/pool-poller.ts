import { VdsmMalformedResponseError } from '../vdsm/errors';
import type { VdsmTaskStatus } from '../vdsm/port';
import type { SpmLocator } from './spm-locator';
import {
  abortReason,
  hasEnded,
  publishedSchema,
  statusKey,
  vanished,
  type PollingPolicy,
  type PoolMemory,
  type SharedPolls,
} from './status-polls';

export type { PollingPolicy, PoolMemory, SharedPolls } from './status-polls';

interface Waiter {
  onStatus: ((status: VdsmTaskStatus) => void) | undefined;
  resolve: (status: VdsmTaskStatus) => void;
  reject: (err: unknown) => void;
}

/**
 * One pool's polling in one worker. Alone, it calls Host.getAllTasksStatuses itself. Shared, it
 * calls only while it holds the pool's poller lease (and then publishes every answer); otherwise it
 * reads the last published answer every quarter interval, and takes the lease over when its
 * holder stops renewing it (a dead worker's lease expires after three minimum intervals).
 */
export class PoolPoller {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly lastSeen = new Map<string, string>();
  /**
   * Per waited task, the first publication whose silence about it means it vanished: one whose
   * call went out after the waiter came. Unknown (absent) until a read after the waiter came.
   */
  private readonly judgeFrom = new Map<string, number>();
  /** The whole pool's last answer (every task): the lead poller backs off only when none changed. */
  private lastAnswer = new Map<string, string>();
  private lastSeq = 0;
  private leading = false;
  private lastLeadAttemptAt = 0;
  /** When the lead poller calls the SPM next (its adaptive interval; a new waiter pulls it in). */
  private nextPollAt = 0;
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
    private readonly pool: PoolMemory,
    private readonly shared?: SharedPolls,
  ) {
    this.intervalMs = policy.minIntervalMs;
    this.lastChangeAt = now();
  }

  /** Renewed every minimum interval; a dead poller is replaced once it expires. */
  private get leaseMs(): number {
    return Math.max(3 * this.policy.minIntervalMs, 3_000);
  }

  private get readIntervalMs(): number {
    return Math.max(25, Math.round(this.policy.minIntervalMs / 4));
  }

  /**
   * The earliest a poll may start: a minimum interval after the last one ended (so two calls
   * never reach the SPM within one interval, however long a call takes), or now if that has passed.
   */
  private earliestPollAt(lastEndedElsewhere: number | null = null): number {
    const last = Math.max(this.pool.lastPollEndedAt() ?? 0, lastEndedElsewhere ?? 0);
    return Math.max(this.now(), last === 0 ? 0 : last + this.policy.minIntervalMs);
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
      this.nextPollAt = 0;
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
    this.judgeFrom.clear();
    this.quit();
  }

  private remove(taskId: string, waiter: Waiter): void {
    const set = this.waiters.get(taskId);
    if (!set) return;
    set.delete(waiter);
    if (set.size === 0) this.forget(taskId);
  }

  private forget(taskId: string): void {
    this.waiters.delete(taskId);
    this.lastSeen.delete(taskId);
    this.judgeFrom.delete(taskId);
  }

  /** Nobody waits here any more: hand the lease on at once rather than let it expire. */
  private idle(): void {
    this.quit();
    this.pool.onIdle();
  }

  private quit(): void {
    if (!this.shared || !this.leading) return;
    this.leading = false;
    this.shared.inventory.quitStatusPolls(this.poolId, this.shared.worker).catch(() => undefined);
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
    if (this.waiters.size === 0) return this.idle();
    this.polling = true;
    let next: number;
    try {
      next = this.shared ? await this.pollShared(this.shared) : await this.pollSpm();
    } finally {
      this.polling = false;
    }
    if (this.waiters.size === 0) return this.idle();
    if (!this.timer) this.schedule(next);
  }

  /**
   * Leads (renews the lease each minimum interval, polls the SPM when due, publishes) or follows
   * (reads each quarter interval, tries to lead each interval); returns the delay to the next turn.
   */
  private async pollShared(shared: SharedPolls): Promise<number> {
    const renewEveryMs = this.policy.minIntervalMs;
    if (this.leading || this.now() - this.lastLeadAttemptAt >= renewEveryMs) {
      this.lastLeadAttemptAt = this.now();
      try {
        const lead = await shared.inventory.leadStatusPolls(this.poolId, shared.worker, this.leaseMs);
        this.leading = lead.leading;
        if (lead.leading) {
          // The previous poller may have polled moments ago: the SPM still gets one call per interval.
          const due = Math.max(this.nextPollAt, this.earliestPollAt(lead.endedAtMs));
          if (due > this.now()) return Math.min(due - this.now(), renewEveryMs);
          const interval = await this.pollSpm(async (answer, endedAt) =>
            shared.inventory
              .publishTaskStatuses(this.poolId, shared.worker, JSON.stringify(answer), endedAt)
              .catch(() => undefined),
          );
          this.nextPollAt = this.now() + interval;
          return Math.min(interval, renewEveryMs);
        }
      } catch {
        // The inventory is away: nobody can lead or read; the waiting activities keep heartbeating.
        return this.readIntervalMs;
      }
    }
    await this.readPublished(shared);
    return this.readIntervalMs;
  }

  /** Reads a newer published answer, if any, and hands it to the waiters. */
  private async readPublished(shared: SharedPolls): Promise<void> {
    const unjudged = [...this.waiters.keys()].filter((id) => !this.judgeFrom.has(id));
    let published: Awaited<ReturnType<SharedPolls['inventory']['readTaskStatuses']>>;
    try {
      published = await shared.inventory.readTaskStatuses(this.poolId, this.lastSeq);
    } catch {
      return;
    }
    // This read began after these waiters came: a publication two later went out after them.
    const seqNow = published?.seq ?? this.lastSeq;
    for (const id of unjudged) if (this.waiters.has(id)) this.judgeFrom.set(id, seqNow + 2);
    if (!published) return;
    this.lastSeq = published.seq;
    const parsed = publishedSchema.safeParse(JSON.parse(published.statusesJson));
    if (!parsed.success) return;
    const statuses = parsed.data;
    this.pool.answered(Object.keys(statuses), published.endedAtMs ?? this.now());
    for (const taskId of [...this.waiters.keys()]) {
      const from = this.judgeFrom.get(taskId);
      const absent = from !== undefined && published.seq >= from;
      const status = statuses[taskId] ?? (absent ? vanished(taskId) : undefined);
      if (status) this.deliver(taskId, status);
    }
  }

  /**
   * One Host.getAllTasksStatuses, delivered to this worker's waiters and handed to `publish`
   * (which returns the publication's number). Returns the delay to the next poll: the minimum
   * interval while anything in the pool changes, backing off after the fast phase.
   */
  private async pollSpm(
    publish?: (answer: Record<string, VdsmTaskStatus>, endedAt: number) => Promise<number | undefined>,
  ): Promise<number> {
    let changed = false;
    // Only tasks waited on before the call went out can be judged absent from its answer: a task
    // whose waiter came while the call was in flight may have been created after the SPM answered.
    const asked = new Set(this.waiters.keys());
    try {
      this.polls++;
      const statuses = await this.spm.onSpm(this.poolId, (s) => s.api.hostGetAllTasksStatuses());
      const endedAt = this.now();
      this.pool.answered(Object.keys(statuses), endedAt);
      changed = this.answerChanged(statuses);
      for (const taskId of [...this.waiters.keys()]) {
        const status = statuses[taskId] ?? (asked.has(taskId) ? vanished(taskId) : undefined);
        if (status) changed = this.deliver(taskId, status) || changed;
      }
      const seq = publish ? await publish(statuses, endedAt) : undefined;
      if (seq !== undefined) {
        this.lastSeq = seq;
        // Followers judge absence from this publication on, as this poll did for `asked`.
        for (const taskId of asked) if (this.waiters.has(taskId)) this.judgeFrom.set(taskId, seq);
      }
    } catch (err) {
      if (err instanceof VdsmMalformedResponseError) {
        // One bad entry must fail one step, not every step of the pool: ask task by task.
        changed = (await this.pollEachTask()) || changed;
      }
      // Anything else (SPM unreachable, no SPM during failover) is transient: keep waiting;
      // the waiting activities keep heartbeating and Temporal sees them alive.
    } finally {
      this.pool.pollEnded(this.now());
    }
    const now = this.now();
    if (changed) this.lastChangeAt = now;
    this.intervalMs =
      changed || now - this.lastChangeAt < this.policy.fastPhaseMs
        ? this.policy.minIntervalMs
        : Math.min(this.policy.maxIntervalMs, Math.round(this.intervalMs * this.policy.backoffFactor));
    return this.intervalMs;
  }

  /** Whether any task of the pool (not only this worker's) appeared, changed or went. */
  private answerChanged(statuses: Record<string, VdsmTaskStatus>): boolean {
    if (!this.shared) return false;
    const answer = new Map(Object.values(statuses).map((s) => [s.taskID, statusKey(s)]));
    const changed =
      answer.size !== this.lastAnswer.size ||
      [...answer].some(([id, key]) => this.lastAnswer.get(id) !== key);
    this.lastAnswer = answer;
    return changed;
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
          this.forget(taskId);
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
      this.forget(taskId);
    }
    return changed;
  }
}
