/**
 * The CI version of `npm run chaos`: one "mixed" scenario (a worker SIGKILLed and replaced, the
 * Temporal dev server restarted on its SQLite file, the simulator restarted, the SPM failed over,
 * latency and dropped connections) under a small load, then every invariant. Needs `npm run
 * build` (workers are `node bin/ovirt-tasks worker` children); scripts/test.sh builds first.
 * CHAOS_SEED replays a failing schedule.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkDeleteTasks,
  DEFAULT_CHAOS_OPTIONS,
  renderChaosReport,
  runChaos,
  type ChaosReport,
} from '../bench/chaos/runner';
import { spmTaskDir, TaskSampler } from '../bench/support/task-sampler';
import { projectRoot } from '../src/dev/project-root';
import { generateDataCenter } from '../src/fixture';
import { createVdsmConnector } from '../src/vdsm';
import { startSimulator } from '../src/vdsm-sim/simulator';

jest.setTimeout(240_000);

const SEED = Number(process.env.CHAOS_SEED ?? 20_261_124);

test('under a worker SIGKILL, a server restart, a VDSM restart, an SPM failover and a flaky network, every invariant holds', async () => {
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
  } finally {
    await vdsm.close();
    await sim.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
