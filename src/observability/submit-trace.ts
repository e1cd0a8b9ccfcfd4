/**
 * The CLI's side of a trace: `submit` opens the root span, and the SDK's OpenTelemetry client
 * interceptor puts the start's span under it and carries the context to the workflow in its
 * headers, so one command is one trace from the submit to each VDSM call. Loaded only when
 * tracing is configured; light on purpose (no worker, no native core).
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ClientInterceptors } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client';
import { startTracing } from './tracing';

export interface SubmitTracing {
  interceptors: ClientInterceptors;
  /** Runs `body` inside the root span (its error recorded), ended after; `body` may add attributes. */
  span<T>(name: string, body: (attribute: (key: string, value: string) => void) => Promise<T>): Promise<T>;
  /** Exports what is pending; before the CLI exits. */
  shutdown(): Promise<void>;
}

export function startSubmitTracing(options: { serviceName: string; otlpTracesUrl: string }): SubmitTracing {
  const tracing = startTracing(options);
  return {
    interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: tracing.tracer })] },
    span: (name, body) =>
      tracing.tracer.startActiveSpan(name, { kind: SpanKind.CLIENT }, async (span) => {
        try {
          return await body((key, value) => span.setAttribute(key, value));
        } catch (err) {
          span.recordException(err as Error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
          throw err;
        } finally {
          span.end();
        }
      }),
    shutdown: () => tracing.shutdown(),
  };
}
