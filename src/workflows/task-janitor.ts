import { proxyActivities } from '@temporalio/workflow';
import type { JanitorReport, OvirtActivities } from '../activities';

const { sweepPoolTasks } = proxyActivities<OvirtActivities>({
  // A sweep takes seconds; while one runs the Schedule skips its next runs, so a stuck or failing
  // sweep must give way soon: the Schedule's next run is the real retry.
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3 },
  summary: 'Sweep the SPM for orphaned and over-age tasks',
});

/** One sweep of a pool's SPM tasks; a Temporal Schedule runs it every JANITOR_INTERVAL_MS. */
export async function taskJanitorWorkflow(input: { poolId: string }): Promise<JanitorReport> {
  return sweepPoolTasks(input);
}
