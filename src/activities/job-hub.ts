import { VdsmMalformedResponseError } from '../vdsm/errors';
import type { HostJob, VdsmHostApi } from '../vdsm/port';
import { hostJobEventSchema, JOB_STATUS_EVENT_PREFIX } from '../vdsm/schemas';

/** What the hub saw of a job: its end (and how it learnt it), or that the host no longer reports it. */
export type JobSighting = { kind: 'ended'; job: HostJob; how: 'event' | 'poll' } | { kind: 'missing' };

export interface JobWaitOptions {
  signal?: AbortSignal;
  /** Every report of the job while it runs (progress). */
  onReport?: (job: HostJob) => void;
}

interface Waiter {
  onReport: ((job: HostJob) => void) | undefined;
  resolve: (sighting: JobSighting) => void;
  reject: (err: unknown) => void;
}

const ENDED: ReadonlySet<HostJob['status']> = new Set(['done', 'failed', 'aborted']);
/**
 * How long the end event of a job started here is kept for a wait that has not begun yet (the
 * workflow schedules the wait only after the start's answer: a short job, or a busy worker, can
 * end in between). A wait that begins later, or on another worker, is served by the poll.
 */
const EXPECT_MS = 60_000;

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted'));
}

/**
 * Worker-level host-job hub. A job's end is learnt from its `|jobs|status|<id>` event (the worker
 * stays subscribed to each host's jms.queue.events while it waits on a job there); events are lost
 * while a host restarts or a connection drops, so every host is also polled: ONE Host.getJobs per
 * host per interval for all the jobs waited on there, however many. A job a poll does not find is
 * reported `missing`: the caller then asks the volume (the engine's entity polling).
 */
export class HostJobHub {
  private readonly hosts = new Map<string, HostJobPoller>();
  private closed = false;

  constructor(private readonly options: { intervalMs: number }) {}

  waitForJob(
    hostId: string,
    api: VdsmHostApi,
    jobId: string,
    options: JobWaitOptions = {},
  ): Promise<JobSighting> {
    if (this.closed) return Promise.reject(new Error('host job hub is closed'));
    let poller = this.hosts.get(hostId);
    if (!poller) {
      poller = new HostJobPoller(api, this.options.intervalMs, () => this.hosts.delete(hostId));
      this.hosts.set(hostId, poller);
    }
    return poller.wait(jobId, options);
  }

  /**
   * A job this worker just started on the host: follow its events from now on, so that its end is
   * not lost if it comes before anyone waits on it.
   */
  expect(hostId: string, api: VdsmHostApi, jobId: string): void {
    if (this.closed) return;
    let poller = this.hosts.get(hostId);
    if (!poller) {
      poller = new HostJobPoller(api, this.options.intervalMs, () => this.hosts.delete(hostId));
      this.hosts.set(hostId, poller);
    }
    poller.expect(jobId);
  }

  /** Host.getJobs calls made so far, per host (for tests and benchmarks). */
  pollCounts(): Record<string, number> {
    return Object.fromEntries([...this.hosts].map(([id, p]) => [id, p.polls]));
  }

  close(): void {
    this.closed = true;
    for (const poller of this.hosts.values()) poller.abortAll(new Error('host job hub closed'));
    this.hosts.clear();
  }
}

class HostJobPoller {
  private readonly waiters = new Map<string, Set<Waiter>>();
  /** Jobs started here and not waited on yet (expiry timers), and the ends seen of those. */
  private readonly expected = new Map<string, NodeJS.Timeout>();
  private readonly early = new Map<string, JobSighting & { kind: 'ended' }>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private polling = false;
  polls = 0;

  constructor(
    private readonly api: VdsmHostApi,
    private readonly intervalMs: number,
    private readonly onIdle: () => void,
  ) {
    this.unsubscribe = api.onEvent?.((event) => this.onEvent(event.method, event.params));
    // Events only flow on an open connection: open it now rather than at the first poll.
    void api.connect?.().catch(() => undefined);
  }

  expect(jobId: string): void {
    if (this.waiters.has(jobId) || this.expected.has(jobId)) return;
    const timer = setTimeout(() => {
      this.expected.delete(jobId);
      this.early.delete(jobId);
      this.goIdle();
    }, EXPECT_MS);
    timer.unref();
    this.expected.set(jobId, timer);
  }

  wait(jobId: string, options: JobWaitOptions): Promise<JobSighting> {
    return new Promise<JobSighting>((resolve, reject) => {
      if (options.signal?.aborted) return reject(abortReason(options.signal));
      clearTimeout(this.expected.get(jobId));
      this.expected.delete(jobId);
      const early = this.early.get(jobId);
      if (early) {
        // It ended before this wait began: its event was kept.
        this.early.delete(jobId);
        options.onReport?.(early.job);
        resolve(early);
        this.goIdle();
        return;
      }
      const waiter: Waiter = { onReport: options.onReport, resolve, reject };
      let set = this.waiters.get(jobId);
      if (!set) {
        set = new Set();
        this.waiters.set(jobId, set);
      }
      set.add(waiter);
      options.signal?.addEventListener(
        'abort',
        () => {
          this.remove(jobId, waiter);
          if (options.signal) reject(abortReason(options.signal));
        },
        { once: true },
      );
      if (!this.timer && !this.polling) this.schedule();
    });
  }

  abortAll(err: Error): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const timer of this.expected.values()) clearTimeout(timer);
    this.expected.clear();
    this.early.clear();
    for (const set of this.waiters.values()) for (const w of set) w.reject(err);
    this.waiters.clear();
    this.goIdle();
  }

  private onEvent(method: string, params: unknown): void {
    if (!method.startsWith(JOB_STATUS_EVENT_PREFIX)) return;
    const jobId = method.slice(JOB_STATUS_EVENT_PREFIX.length);
    if (!this.waiters.has(jobId) && !this.expected.has(jobId)) return;
    const parsed = hostJobEventSchema.safeParse(params);
    // A garbled event is as good as a lost one: the poll still tells.
    if (!parsed.success || parsed.data.id !== jobId) return;
    const { notify_time: _time, ...rest } = parsed.data;
    const job: HostJob = { description: '', job_type: 'storage', ...rest };
    if (this.waiters.has(jobId)) this.deliver(jobId, job, 'event');
    else if (ENDED.has(job.status)) this.early.set(jobId, { kind: 'ended', job, how: 'event' });
  }

  private remove(jobId: string, waiter: Waiter): void {
    const set = this.waiters.get(jobId);
    set?.delete(waiter);
    if (set?.size === 0) this.waiters.delete(jobId);
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.poll();
    }, this.intervalMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    if (this.waiters.size === 0) return this.goIdle();
    this.polling = true;
    // Only jobs waited on before the call went out can be judged absent from its answer.
    const asked = [...this.waiters.keys()];
    try {
      this.polls++;
      const jobs = await this.api.hostGetJobs({ jobType: 'storage', jobIds: asked });
      for (const jobId of asked) this.judge(jobId, jobs[jobId]);
    } catch (err) {
      // One bad entry must fail one job, not every job of the host: ask job by job.
      if (err instanceof VdsmMalformedResponseError) await this.pollEach(asked);
      // Anything else (host down, restarting): keep waiting; events or the next poll will tell.
    } finally {
      this.polling = false;
    }
    if (this.waiters.size === 0) return this.goIdle();
    if (!this.timer) this.schedule();
  }

  private async pollEach(asked: readonly string[]): Promise<void> {
    for (const jobId of asked) {
      if (!this.waiters.has(jobId)) continue;
      try {
        const jobs = await this.api.hostGetJobs({ jobType: 'storage', jobIds: [jobId] });
        this.judge(jobId, jobs[jobId]);
      } catch (err) {
        if (!(err instanceof VdsmMalformedResponseError)) continue;
        for (const w of this.waiters.get(jobId) ?? []) w.reject(err);
        this.waiters.delete(jobId);
      }
    }
  }

  private judge(jobId: string, job: HostJob | undefined): void {
    if (job) this.deliver(jobId, job, 'poll');
    else this.settle(jobId, { kind: 'missing' });
  }

  private deliver(jobId: string, job: HostJob, how: 'event' | 'poll'): void {
    const set = this.waiters.get(jobId);
    if (!set) return;
    for (const w of set) w.onReport?.(job);
    if (ENDED.has(job.status)) this.settle(jobId, { kind: 'ended', job, how });
  }

  private settle(jobId: string, sighting: JobSighting): void {
    for (const w of this.waiters.get(jobId) ?? []) w.resolve(sighting);
    this.waiters.delete(jobId);
  }

  private goIdle(): void {
    if (this.waiters.size > 0 || this.expected.size > 0) return;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.onIdle();
  }
}
