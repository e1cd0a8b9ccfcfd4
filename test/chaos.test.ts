/**
 * The CI version of `npm run chaos`: one "mixed" scenario (a worker SIGKILLed and replaced, the
 * Temporal dev server restarted on its SQLite file, the simulator restarted, the SPM failed over,
 * latency and dropped connections) under a small load of RemoveVm, AddDisk and CreateSnapshot,
 * then every invariant (storage chains against inventory chains and reverted groups included). Needs `npm run
 * build` (workers are `node bin/ovirt-tasks worker` children); scripts/test.sh builds first.
 * CHAOS_SEED replays a failing schedule.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkDeleteTasks,
  DEFAULT_CHAOS_OPTIONS,
  renderChaosReport,
  runChaos,
  type ChaosReport,
} from '../bench/chaos/runner';
import type { Closed } from '../bench/chaos/invariants';
import { chainsBefore, checkVolumeCommands, type StorageWorld } from '../bench/chaos/volume-checks';
import { vmsByName } from '../bench/support/fixtures';
import { spmTaskDir, TaskSampler } from '../bench/support/task-sampler';
import { projectRoot } from '../src/dev/project-root';
import { generateDataCenter } from '../src/fixture';
import { openInventory } from '../src/inventory';
import { WorkflowType } from '../src/shared/names';
import { createVdsmConnector } from '../src/vdsm';
import { startSimulator } from '../src/vdsm-sim/simulator';

jest.setTimeout(240_000);

const SEED = Number(process.env.CHAOS_SEED ?? 20_261_124);

test('RemoveVm, AddDisk and CreateSnapshot under a worker SIGKILL, a server restart, a VDSM restart, an SPM failover and a flaky network: every invariant holds', async () => {
  if (!existsSync(join(projectRoot(), 'lib', 'cli', 'main.js'))) {
    throw new Error(
      'lib/ is missing: run `npm run build` first (the chaos workers are bin/ovirt-tasks processes)',
    );
  }
  const lines: string[] = [];
  let report: ChaosReport | undefined;
  try {
    report = await runChaos({
      ...DEFAULT_CHAOS_OPTIONS,
      seed: SEED,
      scenarios: ['mixed'],
      commandsPerScenario: 10,
      maxDisksPerVm: 3,
      workers: 2,
      faultWindowMs: 15_000,
      settleDeadlineMs: 150_000,
      log: (line) => lines.push(line),
    });
  } finally {
    if (!report?.ok) console.log(`${lines.join('\n')}\n\n${report ? renderChaosReport(report) : ''}`);
  }
  const [scenario] = report.scenarios;
  const violations = scenario?.violations ?? [];
  expect(scenario?.faults.map((f) => f.fault).sort()).toEqual(
    ['SPM failover', 'kill worker', 'latency + drops', 'restart Temporal', 'restart VDSM'].sort(),
  );
  expect(scenario?.faults.filter((f) => f.outcome.startsWith('failed'))).toEqual([]);
  expect(violations).toEqual([]);
  expect(scenario?.kinds).toEqual({
    RemoveVm: 5,
    CreateSnapshot: 1,
    AddDisk: 1,
    MoveDisk: 1,
    CopyDisk: 1,
    RemoveSnapshot: 1,
  });
  expect(Object.values(scenario?.outcomes ?? {}).reduce((a, b) => a + b, 0)).toBe(10);
});

test('the duplicate and orphan checks catch an Image.delete task that is not its step’s', async () => {
  const fixture = generateDataCenter({ name: 'dupcheck', vmCount: 2 });
  const dataDir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-dupcheck-'));
  const sim = await startSimulator({
    fixture,
    dataDir,
    basePort: 0,
    faults: { durations: { 'Image.delete': 60_000 } },
  });
  const vdsm = createVdsmConnector({ requestTimeoutMs: 5_000 });
  try {
    const sampler = new TaskSampler([
      {
        poolId: fixture.pool.id,
        sim,
        taskDir: spmTaskDir(dataDir, fixture.pool.id, fixture.pool.masterDomainId),
      },
    ]);
    const disk = fixture.disks.find((d) => d.vmId !== null)!;
    const spm = sim.hosts.find((h) => h.hostId === sim.spmHostId())!;
    // A task started behind the engine's back: no step recorded it.
    const taskId = await vdsm.host({ hostId: spm.hostId, address: spm.address, port: spm.port }).imageDelete({
      imageID: disk.id,
      storagepoolID: fixture.pool.id,
      storagedomainID: disk.domainId,
      postZero: false,
      force: false,
      discard: false,
    });
    sampler.sample();
    expect(sampler.tasks.get(taskId)?.imageId).toBe(disk.id);
    const disks = new Set([disk.id]);
    expect(checkDeleteTasks(sampler, fixture.pool.id, disks, new Map([[disk.id, taskId]]))).toEqual([]);
    expect(checkDeleteTasks(sampler, fixture.pool.id, disks, new Map())).toEqual([
      expect.objectContaining({ invariant: 'noOrphanTasks' }),
    ]);
    expect(checkDeleteTasks(sampler, fixture.pool.id, disks, new Map([[disk.id, 'another-task']]))).toEqual([
      expect.objectContaining({ invariant: 'noDuplicateTasks' }),
    ]);
    // The task its step replaced after VDSM's recovery rolled it back (audited) is the step's too.
    expect(
      checkDeleteTasks(
        sampler,
        fixture.pool.id,
        disks,
        new Map([[disk.id, 'another-task']]),
        0,
        new Map([[disk.id, taskId]]),
      ),
    ).toEqual([]);
  } finally {
    await vdsm.close();
    await sim.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('the chain and group checks catch a failed snapshot that left a new volume on storage', async () => {
  const fixture = generateDataCenter({
    name: 'chaincheck',
    vmCount: 0,
    extraVms: [{ name: 'snap', disks: 2 }],
  });
  const dataDir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-chaincheck-'));
  const sim = await startSimulator({
    fixture,
    dataDir,
    basePort: 0,
    faults: { durations: { 'Volume.create': 0 } },
  });
  const inventory = openInventory(`sqlite:${join(dataDir, 'inventory.db')}`);
  const vdsm = createVdsmConnector({ requestTimeoutMs: 5_000 });
  try {
    await inventory.init({ fixture, vdsmAddress: '127.0.0.1', vdsmBasePort: 1 });
    const world: StorageWorld = { fixtures: [fixture], inventory, sim: () => sim };
    const vm = vmsByName([fixture]).get('snap')!;
    const before = chainsBefore(world, vm.diskIds);
    const failedSnapshot: Closed = {
      command: {
        kind: 'CreateSnapshot',
        workflowId: 'CreateSnapshot/planted',
        workflowType: WorkflowType.createSnapshot,
        vm,
        floating: false,
        submitAt: 0,
      },
      outcome: { ok: true, completed: false, label: 'failed: TaskFailed' },
    };
    const check = async () => {
      const found: Array<{ invariant: string; detail: string }> = [];
      await checkVolumeCommands(
        world,
        [failedSnapshot],
        before,
        { reported: new Set(), lockedByFixture: new Set() },
        (invariant, detail) => found.push({ invariant, detail }),
      );
      return found;
    };
    // Storage and inventory as seeded: nothing to report.
    expect(await check()).toEqual([]);

    // A new leaf made behind the engine's back, as an unreverted member of the failed group would.
    const disk = fixture.disks.find((d) => d.id === vm.diskIds[0])!;
    const leaf = disk.volumeIds[disk.volumeIds.length - 1]!;
    const spm = sim.hosts.find((h) => h.hostId === sim.spmHostId())!;
    await vdsm.host({ hostId: spm.hostId, address: spm.address, port: spm.port }).volumeCreate({
      volumeID: '6f1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d',
      storagepoolID: fixture.pool.id,
      storagedomainID: disk.domainId,
      imageID: disk.id,
      size: String(disk.sizeBytes),
      volFormat: 4,
      preallocate: 2,
      diskType: 'DATA',
      desc: 'planted',
      srcImgUUID: disk.id,
      srcVolUUID: leaf,
    });
    const deadline = Date.now() + 10_000;
    while (sim.listTasks().some((t) => t.state !== 'finished') && Date.now() < deadline) await sleep(50);
    expect(sim.imageChain(disk.domainId, disk.id)?.map((v) => v.id)).toContain(
      '6f1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d',
    );

    const found = await check();
    expect(found.map((f) => f.invariant).sort()).toEqual(['groupReverted', 'noOrphanVolumes']);
    expect(found.find((f) => f.invariant === 'noOrphanVolumes')?.detail).toContain(
      '6f1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d',
    );
  } finally {
    await vdsm.close();
    await inventory.close();
    await sim.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
