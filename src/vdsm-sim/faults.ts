import { z } from 'zod';
import { injectedFault, type VdsmFault } from './errors';
import { mulberry32 } from '../shared/prng';

/**
 * What the simulator does besides behaving: timings, injected errors and transport misbehaviour.
 * Everything is JSON so the CLI flag and the control endpoint take the same document. Host lists
 * accept fixture host ids or names; an absent list means every host.
 */

/** Milliseconds: a number is a fixed duration. */
export const Duration = z.union([
  z.number().nonnegative(),
  z.object({ kind: z.literal('zero') }).strict(),
  z.object({ kind: z.literal('fixed'), ms: z.number().nonnegative() }).strict(),
  z
    .object({ kind: z.literal('uniform'), minMs: z.number().nonnegative(), maxMs: z.number().nonnegative() })
    .strict()
    .refine((d) => d.minMs <= d.maxMs, 'minMs must be ≤ maxMs'),
]);
export type Duration = z.infer<typeof Duration>;

const HostList = z.array(z.string().min(1)).min(1);

export const FailureRule = z
  .object({
    /** Wire verb (`Image.delete`) or `*`. */
    verb: z.string().min(1),
    /** sync: the verb answers an error; task: the task's (or host job's) work fails; rollback: its rollback fails. */
    phase: z.enum(['sync', 'task', 'rollback']),
    probability: z.number().min(0).max(1).default(1),
    code: z.number().int().default(100),
    /** Verbatim error message; default: VDSM's message for the code. */
    message: z.string().optional(),
    /** Stop after injecting this many times. */
    count: z.number().int().positive().optional(),
    hosts: HostList.optional(),
  })
  .strict();
export type FailureRule = z.infer<typeof FailureRule>;

/** What happens to a host job (SDM verb) besides failing (a `task` failure rule does that). */
export const JobFaultRule = z
  .object({
    /** SDM verb (`SDM.copy_data`) or `*`. */
    verb: z.string().min(1),
    /**
     * hang: the job runs forever (holding its leases). crashHost: the host running it dies
     * part-way: its jobs vanish, their leases go, the volumes keep what they had (no generation
     * bump), and the host answers 99 and sends no events for `downMs`.
     */
    mode: z.enum(['hang', 'crashHost']),
    /** crashHost: how far into the job's work the host dies. */
    atFraction: z.number().min(0).max(1).default(0.5),
    /** crashHost: how long the host then stays down. */
    downMs: z.number().nonnegative().default(0),
    count: z.number().int().positive().optional(),
    hosts: HostList.optional(),
  })
  .strict();
export type JobFaultRule = z.infer<typeof JobFaultRule>;

export const ExitPoint = z.enum(['beforeAccept', 'afterAccept', 'afterReply', 'afterFinish']);
export type ExitPoint = z.infer<typeof ExitPoint>;

export const FaultConfig = z
  .object({
    /** Seed of the fault dice (uniform durations, probabilities); default: random. */
    seed: z.number().int().optional(),
    /** Work duration of task and job verbs, by wire verb; `*` is the default (else 0). */
    durations: z.record(z.string(), Duration).optional(),
    /**
     * Time an SPM task waits in `acquiring` for its resource locks before it queues for a worker,
     * by wire verb (`*` the default; else 0), as VDSM's resource manager makes it wait while another
     * operation holds the image or domain. Its job has not started, so storage is untouched.
     */
    acquireMs: z.record(z.string(), Duration).optional(),
    /** Time a rollback takes (the task shows `cleaning` meanwhile). */
    rollbackMs: Duration.optional(),
    /** Time an abortable running job (qemu-img, fallocate, zeroing) takes to notice Task.stop. */
    abortLatencyMs: Duration.optional(),
    /**
     * Which running jobs Task.stop cuts off. `vdsm` (default): only those VDSM runs under an abort
     * callback; the others (an image purge, a snapshot) run to their end, then the task aborts and
     * rolls back. `all`: every job, after abortLatencyMs (the simulator's behaviour before it
     * modelled this; not what VDSM does).
     */
    abortableJobs: z.enum(['vdsm', 'all']).optional(),
    failures: z.array(FailureRule).optional(),
    /** Delay before each answer is sent (the verb itself runs at once). */
    latencyMs: Duration.optional(),
    /** Close a client connection instead of answering: on its Nth request, and/or at random. The verb still runs. */
    dropConnections: z
      .object({
        afterRequests: z.number().int().positive().optional(),
        probability: z.number().min(0).max(1).optional(),
        hosts: HostList.optional(),
      })
      .strict()
      .optional(),
    /** Accept requests but never run or answer them (a hung VDSM); heart-beats keep flowing. */
    stopAnswering: z.union([z.boolean(), HostList]).optional(),
    /** Crash at a point of the Nth call of a verb (CLI: the process exits; in-process: listeners stop, memory is lost). */
    exitAfter: z
      .object({
        verb: z.string().min(1),
        when: ExitPoint,
        count: z.number().int().positive().default(1),
        hosts: HostList.optional(),
      })
      .strict()
      .optional(),
    /** After a (re)start, every verb answers 99 "Recovering from crash or Initializing" for this long. */
    recoveringMs: z.number().nonnegative().optional(),
    /** Finished host jobs are deleted after this (VDSM: jobs.autodelete_delay, 3600 s). */
    jobAutodeleteMs: z.number().nonnegative().optional(),
    jobFaults: z.array(JobFaultRule).optional(),
    /** Lose every `|jobs|status|` event of these hosts (true: all), as a dropped connection would. */
    dropJobEvents: z.union([z.boolean(), HostList]).optional(),
  })
  .strict();
export type FaultConfig = z.infer<typeof FaultConfig>;
export type FaultConfigInput = z.input<typeof FaultConfig>;

/** A patch for setFaults: top-level keys replace, `null` removes. */
export const FaultPatch = z.record(z.string(), z.unknown());

const DEFAULT_JOB_AUTODELETE_MS = 3600_000;

export interface HostRef {
  hostId: string;
  name: string;
}

function matchesHost(hosts: readonly string[] | undefined, host: HostRef): boolean {
  return hosts === undefined || hosts.includes(host.hostId) || hosts.includes(host.name);
}

function verbMatches(pattern: string, verb: string): boolean {
  return pattern === '*' || pattern === verb;
}

/** The live fault configuration with its dice and counters. */
export class Faults {
  private config: FaultConfig;
  private random: () => number;
  private readonly injected = new Map<FailureRule | JobFaultRule, number>();
  private exitMatches = 0;

  constructor(initial: FaultConfigInput = {}) {
    this.config = FaultConfig.parse(initial);
    this.random = mulberry32(this.config.seed ?? Math.floor(Math.random() * 2 ** 32));
  }

  current(): FaultConfig {
    return structuredClone(this.config);
  }

  /** Merges top-level keys (null removes one). Throws a ZodError naming the bad field. */
  update(patch: Record<string, unknown>): FaultConfig {
    const merged: Record<string, unknown> = { ...this.config };
    for (const [key, value] of Object.entries(FaultPatch.parse(patch))) {
      if (value === null) delete merged[key];
      else merged[key] = value;
    }
    const next = FaultConfig.parse(merged);
    if (next.seed !== undefined && next.seed !== this.config.seed) this.random = mulberry32(next.seed);
    // Injection counts are kept per rule object: untouched rules keep theirs.
    if ('failures' in patch || 'jobFaults' in patch) {
      for (const rule of [...this.injected.keys()]) {
        const kept = 'phase' in rule ? !('failures' in patch) : !('jobFaults' in patch);
        if (!kept) this.injected.delete(rule);
      }
    }
    if (!('failures' in patch) && this.config.failures) next.failures = this.config.failures;
    if (!('jobFaults' in patch) && this.config.jobFaults) next.jobFaults = this.config.jobFaults;
    if ('exitAfter' in patch) this.exitMatches = 0;
    this.config = next;
    return this.current();
  }

  sample(duration: Duration | undefined): number {
    if (duration === undefined) return 0;
    if (typeof duration === 'number') return duration;
    switch (duration.kind) {
      case 'zero':
        return 0;
      case 'fixed':
        return duration.ms;
      case 'uniform':
        return duration.minMs + this.random() * (duration.maxMs - duration.minMs);
    }
  }

  workMs(verb: string): number {
    const durations = this.config.durations ?? {};
    return this.sample(durations[verb] ?? durations['*']);
  }

  acquireMs(verb: string): number {
    const acquire = this.config.acquireMs ?? {};
    return this.sample(acquire[verb] ?? acquire['*']);
  }

  rollbackMs(): number {
    return this.sample(this.config.rollbackMs);
  }

  abortLatencyMs(): number {
    return this.sample(this.config.abortLatencyMs);
  }

  abortableJobs(): 'vdsm' | 'all' {
    return this.config.abortableJobs ?? 'vdsm';
  }

  latencyMs(): number {
    return this.sample(this.config.latencyMs);
  }

  recoveringMs(): number {
    return this.config.recoveringMs ?? 0;
  }

  jobAutodeleteMs(): number {
    return this.config.jobAutodeleteMs ?? DEFAULT_JOB_AUTODELETE_MS;
  }

  /** Rolls the dice of the first matching rule; counts the injection. */
  failure(verb: string, phase: FailureRule['phase'], host: HostRef): VdsmFault | undefined {
    for (const rule of this.config.failures ?? []) {
      if (rule.phase !== phase || !verbMatches(rule.verb, verb) || !matchesHost(rule.hosts, host)) continue;
      const done = this.injected.get(rule) ?? 0;
      if (rule.count !== undefined && done >= rule.count) continue;
      if (this.random() >= rule.probability) continue;
      this.injected.set(rule, done + 1);
      return injectedFault(rule.code, rule.message);
    }
    return undefined;
  }

  /** The first job fault rule for this verb and host that still fires; counts it. */
  jobFault(verb: string, host: HostRef): JobFaultRule | undefined {
    for (const rule of this.config.jobFaults ?? []) {
      if (!verbMatches(rule.verb, verb) || !matchesHost(rule.hosts, host)) continue;
      const done = this.injected.get(rule) ?? 0;
      if (rule.count !== undefined && done >= rule.count) continue;
      this.injected.set(rule, done + 1);
      return rule;
    }
    return undefined;
  }

  dropsJobEvents(host: HostRef): boolean {
    const drop = this.config.dropJobEvents;
    return drop === true || (Array.isArray(drop) && matchesHost(drop, host));
  }

  stopsAnswering(host: HostRef): boolean {
    const stop = this.config.stopAnswering;
    return stop === true || (Array.isArray(stop) && matchesHost(stop, host));
  }

  /** Whether to drop the connection instead of answering its `requestNumber`th request. */
  dropsConnection(host: HostRef, requestNumber: number): boolean {
    const drop = this.config.dropConnections;
    if (!drop || !matchesHost(drop.hosts, host)) return false;
    if (drop.afterRequests !== undefined && requestNumber >= drop.afterRequests) return true;
    return drop.probability !== undefined && this.random() < drop.probability;
  }

  /** The exit point armed for this call of `verb`, counting matching calls; undefined if none. */
  exitPointFor(verb: string, host: HostRef): ExitPoint | undefined {
    const exit = this.config.exitAfter;
    if (!exit || !verbMatches(exit.verb, verb) || !matchesHost(exit.hosts, host)) return undefined;
    this.exitMatches += 1;
    return this.exitMatches === exit.count ? exit.when : undefined;
  }
}
