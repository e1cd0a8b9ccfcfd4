import { log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { TaskObservation } from '../inventory/port';
import { isVdsmError, VdsmCode, VdsmMalformedResponseError } from '../vdsm/errors';
import type { ActivityDeps } from './deps';
import { typed } from './failures';
import { keepHeartbeating } from './heartbeat';
import { releaseOrphans, type OrphanSweepReport } from './orphan-sweep';
import { temporalCommandPorts } from './orphan-temporal';
import type { SpmLocator } from './spm-locator';

export interface JanitorReport {
  poolId: string;
  spmHostId: string;
  tasksSeen: number;
  /** Finished tasks no running workflow owns, cleared after the grace period. */
  cleared: string[];
  /** Tasks older than the age limit that still progress: reported, never killed. */
  reportedLongRunning: string[];
  /** Unowned tasks older than the age limit that made no progress for that long: stopped. */
  stopped: string[];
  /** Tasks whose Task.clear or Task.stop VDSM refused: left for the next sweep, the rest went on. */
  failed: { taskId: string; error: string }[];
  /** Locks of closed commands released, and the statuses restored (src/activities/orphan-locks.ts). */
  orphans: OrphanSweepReport;
}

/** Is the workflow that claimed a task still running? Without a client, assume it is. */
export async function ownerIsRunning(temporal: Client | undefined, owner: string): Promise<boolean> {
  if (!temporal) return true;
  try {
    // A bounded call: a sweep stuck on an unreachable server would hold the Schedule (overlap SKIP).
    const { status } = await temporal.withDeadline(Date.now() + 10_000, () =>
      temporal.workflow.getHandle(owner).describe(),
    );
    return status.name === 'RUNNING';
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') return false;
    throw err;
  }
}

const ageMs = (from: string, now: Date): number => now.getTime() - new Date(from).getTime();

/**
 * The pool's janitor (run by a Temporal Schedule): what the engine's restart logic and
 * taskcleaner.sh did by hand, done continuously and audited. A task's owner is the step that
 * claimed it; a finished task nobody running owns is cleared once the grace period has passed.
 */
export function createJanitorActivities(
  deps: ActivityDeps,
  spm: SpmLocator,
): { sweepPoolTasks(input: { poolId: string }): Promise<JanitorReport> } {
  const { inventory, config } = deps;
  const now = deps.now ?? (() => new Date());

  return {
    async sweepPoolTasks({ poolId }) {
      // A sweep on a worker that dies must not hold the Schedule (overlap SKIP) until its timeout.
      const stopHeartbeats = keepHeartbeating(() => ({ sweeping: poolId }));
      try {
        return await sweep(poolId);
      } finally {
        stopHeartbeats();
      }
    },
  };

  function sweep(poolId: string): Promise<JanitorReport> {
    return typed(async () => {
      const at = now();
      const { host, statuses } = await spm.onSpm(poolId, async (s) => ({
        host: s.host,
        statuses: await s.api.hostGetAllTasksStatuses(),
      }));
      const observations = await inventory.observeTasks(
        poolId,
        Object.fromEntries(
          Object.values(statuses).map((s) => [s.taskID, `${s.taskState}|${s.taskResult}|${s.message}`]),
        ),
        at.toISOString(),
      );
      const seen = new Map<string, TaskObservation>(observations.map((o) => [o.vdsmTaskId, o]));
      const claims = new Map((await inventory.listTaskClaims({ poolId })).map((c) => [c.vdsmTaskId, c]));
      const running = new Map<string, Promise<boolean>>();
      const isRunning = (owner: string): Promise<boolean> => {
        let answer = running.get(owner);
        if (!answer) running.set(owner, (answer = ownerIsRunning(deps.temporal, owner)));
        return answer;
      };
      // A step whose start answer was lost has an intent but no claim yet: any task its SPM did
      // not know when the intent was written may be the one it will claim on its retry.
      const pendingStarts: { known: Set<string> }[] = [];
      for (const intent of await inventory.listStartIntents({ poolId, pending: true })) {
        if (await isRunning(intent.owner)) {
          pendingStarts.push({ known: new Set(intent.knownTaskIds) });
        } else if (ageMs(intent.createdAt, at) >= config.janitor.graceMs) {
          // Its step has ended: nobody will ever claim through it.
          await inventory.deleteStartIntent(intent.owner);
        }
      }
      const claimable = (taskId: string): boolean => pendingStarts.some((p) => !p.known.has(taskId));
      const report: JanitorReport = {
        poolId,
        spmHostId: host.id,
        tasksSeen: Object.keys(statuses).length,
        cleared: [],
        reportedLongRunning: [],
        stopped: [],
        failed: [],
        orphans: { released: [], waiting: [], failed: [] },
      };
      /** One task's VDSM refusal must not keep the janitor from the others. */
      const onTask = async (taskId: string, verb: () => Promise<void>): Promise<boolean> => {
        try {
          await verb();
          return true;
        } catch (err) {
          // An answer about this task (a refusal, a malformed reply); losing the host fails the sweep.
          if (!isVdsmError(err) && !(err instanceof VdsmMalformedResponseError)) throw err;
          report.failed.push({ taskId, error: err.message });
          log.warn('janitor: VDSM refused a task, the sweep goes on', { poolId, taskId, error: err.message });
          return false;
        }
      };

      for (const status of Object.values(statuses)) {
        const observation = seen.get(status.taskID);
        if (!observation) continue;
        const claim = claims.get(status.taskID);
        const owned = claim ? await isRunning(claim.owner) : claimable(status.taskID);
        const firstSeenAge = ageMs(observation.firstSeenAt, at);

        if (status.taskState === 'finished' && !owned && firstSeenAge >= config.janitor.graceMs) {
          const clearedNow = await onTask(status.taskID, async () => {
            try {
              // 401 is believed only from the current SPM (a failover moves the task): as the step.
              await spm.onSpmTask(poolId, (s) => s.api.taskClear(status.taskID));
            } catch (err) {
              if (!isVdsmError(err, VdsmCode.UnknownTask)) throw err;
            }
          });
          if (!clearedNow) continue;
          if (claim) await inventory.releaseTaskClaim(status.taskID);
          await inventory.forgetTasks([status.taskID]);
          report.cleared.push(status.taskID);
          await inventory.addAudit({
            type: 'TASK_CLEARING_ASYNC_TASK',
            severity: 'WARNING',
            message: `Janitor cleared orphaned SPM task ${status.taskID} (${status.taskState}/${status.taskResult || 'no result'}${claim ? `, owner ${claim.owner} is no longer running` : ', no owner'}) after ${Math.round(firstSeenAge / 1000)} s`,
            correlationId: null,
            entityIds: [status.taskID, poolId],
          });
          continue;
        }

        if (status.taskState !== 'finished' && firstSeenAge >= config.janitor.taskAgeLimitMs) {
          const stalledMs = ageMs(observation.lastChangeAt, at);
          if (!owned && stalledMs >= config.janitor.taskAgeLimitMs) {
            const stoppedNow = await onTask(status.taskID, async () => {
              try {
                await spm.onSpmTask(poolId, (s) => s.api.taskStop(status.taskID));
              } catch (err) {
                if (!isVdsmError(err, VdsmCode.TaskAborted) && !isVdsmError(err, VdsmCode.UnknownTask))
                  throw err;
              }
            });
            if (!stoppedNow) continue;
            report.stopped.push(status.taskID);
            await inventory.addAudit({
              type: 'TASK_STOPPING_ASYNC_TASK',
              severity: 'WARNING',
              message: `Janitor stopped SPM task ${status.taskID}: no owner and no progress for ${Math.round(stalledMs / 60_000)} min`,
              correlationId: claim?.owner ?? null,
              entityIds: [status.taskID, poolId],
            });
          } else if (!observation.reportedAt) {
            report.reportedLongRunning.push(status.taskID);
            await inventory.markTaskReported(status.taskID, at.toISOString());
            await inventory.addAudit({
              type: 'ASYNC_TASK_RUNNING_LONG',
              severity: 'WARNING',
              message: `SPM task ${status.taskID} has run for ${Math.round(firstSeenAge / 60_000)} min (limit ${Math.round(config.janitor.taskAgeLimitMs / 60_000)} min) and ${stalledMs < config.janitor.taskAgeLimitMs ? 'still progresses: left running' : 'is owned by a running command: left to it'}`,
              correlationId: claim?.owner ?? null,
              entityIds: [status.taskID, poolId],
            });
          }
        }
      }
      // Asked afresh for each owner (not the cache above): a lock is released only on a fresh "closed".
      report.orphans = await releaseOrphans(
        {
          inventory,
          spm,
          isRunning: (id) => ownerIsRunning(deps.temporal, id),
          ...(deps.temporal
            ? { commands: temporalCommandPorts(deps.temporal, config.taskQueue, config.taskStartMaxAttempts) }
            : {}),
        },
        poolId,
      );
      return report;
    });
  }
}
