/**
 * Tracing: one RemoveVm, submitted through a client with the tracing interceptor and run by a
 * worker observed with tracing (the workflows bundled with the OpenTelemetry workflow
 * interceptors), yields one connected trace: client submit → parent workflow → children →
 * activities → each VDSM call, with verb, host and task id on the VDSM spans.
 */
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, type Worker } from '@temporalio/worker';
import { submitRemoveVm } from '../src/client';
import {
  OTEL_WORKFLOW_INTERCEPTORS,
  startTracing,
  tracingClientInterceptors,
  type Tracing,
} from '../src/observability';
import { createOvirtWorker } from '../src/worker';
import { startEngineStack, type EngineStack } from './support/engine-stack';
import { testAddress, TEST_NAMESPACE } from './support/temporal';

jest.setTimeout(180_000);

let stack: EngineStack | undefined;
let tracing: Tracing | undefined;
let worker: { worker: Worker; done: Promise<void>; connection: NativeConnection } | undefined;
afterAll(async () => {
  if (worker) {
    worker.worker.shutdown();
    await worker.done.catch(() => undefined);
    await worker.connection.close();
  }
  await stack?.stop();
  await tracing?.shutdown();
});

test('one RemoveVm is one connected trace from the client submit down to each VDSM call', async () => {
  const exporter = new InMemorySpanExporter();
  tracing = startTracing({ serviceName: 'ovirt-tasks-test', exporter });
  stack = await startEngineStack({ worker: false, faults: { durations: { 'Image.delete': 300 } } });
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../src/workflows'),
    workflowInterceptorModules: [OTEL_WORKFLOW_INTERCEPTORS],
    logger: new DefaultLogger('WARN'),
  });
  const connection = await NativeConnection.connect({ address: testAddress() });
  const w = await createOvirtWorker({
    connection,
    namespace: TEST_NAMESPACE,
    config: stack.config,
    inventory: stack.inventory,
    vdsm: stack.vdsm,
    client: stack.client,
    taskQueue: stack.taskQueue,
    workflowBundle,
    observability: { tracing },
  });
  worker = { worker: w, done: w.run(), connection };
  const client = new Client({
    connection: stack.client.connection,
    namespace: TEST_NAMESPACE,
    interceptors: tracingClientInterceptors(tracing),
  });

  const vm = stack.vmByName('web-01');
  const { handle } = await submitRemoveVm(
    client,
    { vmId: vm.id },
    { taskQueue: stack.taskQueue, inventory: stack.inventory },
  );
  await handle.result();
  await tracing.spanProcessor.forceFlush();
  // submitRemoveVm also describes the run: a client call of its own, with a trace of its own.
  const spans = exporter.getFinishedSpans().filter((s) => !s.name.startsWith('DescribeWorkflow'));

  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
  const roots = spans.filter((s) => !s.parentSpanId || !byId.has(s.parentSpanId));
  expect(roots.map((s) => s.name)).toEqual([expect.stringMatching(/^StartWorkflow:/)]);
  const names = spans.map((s) => s.name);
  expect(names).toEqual(
    expect.arrayContaining([expect.stringMatching(/^RunWorkflow:/), 'RunActivity:startSpmTask']),
  );

  // Each disk's Image.delete is a VDSM span under the start activity, with verb, host and task id.
  const deletes = spans.filter((s) => s.name === 'VDSM Image.delete');
  expect(deletes).toHaveLength(vm.disks.length);
  for (const span of deletes) {
    expect(span.attributes['vdsm.verb']).toBe('Image.delete');
    expect(span.attributes['vdsm.host']).toEqual(expect.any(String));
    expect(span.attributes['vdsm.task_id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(ancestors(span, byId).map((s) => s.name)).toEqual(
      expect.arrayContaining(['RunActivity:startSpmTask', expect.stringMatching(/^RunWorkflow:/)]),
    );
  }
  const clears = spans.filter((s) => s.name === 'VDSM Task.clear');
  expect(new Set(clears.map((s) => s.attributes['vdsm.task_id']))).toEqual(
    new Set(deletes.map((s) => s.attributes['vdsm.task_id'])),
  );
});

function ancestors(span: ReadableSpan, byId: Map<string, ReadableSpan>): ReadableSpan[] {
  const chain: ReadableSpan[] = [];
  for (
    let p = span.parentSpanId && byId.get(span.parentSpanId);
    p;
    p = p.parentSpanId && byId.get(p.parentSpanId)
  )
    chain.push(p);
  return chain;
}
