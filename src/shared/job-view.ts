/**
 * How a host-job step's row shows its job (the job vocabulary, README). Pure: used by workflows
 * (Web UI details), the client (live progress) and the CLI.
 */

/** VDSM's job statuses (Host.getJobs), and `lost`: no longer reported, judged by its volume. */
export const JOB_STATUSES = ['pending', 'running', 'done', 'failed', 'aborted', 'lost'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/**
 * What the step is doing about its job. waiting: following it (its `|jobs|status|` event, a
 * Host.getJobs poll); checking volume: VDSM no longer reports it, Volume.getInfo decides;
 * fencing: SDM.update_volume moves the volume's generation so a lost job can never finish into it;
 * ended: the step knows the outcome.
 */
export const JOB_PHASES = ['waiting', 'checking volume', 'fencing', 'ended'] as const;
export type JobPhase = (typeof JOB_PHASES)[number];

export interface JobView {
  hostId: string;
  phase: JobPhase;
  /** Null until a report of the job was seen. */
  status: JobStatus | null;
  /** Percent, as Host.getJobs reports it (copy_data: qemu-img's); null until reported. */
  progress: number | null;
}

/** `job running 42%`, `job checking volume`, `job done 100%`: one cell of a task table. */
export function describeJob(job: JobView): string {
  if (job.phase === 'checking volume' || job.phase === 'fencing') return `job ${job.phase}`;
  const progress = job.progress === null ? '' : ` ${Math.floor(job.progress)}%`;
  return `job ${job.status ?? 'waiting'}${progress}`;
}
