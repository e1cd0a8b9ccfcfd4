/** The vocabulary of status polling: its policy, how workers share it, and the engine's rules on statuses. */
import { z } from 'zod';
import type { InventoryRepository } from '../inventory/port';
import type { VdsmTaskStatus } from '../vdsm/port';

export interface PollingPolicy {
  minIntervalMs: number;
  maxIntervalMs: number;
  backoffFactor: number;
  /** Stay at the minimum interval this long after the last change before backing off. */
  fastPhaseMs: number;
}

/**
 * Status polls shared across the workers through the inventory: one worker per pool polls the
 * SPM and publishes each answer; the others read it. Without it, each worker polls on its own.
 */
export interface SharedPolls {
  inventory: Pick<
    InventoryRepository,
    'leadStatusPolls' | 'publishTaskStatuses' | 'readTaskStatuses' | 'quitStatusPolls'
  >;
  /** This worker's name in the poller lease (unique per process). */
  worker: string;
}

/** What the pool's poller shares with its hub across pollers (a poller goes when nobody waits). */
export interface PoolMemory {
  onIdle: () => void;
  lastPollEndedAt: () => number | undefined;
  pollEnded: (at: number) => void;
  /** The task ids of an SPM answer and when it came (this worker's poll or a published one). */
  answered: (taskIds: string[], at: number) => void;
}

export const publishedSchema = z.record(
  z.string(),
  z.object({
    taskID: z.string(),
    taskState: z.enum(['init', 'running', 'finished', 'aborting', 'cleaning', 'unknown']),
    taskResult: z.enum(['', 'success', 'cleanSuccess', 'cleanFailure']),
    code: z.number(),
    message: z.string(),
  }),
);

/** The engine's rule: a task the SPM no longer reports is `unknown`, and unknown has ended. */
export function vanished(taskID: string): VdsmTaskStatus {
  return {
    taskID,
    taskState: 'unknown',
    taskResult: '',
    code: 0,
    message: 'task is not reported by the SPM',
  };
}

export function hasEnded(status: VdsmTaskStatus): boolean {
  return status.taskState === 'finished' || status.taskState === 'unknown';
}

/** The activity's cancellation reason is an Error (CancelledFailure); anything else gets wrapped. */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted'));
}

export const statusKey = (s: VdsmTaskStatus): string =>
  `${s.taskState}|${s.taskResult}|${s.code}|${s.message}`;
