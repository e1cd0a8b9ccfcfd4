/**
 * A MoveDisk and a CopyDisk terminated mid-copy (client terminate(): their own end never runs):
 * the janitor's sweep waits for the copy job's step (a job runs to its end after the command
 * closed), then removes the destination image the command left (a RemoveImage step it starts),
 * and only then puts the disk back OK on its source and releases the locks; a MoveDisk terminated
 * while its source is removed ends on its destination. `ovirt-tasks unlock` (the BUILT CLI, `npm run
 * build` first) does the same in two calls. Real parts: the suite's dev server, the simulator, a
 * SQLite inventory, an in-process worker.
 */
import { randomUUID } from 'node:crypto';
import { OrphanAuditType } from '../src/activities/orphan-release';
import { queryCommandState } from '../src/client';
import { workflowIds } from '../src/shared/names';
import { assertCliBuilt, type CliResult } from './support/cli';
import { eventually, stackPerTest, type EngineStack } from './support/engine-stack';
import { auditTypes, sweep } from './support/janitor';
import { runStackCli } from './support/stack-cli';
import { expectStorageMatchesInventory, floatingDisk, startCopyDisk, startMoveDisk } from './support/storage';

jest.setTimeout(150_000);

const stacks = stackPerTest();

/** The domains whose storage holds the image. */
function domainsHolding(s: EngineStack, imageId: string): string[] {
  return Object.entries(s.sim.storageSnapshot())
    .filter(([, d]) => imageId in d.images)
    .map(([domainId]) => domainId);
}

async function terminateWhileRunning(
  s: EngineStack,
  owner: string,
  step: 'CopyData' | 'RemoveImage' = 'CopyData',
): Promise<void> {
  await eventually(
    async () =>
      (await queryCommandState(s.client, owner)).tasks.some(
        (t) => t.commandType === step && t.state === 'Polling',
      )
        ? true
        : undefined,
    30_000,
    `its ${step} step running`,
  );
  await s.client.workflow.getHandle(owner).terminate('test: no clean-up of its own');
}

/** Sweeps until the owner's locks are released; checks a removal step was started on the way (or not). */
async function sweepUntilReleased(s: EngineStack, owner: string, removal = true) {
  const whys: string[] = [];
  const released = await eventually(
    async () => {
      const report = await sweep(s);
      const waiting = report.orphans.waiting.find((w) => w.owner === owner);
      if (waiting) whys.push(waiting.why);
      return report.orphans.released.find((r) => r.owner === owner);
    },
    90_000,
    `the janitor released the locks of ${owner}`,
  );
  expect(whys.some((w) => /removing what it left on storage: .*\/RemoveImage\//.test(w))).toBe(removal);
  return released;
}

const durations = { 'Volume.create': 100, 'SDM.copy_data': 5_000, 'Image.delete': 300 };

test('MoveDisk terminated mid-copy: the sweep waits for the job, removes the destination, the disk is OK on its source', async () => {
  const s = await stacks.start({ faults: { durations } });
  const { disk, to } = floatingDisk(s);
  const owner = workflowIds.moveDisk(disk.id);
  await startMoveDisk(s, disk.id, to.id);
  await terminateWhileRunning(s, owner);
  expect((await s.inventory.getDisk(disk.id))?.status).toBe('LOCKED');
  expect((await s.inventory.listLocks({ owner })).length).toBeGreaterThan(0);

  // The copy step still follows its job: nothing is released yet.
  const early = await sweep(s);
  expect(early.orphans.waiting.find((w) => w.owner === owner)?.why).toMatch(/CopyData.*still running/);
  expect((await s.inventory.getDisk(disk.id))?.status).toBe('LOCKED');

  const released = await sweepUntilReleased(s, owner);
  expect(released.unproven).toEqual([]);
  expect(released.changes).toEqual([expect.stringMatching(/LOCKED -> OK/)]);
  expect(await s.inventory.listLocks({ owner })).toEqual([]);
  expect(await s.inventory.getDisk(disk.id)).toMatchObject({ status: 'OK', domainId: disk.domainId });
  // Storage = inventory: the image is on its source only (the destination was removed).
  expect(domainsHolding(s, disk.id)).toEqual([disk.domainId]);
  const types = await auditTypes(s, owner);
  expect(types).toEqual(
    expect.arrayContaining([
      OrphanAuditType.imageRemovalStarted,
      OrphanAuditType.statusRestored,
      OrphanAuditType.locksReleased,
    ]),
  );
  await expectStorageMatchesInventory(s);
});

test('CopyDisk terminated mid-copy: the sweep waits for the job, removes the copy (image, then row), the source is OK', async () => {
  const s = await stacks.start({ faults: { durations } });
  const { disk, to } = floatingDisk(s);
  const commandId = randomUUID();
  const owner = workflowIds.copyDisk(commandId);
  await startCopyDisk(s, disk.id, to.id, commandId);
  await terminateWhileRunning(s, owner);
  const copyId = (await s.inventory.listLocks({ owner })).find(
    (l) => l.type === 'DISK' && l.id !== disk.id,
  )!.id;
  expect((await s.inventory.getDisk(copyId))?.status).toBe('LOCKED');
  expect((await s.inventory.getDisk(disk.id))?.status).toBe('LOCKED');

  const released = await sweepUntilReleased(s, owner);
  expect(released.unproven).toEqual([]);
  expect(released.changes).toEqual(
    expect.arrayContaining([
      expect.stringMatching(new RegExp(`${copyId}.*removed from the inventory`)),
      expect.stringMatching(new RegExp(`${disk.id}.*LOCKED -> OK`)),
    ]),
  );
  expect(await s.inventory.listLocks({ owner })).toEqual([]);
  expect(await s.inventory.getDisk(copyId)).toBeUndefined();
  expect((await s.inventory.getDisk(disk.id))?.status).toBe('OK');
  expect(domainsHolding(s, copyId)).toEqual([]);
  expect(domainsHolding(s, disk.id)).toEqual([disk.domainId]);
  const types = await auditTypes(s, owner);
  expect(types).toEqual(
    expect.arrayContaining([
      OrphanAuditType.imageRemovalStarted,
      OrphanAuditType.removed,
      OrphanAuditType.locksReleased,
    ]),
  );
  await expectStorageMatchesInventory(s);
});

test('MoveDisk terminated while its source is being removed: the sweep waits for that step, then the disk is OK on its destination', async () => {
  const s = await stacks.start({
    faults: { durations: { ...durations, 'SDM.copy_data': 300, 'Image.delete': 3_000 } },
  });
  const { disk, to } = floatingDisk(s);
  const owner = workflowIds.moveDisk(disk.id);
  await startMoveDisk(s, disk.id, to.id);
  await terminateWhileRunning(s, owner, 'RemoveImage');
  expect(await s.inventory.getDisk(disk.id)).toMatchObject({ status: 'LOCKED', domainId: disk.domainId });
  // The source's removal still runs (VDSM purges to the end even when stopped): nothing moves yet.
  const early = await sweep(s);
  expect(early.orphans.waiting.find((w) => w.owner === owner)?.why).toMatch(/RemoveImage.*still running/);

  const released = await sweepUntilReleased(s, owner, false);
  expect(released.unproven).toEqual([]);
  expect(released.changes).toEqual([
    expect.stringMatching(new RegExp(`moved to .*\\(${to.id}\\), LOCKED -> OK`)),
  ]);
  expect(await s.inventory.listLocks({ owner })).toEqual([]);
  expect(await s.inventory.getDisk(disk.id)).toMatchObject({ status: 'OK', domainId: to.id });
  expect(domainsHolding(s, disk.id)).toEqual([to.id]);
  const types = await auditTypes(s, owner);
  expect(types).toEqual(
    expect.arrayContaining([OrphanAuditType.statusRestored, OrphanAuditType.locksReleased]),
  );
  expect(types).not.toContain(OrphanAuditType.imageRemovalStarted);
  await expectStorageMatchesInventory(s);
});

/** `ovirt-tasks unlock …` (the built CLI) against the stack. */
const unlock = (s: EngineStack, args: string[]): Promise<CliResult> => runStackCli(s, ['unlock', ...args]);

test('ovirt-tasks unlock of a disk a terminated MoveDisk left: the destination is removed first, then a second unlock restores the disk', async () => {
  assertCliBuilt();
  const s = await stacks.start({ faults: { durations } });
  const { disk, to } = floatingDisk(s);
  const owner = workflowIds.moveDisk(disk.id);
  await startMoveDisk(s, disk.id, to.id);
  await terminateWhileRunning(s, owner);
  const removal = workflowIds.taskStep(owner, 'RemoveImage', disk.id);
  // Refused while the copy step follows its job; then the plan starts with the removal.
  await eventually(
    async () => ((await unlock(s, ['disk', disk.id, '--dry-run'])).status === 0 ? true : undefined),
    30_000,
    'the copy step ended',
  );
  const dry = await unlock(s, ['disk', disk.id, '--dry-run']);
  expect(dry.stdout).toContain(`(${removal})`);
  expect(dry.stdout).toMatch(/dry run: nothing was changed/);
  expect(domainsHolding(s, disk.id).sort()).toEqual([disk.domainId, to.id].sort());

  const first = await unlock(s, ['disk', disk.id]);
  expect(first.status).toBe(0);
  expect(first.stdout).toMatch(/removal started \(audited\): .*RemoveImage.*run unlock again once it ends/);
  expect((await s.inventory.getDisk(disk.id))?.status).toBe('LOCKED');
  await s.client.workflow.getHandle(removal).result();

  const second = await unlock(s, ['disk', disk.id]);
  expect(second.status).toBe(0);
  expect(second.stdout).toMatch(/LOCKED -> OK/);
  expect(second.stdout).toMatch(/done \(audited\)/);
  expect(await s.inventory.listLocks({ owner })).toEqual([]);
  expect(await s.inventory.getDisk(disk.id)).toMatchObject({ status: 'OK', domainId: disk.domainId });
  expect(domainsHolding(s, disk.id)).toEqual([disk.domainId]);
  await expectStorageMatchesInventory(s);
});
