/**
 * The host-job activities (start an SDM verb, follow the job to its end) against the simulator
 * over real sockets and a real SQLite inventory, in a mock activity context (no Temporal needed):
 * the event path, the Host.getJobs poll when events are lost, the volume (entity) when the job is
 * gone, fencing after a host crash, "job exists" on a retry, and a malformed Host.getJobs answer.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import {
  createHostJobActivities,
  type HostJobSpec,
  orderHostsForJob,
  type StartHostJobResult,
} from '../src/activities/host-jobs';
import { HostJobHub } from '../src/activities/job-hub';
import { ErrorType } from '../src/shared/errors';
import { generateDataCenter } from '../src/fixture';
import { openInventory } from '../src/inventory';
import type { InventoryRepository } from '../src/inventory/port';
import { createVdsmConnector, type VdsmHostConnector } from '../src/vdsm';
import { VdsmMalformedResponseError } from '../src/vdsm/errors';
import type { VdsmConnector } from '../src/vdsm/port';
import { startSimulator, type Simulator } from '../src/vdsm-sim';
import type { FaultConfigInput } from '../src/vdsm-sim/faults';
import { eventually, tempDir } from './vdsm-sim-helpers';

jest.setTimeout(30_000);

const generated = generateDataCenter({ vmCount: 8 });
/** One disk gets a base + leaf chain, for SDM.merge. */
const chainDiskId = generated.disks.find((d) => d.volumeIds.length === 1 && d.status === 'OK')!.id;
const fixture = {
  ...generated,
  disks: generated.disks.map((d) =>
    d.id === chainDiskId ? { ...d, volumeIds: [...d.volumeIds, randomUUID()] } : d,
  ),
};
const poolId = fixture.pool.id;
const chainDisk = fixture.disks.find((d) => d.id === chainDiskId)!;
const plain = fixture.disks.filter((d) => d.volumeIds.length === 1 && d.status === 'OK');
type Disk = (typeof fixture.disks)[number];

let sim: Simulator;
let dir: { dir: string; remove(): void };
let inventory: InventoryRepository;
let vdsm: VdsmHostConnector;
let hub: HostJobHub;

async function setUp(
  faults: FaultConfigInput,
  intervalMs: number,
  connector?: (real: VdsmHostConnector) => VdsmConnector,
) {
  dir = tempDir('host-jobs');
  sim = await startSimulator({ fixture, dataDir: join(dir.dir, 'vdsm'), basePort: 0, faults });
  inventory = openInventory(`sqlite:${join(dir.dir, 'inventory.db')}`);
  await inventory.init({ fixture, vdsmAddress: '127.0.0.1', vdsmBasePort: 1 });
  for (const host of sim.hosts) await inventory.setHostAddress(host.hostId, host.address, host.port);
  vdsm = createVdsmConnector({ requestTimeoutMs: 5_000, reconnectBackoff: { initialMs: 50, maxMs: 200 } });
  hub = new HostJobHub({ intervalMs });
  return createHostJobActivities({ vdsm: connector ? connector(vdsm) : vdsm, inventory }, hub);
}

afterEach(async () => {
  hub.close();
  await vdsm.close();
  await sim.stop();
  await inventory.close();
  dir.remove();
});

function run<A extends unknown[], R>(
  fn: (...args: A) => Promise<R>,
  ...args: A
): { result: Promise<R>; beats: unknown[] } {
  const env = new MockActivityEnvironment({
    workflowExecution: { workflowId: 'host-job-test', runId: randomUUID() },
    heartbeatTimeoutMs: 3_000,
  });
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  return { result: env.run(fn, ...args), beats };
}

/** A copy of `from`'s volume onto `to`'s (generation 0 in the fixture). */
function copyJob(from: Disk, to: Disk, jobId = randomUUID()): HostJobSpec {
  return {
    verb: 'SDM.copy_data',
    jobId,
    params: {
      source: { endpoint_type: 'div', sd_id: from.domainId, img_id: from.id, vol_id: from.volumeIds[0]! },
      destination: {
        endpoint_type: 'div',
        sd_id: to.domainId,
        img_id: to.id,
        vol_id: to.volumeIds[0]!,
        generation: 0,
      },
    },
  };
}

const entityOf = (to: Disk) => ({
  domainId: to.domainId,
  imageId: to.id,
  volumeId: to.volumeIds[0]!,
  startGeneration: 0,
});
const waitInput = (started: StartHostJobResult, to: Disk) => ({ poolId, ...started, entity: entityOf(to) });

test('event path: the job ends by its |jobs|status| event (no poll made), heartbeating while it waits', async () => {
  // A poll interval far beyond the test: only the event can end the wait.
  const acts = await setUp({ durations: { 'SDM.copy_data': 1_500 } }, 600_000);
  const [from, to] = plain as [Disk, Disk];
  const started = await run(acts.startHostJob, { poolId, job: copyJob(from, to) }).result;
  const waiting = run(acts.waitForHostJob, waitInput(started, to));
  expect(await waiting.result).toEqual({ status: 'done', progress: 100, how: 'event' });
  expect(Object.values(hub.pollCounts()).reduce((a, b) => a + b, 0)).toBe(0);
  expect(sim.volumeInfo(to.domainId, to.id, to.volumeIds[0]!)).toMatchObject({
    generation: 1,
    legality: 'LEGAL',
  });
  expect(waiting.beats.length).toBeGreaterThan(0);
  expect(waiting.beats[0]).toMatchObject({ jobId: started.jobId, hostId: started.hostId, phase: 'waiting' });
});

test('a job that ends before its wait begins: the event kept since the start ends the wait (no poll made)', async () => {
  const acts = await setUp({ durations: { 'SDM.copy_data': 100 } }, 600_000);
  const [from, to] = plain as [Disk, Disk];
  const started = await run(acts.startHostJob, { poolId, job: copyJob(from, to) }).result;
  await eventually(() =>
    Object.values(sim.listJobs()).some((jobs) => jobs[started.jobId]?.status === 'done'),
  );
  expect(await run(acts.waitForHostJob, waitInput(started, to)).result).toEqual({
    status: 'done',
    progress: 100,
    how: 'event',
  });
  expect(Object.values(hub.pollCounts()).reduce((a, b) => a + b, 0)).toBe(0);
});

test('lost events: the Host.getJobs poll ends the jobs, one call per host per interval for all of them', async () => {
  const intervalMs = 200;
  const acts = await setUp({ durations: { 'SDM.copy_data': 600 }, dropJobEvents: true }, intervalMs);
  const pairs = [0, 1, 2, 3, 4, 5].map((i) => [plain[2 * i]!, plain[2 * i + 1]!] as const);
  sim.resetCounters();
  const began = Date.now();
  const started = await Promise.all(
    pairs.map(([from, to]) => run(acts.startHostJob, { poolId, job: copyJob(from, to) }).result),
  );
  const outcomes = await Promise.all(
    started.map((s, i) => run(acts.waitForHostJob, waitInput(s, pairs[i]![1])).result),
  );
  const elapsed = Date.now() - began;
  expect(outcomes.map((o) => [o.status, o.how])).toEqual(pairs.map(() => ['done', 'poll']));
  const jobsPerHost = new Map<string, number>();
  for (const s of started) jobsPerHost.set(s.hostId, (jobsPerHost.get(s.hostId) ?? 0) + 1);
  // Six jobs on three hosts: some host ran several.
  expect(Math.max(...jobsPerHost.values())).toBeGreaterThan(1);
  const counters = sim.counters();
  for (const [hostId, jobs] of jobsPerHost) {
    const calls = counters.hosts[hostId]!.verbs['Host.getJobs'] ?? 0;
    expect({
      hostId,
      jobs,
      calls,
      withinOnePerInterval: calls <= Math.floor(elapsed / intervalMs) + 1,
    }).toEqual({
      hostId,
      jobs,
      calls,
      withinOnePerInterval: true,
    });
    expect(calls).toBe(hub.pollCounts()[hostId] ?? calls);
  }
});

test('job expired: the volume says done (generation + 1), or is fenced to + 3 and the step fails; a retry does not fence again', async () => {
  const acts = await setUp(
    { durations: { 'SDM.copy_data': 100 }, dropJobEvents: true, jobAutodeleteMs: 0 },
    150,
  );
  const [from, to, from2, to2] = plain as [Disk, Disk, Disk, Disk];
  const done = await run(acts.startHostJob, { poolId, job: copyJob(from, to) }).result;
  expect(await run(acts.waitForHostJob, waitInput(done, to)).result).toEqual({
    status: 'done',
    progress: 100,
    how: 'entity',
  });

  sim.setFaults({ failures: [{ verb: 'SDM.copy_data', phase: 'task', code: 261, count: 1 }] });
  const failed = await run(acts.startHostJob, { poolId, job: copyJob(from2, to2) }).result;
  const outcome = await run(acts.waitForHostJob, waitInput(failed, to2)).result;
  expect(outcome).toMatchObject({ status: 'fenced', how: 'entity', error: { code: 100 } });
  expect(sim.volumeInfo(to2.domainId, to2.id, to2.volumeIds[0]!)).toMatchObject({
    generation: 3,
    legality: 'ILLEGAL',
  });
  const fences = () =>
    Object.values(sim.counters().hosts).reduce((n, h) => n + (h.verbs['SDM.update_volume'] ?? 0), 0);
  expect(fences()).toBe(1);
  // The activity's retry: the volume is already fenced.
  expect(await run(acts.waitForHostJob, waitInput(failed, to2)).result).toMatchObject({
    status: 'fenced',
    how: 'entity',
  });
  expect(fences()).toBe(1);
});

test('host crash mid-copy: the job vanishes with its host; the destination is fenced and the step fails', async () => {
  const acts = await setUp(
    {
      durations: { 'SDM.copy_data': 800 },
      jobFaults: [{ verb: 'SDM.copy_data', mode: 'crashHost', atFraction: 0.5, downMs: 1_000, count: 1 }],
    },
    200,
  );
  const [from, to] = plain as [Disk, Disk];
  const started = await run(acts.startHostJob, { poolId, job: copyJob(from, to) }).result;
  const outcome = await run(acts.waitForHostJob, waitInput(started, to)).result;
  expect(outcome).toMatchObject({ status: 'fenced', how: 'entity' });
  // Never called done: the copy was cut off, the volume is ILLEGAL and fenced.
  expect(sim.volumeInfo(to.domainId, to.id, to.volumeIds[0]!)).toMatchObject({
    legality: 'ILLEGAL',
    generation: 3,
    lease: { owners: [] },
  });
});

test('"job exists" on a retry: the same host, one job', async () => {
  const acts = await setUp({ durations: { 'SDM.copy_data': 500 } }, 200);
  const [from, to] = plain as [Disk, Disk];
  const job = copyJob(from, to);
  const first = await run(acts.startHostJob, { poolId, job }).result;
  const again = await run(acts.startHostJob, { poolId, job }).result;
  expect(again).toEqual(first);
  const jobs = Object.values(sim.listJobs()).flatMap((perHost) => Object.keys(perHost));
  expect(jobs).toEqual([job.jobId]);
  expect(sim.counters().hosts[first.hostId]!.verbs['SDM.copy_data']).toBe(2);
  expect(await run(acts.waitForHostJob, waitInput(first, to)).result).toMatchObject({ status: 'done' });
});

test('a malformed Host.getJobs answer fails the wait with a typed, non-retryable failure', async () => {
  const malformed = (real: VdsmHostConnector): VdsmConnector => ({
    host(endpoint) {
      const api = real.host(endpoint);
      return new Proxy(api, {
        get(target, prop, receiver) {
          if (prop === 'hostGetJobs')
            return () =>
              Promise.reject(
                new VdsmMalformedResponseError(
                  'Host.getJobs',
                  endpoint.hostId,
                  'x.status: Invalid enum value',
                  {},
                ),
              );
          const value = Reflect.get(target, prop, receiver) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
    close: () => real.close(),
  });
  const acts = await setUp({ durations: { 'SDM.copy_data': 300 }, dropJobEvents: true }, 100, malformed);
  const [from, to] = plain as [Disk, Disk];
  const started = await run(acts.startHostJob, { poolId, job: copyJob(from, to) }).result;
  const err = await run(acts.waitForHostJob, waitInput(started, to)).result.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ type: ErrorType.VdsmMalformedResponse, nonRetryable: true });
  await eventually(() => sim.volumeInfo(to.domainId, to.id, to.volumeIds[0]!)?.generation === 1);
});

test('progress from the Host.getJobs polls shows in the heartbeats', async () => {
  const acts = await setUp({ durations: { 'SDM.copy_data': 2_500 }, dropJobEvents: true }, 200);
  const [from, to] = plain as [Disk, Disk];
  const started = await run(acts.startHostJob, { poolId, job: copyJob(from, to) }).result;
  const waiting = run(acts.waitForHostJob, waitInput(started, to));
  expect(await waiting.result).toMatchObject({ status: 'done', how: 'poll' });
  const progress = (waiting.beats as Array<{ progress: number | null; jobStatus: string | null }>).filter(
    (b) => b.jobStatus === 'running',
  );
  expect(progress.length).toBeGreaterThan(0);
  for (const beat of progress) {
    expect(beat.progress).toBeGreaterThan(0);
    expect(beat.progress).toBeLessThan(100);
  }
});

test('SDM.merge and SDM.update_volume through the same activities: the base is the entity', async () => {
  const acts = await setUp({ durations: { '*': 200 } }, 200);
  const [base, top] = chainDisk.volumeIds as [string, string];
  const merge: HostJobSpec = {
    verb: 'SDM.merge',
    jobId: randomUUID(),
    params: {
      subchain_info: {
        sd_id: chainDisk.domainId,
        img_id: chainDisk.id,
        top_id: top,
        base_id: base,
        base_generation: 0,
      },
      merge_bitmaps: false,
    },
  };
  const entity = { domainId: chainDisk.domainId, imageId: chainDisk.id, volumeId: base, startGeneration: 0 };
  const merged = await run(acts.startHostJob, { poolId, job: merge }).result;
  expect(await run(acts.waitForHostJob, { poolId, ...merged, entity }).result).toEqual({
    status: 'done',
    progress: 100,
    how: 'event',
  });
  expect(sim.volumeInfo(chainDisk.domainId, chainDisk.id, base)).toMatchObject({ generation: 1 });

  // A stale generation: the job fails with VDSM's 911, reported as such (not fenced).
  const update: HostJobSpec = {
    verb: 'SDM.update_volume',
    jobId: randomUUID(),
    params: {
      vol_info: { sd_id: chainDisk.domainId, img_id: chainDisk.id, vol_id: base, generation: 0 },
      vol_attr: { description: 'merged' },
    },
  };
  const updated = await run(acts.startHostJob, { poolId, job: update }).result;
  expect(
    await run(acts.waitForHostJob, { poolId, ...updated, entity: { ...entity, startGeneration: 0 } }).result,
  ).toMatchObject({ status: 'failed', how: 'event', error: { code: 911 } });
});

test('a host that cannot be reached passes the job on; an answer lost after sending does not', async () => {
  const acts = await setUp({ durations: { 'SDM.copy_data': 300 } }, 200);
  const [from, to, from2, to2] = plain as [Disk, Disk, Disk, Disk];
  const hosts = sim.hosts.map((h) => ({ id: h.hostId, vdsId: h.vdsId }));

  // The job's first host listens nowhere (its inventory address is a closed port).
  const job = copyJob(from, to);
  const first = orderHostsForJob(hosts, job.jobId)[0]!;
  await inventory.setHostAddress(first.id, '127.0.0.1', 1);
  const started = await run(acts.startHostJob, { poolId, job }).result;
  expect(started.hostId).toBe(orderHostsForJob(hosts, job.jobId)[1]!.id);
  expect(await run(acts.waitForHostJob, waitInput(started, to)).result).toMatchObject({ status: 'done' });
  const real = sim.hosts.find((h) => h.hostId === first.id)!;
  await inventory.setHostAddress(first.id, real.address, real.port);

  // The answer is lost after the verb ran: the attempt fails (retryable) without asking another
  // host; the retry meets "job exists" on the same host. One job.
  const lost = copyJob(from2, to2);
  const target = orderHostsForJob(hosts, lost.jobId)[0]!;
  sim.setFaults({ dropConnections: { afterRequests: 1, hosts: [target.id] } });
  const err = await run(acts.startHostJob, { poolId, job: lost }).result.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ type: ErrorType.VdsmUnavailable, nonRetryable: false });
  sim.setFaults({ dropConnections: null });
  const retried = await run(acts.startHostJob, { poolId, job: lost }).result;
  expect(retried.hostId).toBe(target.id);
  const holders = Object.entries(sim.listJobs()).filter(([, jobs]) => lost.jobId in jobs);
  expect(holders.map(([hostId]) => hostId)).toEqual([target.id]);
  expect(await run(acts.waitForHostJob, waitInput(retried, to2)).result).toMatchObject({ status: 'done' });
});
