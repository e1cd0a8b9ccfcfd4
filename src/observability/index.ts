import { createServer } from 'node:net';
import type { Logger } from '@temporalio/common';
import { IllegalStateError } from '@temporalio/common';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  makeWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import { DefaultLogger, Runtime, type WorkerOptions } from '@temporalio/worker';
import type { Config } from '../config/config';
import type { InventoryRepository } from '../inventory/port';
import type { VdsmConnector } from '../vdsm/port';
import { taskActivityInterceptors } from './activity';
import { JsonLogger } from './logger';
import { EngineMetrics } from './metrics';
import { startMetricsServer, type MetricsServer } from './server';
import { startTracing, type Tracing } from './tracing';
import { instrumentVdsm } from './vdsm';

export { EngineMetrics, METRIC_PREFIX } from './metrics';
export { JsonLogger } from './logger';
export { startMetricsServer, type MetricsServer } from './server';
export { startTracing, type Tracing } from './tracing';
export { instrumentVdsm } from './vdsm';
export { taskActivityInterceptors } from './activity';

/** The workflow-side OpenTelemetry interceptors, to bundle with the workflows when tracing. */
export const OTEL_WORKFLOW_INTERCEPTORS =
  require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

/** What a worker is observed with; every part optional (none = the worker as before). */
export interface WorkerObservability {
  metrics?: EngineMetrics;
  tracing?: Tracing;
  /** Where the task lines go (the runtime's logger in `ovirt-tasks worker`). */
  logger?: Logger;
}

/**
 * The pieces createOvirtWorker (src/worker.ts) puts into the worker: the instrumented VDSM
 * connector, the activity interceptors (task context, metrics, logs; OpenTelemetry spans when
 * tracing) and the workflow span sink.
 */
export function observeWorker(
  vdsm: VdsmConnector,
  observability: WorkerObservability,
): {
  vdsm: VdsmConnector;
  interceptors: NonNullable<WorkerOptions['interceptors']>;
  sinks: WorkerOptions['sinks'];
} {
  const { metrics, tracing, logger } = observability;
  const activity: NonNullable<NonNullable<WorkerOptions['interceptors']>['activity']> = [];
  if (tracing) {
    // Outermost, so the activity's span is active while the rest (and the VDSM spans) run.
    activity.push((ctx) => ({
      inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer: tracing.tracer }),
      outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
    }));
  }
  activity.push(taskActivityInterceptors({ metrics, logger }));
  return {
    vdsm: instrumentVdsm(vdsm, { metrics, tracer: tracing?.tracer, logger }),
    interceptors: { activity },
    sinks: tracing ? { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) } : undefined,
  };
}

/** Client interceptors that start the trace at submit (empty without tracing). */
export function tracingClientInterceptors(tracing: Tracing | undefined): {
  workflow: OpenTelemetryWorkflowClientInterceptor[];
} {
  return {
    workflow: tracing ? [new OpenTelemetryWorkflowClientInterceptor({ tracer: tracing.tracer })] : [],
  };
}

export interface WorkerTelemetry {
  observability: WorkerObservability;
  metricsServer: MetricsServer | undefined;
  close(): Promise<void>;
}

/**
 * `ovirt-tasks worker`'s telemetry, from the config: installs the Temporal runtime (JSON or text
 * logger at LOG_LEVEL; with OVIRT_TASKS_METRICS_ADDRESS, the SDK's Prometheus listener on a free
 * loopback port), then serves /metrics at that address and starts tracing when an OTLP endpoint
 * is set. Must run before the first connection of the process.
 */
export async function startWorkerTelemetry(
  config: Config,
  inventory: Pick<InventoryRepository, 'listLocks'>,
): Promise<WorkerTelemetry> {
  const logger: Logger =
    config.logFormat === 'json' ? new JsonLogger(config.logLevel) : new DefaultLogger(config.logLevel);
  const sdkMetricsPort = config.metrics ? await freeLoopbackPort() : undefined;
  let runtimeLogger = logger;
  let sdkMetricsUrl: string | undefined;
  try {
    Runtime.install({
      logger,
      ...(sdkMetricsPort !== undefined
        ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkMetricsPort}` } } } }
        : {}),
    });
    if (sdkMetricsPort !== undefined) sdkMetricsUrl = `http://127.0.0.1:${sdkMetricsPort}/metrics`;
  } catch (err) {
    // A runtime already installed in this process (tests) keeps its own logger and metrics.
    if (!(err instanceof IllegalStateError)) throw err;
    runtimeLogger = Runtime.instance().logger;
  }
  const metrics = config.metrics ? new EngineMetrics({ inventory }) : undefined;
  const metricsServer =
    config.metrics && metrics
      ? await startMetricsServer({
          ...config.metrics,
          metrics,
          sdkMetricsUrl,
        })
      : undefined;
  const tracing = config.tracing
    ? startTracing({ serviceName: config.tracing.serviceName, otlpTracesUrl: config.tracing.otlpTracesUrl })
    : undefined;
  return {
    observability: { metrics, tracing, logger: runtimeLogger },
    metricsServer,
    async close() {
      await metricsServer?.close();
      await tracing?.shutdown();
    },
  };
}

/** A port free on loopback now (the SDK's listener binds it a moment later). */
async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
