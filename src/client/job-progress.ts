/**
 * Live host-job progress for the task table. A step workflow learns of its job only when the job
 * starts and ends (history stays the same size however long the copy runs); in between, the
 * waiting activity (`waitForHostJob`) heartbeats the job's phase, VDSM status and Host.getJobs
 * progress. The server keeps a pending activity's last heartbeat, so one describe() of the step
 * reads it: no signal, no history event. Heartbeats reach the server at most every 8 s (the SDK
 * throttles them to 0.8 × the 10 s heartbeat timeout), about the engine's own 10 s job polling.
 */
import type { Client } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { z } from 'zod';
import { JOB_PHASES, type JobView } from '../shared/job-view';
import type { TaskRow } from '../shared/messages';

/** The activity whose heartbeat carries the job (src/activities/host-jobs.ts `HostJobHeartbeat`). */
const WAITING_ACTIVITY = 'waitForHostJob';

/** Validated at this edge: the heartbeat comes from whatever worker version ran the activity. */
const Heartbeat = z.object({
  jobId: z.string(),
  hostId: z.string(),
  phase: z.enum(JOB_PHASES),
  jobStatus: z.enum(['pending', 'running', 'done', 'failed', 'aborted']).nullable(),
  progress: z.number().min(0).max(100).nullable(),
});

/**
 * The live view of one running job step's job, or undefined when there is none to read (no
 * pending wait, no heartbeat yet, the step closed, or an unreadable heartbeat).
 */
export async function readLiveJob(client: Client, stepWorkflowId: string): Promise<JobView | undefined> {
  const description = await client.workflow.getHandle(stepWorkflowId).describe();
  const pending = description.raw.pendingActivities?.find((a) => a.activityType?.name === WAITING_ACTIVITY);
  const payloads = pending?.heartbeatDetails?.payloads;
  if (!payloads?.length) return undefined;
  const details: unknown = await decodeFromPayloadsAtIndex(client.options.loadedDataConverter, 0, payloads);
  const beat = Heartbeat.safeParse(details);
  if (!beat.success) return undefined;
  const { hostId, phase, jobStatus, progress } = beat.data;
  // Checking the volume or fencing: VDSM no longer reports the job.
  return { hostId, phase, status: phase === 'waiting' ? jobStatus : 'lost', progress };
}

/**
 * The rows with each running host job's live view (one describe() per such row, concurrently); a
 * row whose job cannot be read keeps what its step said.
 */
export async function withLiveJobs(client: Client, rows: TaskRow[]): Promise<TaskRow[]> {
  const live = await Promise.all(
    rows.map((row) =>
      row.job && row.state === 'Polling'
        ? readLiveJob(client, row.commandId).catch(() => undefined)
        : Promise.resolve(undefined),
    ),
  );
  return rows.map((row, i) => {
    const job = live[i];
    return job ? { ...row, job } : row;
  });
}
