/**
 * Where the simulator follows VDSM's task.py closely: Task.stop of a job without an abort
 * callback, recovery policies read back from task files, TaskHasRefs (442); and the vdsm-sim
 * command's listening address.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { generateDataCenter } from '../src/fixture';
import { startSimulator, type Simulator, simulatorOptionsFromFlags } from '../src/vdsm-sim';
import { SimTask, TaskManager } from '../src/vdsm-sim/tasks';
import { eventually, RpcPeer, sleep, tempDir } from './vdsm-sim-helpers';

const fixture = generateDataCenter({ vmCount: 6 });
const poolId = fixture.pool.id;
const tasksDir = (dataDir: string): string =>
  join(dataDir, poolId, fixture.pool.masterDomainId, 'master', 'tasks');

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
  dir = tempDir('sim-fidelity');
});

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.close();
  for (const sim of sims.splice(0)) await sim.stop();
  dir.remove();
});

async function start(): Promise<{ sim: Simulator; spm: RpcPeer }> {
  const sim = await startSimulator({ fixture, dataDir: dir.dir, basePort: 0 });
  sims.push(sim);
  const spm = await RpcPeer.open(sim.hosts[0]!.port);
  peers.push(spm);
  return { sim, spm };
}

async function until(spm: RpcPeer, taskID: string, taskState: string): Promise<Status> {
  return eventually(async () => {
    const s = await spm.call<Status>('Task.getStatus', { taskID });
    return s.taskState === taskState ? s : undefined;
  });
}

const deleteParams = (disk: (typeof fixture.disks)[number]) => ({
  imageID: disk.id,
  storagepoolID: poolId,
  storagedomainID: disk.domainId,
  postZero: false,
  force: false,
});

describe('Task.stop of a job VDSM cannot abort (the purge behind Image.delete)', () => {
  test('the purge runs to its end, then the task aborts: image gone, task rolled back (cleanSuccess)', async () => {
    const { sim, spm } = await start();
    sim.setFaults({ durations: { 'Image.delete': 600 }, abortLatencyMs: 0 });
    const disk = fixture.disks[0]!;
    const taskID = await spm.call<string>('Image.delete', deleteParams(disk));
    await eventually(() => sim.listTasks().find((t) => t.id === taskID)?.state === 'running');
    expect(await spm.call('Task.stop', { taskID })).toBe(true);
    await sleep(200);
    // Still working: VDSM only flags the abort; the state moves when the job returns.
    expect((await spm.call<Status>('Task.getStatus', { taskID })).taskState).toBe('running');
    expect(sim.storageSnapshot()[disk.domainId]!.removed).toContain(disk.id);
    expect((await spm.error('Task.stop', { taskID })).code).toBe(411);

    expect(await until(spm, taskID, 'finished')).toEqual({
      taskID,
      taskState: 'finished',
      taskResult: 'cleanSuccess',
      code: 411,
      message: 'value=shutting down abortedcode=411',
    });
    expect(sim.storageSnapshot()[disk.domainId]!.removed).not.toContain(disk.id);
    expect(sim.imageExists(disk.domainId, disk.id)).toBe(false);
    expect(
      sim
        .listTasks()
        .find((t) => t.id === taskID)!
        .history.slice(-5),
    ).toEqual(['running', 'aborting', 'racquiring', 'recovering', 'recovered']);
  });

  test('abortableJobs "all" restores the old cut-off: the image is left renamed, not purged', async () => {
    const { sim, spm } = await start();
    sim.setFaults({ durations: { 'Image.delete': 60_000 }, abortLatencyMs: 50, abortableJobs: 'all' });
    const disk = fixture.disks[1]!;
    const taskID = await spm.call<string>('Image.delete', deleteParams(disk));
    await eventually(() => sim.listTasks().find((t) => t.id === taskID)?.state === 'running');
    await spm.call('Task.stop', { taskID });
    expect(await until(spm, taskID, 'finished')).toMatchObject({
      taskResult: 'cleanSuccess',
      code: 411,
      message: `value=${taskID} abortedcode=411`,
    });
    expect(sim.storageSnapshot()[disk.domainId]!.removed).toContain(disk.id);
  });

  test('an abortable job (the qemu-img copy of Image.move) is cut off: TaskAborted carries the task id', async () => {
    const { sim, spm } = await start();
    sim.setFaults({ durations: { 'Image.move': 60_000 }, abortLatencyMs: 50 });
    const disk = fixture.disks.find((d) => d.domainId === fixture.domains[0]!.id)!;
    const dst = fixture.domains[2]!.id;
    const taskID = await spm.call<string>('Image.move', {
      ...deleteParams(disk),
      dstSdUUID: dst,
      operation: 1,
    });
    await eventually(() => sim.listTasks().find((t) => t.id === taskID)?.state === 'running');
    await spm.call('Task.stop', { taskID });
    expect(await until(spm, taskID, 'finished')).toMatchObject({
      taskResult: 'cleanSuccess',
      code: 411,
      message: `value=${taskID} abortedcode=411`,
    });
    expect(sim.imageExists(dst, disk.id)).toBe(false);
  });
});

describe('recovery policies from task files', () => {
  /** A task file as the simulator writes them, with the given policy and a removeVolume rollback. */
  function writeTaskFile(
    state: string,
    recoveryPolicy: string,
    disk: (typeof fixture.disks)[number],
  ): string {
    const id = randomUUID();
    mkdirSync(tasksDir(dir.dir), { recursive: true });
    writeFileSync(
      join(tasksDir(dir.dir), `${id}.json`),
      JSON.stringify({
        metadataVersion: 1,
        id,
        name: 'createVolume',
        tag: 'spm',
        state,
        recoveryPolicy,
        cleanPolicy: 'manual',
        jobs: [{ name: 'createVolume' }],
        recoveries: [
          {
            name: `Create volume rollback: ${disk.volumeIds[0]}`,
            action: {
              kind: 'removeVolume',
              domainId: disk.domainId,
              imageId: disk.id,
              volumeId: disk.volumeIds[0],
            },
          },
        ],
        ...(state === 'finished'
          ? { result: { code: 0, message: '1 jobs completed successfully', result: '' } }
          : {}),
      }),
    );
    return id;
  }

  test('"none": Task.revert does nothing; a reloaded running task fails without a rollback', async () => {
    const [finishedDisk, runningDisk] = fixture.disks.filter((d) => d.volumeIds.length === 1) as [
      (typeof fixture.disks)[number],
      (typeof fixture.disks)[number],
    ];
    const finished = writeTaskFile('finished', 'none', finishedDisk);
    const running = writeTaskFile('running', 'none', runningDisk);
    const { sim, spm } = await start();

    expect(await spm.call('Task.revert', { taskID: finished })).toBe(true);
    expect(await spm.call<Status>('Task.getStatus', { taskID: finished })).toMatchObject({
      taskState: 'finished',
      taskResult: 'success',
    });
    expect(sim.imageExists(finishedDisk.domainId, finishedDisk.id)).toBe(true);

    expect(await until(spm, running, 'finished')).toMatchObject({ taskResult: 'cleanFailure' });
    expect(sim.listTasks().find((t) => t.id === running)!.history).toEqual(['running', 'aborting', 'failed']);
    expect(sim.imageExists(runningDisk.domainId, runningDisk.id)).toBe(true);
  });

  test('"auto" (what VDSM writes): the same files roll back; "manual" waits in cleaning', async () => {
    const disks = fixture.disks.filter((d) => d.volumeIds.length === 1);
    const [finishedDisk, runningDisk, manualDisk] = disks as [
      (typeof disks)[number],
      (typeof disks)[number],
      (typeof disks)[number],
    ];
    const finished = writeTaskFile('finished', 'auto', finishedDisk);
    const running = writeTaskFile('running', 'auto', runningDisk);
    const manual = writeTaskFile('running', 'manual', manualDisk);
    const { sim, spm } = await start();

    expect(await until(spm, running, 'finished')).toMatchObject({ taskResult: 'cleanSuccess' });
    expect(sim.imageExists(runningDisk.domainId, runningDisk.id)).toBe(false);
    expect(await spm.call('Task.revert', { taskID: finished })).toBe(true);
    expect((await spm.call<Status>('Task.getStatus', { taskID: finished })).taskResult).toBe('cleanSuccess');
    expect(sim.imageExists(finishedDisk.domainId, finishedDisk.id)).toBe(false);

    expect(await until(spm, manual, 'cleaning')).toMatchObject({ taskResult: '' });
    expect(sim.listTasks().find((t) => t.id === manual)!.state).toBe('waitrecover');
    expect(sim.imageExists(manualDisk.domainId, manualDisk.id)).toBe(true);
  });
});

test('Task.revert of a finished task a flow still holds is 442 TaskHasRefs', async () => {
  const manager = new TaskManager({
    runRecovery: () => undefined,
    rollbackFailure: () => undefined,
    rollbackMs: () => 0,
    abortLatencyMs: () => 0,
    onStateChange: () => undefined,
    log: () => undefined,
  });
  const task = new SimTask('createVolume');
  task.job = { name: 'createVolume', workMs: 0, complete: () => undefined };
  manager.accept(task);
  await eventually(() => task.state === 'finished');
  // What VDSM's ref count is while e.g. the worker still returns from the job.
  task.active = true;
  await expect(manager.revert(task)).rejects.toMatchObject({
    code: 442,
    message: `operation cannot be performed - task has active references: ('${task.id}',)`,
  });
  task.active = false;
  await manager.revert(task);
  expect(task.state).toBe('recovered');
});

test('vdsm-sim --host: the hosts listen on that address only', async () => {
  const options = simulatorOptionsFromFlags({ host: '127.0.0.2', port: 0, data: dir.dir });
  expect(options.host).toBe('127.0.0.2');
  const sim = await startSimulator({ ...options, log: () => undefined });
  sims.push(sim);
  const port = sim.hosts[0]!.port;
  expect(sim.hosts[0]!.address).toBe('127.0.0.2');
  const reach = (host: string): Promise<string> =>
    new Promise((resolve) => {
      const socket = connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
  expect(await reach('127.0.0.2')).toBe('connected');
  expect(await reach('127.0.0.1')).toBe('ECONNREFUSED');
  expect(simulatorOptionsFromFlags({ data: dir.dir }).host).toBe('127.0.0.1');
});
