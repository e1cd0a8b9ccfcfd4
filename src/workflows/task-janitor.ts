import { proxyActivities } from '@temporalio/workflow';
import type { JanitorReport, OvirtActivities } from '../activities';

const { sweepPoolTasks } = proxyActivities<OvirtActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '5s', maximumInterval: '1 minute', maximumAttempts: 5 },
  summary: 'Sweep the SPM for orphaned and over-age tasks',
});

/** One sweep of a pool's SPM tasks; a Temporal Schedule runs it every JANITOR_INTERVAL_MS. */
export async function taskJanitorWorkflow(input: { poolId: string }): Promise<JanitorReport> {
  return sweepPoolTasks(input);
}
