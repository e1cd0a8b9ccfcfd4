/**
 * The orphan rules of a closed MoveDisk or CopyDisk (src/activities/orphan-locks.ts), applied once
 * its steps (Volume.create, the SDM.copy_data job, a move's source removal) are done:
 * - MoveDisk, source intact: the move did not happen. A destination image (the disk's id on another
 *   domain of the pool) is removed first, by the RemoveImage step the move's own failure path runs
 *   (`<owner>/RemoveImage/<disk>`), started by the sweep; once it is gone the disk is judged on its
 *   source by the general rules (OK when intact) and the locks go;
 * - MoveDisk, source gone (its removal starts only after the data was copied): the disk is on the
 *   destination: mapped there, OK when its volumes there are the inventory's, all LEGAL;
 * - CopyDisk: undone as a failed copy is, since a created volume is LEGAL before any data is in it
 *   and only the command's own end knows the copy completed. Its image is removed (same step),
 *   then its row; the source is judged by the general rules. Which disk is the source is read from
 *   the command's input (its Temporal history); without it both stay LOCKED, reported.
 * A removal that already failed (its DELETE_IMAGE_GROUP_TASK_FAILED audit) is not started again:
 * the image is reported for an administrator (a copy's disk ILLEGAL, so RemoveDisk takes it).
 */
import { CopyDiskInput } from '../shared/commands';
import { workflowIds } from '../shared/names';
import type { TaskStepInput } from '../shared/steps';
import { storageOnlyRemoveImageStep } from '../workflows/step-inputs';
import type { Disk, InventoryRepository } from '../inventory/port';
import type { OrphanChange, Unproven } from './orphan-locks';
import { proveDisk, type StorageView } from './orphan-storage';

/** What the sweep needs from Temporal for these commands (absent: such plans stay unproven). */
export interface OrphanCommandPorts {
  /** The closed command's input, null when Temporal no longer has it. */
  commandInput(workflowId: string): Promise<unknown>;
  /** Starts a removal step (already started: nothing). */
  startImageRemoval(step: TaskStepInput): Promise<void>;
}

/** An image a closed command left on storage, to be removed before its locks go. */
export interface OrphanImage {
  /** The step that removes it: the command's own `<owner>/RemoveImage/<image>`. */
  stepId: string;
  step: TaskStepInput;
  why: string;
}

export interface MoveCopyJudgement {
  /** The disks judged here; the others go through the general rules. */
  handled: Set<string>;
  changes: OrphanChange[];
  unproven: Unproven[];
  removeImages: OrphanImage[];
}

const REMOVAL_FAILED = 'DELETE_IMAGE_GROUP_TASK_FAILED';
/** TASK_START_MAX_ATTEMPTS's default; the port that starts the step sets the worker's own. */
const DEFAULT_START_ATTEMPTS = 20;

export function removalStep(
  owner: string,
  disk: Disk,
  domain: { id: string; name: string },
  startMaxAttempts = DEFAULT_START_ATTEMPTS,
): TaskStepInput {
  return storageOnlyRemoveImageStep(
    { commandId: owner, vmId: null },
    { id: disk.id, alias: disk.alias, poolId: disk.poolId, domainId: domain.id },
    `Removing the image of ${disk.alias} ${owner} left on ${domain.name}`,
    {
      type: REMOVAL_FAILED,
      message: `Possible failure while deleting the image of ${disk.alias} ${owner} left on ${domain.name}; it may be cleaned up manually from leftovers`,
    },
    startMaxAttempts,
  );
}

/** Has the removal of this image from this domain already failed (audited by its step)? */
async function removalFailed(inventory: InventoryRepository, stepId: string, domainId: string) {
  const entries = await inventory.listAudit({ correlationId: stepId, type: REMOVAL_FAILED });
  return entries.some((e) => e.entityIds.includes(domainId));
}

const empty = (): MoveCopyJudgement => ({ handled: new Set(), changes: [], unproven: [], removeImages: [] });

export async function judgeMoveOrCopy(
  inventory: InventoryRepository,
  ports: OrphanCommandPorts | undefined,
  view: StorageView,
  owner: string,
  kind: 'MoveDisk' | 'CopyDisk',
  disks: Disk[],
): Promise<MoveCopyJudgement> {
  return kind === 'MoveDisk'
    ? judgeMove(inventory, view, owner, disks)
    : judgeCopy(inventory, ports, view, owner, disks);
}

async function judgeMove(
  inventory: InventoryRepository,
  view: StorageView,
  owner: string,
  disks: Disk[],
): Promise<MoveCopyJudgement> {
  const out = empty();
  const disk = disks.find((d) => workflowIds.moveDisk(d.id) === owner);
  if (disk?.status !== 'LOCKED') return out;
  const elsewhere = [];
  for (const domain of await inventory.listDomains(disk.poolId)) {
    if (domain.id !== disk.domainId && (await view.imagesOf(domain.id)).has(disk.id)) elsewhere.push(domain);
  }
  const stepId = workflowIds.taskStep(owner, 'RemoveImage', disk.id);
  const sourceThere = (await view.imagesOf(disk.domainId)).has(disk.id);
  if (sourceThere) {
    if (elsewhere.length === 0) return out; // nothing was made, or it was removed: general rules
    out.handled.add(disk.id);
    for (const domain of elsewhere) {
      if (await removalFailed(inventory, stepId, domain.id)) {
        out.unproven.push({
          type: 'DISK',
          id: disk.id,
          status: disk.status,
          why: `its image is also on ${domain.name} (${domain.id}), left by the move, and its removal failed: remove it by hand`,
        });
      } else {
        out.removeImages.push({
          stepId,
          step: removalStep(owner, disk, domain),
          why: `the move did not complete (its source is intact): its destination on ${domain.name} goes first`,
        });
      }
    }
    return out;
  }
  const [destination, ...more] = elsewhere;
  if (!destination || more.length) return out; // no copy of it anywhere: the general rules (ILLEGAL)
  out.handled.add(disk.id);
  const verdict = await proveDisk(view, { ...disk, domainId: destination.id }, 'MoveDisk');
  if (verdict && 'change' in verdict && verdict.change.kind === 'diskStatus') {
    out.changes.push({
      kind: 'moveDisk',
      diskId: disk.id,
      alias: disk.alias,
      toDomainId: destination.id,
      toDomainName: destination.name,
      from: disk.status,
      to: verdict.change.to,
      why: `its source is gone, its data is on ${destination.name}: ${verdict.change.why}`,
    });
  } else if (verdict && 'unproven' in verdict) {
    out.unproven.push({
      type: 'DISK',
      id: disk.id,
      status: disk.status,
      why: `its source is gone; on ${destination.name} ${verdict.unproven}`,
    });
  }
  return out;
}

async function judgeCopy(
  inventory: InventoryRepository,
  ports: OrphanCommandPorts | undefined,
  view: StorageView,
  owner: string,
  disks: Disk[],
): Promise<MoveCopyJudgement> {
  const out = empty();
  const input = CopyDiskInput.safeParse(ports ? await ports.commandInput(owner) : null);
  if (!input.success) {
    for (const disk of disks.filter((d) => d.status === 'LOCKED')) {
      out.handled.add(disk.id);
      out.unproven.push({
        type: 'DISK',
        id: disk.id,
        status: disk.status,
        why: 'the copy command is gone from Temporal: which disk is the copy is not known',
      });
    }
    return out;
  }
  for (const copy of disks.filter((d) => d.id !== input.data.diskId && d.status === 'LOCKED')) {
    out.handled.add(copy.id);
    const stepId = workflowIds.taskStep(owner, 'RemoveImage', copy.id);
    const base = { diskId: copy.id, alias: copy.alias };
    if (!(await view.imagesOf(copy.domainId)).has(copy.id)) {
      out.changes.push({
        kind: 'removeDisk',
        ...base,
        why: 'the copy did not complete and its image is not on storage',
      });
    } else if (await removalFailed(inventory, stepId, copy.domainId)) {
      out.changes.push({
        kind: 'diskStatus',
        ...base,
        from: copy.status,
        to: 'ILLEGAL',
        why: 'the copy did not complete and the removal of its image failed: RemoveDisk takes it',
      });
    } else {
      const domain = (await inventory.getDomain(copy.domainId)) ?? { id: copy.domainId, name: copy.domainId };
      out.removeImages.push({
        stepId,
        step: removalStep(owner, copy, domain),
        why: 'the copy did not complete (only its own end can tell): its image goes first',
      });
    }
  }
  return out;
}
