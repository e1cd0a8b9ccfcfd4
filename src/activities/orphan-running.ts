/**
 * What still runs for a closed lock owner (src/activities/orphan-locks.ts): the steps each command
 * runs per disk, asked by their deterministic ids, and the VDSM tasks they claimed or may claim.
 */
import type { Disk, InventoryRepository } from '../inventory/port';
import { workflowIds } from '../shared/names';
import type { JobStepType, StepType } from '../shared/steps';
import type { OrphanDeps, OrphanPlan } from './orphan-locks';
import type { StorageView } from './orphan-storage';

export type CommandKind =
  'RemoveVm' | 'RemoveDisk' | 'AddDisk' | 'CreateSnapshot' | 'RemoveSnapshot' | 'MoveDisk' | 'CopyDisk';
/** The steps a command runs per disk (asked by their deterministic ids while they may still run). */
const STEPS_OF: Record<CommandKind, ReadonlyArray<StepType | JobStepType>> = {
  RemoveVm: ['RemoveImage'],
  RemoveDisk: ['RemoveImage'],
  AddDisk: ['AddImageFromScratch'],
  CreateSnapshot: ['CreateSnapshotDisk'],
  // A merge job cannot be aborted: its step follows it to the end after the command closed.
  RemoveSnapshot: ['PrepareMerge', 'ColdMerge', 'FinalizeMerge', 'DestroyImage'],
  // A copy job runs to its end too; RemoveImage: a move's source, or the destination of a failure.
  MoveDisk: ['CreateVolumeContainer', 'CopyData', 'RemoveImage'],
  CopyDisk: ['CreateVolumeContainer', 'CopyData', 'RemoveImage'],
};

/** The command a workflow id names (`RemoveVm/<vmId>`, `AddDisk/<id>`, ...), if it is one. */
export function commandKindOf(workflowId: string): CommandKind | null {
  const [kind, id, ...rest] = workflowId.split('/');
  if (!id || rest.length > 0) return null;
  return kind && kind in STEPS_OF ? (kind as CommandKind) : null;
}

/** The ids of the steps a command runs for one disk (`<owner>/<step>/<disk>`). */
export const stepIdsOf = (owner: string, kind: CommandKind, diskId: string): string[] =>
  STEPS_OF[kind].map((step) => workflowIds.taskStep(owner, step, diskId));

const ENDED_TASK_STATES: ReadonlySet<string> = new Set(['finished', 'unknown']);
/** The pool the entities are in: a disk's, else a VM's; null when every one of them is gone. */
export async function poolOf(
  inventory: InventoryRepository,
  disks: Disk[],
  vmIds: string[],
): Promise<string | null> {
  if (disks[0]) return disks[0].poolId;
  for (const id of vmIds) {
    const vm = await inventory.getVm(id);
    if (vm) return vm.poolId;
  }
  return null;
}

/**
 * What still runs for a closed owner: one of its steps (`<owner>/<step>/<disk>`, asked by id, so
 * visibility's lag does not matter), or a VDSM task one of them claimed or may yet claim.
 */
export async function stillRunning(
  deps: OrphanDeps,
  view: StorageView | null,
  stepIds: string[],
  isStep: (owner: string) => boolean,
): Promise<OrphanPlan['blockedBy']> {
  for (const id of stepIds) {
    if (await deps.isRunning(id))
      return { workflowId: id, vdsmTaskId: null, why: `its step ${id} is still running` };
  }
  if (!view) return null;
  const tasks = await view.tasks();
  const live = (taskId: string): boolean => {
    const state = tasks[taskId]?.taskState;
    return state !== undefined && !ENDED_TASK_STATES.has(state);
  };
  const claims = (await deps.inventory.listTaskClaims({ poolId: view.poolId })).filter((c) =>
    isStep(c.owner),
  );
  for (const claim of claims) {
    if (live(claim.vdsmTaskId))
      return {
        workflowId: null,
        vdsmTaskId: claim.vdsmTaskId,
        why: `VDSM task ${claim.vdsmTaskId} of ${claim.owner} still runs`,
      };
  }
  // A step whose start answer was lost: any unclaimed task new to it may be its task.
  const claimed = new Set(
    (await deps.inventory.listTaskClaims({ poolId: view.poolId })).map((c) => c.vdsmTaskId),
  );
  for (const intent of await deps.inventory.listStartIntents({ poolId: view.poolId, pending: true })) {
    if (!isStep(intent.owner)) continue;
    const candidate = Object.keys(tasks).find(
      (t) => live(t) && !claimed.has(t) && !intent.knownTaskIds.includes(t),
    );
    if (candidate)
      return {
        workflowId: null,
        vdsmTaskId: candidate,
        why: `VDSM task ${candidate} may be ${intent.owner}'s and still runs`,
      };
  }
  return null;
}
