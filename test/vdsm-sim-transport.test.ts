/**
 * The simulator's transport, driven by raw frames: protocol sniffing, STOMP 1.2 as VDSM's
 * stompserver speaks it, and the JSON-RPC envelope rules of yajsonrpc.
 */
import { connect } from 'node:net';
import { generateDataCenter } from '../src/fixture';
import { startSimulator, type Simulator } from '../src/vdsm-sim';
import { EVENTS, frame, RawStomp, REQUESTS, RpcPeer, sleep, tempDir } from './vdsm-sim-helpers';

const fixture = generateDataCenter({ vmCount: 4 });
const poolId = fixture.pool.id;
const disks = fixture.disks;

let sim: Simulator;
let fast: Simulator;
const dirs: Array<{ remove(): void }> = [];
const peers: Array<{ close(): void }> = [];

beforeAll(async () => {
  const a = tempDir('sim-transport');
  const b = tempDir('sim-transport-fast');
  dirs.push(a, b);
  sim = await startSimulator({ fixture, dataDir: a.dir, basePort: 0 });
  // A low heart-beat floor and sniff timeout keep the timing tests short.
  fast = await startSimulator({
    fixture,
    dataDir: b.dir,
    basePort: 0,
    heartbeatMs: 100,
    sniffTimeoutMs: 200,
  });
});

afterEach(() => {
  for (const peer of peers.splice(0)) peer.close();
});

afterAll(async () => {
  await sim.stop();
  await fast.stop();
  for (const dir of dirs) dir.remove();
});

const spmPort = (s: Simulator = sim): number => s.hosts[0]!.port;

async function raw(port = spmPort()): Promise<RawStomp> {
  const peer = await RawStomp.open(port);
  peers.push(peer);
  return peer;
}

async function rpc(port = spmPort()): Promise<RpcPeer> {
  const peer = await RpcPeer.open(port);
  peers.push(peer);
  return peer;
}

function deleteParams(disk = disks[0]!): Record<string, unknown> {
  return {
    imageID: disk.id,
    storagepoolID: poolId,
    storagedomainID: disk.domainId,
    postZero: false,
    force: false,
  };
}

describe('protocol detection', () => {
  test('an HTTP request gets 501 and the connection is closed', async () => {
    const socket = connect({ host: '127.0.0.1', port: spmPort() });
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write('GET / HTTP/1.1\r\nHost: vdsm\r\n\r\n');
    await closed;
    expect(received).toMatch(/^HTTP\/1\.1 501 Not Implemented\r\n/);
  });

  test('bytes that are neither STOMP nor HTTP close the connection', async () => {
    const peer = await raw();
    peer.writeRaw('hello there, this is not stomp\n');
    expect(await peer.closesWithin(1000)).toBe(true);
  });

  test('a connection that never sends enough bytes to tell its protocol is closed', async () => {
    const peer = await raw(spmPort(fast));
    peer.writeRaw('SEN');
    expect(await peer.closesWithin(1500)).toBe(true);
  });

  test('garbage after a valid start closes the connection and the server keeps serving', async () => {
    const peer = await raw();
    peer.writeRaw('CONNECT\naccept-version:1.2\n\n\0\x01\x02garbage without a command\n\n\0');
    expect(await peer.closesWithin(1000)).toBe(true);
    const healthy = await rpc();
    expect(await healthy.call('Host.ping2')).toBe(true);
  });
});

describe('CONNECT and heart-beats', () => {
  test.each(['1.1,1.2', '1.0', ''])(
    'accept-version %j gets an ERROR "Version unsupported"',
    async (version) => {
      const peer = await raw();
      peer.send(frame('CONNECT', version === '' ? { host: 'vdsm' } : { 'accept-version': version }));
      const error = await peer.next();
      expect(error.command).toBe('ERROR');
      expect(error.body.toString()).toBe('Version unsupported');
    },
  );

  test.each([
    ['0,0', '0,0'],
    ['500,0', '0,1000'],
    ['0,200', '1000,0'],
    ['2000,3000', '3000,2000'],
    ['nonsense', '0,0'],
  ])(
    'client heart-beat %s → CONNECTED heart-beat %s (swapped, non-zero raised to 1000)',
    async (offered, expected) => {
      const peer = await raw();
      peer.send(frame('CONNECT', { 'accept-version': '1.2', 'heart-beat': offered }));
      const connected = await peer.next();
      expect(connected.command).toBe('CONNECTED');
      expect(connected.headers.version).toBe('1.2');
      expect(connected.headers['heart-beat']).toBe(expected);
    },
  );

  test('the server sends heart-beats when idle', async () => {
    const peer = await RawStomp.connected(spmPort(fast), { 'heart-beat': '0,100' });
    peers.push(peer);
    await sleep(450);
    expect(peer.heartbeats).toBeGreaterThanOrEqual(2);
  });

  test('a client silent for longer than it promised is dropped', async () => {
    const peer = await RawStomp.connected(spmPort(fast), { 'heart-beat': '100,0' });
    peers.push(peer);
    expect(await peer.closesWithin(1500)).toBe(true);
  });
});

describe('STOMP commands', () => {
  test('an unknown command closes the connection', async () => {
    const peer = await RawStomp.connected(spmPort());
    peers.push(peer);
    peer.send(frame('BEGIN', { transaction: 'tx1' }));
    expect(await peer.closesWithin(1000)).toBe(true);
  });

  test('SUBSCRIBE needs destination and id, and ids are unique per connection', async () => {
    const peer = await RawStomp.connected(spmPort());
    peers.push(peer);
    peer.send(frame('SUBSCRIBE', { destination: 'q1' }));
    expect((await peer.next()).body.toString()).toBe('Missing destination or subscription id header');
    peer.send(frame('SUBSCRIBE', { destination: 'q1', id: 's1' }));
    peer.send(frame('SUBSCRIBE', { destination: 'q2', id: 's1' }));
    const error = await peer.next();
    expect(error.command).toBe('ERROR');
    expect(error.body.toString()).toBe('Subscription id already exists');
    peer.send(frame('UNSUBSCRIBE', {}));
    expect((await peer.next()).body.toString()).toBe('Missing id header');
  });

  test('DISCONNECT with a receipt gets RECEIPT; without one the connection closes', async () => {
    const polite = await RawStomp.connected(spmPort());
    peers.push(polite);
    polite.send(frame('DISCONNECT', { receipt: 'bye-1' }));
    const receipt = await polite.next();
    expect(receipt.command).toBe('RECEIPT');
    expect(receipt.headers['receipt-id']).toBe('bye-1');

    const abrupt = await RawStomp.connected(spmPort());
    peers.push(abrupt);
    abrupt.send(frame('DISCONNECT'));
    expect(await abrupt.closesWithin(1000)).toBe(true);
  });

  test('answers go to every subscription of the reply-to destination, with VDSM headers', async () => {
    const a = await rpc();
    const b = await RawStomp.connected(spmPort());
    peers.push(b);
    b.send(frame('SUBSCRIBE', { destination: a.replyQueue, id: 'watcher' }));
    await sleep(50);
    const answer = await a.request('Host.ping2');
    expect(answer).toEqual({ jsonrpc: '2.0', id: answer.id, result: true });
    const copy = await b.next((f) => f.command === 'MESSAGE');
    expect(copy.headers).toMatchObject({
      destination: a.replyQueue,
      subscription: 'watcher',
      'content-type': 'application/json',
      'content-length': String(copy.body.length),
    });
    expect(JSON.parse(copy.body.toString())).toEqual(answer);
  });

  test('header escapes: a reply-to with a colon and a newline round-trips', async () => {
    const peer = await RawStomp.connected(spmPort());
    peers.push(peer);
    const queue = 'reply:odd\nqueue\\x';
    peer.send(frame('SUBSCRIBE', { destination: queue, id: 'odd' }));
    peer.send(
      frame(
        'SEND',
        { destination: REQUESTS, 'reply-to': queue },
        JSON.stringify({ jsonrpc: '2.0', method: 'Host.ping2', id: 7 }),
      ),
    );
    const reply = await peer.next((f) => f.command === 'MESSAGE');
    expect(reply.headers.destination).toBe(queue);
    expect(JSON.parse(reply.body.toString())).toEqual({ jsonrpc: '2.0', id: 7, result: true });
  });

  test('without reply-to the verb runs and the answer is dropped', async () => {
    const peer = await RawStomp.connected(spmPort());
    peers.push(peer);
    peer.send(frame('SUBSCRIBE', { destination: EVENTS, id: 'events' }));
    const disk = disks[1]!;
    expect(sim.imageExists(disk.domainId, disk.id)).toBe(true);
    peer.send(
      frame(
        'SEND',
        { destination: REQUESTS },
        JSON.stringify({ jsonrpc: '2.0', method: 'Image.delete', params: deleteParams(disk), id: 1 }),
      ),
    );
    await sleep(200);
    expect(sim.imageExists(disk.domainId, disk.id)).toBe(false);
    expect(peer.frames.filter((f) => f.command === 'MESSAGE')).toEqual([]);
  });

  test('the irs request queue is served too; other destinations without subscribers are an ERROR', async () => {
    const peer = await rpc();
    peer.stomp.send(
      frame(
        'SEND',
        { destination: 'jms.topic.vdsm_irs_requests', 'reply-to': peer.replyQueue },
        JSON.stringify({ jsonrpc: '2.0', method: 'Host.ping2', id: 'irs' }),
      ),
    );
    const reply = await peer.stomp.next((f) => f.command === 'MESSAGE');
    expect(JSON.parse(reply.body.toString())).toMatchObject({ id: 'irs', result: true });
    peer.stomp.send(frame('SEND', { destination: 'jms.topic.nobody' }, 'x'));
    const error = await peer.stomp.next((f) => f.command === 'ERROR');
    expect(error.body.toString()).toBe('Subscription not available');
  });
});

describe('JSON-RPC envelope', () => {
  test('invalid JSON is -32700', async () => {
    const peer = await rpc();
    peer.sendBody('{"jsonrpc": "2.0", "method": ');
    const reply = await peer.stomp.next((f) => f.command === 'MESSAGE');
    expect(JSON.parse(reply.body.toString())).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: {
        code: -32700,
        message:
          'Invalid JSON was received by the server. An error occurred on the server while parsing the JSON text.',
      },
    });
  });

  test('a wrong protocol version or a missing method is -32600 with id null', async () => {
    const peer = await rpc();
    peer.sendBody(JSON.stringify({ jsonrpc: '1.0', method: 'Host.ping2', id: 3 }));
    const reply = JSON.parse((await peer.stomp.next((f) => f.command === 'MESSAGE')).body.toString()) as {
      id: unknown;
      error: { code: number; message: string };
    };
    expect(reply.id).toBeNull();
    expect(reply.error).toEqual({
      code: -32600,
      message:
        "Invalid request: {'request': {'jsonrpc': '1.0', 'method': 'Host.ping2', 'id': 3}, 'reason': 'Wrong protocol version'}",
    });
    peer.sendBody(JSON.stringify({ jsonrpc: '2.0', id: 4 }));
    const second = JSON.parse((await peer.stomp.next((f) => f.command === 'MESSAGE')).body.toString()) as {
      error: { code: number; message: string };
    };
    expect(second.error.code).toBe(-32600);
    expect(second.error.message).toContain("'reason': 'missing method header in method'");
  });

  test('an unknown method is -32601 and a missing parameter -32602', async () => {
    const peer = await rpc();
    expect(await peer.error('Image.explode', {})).toEqual({
      code: -32601,
      message: "The method does not exist or is not available: {'method': 'Image.explode'}",
    });
    const missing = await peer.error('Task.getStatus', {});
    expect(missing.code).toBe(-32602);
    expect(missing.message).toContain('taskID');
  });

  test('positional params map by VDSM parameter order', async () => {
    const peer = await rpc();
    expect(await peer.call('StoragePool.getSpmStatus', [poolId])).toEqual({
      spmStatus: 'SPM',
      spmLver: 0,
      spmId: 1,
    });
  });

  test('a batch is answered with an array; an empty batch is -32600', async () => {
    const peer = await rpc();
    peer.sendBody(
      JSON.stringify([
        { jsonrpc: '2.0', method: 'Host.ping2', id: 'b1' },
        { jsonrpc: '2.0', method: 'Host.getConnectedStoragePools', id: 'b2' },
      ]),
    );
    const batch = JSON.parse(
      (await peer.stomp.next((f) => f.command === 'MESSAGE')).body.toString(),
    ) as unknown[];
    expect(batch).toEqual([
      { jsonrpc: '2.0', id: 'b1', result: true },
      { jsonrpc: '2.0', id: 'b2', result: [poolId] },
    ]);
    peer.sendBody('[]');
    const empty = JSON.parse((await peer.stomp.next((f) => f.command === 'MESSAGE')).body.toString()) as {
      error: { code: number; message: string };
    };
    expect(empty.error).toEqual({
      code: -32600,
      message: "Invalid request: {'request': [], 'reason': 'request batch is empty'}",
    });
  });

  test('a notification of a known method is answered with id null; of an unknown one, not at all', async () => {
    const peer = await rpc();
    peer.sendBody(JSON.stringify({ jsonrpc: '2.0', method: 'Nope.nothing' }));
    peer.sendBody(JSON.stringify({ jsonrpc: '2.0', method: 'Host.ping2' }));
    const reply = await peer.stomp.next((f) => f.command === 'MESSAGE');
    expect(JSON.parse(reply.body.toString())).toEqual({ jsonrpc: '2.0', id: null, result: true });
    await sleep(100);
    expect(peer.stomp.frames.filter((f) => f.command === 'MESSAGE')).toEqual([]);
  });
});
