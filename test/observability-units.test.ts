/**
 * The observability parts without a Temporal server: settings, the JSON log line, the VDSM
 * decorator's error labels and task lines, the endpoint's exposition, OTLP export.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import { loadConfig } from '../src/config/config';
import {
  EngineMetrics,
  instrumentVdsm,
  JsonLogger,
  startMetricsServer,
  startTracing,
} from '../src/observability';
import { runInTaskContext } from '../src/observability/context';
import { VdsmError, VdsmTransportError } from '../src/vdsm/errors';
import type { VdsmConnector, VdsmHostApi } from '../src/vdsm/port';

describe('settings', () => {
  test('OVIRT_TASKS_METRICS_ADDRESS is host:port, bracketed IPv6 too; anything else names the variable', () => {
    expect(loadConfig({}, { OVIRT_TASKS_METRICS_ADDRESS: '0.0.0.0:9464' }).metrics).toEqual({
      host: '0.0.0.0',
      port: 9464,
    });
    expect(loadConfig({}, { OVIRT_TASKS_METRICS_ADDRESS: '[::1]:0' }).metrics).toEqual({
      host: '::1',
      port: 0,
    });
    expect(loadConfig({}).metrics).toBeUndefined();
    for (const bad of ['9464', 'host:65536', 'host:-1', ':9464', 'a b:1', 'host:0x10'])
      expect(() => loadConfig({}, { OVIRT_TASKS_METRICS_ADDRESS: bad })).toThrow(
        /OVIRT_TASKS_METRICS_ADDRESS: must be host:port/,
      );
  });

  test('tracing is on with an OTLP endpoint; the traces URL wins over the base one', () => {
    expect(loadConfig({}).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing).toEqual({
      otlpTracesUrl: 'http://collector:4318/v1/traces',
      serviceName: 'ovirt-tasks-worker',
    });
    expect(
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://other/traces',
        OTEL_SERVICE_NAME: 'w1',
      }).tracing,
    ).toEqual({ otlpTracesUrl: 'https://other/traces', serviceName: 'w1' });
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
    expect(() => loadConfig({ OVIRT_TASKS_LOG_FORMAT: 'xml' })).toThrow(/OVIRT_TASKS_LOG_FORMAT/);
  });
});

test('a JSON log line: one object, level filtered, errors reduced to name and message', () => {
  const lines: string[] = [];
  const logger = new JsonLogger('INFO', (l) => lines.push(l));
  logger.debug('hidden');
  logger.warn('VDSM Task.clear failed', { workflowId: 'w', err: new Error('boom'), n: 10n, skip: undefined });
  expect(lines).toHaveLength(1);
  expect(JSON.parse(lines[0]!)).toEqual({
    time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    level: 'WARN',
    msg: 'VDSM Task.clear failed',
    workflowId: 'w',
    err: { name: 'Error', message: 'boom' },
    n: '10',
  });
});

/** A host whose Task.clear fails with `clearError`, and Image.delete starts task t-1. */
function fakeConnector(clearError: Error): VdsmConnector {
  const api = {
    hostLabel: 'host-1',
    imageDelete: () => Promise.resolve('t-1'),
    taskClear: () => Promise.reject(clearError),
  } as unknown as VdsmHostApi;
  return { host: () => api, close: () => Promise.resolve() };
}

test('the VDSM decorator counts calls and errors per verb and code, and logs task lines with the context', async () => {
  const metrics = new EngineMetrics();
  const lines: Record<string, unknown>[] = [];
  const logger = new JsonLogger('INFO', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const endpoint = { hostId: 'h', address: '127.0.0.1', port: 1 };
  const host = instrumentVdsm(fakeConnector(new VdsmError(401, 'Task is unknown', 'Task.clear', 'host-1')), {
    metrics,
    logger,
  }).host(endpoint);
  const other = instrumentVdsm(fakeConnector(new VdsmTransportError('timed out', 'Task.clear', 'host-1')), {
    metrics,
  }).host(endpoint);

  const context = {
    workflowId: 'RemoveVm/x/RemoveImage/d',
    runId: 'r-1',
    activityType: 'startSpmTask',
    poolId: 'p',
  };
  await runInTaskContext(context, async () => {
    await expect(host.imageDelete({} as never)).resolves.toBe('t-1');
    await expect(host.taskClear('t-1')).rejects.toThrow(VdsmError);
  });
  await expect(other.taskClear('t-1')).rejects.toThrow(VdsmTransportError);
  expect(host.hostLabel).toBe('host-1');

  const text = await metrics.exposition();
  expect(text).toContain('ovirt_tasks_vdsm_calls_total{verb="Image.delete"} 1');
  expect(text).toContain('ovirt_tasks_vdsm_calls_total{verb="Task.clear"} 2');
  expect(text).toContain('ovirt_tasks_vdsm_errors_total{verb="Task.clear",code="401"} 1');
  expect(text).toContain('ovirt_tasks_vdsm_errors_total{verb="Task.clear",code="transport"} 1');
  expect(text).not.toContain('ovirt_tasks_vdsm_errors_total{verb="Image.delete"');
  expect(lines.map((l) => [l.msg, l.workflowId, l.runId, l.vdsmTaskId, l.host])).toEqual([
    ['VDSM Image.delete', context.workflowId, 'r-1', 't-1', 'host-1'],
    ['VDSM Task.clear failed', context.workflowId, 'r-1', 't-1', 'host-1'],
  ]);
});

test('the detection delay runs from the last status that showed the task running to the step seeing its end', async () => {
  const metrics = new EngineMetrics();
  metrics.taskWaitStarted('p', 't', 1_000);
  metrics.taskStateSeen('t', 'running', 3_000);
  metrics.taskStateSeen('t', 'finished', 4_000);
  expect(await metrics.exposition()).toContain('ovirt_tasks_tasks_in_flight{pool="p",state="finished"} 1');
  metrics.taskWaitEnded('t', true, 4_500);
  metrics.taskWaitStarted('p', 'u', 1_000);
  metrics.taskWaitEnded('u', false, 9_000); // cancelled: no delay to report
  const text = await metrics.exposition();
  expect(text).toContain('ovirt_tasks_task_end_detection_delay_seconds_sum{pool="p"} 1.5');
  expect(text).toContain('ovirt_tasks_task_end_detection_delay_seconds_count{pool="p"} 1');
  expect(text).not.toContain('ovirt_tasks_tasks_in_flight{');
});

test('the endpoint serves the engine series with the SDK ones, or says why the SDK ones are missing', async () => {
  const sdk = createServer((_req, res) => res.end('# TYPE temporal_x counter\ntemporal_x 3\n'));
  await new Promise<void>((r) => sdk.listen(0, '127.0.0.1', r));
  const sdkUrl = `http://127.0.0.1:${(sdk.address() as AddressInfo).port}/metrics`;
  const metrics = new EngineMetrics();
  metrics.vdsmCalls.inc({ verb: 'Task.clear' });
  const merged = await startMetricsServer({ host: '127.0.0.1', port: 0, metrics, sdkMetricsUrl: sdkUrl });
  const alone = await startMetricsServer({
    host: '127.0.0.1',
    port: 0,
    metrics,
    sdkMetricsUrl: 'http://127.0.0.1:1/metrics',
  });
  try {
    const text = await (await fetch(merged.url)).text();
    expect(text).toContain('ovirt_tasks_vdsm_calls_total{verb="Task.clear"} 1');
    expect(text).toContain('temporal_x 3');
    const degraded = await (await fetch(alone.url)).text();
    expect(degraded).toContain('ovirt_tasks_vdsm_calls_total{verb="Task.clear"} 1');
    expect(degraded).toMatch(/# Temporal SDK runtime metrics unavailable/);
    expect((await fetch(merged.url.replace('/metrics', '/other'))).status).toBe(404);
  } finally {
    await merged.close();
    await alone.close();
    sdk.close();
  }
});

test('with an OTLP endpoint, spans are posted to <endpoint>/v1/traces', async () => {
  const received: { path: string; type: string }[] = [];
  const collector = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on('end', () => {
      received.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '' });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const { tracing: settings } = loadConfig({
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
  });
  const tracing = startTracing({
    serviceName: settings!.serviceName,
    otlpTracesUrl: settings!.otlpTracesUrl,
  });
  try {
    trace.getTracer('t').startSpan('one').end();
    await tracing.spanProcessor.forceFlush();
    expect(received).toEqual([{ path: '/v1/traces', type: expect.stringContaining('json') }]);
  } finally {
    await tracing.shutdown();
    collector.close();
  }
});
