import { TaskStatusHub } from '../../src/activities/status-hub';
import { VdsmMalformedResponseError } from '../../src/vdsm/errors';
import { FakeSpm, sleep } from '../support/fake-spm';

function hubFor(spm: FakeSpm, policy: Partial<ConstructorParameters<typeof TaskStatusHub>[1]> = {}) {
  return new TaskStatusHub(spm.locator(), {
    minIntervalMs: 50,
    maxIntervalMs: 400,
    backoffFactor: 2,
    fastPhaseMs: 0,
    ...policy,
  });
}

describe('TaskStatusHub', () => {
  test('coalesces 100 waiting tasks into one getAllTasksStatuses per interval', async () => {
    const spm = new FakeSpm();
    const ids = Array.from({ length: 100 }, (_, i) => `t${i}`);
    ids.forEach((id) => spm.set(id, 'running'));
    const hub = hubFor(spm, { minIntervalMs: 100, maxIntervalMs: 100 });
    const waits = ids.map((id) => hub.waitForEnd('p1', id));
    await sleep(550);
    // ~5 intervals elapsed: at most one poll each (never one per task), and polling happened.
    expect(spm.polls.length).toBeGreaterThanOrEqual(1);
    expect(spm.polls.length).toBeLessThanOrEqual(6);
    ids.forEach((id) => spm.set(id, 'finished', 'success'));
    const ended = await Promise.all(waits);
    expect(ended.every((s) => s.taskState === 'finished' && s.taskResult === 'success')).toBe(true);
    hub.close();
  });

  test('a task missing from the answer ends as unknown (the engine rule)', async () => {
    const spm = new FakeSpm();
    const hub = hubFor(spm);
    const status = await hub.waitForEnd('p1', 'never-created');
    expect(status.taskState).toBe('unknown');
    hub.close();
  });

  // On jest's fake clock: the intervals are the hub's, not a loaded machine's timer lateness.
  test('backs off while nothing changes and resets on a change', async () => {
    jest.useFakeTimers({ now: 0 });
    try {
      const spm = new FakeSpm();
      spm.set('a', 'running');
      const hub = hubFor(spm, { minIntervalMs: 20, maxIntervalMs: 5_000, backoffFactor: 2 });
      const done = hub.waitForEnd('p1', 'a');
      await jest.advanceTimersByTimeAsync(1_300);
      const gaps = spm.polls.slice(1).map((t, i) => t - spm.polls[i]!);
      // Intervals double (20, 40, 80, 160, 320, 640) while the task stays running.
      expect(gaps).toEqual([20, 40, 80, 160, 320, 640]);
      // A new waiter is a change: the next poll comes at the minimum interval again, not after
      // the current backed-off interval (1,280 ms).
      const before = spm.polls.length;
      spm.set('b', 'finished', 'success');
      const t0 = Date.now();
      const b = hub.waitForEnd('p1', 'b');
      let bEnded = false;
      void b.then(() => (bEnded = true));
      while (!bEnded) await jest.advanceTimersByTimeAsync(1);
      expect((await b).taskResult).toBe('success');
      expect(spm.polls.length).toBe(before + 1);
      expect(spm.polls.at(-1)! - t0).toBeLessThanOrEqual(20);
      spm.set('a', 'finished', 'cleanSuccess');
      await jest.advanceTimersByTimeAsync(20);
      expect((await done).taskResult).toBe('cleanSuccess');
      hub.close();
    } finally {
      jest.useRealTimers();
    }
  });

  test('a new waiter is polled for at once when the pool was not polled for an interval, never sooner', async () => {
    const spm = new FakeSpm();
    const hub = hubFor(spm, { minIntervalMs: 400, maxIntervalMs: 400 });
    spm.set('a', 'finished', 'success');
    // Nothing polled this pool yet: the first poll does not wait an interval.
    const t0 = Date.now();
    expect((await hub.waitForEnd('p1', 'a')).taskResult).toBe('success');
    expect(Date.now() - t0).toBeLessThan(200);
    // Polled just now: the next waiter's poll waits out the interval, even though the pool's
    // poller went idle in between.
    spm.set('b', 'finished', 'success');
    await hub.waitForEnd('p1', 'b');
    expect(spm.polls.length).toBe(2);
    expect(spm.polls[1]! - spm.polls[0]!).toBeGreaterThanOrEqual(399);
    // Not polled for longer than the interval: at once again.
    await sleep(450);
    spm.set('c', 'finished', 'success');
    const t1 = Date.now();
    await hub.waitForEnd('p1', 'c');
    expect(Date.now() - t1).toBeLessThan(200);
    expect(spm.polls.length).toBe(3);
    hub.close();
  });

  test('waiters arriving at any moment never cause two polls of a pool within an interval', async () => {
    const spm = new FakeSpm();
    spm.answerDelayMs = 15;
    const hub = hubFor(spm, { minIntervalMs: 100, maxIntervalMs: 100 });
    const waits: Array<Promise<unknown>> = [];
    for (let i = 0; i < 25; i++) {
      spm.set(`s${i}`, 'running');
      waits.push(hub.waitForEnd('p1', `s${i}`));
      await sleep(i % 3 === 0 ? 7 : 31);
    }
    for (let i = 0; i < 25; i++) spm.set(`s${i}`, 'finished', 'success');
    await Promise.all(waits);
    const gaps = spm.polls.slice(1).map((t, i) => t - spm.polls[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(4);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(99);
    hub.close();
  });

  test('a task waited on while a poll is in flight is not taken as gone from that poll', async () => {
    const spm = new FakeSpm();
    spm.answerDelayMs = 100;
    spm.set('old', 'running');
    const hub = hubFor(spm, { minIntervalMs: 50, maxIntervalMs: 50 });
    const old = hub.waitForEnd('p1', 'old');
    while (spm.polls.length === 0) await sleep(2);
    // The first poll is in flight and its answer predates the next task.
    spm.set('new', 'running');
    const fresh = hub.waitForEnd('p1', 'new');
    await sleep(150); // that answer (without 'new') has been handled
    spm.set('new', 'finished', 'success');
    spm.set('old', 'finished', 'success');
    const [, ended] = await Promise.all([old, fresh]);
    expect(ended.taskState).toBe('finished');
    hub.close();
  });

  test('a malformed entry fails only the task it belongs to', async () => {
    const spm = new FakeSpm();
    spm.set('good', 'finished', 'success');
    spm.set('bad', 'running');
    spm.malformedTask = 'bad';
    const hub = hubFor(spm);
    const [good, bad] = await Promise.allSettled([hub.waitForEnd('p1', 'good'), hub.waitForEnd('p1', 'bad')]);
    expect(good.status).toBe('fulfilled');
    expect(bad.status).toBe('rejected');
    expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(VdsmMalformedResponseError);
    hub.close();
  });

  test('an aborted wait stops waiting and polling stops when nobody waits', async () => {
    const spm = new FakeSpm();
    spm.set('x', 'running');
    const hub = hubFor(spm);
    const abort = new AbortController();
    const waiting = hub.waitForEnd('p1', 'x', { signal: abort.signal });
    await sleep(120);
    abort.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    await sleep(100);
    const after = spm.polls.length;
    await sleep(200);
    expect(spm.polls.length).toBe(after);
    hub.close();
  });
});
