import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { InventoryRepository, TaskStartIntent } from '../inventory/port';
import type { ImagePlan } from '../shared/commands';
import { ErrorType } from '../shared/errors';
import { isVdsmError, VdsmCode } from '../vdsm/errors';
import type { VdsmTaskInfo, VdsmTaskStatus } from '../vdsm/port';
import type { ActivityDeps } from './deps';
import { currentWorkflowId, typed } from './failures';
import { keepHeartbeating } from './heartbeat';
import { KeyedMutex } from './keyed-mutex';
import type { SpmLocator } from './spm-locator';
import type { TaskStatusHub } from './status-hub';

export type StartTaskResult =
  | { kind: 'started'; vdsmTaskId: string; spmHostId: string; reconciled: boolean }
  /** VDSM said 268 (no such image) and no task of ours exists: the image is already gone. */
  | { kind: 'alreadyGone'; vdsmMessage: string };

/** The VDSM verb of Image.delete tasks, as Task.getInfo names it. */
const DELETE_IMAGE_VERB = 'deleteImage';

const ownerOfCurrentStep = currentWorkflowId;

export function createTaskStepActivities(
  deps: ActivityDeps,
  spm: SpmLocator,
  hub: TaskStatusHub,
): {
  startImageDelete(input: { image: ImagePlan; force: boolean }): Promise<StartTaskResult>;
  waitForTaskEnd(input: { poolId: string; vdsmTaskId: string }): Promise<VdsmTaskStatus>;
  stopTask(input: { poolId: string; vdsmTaskId: string }): Promise<void>;
  clearTask(input: { poolId: string; vdsmTaskId: string }): Promise<void>;
  endRemoveImage(input: {
    image: ImagePlan;
    rootCommandId: string;
    succeeded: boolean;
    failureReason: string | null;
  }): Promise<void>;
} {
  const { inventory, config } = deps;
  const startMutex = new KeyedMutex();
  // Longer than any VDSM request may take, so a live holder never loses its lease mid-call.
  const leaseMs = config.vdsm.requestTimeoutMs * 2 + 5_000;

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
   * The task an earlier attempt of this step created but never heard of: a deleteImage task the
   * SPM did not have when the intent was written and that no step has claimed. Starts are
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
      .filter((t) => t.verb === DELETE_IMAGE_VERB && !known.has(t.id) && !claimed.has(t.id))
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
        message: `cannot tell which of ${candidates.length} new deleteImage tasks belongs to ${intent.owner}`,
        nonRetryable: true,
        details: [{ candidates }],
      });
    }
    return candidates[0];
  }

  return {
    /**
     * Starts Image.delete at most once per step. VDSM picks task ids and no SPM verb takes ours,
     * so before sending we record the SPM's current task ids (an intent) under a per-pool lease.
     * If a previous attempt died after sending, the one new, unclaimed deleteImage task is ours.
     */
    async startImageDelete({ image, force }) {
      return typed(async () => {
        const owner = ownerOfCurrentStep();
        return withStartLease(image.poolId, owner, async () => {
          const intent = await inventory.getStartIntent(owner);
          if (intent?.vdsmTaskId) {
            const current = await spm.spm(image.poolId);
            return {
              kind: 'started',
              vdsmTaskId: intent.vdsmTaskId,
              spmHostId: current.host.id,
              reconciled: true,
            };
          }
          const tasksNow = await spm.onSpm(image.poolId, (s) => s.api.hostGetAllTasksInfo());
          if (intent) {
            const found = await findTaskOfIntent(intent, tasksNow);
            if (found) {
              await inventory.completeStartIntent(owner, found);
              const spmNow = await spm.spm(image.poolId);
              return { kind: 'started', vdsmTaskId: found, spmHostId: spmNow.host.id, reconciled: true };
            }
            // No new task: the earlier attempt never reached VDSM. Sending again is safe.
          }
          const taskCount = Object.keys(tasksNow).length;
          if (taskCount >= config.vdsm.spmTaskLimit) {
            // Sending now could get 405 after VDSM renamed the image (see ImageNotPurged).
            throw ApplicationFailure.create({
              type: ErrorType.SpmTaskQueueFull,
              message: `the SPM of pool ${image.poolId} holds ${taskCount} tasks (limit ${config.vdsm.spmTaskLimit}); Image.delete not sent yet`,
              nonRetryable: false,
              details: [{ poolId: image.poolId, taskCount, limit: config.vdsm.spmTaskLimit }],
            });
          }
          await inventory.putStartIntent({
            owner,
            poolId: image.poolId,
            verb: DELETE_IMAGE_VERB,
            subjectId: image.diskId,
            knownTaskIds: Object.keys(tasksNow),
          });
          const spmHost = await spm.spm(image.poolId);
          let vdsmTaskId: string;
          try {
            vdsmTaskId = await spmHost.api.imageDelete({
              imageID: image.diskId,
              storagepoolID: image.poolId,
              storagedomainID: image.domainId,
              postZero: image.postZero,
              force,
              discard: image.discard,
            });
          } catch (err) {
            if (isVdsmError(err, VdsmCode.TaskQueueFull)) {
              // VDSM renamed the image before refusing the task: remember it, a retry will get 268.
              await inventory.markStartIntentRefused(owner, VdsmCode.TaskQueueFull);
              throw err;
            }
            // Any other synchronous failure leaves no task: forget the intent so nothing waits for one.
            if (isVdsmError(err)) await inventory.deleteStartIntent(owner);
            if (isVdsmError(err, VdsmCode.ImageDoesNotExist)) {
              if (intent?.refusedCode === VdsmCode.TaskQueueFull) {
                throw ApplicationFailure.create({
                  type: ErrorType.ImageNotPurged,
                  message: `VDSM renamed image ${image.diskId} on domain ${image.domainId} for deletion but refused the task that purges it (405, task queue full); its volumes remain there as _remove_me_ volumes until an administrator removes them`,
                  nonRetryable: true,
                  details: [
                    { diskId: image.diskId, domainId: image.domainId, refusedCode: intent.refusedCode },
                  ],
                  cause: err,
                });
              }
              return { kind: 'alreadyGone', vdsmMessage: err.vdsmMessage };
            }
            spm.noteFailure(image.poolId, spmHost.host.id, err);
            throw err;
          }
          await inventory.completeStartIntent(owner, vdsmTaskId);
          return { kind: 'started', vdsmTaskId, spmHostId: spmHost.host.id, reconciled: false };
        });
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
      return typed(async () => {
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

    /** endSuccessfully: the disk's records go. endWithFailure: the image group becomes ILLEGAL. */
    async endRemoveImage({ image, rootCommandId, succeeded, failureReason }) {
      return typed(async () => {
        if (succeeded) {
          await inventory.removeDisk(image.diskId);
          return;
        }
        await inventory.setDiskStatus([image.diskId], 'ILLEGAL');
        await auditOnce(inventory, {
          type: 'DELETE_IMAGE_GROUP_TASK_FAILED',
          severity: 'ERROR',
          message: `Deletion of disk ${image.alias} (image group ${image.diskId}) failed: ${failureReason ?? 'unknown reason'}. The disk is ILLEGAL.`,
          correlationId: ownerOfCurrentStep(),
          entityIds: [image.diskId, rootCommandId],
        });
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
