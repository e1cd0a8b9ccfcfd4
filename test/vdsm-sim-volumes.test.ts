/**
 * What AddDisk and CreateSnapshot need from the simulator: Volume.create with a parent (a
 * snapshot) and its optional params, the rollback and Task.revert of a createVolume task,
 * Image.deleteVolumes, Volume.getInfo's fields, and the control endpoint's view of a chain.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { generateDataCenter } from '../src/fixture';
import { fixtureVolumes } from '../src/inventory/volumes';
import { startSimulator, type ChainVolume, type Simulator } from '../src/vdsm-sim';
import { BLANK_UUID, StorageModel } from '../src/vdsm-sim/storage';
import { eventually, RpcPeer, tempDir } from './vdsm-sim-helpers';

const fixture = generateDataCenter({ vmCount: 6 });
const poolId = fixture.pool.id;
const fileDomainId = fixture.domains[0]!.id;
const blockDomainId = fixture.domains[1]!.id;
type Disk = (typeof fixture.disks)[number];
/** Disks with a one-volume chain on file domains (the first domain's first): each test takes its own. */
const singles = [fileDomainId, fixture.domains[2]!.id].flatMap((domainId) =>
  fixture.disks.filter((d) => d.domainId === domainId && d.volumeIds.length === 1),
);
const twoVolumeDisk = fixture.disks.find((d) => d.domainId === fileDomainId && d.volumeIds.length === 2)!;

interface Status {
  taskID: string;
  taskState: string;
  taskResult: string;
  code: number;
  message: string;
}

let sim: Simulator;
let dir: { dir: string; remove(): void };
let spm: RpcPeer;
const peers: RpcPeer[] = [];

beforeEach(async () => {
  dir = tempDir('sim-volumes');
  sim = await startSimulator({ fixture, dataDir: dir.dir, basePort: 0, controlPort: 0 });
  spm = await RpcPeer.open(sim.hosts[0]!.port);
  peers.push(spm);
});

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.close();
  await sim.stop();
  dir.remove();
});

/** Volume.create of a snapshot on `disk`'s leaf, as CreateSnapshot sends it. */
function snapshotParams(disk: Disk, volumeID: string = randomUUID()): Record<string, unknown> {
  return {
    volumeID,
    storagepoolID: poolId,
    storagedomainID: disk.domainId,
    imageID: disk.id,
    size: String(disk.sizeBytes),
    volFormat: 4,
    preallocate: 2,
    diskType: 'DATA',
    desc: '',
    srcImgUUID: disk.id,
    srcVolUUID: disk.volumeIds[disk.volumeIds.length - 1],
    sequence: disk.volumeIds.length + 1,
  };
}

function baseParams(imageID: string, volumeID: string, extra: Record<string, unknown> = {}) {
  return {
    volumeID,
    storagepoolID: poolId,
    storagedomainID: fileDomainId,
    imageID,
    size: String(10 * 1024 ** 3),
    volFormat: 5,
    preallocate: 2,
    diskType: 'DATA',
    desc: '{"DiskAlias":"new"}',
    srcImgUUID: BLANK_UUID,
    srcVolUUID: BLANK_UUID,
    sequence: 1,
    ...extra,
  };
}

const status = (taskID: string): Promise<Status> => spm.call<Status>('Task.getStatus', { taskID });

function until(taskID: string, taskState: string, timeoutMs = 3000): Promise<Status> {
  return eventually(async () => {
    const s = await status(taskID);
    return s.taskState === taskState ? s : undefined;
  }, timeoutMs);
}

async function chainOf(domainId: string, imageId: string): Promise<ChainVolume[] | { error: string }> {
  const res = await fetch(`http://127.0.0.1:${sim.controlPort}/storage/${domainId}/${imageId}`);
  return (await res.json()) as ChainVolume[] | { error: string };
}

/** The chain as [id, voltype, legality] rows, base first. */
function shape(disk: Disk): Array<[string, string, string]> {
  return (sim.imageChain(disk.domainId, disk.id) ?? []).map((v) => [v.id, v.voltype, v.legality]);
}

function getInfo(disk: Disk, volumeID: string) {
  return spm.call<Record<string, unknown>>('Volume.getInfo', {
    volumeID,
    imageID: disk.id,
    storagepoolID: poolId,
    storagedomainID: disk.domainId,
  });
}

test('the seeded storage holds the chains the inventory seeds (format, allocation, legality, parents)', () => {
  // The running simulator's own seed, with one disk made ILLEGAL in a fixture of its own.
  const disks = fixture.disks.map((d, i) => (i === 0 ? { ...d, status: 'ILLEGAL' as const } : d));
  const illegal = { ...fixture, disks };
  const seedDir = tempDir('sim-seed');
  const other = StorageModel.open(join(seedDir.dir, poolId), illegal);
  seedDir.remove();
  const kinds = new Set<string>();
  for (const disk of disks) {
    const expected = fixtureVolumes(illegal, disk).map((v) => ({
      id: v.id,
      parent: v.parentId ?? BLANK_UUID,
      voltype: v.active ? 'LEAF' : 'INTERNAL',
      legality: v.legality,
      format: v.format,
      type: v.volumeType,
      capacity: v.sizeBytes,
    }));
    expect(other.chain(disk.domainId, disk.id)).toEqual(expected.map((e) => expect.objectContaining(e)));
    kinds.add(`${expected[0]!.format}/${expected[0]!.type}`);
  }
  // The default fixture has RAW bases on file domains and COW ones on block domains.
  expect([...kinds].sort()).toEqual(['COW/SPARSE', 'RAW/SPARSE']);
  expect(other.chain(disks[0]!.domainId, disks[0]!.id)?.[0]?.legality).toBe('ILLEGAL');
});

describe('Volume.create of a snapshot', () => {
  test('the parent turns INTERNAL at once; the new volume is ILLEGAL while created, then the LEGAL COW leaf', async () => {
    sim.setFaults({ durations: { 'Volume.create': 300 } });
    const disk = singles[0]!;
    const [base] = disk.volumeIds as [string];
    const snap = randomUUID();
    const taskID = await spm.call<string>('Volume.create', snapshotParams(disk, snap));
    await eventually(() => sim.imageChain(disk.domainId, disk.id)?.length === 2);
    expect(shape(disk)).toEqual([
      [base, 'INTERNAL', 'LEGAL'],
      [snap, 'LEAF', 'ILLEGAL'],
    ]);
    await until(taskID, 'finished');
    expect(await spm.call('Task.getInfo', { taskID })).toEqual({ id: taskID, verb: 'createVolume' });
    const chain = await chainOf(disk.domainId, disk.id);
    expect(chain).toEqual([
      expect.objectContaining({
        id: base,
        parent: BLANK_UUID,
        voltype: 'INTERNAL',
        legality: 'LEGAL',
        sequence: 1,
      }),
      {
        id: snap,
        parent: base,
        voltype: 'LEAF',
        legality: 'LEGAL',
        format: 'COW',
        type: 'SPARSE',
        capacity: disk.sizeBytes,
        generation: 0,
        sequence: 2,
      },
    ]);
    expect(await getInfo(disk, snap)).toMatchObject({
      uuid: snap,
      image: disk.id,
      domain: disk.domainId,
      parent: base,
      voltype: 'LEAF',
      format: 'COW',
      type: 'SPARSE',
      legality: 'LEGAL',
      status: 'OK',
      capacity: String(disk.sizeBytes),
      generation: 0,
      sequence: 2,
      disktype: 'DATA',
      lease: expect.objectContaining({ owners: [] }),
      // VDSM never fills it in.
      children: [],
    });
    expect(await getInfo(disk, base)).toMatchObject({ voltype: 'INTERNAL', parent: BLANK_UUID });
  });

  test('an unknown image or domain on the control route is 404', async () => {
    const res = await fetch(`http://127.0.0.1:${sim.controlPort}/storage/${fileDomainId}/${randomUUID()}`);
    expect(res.status).toBe(404);
  });

  test('a second Volume.create with the same id fails with 212 and keeps the first volume', async () => {
    const disk = singles[1]!;
    const snap = randomUUID();
    await until(await spm.call<string>('Volume.create', snapshotParams(disk, snap)), 'finished');
    const before = sim.imageChain(disk.domainId, disk.id);
    const again = await spm.call<string>('Volume.create', {
      ...snapshotParams(disk, snap),
      srcVolUUID: disk.volumeIds[0],
    });
    expect(await until(again, 'finished')).toEqual({
      taskID: again,
      taskState: 'finished',
      taskResult: 'cleanSuccess',
      code: 212,
      message: `value=Volume already exists: ('${snap}',) abortedcode=212`,
    });
    expect(sim.imageChain(disk.domainId, disk.id)).toEqual(before);
  });

  test.each([
    ['failure of the job', { failures: [{ verb: 'Volume.create', phase: 'task', code: 205 }] }, 205],
    ['Task.stop (a snapshot is no abortable job: it completes, then rolls back)', {}, 411],
  ])(
    'rolled back after %s: the new volume goes, the parent is the LEAF again',
    async (_what, faults, code) => {
      sim.setFaults({ durations: { 'Volume.create': 300 }, ...faults });
      const disk = singles[2]!;
      const snap = randomUUID();
      const taskID = await spm.call<string>('Volume.create', snapshotParams(disk, snap));
      if (code === 411) {
        await eventually(() => sim.listTasks().find((t) => t.id === taskID)?.state === 'running');
        await spm.call('Task.stop', { taskID });
      }
      const ended = await until(taskID, 'finished');
      expect(ended).toMatchObject({ taskResult: 'cleanSuccess', code });
      if (code === 411) {
        expect(ended.message).toBe('value=shutting down abortedcode=411');
        // "shutting down": the job ran to its end before the task aborted.
      }
      expect(
        sim
          .listTasks()
          .find((t) => t.id === taskID)!
          .history.slice(-5),
      ).toEqual(['running', 'aborting', 'racquiring', 'recovering', 'recovered']);
      expect(shape(disk)).toEqual([[disk.volumeIds[0], 'LEAF', 'LEGAL']]);
    },
  );

  test('an SPM restart mid-task: the next SPM rolls the snapshot back from the task file', async () => {
    sim.setFaults({ durations: { 'Volume.create': 60_000 } });
    const disk = singles[3]!;
    const taskID = await spm.call<string>('Volume.create', snapshotParams(disk));
    await eventually(() => sim.imageChain(disk.domainId, disk.id)?.length === 2);
    await sim.restart();
    const peer = await RpcPeer.open(sim.hosts[0]!.port);
    peers.push(peer);
    const ended = await eventually(async () => {
      const s = await peer.call<Status>('Task.getStatus', { taskID });
      return s.taskState === 'finished' ? s : undefined;
    });
    expect(ended.taskResult).toBe('cleanSuccess');
    expect(shape(disk)).toEqual([[disk.volumeIds[0], 'LEAF', 'LEGAL']]);
  });

  test('the chain survives a restart and a failover', async () => {
    const disk = singles[4]!;
    const snap = randomUUID();
    await until(await spm.call<string>('Volume.create', snapshotParams(disk, snap)), 'finished');
    const chain = sim.imageChain(disk.domainId, disk.id);
    await sim.restart();
    expect(sim.imageChain(disk.domainId, disk.id)).toEqual(chain);
    await sim.failover();
    expect(sim.imageChain(disk.domainId, disk.id)).toEqual(chain);
    expect(chain?.map((v) => v.voltype)).toEqual(['INTERNAL', 'LEAF']);
  });

  test('the parent must exist, be LEGAL, not be smaller, and live in the same image', async () => {
    const disk = singles[5]!;
    const missing = randomUUID();
    const failsWith = async (params: Record<string, unknown>): Promise<Status> =>
      until(await spm.call<string>('Volume.create', params), 'finished');

    expect(await failsWith({ ...snapshotParams(disk), srcVolUUID: missing })).toMatchObject({
      taskResult: 'cleanSuccess',
      code: 201,
      message: `value=Volume does not exist: ('${missing}',) abortedcode=201`,
    });
    // A smaller child: InvalidParameterException is no storage error, the task gets 100.
    const small = await failsWith({ ...snapshotParams(disk), size: String(1024 ** 3) });
    expect(small).toMatchObject({
      code: 100,
      message: `value=Invalid parameter: 'capacity=${1024 ** 3}' abortedcode=100`,
    });
    // Another image's volume that is no template.
    const other = singles[6]!;
    const vol = randomUUID();
    const cross = await failsWith({
      ...snapshotParams(disk, vol),
      srcImgUUID: other.id,
      srcVolUUID: other.volumeIds[0],
    });
    expect(cross.code).toBe(216);
    expect(cross.message).toBe(
      `value=Cannot get parent volume: ("Couldn't get parent ${other.volumeIds[0]} for volume ${vol}: ` +
        `Volume cannot be shared, it's not Shared/Template volume: ['sdUUID: ${fileDomainId}', ` +
        `'imgUUID: ${other.id}', 'volUUID: ${other.volumeIds[0]}']",) abortedcode=216`,
    );
    // An ILLEGAL parent: created with legal=false, then snapshotted.
    const image = randomUUID();
    const illegal = randomUUID();
    const created = await spm.call<string>(
      'Volume.create',
      baseParams(image, illegal, { volFormat: 4, legal: false }),
    );
    expect((await until(created, 'finished')).taskResult).toBe('success');
    expect(sim.imageChain(fileDomainId, image)).toEqual([
      expect.objectContaining({ id: illegal, legality: 'ILLEGAL' }),
    ]);
    const onIllegal = await failsWith({
      ...baseParams(image, randomUUID(), { volFormat: 4 }),
      srcImgUUID: image,
      srcVolUUID: illegal,
    });
    expect(onIllegal).toMatchObject({
      code: 226,
      message: `value=Cannot create volume snapshot from illegal volume: ('${illegal}',) abortedcode=226`,
    });
    expect(shape(disk)).toEqual([[disk.volumeIds[0], 'LEAF', 'LEGAL']]);
  });

  test('synchronous checks: a parent needs COW, bitmaps need a parent, ids are lower-case UUIDs', async () => {
    const disk = singles[7]!;
    expect(await spm.error('Volume.create', { ...snapshotParams(disk), volFormat: 5 })).toEqual({
      code: 202,
      message: "Incorrect Volume format: ('RAW',)",
    });
    expect(
      await spm.error(
        'Volume.create',
        baseParams(randomUUID(), randomUUID(), { volFormat: 4, addBitmaps: true }),
      ),
    ).toEqual({
      code: 2009,
      message: `Unsupported operation: "reason=Cannot add bitmaps without a parent volume, context={'srcVolUUID': '${BLANK_UUID}', 'add_bitmaps': True}"`,
    });
    const upper = randomUUID().toUpperCase();
    expect(await spm.error('Volume.create', baseParams(upper, randomUUID()))).toEqual({
      code: 1000,
      message: `Invalid parameter: 'imgUUID=${upper}'`,
    });
    expect(
      await spm.error('Volume.create', baseParams(randomUUID(), randomUUID(), { initialSize: '-1' })),
    ).toEqual({
      code: 1000,
      message: "Invalid parameter: 'initialSize=-1'",
    });
    expect(await spm.call('Host.getAllTasksStatuses')).toEqual({});
  });

  test('optional params: legal=false stays ILLEGAL, sequence and initialSize are kept, size rounds up to 4 KiB', async () => {
    const image = randomUUID();
    const volume = randomUUID();
    const taskID = await spm.call<string>(
      'Volume.create',
      baseParams(image, volume, {
        storagedomainID: blockDomainId,
        volFormat: 4,
        size: '1000000',
        initialSize: '4096',
        sequence: 7,
        legal: false,
      }),
    );
    expect((await until(taskID, 'finished')).taskResult).toBe('success');
    expect(
      await spm.call('Volume.getInfo', {
        volumeID: volume,
        imageID: image,
        storagepoolID: poolId,
        storagedomainID: blockDomainId,
      }),
    ).toMatchObject({
      legality: 'ILLEGAL',
      status: 'ILLEGAL',
      sequence: 7,
      capacity: String(Math.ceil(1_000_000 / 4096) * 4096),
      apparentsize: '4096',
      format: 'COW',
      parent: BLANK_UUID,
    });
  });
});

test('Volume.create whose answer is lost: the task runs; a retry with the same id fails 212 and the volume stays', async () => {
  sim.setFaults({ durations: { 'Volume.create': 200 }, dropConnections: { afterRequests: 1 } });
  const disk = singles[10]!;
  const snap = randomUUID();
  const lost = await RpcPeer.open(sim.hosts[0]!.port);
  peers.push(lost);
  await expect(lost.request('Volume.create', snapshotParams(disk, snap), 1000)).rejects.toThrow();
  sim.setFaults({ dropConnections: null });
  const [first] = Object.keys(await spm.call<Record<string, unknown>>('Host.getAllTasksInfo'));
  expect((await until(first!, 'finished')).taskResult).toBe('success');
  const retry = await spm.call<string>('Volume.create', snapshotParams(disk, snap));
  expect(await until(retry, 'finished')).toMatchObject({ taskResult: 'cleanSuccess', code: 212 });
  expect(shape(disk)).toEqual([
    [disk.volumeIds[0], 'INTERNAL', 'LEGAL'],
    [snap, 'LEAF', 'LEGAL'],
  ]);
});

describe('Task.revert of a createVolume task', () => {
  test('finished+success: the snapshot goes, the parent is the LEAF again; then 441; running: 403', async () => {
    sim.setFaults({ durations: { 'Volume.create': 200 } });
    const disk = singles[8]!;
    const taskID = await spm.call<string>('Volume.create', snapshotParams(disk));
    expect((await spm.error('Task.revert', { taskID })).code).toBe(403);
    await until(taskID, 'finished');
    expect(await spm.call('Task.revert', { taskID })).toBe(true);
    expect(await status(taskID)).toEqual({
      taskID,
      taskState: 'finished',
      taskResult: 'cleanSuccess',
      code: 0,
      message: '1 jobs completed successfully',
    });
    expect(shape(disk)).toEqual([[disk.volumeIds[0], 'LEAF', 'LEGAL']]);
    expect(await spm.error('Task.revert', { taskID })).toEqual({
      code: 441,
      message: "cannot move task to requested state: ('from recovered to racquiring',)",
    });
  });

  test('fault knobs: a task rule on Task.revert fails the rollback (cleanFailure), a sync rule answers an error', async () => {
    const disk = singles[9]!;
    const snap = randomUUID();
    const taskID = await spm.call<string>('Volume.create', snapshotParams(disk, snap));
    await until(taskID, 'finished');
    sim.setFaults({ failures: [{ verb: 'Task.revert', phase: 'sync', code: 851, count: 1 }] });
    expect(await spm.error('Task.revert', { taskID })).toEqual({
      code: 851,
      message: "Resource timeout: ('injected fault',)",
    });
    sim.setFaults({ failures: [{ verb: 'Task.revert', phase: 'task', code: 100 }] });
    expect(await spm.call('Task.revert', { taskID })).toBe(true);
    expect((await status(taskID)).taskResult).toBe('cleanFailure');
    expect(shape(disk)).toEqual([
      [disk.volumeIds[0], 'INTERNAL', 'LEGAL'],
      [snap, 'LEAF', 'LEGAL'],
    ]);
  });
});

describe('Image.deleteVolumes', () => {
  const deleteParams = (disk: Disk, volumeList: string[], extra: Record<string, unknown> = {}) => ({
    imageID: disk.id,
    storagepoolID: poolId,
    storagedomainID: disk.domainId,
    volumeList,
    ...extra,
  });

  test('an SPM task deleteVolume: the top volume goes and its parent is the LEAF again', async () => {
    sim.setFaults({ durations: { 'Image.deleteVolumes': 300 } });
    const disk = twoVolumeDisk;
    const [base, top] = disk.volumeIds as [string, string];
    const taskID = await spm.call<string>('Image.deleteVolumes', deleteParams(disk, [top]));
    expect(await spm.call('Host.getAllTasksInfo')).toEqual({
      [taskID]: { id: taskID, verb: 'deleteVolume' },
    });
    // The work takes its time: nothing is gone until the job ends.
    expect(shape(disk)).toHaveLength(2);
    expect((await until(taskID, 'finished')).taskResult).toBe('success');
    expect(shape(disk)).toEqual([[base, 'LEAF', 'LEGAL']]);
    expect(
      await spm.call('Image.getVolumes', {
        imageID: disk.id,
        storagepoolID: poolId,
        storagedomainID: disk.domainId,
      }),
    ).toEqual([base]);
  });

  test('in the task: a missing volume is 201, a volume with children 100, discard on file 349', async () => {
    const disk = fixture.disks.filter((d) => d.domainId === fileDomainId && d.volumeIds.length === 2)[1]!;
    const [base, top] = disk.volumeIds as [string, string];
    const missing = randomUUID();
    const run = async (params: Record<string, unknown>): Promise<Status> =>
      until(await spm.call<string>('Image.deleteVolumes', params), 'finished');

    expect(await run(deleteParams(disk, [missing]))).toMatchObject({
      taskResult: 'cleanSuccess',
      code: 201,
      message: `value=Volume does not exist: ('${missing}',) abortedcode=201`,
    });
    expect(await run(deleteParams(disk, [base]))).toMatchObject({
      code: 100,
      message:
        `value=Cannot delete volume which has children (non-ethical): ['sdUUID: ${fileDomainId}', ` +
        `'imgUUID: ${disk.id}', 'volUUID: ${base}'] abortedcode=100`,
    });
    expect(await run(deleteParams(disk, [top], { discard: true }))).toMatchObject({
      code: 349,
      message: `value=Discard is not supported by storage domain: 'sdUUID=${fileDomainId}, reason=file storage domain' abortedcode=349`,
    });
    expect(shape(disk)).toHaveLength(2);
    // Volumes go in the order given; the one before a failure stays deleted (nothing is rolled back).
    expect(await run(deleteParams(disk, [top, missing]))).toMatchObject({ code: 201 });
    expect(shape(disk)).toEqual([[base, 'LEAF', 'LEGAL']]);
  });

  test('synchronous refusals: off the SPM 654 with the pool, a bad image id 1000; no task is left', async () => {
    const other = await RpcPeer.open(sim.hosts[1]!.port);
    peers.push(other);
    const disk = twoVolumeDisk;
    expect(await other.error('Image.deleteVolumes', deleteParams(disk, [disk.volumeIds[1]!]))).toEqual({
      code: 654,
      message: `Not SPM: ('${poolId}',)`,
    });
    expect(await spm.error('Image.deleteVolumes', { ...deleteParams(disk, []), imageID: 'x' })).toEqual({
      code: 1000,
      message: "Invalid parameter: 'imgUUID=x'",
    });
    expect(await spm.call('Host.getAllTasksStatuses')).toEqual({});
  });

  test('fault knobs: sync error, task failure with a code, and a lost answer (the task exists)', async () => {
    const disk = twoVolumeDisk;
    const top = disk.volumeIds[1]!;
    sim.setFaults({ failures: [{ verb: 'Image.deleteVolumes', phase: 'sync', code: 851, count: 1 }] });
    expect((await spm.error('Image.deleteVolumes', deleteParams(disk, [top]))).code).toBe(851);
    sim.setFaults({ failures: [{ verb: 'Image.deleteVolumes', phase: 'task', code: 222, count: 1 }] });
    const failed = await until(
      await spm.call<string>('Image.deleteVolumes', deleteParams(disk, [top])),
      'finished',
    );
    expect(failed).toMatchObject({
      code: 222,
      message: "value=Volume deletion error: ('injected fault',) abortedcode=222",
    });
    expect(shape(disk)).toHaveLength(2);

    sim.setFaults({
      failures: null,
      durations: { 'Image.deleteVolumes': 60_000 },
      dropConnections: { afterRequests: 1 },
    });
    const lost = await RpcPeer.open(sim.hosts[0]!.port);
    peers.push(lost);
    await expect(lost.request('Image.deleteVolumes', deleteParams(disk, [top]), 1000)).rejects.toThrow();
    sim.setFaults({ dropConnections: null });
    const tasks = await spm.call<Record<string, { verb: string }>>('Host.getAllTasksInfo');
    expect(Object.values(tasks).filter((t) => t.verb === 'deleteVolume')).toHaveLength(2);
  });
});
