/**
 * The end actions of task steps (the engine's endSuccessfully / endWithFailure), one per kind of
 * step, behind one activity. Each is idempotent: activities retry, and a local activity may run
 * again after a worker dies.
 */
import type { EndAction, SpmVerb, StepImage } from '../shared/steps';
import type { ActivityDeps } from './deps';
import { currentWorkflowId, typed } from './failures';
import type { SpmLocator } from './spm-locator';
import { auditOnce } from './task-step';

export interface EndTaskStepInput {
  end: EndAction;
  image: StepImage;
  rootCommandId: string;
  succeeded: boolean;
  failureReason: string | null;
  /**
   * On failure: storage is known to be as before the step (no task was created, VDSM rolled the
   * task back, or it was reverted). False when the task vanished or its rollback failed: storage
   * may hold half of the work, so the image is marked ILLEGAL instead of forgotten.
   */
  rolledBack: boolean;
}

/** A task VDSM's recovery rolled back, about to be started once more (see restartsAfterRecovery). */
export interface TaskRestartInput {
  /** The verb started again; Image.delete's restart is audited in the engine's deletion words. */
  verb: SpmVerb;
  end: EndAction;
  image: StepImage;
  rootCommandId: string;
  /** The rolled-back task, cleared just before. */
  vdsmTaskId: string;
}

export function createEndActivities(
  deps: ActivityDeps,
  spm: SpmLocator,
): {
  endTaskStep(input: EndTaskStepInput): Promise<void>;
  auditTaskRestart(input: TaskRestartInput): Promise<void>;
} {
  const { inventory } = deps;

  /** Volume.getInfo of a volume the step created: its real size and format. */
  async function volumeFacts(image: StepImage, volumeId: string) {
    const info = await spm.onSpm(image.poolId, (s) =>
      s.api.volumeGetInfo({
        volumeID: volumeId,
        imageID: image.id,
        storagepoolID: image.poolId,
        storagedomainID: image.domainId,
      }),
    );
    return {
      sizeBytes: Number(info.capacity),
      actualSizeBytes: Number(info.truesize),
      format: info.format,
      volumeType: info.type,
      legality: info.legality,
    };
  }

  const actions: {
    [K in EndAction['kind']]: (
      end: Extract<EndAction, { kind: K }>,
      input: EndTaskStepInput,
    ) => Promise<void>;
  } = {
    async removeImage(end, { rootCommandId, succeeded, failureReason }) {
      if (succeeded) {
        await inventory.removeDisk(end.diskId);
        return;
      }
      await inventory.setDiskStatus([end.diskId], 'ILLEGAL');
      await auditOnce(inventory, {
        type: 'DELETE_IMAGE_GROUP_TASK_FAILED',
        severity: 'ERROR',
        message: `Image group deletion task for disk ${end.diskId} with volume(s) [${end.volumeIds.join(', ')}] failed. Manual volume removal might be required. (Disk ${end.alias}: ${failureReason ?? 'unknown reason'}; it is ILLEGAL.)`,
        correlationId: currentWorkflowId(),
        entityIds: [end.diskId, rootCommandId, ...end.volumeIds],
      });
    },

    async addImage(end, { image, succeeded, rolledBack }) {
      if (succeeded) {
        const facts = await volumeFacts(image, end.volumeId);
        await inventory.updateVolume(end.volumeId, facts);
        await inventory.setDiskStatus([end.diskId], 'OK');
        return;
      }
      // Nothing was created (or VDSM removed the half-baked volume): the rows go, as the engine's.
      if (rolledBack) await inventory.removeDisk(end.diskId);
      else await inventory.setDiskStatus([end.diskId], 'ILLEGAL');
    },

    async snapshotDisk(end, { image, succeeded, rolledBack }) {
      if (succeeded) {
        const facts = await volumeFacts(image, end.volumeId);
        await inventory.addSnapshotLeaf({
          diskId: end.diskId,
          snapshotId: end.snapshotId,
          newVolume: {
            id: end.volumeId,
            diskId: end.diskId,
            domainId: image.domainId,
            format: facts.format,
            volumeType: facts.volumeType,
            legality: facts.legality,
            sizeBytes: facts.sizeBytes,
            actualSizeBytes: facts.actualSizeBytes,
          },
        });
        return;
      }
      // Reverted or rolled back: the chain is as it was and the command restores the disk.
      if (!rolledBack) await inventory.setDiskStatus([end.diskId], 'ILLEGAL');
    },

    async storageOnly(end, { succeeded, failureReason }) {
      if (succeeded || !end.failureAudit) return;
      await auditOnce(inventory, {
        type: end.failureAudit.type,
        severity: 'WARNING',
        message: `${end.failureAudit.message}: ${failureReason ?? 'unknown reason'}`,
        correlationId: currentWorkflowId(),
        entityIds: end.failureAudit.entityIds,
      });
    },
  };

  return {
    /**
     * This project's addition (the engine has no such path: it marked the disk ILLEGAL): the task
     * was rolled back by VDSM's recovery, not by a stop the step asked for, and is started again.
     */
    async auditTaskRestart({ verb, end, image, rootCommandId, vdsmTaskId }) {
      return typed(async () => {
        const deletion = verb === 'Image.delete';
        // RemoveImage knows the image's volumes; a MoveDisk's source removal does not carry them.
        const volumeIds = end.kind === 'removeImage' ? end.volumeIds : [];
        await auditOnce(inventory, {
          type: deletion
            ? 'DELETE_IMAGE_GROUP_TASK_RESTARTED_AFTER_RECOVERY'
            : 'SPM_TASK_RESTARTED_AFTER_RECOVERY',
          severity: 'WARNING',
          message: deletion
            ? `Image group deletion task ${vdsmTaskId} for disk ${image.id} with volume(s) [${volumeIds.join(', ')}] was rolled back by VDSM's recovery (SPM restart or failover) before it touched the image. The image is still on its domain: the deletion was started again. (Disk ${image.alias}.)`
            : `Task ${vdsmTaskId} for disk ${image.id} was rolled back by VDSM's recovery (SPM restart or failover): it was started again. (Disk ${image.alias}.)`,
          correlationId: currentWorkflowId(),
          entityIds: [image.id, rootCommandId, vdsmTaskId, ...volumeIds],
        });
      });
    },

    async endTaskStep(input) {
      return typed(() => {
        const run = actions[input.end.kind] as (end: EndAction, input: EndTaskStepInput) => Promise<void>;
        return run(input.end, input);
      });
    },
  };
}
