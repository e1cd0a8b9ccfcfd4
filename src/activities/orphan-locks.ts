/**
 * What can be proved about the entities a closed command left behind: a command whose workflow
 * closed without its own clean-up (terminated, timed out, reset) keeps its entity locks and the
 * LOCKED statuses it set. One module for the janitor (every sweep) and `ovirt-tasks unlock` (one
 * entity, on demand): plan from the inventory, the command's workflows and storage, then apply.
 *
 * Nothing changes while the owner, one of its steps, or a VDSM task of one of its steps still runs.
 * Otherwise every lock of the owner goes and each status is restored only when storage proves it:
 * - disk LOCKED, image on its domain with exactly the volumes the inventory lists: OK when VDSM
 *   says every volume is LEGAL, ILLEGAL when one is not;
 * - disk LOCKED of an AddDisk whose volume is not on storage: removed (the engine's rollback);
 *   one whose volume is there and LEGAL: OK with the volume's real size and format;
 * - disk LOCKED (any other command) whose image is not on its domain: ILLEGAL. A purged image and
 *   one VDSM renamed `_remove_me_` and never purged look the same from here; ILLEGAL makes an
 *   administrator remove it (RemoveDisk ends at once on 268 when it is gone);
 * - VM ImageLocked (RemoveVm): Down when every disk it has is OK afterwards, ImageIllegal when
 *   the rest are OK and some are ILLEGAL;
 * - snapshot LOCKED of a CreateSnapshot with no volume belonging to it: removed;
 * - snapshot LOCKED of a RemoveSnapshot: removed when every disk of it was merged (no volume
 *   belongs to it), OK again otherwise (forward only: the disks that did not merge keep it);
 * - disk LOCKED of a MoveDisk or CopyDisk: src/activities/orphan-move-copy.ts (an image it left on
 *   another domain is removed by a step first; a move whose source is gone is done).
 * Anything else (storage holding volumes the inventory does not know, or lacking some) is left as
 * it is and reported.
 */
import type { ImageStatus, VmStatus } from '../shared/vocabulary';
import type { Disk, EntityLock, EntityType, InventoryRepository, Volume } from '../inventory/port';
import { commandKindOf, poolOf, stepIdsOf, stillRunning } from './orphan-running';
import { judgeMoveOrCopy, type OrphanCommandPorts, type OrphanImage } from './orphan-move-copy';
import { proveDisk, StorageView, type DiskVerdict } from './orphan-storage';
import type { SpmLocator } from './spm-locator';

export { commandKindOf, type CommandKind } from './orphan-running';

export type OrphanChange =
  | { kind: 'vmStatus'; vmId: string; name: string; from: VmStatus; to: VmStatus; why: string }
  | {
      kind: 'diskStatus';
      diskId: string;
      alias: string;
      from: ImageStatus;
      to: ImageStatus;
      why: string;
      /** AddDisk: what Volume.getInfo says of the new volume, written before the disk becomes OK. */
      volume?: { id: string; facts: VolumeFacts };
    }
  | { kind: 'removeDisk'; diskId: string; alias: string; why: string }
  | { kind: 'removeSnapshot'; snapshotId: string; description: string; why: string }
  | { kind: 'snapshotStatus'; snapshotId: string; description: string; from: string; to: 'OK'; why: string }
  | {
      /** A MoveDisk whose source is gone: the disk is mapped to the destination, with this status. */
      kind: 'moveDisk';
      diskId: string;
      alias: string;
      toDomainId: string;
      toDomainName: string;
      from: ImageStatus;
      to: ImageStatus;
      why: string;
    };

export type VolumeFacts = Pick<
  Volume,
  'sizeBytes' | 'actualSizeBytes' | 'format' | 'volumeType' | 'legality'
>;

export interface Unproven {
  type: EntityType;
  id: string;
  status: string;
  why: string;
}

export interface OrphanPlan {
  /** The closed command whose leftovers these are; null for a LOCKED entity that no lock names. */
  owner: string | null;
  /** Set when nothing may change now: what still runs (a workflow or a VDSM task). */
  blockedBy: { workflowId: string | null; vdsmTaskId: string | null; why: string } | null;
  releaseLocks: EntityLock[];
  changes: OrphanChange[];
  unproven: Unproven[];
  /** Images the command left on storage, removed by steps before anything else changes. */
  removeImages: OrphanImage[];
}

/** What planning needs: the inventory, the SPM and "is this workflow running?" (describe()). */
export interface OrphanDeps {
  inventory: InventoryRepository;
  spm: SpmLocator;
  isRunning(workflowId: string): Promise<boolean>;
  /** MoveDisk/CopyDisk: the command's input and the removal steps (Temporal). */
  commands?: OrphanCommandPorts;
}

const PROOF_CONCURRENCY = 16;
/** The snapshots a CreateSnapshot made: its USER_CREATE_SNAPSHOT audit names them. */
async function snapshotsOf(inventory: InventoryRepository, owner: string): Promise<string[]> {
  const entries = await inventory.listAudit({ correlationId: owner, type: 'USER_CREATE_SNAPSHOT' });
  return [...new Set(entries.map((e) => e.entityIds[1]).filter((id): id is string => id !== undefined))];
}

/**
 * The plan for a closed (or unknown) owner of `locks`. With `owner` null: a LOCKED entity no lock
 * names (`unlock` of what an earlier release left), judged by the same rules.
 */
async function planFor(
  deps: OrphanDeps,
  owner: string | null,
  locks: EntityLock[],
  extra: { vmIds?: string[]; diskIds?: string[]; snapshotIds?: string[] } = {},
): Promise<OrphanPlan> {
  const { inventory } = deps;
  const plan: OrphanPlan = {
    owner,
    blockedBy: null,
    releaseLocks: locks,
    changes: [],
    unproven: [],
    removeImages: [],
  };
  if (owner && (await deps.isRunning(owner))) {
    plan.blockedBy = { workflowId: owner, vdsmTaskId: null, why: `${owner} is running` };
    return plan;
  }
  const kind = owner ? commandKindOf(owner) : null;
  const idsOf = (type: EntityType, more: string[] = []): string[] => [
    ...new Set([...locks.filter((l) => l.type === type).map((l) => l.id), ...more]),
  ];
  const vmIds = idsOf('VM', extra.vmIds);
  const disks = (await Promise.all(idsOf('DISK', extra.diskIds).map((id) => inventory.getDisk(id)))).filter(
    (d): d is Disk => d !== undefined,
  );
  const snapshotIds = idsOf('SNAPSHOT', [
    ...(extra.snapshotIds ?? []),
    ...(owner && kind === 'CreateSnapshot' ? await snapshotsOf(inventory, owner) : []),
  ]);
  const poolId = await poolOf(inventory, disks, vmIds);
  const view = poolId ? new StorageView(deps.spm, poolId) : null;

  // Steps are asked by their deterministic ids; without an owner, by the claims on the disk.
  const stepIds = owner && kind ? disks.flatMap((d) => stepIdsOf(owner, kind, d.id)) : [];
  const isStep = owner
    ? (o: string) => o.startsWith(`${owner}/`)
    : (o: string) => disks.some((d) => o.endsWith(`/${d.id}`));
  if (!owner && view) {
    for (const claim of await inventory.listTaskClaims({ poolId: view.poolId }))
      if (isStep(claim.owner)) stepIds.push(claim.owner);
  }
  plan.blockedBy = await stillRunning(deps, view, stepIds, isStep);
  if (plan.blockedBy) return plan;

  const finalDiskStatus = new Map<string, ImageStatus>();
  let generalDisks = disks;
  if (owner && view && (kind === 'MoveDisk' || kind === 'CopyDisk')) {
    const judged = await judgeMoveOrCopy(inventory, deps.commands, view, owner, kind, disks);
    plan.changes.push(...judged.changes);
    plan.unproven.push(...judged.unproven);
    plan.removeImages.push(...judged.removeImages);
    generalDisks = disks.filter((d) => !judged.handled.has(d.id));
  }
  // A few disks at a time: a RemoveVm of hundreds of disks asks VDSM two or three times per disk.
  const verdicts: DiskVerdict[] = [];
  for (let i = 0; i < generalDisks.length; i += PROOF_CONCURRENCY) {
    const batch = generalDisks.slice(i, i + PROOF_CONCURRENCY);
    verdicts.push(
      ...(await Promise.all(batch.map((d) => (view ? proveDisk(view, d, kind) : Promise.resolve(null))))),
    );
  }
  for (const [i, disk] of generalDisks.entries()) {
    const verdict = verdicts[i] ?? null;
    let status: ImageStatus | undefined = disk.status;
    if (verdict && 'change' in verdict) {
      plan.changes.push(verdict.change);
      status = verdict.change.kind === 'diskStatus' ? verdict.change.to : undefined;
    } else if (verdict) {
      plan.unproven.push({ type: 'DISK', id: disk.id, status: disk.status, why: verdict.unproven });
    }
    if (status) finalDiskStatus.set(disk.id, status);
  }

  for (const vmId of vmIds) {
    const vm = await inventory.getVm(vmId);
    if (vm?.status !== 'ImageLocked') continue;
    const statuses = (await inventory.listDisks({ vmId })).map((d) => finalDiskStatus.get(d.id) ?? d.status);
    if (statuses.some((s) => s === 'LOCKED')) {
      plan.unproven.push({ type: 'VM', id: vm.id, status: vm.status, why: 'some of its disks stay LOCKED' });
      continue;
    }
    const illegal = statuses.filter((s) => s === 'ILLEGAL').length;
    plan.changes.push({
      kind: 'vmStatus',
      vmId: vm.id,
      name: vm.name,
      from: vm.status,
      to: illegal ? 'ImageIllegal' : 'Down',
      why: illegal ? `${illegal} of its disks are ILLEGAL` : 'every disk it has is OK',
    });
  }

  for (const snapshotId of snapshotIds) {
    const snapshot = await inventory.getSnapshot(snapshotId);
    if (snapshot?.status !== 'LOCKED') continue;
    const volumes = await inventory.listVolumes({ snapshotId });
    if (kind === 'RemoveSnapshot') {
      const { description } = snapshot;
      plan.changes.push(
        volumes.length === 0
          ? { kind: 'removeSnapshot', snapshotId, description, why: 'every disk of it was merged' }
          : {
              kind: 'snapshotStatus',
              snapshotId,
              description,
              from: snapshot.status,
              to: 'OK',
              why: `${volumes.length} volume(s) of disks that did not merge still belong to it`,
            },
      );
    } else if (kind === 'CreateSnapshot' && volumes.length === 0) {
      plan.changes.push({
        kind: 'removeSnapshot',
        snapshotId,
        description: snapshot.description,
        why: 'no volume belongs to it',
      });
    } else {
      plan.unproven.push({
        type: 'SNAPSHOT',
        id: snapshotId,
        status: snapshot.status,
        why: volumes.length
          ? `${volumes.length} volume(s) belong to it: some disks may have taken the snapshot`
          : 'the command that made it is not known',
      });
    }
  }
  return plan;
}

/**
 * The lock owners the janitor of one pool looks at: owners of locks on the pool's entities, or on
 * entities that are all gone. Running owners included: their plans come out blocked.
 */
export async function lockOwnersOfPool(
  inventory: InventoryRepository,
  poolId: string,
): Promise<Array<{ owner: string; locks: EntityLock[] }>> {
  const byOwner = new Map<string, EntityLock[]>();
  for (const lock of await inventory.listLocks())
    byOwner.set(lock.owner, [...(byOwner.get(lock.owner) ?? []), lock]);
  const owners: Array<{ owner: string; locks: EntityLock[] }> = [];
  for (const [owner, locks] of byOwner) {
    const disks = (
      await Promise.all(locks.filter((l) => l.type === 'DISK').map((l) => inventory.getDisk(l.id)))
    ).filter((d): d is Disk => d !== undefined);
    const vmIds = locks.filter((l) => l.type === 'VM').map((l) => l.id);
    const pool = await poolOf(inventory, disks, vmIds);
    if (pool === null || pool === poolId) owners.push({ owner, locks });
  }
  return owners;
}

/** The plan for the locks of one owner (blocked while it or its steps run). */
export function planOwner(deps: OrphanDeps, owner: string, locks: EntityLock[]): Promise<OrphanPlan> {
  return planFor(deps, owner, locks);
}

/**
 * `unlock`: the plans for one entity. Each owner of a lock on it is planned whole (every lock of a
 * closed command is an orphan); an entity no lock names is judged alone, its CreateSnapshot (for
 * a snapshot) found through the audit.
 */
export async function planEntityUnlock(
  deps: OrphanDeps,
  type: EntityType,
  id: string,
): Promise<OrphanPlan[]> {
  const all = await deps.inventory.listLocks();
  const owners = [...new Set(all.filter((l) => l.type === type && l.id === id).map((l) => l.owner))];
  if (owners.length)
    return Promise.all(
      owners.map((owner) =>
        planFor(
          deps,
          owner,
          all.filter((l) => l.owner === owner),
        ),
      ),
    );
  if (type === 'SNAPSHOT') {
    const made = (await deps.inventory.listAudit({ type: 'USER_CREATE_SNAPSHOT' })).find((e) =>
      e.entityIds.includes(id),
    );
    if (made?.correlationId) return [await planFor(deps, made.correlationId, [], { snapshotIds: [id] })];
  }
  const key = type === 'VM' ? 'vmIds' : type === 'DISK' ? 'diskIds' : 'snapshotIds';
  return [await planFor(deps, null, [], { [key]: [id] })];
}

export const isEmptyPlan = (plan: OrphanPlan): boolean =>
  plan.releaseLocks.length === 0 &&
  plan.changes.length === 0 &&
  plan.unproven.length === 0 &&
  plan.removeImages.length === 0;
