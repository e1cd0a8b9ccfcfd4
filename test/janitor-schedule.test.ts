/**
 * The janitor Schedule follows the worker's settings: a worker started with another
 * JANITOR_INTERVAL_MS or task queue updates the existing Schedule (it used to be only ever
 * created), its runs have a run timeout, and a run already started on the old queue, which nothing
 * polls any more, is terminated. Against the suite's dev server.
 */
import type { Config } from '../src/config/config';
import { scheduleIds } from '../src/shared/names';
import { ensureJanitorSchedules, JANITOR_RUN_TIMEOUT_MS } from '../src/worker';
import { eventually, startEngineStack, type EngineStack } from './support/engine-stack';
import { uniqueTaskQueue } from './support/temporal';

jest.setTimeout(60_000);

let stack: EngineStack | undefined;
afterEach(async () => {
  if (stack) {
    await stack.client.schedule
      .getHandle(scheduleIds.taskJanitor(stack.fixture.pool.id))
      .delete()
      .catch(() => undefined);
    await stack.stop();
  }
  stack = undefined;
});

const withJanitor = (config: Config, taskQueue: string, intervalMs: number): Config => ({
  ...config,
  taskQueue,
  janitor: { ...config.janitor, intervalMs },
});

test('a second start with another interval and task queue updates the Schedule; the run left on the old queue is terminated', async () => {
  stack = await startEngineStack({ worker: false });
  const s = stack;
  const [oldQueue, newQueue] = [uniqueTaskQueue('janitor-old'), uniqueTaskQueue('janitor-new')];
  const handle = s.client.schedule.getHandle(scheduleIds.taskJanitor(s.fixture.pool.id));

  await ensureJanitorSchedules(s.client, withJanitor(s.config, oldQueue, 3_600_000), s.inventory);
  const created = await handle.describe();
  expect(created.spec.intervals?.map((i) => i.every)).toEqual([3_600_000]);
  expect(created.action).toMatchObject({ taskQueue: oldQueue, workflowRunTimeout: JANITOR_RUN_TIMEOUT_MS });

  // A run on the old queue: no worker polls it, so it would hold the Schedule (overlap SKIP).
  await handle.trigger();
  const stuck = await eventually(
    async () => (await handle.describe()).info.recentActions[0]?.action,
    10_000,
    'a run',
  );

  await ensureJanitorSchedules(s.client, withJanitor(s.config, newQueue, 120_000), s.inventory);

  const updated = await handle.describe();
  expect(updated.spec.intervals?.map((i) => i.every)).toEqual([120_000]);
  expect(updated.action).toMatchObject({
    workflowType: 'taskJanitorWorkflow',
    taskQueue: newQueue,
    args: [{ poolId: s.fixture.pool.id }],
    workflowRunTimeout: JANITOR_RUN_TIMEOUT_MS,
  });
  const run = await s.client.workflow
    .getHandle(stuck.workflow.workflowId, stuck.workflow.firstExecutionRunId)
    .describe();
  expect(run.status.name).toBe('TERMINATED');

  // The same settings again: nothing to change (an update would change the conflict token).
  expect(updated.raw.conflictToken).not.toEqual(created.raw.conflictToken);
  const before = updated.raw.conflictToken;
  await ensureJanitorSchedules(s.client, withJanitor(s.config, newQueue, 120_000), s.inventory);
  expect((await handle.describe()).raw.conflictToken).toEqual(before);
});
