/**
 * The rules behind RemoveDisk and Image.delete's parameters, without Temporal: imagePlan as
 * PostDeleteActionHandler fixes postZero and discard, and checkRemoveDisk over a disk's
 * attachments (every VM must be Down, or have the disk unplugged), on a seeded SQLite inventory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { generateDataCenter } from '../src/fixture';
import { openInventory, type Disk, type InventoryRepository, type StorageDomain } from '../src/inventory';
import { checkRemoveDisk, checkRemoveVm, imagePlan } from '../src/rules/remove';
import { Refusal } from '../src/rules/refusal';
import { ErrorType } from '../src/shared/errors';

const DISK: Disk = {
  id: 'd1',
  poolId: 'p',
  alias: 'disk',
  vmId: null,
  domainId: 'sd',
  sizeBytes: 1024,
  wipeAfterDelete: true,
  shareable: true,
  status: 'OK',
  volumeIds: ['v1'],
  format: 'RAW',
  volumeType: 'SPARSE',
};
const domain = (
  kind: 'block' | 'file',
  discardAfterDelete: boolean,
  supportsDiscard: boolean,
): StorageDomain => ({
  id: 'sd',
  poolId: 'p',
  name: `sd-${kind}`,
  storageType: kind === 'block' ? 'iscsi' : 'nfs',
  discardAfterDelete,
  supportsDiscard,
  kind,
  sizeBytes: 1,
  freeBytes: 1,
});
const attached = (passDiscard: boolean, diskId = 'd1') => ({
  vmId: 'vm',
  diskId,
  plugged: true,
  passDiscard,
});

describe('imagePlan: PostDeleteActionHandler', () => {
  test('postZero only for a wipe-after-delete disk on a block domain', () => {
    expect(imagePlan(DISK, domain('block', false, true)).postZero).toBe(true);
    expect(imagePlan(DISK, domain('file', false, false)).postZero).toBe(false);
    expect(imagePlan({ ...DISK, wipeAfterDelete: false }, domain('block', false, true)).postZero).toBe(false);
    expect(imagePlan(DISK, undefined).postZero).toBe(false);
  });

  test.each([
    // discardAfterDelete, supportsDiscard, some attachment passes discards → discard
    [true, true, false, true],
    [true, false, false, false],
    [true, false, true, false],
    [false, true, true, true],
    [false, true, false, false],
    [false, false, true, false],
    [false, false, false, false],
  ])(
    'discard-after-delete %s, supports discard %s, pass-discard %s → discard %s',
    (dad, supports, pass, want) => {
      expect(imagePlan(DISK, domain('block', dad, supports), [attached(false), attached(pass)]).discard).toBe(
        want,
      );
    },
  );

  test('only this disk’s attachments count', () => {
    expect(imagePlan(DISK, domain('block', false, true), [attached(true, 'other')]).discard).toBe(false);
  });
});

describe('checkRemoveDisk over attachments', () => {
  const fixture = generateDataCenter({ name: 'Rules', vmCount: 6, hostCount: 1 });
  const shared = fixture.disks.find((d) => d.shareable)!;
  const [a, b] = shared.attachedTo!.map((x) => fixture.vms.find((v) => v.id === x.vmId)!);
  let dir: string;
  let file: string;
  let inv: InventoryRepository;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-rules-'));
    file = join(dir, 'inventory.db');
    inv = openInventory(`sqlite:${file}`);
    await inv.init({ fixture, vdsmAddress: '127.0.0.1', vdsmBasePort: 54_800 });
  });
  afterEach(async () => {
    await inv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const refusal = async (promise: Promise<unknown>): Promise<Refusal> => {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(err instanceof Refusal)) throw new Error(`expected a Refusal, got ${String(err)}`);
    return err;
  };
  const unplug = (vmId: string) => {
    const db = new Database(file);
    try {
      db.prepare('UPDATE vm_disks SET plugged = 0 WHERE vm_id = ? AND disk_id = ?').run(vmId, shared.id);
    } finally {
      db.close();
    }
  };

  test('both VMs Down: passes and returns both, by name', async () => {
    const { vms } = await checkRemoveDisk(inv, { diskId: shared.id, force: false });
    expect(vms.map((v) => v.name)).toEqual([a!.name, b!.name].sort());
  });

  test.each(['Up', 'ImageLocked', 'ImageIllegal', 'Unassigned'] as const)(
    'a VM that is %s with the disk plugged refuses it, naming only that VM',
    async (status) => {
      await inv.setVmStatus(b!.id, status);
      const err = await refusal(checkRemoveDisk(inv, { diskId: shared.id, force: true }));
      expect(err.type).toBe(ErrorType.VmStatusNotAllowed);
      expect(err.message).toContain(`VM ${b!.name}, which is ${status}`);
      expect(err.message).not.toContain(a!.name);
    },
  );

  test('a running VM the disk is unplugged from lets it go, and is still named', async () => {
    await inv.setVmStatus(a!.id, 'Up');
    unplug(a!.id);
    const { vms } = await checkRemoveDisk(inv, { diskId: shared.id, force: false });
    expect(vms.map((v) => v.id).sort()).toEqual([a!.id, b!.id].sort());
  });

  test('a non-shareable disk of an Up VM is refused; a floating disk names no VM', async () => {
    const upVm = fixture.vms.find((v) => v.status === 'Up')!;
    const own = fixture.disks.find((d) => d.vmId === upVm.id)!;
    const err = await refusal(checkRemoveDisk(inv, { diskId: own.id, force: false }));
    expect(err.message).toContain(`VM ${upVm.name}, which is Up`);
    const floating = fixture.disks.find((d) => d.vmId === null && !d.shareable)!;
    expect((await checkRemoveDisk(inv, { diskId: floating.id, force: false })).vms).toEqual([]);
  });

  test('RemoveVm of a VM sharing the disk leaves the shareable disk out', async () => {
    const { disks } = await checkRemoveVm(inv, { vmId: a!.id, force: false });
    expect(disks.map((d) => d.id)).not.toContain(shared.id);
    expect(disks.map((d) => d.id).sort()).toEqual(
      fixture.disks
        .filter((d) => d.vmId === a!.id)
        .map((d) => d.id)
        .sort(),
    );
  });
});
