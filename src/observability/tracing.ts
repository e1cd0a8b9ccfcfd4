import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';

export interface Tracing {
  tracer: Tracer;
  resource: Resource;
  /** Also handed to the worker's workflow span sink, so workflow spans go the same way. */
  spanProcessor: SpanProcessor;
  /** Flushes pending spans and unregisters the global provider. */
  shutdown(): Promise<void>;
}

/**
 * Registers a global OpenTelemetry tracer provider (async-local context, W3C trace-context
 * propagation, which the Temporal interceptors use to carry the trace through headers) that
 * exports to an OTLP/HTTP collector, batched, or to `exporter` span by span (tests).
 */
export function startTracing(options: {
  serviceName: string;
  otlpTracesUrl?: string;
  exporter?: SpanExporter;
}): Tracing {
  const resource = new Resource({ 'service.name': options.serviceName });
  let spanProcessor: SpanProcessor;
  if (options.exporter) spanProcessor = new SimpleSpanProcessor(options.exporter);
  else if (options.otlpTracesUrl)
    spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url: options.otlpTracesUrl }));
  else throw new Error('startTracing needs an OTLP traces URL or an exporter');
  const provider = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  provider.register({ contextManager, propagator: new W3CTraceContextPropagator() });
  return {
    tracer: provider.getTracer('ovirt-tasks'),
    resource,
    spanProcessor,
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
