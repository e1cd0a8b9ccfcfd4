/**
 * Status polls shared by several workers' hubs through one SQLite inventory: one
 * Host.getAllTasksStatuses per pool per interval for all of them, the others served by what the
 * poller published, and a poller that stops is replaced once its lease expires.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskStatusHub, type SharedPolls } from '../../src/activities/status-hub';
import { SqliteInventory } from '../../src/inventory';
import { FakeSpm, sleep } from '../support/fake-spm';

jest.setTimeout(30_000);

const MIN_INTERVAL_MS = 100;

let dir: string;
let store: SqliteInventory;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shared-polls-'));
  store = new SqliteInventory(join(dir, 'inventory.db'));
  await store.init();
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One worker's hub: its own locator and lease name, the shared inventory (or a stand-in for it). */
function hubOf(spm: FakeSpm, worker: string, inventory: SharedPolls['inventory'] = store): TaskStatusHub {
  return new TaskStatusHub(
    spm.locator(),
    { minIntervalMs: MIN_INTERVAL_MS, maxIntervalMs: 400, backoffFactor: 2, fastPhaseMs: 300 },
    Date.now,
    { inventory, worker },
  );
}

/**
 * Two workers' hubs, the first (`w1`) polling the pool for a task `keep` that runs until
 * `release()` (which then closes both hubs): the second (`w2`) follows what the first publishes.
 */
async function leaderPollingFor(
  spm: FakeSpm,
): Promise<{ follower: TaskStatusHub; release(): Promise<void> }> {
  const leader = hubOf(spm, 'w1');
  const follower = hubOf(spm, 'w2');
  spm.set('keep', 'running');
  const kept = leader.waitForEnd('p1', 'keep');
  await sleep(250);
  return {
    follower,
    async release() {
      spm.set('keep', 'finished', 'success');
      await kept;
      leader.close();
      follower.close();
    },
  };
}

/** Smallest gap between two polls (Infinity with fewer than two). */
const smallestGap = (polls: number[]): number =>
  Math.min(...polls.slice(1).map((t, i) => t - polls[i]!), Infinity);

test('three workers waiting on the same pool: one getAllTasksStatuses per interval for all of them', async () => {
  const spm = new FakeSpm();
  const hubs = ['w1', 'w2', 'w3'].map((w) => hubOf(spm, w));
  const waits = hubs.flatMap((hub, h) =>
    Array.from({ length: 20 }, (_, i) => {
      spm.set(`t${h}-${i}`, 'running');
      return hub.waitForEnd('p1', `t${h}-${i}`);
    }),
  );
  await sleep(1_000);
  // Polls so far by each hub (a hub forgets a pool's count once nothing waits there).
  const polledByHubs = hubs.map((hub) => hub.pollCounts().p1 ?? 0);
  for (const id of Object.keys(spm.statuses)) spm.set(id, 'finished', 'success');
  const ended = await Promise.all(waits);

  expect(ended.every((s) => s.taskResult === 'success')).toBe(true);
  // Three hubs polling on their own would make about three calls per interval.
  expect(smallestGap(spm.polls)).toBeGreaterThanOrEqual(MIN_INTERVAL_MS - 5);
  expect(polledByHubs.filter((n) => n > 0)).toHaveLength(1);
  hubs.forEach((hub) => hub.close());
});

test('a poller that stops answering is replaced once its lease expires; the others never poll meanwhile', async () => {
  const spm = new FakeSpm();
  let frozen = false;
  // The first worker's inventory calls hang once it is "frozen", as a dead process's would.
  const freezable: SharedPolls['inventory'] = {
    leadStatusPolls: (...a) => (frozen ? new Promise(() => {}) : store.leadStatusPolls(...a)),
    publishTaskStatuses: (...a) => (frozen ? new Promise(() => {}) : store.publishTaskStatuses(...a)),
    readTaskStatuses: (...a) => (frozen ? new Promise(() => {}) : store.readTaskStatuses(...a)),
    quitStatusPolls: (...a) => (frozen ? new Promise(() => {}) : store.quitStatusPolls(...a)),
  };
  const first = hubOf(spm, 'w1', freezable);
  spm.set('a', 'running');
  void first.waitForEnd('p1', 'a').catch(() => undefined);
  await sleep(300);
  expect(first.pollCounts().p1).toBeGreaterThan(0);

  const second = hubOf(spm, 'w2');
  spm.set('b', 'running');
  const b = second.waitForEnd('p1', 'b');
  await sleep(300);
  expect(second.pollCounts().p1 ?? 0).toBe(0);

  frozen = true;
  const frozenAt = Date.now();
  spm.set('b', 'finished', 'success');
  expect((await b).taskResult).toBe('success');
  // The lease (3 s at least) had to expire before the second worker took over.
  expect(second.pollCounts().p1).toBeGreaterThan(0);
  expect(Date.now() - frozenAt).toBeLessThan(6_000);
  expect(smallestGap(spm.polls)).toBeGreaterThanOrEqual(MIN_INTERVAL_MS - 5);
  first.close();
  second.close();
});

test('a follower ends a task the published answers stopped listing as unknown (the engine rule)', async () => {
  const spm = new FakeSpm();
  const { follower, release } = await leaderPollingFor(spm);
  spm.set('gone', 'running');
  const gone = follower.waitForEnd('p1', 'gone');
  await sleep(400);
  delete spm.statuses.gone;

  expect(await gone).toMatchObject({ taskID: 'gone', taskState: 'unknown' });
  expect(follower.pollCounts().p1 ?? 0).toBe(0);
  await release();
});

test('a task created after the publication a follower reads is not called vanished', async () => {
  const spm = new FakeSpm();
  const { follower, release } = await leaderPollingFor(spm);
  // The follower waits for a task the SPM does not list yet (its answer came before the task).
  const late = follower.waitForEnd('p1', 'late');
  let settled = false;
  void late.then(() => (settled = true));
  await sleep(40);
  spm.set('late', 'running');
  await sleep(600);
  expect(settled).toBe(false);
  spm.set('late', 'finished', 'success');
  expect((await late).taskResult).toBe('success');
  await release();
});
