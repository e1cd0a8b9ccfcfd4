import { z } from 'zod';
import { DEFAULT_TASK_QUEUE } from '../shared/names';
import { pemFileProblem } from './pem';

/**
 * The one configuration object of a worker / dev stack. Built from environment variables (and
 * CLI flags, which win). Temporal connection settings are NOT here: they are read the way the
 * `temporal` CLI reads them (@temporalio/envconfig: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TEMPORAL_TLS_*, temporal.toml profiles) by src/shared/temporal-connection.ts.
 */
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** Node's timers hold at most 2^31−1 ms: a longer delay silently fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A readable form of a bound in ms, so the error says it in the unit an administrator thinks in. */
function humanMs(ms: number): string {
  if (ms >= DAY && ms % DAY === 0) return `${ms / DAY} d`;
  if (ms >= HOUR && ms % HOUR === 0) return `${ms / HOUR} h`;
  if (ms >= MINUTE && ms % MINUTE === 0) return `${ms / MINUTE} min`;
  if (ms >= SECOND && ms % SECOND === 0) return `${ms / SECOND} s`;
  return `${ms} ms`;
}

/**
 * A decimal integer within [min, max]: no hex, exponent, sign or blanks (z.coerce would take
 * `0x10` and `1e3`), and the error names the bound.
 */
function integer(
  min: number,
  max: number,
  unit?: (n: number) => string,
): z.ZodType<number, z.ZodTypeDef, string> {
  const range = unit ? `${min} to ${max} (${unit(min)} to ${unit(max)})` : `${min} to ${max}`;
  const rule = `must be a decimal integer from ${range}`;
  return z
    .string()
    .regex(/^\d+$/, rule)
    .transform(Number)
    .pipe(z.number().int().min(min, rule).max(max, rule));
}

/** A duration in ms within [min, max] (max ≤ MAX_TIMER_MS). */
const ms = (min: number, max: number): z.ZodType<number, z.ZodTypeDef, string> => integer(min, max, humanMs);

/** A decimal number (1.5), no hex or exponent. */
function decimal(min: number, max: number): z.ZodType<number, z.ZodTypeDef, string> {
  const rule = `must be a decimal number from ${min} to ${max}`;
  return z
    .string()
    .regex(/^\d+(\.\d+)?$/, rule)
    .transform(Number)
    .pipe(z.number().min(min, rule).max(max, rule));
}

/** host:port, the host a name, an IPv4 address or a bracketed IPv6 address; the port 0–65535. */
const HOST_PORT =
  /^([A-Za-z0-9]([A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]+\]):(6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|\d{1,4})$/;

/** An http(s) URL of at most 2,000 characters. */
const httpUrl = z
  .string()
  .max(2000, 'must be at most 2000 characters')
  .regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL');

/** Temporal's limit on a task queue name (limit.maxIDLength); longer names are refused at poll time. */
export const MAX_TASK_QUEUE_NAME_LENGTH = 1000;
/** See OVIRT_TASKS_MAX_CACHED_WORKFLOWS; chosen from the in-flight bench (docs/benchmarks.md). */
const DEFAULT_MAX_CACHED_WORKFLOWS = 500;

/** Environment variable → config field, with the rule each must satisfy. */
export const ConfigSchema = z
  .object({
    OVIRT_TASKS_TASK_QUEUE: z
      .string()
      .min(1)
      .max(
        MAX_TASK_QUEUE_NAME_LENGTH,
        `must be at most ${MAX_TASK_QUEUE_NAME_LENGTH} characters (Temporal's limit for a task queue name)`,
      )
      .refine((q) => !q.startsWith('/_sys/'), 'must not start with /_sys/ (reserved by Temporal)')
      .default(DEFAULT_TASK_QUEUE),
    /** `sqlite:<path>` (embedded) or `postgres://...` (production). */
    OVIRT_TASKS_INVENTORY_URL: z
      .string()
      .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'must be sqlite:<file> or postgres://...')
      .default('sqlite:.data/inventory.db'),
    /** Fixture that seeds an empty inventory; unset = the built-in default data center. */
    OVIRT_TASKS_FIXTURE: z.string().min(1).optional(),
    /**
     * Seeding an EMPTY inventory from the fixture needs to know where the fixture's hosts listen
     * (the simulator: its address and base port). Unset = never seed (a real engine inventory).
     */
    OVIRT_TASKS_SEED_VDSM_ADDRESS: z.string().min(1).optional(),
    OVIRT_TASKS_SEED_VDSM_BASE_PORT: integer(1, 65535).optional(),
    VDSM_TLS: bool.default('false'),
    VDSM_TLS_CERT: z.string().min(1).optional(),
    VDSM_TLS_KEY: z.string().min(1).optional(),
    VDSM_TLS_CA: z.string().min(1).optional(),
    VDSM_REQUEST_TIMEOUT_MS: ms(1, HOUR).default('30000'),
    /**
     * Tasks an SPM may hold before we stop sending task-creating verbs to it. VDSM refuses the
     * 501st waiting task with 405 after Image.delete has already renamed the image, so we never
     * send into a full queue. 500 = VDSM's default queue; lower it if other clients share the SPM.
     */
    VDSM_SPM_TASK_LIMIT: integer(1, 100_000).default('500'),
    /** Adaptive status polling, as the engine's CoCo coordinator: start fast, back off while nothing changes. */
    POLL_MIN_INTERVAL_MS: ms(1, 10 * MINUTE).default('1000'),
    POLL_MAX_INTERVAL_MS: ms(1, HOUR).default('10000'),
    POLL_BACKOFF_FACTOR: decimal(1, 10).default('1.5'),
    /** Keep the minimum interval this long after the last change, so short tasks are seen fast. */
    POLL_FAST_PHASE_MS: ms(0, HOUR).default('10000'),
    /** Janitor: unowned finished SPM tasks older than this are cleared. */
    JANITOR_GRACE_MS: ms(0, 7 * DAY).default('300000'),
    JANITOR_INTERVAL_MS: ms(1, DAY).default('60000'),
    /** Tasks running longer than this are reported (never killed while they progress). */
    TASK_AGE_LIMIT_MS: ms(1, 24 * DAY).default(String(50 * HOUR)),
    /** Maximum children a command runs at once (keeps pending children far below Temporal's 2,000). */
    MAX_CONCURRENT_IMAGES: integer(1, 1000).default('200'),
    /**
     * Attempts a task start gets while VDSM keeps answering with retryable errors (99, 851, an
     * unreachable SPM, a full task queue), backing off up to 30 s between them (20 ≈ 8 minutes);
     * then the step ends with failure instead of retrying forever.
     */
    TASK_START_MAX_ATTEMPTS: integer(1, 1000).default('20'),
    /**
     * Workflows a worker keeps in its sticky cache (their state in the workflow thread's V8
     * isolate, ~0.4 MiB each for a waiting RemoveImage step). Beyond it the least recently used
     * is evicted and replays from history on its next workflow task: memory against CPU. 0 = no
     * cache (every workflow task replays). The SDK's own default grows with the heap (~2,300).
     */
    OVIRT_TASKS_MAX_CACHED_WORKFLOWS: integer(0, 100_000)
      .refine((n) => n === 0 || n >= 2, 'must be 0 (no cache) or at least 2')
      .default(String(DEFAULT_MAX_CACHED_WORKFLOWS)),
    LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
    /** `json`: one JSON object per line (workflow id, run id, VDSM task id, host); `text`: the SDK's lines. */
    OVIRT_TASKS_LOG_FORMAT: z.enum(['json', 'text']).default('json'),
    /**
     * host:port of the worker's Prometheus endpoint (/metrics: the engine's series and the SDK's
     * runtime metrics in one exposition); port 0 = any free port. Unset = no endpoint.
     */
    OVIRT_TASKS_METRICS_ADDRESS: z
      .string()
      .regex(HOST_PORT, 'must be host:port (an IPv6 host in brackets), the port from 0 to 65535')
      .optional(),
    /**
     * OTLP/HTTP collector for traces (the OpenTelemetry variable): `http(s)://host:4318`, spans go to
     * `<endpoint>/v1/traces`. Unset (and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT unset) = no tracing.
     */
    OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl.optional(),
    /** The full traces URL, used as is (wins over OTEL_EXPORTER_OTLP_ENDPOINT). */
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: httpUrl.optional(),
    OTEL_SERVICE_NAME: z.string().min(1).max(200).default('ovirt-tasks-worker'),
  })
  .superRefine((c, ctx) => {
    if (c.POLL_MAX_INTERVAL_MS < c.POLL_MIN_INTERVAL_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['POLL_MAX_INTERVAL_MS'],
        message: 'must be ≥ POLL_MIN_INTERVAL_MS',
      });
    }
    if (c.VDSM_TLS && !(c.VDSM_TLS_CERT && c.VDSM_TLS_KEY && c.VDSM_TLS_CA)) {
      ctx.addIssue({
        code: 'custom',
        path: ['VDSM_TLS'],
        message: 'VDSM_TLS=true needs VDSM_TLS_CERT, VDSM_TLS_KEY and VDSM_TLS_CA',
      });
    }
  });

export interface Config {
  taskQueue: string;
  inventoryUrl: string;
  fixturePath: string | undefined;
  seed: { vdsmAddress: string; vdsmBasePort: number } | undefined;
  vdsm: {
    tls: { cert: string; key: string; ca: string } | undefined;
    requestTimeoutMs: number;
    spmTaskLimit: number;
  };
  polling: { minIntervalMs: number; maxIntervalMs: number; backoffFactor: number; fastPhaseMs: number };
  janitor: { graceMs: number; intervalMs: number; taskAgeLimitMs: number };
  maxConcurrentImages: number;
  taskStartMaxAttempts: number;
  /** The worker's sticky workflow cache size (Temporal's maxCachedWorkflows). */
  maxCachedWorkflows: number;
  logLevel: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  logFormat: 'json' | 'text';
  /** Where /metrics is served (OVIRT_TASKS_METRICS_ADDRESS); undefined = nowhere. */
  metrics: { host: string; port: number } | undefined;
  /** OTLP/HTTP traces URL and service name; undefined = no tracing. */
  tracing: { otlpTracesUrl: string; serviceName: string } | undefined;
}

export interface LoadConfigOptions {
  /** Check that the files the config names (VDSM TLS) exist and hold PEM; default true. */
  checkFiles?: boolean;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Builds the config from `env` with `overrides` (flags, same variable names) on top. A missing or
 * malformed value throws a ConfigError naming the variable and the rule.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Record<keyof z.input<typeof ConfigSchema>, string>> = {},
  options: LoadConfigOptions = {},
): Config {
  const source: Record<string, string | undefined> = {};
  for (const key of Object.keys(ConfigSchema.innerType().shape)) {
    const value = (overrides as Record<string, string | undefined>)[key] ?? env[key];
    // An empty variable counts as unset, as shells commonly export them.
    source[key] = value === '' ? undefined : value;
  }
  const parsed = ConfigSchema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  if (c.VDSM_TLS && (options.checkFiles ?? true)) {
    const problems = (
      [
        ['VDSM_TLS_CERT', c.VDSM_TLS_CERT!, 'certificate'],
        ['VDSM_TLS_KEY', c.VDSM_TLS_KEY!, 'private key'],
        ['VDSM_TLS_CA', c.VDSM_TLS_CA!, 'certificate'],
      ] as const
    ).flatMap(([name, path, kind]) => {
      const problem = pemFileProblem(path, kind);
      return problem ? [`  ${name}: ${problem}`] : [];
    });
    if (problems.length) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  }
  return {
    taskQueue: c.OVIRT_TASKS_TASK_QUEUE,
    inventoryUrl: c.OVIRT_TASKS_INVENTORY_URL,
    fixturePath: c.OVIRT_TASKS_FIXTURE,
    seed:
      c.OVIRT_TASKS_SEED_VDSM_ADDRESS !== undefined
        ? {
            vdsmAddress: c.OVIRT_TASKS_SEED_VDSM_ADDRESS,
            vdsmBasePort: c.OVIRT_TASKS_SEED_VDSM_BASE_PORT ?? 54321,
          }
        : undefined,
    vdsm: {
      tls: c.VDSM_TLS ? { cert: c.VDSM_TLS_CERT!, key: c.VDSM_TLS_KEY!, ca: c.VDSM_TLS_CA! } : undefined,
      requestTimeoutMs: c.VDSM_REQUEST_TIMEOUT_MS,
      spmTaskLimit: c.VDSM_SPM_TASK_LIMIT,
    },
    polling: {
      minIntervalMs: c.POLL_MIN_INTERVAL_MS,
      maxIntervalMs: c.POLL_MAX_INTERVAL_MS,
      backoffFactor: c.POLL_BACKOFF_FACTOR,
      fastPhaseMs: c.POLL_FAST_PHASE_MS,
    },
    janitor: {
      graceMs: c.JANITOR_GRACE_MS,
      intervalMs: c.JANITOR_INTERVAL_MS,
      taskAgeLimitMs: c.TASK_AGE_LIMIT_MS,
    },
    maxConcurrentImages: c.MAX_CONCURRENT_IMAGES,
    taskStartMaxAttempts: c.TASK_START_MAX_ATTEMPTS,
    maxCachedWorkflows: c.OVIRT_TASKS_MAX_CACHED_WORKFLOWS,
    logLevel: c.LOG_LEVEL,
    logFormat: c.OVIRT_TASKS_LOG_FORMAT,
    metrics:
      c.OVIRT_TASKS_METRICS_ADDRESS === undefined ? undefined : hostPort(c.OVIRT_TASKS_METRICS_ADDRESS),
    tracing: tracesUrl(
      c.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
      c.OTEL_EXPORTER_OTLP_ENDPOINT,
      c.OTEL_SERVICE_NAME,
    ),
  };
}

/** Splits a validated host:port; an IPv6 host loses its brackets. */
function hostPort(value: string): { host: string; port: number } {
  const at = value.lastIndexOf(':');
  return { host: value.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(value.slice(at + 1)) };
}

/** The traces URL, as OpenTelemetry's own exporters derive it from the two variables. */
function tracesUrl(
  traces: string | undefined,
  base: string | undefined,
  serviceName: string,
): Config['tracing'] {
  if (traces) return { otlpTracesUrl: traces, serviceName };
  if (base) return { otlpTracesUrl: `${base.replace(/\/+$/, '')}/v1/traces`, serviceName };
  return undefined;
}
