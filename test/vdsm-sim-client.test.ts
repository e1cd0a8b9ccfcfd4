/**
 * The project's own VDSM client (createVdsmConnector) against the simulator: every typed verb
 * parses what the simulator sends, and VDSM errors arrive as typed VdsmErrors.
 */
import { randomUUID } from 'node:crypto';
import { generateDataCenter } from '../src/fixture';
import { createVdsmConnector, type VdsmHostConnector } from '../src/vdsm';
import { isVdsmError, VdsmCode } from '../src/vdsm/errors';
import type { VdsmEvent } from '../src/vdsm/channel';
import type { VdsmHostApi, VdsmTaskStatus } from '../src/vdsm/port';
import { startSimulator, type Simulator } from '../src/vdsm-sim';
import { BLANK_UUID } from '../src/vdsm-sim/storage';
import { eventually, tempDir } from './vdsm-sim-helpers';

const fixture = generateDataCenter({ vmCount: 4 });
const poolId = fixture.pool.id;
const disk = fixture.disks[0]!;

let dir: { dir: string; remove(): void };
let sim: Simulator;
let connector: VdsmHostConnector;

beforeAll(async () => {
  dir = tempDir('sim-client');
  sim = await startSimulator({ fixture, dataDir: dir.dir, basePort: 0, faults: { durations: { '*': 100 } } });
  connector = createVdsmConnector({ requestTimeoutMs: 5000 });
});

afterAll(async () => {
  await connector.close();
  await sim.stop();
  dir.remove();
});

const api = (index: number): ReturnType<VdsmHostConnector['host']> => {
  const host = sim.hosts[index]!;
  return connector.host({ hostId: host.hostId, address: host.address, port: host.port });
};

async function rejection(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (err) {
    return err;
  }
  throw new Error('the call succeeded');
}

function untilEnded(host: VdsmHostApi, taskID: string): Promise<VdsmTaskStatus> {
  return eventually(async () => {
    const status = await host.taskGetStatus(taskID);
    return status.taskState === 'finished' ? status : undefined;
  });
}

test('SPM discovery and the read verbs', async () => {
  expect(await api(0).storagePoolGetSpmStatus(poolId)).toEqual({ spmStatus: 'SPM', spmLver: 0, spmId: 1 });
  expect(await api(1).storagePoolGetSpmStatus(poolId)).toEqual({ spmStatus: 'Free', spmLver: 0, spmId: 1 });
  expect(await api(1).hostGetConnectedStoragePools()).toEqual([poolId]);
  expect(await api(1).storageDomainGetImages(disk.domainId)).toContain(disk.id);
  expect(
    await api(1).imageGetVolumes({ imageID: disk.id, storagepoolID: poolId, storagedomainID: disk.domainId }),
  ).toEqual(disk.volumeIds);
  const info = await api(0).storagePoolGetInfo(poolId);
  expect(info).toMatchObject({ info: { master_uuid: fixture.pool.masterDomainId, spm_id: 1 } });
});

test('Image.delete as a task: status, info, clear; a retry is 268; off the SPM, 654', async () => {
  const spm = api(0);
  const taskID = await spm.imageDelete({
    imageID: disk.id,
    storagepoolID: poolId,
    storagedomainID: disk.domainId,
    postZero: false,
    force: false,
    discard: false,
  });
  expect(Object.keys(await spm.hostGetAllTasksStatuses())).toContain(taskID);
  expect(await spm.hostGetAllTasksInfo()).toMatchObject({ [taskID]: { id: taskID, verb: 'deleteImage' } });
  expect(await untilEnded(spm, taskID)).toMatchObject({ taskResult: 'success', code: 0 });
  expect(await spm.hostGetAllTasks()).toMatchObject({
    [taskID]: { state: 'finished', tag: 'spm', result: '' },
  });

  const retry = await rejection(
    spm.imageDelete({
      imageID: disk.id,
      storagepoolID: poolId,
      storagedomainID: disk.domainId,
      postZero: false,
      force: false,
      discard: false,
    }),
  );
  expect(isVdsmError(retry, VdsmCode.ImageDoesNotExist)).toBe(true);

  const notSpm = await rejection(api(1).hostGetAllTasksStatuses());
  expect(isVdsmError(notSpm, VdsmCode.NotSpm)).toBe(true);

  await spm.taskClear(taskID);
  expect(isVdsmError(await rejection(spm.taskGetStatus(taskID)), VdsmCode.UnknownTask)).toBe(true);
});

test('Volume.create, Volume.getInfo and Task.revert', async () => {
  const spm = api(0);
  const volumeID = randomUUID();
  const imageID = randomUUID();
  const domainId = fixture.domains[2]!.id;
  const taskID = await spm.volumeCreate({
    volumeID,
    storagepoolID: poolId,
    storagedomainID: domainId,
    imageID,
    size: '2147483648',
    volFormat: 4,
    preallocate: 2,
    diskType: 'DATA',
    desc: 'client test',
    srcImgUUID: BLANK_UUID,
    srcVolUUID: BLANK_UUID,
  });
  await untilEnded(spm, taskID);
  const ref = { volumeID, imageID, storagepoolID: poolId, storagedomainID: domainId };
  expect(await spm.volumeGetInfo(ref)).toMatchObject({
    uuid: volumeID,
    format: 'COW',
    capacity: '2147483648',
    legality: 'LEGAL',
    generation: 0,
  });
  await spm.taskRevert(taskID);
  expect(await spm.taskGetStatus(taskID)).toMatchObject({
    taskState: 'finished',
    taskResult: 'cleanSuccess',
  });
  expect(isVdsmError(await rejection(spm.volumeGetInfo(ref)), 201)).toBe(true);
});

test('a snapshot with the optional params, typed Volume.getInfo, a 212 retry, Image.deleteVolumes', async () => {
  const spm = api(0);
  const target = fixture.disks.slice(3).find((d) => d.volumeIds.length === 1)!;
  const [base] = target.volumeIds as [string];
  const snap = randomUUID();
  const params = {
    volumeID: snap,
    storagepoolID: poolId,
    storagedomainID: target.domainId,
    imageID: target.id,
    size: String(target.sizeBytes),
    volFormat: 4 as const,
    preallocate: 2 as const,
    diskType: 'DATA',
    desc: '',
    srcImgUUID: target.id,
    srcVolUUID: base,
    sequence: 2,
    legal: true,
  };
  const taskID = await spm.volumeCreate(params);
  expect(await spm.taskGetInfo(taskID)).toEqual({ id: taskID, verb: 'createVolume' });
  expect(await untilEnded(spm, taskID)).toMatchObject({ taskResult: 'success' });
  const ref = { imageID: target.id, storagepoolID: poolId, storagedomainID: target.domainId };
  const info = await spm.volumeGetInfo({ ...ref, volumeID: snap });
  expect(info).toMatchObject({
    uuid: snap,
    image: target.id,
    domain: target.domainId,
    parent: base,
    voltype: 'LEAF',
    format: 'COW',
    type: 'SPARSE',
    legality: 'LEGAL',
    capacity: String(target.sizeBytes),
    generation: 0,
    lease: { owners: [] },
    // Keys beyond the typed ones pass through.
    sequence: 2,
  });
  expect(typeof info.apparentsize).toBe('string');
  expect((await spm.volumeGetInfo({ ...ref, volumeID: base })).voltype).toBe('INTERNAL');

  // The caller-chosen volume id makes a retry harmless: its task fails with 212, the volume stays.
  const retry = await spm.volumeCreate(params);
  expect(await untilEnded(spm, retry)).toMatchObject({
    taskResult: 'cleanSuccess',
    code: VdsmCode.VolumeAlreadyExists,
  });

  const deletion = await spm.imageDeleteVolumes({ ...ref, volumeList: [snap] });
  expect(await spm.taskGetInfo(deletion)).toEqual({ id: deletion, verb: 'deleteVolume' });
  expect(await untilEnded(spm, deletion)).toMatchObject({ taskResult: 'success' });
  expect((await spm.volumeGetInfo({ ...ref, volumeID: base })).voltype).toBe('LEAF');
  const gone = await rejection(spm.volumeGetInfo({ ...ref, volumeID: snap }));
  expect(isVdsmError(gone, VdsmCode.VolumeDoesNotExist)).toBe(true);
  expect((gone as { retryable: boolean }).retryable).toBe(false);
  const missing = await spm.imageDeleteVolumes({ ...ref, volumeList: [snap], postZero: false });
  expect(await untilEnded(spm, missing)).toMatchObject({ code: VdsmCode.VolumeDoesNotExist });
  for (const id of [taskID, retry, deletion, missing]) await spm.taskClear(id);
});

test('SDM.copy_data and Host.getJobs, with the end announced as an event', async () => {
  const host = api(1);
  const events: VdsmEvent[] = [];
  const unsubscribe = host.onEvent((event) => events.push(event));
  await host.connect();
  const [from, to] = [fixture.disks[1]!, fixture.disks[2]!];
  const jobId = randomUUID();
  await host.sdmCopyData({
    job_id: jobId,
    source: { endpoint_type: 'div', sd_id: from.domainId, img_id: from.id, vol_id: from.volumeIds[0]! },
    destination: { endpoint_type: 'div', sd_id: to.domainId, img_id: to.id, vol_id: to.volumeIds[0]! },
  });
  const done = await eventually(async () => {
    const jobs = await host.hostGetJobs({ jobIds: [jobId] });
    return jobs[jobId]?.status === 'done' ? jobs[jobId] : undefined;
  });
  expect(done).toEqual({
    id: jobId,
    status: 'done',
    description: 'copy_data',
    job_type: 'storage',
    progress: 100,
  });
  await eventually(() => events.some((e) => e.method === `|jobs|status|${jobId}`));
  const again = await rejection(
    host.sdmCopyData({
      job_id: jobId,
      source: { endpoint_type: 'div', sd_id: from.domainId, img_id: from.id, vol_id: from.volumeIds[0]! },
      destination: { endpoint_type: 'div', sd_id: to.domainId, img_id: to.id, vol_id: to.volumeIds[0]! },
    }),
  );
  expect(isVdsmError(again, 100)).toBe(true);
  unsubscribe();
});

test('SDM.update_volume, SDM.merge and the merge SPM tasks through the typed client', async () => {
  const spm = api(0);
  const host = api(1);
  // Disks 1 and 2 served the copy test (the simulator lives for the whole file).
  const disk = fixture.disks.slice(3).find((d) => d.status === 'OK' && d.volumeIds.length === 1)!;
  const vol = { sd_id: disk.domainId, img_id: disk.id, vol_id: disk.volumeIds[0]! };
  const jobId = randomUUID();
  await host.sdmUpdateVolume({
    job_id: jobId,
    vol_info: { ...vol, generation: 0 },
    vol_attr: { generation: 3 },
  });
  await eventually(async () => (await host.hostGetJobs({ jobIds: [jobId] }))[jobId]?.status === 'done');
  const info = await host.volumeGetInfo({
    volumeID: vol.vol_id,
    imageID: disk.id,
    storagepoolID: poolId,
    storagedomainID: disk.domainId,
  });
  expect(info).toMatchObject({ generation: 3, lease: { owners: [] } });
  // A one-volume chain has nothing to merge: the job fails with 920 (the top is not in the chain).
  const subchainInfo = { ...vol, top_id: randomUUID(), base_id: vol.vol_id };
  const merge = randomUUID();
  await host.sdmMerge({ job_id: merge, subchain_info: subchainInfo });
  const failed = await eventually(async () => {
    const job = (await host.hostGetJobs({ jobIds: [merge] }))[merge];
    return job?.status === 'failed' ? job : undefined;
  });
  expect(failed.error?.code).toBe(920);
  const prepare = await spm.storagePoolPrepareMerge({ storagepoolID: poolId, subchainInfo });
  expect(await spm.taskGetInfo(prepare)).toEqual({ id: prepare, verb: 'prepareMerge' });
  const finalize = await spm.storagePoolFinalizeMerge({ storagepoolID: poolId, subchainInfo });
  expect(await spm.taskGetInfo(finalize)).toEqual({ id: finalize, verb: 'finalizeMerge' });
});

test('spmStop and spmStart move the SPM role', async () => {
  const [a, b] = [api(0), api(1)];
  await a.storagePoolSpmStop(poolId);
  expect(await a.storagePoolGetSpmStatus(poolId)).toEqual({ spmStatus: 'Free', spmLver: 0, spmId: -1 });
  const taskID = await b.storagePoolSpmStart({
    storagepoolID: poolId,
    prevID: 1,
    prevLver: 0,
    enableScsiFencing: false,
  });
  expect(await untilEnded(b, taskID)).toMatchObject({ taskResult: 'success' });
  expect(await b.storagePoolGetSpmStatus(poolId)).toEqual({ spmStatus: 'SPM', spmLver: 1, spmId: 2 });
  await b.taskClear(taskID);
  // The SPM tasks moved with the role (the createVolume task of the test above, reverted).
  expect(Object.values(await b.hostGetAllTasksInfo()).map((t) => t.verb)).toContain('createVolume');
  expect(isVdsmError(await rejection(a.hostGetAllTasksInfo()), VdsmCode.NotSpm)).toBe(true);
});
