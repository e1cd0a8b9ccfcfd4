/**
 * Storage against inventory: what the simulator's domains hold compared with what the inventory
 * says, for the commands that make volumes (AddDisk, CreateSnapshot).
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { AddDiskInput, CreateSnapshotInput } from '../../src/shared/commands';
import { workflowIds, WorkflowType } from '../../src/shared/names';
import type { EngineStack } from './engine-stack';

/** The image's volume chain as ids and parents, base first, from storage and from the inventory. */
export async function chains(
  s: EngineStack,
  domainId: string,
  diskId: string,
): Promise<{
  storage: Array<[string, string | null, boolean]>;
  inventory: Array<[string, string | null, boolean]>;
}> {
  const blank = '00000000-0000-0000-0000-000000000000';
  const storage = (s.sim.imageChain(domainId, diskId) ?? []).map(
    (v) =>
      [v.id, v.parent === blank ? null : v.parent, v.voltype === 'LEAF'] as [string, string | null, boolean],
  );
  const inventory = (await s.inventory.listVolumes({ diskId })).map(
    (v) => [v.id, v.parentId, v.active] as [string, string | null, boolean],
  );
  return { storage, inventory };
}

/** The fixture's data center starts with some disks LOCKED (a command that never ended): not ours. */
export function lockedByFixture(s: EngineStack, diskId: string): boolean {
  return s.fixture.disks.some((d) => d.id === diskId && d.status !== 'OK');
}

/** The floating single-volume OK disks on NFS, each with another NFS domain to move or copy it to. */
export function floatingNfsDisks(s: EngineStack) {
  const disks = s.fixture.disks.filter(
    (d) =>
      d.vmId === null &&
      !d.shareable &&
      d.volumeIds.length === 1 &&
      d.status === 'OK' &&
      s.fixture.domains.find((dom) => dom.id === d.domainId)?.storageType === 'nfs',
  );
  const to = (diskDomainId: string) =>
    s.fixture.domains.find((d) => d.storageType === 'nfs' && d.id !== diskDomainId)!;
  return disks.map((disk) => ({ disk, to: to(disk.domainId) }));
}

/** The first of floatingNfsDisks: a floating single-volume disk on NFS and another NFS domain. */
export function floatingDisk(s: EngineStack) {
  const first = floatingNfsDisks(s)[0];
  if (!first) throw new Error('no floating single-volume NFS disk in the test fixture');
  return first;
}

/** No lock, no SPM task or claim, no disk LOCKED but the fixture's, storage = inventory. */
export async function expectNothingLeft(s: EngineStack): Promise<void> {
  expect(await s.inventory.listLocks()).toEqual([]);
  expect(s.sim.listTasks()).toEqual([]);
  expect(await s.inventory.listTaskClaims()).toEqual([]);
  expect(
    (await s.inventory.listDisks()).filter((d) => d.status === 'LOCKED' && !lockedByFixture(s, d.id)),
  ).toEqual([]);
  await expectStorageMatchesInventory(s);
}

/** Every disk of the inventory has the chain storage has, and no image on storage lacks a disk. */
export async function expectStorageMatchesInventory(s: EngineStack): Promise<void> {
  for (const disk of await s.inventory.listDisks()) {
    const { storage, inventory } = await chains(s, disk.domainId, disk.id);
    if (disk.status === 'ILLEGAL') continue;
    expect({ disk: disk.alias, chain: inventory }).toEqual({ disk: disk.alias, chain: storage });
  }
  const known = new Set((await s.inventory.listDisks()).map((d) => d.id));
  const snapshot = s.sim.storageSnapshot();
  const orphans = Object.entries(snapshot).flatMap(([domainId, d]) =>
    Object.keys(d.images)
      .filter((imageId) => !known.has(imageId))
      .map((imageId) => `${domainId}/${imageId}`),
  );
  expect(orphans).toEqual([]);
}

export function startAddDisk(
  s: EngineStack,
  input: Omit<AddDiskInput, 'commandId'>,
): Promise<WorkflowHandle> {
  const commandId = randomUUID();
  return s.client.workflow.start(WorkflowType.addDisk, {
    taskQueue: s.taskQueue,
    workflowId: workflowIds.addDisk(commandId),
    args: [{ ...input, commandId }],
  });
}

export function startCreateSnapshot(
  s: EngineStack,
  input: Omit<CreateSnapshotInput, 'commandId'>,
): Promise<WorkflowHandle> {
  const commandId = randomUUID();
  return s.client.workflow.start(WorkflowType.createSnapshot, {
    taskQueue: s.taskQueue,
    workflowId: workflowIds.createSnapshot(commandId),
    args: [{ ...input, commandId }],
  });
}

export function startMoveDisk(s: EngineStack, diskId: string, toDomainId: string): Promise<WorkflowHandle> {
  return s.client.workflow.start(WorkflowType.moveDisk, {
    taskQueue: s.taskQueue,
    workflowId: workflowIds.moveDisk(diskId),
    args: [{ diskId, toDomainId }],
  });
}

export function startCopyDisk(
  s: EngineStack,
  diskId: string,
  toDomainId: string,
  commandId: string = randomUUID(),
): Promise<WorkflowHandle> {
  return s.client.workflow.start(WorkflowType.copyDisk, {
    taskQueue: s.taskQueue,
    workflowId: workflowIds.copyDisk(commandId),
    args: [{ diskId, toDomainId, commandId }],
  });
}

export function startRemoveSnapshot(
  s: EngineStack,
  vmId: string,
  snapshotId: string,
): Promise<WorkflowHandle> {
  return s.client.workflow.start(WorkflowType.removeSnapshot, {
    taskQueue: s.taskQueue,
    workflowId: workflowIds.removeSnapshot(snapshotId),
    args: [{ vmId, snapshotId }],
  });
}
