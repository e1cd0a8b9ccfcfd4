/**
 * The janitor's Schedule skips a run while the previous one still runs, so a sweep whose worker
 * dies must give way soon. Real parts: a dev server, the simulator, `ovirt-tasks worker` child
 * processes (one SIGKILLed mid-sweep). Needs `npm run build`, like test/chaos.test.ts.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildFixtures } from '../bench/support/fixtures';
import { Stack } from '../bench/support/stack';
import { sleep } from '../bench/support/stats';
import { projectRoot } from '../src/dev/project-root';
import { WorkflowType } from '../src/shared/names';

jest.setTimeout(180_000);

const SWEEP_VERBS = ['StoragePool.getSpmStatus', 'Host.getAllTasksStatuses'];

test('a sweep whose worker is SIGKILLed mid-call is retried on another worker within its heartbeat timeout, not after start-to-close', async () => {
  if (!existsSync(join(projectRoot(), 'lib', 'cli', 'main.js'))) {
    throw new Error('lib/ is missing: run `npm run build` first (the workers are bin/ovirt-tasks processes)');
  }
  const fixtures = buildFixtures([{ name: 'janitor', vms: [] }]);
  const poolId = fixtures[0]!.pool.id;
  const stack = await Stack.start({
    fixtures,
    workerSettings: {
      JANITOR_INTERVAL_MS: '2000',
      JANITOR_GRACE_MS: '0',
      // Longer than the test: only the worker's death can end the stuck call.
      VDSM_REQUEST_TIMEOUT_MS: '600000',
    },
  });
  try {
    const sim = stack.sim(poolId);
    const sweepCalls = (): number =>
      SWEEP_VERBS.reduce((n, verb) => n + (sim.counters().pools[poolId]?.verbs[verb] ?? 0), 0);
    // Every answer hangs: the next sweep sticks in its first VDSM call.
    sim.setFaults({ latencyMs: 600_000 });
    const worker = await stack.startWorker();
    const before = sweepCalls();
    for (let waited = 0; sweepCalls() === before; waited += 200) {
      if (waited > 30_000) throw new Error('no sweep reached VDSM within 30 s');
      await sleep(200);
    }
    const stuck = await runningSweep(stack);
    expect(stuck).toBeDefined();

    await worker.kill('SIGKILL');
    const killedAt = Date.now();
    sim.setFaults({ latencyMs: null });
    await stack.startWorker();

    // Heartbeat timeout 30 s, then the retry on the new worker; start-to-close alone would be minutes.
    const handle = stack.client.workflow.getHandle(stuck!.workflowId, stuck!.runId);
    const outcome = await Promise.race([
      handle.result().then(() => 'completed' as const),
      sleep(75_000).then(() => 'still running' as const),
    ]);
    expect(outcome).toBe('completed');
    const closedAfterS = ((await handle.describe()).closeTime!.getTime() - killedAt) / 1000;
    console.log(`the stuck sweep completed ${closedAfterS.toFixed(1)} s after its worker was killed`);
  } finally {
    await stack.stop();
  }
});

/** The janitor run in progress (visibility may lag the run by a moment). */
async function runningSweep(stack: Stack): Promise<{ workflowId: string; runId: string } | undefined> {
  for (let attempt = 0; attempt < 25; attempt++) {
    for await (const run of stack.client.workflow.list({
      query: `WorkflowType = '${WorkflowType.taskJanitor}' AND TaskQueue = '${stack.taskQueue}' AND ExecutionStatus = 'Running'`,
    })) {
      return { workflowId: run.workflowId, runId: run.runId };
    }
    await sleep(200);
  }
  return undefined;
}
