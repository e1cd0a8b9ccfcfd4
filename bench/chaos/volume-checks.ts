/**
 * The invariants of the commands that make volumes (AddDisk, cold CreateSnapshot): storage chains
 * (the simulator's `imageChain`) equal inventory chains (`listVolumes`) for every touched disk, no
 * volume or image on storage that the inventory does not know, no snapshot or disk left LOCKED,
 * each outcome matching storage, and a failed snapshot leaving every chain as it was.
 */
import type { AddDiskResult, CreateSnapshotResult, RemoveSnapshotResult } from '../../src/shared/commands';
import type { Stack } from '../support/stack';
import type { AddViolation, Closed } from './invariants';

/** What the checks read: the fixture, the simulator, the inventory (a Stack, or a test's own). */
export type StorageWorld = Pick<Stack, 'fixtures' | 'inventory' | 'sim'>;

/** [volume id, parent id or null, is the leaf], base first. */
export type ChainRow = [string, string | null, boolean];
const BLANK = '00000000-0000-0000-0000-000000000000';

export function storageChain(stack: StorageWorld, domainId: string, diskId: string): ChainRow[] | undefined {
  const sim = stack.sim(stack.fixtures[0]!.pool.id);
  return sim
    .imageChain(domainId, diskId)
    ?.map((v) => [v.id, v.parent === BLANK ? null : v.parent, v.voltype === 'LEAF'] as ChainRow);
}

async function inventoryChain(stack: StorageWorld, diskId: string): Promise<ChainRow[]> {
  return (await stack.inventory.listVolumes({ diskId })).map((v) => [v.id, v.parentId, v.active] as ChainRow);
}

const show = (chain: ChainRow[] | undefined): string =>
  chain ? `[${chain.map(([id, , leaf]) => `${id.slice(0, 8)}${leaf ? '*' : ''}`).join(' ← ')}]` : 'no image';
const same = (a: ChainRow[] | undefined, b: ChainRow[] | undefined): boolean =>
  JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** The chains of the disks of the VMs a scenario will snapshot, read before anything is submitted. */
export function chainsBefore(
  stack: StorageWorld,
  diskIds: readonly string[],
): Map<string, ChainRow[] | undefined> {
  const domainOf = new Map(stack.fixtures[0]!.disks.map((d) => [d.id, d.domainId]));
  return new Map(diskIds.map((id) => [id, storageChain(stack, domainOf.get(id)!, id)]));
}

/**
 * Run-wide memory, so that something left by one scenario is reported once, by that scenario:
 * orphan images and LOCKED rows already reported.
 */
export interface VolumeCheckMemory {
  reported: Set<string>;
  /** Disks the fixture started LOCKED (a command that never ended): not ours. */
  lockedByFixture: ReadonlySet<string>;
}

export async function checkVolumeCommands(
  stack: StorageWorld,
  closed: Closed[],
  before: ReadonlyMap<string, ChainRow[] | undefined>,
  memory: VolumeCheckMemory,
  add: AddViolation,
): Promise<void> {
  const { inventory } = stack;
  const disks = new Map((await inventory.listDisks()).map((d) => [d.id, d]));
  /** Every disk a command of this scenario made or gave a new volume. */
  const touched = new Set<string>();

  for (const { command, outcome } of closed) {
    if (!outcome) continue;
    if (command.kind === 'AddDisk') {
      const details = outcome.failure?.details?.[0] as { diskId?: string; volumeId?: string } | undefined;
      if (outcome.completed) {
        const { diskId, volumeId } = outcome.result as AddDiskResult;
        touched.add(diskId);
        const disk = disks.get(diskId);
        const chain = disk && storageChain(stack, disk.domainId, diskId);
        if (disk?.status !== 'OK' || !same(chain, [[volumeId, null, true]])) {
          add(
            'outcomeConsistent',
            `${command.workflowId} succeeded but disk ${diskId} is ${disk?.status ?? 'gone'} with storage chain ${show(chain)}`,
          );
        }
      } else if (details?.diskId) {
        touched.add(details.diskId);
        const disk = disks.get(details.diskId);
        // A failed AddDisk's rows go, or stay ILLEGAL (the engine's rule); never OK.
        if (disk?.status === 'OK') {
          add('outcomeConsistent', `${command.workflowId} failed but its disk ${details.diskId} is OK`);
        }
      }
    }
    if (command.kind === 'CreateSnapshot') {
      for (const d of command.vm.diskIds) touched.add(d);
      if (outcome.completed) {
        const result = outcome.result as CreateSnapshotResult;
        const snapshot = await inventory.getSnapshot(result.snapshotId);
        if (snapshot?.status !== 'OK') {
          add(
            'outcomeConsistent',
            `${command.workflowId} succeeded but snapshot ${result.snapshotId} is ${snapshot?.status ?? 'gone'}`,
          );
        }
        for (const { diskId, volumeId } of result.volumes) {
          const old = before.get(diskId) ?? [];
          const expected: ChainRow[] = [
            ...old.map(([id, parent]) => [id, parent, false] as ChainRow),
            [volumeId, old.at(-1)?.[0] ?? null, true],
          ];
          const chain = storageChain(stack, disks.get(diskId)?.domainId ?? '', diskId);
          if (!same(chain, expected)) {
            add(
              'outcomeConsistent',
              `${command.workflowId} succeeded but disk ${diskId} has ${show(chain)}, expected ${show(expected)}`,
            );
          }
        }
      } else {
        // All or nothing: every disk has the chain it had, and the snapshot row is gone.
        for (const diskId of command.vm.diskIds) {
          const chain = storageChain(stack, disks.get(diskId)?.domainId ?? '', diskId);
          if (!same(chain, before.get(diskId))) {
            add(
              'groupReverted',
              `${command.workflowId} (${outcome.label}): disk ${diskId} has ${show(chain)}, had ${show(before.get(diskId))}`,
            );
          }
        }
        const details = outcome.failure?.details?.[0] as { snapshotId?: string } | undefined;
        const left = details?.snapshotId ? await inventory.getSnapshot(details.snapshotId) : undefined;
        if (left)
          add('groupReverted', `${command.workflowId} failed but snapshot ${left.id} is ${left.status}`);
      }
    }
  }
  for (const { command, outcome } of closed) {
    if (command.kind !== 'RemoveSnapshot' || !outcome) continue;
    for (const d of command.vm.diskIds) touched.add(d);
    if (!outcome.completed) continue;
    // Merged: each disk has the chain it had before its snapshot was made, and the row is gone.
    const { snapshotId, mergedDiskIds } = outcome.result as RemoveSnapshotResult;
    const left = await inventory.getSnapshot(snapshotId);
    if (left)
      add(
        'outcomeConsistent',
        `${command.workflowId} succeeded but snapshot ${snapshotId} is ${left.status}`,
      );
    for (const diskId of mergedDiskIds) {
      const chain = storageChain(stack, disks.get(diskId)?.domainId ?? '', diskId);
      if (!same(chain, before.get(diskId))) {
        add(
          'outcomeConsistent',
          `${command.workflowId} succeeded but disk ${diskId} has ${show(chain)}, had ${show(before.get(diskId))}`,
        );
      }
    }
  }
  // RemoveVm's disks that are still there (ILLEGAL ones are skipped below).
  for (const { command } of closed)
    if (command.kind === 'RemoveVm') for (const d of command.vm.diskIds) touched.add(d);

  for (const diskId of touched) {
    const disk = disks.get(diskId);
    if (!disk || disk.status === 'ILLEGAL') continue;
    const storage = storageChain(stack, disk.domainId, diskId) ?? [];
    const known = await inventoryChain(stack, diskId);
    const unknown = storage.filter(([id]) => !known.some(([k]) => k === id));
    if (unknown.length) {
      add(
        'noOrphanVolumes',
        `disk ${disk.alias} (${diskId}): storage has volume(s) ${unknown.map(([id]) => id).join(', ')} the inventory does not know`,
      );
    } else if (!same(storage, known)) {
      add(
        'chainsAgree',
        `disk ${disk.alias} (${diskId}): inventory ${show(known)}, storage ${show(storage)}`,
      );
    }
  }

  // Images on storage without a disk, anywhere in the pool (each reported once per run).
  const snapshot = stack.sim(stack.fixtures[0]!.pool.id).storageSnapshot();
  for (const [domainId, d] of Object.entries(snapshot)) {
    for (const imageId of Object.keys(d.images)) {
      const key = `image:${imageId}`;
      if (disks.has(imageId) || memory.reported.has(key)) continue;
      memory.reported.add(key);
      add('noOrphanVolumes', `image ${imageId} on domain ${domainId} belongs to no disk`);
    }
  }

  for (const disk of disks.values()) {
    const key = `disk:${disk.id}`;
    if (disk.status !== 'LOCKED' || memory.lockedByFixture.has(disk.id) || memory.reported.has(key)) continue;
    memory.reported.add(key);
    add('noLockedRows', `disk ${disk.alias} (${disk.id}) is LOCKED`);
  }
  for (const snap of await inventory.listSnapshots()) {
    const key = `snapshot:${snap.id}`;
    if (snap.status !== 'LOCKED' || memory.reported.has(key)) continue;
    memory.reported.add(key);
    add('noLockedRows', `snapshot '${snap.description}' (${snap.id}) is LOCKED`);
  }
}
