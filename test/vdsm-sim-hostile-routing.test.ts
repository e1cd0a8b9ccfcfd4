/**
 * Destination routing and subscriptions cost work linear in what a peer sends (issue 14): a SEND to
 * `a.a.a…` and tens of thousands of SUBSCRIBE/UNSUBSCRIBE frames were quadratic. Routing keeps
 * VDSM's rule (a destination's subscribers and those of each `.`-parent), checked against the
 * obvious implementation on random operations.
 */
import { DestinationIndex } from '../src/vdsm-sim/destinations';
import { StompEndpoint } from '../src/vdsm-sim/stomp-server';
import type { StompServerLimits } from '../src/vdsm-sim/stomp-limits';
import { eventually, frame, RawStomp } from './vdsm-sim-helpers';

/** stompserver.find_subscribers, literally. */
function naiveMatching(subs: Map<number, string>, destination: string): number[] {
  const segments = destination.split('.');
  const prefixes = new Set(segments.map((_, i) => segments.slice(0, i + 1).join('.')));
  return [...subs].filter(([, d]) => prefixes.has(d)).map(([id]) => id);
}

describe('DestinationIndex', () => {
  test('routes like VDSM (a destination and its .-parents) through random adds and removes', () => {
    // A small alphabet with empty segments makes shared prefixes, splits and merges frequent.
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const destination = (): string =>
      Array.from({ length: 1 + random(4) }, () => ['a', 'b', '', 'ab'][random(4)]).join('.');
    const index = new DestinationIndex<number>();
    const subs = new Map<number, string>();
    for (let op = 0; op < 1500; op += 1) {
      if (subs.size > 0 && random(3) === 0) {
        const ids = [...subs.keys()];
        const id = ids[random(ids.length)]!;
        index.remove(id);
        subs.delete(id);
      } else {
        const d = destination();
        if (d === '') continue;
        index.add(d, op);
        subs.set(op, d);
      }
      const probe = destination();
      expect(index.matching(probe).sort()).toEqual(naiveMatching(subs, probe).sort());
      expect(index.exact(probe).sort()).toEqual(
        [...subs]
          .filter(([, d]) => d === probe)
          .map(([id]) => id)
          .sort(),
      );
      expect(index.size).toBe(subs.size);
    }
    for (const id of [...subs.keys()]) index.remove(id);
    expect(index.matching('a.b.a')).toEqual([]);
  });

  test('keeps the parents first, as VDSM delivers them', () => {
    const index = new DestinationIndex<string>();
    index.add('jms.topic.vdsm_requests', 'exact');
    index.add('jms', 'root');
    index.add('jms.topic', 'topic');
    index.add('jms.topicx', 'not a parent');
    expect(index.matching('jms.topic.vdsm_requests')).toEqual(['root', 'topic', 'exact']);
  });
});

async function startEndpoint(
  limits: Partial<StompServerLimits>,
): Promise<{ ep: StompEndpoint; port: number }> {
  const ep = new StompEndpoint({
    bindAddress: '127.0.0.1',
    port: 0,
    heartbeatFloorMs: 1000,
    sniffTimeoutMs: 5000,
    limits,
    onRequest: () => undefined,
    onConnection: () => undefined,
    log: () => undefined,
  });
  return { ep, port: await ep.listen() };
}

/** CPU time (user + system, ms) of `work`; the least of `trials` runs, to shed GC and JIT noise. */
async function cpuMs(work: () => Promise<void>, trials = 3): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < trials; i += 1) {
    const before = process.cpuUsage();
    await work();
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best;
}

// Linear work grows ~10x from 1x to 10x input, quadratic ~100x. The bound sits between, far
// from both: it only has to tell the shapes apart, never to time anything.
const MAX_RATIO = 35;

describe('the simulator listener under hostile input', () => {
  let endpoint: { ep: StompEndpoint; port: number };
  const peers: RawStomp[] = [];

  beforeAll(async () => {
    // Room for the large inputs the test needs (the defaults would refuse them).
    endpoint = await startEndpoint({
      maxHeaderLineBytes: 256 * 1024,
      maxSubscriptionsPerConnection: 1_000_000,
    });
  });

  afterEach(() => {
    for (const peer of peers.splice(0)) peer.close();
  });

  afterAll(async () => {
    await endpoint.ep.close();
  });

  /** Frames are handled in order: VDSM's receipt for a DISCONNECT comes once all before it were. */
  async function processed(peer: RawStomp): Promise<void> {
    peer.send(frame('DISCONNECT', { receipt: 'sync' }));
    await peer.next((f) => f.command === 'RECEIPT', 60_000);
  }

  async function connected(): Promise<RawStomp> {
    const peer = await RawStomp.connected(endpoint.port);
    peers.push(peer);
    return peer;
  }

  test('routing a SEND costs work linear in the segments of its destination', async () => {
    const subscriber = await connected();
    const sender = await connected();
    const sendsPerTrial = 60;
    const routeAll = async (segments: number): Promise<void> => {
      const destination = Array.from({ length: segments }, () => 'a').join('.');
      // Subscribed at the far end, so routing walks the whole destination.
      subscriber.send(frame('SUBSCRIBE', { destination, id: `s${segments}` }));
      await processed(subscriber); // before the other connection's SENDs
      for (let i = 0; i < sendsPerTrial; i += 1) sender.send(frame('SEND', { destination }, 'x'));
      for (let i = 0; i < sendsPerTrial; i += 1)
        await subscriber.next(
          (f) => f.command === 'MESSAGE' && f.headers.subscription === `s${segments}`,
          60_000,
        );
      subscriber.send(frame('UNSUBSCRIBE', { id: `s${segments}` }));
    };
    await routeAll(100); // warm-up
    const small = await cpuMs(() => routeAll(2_000));
    const large = await cpuMs(() => routeAll(20_000));
    expect(large / small).toBeLessThan(MAX_RATIO);
  }, 120_000);

  test('SUBSCRIBE, UNSUBSCRIBE and closing cost work linear in the number of subscriptions', async () => {
    const churn = async (count: number): Promise<void> => {
      const peer = await connected();
      // Every subscription on one destination: the case that copied a growing list each time.
      for (let i = 0; i < count; i += 1)
        peer.send(frame('SUBSCRIBE', { destination: 'jms.queue.events', id: `a${i}` }));
      for (let i = 0; i < count; i += 1) peer.send(frame('UNSUBSCRIBE', { id: `a${i}` }));
      for (let i = 0; i < count; i += 1)
        peer.send(frame('SUBSCRIBE', { destination: 'jms.queue.events', id: `b${i}` }));
      await processed(peer);
      peer.close(); // and the server drops its subscriptions
      await eventually(() => endpoint.ep.connectionCount === 0, 60_000);
    };
    await churn(500); // warm-up
    const small = await cpuMs(() => churn(3_000), 2);
    const large = await cpuMs(() => churn(30_000), 2);
    expect(large / small).toBeLessThan(MAX_RATIO);
  }, 120_000);
});
