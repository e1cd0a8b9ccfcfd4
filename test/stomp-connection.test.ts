import net from 'node:net';
import {
  encodeFrame,
  parseHeartBeat,
  StompConnection,
  StompProtocolError,
  type StompFrame,
} from '../src/stomp';

/** A connected socket pair over 127.0.0.1: `ours` wrapped in a StompConnection, `peer` raw. */
async function socketPair(): Promise<{
  connection: StompConnection;
  peer: net.Socket;
  cleanup: () => Promise<void>;
}> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const ours = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => ours.once('connect', resolve));
  const peer = await accepted;
  peer.on('error', () => undefined);
  const connection = new StompConnection(ours);
  const cleanup = async () => {
    connection.destroy();
    peer.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { connection, peer, cleanup };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function pair() {
  const created = await socketPair();
  cleanups.push(created.cleanup);
  return created;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('StompConnection', () => {
  test('delivers frames split across writes, and writes frames the peer can parse', async () => {
    const { connection, peer } = await pair();
    const frames: StompFrame[] = [];
    connection.on('frame', (frame) => frames.push(frame));
    const bytes = encodeFrame({
      command: 'MESSAGE',
      headers: { destination: 'q' },
      body: Buffer.from('a\0b'),
    });
    peer.write(bytes.subarray(0, 7));
    await sleep(20);
    peer.write(Buffer.concat([bytes.subarray(7), Buffer.from('\n'), bytes]));
    await sleep(50);
    expect(frames.map((frame) => [frame.command, frame.body.toString()])).toEqual([
      ['MESSAGE', 'a\0b'],
      ['MESSAGE', 'a\0b'],
    ]);

    const received: Buffer[] = [];
    peer.on('data', (chunk: Buffer) => received.push(chunk));
    expect(connection.send({ command: 'SEND', headers: { destination: 'x' }, body: Buffer.from('hi') })).toBe(
      true,
    );
    await sleep(50);
    expect(Buffer.concat(received).toString()).toBe('SEND\ndestination:x\ncontent-length:2\n\nhi\0');
  });

  test('garbage from the peer → StompProtocolError, then close; nothing is sent afterwards', async () => {
    const { connection, peer } = await pair();
    const events: string[] = [];
    const errors: Error[] = [];
    connection.on('error', (err) => {
      events.push('error');
      errors.push(err);
    });
    connection.on('close', () => events.push('close'));
    peer.write('GET / HTTP/1.1\r\n\r\n');
    await sleep(50);
    expect(events).toEqual(['error', 'close']);
    expect(errors[0]).toBeInstanceOf(StompProtocolError);
    expect(connection.closed).toBe(true);
    expect(connection.send({ command: 'SEND', headers: {}, body: Buffer.alloc(0) })).toBe(false);
  });

  test('sends EOL heart-beats while idle', async () => {
    const { connection, peer } = await pair();
    let heartbeats = 0;
    peer.on('data', (chunk: Buffer) => {
      heartbeats += chunk.toString().split('\n').length - 1;
    });
    connection.startHeartbeats(40, 0);
    await sleep(250);
    expect(heartbeats).toBeGreaterThanOrEqual(3);
  });

  test('a peer that keeps beating stays connected; a silent one is dropped after expectEveryMs × 1.5', async () => {
    const { connection, peer } = await pair();
    const errors: Error[] = [];
    connection.on('error', (err) => errors.push(err));
    connection.startHeartbeats(0, 60);
    const beating = setInterval(() => peer.write('\n'), 20);
    await sleep(250);
    clearInterval(beating);
    expect(errors).toEqual([]);
    expect(connection.closed).toBe(false);

    const silentSince = Date.now();
    await new Promise<void>((resolve) => connection.once('close', () => resolve()));
    const silentMs = Date.now() - silentSince;
    expect(errors[0]?.name).toBe('StompHeartbeatTimeoutError');
    expect(silentMs).toBeGreaterThanOrEqual(80);
    expect(silentMs).toBeLessThan(500);
  });
});

describe('parseHeartBeat', () => {
  test('parses "cx,cy"; absent means no heart-beats; garbage is a protocol error', () => {
    expect(parseHeartBeat(undefined)).toEqual([0, 0]);
    expect(parseHeartBeat('10000,5000')).toEqual([10000, 5000]);
    expect(parseHeartBeat('0,0')).toEqual([0, 0]);
    expect(() => parseHeartBeat('10000')).toThrow(StompProtocolError);
    expect(() => parseHeartBeat('-1,5')).toThrow(StompProtocolError);
  });
});
