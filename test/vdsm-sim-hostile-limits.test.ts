/**
 * The simulator's listener held to its limits (issue 14): raw sockets that send too much, too
 * many, out of order or nothing at all get an ERROR frame naming the limit (when they can read
 * one) and lose their connection; well-behaved peers keep theirs.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { generateDataCenter } from '../src/fixture';
import { startSimulator, type Simulator } from '../src/vdsm-sim';
import { DEFAULT_STOMP_SERVER_LIMITS, type StompServerLimits } from '../src/vdsm-sim/stomp-limits';
import { type IncomingRequest, StompEndpoint } from '../src/vdsm-sim/stomp-server';
import { eventually, frame, RawStomp, REQUESTS, sleep, tempDir } from './vdsm-sim-helpers';

interface Listener {
  ep: StompEndpoint;
  port: number;
  requests: IncomingRequest[];
  logs: string[];
}

const listeners: StompEndpoint[] = [];
const sockets: Array<{ destroy(): void }> = [];
const dirs: Array<{ remove(): void }> = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(listeners.splice(0).map((ep) => ep.close()));
});

afterAll(() => {
  for (const dir of dirs) dir.remove();
});

async function listen(
  limits: Partial<StompServerLimits> = {},
  tls?: { cert: Buffer; key: Buffer; ca: Buffer },
): Promise<Listener> {
  const requests: IncomingRequest[] = [];
  const logs: string[] = [];
  const ep = new StompEndpoint({
    bindAddress: '127.0.0.1',
    port: 0,
    tls,
    heartbeatFloorMs: 1000,
    sniffTimeoutMs: 5000,
    limits,
    onRequest: (request) => requests.push(request),
    onConnection: () => undefined,
    log: (line) => logs.push(line),
  });
  listeners.push(ep);
  return { ep, port: await ep.listen(), requests, logs };
}

async function open(port: number): Promise<RawStomp> {
  const peer = await RawStomp.open(port);
  sockets.push({ destroy: () => peer.close() });
  return peer;
}

async function connected(port: number, headers: Record<string, string> = {}): Promise<RawStomp> {
  const peer = await RawStomp.connected(port, headers);
  sockets.push({ destroy: () => peer.close() });
  return peer;
}

async function errorThenClose(peer: RawStomp): Promise<string> {
  const error = await peer.next((f) => f.command === 'ERROR');
  expect(await peer.closesWithin(3000)).toBe(true);
  return error.headers.message ?? '';
}

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.on('error', reject);
    sockets.push(socket);
  });
}

describe('what a peer may send', () => {
  test('a SEND before CONNECT is refused and never reaches the request handler', async () => {
    const l = await listen();
    const peer = await open(l.port);
    peer.send(
      frame(
        'SEND',
        { destination: REQUESTS, 'reply-to': 'r' },
        '{"jsonrpc":"2.0","method":"Host.ping2","id":1}',
      ),
    );
    expect(await errorThenClose(peer)).toBe('SEND before CONNECT');
    expect(l.requests).toHaveLength(0);
  });

  test('SUBSCRIBE before CONNECT too; after CONNECT the same frames are served', async () => {
    const l = await listen();
    const early = await open(l.port);
    early.send(frame('SUBSCRIBE', { destination: 'jms', id: '1' }));
    expect(await errorThenClose(early)).toBe('SUBSCRIBE before CONNECT');
    const peer = await connected(l.port);
    peer.send(frame('SEND', { destination: REQUESTS }, '{}'));
    await eventually(() => l.requests.length === 1);
  });

  test('a frame over maxFrameBytes gets an ERROR naming the limit; the default is 1 MiB', async () => {
    expect(DEFAULT_STOMP_SERVER_LIMITS.maxFrameBytes).toBe(1024 * 1024);
    const l = await listen();
    const peer = await connected(l.port);
    // Declared up front: refused before the body arrives.
    peer.writeRaw(`SEND\ndestination:${REQUESTS}\ncontent-length:${2 * 1024 * 1024}\n\n`);
    expect(await errorThenClose(peer)).toBe(`frame larger than ${1024 * 1024} bytes`);
    // Undeclared: refused once over the limit, not buffered until a NUL that never comes.
    const endless = await connected(l.port);
    endless.writeRaw(`SEND\ndestination:${REQUESTS}\n\n`);
    endless.writeRaw(Buffer.alloc(1024 * 1024 + 1, 0x61));
    expect(await errorThenClose(endless)).toBe(`frame larger than ${1024 * 1024} bytes`);
    expect(l.requests).toHaveLength(0);
  });

  test('too many headers, and an over-long header line', async () => {
    const l = await listen({ maxHeaders: 8, maxHeaderLineBytes: 256 });
    const many = await connected(l.port);
    many.send(frame('SEND', Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`h${i}`, 'v']))));
    expect(await errorThenClose(many)).toBe('too many headers');
    const long = await connected(l.port);
    long.send(frame('SEND', { destination: `${REQUESTS}.${'a'.repeat(300)}` }));
    expect(await errorThenClose(long)).toBe('header line too long');
  });

  test('subscriptions past the per-connection limit close that connection only', async () => {
    const l = await listen({ maxSubscriptionsPerConnection: 3 });
    const bystander = await connected(l.port);
    bystander.send(frame('SUBSCRIBE', { destination: 'jms.queue.events', id: 'e' }));
    const greedy = await connected(l.port);
    for (let i = 0; i < 4; i += 1) greedy.send(frame('SUBSCRIBE', { destination: `d${i}`, id: `s${i}` }));
    expect(await errorThenClose(greedy)).toBe('too many subscriptions (limit 3 per connection)');
    l.ep.publish('jms.queue.events', '{"jsonrpc":"2.0","method":"e","params":{}}');
    await bystander.next((f) => f.command === 'MESSAGE' && f.headers.subscription === 'e');
  });
});

describe('connections', () => {
  test('past maxConnections a peer is told so and closed; a freed slot is taken again', async () => {
    const l = await listen({ maxConnections: 2 });
    const first = await connected(l.port);
    await connected(l.port);
    const third = await open(l.port);
    expect(await errorThenClose(third)).toBe('too many connections (limit 2)');
    first.close();
    await eventually(() => l.ep.connectionCount === 1);
    await connected(l.port);
  });

  test('a STOMP peer that does not CONNECT within connectTimeoutMs is closed', async () => {
    const l = await listen({ connectTimeoutMs: 200 });
    const peer = await open(l.port);
    peer.writeRaw('SUBSCRIBE\nid:1\n'); // enough to be taken for STOMP, never finished
    expect(await errorThenClose(peer)).toBe('no CONNECT within 200 ms');
  });

  test('a CONNECTed peer without heart-beats is closed after idleTimeoutMs of silence; a talking one is not', async () => {
    const l = await listen({ idleTimeoutMs: 250 });
    const idle = await connected(l.port);
    const talking = await connected(l.port);
    const beat = setInterval(() => talking.writeRaw('\n'), 50);
    try {
      expect(await idle.closesWithin(2000)).toBe(true);
      expect(talking.closed).toBe(false);
    } finally {
      clearInterval(beat);
    }
  });

  test('heart-beats are capped at idleTimeoutMs: an absurd one neither overflows timers nor keeps a silent peer', async () => {
    const l = await listen({ idleTimeoutMs: 1500 });
    const peer = await RawStomp.open(l.port);
    sockets.push({ destroy: () => peer.close() });
    peer.send(frame('CONNECT', { 'accept-version': '1.2', 'heart-beat': '99999999999,99999999999' }));
    const connected = await peer.next((f) => f.command === 'CONNECTED');
    expect(connected.headers['heart-beat']).toBe('1500,1500');
    // Silent: dropped after 1.5 × 1500 ms of the (capped) heart-beat, not in 10^12 ms.
    expect(await peer.closesWithin(5000)).toBe(true);
  });

  test('a peer that stops reading is dropped once maxOutboundBytes are queued for it', async () => {
    const l = await listen({ maxOutboundBytes: 256 * 1024 });
    const reader = await rawSocket(l.port);
    reader.write('CONNECT\naccept-version:1.2\n\n\0SUBSCRIBE\ndestination:jms.flood\nid:1\n\n\0');
    await sleep(100);
    reader.pause(); // reads nothing more: the kernel buffers fill, then the server's queue grows
    const sender = await connected(l.port);
    const body = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 200 && l.logs.length === 0; i += 1) {
      sender.send(frame('SEND', { destination: 'jms.flood' }, body));
      await sleep(2);
    }
    await eventually(() => l.logs.some((line) => line.includes('does not read')), 5000);
    await eventually(() => l.ep.connectionCount === 1, 5000); // the sender stays
  });
});

describe('TLS', () => {
  test('a socket that never completes the handshake is closed after connectTimeoutMs', async () => {
    const dir = tempDir('sim-hostile-tls');
    dirs.push(dir);
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat([
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
      ]),
      { cwd: dir.dir, stdio: 'pipe' },
    );
    const cert = readFileSync(join(dir.dir, 'cert.pem'));
    const l = await listen(
      { connectTimeoutMs: 300 },
      { cert, key: readFileSync(join(dir.dir, 'key.pem')), ca: cert },
    );
    const silent = await rawSocket(l.port);
    const closed = new Promise<void>((resolve) => silent.once('close', () => resolve()));
    silent.resume(); // to see the server's end
    await closed; // before the fix, never: Node leaves it open once tlsClientError has a listener
    await eventually(() => l.ep.connectionCount === 0);
  });
});

describe('the simulator', () => {
  let sim: Simulator;

  beforeAll(async () => {
    const dir = tempDir('sim-hostile-limits');
    dirs.push(dir);
    sim = await startSimulator({
      fixture: generateDataCenter({ vmCount: 1 }),
      dataDir: dir.dir,
      basePort: 0,
    });
  });

  afterAll(async () => {
    await sim.stop();
  });

  test('refuses a SEND before CONNECT: the verb is not run', async () => {
    const peer = await open(sim.hosts[0]!.port);
    peer.send(
      frame(
        'SEND',
        { destination: REQUESTS, 'reply-to': 'r' },
        '{"jsonrpc":"2.0","method":"Host.ping2","id":1}',
      ),
    );
    expect(await errorThenClose(peer)).toBe('SEND before CONNECT');
    await sleep(50);
    expect(sim.counters().hosts[sim.hosts[0]!.hostId]!.total).toBe(0);
  });
});
