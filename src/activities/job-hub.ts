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

  wait(jobId: string, options: JobWaitOptions): Promise<JobSighting> {
    return new Promise<JobSighting>((resolve, reject) => {
      if (options.signal?.aborted) return reject(abortReason(options.signal));
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
    for (const set of this.waiters.values()) for (const w of set) w.reject(err);
    this.waiters.clear();
    this.goIdle();
  }

  private onEvent(method: string, params: unknown): void {
    if (!method.startsWith(JOB_STATUS_EVENT_PREFIX)) return;
    const jobId = method.slice(JOB_STATUS_EVENT_PREFIX.length);
    if (!this.waiters.has(jobId)) return;
    const parsed = hostJobEventSchema.safeParse(params);
    // A garbled event is as good as a lost one: the poll still tells.
    if (!parsed.success || parsed.data.id !== jobId) return;
    const { notify_time: _time, ...job } = parsed.data;
    this.deliver(jobId, { description: '', job_type: 'storage', ...job }, 'event');
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
    if (this.waiters.size > 0) return;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.onIdle();
  }
}
