/**
 * What outlives a VDSM: task files on the master domain, the storage, the SPM lease. Restart,
 * failover, the explicit spmStart/spmStop path, injected crashes, transport faults, counters and
 * the HTTP control endpoint.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateDataCenter } from '../src/fixture';
import { startSimulator, type Simulator, type SimulatorOptions } from '../src/vdsm-sim';
import { BLANK_UUID } from '../src/vdsm-sim/storage';
import { eventually, RpcPeer, tempDir } from './vdsm-sim-helpers';

const fixture = generateDataCenter({ vmCount: 5 });
const poolId = fixture.pool.id;
const tasksDirOf = (dataDir: string): string =>
  join(dataDir, poolId, fixture.pool.masterDomainId, 'master', 'tasks');
const [host1, host2] = fixture.hosts as [(typeof fixture.hosts)[number], (typeof fixture.hosts)[number]];
const domainId = fixture.domains[0]!.id;

interface Status {
  taskID: string;
  taskState: string;
  taskResult: string;
  code: number;
  message: string;
}

let dir: { dir: string; remove(): void };
const sims: Simulator[] = [];
const peers: RpcPeer[] = [];

beforeEach(() => {
  dir = tempDir('sim-life');
});

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.close();
  for (const sim of sims.splice(0)) await sim.stop();
  dir.remove();
});

async function start(options: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  const sim = await startSimulator({ fixture, dataDir: dir.dir, basePort: 0, ...options });
  sims.push(sim);
  return sim;
}

async function open(sim: Simulator, hostId = host1.id): Promise<RpcPeer> {
  const peer = await RpcPeer.open(sim.hosts.find((h) => h.hostId === hostId)!.port);
  peers.push(peer);
  return peer;
}

function volumeParams(volumeID: string, imageID: string): Record<string, unknown> {
  return {
    volumeID,
    storagepoolID: poolId,
    storagedomainID: domainId,
    imageID,
    size: '1073741824',
    volFormat: 4,
    preallocate: 2,
    diskType: 'DATA',
    desc: '',
    srcImgUUID: BLANK_UUID,
    srcVolUUID: BLANK_UUID,
  };
}

function deleteParams(disk: (typeof fixture.disks)[number]): Record<string, unknown> {
  return {
    imageID: disk.id,
    storagepoolID: poolId,
    storagedomainID: disk.domainId,
    postZero: false,
    force: false,
  };
}

async function until(peer: RpcPeer, taskID: string, taskState: string): Promise<Status> {
  return eventually(async () => {
    const s = await peer.call<Status>('Task.getStatus', { taskID });
    return s.taskState === taskState ? s : undefined;
  });
}

describe('persistence', () => {
  test('task files are replaced on every state change and keep a result only once finished', async () => {
    const sim = await start({ faults: { durations: { 'Volume.create': 300 } } });
    const spm = await open(sim);
    const taskID = await spm.call<string>('Volume.create', volumeParams(randomUUID(), randomUUID()));
    const file = join(tasksDirOf(dir.dir), `${taskID}.json`);
    const running = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(running).toMatchObject({
      id: taskID,
      name: 'createVolume',
      tag: 'spm',
      state: 'running',
      cleanPolicy: 'manual',
    });
    expect(running.result).toBeUndefined();
    expect(running.recoveries).toEqual([
      expect.objectContaining({ action: expect.objectContaining({ kind: 'removeVolume' }) }),
    ]);
    await until(spm, taskID, 'finished');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({
      state: 'finished',
      result: { code: 0, message: '1 jobs completed successfully', result: '' },
    });
    expect(readdirSync(tasksDirOf(dir.dir))).toEqual([`${taskID}.json`]);
  });

  test('restart: done tasks keep their result, in-flight ones roll back, deleted images stay deleted', async () => {
    const sim = await start({ faults: { durations: { 'Volume.create': 60_000 } } });
    let spm = await open(sim);
    const [deleted, failed] = fixture.disks;
    const done = await spm.call<string>('Image.delete', deleteParams(deleted!));
    await until(spm, done, 'finished');
    sim.setFaults({ failures: [{ verb: 'Image.delete', phase: 'task', code: 256 }] });
    const rolledBack = await spm.call<string>('Image.delete', deleteParams(failed!));
    await until(spm, rolledBack, 'finished');
    const volumeID = randomUUID();
    const imageID = randomUUID();
    const inFlight = await spm.call<string>('Volume.create', volumeParams(volumeID, imageID));
    expect(sim.storageSnapshot()[domainId]!.images[imageID]).toEqual([volumeID]);

    await sim.restart();
    spm = await open(sim);
    await until(spm, inFlight, 'finished');
    expect(await spm.call('Host.getAllTasksStatuses')).toEqual({
      [done]: {
        taskID: done,
        taskState: 'finished',
        taskResult: 'success',
        code: 0,
        message: '1 jobs completed successfully',
      },
      // As in VDSM, only a finished task's result is persisted: a reloaded failed task says "initializing".
      [rolledBack]: {
        taskID: rolledBack,
        taskState: 'finished',
        taskResult: 'cleanSuccess',
        code: 0,
        message: 'Task is initializing',
      },
      [inFlight]: {
        taskID: inFlight,
        taskState: 'finished',
        taskResult: 'cleanSuccess',
        code: 0,
        message: 'Task is initializing',
      },
    });
    expect(sim.listTasks().find((t) => t.id === inFlight)!.history).toEqual([
      'running',
      'aborting',
      'racquiring',
      'recovering',
      'recovered',
    ]);
    expect(sim.storageSnapshot()[domainId]!.images[imageID]).toBeUndefined();
    expect(sim.imageExists(deleted!.domainId, deleted!.id)).toBe(false);
    expect((await spm.error('Image.delete', deleteParams(failed!))).code).toBe(268);
  });

  test('an in-flight task whose rollback fails after a restart ends cleanFailure', async () => {
    const sim = await start({ faults: { durations: { 'Volume.create': 60_000 } } });
    let spm = await open(sim);
    const taskID = await spm.call<string>('Volume.create', volumeParams(randomUUID(), randomUUID()));
    sim.setFaults({ failures: [{ verb: 'Volume.create', phase: 'rollback', code: 100 }] });
    await sim.restart();
    spm = await open(sim);
    expect(await until(spm, taskID, 'finished')).toMatchObject({ taskResult: 'cleanFailure' });
  });
});

describe('SPM role', () => {
  test('failover: the old SPM answers 654, the new one has the tasks with in-flight ones rolled back', async () => {
    const sim = await start({ faults: { durations: { 'Volume.create': 60_000 } } });
    const old = await open(sim, host1.id);
    const done = await old.call<string>('Image.delete', deleteParams(fixture.disks[0]!));
    await until(old, done, 'finished');
    const volumeID = randomUUID();
    const imageID = randomUUID();
    const inFlight = await old.call<string>('Volume.create', volumeParams(volumeID, imageID));

    expect(await sim.failover(host2.id)).toEqual({ from: host1.id, to: host2.id });
    expect(sim.spmHostId()).toBe(host2.id);
    expect(await old.error('Host.getAllTasksStatuses')).toEqual({ code: 654, message: 'Not SPM: ()' });
    expect((await old.error('Task.getStatus', { taskID: done })).code).toBe(401);
    expect(await old.call('StoragePool.getSpmStatus', { storagepoolID: poolId })).toEqual({
      spmStatus: 'Free',
      spmLver: 1,
      spmId: host2.vdsId,
    });

    const fresh = await open(sim, host2.id);
    expect(await fresh.call('StoragePool.getSpmStatus', { storagepoolID: poolId })).toEqual({
      spmStatus: 'SPM',
      spmLver: 1,
      spmId: host2.vdsId,
    });
    await until(fresh, inFlight, 'finished');
    const statuses = await fresh.call<Record<string, Status>>('Host.getAllTasksStatuses');
    expect(statuses[done]).toMatchObject({ taskResult: 'success' });
    expect(statuses[inFlight]).toMatchObject({ taskResult: 'cleanSuccess' });
    expect(
      Object.values(await fresh.call<Record<string, { verb: string }>>('Host.getAllTasks'))
        .map((t) => t.verb)
        .sort(),
    ).toEqual(['createVolume', 'deleteImage']);
    expect(sim.storageSnapshot()[domainId]!.images[imageID]).toBeUndefined();
  });

  test('without autoSpm: spmStart (an hsm task) makes a host SPM and reloads the tasks; spmStop lets go', async () => {
    // A previous life left an in-flight task on the master domain.
    const first = await start({ faults: { durations: { 'Volume.create': 60_000 } } });
    const leftOver = await (
      await open(first)
    ).call<string>('Volume.create', volumeParams(randomUUID(), randomUUID()));
    await first.crash();

    const sim = await start({ autoSpm: false, faults: { durations: { 'StoragePool.spmStart': 300 } } });
    const a = await open(sim, host1.id);
    const b = await open(sim, host2.id);
    // The crashed SPM never released its lease: the metadata still names it.
    expect(await b.call('StoragePool.getSpmStatus', { storagepoolID: poolId })).toEqual({
      spmStatus: 'Free',
      spmLver: 0,
      spmId: host1.vdsId,
    });
    expect((await b.error('Host.getAllTasksStatuses')).code).toBe(654);

    const start2 = await b.call<string>('StoragePool.spmStart', {
      storagepoolID: poolId,
      prevID: -1,
      prevLver: '-1',
      enableScsiFencing: 'false',
    });
    expect(
      (await b.call<{ spmStatus: string }>('StoragePool.getSpmStatus', { storagepoolID: poolId })).spmStatus,
    ).toBe('Contend');
    expect(await until(b, start2, 'finished')).toMatchObject({
      taskResult: 'success',
      message: '1 jobs completed successfully',
    });
    expect(await b.call('StoragePool.getSpmStatus', { storagepoolID: poolId })).toEqual({
      spmStatus: 'SPM',
      spmLver: 1,
      spmId: host2.vdsId,
    });
    // The spmStart task is an hsm task: Task verbs and Host.getAllTasks see it, getAllTasksStatuses does not.
    await until(b, leftOver, 'finished');
    expect(Object.keys(await b.call('Host.getAllTasksStatuses'))).toEqual([leftOver]);
    expect(await b.call<Record<string, { tag: string }>>('Host.getAllTasks')).toMatchObject({
      [start2]: { verb: 'spmStart', tag: 'hsm' },
    });
    expect(
      await b.error('StoragePool.spmStart', {
        storagepoolID: poolId,
        prevID: -1,
        prevLver: -1,
        enableScsiFencing: false,
      }),
    ).toEqual({
      code: 656,
      message: `Operation not allowed while SPM is active: ('${poolId}',)`,
    });

    // The lease is held: another host's spmStart task fails (651) and it stays Free.
    const contender = await a.call<string>('StoragePool.spmStart', {
      storagepoolID: poolId,
      prevID: -1,
      prevLver: -1,
      enableScsiFencing: false,
    });
    expect(await until(a, contender, 'finished')).toMatchObject({ taskResult: 'cleanSuccess', code: 651 });
    expect(
      (await a.call<{ spmStatus: string }>('StoragePool.getSpmStatus', { storagepoolID: poolId })).spmStatus,
    ).toBe('Free');

    expect(await b.call('StoragePool.spmStop', { storagepoolID: poolId })).toBe(true);
    expect(await b.call('StoragePool.getSpmStatus', { storagepoolID: poolId })).toEqual({
      spmStatus: 'Free',
      spmLver: 1,
      spmId: -1,
    });
    expect((await b.error('Host.getAllTasksStatuses')).code).toBe(654);
    expect(await a.call('StoragePool.spmStop', { storagepoolID: poolId })).toBe(true);
    expect(await b.call('Task.clear', { taskID: start2 })).toBe(true);
  });
});

describe('injected crashes', () => {
  test('exitAfter afterAccept: no answer, the simulator is down; a restart rolls the task back', async () => {
    const sim = await start({
      faults: {
        durations: { 'Image.delete': 60_000 },
        exitAfter: { verb: 'Image.delete', when: 'afterAccept' },
      },
    });
    const crashed = new Promise<void>((resolve) => sim.onCrash(resolve));
    const disk = fixture.disks[1]!;
    const peer = await open(sim);
    await expect(peer.request('Image.delete', deleteParams(disk))).rejects.toThrow(/closed/);
    await crashed;
    expect(sim.running).toBe(false);

    await sim.restart();
    const spm = await open(sim);
    const [taskID] = Object.keys(await spm.call<Record<string, Status>>('Host.getAllTasksStatuses'));
    expect(await until(spm, taskID!, 'finished')).toMatchObject({ taskResult: 'cleanSuccess' });
    expect(await spm.call('Task.getInfo', { taskID })).toEqual({ id: taskID, verb: 'deleteImage' });
    // The rename happened before the crash: the image is gone for good.
    expect((await spm.error('Image.delete', deleteParams(disk))).code).toBe(268);
  });

  test('exitAfter beforeAccept: the verb never ran', async () => {
    const sim = await start({
      faults: { exitAfter: { verb: 'Image.delete', when: 'beforeAccept', count: 2 } },
    });
    const disks = fixture.disks.slice(2, 4);
    const peer = await open(sim);
    expect(typeof (await peer.call('Image.delete', deleteParams(disks[0]!)))).toBe('string');
    await expect(peer.request('Image.delete', deleteParams(disks[1]!))).rejects.toThrow(/closed/);
    await sim.restart();
    expect(sim.imageExists(disks[0]!.domainId, disks[0]!.id)).toBe(false);
    expect(sim.imageExists(disks[1]!.domainId, disks[1]!.id)).toBe(true);
  });

  test('after a start VDSM answers 99 while it recovers', async () => {
    const sim = await start({ faults: { recoveringMs: 300 } });
    const peer = await open(sim);
    expect(await peer.error('Host.ping2')).toEqual({
      code: 99,
      message: 'Recovering from crash or Initializing',
    });
    await eventually(async () => (await peer.request('Host.ping2')).result === true);
  });
});

describe('transport faults', () => {
  test('dropConnections: the verb runs, the connection closes instead of answering', async () => {
    const sim = await start({ faults: { dropConnections: { afterRequests: 2 } } });
    const peer = await open(sim);
    expect(await peer.call('Host.ping2')).toBe(true);
    const disk = fixture.disks[0]!;
    await expect(peer.request('Image.delete', deleteParams(disk))).rejects.toThrow(/closed/);
    expect(sim.imageExists(disk.domainId, disk.id)).toBe(false);
  });

  test('latencyMs delays answers; stopAnswering swallows requests on the named hosts only', async () => {
    const sim = await start({ faults: { latencyMs: 250 } });
    const spm = await open(sim);
    const before = Date.now();
    expect(await spm.call('Host.ping2')).toBe(true);
    expect(Date.now() - before).toBeGreaterThanOrEqual(240);

    sim.setFaults({ latencyMs: null, stopAnswering: [host1.name] });
    const disk = fixture.disks[0]!;
    await expect(spm.request('Image.delete', deleteParams(disk), 300)).rejects.toThrow(/no matching frame/);
    expect(sim.imageExists(disk.domainId, disk.id)).toBe(true);
    expect(await (await open(sim, host2.id)).call('Host.ping2')).toBe(true);
  });
});

describe('counters and the control endpoint', () => {
  test('verbs are counted per host and per pool, and can be reset', async () => {
    const sim = await start();
    const spm = await open(sim, host1.id);
    const other = await open(sim, host2.id);
    await spm.call('Host.getAllTasksStatuses');
    await spm.call('Host.getAllTasksStatuses');
    await other.request('Host.getAllTasksStatuses');
    await other.request('No.such');
    const counters = sim.counters();
    expect(counters.hosts[host1.id]).toMatchObject({
      name: host1.name,
      total: 2,
      verbs: { 'Host.getAllTasksStatuses': 2 },
    });
    expect(counters.hosts[host2.id]!.verbs).toEqual({ 'Host.getAllTasksStatuses': 1, 'No.such': 1 });
    expect(counters.hosts[host1.id]!.connections).toBeGreaterThanOrEqual(1);
    expect(counters.pools[poolId]).toEqual({
      total: 4,
      verbs: { 'Host.getAllTasksStatuses': 3, 'No.such': 1 },
    });
    sim.resetCounters();
    expect(sim.counters().pools[poolId]).toEqual({ total: 0, verbs: {} });
  });

  test('the loopback HTTP endpoint exposes the same operations', async () => {
    const sim = await start({ controlPort: 0 });
    const base = `http://127.0.0.1:${sim.controlPort}`;
    const call = async (
      method: string,
      path: string,
      body?: unknown,
    ): Promise<{ status: number; json: unknown }> => {
      const res = await fetch(`${base}${path}`, {
        method,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, json: await res.json() };
    };
    expect(await call('GET', '/health')).toEqual({
      status: 200,
      json: { running: true, poolId, spmHostId: host1.id },
    });
    expect((await call('GET', '/hosts')).json).toHaveLength(fixture.hosts.length);

    const bad = await call('POST', '/faults', { latencyMs: -5 });
    expect(bad.status).toBe(400);
    expect((await call('POST', '/faults', { durations: { 'Image.delete': 50 } })).json).toMatchObject({
      durations: { 'Image.delete': 50 },
    });

    const peer = await open(sim);
    const taskID = await peer.call<string>('Image.delete', deleteParams(fixture.disks[0]!));
    expect((await call('GET', '/counters')).json).toMatchObject({
      pools: { [poolId]: { verbs: { 'Image.delete': 1 } } },
    });
    expect(
      ((await call('POST', '/counters/reset')).json as { pools: Record<string, { total: number }> }).pools[
        poolId
      ]!.total,
    ).toBe(0);
    expect((await call('GET', '/tasks')).json).toEqual([
      expect.objectContaining({ id: taskID, verb: 'deleteImage', hostId: host1.id }),
    ]);
    const storage = (await call('GET', '/storage')).json as Record<
      string,
      { images: Record<string, string[]> }
    >;
    expect(storage[fixture.disks[0]!.domainId]!.images[fixture.disks[0]!.id]).toBeUndefined();

    expect((await call('POST', '/failover', { toHostId: host2.id })).json).toEqual({
      from: host1.id,
      to: host2.id,
    });
    expect((await call('POST', '/restart')).json).toEqual({ running: true, spmHostId: host2.id });
    expect((await call('GET', '/nowhere')).status).toBe(404);
  });
});
