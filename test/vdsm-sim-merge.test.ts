/**
 * Simulator: cold merge (StoragePool.prepareMerge / finalizeMerge SPM tasks, SDM.merge host job),
 * SDM.update_volume with its generation check, lease owners while a job runs, and the job fault
 * knobs (hang, host crash mid-job, lost events).
 */
import { randomUUID } from 'node:crypto';
import { generateDataCenter } from '../src/fixture';
import { startSimulator, type Simulator } from '../src/vdsm-sim';
import { BLANK_UUID } from '../src/vdsm-sim/storage';
import { eventually, RpcPeer, sleep, tempDir } from './vdsm-sim-helpers';

const generated = generateDataCenter({ vmCount: 6 });
const usable = generated.disks.filter((d) => d.volumeIds.length === 1 && d.status === 'OK');
/** Two disks get a chain of three volumes (base, internal, leaf): the merges' subjects. */
const withChains = new Set(usable.slice(0, 2).map((d) => d.id));
const fixture = {
  ...generated,
  disks: generated.disks.map((d) =>
    withChains.has(d.id) ? { ...d, volumeIds: [...d.volumeIds, randomUUID(), randomUUID()] } : d,
  ),
};
const poolId = fixture.pool.id;
const chains = fixture.disks.filter((d) => withChains.has(d.id));
const plain = fixture.disks.filter((d) => d.volumeIds.length === 1 && d.status === 'OK');

let sim: Simulator;
let dir: { dir: string; remove(): void };
let spm: RpcPeer;
let host2: RpcPeer;

beforeEach(async () => {
  dir = tempDir('sim-merge');
  sim = await startSimulator({ fixture, dataDir: dir.dir, basePort: 0, faults: { durations: { '*': 100 } } });
  spm = await RpcPeer.open(sim.hosts[0]!.port);
  host2 = await RpcPeer.open(sim.hosts[1]!.port);
});

afterEach(async () => {
  spm.close();
  host2.close();
  await sim.stop();
  dir.remove();
});

type Disk = (typeof fixture.disks)[number];
const sub = (d: Disk, top: number, base: number, baseGeneration?: number) => ({
  sd_id: d.domainId,
  img_id: d.id,
  top_id: d.volumeIds[top]!,
  base_id: d.volumeIds[base]!,
  ...(baseGeneration === undefined ? {} : { base_generation: baseGeneration }),
});

async function spmTaskEnds(taskId: string): Promise<{ taskResult: string; code: number; message: string }> {
  return eventually(async () => {
    const status = await spm.call<{ taskState: string; taskResult: string; code: number; message: string }>(
      'Task.getStatus',
      { taskID: taskId },
    );
    return status.taskState === 'finished' ? status : undefined;
  });
}

function info(d: Disk, volumeId: string): Promise<Record<string, unknown>> {
  return host2.call('Volume.getInfo', {
    volumeID: volumeId,
    imageID: d.id,
    storagepoolID: poolId,
    storagedomainID: d.domainId,
  });
}

test('fixture has chains to merge', () => {
  expect(chains.length).toBeGreaterThan(0);
  expect(plain.length).toBeGreaterThan(0);
});

test('cold merge of a leaf: prepare (task prepareMerge), merge (job, base generation + 1), finalize (top ILLEGAL, base the leaf)', async () => {
  const disk = chains[0]!;
  const n = disk.volumeIds.length;
  const subchain = sub(disk, n - 1, n - 2, 0);
  const prepare = await spm.call<string>('StoragePool.prepareMerge', {
    storagepoolID: poolId,
    subchainInfo: subchain,
  });
  expect(await spm.call('Task.getInfo', { taskID: prepare })).toEqual({ id: prepare, verb: 'prepareMerge' });
  expect(await spmTaskEnds(prepare)).toMatchObject({ taskResult: 'success' });

  const jobId = randomUUID();
  expect(
    await host2.call('SDM.merge', { job_id: jobId, subchain_info: subchain, merge_bitmaps: false }),
  ).toBe(true);
  // The base's lease is held by host 2 while the job runs.
  await eventually(
    async () => ((await info(disk, subchain.base_id)).lease as { owners: number[] }).owners.length > 0,
  );
  expect(((await info(disk, subchain.base_id)).lease as { owners: number[] }).owners).toEqual([
    sim.hosts[1]!.vdsId,
  ]);
  const event = await host2.nextEvent(`|jobs|status|${jobId}`);
  expect(event.params).toMatchObject({ status: 'done', description: 'merge_subchain' });
  expect(await info(disk, subchain.base_id)).toMatchObject({
    generation: 1,
    legality: 'LEGAL',
    lease: { owners: [] },
  });

  const finalize = await spm.call<string>('StoragePool.finalizeMerge', {
    storagepoolID: poolId,
    subchainInfo: subchain,
  });
  expect(await spm.call('Task.getInfo', { taskID: finalize })).toEqual({
    id: finalize,
    verb: 'finalizeMerge',
  });
  expect(await spmTaskEnds(finalize)).toMatchObject({ taskResult: 'success' });
  const chain = sim.imageChain(disk.domainId, disk.id)!;
  expect(chain.find((v) => v.id === subchain.top_id)).toMatchObject({ legality: 'ILLEGAL' });
  expect(chain.find((v) => v.id === subchain.base_id)).toMatchObject({ voltype: 'LEAF', legality: 'LEGAL' });

  // Image.deleteVolumes of the top then leaves the shorter chain.
  const del = await spm.call<string>('Image.deleteVolumes', {
    imageID: disk.id,
    storagepoolID: poolId,
    storagedomainID: disk.domainId,
    volumeList: [subchain.top_id],
  });
  expect(await spmTaskEnds(del)).toMatchObject({ taskResult: 'success' });
  expect(sim.imageChain(disk.domainId, disk.id)!.map((v) => v.id)).toEqual(disk.volumeIds.slice(0, n - 1));
});

test('finalize of an internal top rebases its child onto the base', async () => {
  const disk = chains[0]!;
  const subchain = sub(disk, 1, 0);
  const finalize = await spm.call<string>('StoragePool.finalizeMerge', {
    storagepoolID: poolId,
    subchainInfo: subchain,
  });
  expect(await spmTaskEnds(finalize)).toMatchObject({ taskResult: 'success' });
  const chain = sim.imageChain(disk.domainId, disk.id)!;
  expect(chain.find((v) => v.id === disk.volumeIds[1])).toMatchObject({ legality: 'ILLEGAL' });
  expect(chain.find((v) => v.id === disk.volumeIds[2])).toMatchObject({ parent: disk.volumeIds[0] });
  expect(chain.find((v) => v.id === disk.volumeIds[0])).toMatchObject({
    parent: BLANK_UUID,
    voltype: 'INTERNAL',
  });
});

test('SDM.merge: 911 on a stale base generation, 921 when top is not the child of base; nothing changes', async () => {
  const disk = chains[0]!;
  const stale = randomUUID();
  await host2.call('SDM.merge', { job_id: stale, subchain_info: sub(disk, 2, 1, 7) });
  expect((await host2.nextEvent(`|jobs|status|${stale}`)).params).toMatchObject({
    status: 'failed',
    error: {
      code: 911,
      message: "The provided generation does not match the actual generation: 'requested=7, actual=0'",
    },
  });
  const wrong = randomUUID();
  await host2.call('SDM.merge', { job_id: wrong, subchain_info: sub(disk, 2, 0) });
  expect((await host2.nextEvent(`|jobs|status|${wrong}`)).params).toMatchObject({
    status: 'failed',
    error: { code: 921 },
  });
  expect(sim.imageChain(disk.domainId, disk.id)!.map((v) => v.generation)).toEqual(
    disk.volumeIds.map(() => 0),
  );
});

test('SDM.update_volume: generation check, fencing to generation + 3, 100 for a known job id', async () => {
  const disk = plain[0]!;
  const vol = { sd_id: disk.domainId, img_id: disk.id, vol_id: disk.volumeIds[0]! };
  const stale = randomUUID();
  await host2.call('SDM.update_volume', {
    job_id: stale,
    vol_info: { ...vol, generation: 2 },
    vol_attr: { generation: 5 },
  });
  expect((await host2.nextEvent(`|jobs|status|${stale}`)).params).toMatchObject({
    status: 'failed',
    error: { code: 911 },
  });
  const fence = randomUUID();
  await host2.call('SDM.update_volume', {
    job_id: fence,
    vol_info: { ...vol, generation: 0 },
    vol_attr: { generation: 3 },
  });
  expect(
    await host2.error('SDM.update_volume', {
      job_id: fence,
      vol_info: { ...vol, generation: 0 },
      vol_attr: { generation: 3 },
    }),
  ).toEqual({
    code: 100,
    message: `Job '${fence}' exists`,
  });
  expect((await host2.nextEvent(`|jobs|status|${fence}`)).params).toMatchObject({
    status: 'done',
    description: 'update_volume',
  });
  expect(await info(disk, vol.vol_id)).toMatchObject({ generation: 3, legality: 'LEGAL' });
  // Without a generation attribute the operation bumps it by one.
  const legal = randomUUID();
  await host2.call('SDM.update_volume', {
    job_id: legal,
    vol_info: { ...vol, generation: 3 },
    vol_attr: { legality: 'ILLEGAL' },
  });
  await host2.nextEvent(`|jobs|status|${legal}`);
  expect(await info(disk, vol.vol_id)).toMatchObject({ generation: 4, legality: 'ILLEGAL' });
  // No attribute at all is a parameter error.
  expect(
    (await host2.error('SDM.update_volume', { job_id: randomUUID(), vol_info: vol, vol_attr: {} })).code,
  ).toBe(-32602);
  expect(sim.counters().hosts[sim.hosts[1]!.hostId]!.verbs['SDM.update_volume']).toBe(5);
});

test('a hung job holds its lease and never ends; a host crash mid-copy loses the job, the lease and the events', async () => {
  const [src, dst] = plain as [Disk, Disk];
  const copy = (jobId: string) => ({
    job_id: jobId,
    source: { endpoint_type: 'div', sd_id: src.domainId, img_id: src.id, vol_id: src.volumeIds[0] },
    destination: {
      endpoint_type: 'div',
      sd_id: dst.domainId,
      img_id: dst.id,
      vol_id: dst.volumeIds[0],
      generation: 0,
    },
  });
  sim.setFaults({ jobFaults: [{ verb: 'SDM.copy_data', mode: 'hang', count: 1 }] });
  const hung = randomUUID();
  await host2.call('SDM.copy_data', copy(hung));
  await sleep(300);
  expect(
    (await host2.call<Record<string, { status: string }>>('Host.getJobs', { job_ids: [hung] }))[hung],
  ).toMatchObject({ status: 'running' });
  expect(await info(dst, dst.volumeIds[0]!)).toMatchObject({
    legality: 'ILLEGAL',
    lease: { owners: [sim.hosts[1]!.vdsId] },
  });

  // The crash: host 3 runs the next copy and dies half-way for 300 ms.
  const host3 = await RpcPeer.open(sim.hosts[2]!.port);
  try {
    sim.setFaults({
      jobFaults: [{ verb: 'SDM.copy_data', mode: 'crashHost', atFraction: 0.5, downMs: 300, count: 1 }],
    });
    const other = plain[2]!;
    const crashed = randomUUID();
    await host3.call('SDM.copy_data', {
      ...copy(crashed),
      destination: {
        endpoint_type: 'div',
        sd_id: other.domainId,
        img_id: other.id,
        vol_id: other.volumeIds[0],
        generation: 0,
      },
    });
    await sleep(80);
    expect((await host3.error('Host.getJobs', {})).code).toBe(99);
    await sleep(400);
    expect(await host3.call('Host.getJobs', {})).toEqual({});
    expect(await info(other, other.volumeIds[0]!)).toMatchObject({
      legality: 'ILLEGAL',
      generation: 0,
      lease: { owners: [] },
    });
    expect(host3.events(`|jobs|status|${crashed}`)).toEqual([]);
  } finally {
    host3.close();
  }
});

test('dropJobEvents loses the |jobs|status| events; Host.getJobs still tells', async () => {
  sim.setFaults({ dropJobEvents: true });
  const disk = plain[0]!;
  const jobId = randomUUID();
  await host2.call('SDM.update_volume', {
    job_id: jobId,
    vol_info: { sd_id: disk.domainId, img_id: disk.id, vol_id: disk.volumeIds[0], generation: 0 },
    vol_attr: { description: 'x' },
  });
  await eventually(async () => {
    const jobs = await host2.call<Record<string, { status: string }>>('Host.getJobs', { job_ids: [jobId] });
    return jobs[jobId]?.status === 'done';
  });
  await sleep(50);
  expect(host2.events(`|jobs|status|${jobId}`)).toEqual([]);
});
