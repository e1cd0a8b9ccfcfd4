/**
 * Tracing: one RemoveVm run by a worker observed with tracing (the workflows bundled with the
 * OpenTelemetry workflow interceptors) yields one connected trace: client submit → parent workflow
 * → children → activities → each VDSM call, with verb, host and task id on the VDSM spans. Once
 * through an in-process tracing client; once through the built CLI's `submit`, which opens the
 * trace's root span and exports it over OTLP/HTTP (to a receiver here), the worker's spans joining
 * it across the process boundary.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { submitRemoveVm } from '../src/client';
import { ExitCode } from '../src/cli/exit-codes';
import {
  OTEL_WORKFLOW_INTERCEPTORS,
  startTracing,
  tracingClientInterceptors,
  type Tracing,
} from '../src/observability';
import { assertCliBuilt, spawnCli } from './support/cli';
import { startEngineStack, type EngineStack } from './support/engine-stack';
import { testAddress, TEST_NAMESPACE } from './support/temporal';

jest.setTimeout(180_000);

let stack: EngineStack | undefined;
let tracing: Tracing | undefined;
const exporter = new InMemorySpanExporter();

beforeAll(async () => {
  tracing = startTracing({ serviceName: 'ovirt-tasks-test', exporter });
  stack = await startEngineStack({ worker: false, faults: { durations: { 'Image.delete': 300 } } });
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../src/workflows'),
    workflowInterceptorModules: [OTEL_WORKFLOW_INTERCEPTORS],
    logger: new DefaultLogger('WARN'),
  });
  await stack.startWorker({ workflowBundle, observability: { tracing } });
});
afterAll(async () => {
  await stack?.stop();
  await tracing?.shutdown();
});
beforeEach(() => exporter.reset());

test('one RemoveVm is one connected trace from the client submit down to each VDSM call', async () => {
  const s = stack!;
  const client = new Client({
    connection: s.client.connection,
    namespace: TEST_NAMESPACE,
    interceptors: tracingClientInterceptors(tracing),
  });

  const vm = s.vmByName('web-01');
  const { handle } = await submitRemoveVm(
    client,
    { vmId: vm.id },
    { taskQueue: s.taskQueue, inventory: s.inventory },
  );
  await handle.result();
  await tracing!.spanProcessor.forceFlush();
  // submitRemoveVm also describes the run: a client call of its own, with a trace of its own.
  const spans = exporter.getFinishedSpans().filter((span) => !span.name.startsWith('DescribeWorkflow'));

  const byId = new Map(spans.map((span) => [span.spanContext().spanId, span]));
  expect(new Set(spans.map((span) => span.spanContext().traceId)).size).toBe(1);
  const roots = spans.filter((span) => !span.parentSpanId || !byId.has(span.parentSpanId));
  expect(roots.map((span) => span.name)).toEqual([expect.stringMatching(/^StartWorkflow:/)]);
  expectWorkflowAndVdsmSpans(spans, byId, vm.disks.length);
});

test('`submit` of the built CLI starts the trace: its root span, then the worker under it, one trace', async () => {
  assertCliBuilt();
  const s = stack!;
  const receiver = await startOtlpReceiver();
  try {
    const vm = s.vmByName('db-01');
    const result = await runCli(['submit', 'remove-vm', '--vm', 'db-01', '--wait', '--json'], {
      TEMPORAL_ADDRESS: testAddress(),
      TEMPORAL_NAMESPACE: TEST_NAMESPACE,
      OVIRT_TASKS_TASK_QUEUE: s.taskQueue,
      OVIRT_TASKS_INVENTORY_URL: s.inventoryUrl,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(ExitCode.Ok);
    await tracing!.spanProcessor.forceFlush();

    // The CLI exported before exiting: its root span and the start under it.
    const cliSpans = receiver.spans;
    const root = cliSpans.find((span) => span.name === 'ovirt-tasks submit');
    expect(root).toBeDefined();
    expect(root!.parentSpanId).toBeFalsy();
    expect(root!.attributes['temporal.workflow.id']).toBe(`RemoveVm/${vm.id}`);
    expect(root!.serviceName).toBe('ovirt-tasks-cli');
    const start = cliSpans.find((span) => span.name.startsWith('StartWorkflow:'));
    expect(start).toMatchObject({ traceId: root!.traceId, parentSpanId: root!.spanId });

    // The worker's spans of that trace all lead up to the CLI's root.
    const workerSpans = exporter
      .getFinishedSpans()
      .filter((span) => span.spanContext().traceId === root!.traceId);
    const byId = new Map(workerSpans.map((span) => [span.spanContext().spanId, span]));
    expectWorkflowAndVdsmSpans(workerSpans, byId, vm.disks.length);
    const cliIds = new Set(cliSpans.map((span) => span.spanId));
    for (const span of workerSpans) {
      const chain = [span, ...ancestors(span, byId)];
      expect({
        span: span.name,
        reachesCli: cliIds.has(chain[chain.length - 1]!.parentSpanId ?? ''),
      }).toEqual({
        span: span.name,
        reachesCli: true,
      });
    }
  } finally {
    await receiver.close();
  }
});

function expectWorkflowAndVdsmSpans(
  spans: ReadableSpan[],
  byId: Map<string, ReadableSpan>,
  disks: number,
): void {
  const names = spans.map((span) => span.name);
  expect(names).toEqual(
    expect.arrayContaining([expect.stringMatching(/^RunWorkflow:/), 'RunActivity:startSpmTask']),
  );
  // Each disk's Image.delete is a VDSM span under the start activity, with verb, host and task id.
  const deletes = spans.filter((span) => span.name === 'VDSM Image.delete');
  expect(deletes).toHaveLength(disks);
  for (const span of deletes) {
    expect(span.attributes['vdsm.verb']).toBe('Image.delete');
    expect(span.attributes['vdsm.host']).toEqual(expect.any(String));
    expect(span.attributes['vdsm.task_id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(ancestors(span, byId).map((s) => s.name)).toEqual(
      expect.arrayContaining(['RunActivity:startSpmTask', expect.stringMatching(/^RunWorkflow:/)]),
    );
  }
  const clears = spans.filter((span) => span.name === 'VDSM Task.clear');
  expect(new Set(clears.map((span) => span.attributes['vdsm.task_id']))).toEqual(
    new Set(deletes.map((span) => span.attributes['vdsm.task_id'])),
  );
}

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

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  serviceName: unknown;
  attributes: Record<string, unknown>;
}

/** An OTLP/HTTP JSON receiver (what the exporter sends to <endpoint>/v1/traces). */
async function startOtlpReceiver(): Promise<{ url: string; spans: ReceivedSpan[]; close(): Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  type Value = { stringValue?: string; intValue?: number };
  type Attr = { key: string; value: Value };
  const flat = (attrs: Attr[] = []): Record<string, unknown> =>
    Object.fromEntries(attrs.map((a) => [a.key, a.value.stringValue ?? a.value.intValue]));
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const payload = JSON.parse(body) as {
          resourceSpans: Array<{
            resource?: { attributes?: Attr[] };
            scopeSpans: Array<{
              spans: Array<{
                traceId: string;
                spanId: string;
                parentSpanId?: string;
                name: string;
                attributes?: Attr[];
              }>;
            }>;
          }>;
        };
        for (const rs of payload.resourceSpans) {
          const serviceName = flat(rs.resource?.attributes)['service.name'];
          for (const ss of rs.scopeSpans)
            for (const span of ss.spans)
              spans.push({
                traceId: span.traceId,
                spanId: span.spanId,
                parentSpanId: span.parentSpanId || undefined,
                name: span.name,
                serviceName,
                attributes: flat(span.attributes),
              });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Runs the CLI without blocking this process's event loop (the worker serving it lives here). */
function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
