/**
 * What VDSM's recovery leaves of an Image.delete, which decides whether a step may start it again:
 * zeroing (postZero) marks the image only when its job starts, so a task still waiting for its
 * locks (`acquireMs`) when the SPM dies is rolled back with the image untouched and a second
 * delete works; a plain delete renamed the image when it was scheduled, so a second one is 268.
 */
import { generateDataCenter } from '../src/fixture';
import { startSimulator, type Simulator } from '../src/vdsm-sim';
import type { FaultConfigInput } from '../src/vdsm-sim/faults';
import type { VdsmTaskStatus } from './support/vdsm-task-status';
import { eventually, RpcPeer, tempDir } from './vdsm-sim-helpers';

const fixture = generateDataCenter({ vmCount: 5 });
const poolId = fixture.pool.id;
const block = fixture.domains.find((d) => d.storageType === 'iscsi')!;
const file = fixture.domains.find((d) => d.storageType === 'nfs')!;
const [blockDisk, otherBlockDisk] = fixture.disks.filter((d) => d.domainId === block.id);
const fileDisk = fixture.disks.find((d) => d.domainId === file.id)!;

let dir: { dir: string; remove(): void };
let sim: Simulator | undefined;
let peer: RpcPeer | undefined;

beforeEach(() => {
  dir = tempDir('sim-recovery');
});
afterEach(async () => {
  peer?.close();
  await sim?.stop();
  dir.remove();
});

/** The fixture's simulator on ephemeral ports, its data in the test's directory. */
function startSim(faults: FaultConfigInput): Promise<Simulator> {
  return startSimulator({ fixture, dataDir: dir.dir, basePort: 0, faults });
}

async function openSpm(s: Simulator): Promise<RpcPeer> {
  peer?.close();
  peer = await RpcPeer.open(s.hosts.find((h) => h.hostId === s.spmHostId())!.port);
  return peer;
}

const deleteParams = (disk: { id: string; domainId: string }, postZero: boolean) => ({
  imageID: disk.id,
  storagepoolID: poolId,
  storagedomainID: disk.domainId,
  postZero,
  force: false,
});

async function until(p: RpcPeer, taskID: string, taskState: string): Promise<VdsmTaskStatus> {
  return eventually(async () => {
    const s = await p.call<VdsmTaskStatus>('Task.getStatus', { taskID });
    return s.taskState === taskState ? s : undefined;
  });
}

test('acquireMs: the task waits in acquiring, then runs; a zeroing delete hides its image only when it runs', async () => {
  sim = await startSim({ acquireMs: { 'Image.delete': 400 }, durations: { 'Image.delete': 200 } });
  const spm = await openSpm(sim);
  const taskID = await spm.call<string>('Image.delete', deleteParams(blockDisk!, true));
  expect(sim.listTasks().find((t) => t.id === taskID)!.state).toBe('acquiring');
  expect(sim.imageExists(block.id, blockDisk!.id)).toBe(true);
  await until(spm, taskID, 'finished');
  expect(sim.listTasks().find((t) => t.id === taskID)!.history).toEqual([
    'init',
    'preparing',
    'acquiring',
    'queued',
    'running',
    'finished',
  ]);
  expect(sim.imageExists(block.id, blockDisk!.id)).toBe(false);
  expect(sim.storageSnapshot()[block.id]!.removed).not.toContain(blockDisk!.id);
});

test('a zeroing delete still acquiring when VDSM restarts: rolled back (code 0), image listed, a second delete purges it', async () => {
  sim = await startSim({ acquireMs: { 'Image.delete': 60_000 }, rollbackMs: 50 });
  let spm = await openSpm(sim);
  const zeroing = await spm.call<string>('Image.delete', deleteParams(blockDisk!, true));
  const plain = await spm.call<string>('Image.delete', deleteParams(fileDisk, false));
  // Scheduled but not started: only the plain delete has renamed its image yet.
  expect(sim.imageExists(block.id, blockDisk!.id)).toBe(true);
  expect(sim.imageExists(file.id, fileDisk.id)).toBe(false);

  sim.setFaults({ acquireMs: null });
  await sim.restart();
  spm = await openSpm(sim);
  for (const taskID of [zeroing, plain]) {
    expect(await until(spm, taskID, 'finished')).toMatchObject({ taskResult: 'cleanSuccess', code: 0 });
  }
  expect(sim.imageExists(block.id, blockDisk!.id)).toBe(true);
  expect(sim.storageSnapshot()[file.id]!.removed).toContain(fileDisk.id);

  // The zeroing delete can be sent again; the renamed image cannot (268), its volumes stay.
  const again = await spm.call<string>('Image.delete', deleteParams(blockDisk!, true));
  expect(await until(spm, again, 'finished')).toMatchObject({ taskResult: 'success' });
  expect(sim.imageExists(block.id, blockDisk!.id)).toBe(false);
  expect((await spm.error('Image.delete', deleteParams(fileDisk, false))).code).toBe(268);
});

test('a stop while acquiring aborts the task before its job runs: nothing is touched', async () => {
  sim = await startSim({ acquireMs: { 'Image.delete': 60_000 }, rollbackMs: 0 });
  const spm = await openSpm(sim);
  const taskID = await spm.call<string>('Image.delete', deleteParams(otherBlockDisk!, true));
  await spm.call('Task.stop', { taskID });
  expect(await until(spm, taskID, 'finished')).toMatchObject({ taskResult: 'cleanSuccess' });
  expect(sim.listTasks().find((t) => t.id === taskID)!.history).not.toContain('running');
  expect(sim.imageExists(block.id, otherBlockDisk!.id)).toBe(true);
});
