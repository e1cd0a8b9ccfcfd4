/**
 * The worker's VDSM client against a hostile VDSM (issue 14): oversized frames, silence, malformed
 * answers, wrong ids, event floods, a peer that stops reading. Each costs one request (or one
 * connection) a typed error; the channel, and the connector's other hosts, keep serving.
 */
import net from 'node:net';
import { encodeFrame, StompParser, StompProtocolError, type StompFrame } from '../src/stomp';
import {
  createVdsmConnector,
  EVENTS_DESTINATION,
  type VdsmEvent,
  VdsmMalformedResponseError,
  VdsmRpcChannel,
  VdsmTransportError,
} from '../src/vdsm';
import { DEFAULT_CLIENT_PARSER_LIMITS, MAX_UNSENT_BYTES } from '../src/vdsm/channel';

interface Call {
  id: string;
  method: string;
  params: Record<string, unknown>;
}

/** One client connection as the fake VDSM sees it. */
class Peer {
  /** destination → subscription id */
  readonly subscriptions = new Map<string, string>();
  replyTo = '';

  constructor(readonly socket: net.Socket) {}

  frame(frame: StompFrame): void {
    if (!this.socket.destroyed) this.socket.write(encodeFrame(frame));
  }

  /** A MESSAGE on the reply queue with `body` as is. */
  answerRaw(body: string | Buffer): void {
    this.frame({
      command: 'MESSAGE',
      headers: { destination: this.replyTo, subscription: this.subscriptions.get(this.replyTo) ?? '' },
      body: Buffer.from(body),
    });
  }

  answer(call: Call, result: unknown = true): void {
    this.answerRaw(JSON.stringify({ jsonrpc: '2.0', id: call.id, result }));
  }

  event(method: string, params: unknown): void {
    this.frame({
      command: 'MESSAGE',
      headers: {
        destination: EVENTS_DESTINATION,
        subscription: this.subscriptions.get(EVENTS_DESTINATION) ?? '',
      },
      body: Buffer.from(JSON.stringify({ jsonrpc: '2.0', method, params })),
    });
  }
}

/** STOMP and JSON-RPC enough for the client; what it answers is up to each test. */
class FakeVdsm {
  readonly peers: Peer[] = [];
  onCall: (peer: Peer, call: Call) => void = (peer, call) => peer.answer(call);
  onSubscribed: (peer: Peer) => void = () => undefined;

  private constructor(private readonly server: net.Server) {}

  static async start(): Promise<FakeVdsm> {
    const server = net.createServer();
    const fake = new FakeVdsm(server);
    server.on('connection', (socket) => fake.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const peer of this.peers) peer.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    const peer = new Peer(socket);
    this.peers.push(peer);
    const parser = new StompParser({ maxFrameBytes: 64 * 1024 * 1024 });
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const item of parser.push(chunk)) if (item.kind === 'frame') this.onFrame(peer, item.frame);
    });
  }

  private onFrame(peer: Peer, frame: StompFrame): void {
    if (frame.command === 'CONNECT') {
      peer.frame({
        command: 'CONNECTED',
        headers: { version: '1.2', 'heart-beat': '0,0' },
        body: Buffer.alloc(0),
      });
    } else if (frame.command === 'SUBSCRIBE') {
      peer.subscriptions.set(frame.headers.destination!, frame.headers.id!);
      if (frame.headers.destination !== EVENTS_DESTINATION) peer.replyTo = frame.headers.destination!;
      if (peer.subscriptions.size === 2) this.onSubscribed(peer);
    } else if (frame.command === 'SEND') {
      this.onCall(peer, JSON.parse(frame.body.toString('utf8')) as Call);
    }
  }
}

const fakes: FakeVdsm[] = [];
const channels: VdsmRpcChannel[] = [];

afterEach(async () => {
  await Promise.all(channels.splice(0).map((c) => c.close()));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function fake(): Promise<FakeVdsm> {
  const f = await FakeVdsm.start();
  fakes.push(f);
  return f;
}

function channel(f: FakeVdsm, requestTimeoutMs = 20_000): VdsmRpcChannel {
  const c = new VdsmRpcChannel({ address: '127.0.0.1', port: f.port, heartbeatMs: 0, requestTimeoutMs });
  channels.push(c);
  return c;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('oversized frames', () => {
  test('a frame past the receive limit fails the waiting request, then the channel reconnects and serves', async () => {
    const vdsm = await fake();
    const c = channel(vdsm);
    const limit = DEFAULT_CLIENT_PARSER_LIMITS.maxFrameBytes;
    vdsm.onCall = (peer) => {
      // No content-length, no NUL: only the limit stops the client buffering it.
      peer.socket.write(`MESSAGE\ndestination:${peer.replyTo}\n\n`);
      peer.socket.write(Buffer.alloc(limit + 1024, 0x61));
    };
    const err = await rejection(c.request('host-1', 'Host.getAllTasksStatuses', {}));
    expect(err).toBeInstanceOf(VdsmTransportError);
    expect(err.message).toContain('connection to');
    expect(err.cause).toBeInstanceOf(StompProtocolError);
    expect((err.cause as Error).message).toBe(`frame larger than ${limit} bytes`);

    vdsm.onCall = (peer, call) => peer.answer(call, 'fine');
    expect(await c.request('host-1', 'Host.ping2', {})).toBe('fine');
    expect(vdsm.peers).toHaveLength(2);
  });

  test('a declared content-length past the limit is refused before the body arrives', async () => {
    const vdsm = await fake();
    const c = channel(vdsm);
    vdsm.onCall = (peer) =>
      peer.socket.write(`MESSAGE\ndestination:${peer.replyTo}\ncontent-length:1000000000\n\n`);
    const err = await rejection(c.request('host-1', 'Host.ping2', {}));
    expect(err).toBeInstanceOf(VdsmTransportError);
    expect((err.cause as Error).message).toContain('frame larger than');
  });
});

describe('answers', () => {
  test('malformed JSON naming a pending request fails that request only, with VdsmMalformedResponseError', async () => {
    const vdsm = await fake();
    const c = channel(vdsm);
    vdsm.onCall = (peer, call) => {
      if (call.method === 'Bad.answer')
        peer.answerRaw(`{"jsonrpc":"2.0","id":"${call.id}","result":{"truncated`);
      else peer.answer(call, call.method);
    };
    const [bad, good] = await Promise.allSettled([
      c.request('host-1', 'Bad.answer', {}),
      c.request('host-1', 'Good.answer', {}),
    ]);
    expect(bad.status).toBe('rejected');
    const err = (bad as PromiseRejectedResult).reason as VdsmMalformedResponseError;
    expect(err).toBeInstanceOf(VdsmMalformedResponseError);
    expect(err.issues).toMatch(/^unparsable JSON-RPC response/);
    expect(err.verb).toBe('Bad.answer');
    expect(good).toEqual({ status: 'fulfilled', value: 'Good.answer' });
  });

  test('valid JSON without a usable id, but naming the request, fails it the same way', async () => {
    const vdsm = await fake();
    const c = channel(vdsm);
    vdsm.onCall = (peer, call) =>
      peer.answerRaw(JSON.stringify({ jsonrpc: '2.0', ID: call.id, result: true }));
    const err = await rejection(c.request('host-1', 'Host.ping2', {}));
    expect(err).toBeInstanceOf(VdsmMalformedResponseError);
    expect((err as VdsmMalformedResponseError).issues).toBe('JSON-RPC response without a usable id');
  });

  test('an answer with a wrong id, or garbage naming no request, leaves the request to time out; others are answered', async () => {
    const vdsm = await fake();
    const c = channel(vdsm, 300);
    vdsm.onCall = (peer, call) => {
      if (call.method === 'Wrong.id') peer.answer({ ...call, id: 'not-ours' });
      else if (call.method === 'Garbage') peer.answerRaw('\u0000\u0001 not json');
      else peer.answer(call, 'ok');
    };
    const wrong = await rejection(c.request('host-1', 'Wrong.id', {}));
    expect(wrong).toBeInstanceOf(VdsmTransportError);
    expect(wrong.message).toContain('no answer from');
    const garbage = await rejection(c.request('host-1', 'Garbage', {}));
    expect(garbage).toBeInstanceOf(VdsmTransportError);
    expect(await c.request('host-1', 'Host.ping2', {})).toBe('ok');
  });

  test('a VDSM that never answers costs each request its timeout; another host on the same connector is served', async () => {
    const silent = await fake();
    const good = await fake();
    silent.onCall = () => undefined;
    const connector = createVdsmConnector({ heartbeatMs: 0, requestTimeoutMs: 300 });
    try {
      const mute = connector.host({ hostId: 'mute', address: '127.0.0.1', port: silent.port });
      const fine = connector.host({ hostId: 'fine', address: '127.0.0.1', port: good.port });
      const [lost, served] = await Promise.allSettled([mute.call('Host.ping2'), fine.call('Host.ping2')]);
      expect((lost as PromiseRejectedResult).reason).toBeInstanceOf(VdsmTransportError);
      expect(served).toEqual({ status: 'fulfilled', value: true });
    } finally {
      await connector.close();
    }
  });
});

describe('floods', () => {
  test('an event flood is handled as it arrives: requests are answered, listeners see every valid event, nothing waits in a queue', async () => {
    const vdsm = await fake();
    const c = channel(vdsm);
    const seen: VdsmEvent[] = [];
    c.onEvent((event) => seen.push(event));
    const FLOOD = 5000;
    vdsm.onCall = (peer, call) => {
      for (let i = 0; i < FLOOD; i += 1) {
        if (i % 10 === 0)
          peer.frame({
            command: 'MESSAGE',
            headers: { destination: EVENTS_DESTINATION },
            body: Buffer.from('{not json'),
          });
        else peer.event(`|flood|${i}`, { i, pad: 'x'.repeat(1000) });
      }
      peer.answer(call, 'after the flood');
    };
    expect(await c.request('host-1', 'Host.ping2', {})).toBe('after the flood');
    // The answer came after the flood on the wire: every valid event was already delivered.
    expect(seen).toHaveLength(FLOOD - FLOOD / 10);
    expect(seen.at(-1)?.method).toBe(`|flood|${FLOOD - 1}`);
  });

  test('a VDSM that stops reading is dropped once MAX_UNSENT_BYTES wait in the socket', async () => {
    const vdsm = await fake();
    const c = channel(vdsm, 100);
    vdsm.onCall = () => undefined;
    vdsm.onSubscribed = (peer) => peer.socket.pause();
    await c.connect('host-1');
    const big = { blob: 'x'.repeat(512 * 1024) };
    const errors: Error[] = [];
    // Each request waits in the socket buffers; past the limit the next one is refused at once.
    for (let i = 0; i < (4 * MAX_UNSENT_BYTES) / (512 * 1024); i += 1) {
      const err = await rejection(c.request('host-1', 'Big.request', big));
      errors.push(err);
      if (err.message.includes('does not read')) break;
    }
    expect(errors.every((e) => e instanceof VdsmTransportError)).toBe(true);
    expect(errors.at(-1)?.message).toContain('does not read');
    await new Promise((resolve) => setTimeout(resolve, 50)); // the socket's close event
    expect(c.connected).toBe(false);
  });
});
