/**
 * Metrics and task logs of a worker observed as `ovirt-tasks worker` observes it: the runtime
 * installed with the SDK's Prometheus listener (startWorkerTelemetry), the engine's series served
 * with it at OVIRT_TASKS_METRICS_ADDRESS, scraped before, during and after a real RemoveVm.
 */
import { NativeConnection, type Worker } from '@temporalio/worker';
import { submitRemoveVm } from '../src/client';
import { loadConfig } from '../src/config/config';
import { JsonLogger, startWorkerTelemetry, type WorkerTelemetry } from '../src/observability';
import { workflowIds } from '../src/shared/names';
import { createOvirtWorker } from '../src/worker';
import {
  eventually,
  expectClean,
  startEngineStack,
  workflowBundle,
  type EngineStack,
} from './support/engine-stack';
import { testAddress, TEST_NAMESPACE } from './support/temporal';

jest.setTimeout(120_000);

let stack: EngineStack | undefined;
let telemetry: WorkerTelemetry | undefined;
let worker: { worker: Worker; done: Promise<void>; connection: NativeConnection } | undefined;
afterAll(async () => {
  if (worker) {
    worker.worker.shutdown();
    await worker.done.catch(() => undefined);
    await worker.connection.close();
  }
  await stack?.stop();
  await telemetry?.close();
});

/** `name{labels} value` lines of an exposition, as a map from the series to its value. */
function parse(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

/** Sum of every series of `name` whose labels include all of `labels`. */
function sum(series: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const [key, value] of series) {
    const brace = key.indexOf('{');
    const metric = brace < 0 ? key : key.slice(0, brace);
    if (metric !== name) continue;
    if (Object.entries(labels).every(([k, v]) => key.includes(`${k}="${v}"`))) total += value;
  }
  return total;
}

test('one scrape shows the SDK and engine series, and they move during a RemoveVm; task log lines carry the ids', async () => {
  const lines: Record<string, unknown>[] = [];
  const config = loadConfig({}, { OVIRT_TASKS_METRICS_ADDRESS: '127.0.0.1:0', LOG_LEVEL: 'WARN' });
  // The runtime goes in before the stack's connections; locks are read from the stack's inventory.
  telemetry = await startWorkerTelemetry(config, {
    listLocks: (filter) => stack!.inventory.listLocks(filter),
  });
  const url = telemetry.metricsServer!.url;
  const scrape = async () => parse(await (await fetch(url)).text());

  stack = await startEngineStack({ worker: false, faults: { durations: { 'Image.delete': 2500 } } });
  const connection = await NativeConnection.connect({ address: testAddress() });
  const w = await createOvirtWorker({
    connection,
    namespace: TEST_NAMESPACE,
    config: stack.config,
    inventory: stack.inventory,
    vdsm: stack.vdsm,
    client: stack.client,
    taskQueue: stack.taskQueue,
    workflowBundle: await workflowBundle(),
    observability: {
      ...telemetry.observability,
      logger: new JsonLogger('INFO', (line) => lines.push(JSON.parse(line) as Record<string, unknown>)),
    },
  });
  worker = { worker: w, done: w.run(), connection };

  const before = await scrape();
  expect(sum(before, 'ovirt_tasks_vdsm_calls_total', { verb: 'Image.delete' })).toBe(0);
  expect(sum(before, 'ovirt_tasks_tasks_in_flight')).toBe(0);
  expect(sum(before, 'ovirt_tasks_locks_held')).toBe(0);

  const vm = stack.vmByName('web-01');
  const poolId = stack.fixture.pool.id;
  const { handle } = await submitRemoveVm(
    stack.client,
    { vmId: vm.id },
    { taskQueue: stack.taskQueue, inventory: stack.inventory },
  );

  // While the 4 Image.delete tasks run: in flight in this pool, locks held, polls made.
  const during = await eventually(
    async () => {
      const s = await scrape();
      return sum(s, 'ovirt_tasks_tasks_in_flight', { pool: poolId }) === vm.disks.length &&
        sum(s, 'ovirt_tasks_status_polls_total', { pool: poolId }) > 0
        ? s
        : undefined;
    },
    20_000,
    'all 4 tasks in flight',
  );
  expect(sum(during, 'ovirt_tasks_locks_held')).toBeGreaterThan(0);
  expect(sum(during, 'ovirt_tasks_vdsm_calls_total', { verb: 'Image.delete' })).toBe(vm.disks.length);

  await handle.result();
  await expectClean(stack, vm.disks);
  const after = await scrape();
  expect(sum(after, 'ovirt_tasks_tasks_in_flight')).toBe(0);
  expect(sum(after, 'ovirt_tasks_locks_held')).toBe(0);
  expect(sum(after, 'ovirt_tasks_vdsm_calls_total', { verb: 'Task.clear' })).toBe(vm.disks.length);
  expect(sum(after, 'ovirt_tasks_status_polls_total', { pool: poolId })).toBeGreaterThan(
    sum(during, 'ovirt_tasks_status_polls_total', { pool: poolId }),
  );
  // One detection delay per task, each at most the task's run plus a poll or two.
  expect(sum(after, 'ovirt_tasks_task_end_detection_delay_seconds_count', { pool: poolId })).toBe(
    vm.disks.length,
  );
  expect(sum(after, 'ovirt_tasks_task_end_detection_delay_seconds_sum', { pool: poolId })).toBeGreaterThan(0);
  expect(sum(after, 'ovirt_tasks_task_start_reconciliations_total')).toBe(0);
  // The SDK's runtime series, served in the same exposition.
  expect([...after.keys()].some((k) => k.startsWith('temporal_'))).toBe(true);
  expect(sum(after, 'temporal_activity_execution_latency_count')).toBeGreaterThan(0);

  // Each task's lines name its workflow, run, VDSM task and host.
  const runIds = new Map<string, string>();
  for (const diskId of vm.disks) {
    const stepId = workflowIds.removeImage(handle.workflowId, diskId);
    runIds.set(stepId, (await stack.client.workflow.getHandle(stepId).describe()).runId);
  }
  const taskLines = lines.filter(
    (l) => l.msg === 'VDSM Image.delete' || l.msg === 'task ended' || l.msg === 'VDSM Task.clear',
  );
  expect(taskLines).toHaveLength(3 * vm.disks.length);
  for (const line of taskLines) {
    expect(runIds.get(line.workflowId as string)).toBe(line.runId);
    expect(line.vdsmTaskId).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof line.host).toBe('string');
    expect(line.poolId).toBe(poolId);
  }
  expect(new Set(taskLines.map((l) => l.vdsmTaskId)).size).toBe(vm.disks.length);
});
