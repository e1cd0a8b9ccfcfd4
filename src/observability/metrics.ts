import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { InventoryRepository } from '../inventory/port';

/** Every engine series starts with this; the SDK's runtime series start with `temporal_`. */
export const METRIC_PREFIX = 'ovirt_tasks_';

/** A task a step is waiting on, and the VDSM state the last status poll reported for it. */
interface InFlightTask {
  poolId: string;
  state: string;
  /** The latest moment the task was known not to have ended (a poll's send time, or the wait start). */
  notEndedAt: number;
}

/** As the status hub judges it (src/activities/status-hub.ts). */
const ENDED_STATES = new Set(['finished', 'unknown']);

/**
 * The engine's own Prometheus series, in a registry of their own (the SDK's are merged in at
 * scrape time by the endpoint, src/observability/server.ts). Gauges that mirror stored state
 * (locks held) are read from the inventory when scraped, so they cannot drift.
 */
export class EngineMetrics {
  readonly registry = new Registry();
  readonly vdsmCalls: Counter<'verb'>;
  readonly vdsmErrors: Counter<'verb' | 'code'>;
  readonly vdsmCallSeconds: Histogram<'verb'>;
  readonly statusPolls: Counter<'pool'>;
  readonly detectionDelay: Histogram<'pool'>;
  readonly startReconciliations: Counter<'pool'>;
  readonly janitorActions: Counter<'pool' | 'action'>;
  private readonly inFlight = new Map<string, InFlightTask>();

  constructor(options: { inventory?: Pick<InventoryRepository, 'listLocks'> } = {}) {
    const registers = [this.registry];
    this.vdsmCalls = new Counter({
      name: `${METRIC_PREFIX}vdsm_calls_total`,
      help: 'VDSM JSON-RPC calls made, per verb',
      labelNames: ['verb'],
      registers,
    });
    this.vdsmErrors = new Counter({
      name: `${METRIC_PREFIX}vdsm_errors_total`,
      help: 'VDSM calls that failed, per verb and code (VDSM error code, or transport / malformed)',
      labelNames: ['verb', 'code'],
      registers,
    });
    this.vdsmCallSeconds = new Histogram({
      name: `${METRIC_PREFIX}vdsm_call_duration_seconds`,
      help: 'Time a VDSM call took, per verb',
      labelNames: ['verb'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.statusPolls = new Counter({
      name: `${METRIC_PREFIX}status_polls_total`,
      help: "The status hub's Host.getAllTasksStatuses polls, per pool",
      labelNames: ['pool'],
      registers,
    });
    this.detectionDelay = new Histogram({
      name: `${METRIC_PREFIX}task_end_detection_delay_seconds`,
      help:
        'Upper bound of the time from a VDSM task ending to its step seeing it: from the last status ' +
        'that showed it not ended (or the wait starting) to the wait activity returning, per pool',
      labelNames: ['pool'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120],
      registers,
    });
    this.startReconciliations = new Counter({
      name: `${METRIC_PREFIX}task_start_reconciliations_total`,
      help: 'Task starts that found their task already created by an earlier attempt (reconciled), per pool',
      labelNames: ['pool'],
      registers,
    });
    this.janitorActions = new Counter({
      name: `${METRIC_PREFIX}janitor_actions_total`,
      help: 'Janitor actions per pool: cleared, stopped, reported_long_running, refused, orphan_locks_released',
      labelNames: ['pool', 'action'],
      registers,
    });
    const inFlight = this.inFlight;
    new Gauge({
      name: `${METRIC_PREFIX}tasks_in_flight`,
      help: 'VDSM tasks a step of this worker is waiting on, per pool and last reported VDSM state',
      labelNames: ['pool', 'state'],
      registers,
      collect() {
        this.reset();
        for (const task of inFlight.values()) this.inc({ pool: task.poolId, state: task.state });
      },
    });
    const inventory = options.inventory;
    if (inventory) {
      new Gauge({
        name: `${METRIC_PREFIX}locks_held`,
        help: 'Entity locks held in the inventory (all workers), per entity type and mode',
        labelNames: ['entity', 'mode'],
        registers,
        async collect() {
          this.reset();
          for (const lock of await inventory.listLocks()) this.inc({ entity: lock.type, mode: lock.mode });
        },
      });
    }
  }

  /** A step began waiting on `taskId`; its state is unknown until the next poll. */
  taskWaitStarted(poolId: string, taskId: string, at: number = Date.now()): void {
    this.inFlight.set(taskId, { poolId, state: 'unreported', notEndedAt: at });
  }

  /**
   * A status poll sent at `askedAt` reported `state` for a task; ignored for tasks no step of ours
   * waits on.
   */
  taskStateSeen(taskId: string, state: string, askedAt: number): void {
    const task = this.inFlight.get(taskId);
    if (!task) return;
    task.state = state;
    if (!ENDED_STATES.has(state)) task.notEndedAt = Math.max(task.notEndedAt, askedAt);
  }

  /** The step's wait returned (`sawEnd`) or gave up (cancelled, failed): no longer in flight. */
  taskWaitEnded(taskId: string, sawEnd: boolean, at: number = Date.now()): void {
    const task = this.inFlight.get(taskId);
    if (!task) return;
    this.inFlight.delete(taskId);
    if (sawEnd) this.detectionDelay.observe({ pool: task.poolId }, Math.max(0, at - task.notEndedAt) / 1000);
  }

  /** Exposition text of the engine's series. */
  async exposition(): Promise<string> {
    return this.registry.metrics();
  }
}
