/** The chaos run's vocabulary: scenarios, invariants, options, and what a run reports. */
import type { Rng } from '../support/random';
import type { Stack } from '../support/stack';

export const SCENARIOS = [
  'worker-kill',
  'temporal-restart',
  'vdsm-restart',
  'spm-failover',
  'network',
  'mixed',
  'hostile-peer',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const INVARIANTS = {
  closed: 'every command closed before the deadline',
  typedOutcome: 'each succeeded, or failed with a typed reason (ApplicationFailure type + message)',
  noDuplicateTasks:
    'at most one SPM task per step, and per image at most one Image.delete task: the one its step owns',
  noOrphanTasks:
    'every Image.delete and Volume.create task is the one a step recorded (no step lost its task)',
  tasksCleared: 'no SPM task and no task claim left after the janitor grace period',
  noLocks: 'no entity lock left, no disk LOCKED, no VM ImageLocked',
  storageAgrees: 'inventory agrees with storage (removed: no image; OK: image; ILLEGAL: either)',
  outcomeConsistent:
    "a command's result matches storage and inventory (removed disks gone, illegal ones ILLEGAL, an added disk OK with its one volume, a snapshot OK with one new leaf per disk)",
  chainsAgree: "every touched disk that is not ILLEGAL: the inventory's volume chain is storage's",
  noOrphanVolumes: 'no volume on storage that the inventory does not know, no image without a disk',
  noLockedRows: 'no snapshot LOCKED and no disk LOCKED, except those the fixture started with',
  groupReverted:
    'a failed CreateSnapshot left every disk with the chain it had, its snapshot row gone, no task of it finished and unreverted',
  noJobsLeft: 'no host job (SDM.copy_data) still pending or running once every command closed',
} as const;
export type InvariantName = keyof typeof INVARIANTS;

export interface ChaosOptions {
  seed: number;
  scenarios: ScenarioName[];
  /** Commands per scenario, mixed as commands.ts MIX says (half RemoveVm, AddDisk, CreateSnapshot). */
  commandsPerScenario: number;
  maxDisksPerVm: number;
  workers: number;
  /** Duration of every SPM task (Image.delete and Volume.create), drawn in [taskMinMs, taskMaxMs]. */
  taskMinMs: number;
  taskMaxMs: number;
  /** Faults happen between 1 s and this long after the commands are submitted. */
  faultWindowMs: number;
  /** How long commands may take to close after the faults healed. */
  settleDeadlineMs: number;
  janitorGraceMs: number;
  janitorIntervalMs: number;
  keepDir: boolean;
  log: (line: string) => void;
}

export const DEFAULT_CHAOS_OPTIONS: Omit<ChaosOptions, 'seed' | 'log'> = {
  scenarios: [...SCENARIOS],
  commandsPerScenario: 24,
  maxDisksPerVm: 4,
  workers: 2,
  taskMinMs: 500,
  taskMaxMs: 4_000,
  faultWindowMs: 20_000,
  settleDeadlineMs: 8 * 60_000,
  janitorGraceMs: 5_000,
  janitorIntervalMs: 5_000,
  keepDir: false,
};

export interface FaultEvent {
  atS: number;
  fault: string;
  outcome: string;
}

export interface Violation {
  invariant: InvariantName;
  detail: string;
}

export interface ScenarioReport {
  name: ScenarioName;
  commands: number;
  /** Commands per kind (RemoveVm, AddDisk, CreateSnapshot). */
  kinds: Record<string, number>;
  images: number;
  /** Outcomes per kind: `RemoveVm succeeded`, `CreateSnapshot failed: GroupFailed`, ... */
  outcomes: Record<string, number>;
  faults: FaultEvent[];
  violations: Violation[];
  /** Not invariants, but worth knowing (unexpected worker exits, orphan tasks the janitor took...). */
  notes: string[];
  elapsedS: number;
  /**
   * Seconds from the last restart (worker, dev server or simulator) to the end of the last command
   * submitted before it: the recovery tail after a crash. Absent when nothing was restarted.
   */
  recoveryTailS?: number;
  /** hostile-peer only: the commands' durations with and without the hostile peer. */
  slowdown?: Slowdown;
}

/** Submit-to-close seconds of the same commands (same kinds, disks and submit times), without and with a fault. */
export interface Slowdown {
  calm: DurationSummary;
  faulted: DurationSummary;
  /** faulted.p50S / calm.p50S and faulted.maxS / calm.maxS. */
  p50Ratio: number;
  maxRatio: number;
}

export interface DurationSummary {
  p50S: number;
  p95S: number;
  maxS: number;
}

export interface ChaosReport {
  seed: number;
  options: Omit<ChaosOptions, 'log'>;
  scenarios: ScenarioReport[];
  elapsedS: number;
  ok: boolean;
}

export interface ScenarioCtx {
  stack: Stack;
  rng: Rng;
  options: ChaosOptions;
  t0: number;
  faults: FaultEvent[];
  notes: string[];
  /** When a crashed part last came back (Date.now()); the recovery tail is measured from it. */
  lastRestartAt?: number;
}

export const poolOf = (stack: Stack): string => stack.fixtures[0]!.pool.id;
