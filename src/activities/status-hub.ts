import type { VdsmTaskStatus } from '../vdsm/port';
import { PoolPoller } from './pool-poller';
import type { PollingPolicy, SharedPolls } from './status-polls';
import type { SpmLocator } from './spm-locator';

export type { PollingPolicy, SharedPolls } from './status-polls';

/**
 * Worker-level status hub: every task a worker waits on in a pool is served by at most one
 * Host.getAllTasksStatuses per poll interval, however many tasks are in flight. The interval
 * adapts like the engine's CoCo coordinator: minimum while anything changes (or during the fast
 * phase after a change), then backing off to the maximum; any change resets it. With `shared`,
 * that one call per interval holds for all workers together: one of them polls each pool and
 * publishes the answer in the inventory, the others read it (see PoolPoller).
 */
export class TaskStatusHub {
  private readonly pools = new Map<string, PoolPoller>();
  /**
   * When each pool's last poll answered (or failed), kept across pollers: a pool's poller goes
   * when nobody waits, and the next one must still respect the minimum interval.
   */
  private readonly lastPollEndedAt = new Map<string, number>();
  /** The task ids of each pool's last answered poll: what a start may take as already there. */
  private readonly lastTaskIds = new Map<string, { taskIds: string[]; at: number }>();
  private closed = false;

  constructor(
    private readonly spm: SpmLocator,
    private readonly policy: PollingPolicy,
    private readonly now: () => number = Date.now,
    private readonly shared?: SharedPolls,
  ) {}

  waitForEnd(
    poolId: string,
    taskId: string,
    options: { signal?: AbortSignal; onStatus?: (status: VdsmTaskStatus) => void } = {},
  ): Promise<VdsmTaskStatus> {
    if (this.closed) return Promise.reject(new Error('status hub is closed'));
    let poller = this.pools.get(poolId);
    if (!poller) {
      poller = new PoolPoller(
        poolId,
        this.spm,
        this.policy,
        this.now,
        {
          onIdle: () => this.pools.delete(poolId),
          lastPollEndedAt: () => this.lastPollEndedAt.get(poolId),
          pollEnded: (at) => this.lastPollEndedAt.set(poolId, at),
          answered: (taskIds, at) => this.lastTaskIds.set(poolId, { taskIds, at }),
        },
        this.shared,
      );
      this.pools.set(poolId, poller);
    }
    return poller.wait(taskId, options);
  }

  /**
   * The task ids the pool's SPM reported in the last poll this worker made or read, if it answered less than
   * `maxAgeMs` ago: every one existed before now, so a start may record them as known without
   * asking the SPM again.
   */
  lastKnownTaskIds(poolId: string, maxAgeMs: number): string[] | undefined {
    const last = this.lastTaskIds.get(poolId);
    return last && this.now() - last.at < maxAgeMs ? last.taskIds : undefined;
  }

  /**
   * As lastKnownTaskIds, falling back to the answer the pool's poller last published in the
   * inventory (shared polls) when this worker has polled or read nothing recent itself.
   */
  async knownTaskIds(poolId: string, maxAgeMs: number): Promise<string[] | undefined> {
    const own = this.lastKnownTaskIds(poolId, maxAgeMs);
    if (own || !this.shared) return own;
    const published = await this.shared.inventory.readTaskStatuses(poolId, 0);
    if (!published || published.endedAtMs === null) return undefined;
    const taskIds = Object.keys(JSON.parse(published.statusesJson) as Record<string, unknown>);
    const last = this.lastTaskIds.get(poolId);
    if (!last || last.at < published.endedAtMs)
      this.lastTaskIds.set(poolId, { taskIds, at: published.endedAtMs });
    return this.lastKnownTaskIds(poolId, maxAgeMs);
  }

  /** Polls made so far, per pool (for tests and benchmarks). */
  pollCounts(): Record<string, number> {
    return Object.fromEntries([...this.pools].map(([id, p]) => [id, p.polls]));
  }

  close(): void {
    this.closed = true;
    for (const poller of this.pools.values()) poller.abortAll(new Error('status hub closed'));
    this.pools.clear();
  }
}
