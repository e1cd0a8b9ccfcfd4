/** What a bench run writes to bench/results/<timestamp>.json: every phase's figures and the targets. */
import type { BaselineParentInput } from '../baseline/workflows';
import type { HostJobResult } from '../scenarios/host-jobs';
import type { MachineInfo } from '../support/machine';
import type { Summary } from '../support/stats';
import type { BenchOptions } from './options';

export interface CommandPhaseResult {
  label: string;
  durations: string;
  commands: number;
  images: number;
  elapsedS: number;
  commandsPerS: number;
  imagesPerS: number;
  /** Submit (client, before the start RPC) → close (server's close time), seconds. */
  latencyS: Summary;
  statuses: Record<string, number>;
  failures: string[];
  detection: DetectionResult | undefined;
  history: Record<string, { count: number; events: Summary; sizeBytes: Summary }>;
  activitiesPerChild: Record<string, number>;
  vdsmCalls: Record<string, number>;
  statusPolls: PollResult[];
  workerPeakRssMiB: number;
  stepTimeline: StepTimeline;
  /** Activities that needed more than one attempt (retries leave no events but the attempt number). */
  retries: Record<string, { retried: number; maxAttempt: number }>;
  cpu: CpuUse;
}

export interface DetectionResult {
  /** Steps whose task was matched to the simulator's samples. */
  tasks: number;
  unmatched: number;
  /** Task ended (bracketed by samples) → ActivityTaskCompleted of waitForTaskEnd, seconds. */
  upperBoundS: Summary;
  lowerBoundS: Summary;
  /**
   * Same, but counted from when the step began waiting (waitForTaskEnd scheduled) if the task had
   * ended before: the hub's share alone, without the step's own start path.
   */
  fromWaitingUpperS: Summary;
  sampleSpacingMs: Summary;
}

/** Where a step's time goes (from its history), seconds p50 / p95. */
export type StepTimeline = Record<string, { p50: number; p95: number }>;

export interface CpuUse {
  /** CPU seconds used during the run by: */
  ovirtWorkers: number | null;
  baselineWorker: number | null;
  temporalServer: number | null;
  benchProcess: number;
  /** Wall-clock seconds of the run. */
  wallS: number;
}

export interface PollResult {
  poolId: string;
  poolName: string;
  windowS: number;
  calls: number;
  /** calls ÷ (window ÷ POLL_MIN_INTERVAL_MS) ÷ workers: must be ≤ 1. */
  perMinIntervalPerWorker: number;
  /**
   * Most calls of the pool inside any one poll interval (sliding; the interval less 100 ms, two
   * sampling periods, since call times are known to ±50 ms). The target: ≤ 1 per worker.
   */
  maxInAnyInterval: number;
  minGapMs: number | null;
  meanGapMs: number | null;
}

export interface BaselineResult {
  commands: number;
  childrenPerCommand: number;
  shape: BaselineParentInput;
  elapsedS: number;
  commandsPerS: number;
  childrenPerS: number;
  latencyS: Summary;
  history: Record<string, { count: number; events: Summary; sizeBytes: Summary }>;
  workerPeakRssMiB: number;
  stepTimeline: StepTimeline;
  cpu: CpuUse;
  /** Event types of one baseline parent and one of its children. */
  parentEventTypes: Record<string, number>;
  childEventTypes: Record<string, number>;
}

export interface HistoryCompareResult {
  shortTaskMs: number;
  longTaskMs: number;
  short: { events: number; sizeBytes: number; detectionUpperS: number | null; activities: string[] };
  long: { events: number; sizeBytes: number; detectionUpperS: number | null; activities: string[] };
  equalLength: boolean;
}

export interface InflightLevel {
  tasksInFlight: number;
  perPool: Record<string, number>;
  rampS: number;
  window: PollResult[];
  ramp: PollResult[];
  vdsmCallsInWindow: Record<string, number>;
  workerPeakRssMiB: number;
  workerRssAtEndMiB: number;
  /** Prebuilt-bundle experiment only: V8 heap still used after a full GC at the window's end. */
  liveHeapAfterGcMiB: number | null;
  /** Prebuilt-bundle experiment only: process.memoryUsage() right after that GC, MiB. */
  memoryAfterGcMiB: Record<string, number> | null;
}

export interface InflightResult {
  levels: InflightLevel[];
  drain: { commands: number; elapsedS: number; statuses: Record<string, number> };
}

export interface ScaleResult {
  bigVm?: {
    images: number;
    elapsedS: number;
    status: string;
    parentEvents: number;
    parentSizeBytes: number;
    maxPendingChildren: number;
    maxPendingActivities: number;
    signalsReceived: number;
    childEvents: Summary;
    workerPeakRssMiB: number;
    /** From a sample of the steps' histories. */
    stepRetries: Record<string, { retried: number; maxAttempt: number }>;
    stepTimeline: StepTimeline;
  };
  batch?: {
    vms: number;
    imagesPerVm: number;
    images: number;
    elapsedS: number;
    commandsPerS: number;
    imagesPerS: number;
    latencyS: Summary;
    statuses: Record<string, number>;
    failures: string[];
    largestHistory: { workflowId: string; type: string; events: number; sizeBytes: number };
    maxPendingChildren: number;
    workerPeakRssMiB: number;
    vdsmCalls: Record<string, number>;
    /** From a sample of the steps' histories. */
    stepRetries: Record<string, { retried: number; maxAttempt: number }>;
    stepTimeline: StepTimeline;
  };
  serverWarnings: string[];
}

export interface TargetResult {
  target: string;
  measured: string;
  met: boolean | null;
  note?: string;
}

/** A command's shape, read from a warm-up history: what its same-shape baseline copies. */
export interface CommandShape {
  parentActivitiesBefore: number;
  parentActivitiesAfter: number;
  childActivities: number;
  childLocalActivities: number;
  childActivityTypes: string[];
  /** Event types of one warm-up command and one of its steps. */
  parentEventTypes?: Record<string, number>;
  childEventTypes?: Record<string, number>;
}

export interface BenchResult {
  startedAt: string;
  finishedAt: string;
  elapsedS: number;
  machine: MachineInfo;
  options: BenchOptions;
  engine: {
    pollMinMs: number;
    pollMaxMs: number;
    pollBackoff: number;
    pollFastPhaseMs: number;
    window: number;
  };
  /** RemoveVm's shape, from a warm-up history: what its baseline copies. */
  shape: CommandShape;
  phases: {
    zero?: CommandPhaseResult;
    realistic?: CommandPhaseResult;
    baseline?: BaselineResult;
    history?: HistoryCompareResult;
    inflight?: InflightResult;
    scale?: ScaleResult;
    /** AddDisk and CreateSnapshot (zero-length Volume.create tasks) and their same-shape baselines. */
    addDisk?: CommandPhaseResult;
    addDiskBaseline?: BaselineResult;
    createSnapshot?: CommandPhaseResult;
    createSnapshotBaseline?: BaselineResult;
    /** Host jobs: detection with and without events, Host.getJobs per host per interval. */
    hostJobs?: HostJobResult;
  };
  /** The shapes of AddDisk and CreateSnapshot, from their warm-up histories. */
  volumeShapes?: { addDisk?: CommandShape; createSnapshot?: CommandShape };
  workers: Array<{ name: string; peakHwmMiB: number; readyAfterS: number | null; exit: string | null }>;
  targets: TargetResult[];
}
