import { randomUUID } from 'node:crypto';
import type { JanitorReport } from '../../src/activities';
import { WorkflowType } from '../../src/shared/names';
import { eventually, type EngineStack } from './engine-stack';

/** One janitor run on the stack's worker, as the Schedule starts it. */
export function sweep(s: EngineStack): Promise<JanitorReport> {
  return s.client.workflow.execute(WorkflowType.taskJanitor, {
    taskQueue: s.taskQueue,
    workflowId: `test-janitor/${randomUUID()}`,
    args: [{ poolId: s.fixture.pool.id }],
  });
}

/** Sweeps until the owner's locks were released (its steps may still be cleaning up at first). */
export function sweepUntilReleased(
  s: EngineStack,
  owner: string,
  timeoutMs = 60_000,
): Promise<JanitorReport['orphans']['released'][number]> {
  return eventually(
    async () => (await sweep(s)).orphans.released.find((r) => r.owner === owner),
    timeoutMs,
    `the janitor released the locks of ${owner}`,
  );
}

/** The audit entry types the inventory recorded for a command (its workflow id). */
export async function auditTypes(s: EngineStack, owner: string): Promise<string[]> {
  return (await s.inventory.listAudit({ correlationId: owner })).map((e) => e.type);
}
