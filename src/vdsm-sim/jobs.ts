import type { HostJobStatus } from '../vdsm/port';
import { VdsmErrors, type VdsmFault } from './errors';

/**
 * Host jobs (lib/vdsm/jobs.py): SDM verbs run as jobs with a caller-chosen id, memory-only,
 * reported by Host.getJobs and announced by a `|jobs|status|<id>` event when they end; finished
 * jobs are deleted after jobs.autodelete_delay.
 */

export interface HostJobInfo {
  id: string;
  status: HostJobStatus;
  description: string;
  job_type: string;
  progress?: number;
  error?: { code: number; message: string };
}

export interface HostJobWork {
  workMs: number;
  /** Volume lease keys (`<sd>/<img>/<vol>`) the job holds while it runs (guarded.context(locks)). */
  holds?: readonly string[];
  /** A hung job: it runs and holds its leases until the host goes away. */
  hang?: boolean;
  /** The host dies this long after the job started running (fault knob). */
  crashAfterMs?: number;
  onCrash?: () => void;
  /** When the job starts running; a throw fails the job. */
  begin(): void;
  /** When the work is done; a throw fails the job. */
  complete(): void;
}

interface HostJob {
  info: HostJobInfo;
  startedAt?: number;
  workMs: number;
  holds: readonly string[];
  timers: Set<NodeJS.Timeout>;
}

export interface HostJobsHooks {
  /** Sends the event to the host's `jms.queue.events` subscribers. */
  notify(method: string, params: Record<string, unknown>): void;
  autodeleteMs(): number;
}

export class HostJobs {
  private readonly jobs = new Map<string, HostJob>();

  constructor(private readonly hooks: HostJobsHooks) {}

  /** jobs.add + the SDM executor: pending now, running on the next turn. Known id → 100. */
  start(jobId: string, description: string, jobType: string, work: HostJobWork): void {
    if (this.jobs.has(jobId)) throw VdsmErrors.jobExists(jobId);
    const job: HostJob = {
      info: { id: jobId, status: 'pending', description, job_type: jobType },
      workMs: work.workMs,
      holds: work.holds ?? [],
      timers: new Set(),
    };
    this.jobs.set(jobId, job);
    this.later(job, 0, () => {
      job.info.status = 'running';
      job.startedAt = Date.now();
      try {
        work.begin();
      } catch (err) {
        this.finish(job, err as VdsmFault);
        return;
      }
      const onCrash = work.onCrash;
      if (work.crashAfterMs !== undefined && onCrash) this.later(job, work.crashAfterMs, () => onCrash());
      if (work.hang) return;
      this.later(job, job.workMs, () => {
        try {
          work.complete();
          this.finish(job);
        } catch (err) {
          this.finish(job, err as VdsmFault);
        }
      });
    });
  }

  /** Host.getJobs(job_type, job_ids) */
  info(jobType?: string | null, jobIds?: readonly string[]): Record<string, HostJobInfo> {
    const ids = new Set(jobIds ?? []);
    const result: Record<string, HostJobInfo> = {};
    for (const job of this.jobs.values()) {
      if (jobType && job.info.job_type !== jobType) continue;
      if (ids.size > 0 && !ids.has(job.info.id)) continue;
      result[job.info.id] = this.describe(job);
    }
    return result;
  }

  /** Whether a running job holds the volume lease `<sd>/<img>/<vol>`. */
  holds(key: string): boolean {
    for (const job of this.jobs.values())
      if (job.info.status === 'running' && job.holds.includes(key)) return true;
    return false;
  }

  /** A crash: jobs are memory-only (and their sanlock leases die with the host). */
  clear(): void {
    for (const job of this.jobs.values()) for (const timer of job.timers) clearTimeout(timer);
    this.jobs.clear();
  }

  private describe(job: HostJob): HostJobInfo {
    const info = { ...job.info };
    // copy_data reports the qemu-img progress once the copy has started.
    if (info.status === 'running' && job.startedAt !== undefined) {
      const fraction = job.workMs > 0 ? Math.min(1, (Date.now() - job.startedAt) / job.workMs) : 1;
      info.progress = Math.round(fraction * 10_000) / 100;
    }
    return info;
  }

  private finish(job: HostJob, error?: VdsmFault): void {
    if (error) {
      job.info.status = 'failed';
      job.info.error = { code: error.code, message: error.message };
    } else {
      job.info.status = 'done';
      job.info.progress = 100;
    }
    this.hooks.notify(`|jobs|status|${job.info.id}`, { ...job.info });
    const timer = setTimeout(() => this.jobs.delete(job.info.id), this.hooks.autodeleteMs());
    timer.unref();
    job.timers.add(timer);
  }

  private later(job: HostJob, ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      job.timers.delete(timer);
      run();
    }, ms);
    job.timers.add(timer);
  }
}
