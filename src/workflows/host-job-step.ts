/**
 * The host-job step: one SDM job (SDM.copy_data, SDM.merge, SDM.update_volume) on a host of the
 * pool, followed to its end. The job id is the workflow's (a retry after a lost answer meets "job
 * exists" and follows the same job). Completion comes from the host's `|jobs|status|` event, with a
 * batched Host.getJobs poll as fallback and the volume's generation (or fencing) when VDSM no
 * longer reports the job — see src/activities/host-jobs.ts.
 *
 * The row uses the task vocabulary: Initializing → Polling (job pending/running; its live progress
 * is in the waiting activity's heartbeat, which readers put into the row's `job`) → Ended → Cleared (VDSM deletes ended jobs
 * by itself: nothing to clear). Status finished; result success for a done job, failure for a
 * failed, aborted or fenced one. There is no abort verb for storage jobs: a cancelled step waits
 * for its job to end before it reports.
 */
import {
  CancellationScope,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setCurrentDetails,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { HostJobOutcome, OvirtActivities } from '../activities';
import { ErrorType } from '../shared/errors';
import type { JobStatus } from '../shared/job-view';
import { rowSucceeded, taskProgressSignal, type TaskRow } from '../shared/messages';
import { SA } from '../shared/search-attributes';
import type { HostJobStepInput, HostJobStepResult } from '../shared/steps';
import { renderTaskTable } from './details';
import { commandActivityOptions, startTaskActivityOptions, waitTaskActivityOptions } from './options';
import { failureOf, ownStepRow } from './step-row';

const { volumeGeneration } = proxyActivities<OvirtActivities>({
  ...commandActivityOptions,
  summary: "Read the volume's generation",
});
const { startHostJob } = proxyActivities<OvirtActivities>({
  ...startTaskActivityOptions,
  retry: { ...startTaskActivityOptions.retry, maximumAttempts: 10 },
  summary: 'Start the job on a host',
});
const { waitForHostJob } = proxyActivities<OvirtActivities>({
  ...waitTaskActivityOptions,
  summary: 'Follow the job (events, Host.getJobs, the volume)',
});

/** The job's status in the row once the step knows how it ended (a fenced job was lost). */
const JOB_STATUS_OF: Record<HostJobOutcome['status'], JobStatus> = {
  done: 'done',
  failed: 'failed',
  fenced: 'lost',
};

export async function runHostJobStep(input: HostJobStepInput): Promise<HostJobStepResult> {
  const { image, job, entity } = input;
  const row = ownStepRow(input, job.verb);
  const ended = (): boolean => row.state === 'Cleared';
  const parent = getExternalWorkflowHandle(input.parentCommandId);

  function advance(patch: Partial<TaskRow>, tell = false): void {
    const before = row.state;
    Object.assign(row, patch);
    setCurrentDetails(renderTaskTable(`**${input.stepType} ${image.alias}** (${row.state})`, [row]));
    if (row.state !== before && (row.state === 'Polling' || row.state === 'Cleared')) {
      upsertSearchAttributes([
        { key: SA.AsyncTaskState, value: row.state },
        ...(ended()
          ? [
              {
                key: SA.CommandStatus,
                value: rowSucceeded(row) ? 'ENDED_SUCCESSFULLY' : 'ENDED_WITH_FAILURE',
              },
            ]
          : []),
      ]);
    }
    if (!tell) return;
    void CancellationScope.nonCancellable(() => parent.signal(taskProgressSignal, { ...row })).catch(
      (err: unknown) =>
        log.warn('could not report the step to its parent', {
          parent: input.parentCommandId,
          error: (err as Error).message,
        }),
    );
  }
  const done = (
    succeeded: boolean,
    failureReason: string | null,
    failureType: string | null,
  ): HostJobStepResult => {
    advance({ state: 'Cleared', endTime: new Date().toISOString(), stepSucceeded: succeeded });
    return { imageId: image.id, succeeded, jobId: job.jobId, failureReason, failureType, row: { ...row } };
  };

  // Starting must not be torn in half, and a storage job has no abort verb: the step follows its
  // job to the end even when cancelled, and reports the cancellation after.
  const run = CancellationScope.nonCancellable(async () => {
    let startGeneration: number;
    let hostId: string;
    try {
      startGeneration = await volumeGeneration({ poolId: image.poolId, ...entity });
      hostId = (await startHostJob({ poolId: image.poolId, job })).hostId;
    } catch (err) {
      const failure = failureOf(err);
      advance({ status: 'unknown', message: `${job.verb} could not be started: ${failure.message}` });
      return done(false, `${job.verb} could not be started: ${failure.message}`, failure.type);
    }
    advance(
      {
        state: 'Polling',
        status: 'running',
        vdsmTaskId: job.jobId,
        message: `on host ${hostId}`,
        // Live phase, status and progress are read from the waiting activity's heartbeat.
        job: { hostId, phase: 'waiting', status: null, progress: null },
      },
      true,
    );
    try {
      const outcome = await waitForHostJob({
        poolId: image.poolId,
        hostId,
        jobId: job.jobId,
        entity: { ...entity, startGeneration },
      });
      const succeeded = outcome.status === 'done';
      const how = `job ${outcome.status} (${outcome.how === 'entity' ? "judged by the volume's generation" : `seen by ${outcome.how}`})`;
      advance({
        state: 'Ended',
        status: 'finished',
        result: succeeded ? 'success' : 'failure',
        code: outcome.error?.code ?? null,
        message: outcome.error ? `${how}: ${outcome.error.message}` : how,
        job: { hostId, phase: 'ended', status: JOB_STATUS_OF[outcome.status], progress: outcome.progress },
      });
      return done(
        succeeded,
        succeeded ? null : `${job.verb} ${how}${outcome.error ? `: ${outcome.error.message}` : ''}`,
        succeeded ? null : ErrorType.TaskFailed,
      );
    } catch (err) {
      const failure = failureOf(err);
      advance({
        state: 'Ended',
        status: 'unknown',
        message: failure.message,
        job: { hostId, phase: 'ended', status: null, progress: null },
      });
      return done(false, `following ${job.verb} failed: ${failure.message}`, failure.type);
    }
  });
  return run;
}

/** CopyData: SDM.copy_data of a source volume into a destination volume (MoveDisk, CopyDisk). */
export async function copyDataWorkflow(input: HostJobStepInput): Promise<HostJobStepResult> {
  return runHostJobStep(input);
}

/** ColdMerge: SDM.merge of a snapshot's child volume into it (RemoveSnapshot). */
export async function coldMergeWorkflow(input: HostJobStepInput): Promise<HostJobStepResult> {
  return runHostJobStep(input);
}
