/**
 * Host jobs (SDM.copy_data): caller-chosen ids, Host.getJobs, `|jobs|status|<id>` events,
 * auto-deletion, and what Volume.getInfo (legality, generation) tells about a job that is gone.
 */
import { randomUUID } from 'node:crypto';
import { generateDataCenter } from '../src/fixture';
import { startSimulator, type Simulator } from '../src/vdsm-sim';
import { eventually, RpcPeer, sleep, tempDir } from './vdsm-sim-helpers';

const fixture = generateDataCenter({ vmCount: 4 });
const poolId = fixture.pool.id;
const [source, target] = fixture.disks as [(typeof fixture.disks)[number], (typeof fixture.disks)[number]];
const sourceVolume = source.volumeIds[0]!;
const targetVolume = target.volumeIds[target.volumeIds.length - 1]!;

let sim: Simulator;
let dir: { dir: string; remove(): void };
let host2: RpcPeer;

beforeEach(async () => {
  dir = tempDir('sim-jobs');
  sim = await startSimulator({
    fixture,
    dataDir: dir.dir,
    basePort: 0,
    faults: { durations: { 'SDM.copy_data': 300 } },
  });
  // Host jobs run on any host, SPM or not.
  host2 = await RpcPeer.open(sim.hosts[1]!.port);
});

afterEach(async () => {
  host2.close();
  await sim.stop();
  dir.remove();
});

function copyParams(jobId: string, generation?: number, endpointType = 'div'): Record<string, unknown> {
  return {
    job_id: jobId,
    source: { endpoint_type: 'div', sd_id: source.domainId, img_id: source.id, vol_id: sourceVolume },
    destination: {
      endpoint_type: endpointType,
      sd_id: target.domainId,
      img_id: target.id,
      vol_id: targetVolume,
      ...(generation === undefined ? {} : { generation }),
    },
  };
}

const targetInfo = (): Promise<{ legality: string; generation: number }> =>
  host2.call('Volume.getInfo', {
    volumeID: targetVolume,
    imageID: target.id,
    storagepoolID: poolId,
    storagedomainID: target.domainId,
  });

test('a copy runs (pending →) running → done, announces its end and bumps the generation', async () => {
  const jobId = randomUUID();
  expect(await host2.call('SDM.copy_data', copyParams(jobId, 0))).toBe(true);
  // Pending only until the executor picks it up (the next turn here).
  const first = await host2.call<Record<string, { status: string }>>('Host.getJobs', { job_ids: [jobId] });
  expect(first[jobId]).toMatchObject({ id: jobId, description: 'copy_data', job_type: 'storage' });
  expect(['pending', 'running']).toContain(first[jobId]!.status);
  const running = await eventually(async () => {
    const jobs = await host2.call<Record<string, { status: string; progress?: number }>>('Host.getJobs', {});
    return jobs[jobId]?.status === 'running' ? jobs[jobId] : undefined;
  });
  expect(running.progress).toBeGreaterThanOrEqual(0);
  expect(await targetInfo()).toMatchObject({ legality: 'ILLEGAL', generation: 0 });

  const event = await host2.nextEvent(`|jobs|status|${jobId}`);
  expect(event.params).toEqual({
    id: jobId,
    status: 'done',
    description: 'copy_data',
    job_type: 'storage',
    progress: 100,
    notify_time: expect.any(Number),
  });
  expect(await host2.call('Host.getJobs', { job_type: 'storage' })).toEqual({
    [jobId]: { id: jobId, status: 'done', description: 'copy_data', job_type: 'storage', progress: 100 },
  });
  expect(await targetInfo()).toMatchObject({ legality: 'LEGAL', generation: 1 });
  expect(await host2.call('Host.getJobs', { job_type: 'virt' })).toEqual({});
});

test('a job id the host knows is refused with 100 "Job \'<id>\' exists"', async () => {
  const jobId = randomUUID();
  await host2.call('SDM.copy_data', copyParams(jobId));
  expect(await host2.error('SDM.copy_data', copyParams(jobId))).toEqual({
    code: 100,
    message: `Job '${jobId}' exists`,
  });
  // Jobs are per host: another host has never heard of it.
  const spm = await RpcPeer.open(sim.hosts[0]!.port);
  try {
    expect(await spm.call('Host.getJobs', { job_ids: [jobId] })).toEqual({});
  } finally {
    spm.close();
  }
});

test('a failed copy leaves the destination ILLEGAL at its old generation', async () => {
  sim.setFaults({ failures: [{ verb: 'SDM.copy_data', phase: 'task', code: 261 }] });
  const jobId = randomUUID();
  await host2.call('SDM.copy_data', copyParams(jobId));
  const event = await host2.nextEvent(`|jobs|status|${jobId}`);
  expect(event.params).toMatchObject({
    status: 'failed',
    error: { code: 261, message: "low level Image copy failed: ('injected fault',)" },
  });
  expect(await targetInfo()).toMatchObject({ legality: 'ILLEGAL', generation: 0 });
});

test('a stale generation fails the job before anything is touched', async () => {
  const jobId = randomUUID();
  await host2.call('SDM.copy_data', copyParams(jobId, 5));
  const event = await host2.nextEvent(`|jobs|status|${jobId}`);
  expect(event.params).toMatchObject({
    status: 'failed',
    error: {
      code: 911,
      message: "The provided generation does not match the actual generation: 'requested=5, actual=0'",
    },
  });
  expect(await targetInfo()).toMatchObject({ legality: 'LEGAL', generation: 0 });
});

test('an unsupported endpoint is refused synchronously', async () => {
  const error = await host2.error('SDM.copy_data', copyParams(randomUUID(), undefined, 'nbd'));
  expect(error.code).toBe(100);
  expect(error.message).toMatch(/^Invalid or unsupported endpoint \{'sd_id': /);
});

test('finished jobs are deleted after the autodelete delay; a crash forgets them all', async () => {
  sim.setFaults({ jobAutodeleteMs: 100 });
  const jobId = randomUUID();
  await host2.call('SDM.copy_data', copyParams(jobId));
  await host2.nextEvent(`|jobs|status|${jobId}`);
  await sleep(150);
  expect(await host2.call('Host.getJobs', {})).toEqual({});

  const pending = randomUUID();
  sim.setFaults({ durations: { 'SDM.copy_data': 60_000 } });
  await host2.call('SDM.copy_data', copyParams(pending));
  await eventually(async () => (await targetInfo()).legality === 'ILLEGAL');
  await sim.restart();
  const after = await RpcPeer.open(sim.hosts[1]!.port);
  try {
    expect(await after.call('Host.getJobs', {})).toEqual({});
    // The copy was cut off: the destination tells so.
    expect(
      await after.call('Volume.getInfo', {
        volumeID: targetVolume,
        imageID: target.id,
        storagepoolID: poolId,
        storagedomainID: target.domainId,
      }),
    ).toMatchObject({
      legality: 'ILLEGAL',
    });
  } finally {
    after.close();
  }
});
