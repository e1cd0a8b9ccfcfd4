/**
 * RemoveDisk and RemoveVm against disks attached to several VMs, and what Image.delete is sent
 * with (PostDeleteActionHandler's postZero and discard), end to end: real dev server, the
 * simulator (which records what each verb received), the SQLite inventory, an in-process worker.
 */
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { CommandRefusedError, submitRemoveDisk, submitRemoveVm } from '../src/client';
import { ErrorType } from '../src/shared/errors';
import { expectClean, startEngineStack, type EngineStack } from './support/engine-stack';

jest.setTimeout(90_000);

let stack: EngineStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

async function failureOf(promise: Promise<unknown>): Promise<WorkflowFailedError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof WorkflowFailedError) return err;
    throw err;
  }
  throw new Error('the workflow was expected to fail');
}

/** What VDSM received for each image's Image.delete, by image id. */
function deletesSent(s: EngineStack): Map<string, { postZero: unknown; discard: unknown }> {
  return new Map(
    s.sim
      .calls('Image.delete')
      .map((c) => [String(c.params.imageID), { postZero: c.params.postZero, discard: c.params.discard }]),
  );
}

function sharedDisk(s: EngineStack) {
  const disk = s.fixture.disks.find((d) => d.shareable)!;
  const vms = disk.attachedTo!.map((a) => s.fixture.vms.find((v) => v.id === a.vmId)!);
  return { disk, vms };
}

test('a VM on NFS with wipe-after-delete disks: VDSM is sent postZero=false and discard=false for each', async () => {
  // Every disk of the VM is made wipe-after-delete on file storage, where the engine never posts zeros.
  stack = await startEngineStack({ dc: { vmCount: 6 } });
  const s = stack;
  const nfs = new Set(s.fixture.domains.filter((d) => d.storageType === 'nfs').map((d) => d.id));
  const vm = s.fixture.vms.find(
    (v) =>
      v.status === 'Down' &&
      !v.deleteProtected &&
      s.fixture.disks.some((d) => d.vmId === v.id && nfs.has(d.domainId) && d.wipeAfterDelete) &&
      s.fixture.disks.every((d) => d.vmId !== v.id || d.status === 'OK'),
  );
  if (!vm) throw new Error('the test fixture has no Down VM with a wipe-after-delete NFS disk');
  const disks = s.fixture.disks.filter((d) => d.vmId === vm.id);
  const { handle } = await submitRemoveVm(s.client, { vmId: vm.id }, { taskQueue: s.taskQueue });
  await handle.result();

  const sent = deletesSent(s);
  expect(sent.size).toBe(disks.length);
  for (const d of disks.filter((x) => nfs.has(x.domainId))) {
    expect({ alias: d.alias, wipeAfterDelete: d.wipeAfterDelete, ...sent.get(d.id) }).toEqual({
      alias: d.alias,
      wipeAfterDelete: d.wipeAfterDelete,
      postZero: false,
      discard: false,
    });
  }
  await expectClean(
    s,
    disks.map((d) => d.id),
  );
});

test('pass-discard on a domain that supports discard: discard=true though the domain does not discard after delete', async () => {
  stack = await startEngineStack({ dc: { domains: { 'iscsi-01': { discardAfterDelete: false } } } });
  const s = stack;
  const { disk: shared, vms } = sharedDisk(s);
  expect(shared.attachedTo!.map((a) => a.passDiscard)).toEqual([true, false]);
  // On the same iSCSI domain, attached to no VM, wipe-after-delete: no discard, but zeros (block).
  const plain = s.fixture.disks.find((d) => d.alias === 'floating-02')!;
  expect(plain).toMatchObject({ domainId: shared.domainId, wipeAfterDelete: true });

  for (const diskId of [shared.id, plain.id]) {
    const { handle } = await submitRemoveDisk(s.client, { diskId }, { taskQueue: s.taskQueue });
    await handle.result();
  }
  const sent = deletesSent(s);
  expect(sent.get(shared.id)).toEqual({ postZero: false, discard: true });
  expect(sent.get(plain.id)).toEqual({ postZero: true, discard: false });
  expect(vms).toHaveLength(2);
  await expectClean(s, [shared.id, plain.id]);
});

test('RemoveDisk of a shareable disk plugged into an Up VM is refused naming that VM, by the client and by the workflow', async () => {
  stack = await startEngineStack();
  const s = stack;
  const { disk, vms } = sharedDisk(s);
  const [up, down] = vms as [(typeof vms)[number], (typeof vms)[number]];
  await s.inventory.setVmStatus(up.id, 'Up');

  const refused = await submitRemoveDisk(
    s.client,
    { diskId: disk.id },
    { taskQueue: s.taskQueue, inventory: s.inventory },
  ).catch((err: unknown) => err);
  expect(refused).toBeInstanceOf(CommandRefusedError);
  expect((refused as CommandRefusedError).type).toBe(ErrorType.VmStatusNotAllowed);
  expect((refused as Error).message).toContain(`VM ${up.name}, which is Up`);
  expect((refused as Error).message).not.toContain(down.name);

  const { handle } = await submitRemoveDisk(s.client, { diskId: disk.id }, { taskQueue: s.taskQueue });
  const failure = await failureOf(handle.result());
  expect((failure.cause as ApplicationFailure).type).toBe(ErrorType.VmStatusNotAllowed);
  expect((failure.cause as ApplicationFailure).message).toContain(`VM ${up.name}`);
  expect(await s.inventory.getDisk(disk.id)).toMatchObject({ status: 'OK' });
  expect(await s.inventory.listDiskAttachments({ diskId: disk.id })).toHaveLength(2);
  expect(s.sim.calls('Image.delete')).toEqual([]);
  expect(await s.inventory.listLocks()).toEqual([]);
});

test('RemoveDisk of a shareable disk on two Down VMs removes it: shared VM locks, the ATTACHED_TO_VMS audit names both', async () => {
  stack = await startEngineStack({ faults: { durations: { 'Image.delete': 500 } } });
  const s = stack;
  const { disk, vms } = sharedDisk(s);
  expect(vms.map((v) => v.status)).toEqual(['Down', 'Down']);

  const { handle } = await submitRemoveDisk(
    s.client,
    { diskId: disk.id },
    { taskQueue: s.taskQueue, inventory: s.inventory },
  );
  // While it runs: the disk exclusively, each VM shared.
  let seen: Array<{ type: string; id: string; mode: string }> = [];
  for (let i = 0; i < 100 && seen.length === 0; i++) {
    seen = (await s.inventory.listLocks({ owner: handle.workflowId })).map(({ type, id, mode }) => ({
      type,
      id,
      mode,
    }));
    if (seen.length === 0) await new Promise((r) => setTimeout(r, 50));
  }
  expect(seen.sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual(
    [
      { type: 'DISK', id: disk.id, mode: 'exclusive' },
      ...vms.map((v) => ({ type: 'VM', id: v.id, mode: 'shared' })),
    ].sort((a, b) => (a.id < b.id ? -1 : 1)),
  );
  await handle.result();

  expect(await s.inventory.getDisk(disk.id)).toBeUndefined();
  expect(await s.inventory.listDiskAttachments({ diskId: disk.id })).toEqual([]);
  for (const vm of vms) expect(await s.inventory.getVm(vm.id)).toMatchObject({ status: 'Down' });
  const audit = await s.inventory.listAudit({ correlationId: handle.workflowId });
  const finished = audit.filter((a) => a.type === 'USER_FINISHED_REMOVE_DISK_ATTACHED_TO_VMS');
  expect(finished).toHaveLength(1);
  const names = [...vms.map((v) => v.name)].sort();
  expect(finished[0]!.message).toContain(`associated to the VMs ${names.join(', ')}`);
  expect(audit.map((a) => a.type)).not.toContain('USER_FINISHED_REMOVE_DISK');
  await expectClean(s, [disk.id]);
});

test('RemoveDisk: an Up VM the disk is unplugged from does not hold it', async () => {
  stack = await startEngineStack();
  const s = stack;
  const { disk, vms } = sharedDisk(s);
  // No port verb unplugs a disk: the store is changed behind its back, as the engine's UI would.
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(s.inventoryUrl.slice('sqlite:'.length));
  try {
    db.prepare('UPDATE vm_disks SET plugged = 0 WHERE vm_id = ? AND disk_id = ?').run(vms[0]!.id, disk.id);
  } finally {
    db.close();
  }
  await s.inventory.setVmStatus(vms[0]!.id, 'Up');
  const { handle } = await submitRemoveDisk(
    s.client,
    { diskId: disk.id },
    { taskQueue: s.taskQueue, inventory: s.inventory },
  );
  await handle.result();
  expect(await s.inventory.getDisk(disk.id)).toBeUndefined();
  await expectClean(s, [disk.id]);
});

test('RemoveVm of a VM sharing a disk leaves the shareable disk, attached to the other VM only', async () => {
  stack = await startEngineStack();
  const s = stack;
  const { disk, vms } = sharedDisk(s);
  const removed = s.vmByName(vms[0]!.name);
  expect(removed.disks).not.toContain(disk.id);
  const { handle } = await submitRemoveVm(s.client, { vmId: removed.id }, { taskQueue: s.taskQueue });
  const result = await handle.result();
  expect(result.removedDiskIds.sort()).toEqual([...removed.disks].sort());
  expect(s.sim.calls('Image.delete').map((c) => c.params.imageID)).not.toContain(disk.id);
  expect(await s.inventory.getDisk(disk.id)).toMatchObject({ status: 'OK', shareable: true });
  expect(await s.inventory.listDiskAttachments({ diskId: disk.id })).toEqual([
    { vmId: vms[1]!.id, diskId: disk.id, plugged: true, passDiscard: false },
  ]);
  expect(s.sim.imageExists(disk.domainId, disk.id)).toBe(true);
  await expectClean(s, [...removed.disks, disk.id]);
});
