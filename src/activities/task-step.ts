import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { InventoryRepository, TaskStartIntent } from '../inventory/port';
import { naturalKeyOf, type SpmTaskSpec } from '../shared/steps';
import { ErrorType } from '../shared/errors';
import { isVdsmError, VdsmCode } from '../vdsm/errors';
import type { VdsmHostApi, VdsmTaskInfo, VdsmTaskStatus } from '../vdsm/port';
import type { ActivityDeps } from './deps';
import { currentWorkflowId, typed } from './failures';
import { keepHeartbeating } from './heartbeat';
import { KeyedMutex } from './keyed-mutex';
import type { SpmLocator } from './spm-locator';
import type { TaskStatusHub } from './status-hub';
import { reportStarted, type StartReport } from './step-report';

export type StartTaskResult =
  | { kind: 'started'; vdsmTaskId: string; spmHostId: string; reconciled: boolean }
  /**
   * The verb's work is already done and no task of ours exists: Image.delete answered 268 (no such
   * image). The engine ends such a step successfully at once.
   */
  | { kind: 'alreadyDone'; vdsmCode: number; vdsmMessage: string };

const ownerOfCurrentStep = currentWorkflowId;

/** A typed activity body that heartbeats while it runs: a dead worker is noticed in seconds. */
async function alive<T>(details: unknown, body: () => Promise<T>): Promise<T> {
  const stop = keepHeartbeating(() => details);
  try {
    return await typed(body);
  } finally {
    stop();
  }
}

/** Sends the step's verb to the SPM; every verb returns the id of the task VDSM created. */
function sendVerb(api: VdsmHostApi, task: SpmTaskSpec): Promise<string> {
  switch (task.verb) {
    case 'Image.delete':
      return api.imageDelete(task.params);
    case 'Volume.create':
      return api.volumeCreate(task.params);
    case 'Image.deleteVolumes':
      return api.imageDeleteVolumes(task.params);
    case 'StoragePool.prepareMerge':
      return api.storagePoolPrepareMerge(task.params);
    case 'StoragePool.finalizeMerge':
      return api.storagePoolFinalizeMerge(task.params);
  }
}

export function createTaskStepActivities(
  deps: ActivityDeps,
  spm: SpmLocator,
  hub: TaskStatusHub,
): {
  startSpmTask(input: { task: SpmTaskSpec; poolId: string; report?: StartReport }): Promise<StartTaskResult>;
  waitForTaskEnd(input: { poolId: string; vdsmTaskId: string }): Promise<VdsmTaskStatus>;
  stopTask(input: { poolId: string; vdsmTaskId: string }): Promise<void>;
  clearTask(input: { poolId: string; vdsmTaskId: string }): Promise<void>;
  revertTask(input: { poolId: string; vdsmTaskId: string }): Promise<void>;
  imageGone(input: { poolId: string; domainId: string; imageId: string }): Promise<boolean>;
} {
  const { inventory, config } = deps;
  const startMutex = new KeyedMutex();
  // Longer than any VDSM request may take, so a live holder never loses its lease mid-call.
  const leaseMs = config.vdsm.requestTimeoutMs * 2 + 5_000;
  /**
   * How old the last status poll's task list may be to stand for the SPM's: younger than the
   * janitor's grace, so any task created since then by a start whose answer was lost still has
   * its pending intent (the janitor forgets one only after the grace), and so forces a real read.
   */
  const snapshotMaxAgeMs = config.janitor.graceMs / 2;

  async function withStartLease<T>(poolId: string, owner: string, section: () => Promise<T>): Promise<T> {
    const ctx = Context.current();
    // Starts queue per pool (in process, then across workers); a queued start is alive and says so.
    const stopHeartbeats = keepHeartbeating(() => ({ waitingFor: 'start turn', poolId }));
    try {
      return await startMutex.run(poolId, async () => {
        while (!(await inventory.acquireStartLease(poolId, owner, leaseMs))) {
          // Another worker is inside its start section for this pool; it is short.
          await ctx.sleep(100 + Math.floor(Math.random() * 100));
        }
        try {
          return await section();
        } finally {
          await inventory.releaseStartLease(poolId, owner);
        }
      });
    } finally {
      stopHeartbeats();
    }
  }

  /**
   * The task an earlier attempt of this step created but never heard of: a task of the intent's
   * verb that the SPM did not have when the intent was written and that no step has claimed. Starts are
   * serialised per pool, so when two such tasks exist the next intent written after ours tells
   * them apart: it was written after our task existed and before any later one.
   */
  async function findTaskOfIntent(
    intent: TaskStartIntent,
    tasksNow: Record<string, VdsmTaskInfo>,
  ): Promise<string | undefined> {
    const claimed = new Set(
      (await inventory.listTaskClaims({ poolId: intent.poolId })).map((c) => c.vdsmTaskId),
    );
    const known = new Set(intent.knownTaskIds);
    let candidates = Object.values(tasksNow)
      .filter((t) => t.verb === intent.verb && !known.has(t.id) && !claimed.has(t.id))
      .map((t) => t.id);
    if (candidates.length > 1) {
      const next = (await inventory.listStartIntents({ poolId: intent.poolId })).find(
        (i) => i.seq > intent.seq,
      );
      if (next) {
        const knownToNext = new Set(next.knownTaskIds);
        const narrowed = candidates.filter((id) => knownToNext.has(id));
        // None known to the next intent breaks the premise (a start outside the lease): stay ambiguous.
        if (narrowed.length > 0) candidates = narrowed;
      }
    }
    if (candidates.length > 1) {
      throw ApplicationFailure.create({
        type: ErrorType.AmbiguousTask,
        message: `cannot tell which of ${candidates.length} new ${intent.verb} tasks belongs to ${intent.owner}`,
        nonRetryable: true,
        details: [{ candidates }],
      });
    }
    return candidates[0];
  }

  /**
   * Whether a task-creating verb of this pool may have been sent without its answer being
   * recorded: this step's earlier attempt (its intent, or any retry), or another step's start
   * still pending. Only then can the SPM's task list tell something: otherwise every task our
   * starts created since the last status poll is claimed, and a start needs no
   * Host.getAllTasksInfo (the engine sends none).
   */
  async function mayHaveLostAStart(
    owner: string,
    poolId: string,
    intent: TaskStartIntent | undefined,
  ): Promise<boolean> {
    if (intent || Context.current().info.attempt > 1) return true;
    const pending = await inventory.listStartIntents({ poolId, pending: true });
    return pending.some((i) => i.owner !== owner);
  }

  return {
    /**
     * Starts the step's verb at most once. VDSM picks task ids and no SPM verb takes ours, so
     * before sending we record the SPM's current task ids (an intent, keyed by the task's verb and
     * natural key) under a per-pool lease. If a previous attempt died after sending, the one new,
     * unclaimed task of that verb is ours. A first start with no start pending in the pool takes
     * the task ids of the last status poll instead of asking the SPM (see mayHaveLostAStart).
     */
    async startSpmTask({ task, poolId, report }) {
      return typed(async () => {
        const owner = ownerOfCurrentStep();
        const result = await withStartLease(poolId, owner, async (): Promise<StartTaskResult> => {
          const intent = await inventory.getStartIntent(owner);
          if (intent?.vdsmTaskId) {
            const current = await spm.spm(poolId);
            return {
              kind: 'started',
              vdsmTaskId: intent.vdsmTaskId,
              spmHostId: current.host.id,
              reconciled: true,
            };
          }
          const lastPolled = await hub.knownTaskIds(poolId, snapshotMaxAgeMs);
          const tasksNow =
            !lastPolled || (await mayHaveLostAStart(owner, poolId, intent))
              ? await spm.onSpm(poolId, (s) => s.api.hostGetAllTasksInfo())
              : undefined;
          if (intent && tasksNow) {
            const found = await findTaskOfIntent(intent, tasksNow);
            if (found) {
              await inventory.completeStartIntent(owner, found);
              const spmNow = await spm.spm(poolId);
              return { kind: 'started', vdsmTaskId: found, spmHostId: spmNow.host.id, reconciled: true };
            }
            // No new task: the earlier attempt never reached VDSM. Sending again is safe.
          }
          const taskCount = tasksNow
            ? Object.keys(tasksNow).length
            : Math.max(await inventory.countTaskClaims(poolId), lastPolled?.length ?? 0);
          if (taskCount >= config.vdsm.spmTaskLimit) {
            // Sending now could get 405 after VDSM changed storage (see ImageNotPurged).
            throw ApplicationFailure.create({
              type: ErrorType.SpmTaskQueueFull,
              message: `the SPM of pool ${poolId} holds ${taskCount} tasks (limit ${config.vdsm.spmTaskLimit}); ${task.verb} not sent yet`,
              nonRetryable: false,
              details: [{ poolId, taskCount, limit: config.vdsm.spmTaskLimit }],
            });
          }
          await inventory.putStartIntent({
            owner,
            poolId,
            verb: task.taskVerb,
            subjectId: naturalKeyOf(task),
            knownTaskIds: tasksNow ? Object.keys(tasksNow) : (lastPolled ?? []),
          });
          const spmHost = await spm.spm(poolId);
          let vdsmTaskId: string;
          try {
            vdsmTaskId = await sendVerb(spmHost.api, task);
          } catch (err) {
            if (isVdsmError(err, VdsmCode.TaskQueueFull)) {
              // Image.delete renames the image before VDSM refuses the task: remember it, a retry will get 268.
              await inventory.markStartIntentRefused(owner, VdsmCode.TaskQueueFull);
              throw err;
            }
            // Any other synchronous failure leaves no task: forget the intent so nothing waits for one.
            if (isVdsmError(err)) await inventory.deleteStartIntent(owner);
            if (task.verb === 'Image.delete' && isVdsmError(err, VdsmCode.ImageDoesNotExist)) {
              const image = task.params;
              if (intent?.refusedCode === VdsmCode.TaskQueueFull) {
                throw ApplicationFailure.create({
                  type: ErrorType.ImageNotPurged,
                  message: `VDSM renamed image ${image.imageID} on domain ${image.storagedomainID} for deletion but refused the task that purges it (405, task queue full); its volumes remain there as _remove_me_ volumes until an administrator removes them`,
                  nonRetryable: true,
                  details: [
                    {
                      diskId: image.imageID,
                      domainId: image.storagedomainID,
                      refusedCode: intent.refusedCode,
                    },
                  ],
                  cause: err,
                });
              }
              return { kind: 'alreadyDone', vdsmCode: err.code, vdsmMessage: err.vdsmMessage };
            }
            spm.noteFailure(poolId, spmHost.host.id, err);
            throw err;
          }
          await inventory.completeStartIntent(owner, vdsmTaskId);
          return { kind: 'started', vdsmTaskId, spmHostId: spmHost.host.id, reconciled: false };
        });
        // Outside the lease: the next start of the pool need not wait for the parent's signal.
        if (result.kind === 'started') await reportStarted(deps.temporal, report, result.vdsmTaskId);
        return result;
      });
    },

    /**
     * One long activity per task: the hub polls for it, this heartbeats. History stays the same
     * size whether the task takes a second or a day.
     */
    async waitForTaskEnd({ poolId, vdsmTaskId }) {
      return typed(async () => {
        const ctx = Context.current();
        let last: VdsmTaskStatus | undefined;
        const details = (): unknown => (last ? { status: last } : { waiting: vdsmTaskId });
        const beat = (): void => ctx.heartbeat(details());
        beat();
        const stopHeartbeats = keepHeartbeating(details);
        try {
          return await hub.waitForEnd(poolId, vdsmTaskId, {
            signal: ctx.cancellationSignal,
            onStatus: (s) => {
              // Heartbeat on change only: with many tasks in flight, heartbeats are the load.
              const changed = !last || last.taskState !== s.taskState || last.message !== s.message;
              last = s;
              if (changed) beat();
            },
          });
        } finally {
          stopHeartbeats();
        }
      });
    },

    async stopTask({ poolId, vdsmTaskId }) {
      return alive({ stopping: vdsmTaskId }, async () => {
        try {
          await spm.onSpmTask(poolId, (s) => s.api.taskStop(vdsmTaskId));
        } catch (err) {
          // Already aborting (411) or gone (401): the stop we wanted has happened.
          if (isVdsmError(err, VdsmCode.TaskAborted) || isVdsmError(err, VdsmCode.UnknownTask)) return;
          throw err;
        }
      });
    },

    async clearTask({ poolId, vdsmTaskId }) {
      return typed(async () => {
        try {
          await spm.onSpmTask(poolId, (s) => s.api.taskClear(vdsmTaskId));
        } catch (err) {
          // 401: cleared by an earlier attempt whose answer was lost.
          if (!isVdsmError(err, VdsmCode.UnknownTask)) throw err;
        }
        await inventory.releaseTaskClaim(vdsmTaskId);
      });
    },

    /** True when the domain no longer lists the image (a renamed `_remove_me_` image is not listed). */
    async imageGone({ poolId, domainId, imageId }) {
      return alive({ listing: domainId }, async () => {
        const images = await spm.onSpm(poolId, (s) => s.api.storageDomainGetImages(domainId));
        return !images.includes(imageId);
      });
    },

    /**
     * Task.revert: VDSM rolls a finished task back (the new volume goes, its parent is a leaf
     * again) and reports it cleanSuccess. 441 means an earlier attempt, whose answer was lost,
     * already reverted it.
     */
    async revertTask({ poolId, vdsmTaskId }) {
      return alive({ reverting: vdsmTaskId }, async () => {
        try {
          await spm.onSpmTask(poolId, (s) => s.api.taskRevert(vdsmTaskId));
        } catch (err) {
          if (!isVdsmError(err, VdsmCode.BadStateTransition)) throw err;
        }
      });
    },
  };
}

/** Activities retry: an audit entry is written once per command and type. */
export async function auditOnce(
  inventory: InventoryRepository,
  entry: Parameters<InventoryRepository['addAudit']>[0],
): Promise<void> {
  if (entry.correlationId) await inventory.addAuditOnce({ ...entry, correlationId: entry.correlationId });
  else await inventory.addAudit(entry);
}
