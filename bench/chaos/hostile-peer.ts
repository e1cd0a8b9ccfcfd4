/**
 * The "hostile peer" of issue 14: while the commands run, raw sockets to the SPM host's simulated
 * VDSM send what used to stall or bloat it (a large SEND to a deeply dotted destination, tens of
 * thousands of SUBSCRIBEs, SEND before CONNECT, a JSON-RPC id nested 100k deep, an oversized
 * frame) and hold idle connections open. The listener refuses over-limit frames and drops the
 * connection (src/vdsm-sim/stomp-limits.ts), so the peer reconnects for each attack, round after
 * round, until stopped. It counts what the listener answered: the scenario's figures are the
 * commands' slowdown against the same commands without it (runner.ts), not these counts.
 */
import { connect, type Socket } from 'node:net';
import { encodeFrame } from '../../src/stomp';
import { sleep } from '../support/stats';

const REQUESTS = 'jms.topic.vdsm_requests';
/** 4,000 `.`-separated segments in one 8 KiB header line (the listener's line limit is 8 KiB). */
const DEEP_DESTINATION = `${'a.'.repeat(3_999)}a`;
/** Nesting of the JSON-RPC id: the 100k of the issue. */
const ID_DEPTH = 100_000;

interface AttackResult {
  /** The listener answered with an ERROR frame. */
  error: boolean;
  /** The listener closed the connection before we did. */
  closedByPeer: boolean;
  /** A MESSAGE came back (the JSON-RPC answer to a request). */
  answered: boolean;
}

/** One socket: connects, lets `act` write, then waits up to `holdMs` for the listener to close it. */
async function attack(port: number, act: (socket: Socket) => void, holdMs: number): Promise<AttackResult> {
  const socket = connect({ host: '127.0.0.1', port });
  const result: AttackResult = { error: false, closedByPeer: false, answered: false };
  let closedByUs = false;
  const closed = new Promise<void>((resolve) => {
    socket.on('close', () => {
      if (!closedByUs) result.closedByPeer = true;
      resolve();
    });
  });
  socket.on('error', () => undefined);
  // Only what kind of frame came back matters; the bytes are searched, not parsed.
  socket.on('data', (chunk: Buffer) => {
    if (chunk.includes('ERROR\n')) result.error = true;
    if (chunk.includes('MESSAGE\n')) result.answered = true;
  });
  await new Promise<void>((resolve) => {
    socket.once('connect', resolve);
    socket.once('close', resolve);
  });
  if (!socket.destroyed) act(socket);
  await Promise.race([closed, sleep(holdMs)]);
  closedByUs = !result.closedByPeer;
  socket.destroy();
  return result;
}

const frame = (command: string, headers: Record<string, string>, body: string | Buffer = ''): Buffer =>
  encodeFrame({ command, headers, body: Buffer.isBuffer(body) ? body : Buffer.from(body) });

const CONNECT = frame('CONNECT', { 'accept-version': '1.2', host: 'localhost', 'heart-beat': '0,0' });

/** The attacks of one round, by name. Each writes everything at once, as a flood would. */
const ATTACKS: Record<string, (socket: Socket) => void> = {
  'SEND before CONNECT': (s) => {
    s.write(frame('SEND', { destination: REQUESTS }, '{"jsonrpc":"2.0","method":"Host.ping","id":"x"}'));
  },
  // 20 of these once made a 3-disk RemoveVm take 165 s instead of ~10 s.
  '20 SENDs to a deep destination (4,000 segments, 900 KiB body)': (s) => {
    s.write(CONNECT);
    const body = Buffer.alloc(900 * 1024, 'a');
    for (let i = 0; i < 20; i += 1) s.write(frame('SEND', { destination: DEEP_DESTINATION }, body));
  },
  '20,000 SUBSCRIBEs': (s) => {
    const subs = Array.from({ length: 20_000 }, (_, i) =>
      frame('SUBSCRIBE', { destination: `jms.topic.hostile.${i}`, id: `s${i}`, ack: 'auto' }),
    );
    s.write(Buffer.concat([CONNECT, ...subs]));
  },
  'id nested 100k deep': (s) => {
    // Subscribed to its reply queue, so an answer shows as a MESSAGE.
    s.write(CONNECT);
    s.write(frame('SUBSCRIBE', { destination: 'jms.topic.hostile-replies', id: 'r', ack: 'auto' }));
    const id = `${'['.repeat(ID_DEPTH)}${']'.repeat(ID_DEPTH)}`;
    s.write(
      frame(
        'SEND',
        { destination: REQUESTS, 'reply-to': 'jms.topic.hostile-replies' },
        `{"jsonrpc":"2.0","method":"Host.ping","params":{},"id":${id}}`,
      ),
    );
  },
  'oversized frame (2 MiB)': (s) => {
    s.write(CONNECT);
    s.write(frame('SEND', { destination: REQUESTS }, Buffer.alloc(2 * 1024 * 1024, 'a')));
  },
};

export interface HostilePeer {
  /** Stops attacking, closes the idle sockets, and says what the listener did. */
  stop(): Promise<string>;
}

/**
 * Starts the hostile peer against `port`: two idle sockets (one silent from the start, one silent
 * after CONNECT) held for the whole run, and the attacks one after the other, `pauseMs` apart.
 */
export function startHostilePeer(port: number, pauseMs = 200): HostilePeer {
  let stopped = false;
  const tally = new Map<string, { sent: number; errors: number; dropped: number; answered: number }>();
  const idle = [
    { name: 'silent socket', write: undefined as Buffer | undefined },
    { name: 'silent after CONNECT', write: CONNECT },
  ].map(({ name, write }) => {
    const socket = connect({ host: '127.0.0.1', port });
    const state = { name, closedAfterMs: undefined as number | undefined };
    const opened = Date.now();
    socket.on('error', () => undefined);
    socket.on('connect', () => write && socket.write(write));
    socket.on('close', () => {
      if (!stopped) state.closedAfterMs = Date.now() - opened;
    });
    return { socket, state };
  });
  const loop = (async () => {
    while (!stopped) {
      for (const [name, act] of Object.entries(ATTACKS)) {
        if (stopped) break;
        const r = await attack(port, act, 3_000);
        const t = tally.get(name) ?? { sent: 0, errors: 0, dropped: 0, answered: 0 };
        if (r.answered) t.answered += 1;
        t.sent += 1;
        if (r.error) t.errors += 1;
        if (r.closedByPeer) t.dropped += 1;
        tally.set(name, t);
        await sleep(pauseMs);
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      for (const { socket } of idle) socket.destroy();
      const attacks = [...tally].map(
        ([name, t]) =>
          `${name} ×${t.sent} (${t.errors} ERROR, ${t.answered} answered, ${t.dropped} dropped by the listener)`,
      );
      const idles = idle.map(({ state }) =>
        state.closedAfterMs === undefined
          ? `${state.name} still open at the end`
          : `${state.name} closed by the listener after ${Math.round(state.closedAfterMs / 1000)} s`,
      );
      return [...attacks, ...idles].join('; ');
    },
  };
}
