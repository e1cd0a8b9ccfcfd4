import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';

const ORDER: Record<LogLevel, number> = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };

/**
 * The worker's structured log: one JSON object per line (`time`, `level`, `msg`, then the
 * metadata: the SDK adds workflowId, runId, activityType to activity and workflow lines; the
 * task interceptor and the VDSM decorator add poolId, vdsmTaskId and host). Installed as the
 * Temporal runtime's logger, so the SDK's own lines come out in the same shape.
 */
export class JsonLogger implements Logger {
  constructor(
    readonly level: LogLevel = 'INFO',
    private readonly write: (line: string) => void = (line) => process.stderr.write(line + '\n'),
  ) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (ORDER[level] < ORDER[this.level]) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level, msg: message };
    for (const [key, value] of Object.entries(meta ?? {})) {
      if (value === undefined || key === 'time' || key === 'level' || key === 'msg') continue;
      entry[key] = value instanceof Error ? { name: value.name, message: value.message } : value;
    }
    this.write(safeStringify(entry));
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

/** A log line must never throw: bigints become strings, cycles are cut. */
function safeStringify(entry: Record<string, unknown>): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(entry, (_key, value: unknown) => {
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) return '[cycle]';
      seen.add(value);
    }
    return value;
  });
}
