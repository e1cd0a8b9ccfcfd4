/**
 * SPM tasks as VDSM runs them: states, wire mapping, codes and messages, the Task verbs' rules in
 * every state, rollback, the worker pool and queue limit, SPM-only verbs, and the storage effects.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { generateDataCenter } from '../src/fixture';
import { startSimulator, type Simulator } from '../src/vdsm-sim';
import { BLANK_UUID } from '../src/vdsm-sim/storage';
import { eventually, RpcPeer, tempDir } from './vdsm-sim-helpers';

const fixture = generateDataCenter({ vmCount: 6 });
const poolId = fixture.pool.id;
const masterId = fixture.pool.masterDomainId;
/** A block domain (iscsi); the file (nfs) one where a test needs file storage. */
const domainId = fixture.domains[1]!.id;
const fileDomainId = fixture.domains[0]!.id;

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

async function open(hostIndex = 0): Promise<RpcPeer> {
  const peer = await RpcPeer.open(sim.hosts[hostIndex]!.port);
  peers.push(peer);
  return peer;
}

beforeEach(async () => {
  dir = tempDir('sim-tasks');
  sim = await startSimulator({ fixture, dataDir: dir.dir, basePort: 0 });
  spm = await open();
});

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.close();
  await sim.stop();
  dir.remove();
});

function volumeParams(
  volumeID: string = randomUUID(),
  imageID: string = randomUUID(),
): Record<string, unknown> {
  return {
    volumeID,
    storagepoolID: poolId,
    storagedomainID: domainId,
    imageID,
    size: String(10 * 1024 ** 3),
    volFormat: 5,
    preallocate: 2,
    diskType: 'DATA',
    desc: 'test volume',
    srcImgUUID: BLANK_UUID,
    srcVolUUID: BLANK_UUID,
  };
}

function deleteParams(disk: (typeof fixture.disks)[number], postZero = false): Record<string, unknown> {
  return { imageID: disk.id, storagepoolID: poolId, storagedomainID: disk.domainId, postZero, force: false };
}

const status = (taskID: string, peer = spm): Promise<Status> =>
  peer.call<Status>('Task.getStatus', { taskID });
const internalState = (taskID: string): string | undefined =>
  sim.listTasks().find((t) => t.id === taskID)?.state;
const history = (taskID: string): string[] => sim.listTasks().find((t) => t.id === taskID)?.history ?? [];

async function until(taskID: string, taskState: string): Promise<Status> {
  return eventually(async () => {
    const s = await status(taskID);
    return s.taskState === taskState ? s : undefined;
  });
}

function volumeInfo(
  volumeID: string,
  imageID: string,
  storagedomainID = domainId,
): Promise<Record<string, unknown>> {
  return spm.call('Volume.getInfo', { volumeID, imageID, storagepoolID: poolId, storagedomainID });
}

describe('the life of a task', () => {
  test('10 run at once, the rest wait; codes and messages follow VDSM over the life', async () => {
    sim.setFaults({ durations: { 'Volume.create': 400 } });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await spm.call<string>('Volume.create', volumeParams()));
    expect(ids.map(internalState)).toEqual([...Array<string>(10).fill('running'), 'queued', 'queued']);
    expect(await status(ids[0]!)).toEqual({
      taskID: ids[0],
      taskState: 'running',
      taskResult: '',
      code: 0,
      message: 'running job 1 of 1',
    });
    // Waiting for a worker is `running` on the wire, still "initializing".
    expect(await status(ids[11]!)).toEqual({
      taskID: ids[11],
      taskState: 'running',
      taskResult: '',
      code: 0,
      message: 'Task is initializing',
    });
    await until(ids[0]!, 'finished');
    // Freed workers take the waiting tasks.
    await eventually(() => internalState(ids[10]!) !== 'queued');
    await eventually(() => internalState(ids[11]!) !== 'queued');
    const done = await until(ids[11]!, 'finished');
    expect(done).toEqual({
      taskID: ids[11],
      taskState: 'finished',
      taskResult: 'success',
      code: 0,
      message: '1 jobs completed successfully',
    });
    expect(history(ids[11]!)).toEqual(['init', 'preparing', 'acquiring', 'queued', 'running', 'finished']);
  });

  test('at most 500 tasks wait for a worker: the next one is 405 and leaves no task', async () => {
    sim.setFaults({ durations: { 'Volume.create': 60_000 } });
    const total = 511;
    for (let i = 0; i < total; i++) {
      spm.sendBody(
        JSON.stringify({ jsonrpc: '2.0', method: 'Volume.create', params: volumeParams(), id: i }),
      );
    }
    const answers = await eventually(() => {
      const messages = spm.stomp.frames.filter(
        (f) => f.command === 'MESSAGE' && f.headers.subscription === 'replies',
      );
      return messages.length >= total
        ? messages.map(
            (f) =>
              JSON.parse(f.body.toString()) as {
                id: number;
                result?: string;
                error?: { code: number; message: string };
              },
          )
        : undefined;
    }, 20_000);
    answers.sort((a, b) => a.id - b.id);
    expect(answers.slice(0, 510).every((a) => typeof a.result === 'string')).toBe(true);
    expect(answers[510]!.error).toEqual({ code: 405, message: 'TaskManager error, unable to add task: ()' });
    const statuses = await spm.call<Record<string, Status>>('Host.getAllTasksStatuses');
    expect(Object.keys(statuses)).toHaveLength(510);
    expect(sim.listTasks().filter((t) => t.state === 'running')).toHaveLength(10);
  }, 30_000);

  test('Task.getInfo, Host.getAllTasksInfo and Host.getAllTasks describe SPM tasks', async () => {
    const taskID = await spm.call<string>('Image.delete', deleteParams(fixture.disks[0]!));
    await until(taskID, 'finished');
    expect(await spm.call('Task.getInfo', { taskID })).toEqual({ id: taskID, verb: 'deleteImage' });
    expect(await spm.call('Host.getAllTasksInfo')).toEqual({ [taskID]: { id: taskID, verb: 'deleteImage' } });
    expect(await spm.call('Host.getAllTasks')).toEqual({
      [taskID]: {
        id: taskID,
        verb: 'deleteImage',
        state: 'finished',
        code: 0,
        message: '1 jobs completed successfully',
        result: '',
        tag: 'spm',
      },
    });
  });
});

describe('Task.stop, Task.clear and Task.revert in every state', () => {
  test('unknown and invalid task ids', async () => {
    const unknown = randomUUID();
    for (const verb of ['Task.getStatus', 'Task.getInfo', 'Task.stop', 'Task.clear', 'Task.revert']) {
      expect(await spm.error(verb, { taskID: unknown })).toEqual({
        code: 401,
        message: `Task id unknown: ('${unknown}',)`,
      });
    }
    expect(await spm.error('Task.getStatus', { taskID: '' })).toEqual({
      code: 1000,
      message: "Invalid parameter: 'taskID='",
    });
    expect(await spm.error('Task.getStatus', { taskID: 'a.b' })).toEqual({
      code: 1000,
      message: "Invalid parameter: 'taskID=a.b'",
    });
  });

  test('queued: stop rolls it back at once (cleanSuccess, still "initializing")', async () => {
    sim.setFaults({ durations: { 'Volume.create': 2000 } });
    for (let i = 0; i < 10; i++) await spm.call('Volume.create', volumeParams());
    const taskID = await spm.call<string>('Volume.create', volumeParams());
    expect(internalState(taskID)).toBe('queued');
    expect(await spm.call('Task.stop', { taskID })).toBe(true);
    expect(await status(taskID)).toEqual({
      taskID,
      taskState: 'finished',
      taskResult: 'cleanSuccess',
      code: 0,
      message: 'Task is initializing',
    });
    expect(history(taskID).slice(-5)).toEqual([
      'queued',
      'aborting',
      'racquiring',
      'recovering',
      'recovered',
    ]);
  });

  test('running, then cleaning: stop cuts an abortable job off and rolls back; clear is 410, revert 403, a second stop 411', async () => {
    sim.setFaults({ durations: { 'Volume.create': 5000 }, abortLatencyMs: 300, rollbackMs: 400 });
    const volumeID = randomUUID();
    const imageID = randomUUID();
    // A COW base volume on a file domain is a qemu-img create, run under the task's abort callback.
    const taskID = await spm.call<string>('Volume.create', {
      ...volumeParams(volumeID, imageID),
      storagedomainID: fileDomainId,
      volFormat: 4,
    });
    expect((await volumeInfo(volumeID, imageID, fileDomainId)).legality).toBe('ILLEGAL');
    expect(await spm.error('Task.clear', { taskID })).toEqual({
      code: 410,
      message: 'Operation is not allowed in this task state: ("can\'t clean in state running",)',
    });
    expect(await spm.error('Task.revert', { taskID })).toEqual({
      code: 403,
      message: 'Task not finished: ("can\'t rollback in state running",)',
    });

    expect(await spm.call('Task.stop', { taskID })).toBe(true);
    // The job has not noticed yet: still running, but a second stop is refused.
    expect((await status(taskID)).taskState).toBe('running');
    expect(await spm.error('Task.stop', { taskID })).toEqual({
      code: 411,
      message: `Task is aborted: 'value=${taskID} abortedcode=411'`,
    });

    // The aborted qemu-img raised inside _run, whose own stop() raised TaskAborted(<task id>).
    const cleaning = await until(taskID, 'cleaning');
    expect(cleaning).toEqual({
      taskID,
      taskState: 'cleaning',
      taskResult: '',
      code: 411,
      message: `value=${taskID} abortedcode=411`,
    });
    expect(await spm.error('Task.clear', { taskID })).toEqual({
      code: 410,
      message: 'Operation is not allowed in this task state: ("can\'t clean in state recovering",)',
    });
    expect(await spm.error('Task.revert', { taskID })).toEqual({
      code: 403,
      message: 'Task not finished: ("can\'t rollback in state recovering",)',
    });
    // An SPM task (manual clean policy) takes the stop while cleaning; VDSM then refuses another.
    expect(await spm.call('Task.stop', { taskID })).toBe(true);
    expect((await spm.error('Task.stop', { taskID })).code).toBe(411);

    const ended = await until(taskID, 'finished');
    expect(ended).toEqual({
      taskID,
      taskState: 'finished',
      taskResult: 'cleanSuccess',
      code: 411,
      message: `value=${taskID} abortedcode=411`,
    });
    expect(history(taskID).slice(-6)).toEqual([
      'queued',
      'running',
      'aborting',
      'racquiring',
      'recovering',
      'recovered',
    ]);
    // The rollback removed the half-created volume.
    expect(
      (
        await spm.error('Volume.getInfo', {
          volumeID,
          imageID,
          storagepoolID: poolId,
          storagedomainID: fileDomainId,
        })
      ).code,
    ).toBe(201);
  });

  test('finished: stop is a no-op, revert rolls back (cleanSuccess) once, clear forgets it', async () => {
    const volumeID = randomUUID();
    const imageID = randomUUID();
    const taskID = await spm.call<string>('Volume.create', volumeParams(volumeID, imageID));
    await until(taskID, 'finished');
    expect(await volumeInfo(volumeID, imageID)).toMatchObject({
      legality: 'LEGAL',
      generation: 0,
      format: 'RAW',
      voltype: 'LEAF',
      status: 'OK',
    });
    expect(await spm.call('Task.stop', { taskID })).toBe(true);
    expect((await status(taskID)).taskResult).toBe('success');

    expect(await spm.call('Task.revert', { taskID })).toBe(true);
    expect(await status(taskID)).toEqual({
      taskID,
      taskState: 'finished',
      taskResult: 'cleanSuccess',
      code: 0,
      message: '1 jobs completed successfully',
    });
    expect(
      (
        await spm.error('Volume.getInfo', {
          volumeID,
          imageID,
          storagepoolID: poolId,
          storagedomainID: domainId,
        })
      ).code,
    ).toBe(201);
    expect(await spm.error('Task.revert', { taskID })).toEqual({
      code: 441,
      message: "cannot move task to requested state: ('from recovered to racquiring',)",
    });

    const file = join(dir.dir, poolId, masterId, 'master', 'tasks', `${taskID}.json`);
    expect(existsSync(file)).toBe(true);
    expect(await spm.call('Task.clear', { taskID })).toBe(true);
    expect(existsSync(file)).toBe(false);
    expect((await spm.error('Task.getStatus', { taskID })).code).toBe(401);
  });

  test('failed rollback: cleanFailure keeps the job error; revert is 441; clear works', async () => {
    sim.setFaults({
      failures: [
        { verb: 'Volume.create', phase: 'task', code: 205 },
        { verb: 'Volume.create', phase: 'rollback', code: 100 },
      ],
    });
    const volumeID = randomUUID();
    const imageID = randomUUID();
    const taskID = await spm.call<string>('Volume.create', volumeParams(volumeID, imageID));
    const ended = await until(taskID, 'finished');
    expect(ended).toEqual({
      taskID,
      taskState: 'finished',
      taskResult: 'cleanFailure',
      code: 205,
      message: "value=Error creating a new volume: ('injected fault',) abortedcode=205",
    });
    expect(history(taskID).slice(-5)).toEqual([
      'aborting',
      'racquiring',
      'recovering',
      'raborting',
      'failed',
    ]);
    // Nothing was rolled back: the volume is left ILLEGAL.
    expect((await volumeInfo(volumeID, imageID)).legality).toBe('ILLEGAL');
    expect(await spm.error('Task.revert', { taskID })).toEqual({
      code: 441,
      message: "cannot move task to requested state: ('from failed to racquiring',)",
    });
    expect(await spm.call('Task.stop', { taskID })).toBe(true);
    expect(await spm.call('Task.clear', { taskID })).toBe(true);
  });
});

describe('failures and their codes', () => {
  test('a storage error fails the task with its own code; the deleted image stays gone', async () => {
    sim.setFaults({ failures: [{ verb: 'Image.delete', phase: 'task', code: 256, count: 1 }] });
    const disk = fixture.disks[2]!;
    const taskID = await spm.call<string>('Image.delete', deleteParams(disk));
    expect(await until(taskID, 'finished')).toEqual({
      taskID,
      taskState: 'finished',
      taskResult: 'cleanSuccess',
      code: 256,
      message: "value=Could not remove all image's volumes: ('injected fault',) abortedcode=256",
    });
    // Image.delete renamed it before queueing and has no rollback: still invisible, not purged.
    expect(sim.imageExists(disk.domainId, disk.id)).toBe(false);
    expect(sim.storageSnapshot()[disk.domainId]!.removed).toContain(disk.id);
    expect((await spm.error('Image.delete', deleteParams(disk))).code).toBe(268);
  });

  test('a non-storage error fails the task with code 100', async () => {
    sim.setFaults({ failures: [{ verb: 'Image.delete', phase: 'task', code: 851 }] });
    const taskID = await spm.call<string>('Image.delete', deleteParams(fixture.disks[3]!));
    const ended = await until(taskID, 'finished');
    expect(ended).toMatchObject({
      taskResult: 'cleanSuccess',
      code: 100,
      message: "value=Resource timeout: ('injected fault',) abortedcode=100",
    });
  });

  test('Volume.create with an existing volume id: the task fails with 212, the volume is untouched', async () => {
    const disk = fixture.disks.find((d) => d.domainId === domainId)!;
    const existing = disk.volumeIds[0]!;
    const taskID = await spm.call<string>('Volume.create', volumeParams(existing, disk.id));
    expect(await until(taskID, 'finished')).toEqual({
      taskID,
      taskState: 'finished',
      taskResult: 'cleanSuccess',
      code: 212,
      message: `value=Volume already exists: ('${existing}',) abortedcode=212`,
    });
    expect(await volumeInfo(existing, disk.id)).toMatchObject({ legality: 'LEGAL', uuid: existing });
  });

  test('Image.delete of a missing image is 268 at once, on any host, and leaves no task', async () => {
    const missing = randomUUID();
    const params = {
      imageID: missing,
      storagepoolID: poolId,
      storagedomainID: domainId,
      postZero: false,
      force: false,
    };
    const expected = {
      code: 268,
      message: `Image does not exist in domain: 'image=${missing}, domain=${domainId}'`,
    };
    expect(await spm.error('Image.delete', params)).toEqual(expected);
    expect(await (await open(1)).error('Image.delete', params)).toEqual(expected);
    expect(await spm.call('Host.getAllTasksStatuses')).toEqual({});
  });

  test('an injected synchronous error answers the verb and changes nothing', async () => {
    sim.setFaults({ failures: [{ verb: 'Image.delete', phase: 'sync', code: 851, count: 1 }] });
    const disk = fixture.disks[4]!;
    expect(await spm.error('Image.delete', deleteParams(disk))).toEqual({
      code: 851,
      message: "Resource timeout: ('injected fault',)",
    });
    expect(sim.imageExists(disk.domainId, disk.id)).toBe(true);
    expect(typeof (await spm.call('Image.delete', deleteParams(disk)))).toBe('string');
  });

  test('unknown pool and domain', async () => {
    const other = randomUUID();
    expect(await spm.error('StoragePool.getSpmStatus', { storagepoolID: other })).toEqual({
      code: 309,
      message: `Unknown pool id, pool not connected: ('${other}',)`,
    });
    expect(await spm.error('StorageDomain.getImages', { storagedomainID: other })).toEqual({
      code: 358,
      message: `Storage domain does not exist: ('${other}',)`,
    });
  });
});

describe('SPM-only verbs', () => {
  test('off the SPM: getAllTasks* are 654, task verbs too; Host.getAllTasks is not checked', async () => {
    const host2 = await open(1);
    // hsm raises SpmStatusError() without the pool id; the secured rename of Image.delete maps to plain "Not SPM".
    expect(await host2.error('Host.getAllTasksStatuses')).toEqual({ code: 654, message: 'Not SPM: ()' });
    expect(await host2.error('Host.getAllTasksInfo')).toEqual({ code: 654, message: 'Not SPM: ()' });
    expect(await host2.call('Host.getAllTasks')).toEqual({});
    const disk = fixture.disks[0]!;
    expect(await host2.error('Image.delete', deleteParams(disk))).toEqual({ code: 654, message: 'Not SPM' });
    expect(await host2.error('Image.delete', deleteParams(disk, true))).toEqual({
      code: 654,
      message: `Not SPM: ('${poolId}',)`,
    });
    expect(await host2.error('Volume.create', volumeParams())).toEqual({
      code: 654,
      message: `Not SPM: ('${poolId}',)`,
    });
    expect(sim.imageExists(disk.domainId, disk.id)).toBe(true);
    expect(await host2.call('StoragePool.getSpmStatus', { storagepoolID: poolId })).toEqual({
      spmStatus: 'Free',
      spmLver: 0,
      spmId: 1,
    });
  });
});

describe('storage effects', () => {
  test('StorageDomain.getImages and Image.getVolumes reflect the fixture and deletions', async () => {
    const disk = fixture.disks.find((d) => d.volumeIds.length === 2) ?? fixture.disks[0]!;
    const images = await spm.call<string[]>('StorageDomain.getImages', { storagedomainID: disk.domainId });
    expect(images).toContain(disk.id);
    expect(
      await spm.call('Image.getVolumes', {
        imageID: disk.id,
        storagepoolID: poolId,
        storagedomainID: disk.domainId,
      }),
    ).toEqual(disk.volumeIds);
    const taskID = await spm.call<string>('Image.delete', deleteParams(disk));
    // Gone as soon as the verb answers, before the task ends.
    expect(
      await spm.call<string[]>('StorageDomain.getImages', { storagedomainID: disk.domainId }),
    ).not.toContain(disk.id);
    await until(taskID, 'finished');
    expect(sim.storageSnapshot()[disk.domainId]!.removed).not.toContain(disk.id);
    expect(
      await spm.call('Image.getVolumes', {
        imageID: disk.id,
        storagepoolID: poolId,
        storagedomainID: disk.domainId,
      }),
    ).toEqual([]);
  });

  test('Image.move copies (op 1) or moves (op 2); a failed move rolls the copy back', async () => {
    const [copied, moved, failed] = fixture.disks.filter((d) => d.domainId === fixture.domains[0]!.id);
    const dst = fixture.domains[2]!.id;
    const move = (disk: typeof copied, operation: number): Promise<string> =>
      spm.call<string>('Image.move', {
        imageID: disk!.id,
        storagepoolID: poolId,
        storagedomainID: disk!.domainId,
        dstSdUUID: dst,
        operation,
        postZero: false,
        force: false,
      });

    await until(await move(copied, 1), 'finished');
    expect(sim.imageExists(copied!.domainId, copied!.id)).toBe(true);
    expect(sim.storageSnapshot()[dst]!.images[copied!.id]).toEqual(copied!.volumeIds);

    await until(await move(moved, 2), 'finished');
    expect(sim.imageExists(moved!.domainId, moved!.id)).toBe(false);
    expect(sim.imageExists(dst, moved!.id)).toBe(true);

    sim.setFaults({ failures: [{ verb: 'Image.move', phase: 'task', code: 253 }] });
    expect((await until(await move(failed, 2), 'finished')).taskResult).toBe('cleanSuccess');
    expect(sim.imageExists(dst, failed!.id)).toBe(false);
    expect(sim.imageExists(failed!.domainId, failed!.id)).toBe(true);

    expect(
      await spm.error('Image.move', {
        imageID: failed!.id,
        storagepoolID: poolId,
        storagedomainID: dst,
        dstSdUUID: dst,
        operation: 1,
        postZero: false,
        force: false,
      }),
    ).toMatchObject({ code: 1000 });
  });
});
