/**
 * The janitor follows the step's rule for "unknown task" (401): Task.* verbs answer from the host's
 * own memory, so a 401 from a host that lost the SPM role since the janitor looked means nothing.
 * Real simulator and inventory; the sweep activity runs in a mock activity context.
 */
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, type JanitorReport } from '../src/activities';
import type { VdsmConnector } from '../src/vdsm/port';
import { eventually, startEngineStack, type EngineStack } from './support/engine-stack';

jest.setTimeout(60_000);

let stack: EngineStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

/** The stack's VDSM connector, but the first call of `verb` fails the SPM over before it is sent. */
function failoverBefore(s: EngineStack, verb: 'taskClear' | 'taskStop'): VdsmConnector {
  let done = false;
  return {
    host(endpoint) {
      const api = s.vdsm.host(endpoint);
      return new Proxy(api, {
        get(target, prop) {
          const value = Reflect.get(target, prop) as unknown;
          if (prop !== verb || typeof value !== 'function') {
            return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
          }
          return async (taskId: string) => {
            if (!done) {
              done = true;
              await s.sim.failover();
            }
            return (value as (id: string) => Promise<void>).call(target, taskId);
          };
        },
      });
    },
    close: () => Promise.resolve(),
  };
}

/** A finished Image.delete task that no step owns (its step is long gone). */
async function orphanTask(s: EngineStack): Promise<string> {
  const spm = s.sim.hosts[0]!;
  const api = s.vdsm.host({ hostId: spm.hostId, address: spm.address, port: spm.port });
  const disk = (await s.inventory.getDisk(s.vmByName('web-01').disks[0]!))!;
  const task = await api.imageDelete({
    imageID: disk.id,
    storagepoolID: disk.poolId,
    storagedomainID: disk.domainId,
    postZero: false,
    force: false,
    discard: false,
  });
  await eventually(
    async () => ((await api.taskGetStatus(task)).taskState === 'finished' ? true : undefined),
    10_000,
    'the task finished',
  );
  return task;
}

test('the janitor clears an orphaned task on the new SPM after a failover it did not see (401 from the old SPM is not believed)', async () => {
  stack = await startEngineStack({
    worker: false,
    faults: { durations: { 'Image.delete': 0 } },
    config: { JANITOR_GRACE_MS: '0' },
  });
  const s = stack;
  const task = await orphanTask(s);
  const { activities } = createActivities({
    vdsm: failoverBefore(s, 'taskClear'),
    inventory: s.inventory,
    config: s.config,
    temporal: s.client,
  });
  const env = new MockActivityEnvironment({
    workflowExecution: { workflowId: `janitor/${randomUUID()}`, runId: randomUUID() },
    heartbeatTimeoutMs: 30_000,
  });

  const report = await env.run<[{ poolId: string }], JanitorReport, typeof activities.sweepPoolTasks>(
    activities.sweepPoolTasks,
    { poolId: s.fixture.pool.id },
  );

  expect(report.cleared).toEqual([task]);
  // Cleared for real: the new SPM no longer holds it (the old one's 401 would have left it there).
  expect(s.sim.listTasks().map((t) => t.id)).not.toContain(task);
});
