/**
 * Activity options per kind of step. Retries add no history events, so long waits and retried
 * end actions keep a step's history the same size however long they take.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  type ActivityOptions,
} from '@temporalio/workflow';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors';

const nonRetryableErrorTypes = [...NON_RETRYABLE_ERROR_TYPES];

/**
 * Inventory work and validation: milliseconds of work, retried a few times for transient database
 * errors. A short start-to-close: an attempt lost with its worker is retried elsewhere within
 * seconds (the whole tail after a crash), not after a minute.
 */
export const commandActivityOptions: ActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 10,
    nonRetryableErrorTypes,
  },
};

/**
 * Starting a VDSM task: starts of a pool go one at a time, so a start may queue behind thousands
 * of others. It heartbeats while it waits; the heartbeat timeout, not start-to-close, catches a
 * dead worker (within 10 s).
 */
export const startTaskActivityOptions: ActivityOptions = {
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes },
};

/**
 * Waiting for a task to end: one heartbeating activity served by the worker's status hub.
 * TRY_CANCEL: waiting only reads, so a cancelled step need not wait for the activity to notice
 * (it learns at its next heartbeat); the step stops the VDSM task at once and waits anew.
 */
export const waitTaskActivityOptions: ActivityOptions = {
  startToCloseTimeout: '24 hours',
  // A dead worker's waits move to another worker within 10 s. Heartbeats are throttled by the SDK
  // and sent on status changes, so a shorter timeout costs a little more load per task in flight.
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.TRY_CANCEL,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes },
};

/**
 * End actions are retried until they succeed (the engine's CoCo gave up after 5). They run as
 * local activities: a dead worker's attempt is retried with the workflow task, within seconds.
 */
export const endActionActivityOptions: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes,
  },
};

/**
 * Task.stop / Task.revert / Task.clear: a few quick attempts; the step itself loops on
 * ClearFailed and on a failed revert. One VDSM request may take VDSM_REQUEST_TIMEOUT_MS (30 s), so
 * a heartbeat, not start-to-close, catches a dead worker.
 */
export const vdsmTaskVerbActivityOptions: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '10s',
    maximumAttempts: 3,
    nonRetryableErrorTypes,
  },
};

/**
 * A command fails with the typed failure its activity raised (VmNotFound, DiskLocked, ...), so
 * clients match on `cause.type`; the ActivityFailure stays in the chain as its cause.
 */
export function surfaceActivityFailure(err: unknown): unknown {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
    return ApplicationFailure.create({
      type: err.cause.type ?? undefined,
      message: err.cause.message,
      nonRetryable: true,
      details: err.cause.details ?? undefined,
      cause: err,
    });
  }
  return err;
}
