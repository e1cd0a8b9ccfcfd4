import { z } from 'zod';
import { DEFAULT_TASK_QUEUE } from '../shared/names';

/**
 * The one configuration object of a worker / dev stack. Built from environment variables (and
 * CLI flags, which win). Temporal connection settings are NOT here: they are read the way the
 * `temporal` CLI reads them (@temporalio/envconfig: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TEMPORAL_TLS_*, temporal.toml profiles) by src/shared/temporal-connection.ts.
 */
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const ms = z.coerce.number().int().nonnegative();
const positiveMs = z.coerce.number().int().positive();
/** See OVIRT_TASKS_MAX_CACHED_WORKFLOWS; chosen from the in-flight bench (docs/benchmarks.md). */
const DEFAULT_MAX_CACHED_WORKFLOWS = 500;

/** Environment variable → config field, with the rule each must satisfy. */
export const ConfigSchema = z
  .object({
    OVIRT_TASKS_TASK_QUEUE: z.string().min(1).default(DEFAULT_TASK_QUEUE),
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
    OVIRT_TASKS_SEED_VDSM_BASE_PORT: z.coerce.number().int().min(1).max(65535).optional(),
    VDSM_TLS: bool.default('false'),
    VDSM_TLS_CERT: z.string().min(1).optional(),
    VDSM_TLS_KEY: z.string().min(1).optional(),
    VDSM_TLS_CA: z.string().min(1).optional(),
    VDSM_REQUEST_TIMEOUT_MS: positiveMs.default(30_000),
    /**
     * Tasks an SPM may hold before we stop sending task-creating verbs to it. VDSM refuses the
     * 501st waiting task with 405 after Image.delete has already renamed the image, so we never
     * send into a full queue. 500 = VDSM's default queue; lower it if other clients share the SPM.
     */
    VDSM_SPM_TASK_LIMIT: z.coerce.number().int().min(1).max(100_000).default(500),
    /** Adaptive status polling, as the engine's CoCo coordinator: start fast, back off while nothing changes. */
    POLL_MIN_INTERVAL_MS: positiveMs.default(1_000),
    POLL_MAX_INTERVAL_MS: positiveMs.default(10_000),
    POLL_BACKOFF_FACTOR: z.coerce.number().min(1).max(10).default(1.5),
    /** Keep the minimum interval this long after the last change, so short tasks are seen fast. */
    POLL_FAST_PHASE_MS: ms.default(10_000),
    /** Janitor: unowned finished SPM tasks older than this are cleared. */
    JANITOR_GRACE_MS: ms.default(5 * 60_000),
    JANITOR_INTERVAL_MS: positiveMs.default(60_000),
    /** Tasks running longer than this are reported (never killed while they progress). */
    TASK_AGE_LIMIT_MS: positiveMs.default(50 * 3600_000),
    /** Maximum children a command runs at once (keeps pending children far below Temporal's 2,000). */
    MAX_CONCURRENT_IMAGES: z.coerce.number().int().min(1).max(1000).default(200),
    /**
     * Workflows a worker keeps in its sticky cache (their state in the workflow thread's V8
     * isolate, ~0.4 MiB each for a waiting RemoveImage step). Beyond it the least recently used
     * is evicted and replays from history on its next workflow task: memory against CPU. 0 = no
     * cache (every workflow task replays). The SDK's own default grows with the heap (~2,300).
     */
    OVIRT_TASKS_MAX_CACHED_WORKFLOWS: z.coerce
      .number()
      .int()
      .min(0)
      .max(100_000)
      .refine((n) => n === 0 || n >= 2, 'must be 0 (no cache) or at least 2')
      .default(DEFAULT_MAX_CACHED_WORKFLOWS),
    LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
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
  /** The worker's sticky workflow cache size (Temporal's maxCachedWorkflows). */
  maxCachedWorkflows: number;
  logLevel: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
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
    maxCachedWorkflows: c.OVIRT_TASKS_MAX_CACHED_WORKFLOWS,
    logLevel: c.LOG_LEVEL,
  };
}
