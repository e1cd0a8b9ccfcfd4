/** The janitor's part of orphan handling: plan every lock owner of the pool, apply what is not blocked. */
import { log } from '@temporalio/activity';
import { lockOwnersOfPool, planOwner, type OrphanDeps } from './orphan-locks';
import { applyOrphanPlan, describeChange } from './orphan-release';

export interface OrphanSweepReport {
  /** Closed owners whose locks went, with what was restored or removed and what stays LOCKED. */
  released: { owner: string; locks: number; changes: string[]; unproven: string[] }[];
  /** Closed owners left for a later sweep: a step or a VDSM task of theirs still runs. */
  waiting: { owner: string; why: string }[];
  /** Owners whose planning or release failed (VDSM, Temporal): the next sweep tries again. */
  failed: { owner: string; error: string }[];
}

/** Never touches the locks of a running owner; one owner's failure does not stop the others. */
export async function releaseOrphans(deps: OrphanDeps, poolId: string): Promise<OrphanSweepReport> {
  const report: OrphanSweepReport = { released: [], waiting: [], failed: [] };
  for (const { owner, locks } of await lockOwnersOfPool(deps.inventory, poolId)) {
    try {
      const plan = await planOwner(deps, owner, locks);
      if (plan.blockedBy) {
        // A running owner is not an orphan: not reported.
        if (plan.blockedBy.workflowId !== owner) report.waiting.push({ owner, why: plan.blockedBy.why });
        continue;
      }
      const applied = await applyOrphanPlan(deps, plan, 'Janitor');
      if (!applied.applied) continue;
      if (applied.removalsStarted.length) {
        report.waiting.push({
          owner,
          why: `removing what it left on storage: ${applied.removalsStarted.join(', ')}`,
        });
        continue;
      }
      report.released.push({
        owner,
        locks: applied.locksReleased,
        changes: plan.changes.map(describeChange),
        unproven: plan.unproven.map((u) => `${u.type} ${u.id} stays ${u.status}: ${u.why}`),
      });
      log.info('janitor: released the locks of a closed command', { owner, poolId });
    } catch (err) {
      report.failed.push({ owner, error: (err as Error).message });
      log.warn('janitor: could not release the locks of a closed command', {
        owner,
        poolId,
        error: (err as Error).message,
      });
    }
  }
  return report;
}
