/**
 * Watches the simulators' SPM tasks through their public `listTasks()`: which tasks existed, and
 * when each was first seen ended. The simulator keeps each task's state history but no times, so
 * a task's end is bracketed by two samples: it ended after `endedAfter` (the last sample before it
 * was seen ended) and at or before `endedBy` (the first sample that saw it ended).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Simulator } from '../../src/vdsm-sim/simulator';

export interface TaskRecord {
  id: string;
  poolId: string;
  verb: string;
  firstSeenAt: number;
  /** Image group the task works on (from the task's persisted job name), when known. */
  imageId: string | undefined;
  /** Last internal state seen. */
  state: string;
  endedAfter: number | undefined;
  endedBy: number | undefined;
  /** Seen gone (cleared) at this sample. */
  goneBy: number | undefined;
}

const DONE_STATES = new Set(['finished', 'recovered', 'failed']);

export interface SampledSim {
  poolId: string;
  sim: Simulator;
  /** `<dataDir>/<poolId>/<masterDomainId>/master/tasks`: the SPM's persisted task files. */
  taskDir?: string;
}

export const STATUS_POLL_VERB = 'Host.getAllTasksStatuses';

export class TaskSampler {
  readonly tasks = new Map<string, TaskRecord>();
  /** Per pool: when the simulator's Host.getAllTasksStatuses counter was seen to go up (once per call). */
  readonly statusPolls = new Map<string, number[]>();
  private readonly lastPollCount = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private lastSampleAt = 0;
  private widths: number[] = [];

  constructor(
    private readonly sims: SampledSim[],
    private readonly periodMs = 50,
  ) {}

  start(): void {
    this.lastSampleAt = Date.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
  }

  /** Spacing of the samples actually taken (the bracket width of an end time), ms. */
  sampleSpacings(): number[] {
    return this.widths;
  }

  /** Host.getAllTasksStatuses calls of a pool seen in [from, to], and the gaps between them. */
  pollsBetween(
    poolId: string,
    from: number,
    to: number,
  ): { calls: number; gapsMs: number[]; times: number[] } {
    const times = (this.statusPolls.get(poolId) ?? []).filter((t) => t >= from && t <= to);
    const gapsMs: number[] = [];
    for (let i = 1; i < times.length; i++) gapsMs.push((times[i] as number) - (times[i - 1] as number));
    return { calls: times.length, gapsMs, times };
  }

  /** deleteImage tasks per image id (ids whose image is unknown are listed under ''). */
  deleteTasksByImage(): Map<string, TaskRecord[]> {
    const byImage = new Map<string, TaskRecord[]>();
    for (const task of this.tasks.values()) {
      if (task.verb !== 'deleteImage') continue;
      const key = task.imageId ?? '';
      byImage.set(key, [...(byImage.get(key) ?? []), task]);
    }
    return byImage;
  }

  sample(): void {
    const now = Date.now();
    const previous = this.lastSampleAt;
    this.widths.push(now - previous);
    const seen = new Set<string>();
    for (const { poolId, sim, taskDir } of this.sims) {
      const polls = sim.counters().pools[poolId]?.verbs[STATUS_POLL_VERB] ?? 0;
      const before = this.lastPollCount.get(poolId);
      this.lastPollCount.set(poolId, polls);
      if (before !== undefined && polls > before) {
        const times = this.statusPolls.get(poolId) ?? [];
        for (let i = before; i < polls; i++) times.push(now);
        this.statusPolls.set(poolId, times);
      }
      if (!sim.running) {
        // A crashed simulator lists nothing: do not take that as every task gone.
        for (const task of this.tasks.values()) if (task.poolId === poolId) seen.add(task.id);
        continue;
      }
      for (const snapshot of sim.listTasks()) {
        seen.add(snapshot.id);
        let record = this.tasks.get(snapshot.id);
        if (!record) {
          record = {
            id: snapshot.id,
            poolId,
            verb: snapshot.verb,
            firstSeenAt: now,
            imageId: taskDir ? imageOfTask(taskDir, snapshot.id) : undefined,
            state: snapshot.state,
            endedAfter: undefined,
            endedBy: undefined,
            goneBy: undefined,
          };
          this.tasks.set(snapshot.id, record);
        }
        record.state = snapshot.state;
        record.goneBy = undefined;
        if (DONE_STATES.has(snapshot.state)) {
          if (record.endedBy === undefined) {
            record.endedBy = now;
            record.endedAfter = previous;
          }
        } else {
          // Reloaded by a restarted or new SPM and rolled back: it ends again later.
          record.endedBy = undefined;
          record.endedAfter = undefined;
        }
      }
    }
    for (const record of this.tasks.values()) {
      if (!seen.has(record.id) && record.goneBy === undefined) record.goneBy = now;
    }
    this.lastSampleAt = now;
  }
}

/** Reads `purgeImage_<id>` / `zeroImage_<id>` from the task's persisted file, if it is there. */
function imageOfTask(taskDir: string, taskId: string): string | undefined {
  try {
    const persisted = JSON.parse(readFileSync(join(taskDir, `${taskId}.json`), 'utf8')) as {
      jobs?: Array<{ name?: string }>;
    };
    const name = persisted.jobs?.[0]?.name ?? '';
    const match = /^(?:purgeImage|zeroImage)_(.+)$/.exec(name);
    return match?.[1];
  } catch {
    return undefined;
  }
}

export function spmTaskDir(dataDir: string, poolId: string, masterDomainId: string): string {
  return join(dataDir, poolId, masterDomainId, 'master', 'tasks');
}
