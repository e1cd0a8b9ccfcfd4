import { randomUUID } from 'node:crypto';
import type { ActivityDeps } from './deps';
import { createAddDiskActivities } from './add-disk';
import { createCommandActivities } from './commands';
import { createSnapshotActivities } from './create-snapshot';
import { createEndActivities } from './end-actions';
import { createMoveOrCopyActivities } from './move-copy-disk';
import { createRemoveSnapshotActivities } from './remove-snapshot';
import { createVolumeActivities } from './volumes';
import { createHostJobActivities } from './host-jobs';
import { HostJobHub } from './job-hub';
import { createJanitorActivities } from './janitor';
import { SpmLocator } from './spm-locator';
import { TaskStatusHub } from './status-hub';
import { createTaskStepActivities } from './task-step';

export type { ActivityDeps } from './deps';
export type { StartTaskResult } from './task-step';
export type { JanitorReport } from './janitor';
export type { CommandOutcome, FinishCommandInput } from './commands';
export type { EndTaskStepInput } from './end-actions';
export type { RemoveSnapshotDiskOutcome } from './remove-snapshot';
export type {
  HostJobEntity,
  HostJobHeartbeat,
  HostJobOutcome,
  HostJobSpec,
  StartHostJobInput,
  StartHostJobResult,
  WaitForHostJobInput,
} from './host-jobs';
export { TaskStatusHub } from './status-hub';
export { HostJobHub } from './job-hub';
export { SpmLocator } from './spm-locator';

/**
 * Builds every activity from its ports. One status hub per worker: all waiting steps of a pool
 * share its polling, and the hubs of all workers share one poller per pool through the inventory.
 */
export function createActivities(deps: ActivityDeps) {
  const spm = new SpmLocator(deps.inventory, deps.vdsm);
  const hub = new TaskStatusHub(
    spm,
    {
      minIntervalMs: deps.config.polling.minIntervalMs,
      maxIntervalMs: deps.config.polling.maxIntervalMs,
      backoffFactor: deps.config.polling.backoffFactor,
      fastPhaseMs: deps.config.polling.fastPhaseMs,
    },
    Date.now,
    { inventory: deps.inventory, worker: `worker-${process.pid}-${randomUUID()}` },
  );
  // One host-job hub per worker: one Host.getJobs per host per interval for all its waiting jobs.
  const jobHub = new HostJobHub({ intervalMs: deps.config.polling.minIntervalMs });
  return {
    activities: {
      ...createCommandActivities(deps),
      ...createAddDiskActivities(deps),
      ...createSnapshotActivities(deps),
      ...createTaskStepActivities(deps, spm, hub),
      ...createEndActivities(deps, spm),
      ...createVolumeActivities(deps, spm),
      ...createMoveOrCopyActivities(deps),
      ...createRemoveSnapshotActivities(deps, spm),
      ...createJanitorActivities(deps, spm),
      ...createHostJobActivities(deps, jobHub),
    },
    statusHub: hub,
    jobHub,
  };
}

export type OvirtActivities = ReturnType<typeof createActivities>['activities'];
