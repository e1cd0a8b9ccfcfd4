import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { encodeFrame, StompParser, type StompFrame } from '../src/stomp';
import {
  createVdsmConnector,
  EVENTS_DESTINATION,
  REQUEST_DESTINATION,
  VdsmError,
  VdsmHostClient,
  type VdsmEvent,
  type VdsmEndpoint,
  VdsmMalformedResponseError,
  VdsmRpcChannel,
  type VdsmChannelOptions,
  VdsmTransportError,
  VdsmCode,
} from '../src/vdsm';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TASK_A = '11111111-1111-4111-8111-111111111111';
const TASK_B = '22222222-2222-4222-8222-222222222222';
const POOL = '33333333-3333-4333-8333-333333333333';

interface FakeRequest {
  method: string;
  params: Record<string, unknown>;
  id: unknown;
  frame: StompFrame;
  session: FakeSession;
  /** Sends a JSON-RPC envelope (or anything) to the request's reply-to destination. */
  reply(envelope: unknown): void;
  ok(result: unknown): void;
  fail(code: number, message: string): void;
}

/** Server side of one client connection, parsing with the shared codec. */
class FakeSession {
  connectFrame: StompFrame | undefined;
  readonly subscriptions = new Map<string, StompFrame>();
  heartbeatsReceived = 0;

  constructor(readonly socket: net.Socket) {}

  send(frame: StompFrame): void {
    if (!this.socket.destroyed) this.socket.write(encodeFrame(frame));
  }

  /** MESSAGE to every subscription on `destination`, as VDSM does. */
  deliver(destination: string, payload: unknown): void {
    for (const [id, subscribe] of this.subscriptions) {
      if (subscribe.headers.destination !== destination) continue;
      this.send({
        command: 'MESSAGE',
        headers: { destination, subscription: id, 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify(payload)),
      });
    }
  }
}

/** A minimal VDSM: STOMP 1.2 + JSON-RPC, answers decided per test by `handler`. */
class FakeVdsm {
  readonly sessions: FakeSession[] = [];
  readonly requests: FakeRequest[] = [];
  connectedHeaders: Record<string, string> = { version: '1.2', 'heart-beat': '0,0' };
  refuseConnect = false;
  handler: (request: FakeRequest) => void = (request) => request.ok(true);

  private constructor(private readonly server: net.Server) {}

  static async start(tlsOptions?: tls.TlsOptions): Promise<FakeVdsm> {
    const server = tlsOptions ? tls.createServer(tlsOptions) : net.createServer();
    const fake = new FakeVdsm(server);
    server.on(tlsOptions ? 'secureConnection' : 'connection', (socket: net.Socket) => fake.accept(socket));
    // A refused TLS handshake is the expected outcome of some tests, not a failure.
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  endpoint(hostId = 'host-1'): VdsmEndpoint {
    return { hostId, address: '127.0.0.1', port: this.port };
  }

  emitEvent(method: string, params: unknown): void {
    for (const session of this.sessions)
      session.deliver(EVENTS_DESTINATION, { jsonrpc: '2.0', method, params });
  }

  async close(): Promise<void> {
    for (const session of this.sessions) session.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    const session = new FakeSession(socket);
    this.sessions.push(session);
    const parser = new StompParser();
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      let items;
      try {
        items = parser.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const item of items) {
        if (item.kind === 'heartbeat') session.heartbeatsReceived += 1;
        else this.onFrame(session, item.frame);
      }
    });
  }

  private onFrame(session: FakeSession, frame: StompFrame): void {
    switch (frame.command) {
      case 'CONNECT':
        session.connectFrame = frame;
        if (this.refuseConnect || frame.headers['accept-version'] !== '1.2') {
          session.send({
            command: 'ERROR',
            headers: { message: 'Version unsupported' },
            body: Buffer.alloc(0),
          });
          session.socket.end();
          return;
        }
        session.send({ command: 'CONNECTED', headers: this.connectedHeaders, body: Buffer.alloc(0) });
        return;
      case 'SUBSCRIBE':
        session.subscriptions.set(frame.headers.id ?? '', frame);
        return;
      case 'SEND': {
        const message = JSON.parse(frame.body.toString('utf8')) as {
          method: string;
          params: Record<string, unknown>;
          id: unknown;
        };
        const replyTo = frame.headers['reply-to'] ?? '';
        const request: FakeRequest = {
          method: message.method,
          params: message.params,
          id: message.id,
          frame,
          session,
          reply: (envelope) => session.deliver(replyTo, envelope),
          ok: (result) => request.reply({ jsonrpc: '2.0', id: message.id, result }),
          fail: (code, text) =>
            request.reply({ jsonrpc: '2.0', id: message.id, error: { code, message: text } }),
        };
        this.requests.push(request);
        this.handler(request);
        return;
      }
      case 'DISCONNECT':
        session.socket.end();
        return;
      default:
        session.socket.destroy();
    }
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startVdsm(tlsOptions?: tls.TlsOptions): Promise<FakeVdsm> {
  const fake = await FakeVdsm.start(tlsOptions);
  cleanups.push(() => fake.close());
  return fake;
}

function clientFor(
  fake: FakeVdsm,
  options: Partial<VdsmChannelOptions> = {},
  hostId = 'host-1',
): VdsmHostClient {
  const channel = new VdsmRpcChannel({
    address: '127.0.0.1',
    port: fake.port,
    heartbeatMs: 0,
    requestTimeoutMs: 2000,
    ...options,
  });
  cleanups.push(() => channel.close());
  return new VdsmHostClient(fake.endpoint(hostId), channel);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

const status = (taskID: string, taskState = 'running', taskResult = '') => ({
  taskID,
  taskState,
  taskResult,
  code: 0,
  message: 'running job 1 of 1',
});

describe('VDSM client: protocol', () => {
  test('CONNECT offers exactly STOMP 1.2, host and heart-beat; subscribes to a uuid reply queue and to events', async () => {
    const fake = await startVdsm();
    const client = clientFor(fake, { heartbeatMs: 10_000 });
    await client.taskClear(TASK_A);

    expect(fake.sessions).toHaveLength(1);
    const session = fake.sessions[0]!;
    expect(session.connectFrame?.headers).toEqual({
      'accept-version': '1.2',
      host: '127.0.0.1',
      'heart-beat': '10000,10000',
    });

    const subscriptions = [...session.subscriptions.entries()].map(([id, frame]) => ({
      id,
      destination: frame.headers.destination,
      ack: frame.headers.ack,
    }));
    expect(subscriptions).toHaveLength(2);
    const replySubscription = subscriptions.find((sub) => sub.destination !== EVENTS_DESTINATION);
    expect(replySubscription?.destination).toMatch(UUID_PATTERN);
    expect(replySubscription?.ack).toBe('auto');
    expect(subscriptions.find((sub) => sub.destination === EVENTS_DESTINATION)?.ack).toBe('auto');
    expect(new Set(subscriptions.map((sub) => sub.id)).size).toBe(2);

    const request = fake.requests[0]!;
    expect(request.frame.headers).toMatchObject({
      destination: REQUEST_DESTINATION,
      'reply-to': replySubscription?.destination,
      'content-type': 'application/json',
      'content-length': String(request.frame.body.length),
    });
    expect(JSON.parse(request.frame.body.toString())).toEqual({
      jsonrpc: '2.0',
      method: 'Task.clear',
      params: { taskID: TASK_A },
      id: expect.stringMatching(UUID_PATTERN),
    });
  });

  test('routes each answer to its request, whatever the order', async () => {
    const fake = await startVdsm();
    const held: FakeRequest[] = [];
    fake.handler = (request) => {
      held.push(request);
      if (held.length === 2) {
        // Answer in reverse order.
        for (const pending of held.reverse()) pending.ok(status(pending.params.taskID as string));
      }
    };
    const client = clientFor(fake);
    const [a, b] = await Promise.all([client.taskGetStatus(TASK_A), client.taskGetStatus(TASK_B)]);
    expect(a.taskID).toBe(TASK_A);
    expect(b.taskID).toBe(TASK_B);
  });

  test('typed verbs send VDSM parameter names and return the unwrapped results', async () => {
    const fake = await startVdsm();
    const results: Record<string, unknown> = {
      'Host.getAllTasksStatuses': { [TASK_A]: status(TASK_A, 'finished', 'success') },
      'Host.getAllTasks': {
        [TASK_A]: {
          id: TASK_A,
          verb: 'deleteImage',
          state: 'recovered',
          code: 0,
          message: '',
          result: null,
          tag: 'spm',
        },
      },
      'Host.getJobs': {
        [TASK_B]: {
          id: TASK_B,
          status: 'failed',
          description: 'copy_data',
          job_type: 'storage',
          error: { code: 100, message: 'boom' },
        },
      },
      'StoragePool.getSpmStatus': { spmStatus: 'SPM', spmLver: 3, spmId: 1 },
      'Image.delete': TASK_B,
      'Task.stop': true,
    };
    fake.handler = (request) => request.ok(results[request.method]);
    const client = clientFor(fake);

    await expect(client.hostGetAllTasksStatuses()).resolves.toEqual({
      [TASK_A]: status(TASK_A, 'finished', 'success'),
    });
    await expect(client.hostGetAllTasks()).resolves.toEqual({
      [TASK_A]: {
        id: TASK_A,
        verb: 'deleteImage',
        state: 'recovered',
        code: 0,
        message: '',
        result: '',
        tag: 'spm',
      },
    });
    await expect(client.hostGetJobs({ jobIds: [TASK_B] })).resolves.toEqual(results['Host.getJobs']);
    await expect(client.storagePoolGetSpmStatus(POOL)).resolves.toEqual({
      spmStatus: 'SPM',
      spmLver: 3,
      spmId: 1,
    });
    const deleteParams = {
      imageID: TASK_A,
      storagepoolID: POOL,
      storagedomainID: TASK_B,
      postZero: false,
      force: false,
      discard: false,
    };
    await expect(client.imageDelete(deleteParams)).resolves.toBe(TASK_B);
    await expect(client.taskStop(TASK_A)).resolves.toBeUndefined();

    expect(fake.requests.map((request) => [request.method, request.params])).toEqual([
      ['Host.getAllTasksStatuses', {}],
      ['Host.getAllTasks', {}],
      ['Host.getJobs', { job_ids: [TASK_B] }],
      ['StoragePool.getSpmStatus', { storagepoolID: POOL }],
      ['Image.delete', deleteParams],
      ['Task.stop', { taskID: TASK_A }],
    ]);
  });

  test('Volume.create sends its optional params only when set; Image.deleteVolumes; Volume.getInfo is typed', async () => {
    const fake = await startVdsm();
    const info = {
      uuid: TASK_A,
      image: TASK_B,
      domain: POOL,
      parent: '00000000-0000-0000-0000-000000000000',
      voltype: 'LEAF',
      format: 'COW',
      type: 'SPARSE',
      legality: 'LEGAL',
      capacity: '1073741824',
      apparentsize: '196616',
      truesize: 200704,
      generation: 3,
      status: 'OK',
      lease: { path: '/x.lease', offset: 0, owners: [2], version: 5 },
      children: [],
      sequence: 4,
    };
    fake.handler = (request) => request.ok(request.method === 'Volume.getInfo' ? info : TASK_A);
    const client = clientFor(fake);
    const create = {
      volumeID: TASK_A,
      storagepoolID: POOL,
      storagedomainID: POOL,
      imageID: TASK_B,
      size: '1073741824',
      volFormat: 4 as const,
      preallocate: 2 as const,
      diskType: 'DATA',
      desc: '',
      srcImgUUID: TASK_B,
      srcVolUUID: TASK_B,
    };
    await expect(client.volumeCreate(create)).resolves.toBe(TASK_A);
    await expect(
      client.volumeCreate({ ...create, initialSize: '4096', legal: false, sequence: 2, addBitmaps: true }),
    ).resolves.toBe(TASK_A);
    await expect(
      client.imageDeleteVolumes({
        imageID: TASK_B,
        storagepoolID: POOL,
        storagedomainID: POOL,
        volumeList: [TASK_A],
      }),
    ).resolves.toBe(TASK_A);
    const ref = { volumeID: TASK_A, imageID: TASK_B, storagepoolID: POOL, storagedomainID: POOL };
    // Sizes come back as strings whatever VDSM sent; unknown keys are kept.
    await expect(client.volumeGetInfo(ref)).resolves.toEqual({ ...info, truesize: '200704' });

    expect(fake.requests.map((request) => [request.method, request.params])).toEqual([
      ['Volume.create', create],
      ['Volume.create', { ...create, initialSize: '4096', legal: false, sequence: 2, addBitmaps: true }],
      [
        'Image.deleteVolumes',
        { imageID: TASK_B, storagepoolID: POOL, storagedomainID: POOL, volumeList: [TASK_A] },
      ],
      ['Volume.getInfo', ref],
    ]);
  });

  test('call() is an escape hatch for untyped verbs', async () => {
    const fake = await startVdsm();
    fake.handler = (request) => request.ok({ echoed: request.params });
    const client = clientFor(fake);
    await expect(client.call('Host.ping2', { a: 1 }, { flowId: 'flow-7' })).resolves.toEqual({
      echoed: { a: 1 },
    });
    expect(fake.requests[0]?.frame.headers.ovirtCorrelationId).toBe('flow-7');
  });
});

/** A well-formed Volume.getInfo answer, for the malformed variants. */
function volumeInfo(): Record<string, unknown> {
  return {
    uuid: TASK_A,
    image: TASK_B,
    domain: POOL,
    parent: '00000000-0000-0000-0000-000000000000',
    voltype: 'LEAF',
    format: 'RAW',
    type: 'PREALLOCATED',
    legality: 'ILLEGAL',
    capacity: '1073741824',
    apparentsize: '1073741824',
    truesize: '1073741824',
    generation: 0,
  };
}

function withoutKey(value: Record<string, unknown>, key: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== key));
}

describe('VDSM client: errors', () => {
  test('a JSON-RPC error becomes VdsmError with code, verb and host', async () => {
    const fake = await startVdsm();
    fake.handler = (request) =>
      request.method === 'Task.clear'
        ? request.fail(410, 'Operation is not allowed in this task state: ("can\'t clean in state running",)')
        : request.fail(851, 'Resource timeout');
    const client = clientFor(fake, {}, 'host-7');

    const clearError = await rejection(client.taskClear(TASK_A));
    expect(clearError).toBeInstanceOf(VdsmError);
    expect(clearError).toMatchObject({ code: 410, verb: 'Task.clear', host: 'host-7', retryable: false });
    expect((clearError as VdsmError).vdsmMessage).toContain("can't clean in state running");

    await expect(client.taskGetStatus(TASK_A)).rejects.toMatchObject({
      name: 'VdsmError',
      code: 851,
      retryable: true,
    });
  });

  test('storage codes are final; a task with active references (442) is worth another try', async () => {
    const fake = await startVdsm();
    const codes: Record<string, number> = { 'Task.revert': 442, 'Volume.getInfo': 201 };
    fake.handler = (request) => request.fail(codes[request.method] ?? 100, 'x');
    const client = clientFor(fake);
    await expect(client.taskRevert(TASK_A)).rejects.toMatchObject({
      code: VdsmCode.TaskHasRefs,
      retryable: true,
    });
    await expect(
      client.volumeGetInfo({ volumeID: TASK_A, imageID: TASK_B, storagepoolID: POOL, storagedomainID: POOL }),
    ).rejects.toMatchObject({ code: VdsmCode.VolumeDoesNotExist, retryable: false });
    expect([VdsmCode.VolumeAlreadyExists, VdsmCode.ImageDeleteError, VdsmCode.IllegalParentVolume]).toEqual([
      212, 256, 226,
    ]);
  });

  test.each([
    ['Task.getStatus wrapped in its return key', 'Task.getStatus', { taskStatus: status(TASK_A) }],
    ['Task.getStatus with an unknown state', 'Task.getStatus', status(TASK_A, 'preparing')],
    ['Image.delete wrapped in {uuid}', 'Image.delete', { uuid: TASK_A }],
    ['Image.delete with a non-UUID', 'Image.delete', 'not-a-uuid'],
    ['Task.stop answering something other than true', 'Task.stop', {}],
    ['Host.getAllTasksStatuses keyed by a non-UUID', 'Host.getAllTasksStatuses', { nope: status(TASK_A) }],
    [
      'StoragePool.getSpmStatus wrapped in spm_st',
      'StoragePool.getSpmStatus',
      { spm_st: { spmStatus: 'SPM', spmLver: 1, spmId: 1 } },
    ],
    ['Volume.getInfo wrapped in info', 'Volume.getInfo', { info: volumeInfo() }],
    ['Volume.getInfo without a uuid', 'Volume.getInfo', withoutKey(volumeInfo(), 'uuid')],
    ['Volume.getInfo with an unknown voltype', 'Volume.getInfo', { ...volumeInfo(), voltype: 'BRANCH' }],
    ['Volume.getInfo with a non-numeric capacity', 'Volume.getInfo', { ...volumeInfo(), capacity: '10G' }],
    [
      'Volume.getInfo with lease owners not a list',
      'Volume.getInfo',
      { ...volumeInfo(), lease: { owners: 1 } },
    ],
    ['Image.deleteVolumes wrapped in {uuid}', 'Image.deleteVolumes', { uuid: TASK_A }],
  ])('malformed result (%s) → VdsmMalformedResponseError naming the verb', async (_name, verb, result) => {
    const fake = await startVdsm();
    fake.handler = (request) => request.ok(result);
    const client = clientFor(fake);
    const calls: Record<string, () => Promise<unknown>> = {
      'Task.getStatus': () => client.taskGetStatus(TASK_A),
      'Image.delete': () =>
        client.imageDelete({
          imageID: TASK_A,
          storagepoolID: POOL,
          storagedomainID: TASK_B,
          postZero: false,
          force: false,
          discard: false,
        }),
      'Task.stop': () => client.taskStop(TASK_A),
      'Host.getAllTasksStatuses': () => client.hostGetAllTasksStatuses(),
      'StoragePool.getSpmStatus': () => client.storagePoolGetSpmStatus(POOL),
      'Volume.getInfo': () =>
        client.volumeGetInfo({
          volumeID: TASK_A,
          imageID: TASK_B,
          storagepoolID: POOL,
          storagedomainID: POOL,
        }),
      'Image.deleteVolumes': () =>
        client.imageDeleteVolumes({
          imageID: TASK_B,
          storagepoolID: POOL,
          storagedomainID: POOL,
          volumeList: [],
        }),
    };
    const error = await rejection(calls[verb]!());
    expect(error).toBeInstanceOf(VdsmMalformedResponseError);
    expect(error).toMatchObject({ verb, host: 'host-1', retryable: false, response: result });
    expect((error as Error).message).toContain(verb);
  });

  test('a broken JSON-RPC envelope → VdsmMalformedResponseError', async () => {
    const fake = await startVdsm();
    fake.handler = (request) => request.reply({ jsonrpc: '2.0', id: request.id });
    const client = clientFor(fake);
    await expect(client.taskClear(TASK_A)).rejects.toMatchObject({
      name: 'VdsmMalformedResponseError',
      verb: 'Task.clear',
    });
  });

  test('no answer within the request timeout → VdsmTransportError; a late answer is ignored', async () => {
    const fake = await startVdsm();
    const unanswered: FakeRequest[] = [];
    fake.handler = (request) =>
      request.method === 'Task.getStatus' ? unanswered.push(request) : request.ok(true);
    const client = clientFor(fake, { requestTimeoutMs: 150 });

    const started = Date.now();
    const error = await rejection(client.taskGetStatus(TASK_A));
    expect(error).toBeInstanceOf(VdsmTransportError);
    expect(error).toMatchObject({ verb: 'Task.getStatus', retryable: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    unanswered[0]?.ok(status(TASK_A));
    await expect(client.taskClear(TASK_A)).resolves.toBeUndefined();
  });

  test('connection lost mid-request → VdsmTransportError, never re-sent; the next call reconnects', async () => {
    const fake = await startVdsm();
    fake.handler = (request) =>
      request.method === 'Image.delete' ? request.session.socket.destroy() : request.ok(true);
    // A long request timeout: the failure must come from the lost connection, not from the clock.
    const client = clientFor(fake, { requestTimeoutMs: 10_000 });

    const started = Date.now();
    const error = await rejection(
      client.imageDelete({
        imageID: TASK_A,
        storagepoolID: POOL,
        storagedomainID: TASK_B,
        postZero: false,
        force: false,
        discard: false,
      }),
    );
    expect(error).toBeInstanceOf(VdsmTransportError);
    expect(error).toMatchObject({ verb: 'Image.delete', host: 'host-1' });
    expect((error as Error).message).toContain('connection to 127.0.0.1');
    expect(Date.now() - started).toBeLessThan(1000);

    await expect(client.taskClear(TASK_A)).resolves.toBeUndefined();
    expect(fake.sessions).toHaveLength(2);
    expect(fake.requests.filter((request) => request.method === 'Image.delete')).toHaveLength(1);
  });

  test('failed connects back off exponentially; requests in the backoff window fail fast', async () => {
    const fake = await startVdsm();
    fake.refuseConnect = true;
    const client = clientFor(fake, { reconnectBackoff: { initialMs: 300, maxMs: 1000 } });

    const first = await rejection(client.taskClear(TASK_A));
    expect(first).toBeInstanceOf(VdsmTransportError);
    expect((first as Error).message).toContain('Version unsupported');

    const nextAttemptInMs = (err: unknown) =>
      Number(/next attempt in (\d+) ms/.exec((err as Error).message)?.[1]);
    const second = await rejection(client.taskClear(TASK_A));
    expect(second).toBeInstanceOf(VdsmTransportError);
    expect(nextAttemptInMs(second)).toBeGreaterThan(200);
    expect(nextAttemptInMs(second)).toBeLessThanOrEqual(300);
    expect(fake.sessions).toHaveLength(1);

    await new Promise((resolve) => setTimeout(resolve, 320));
    await expect(client.taskClear(TASK_A)).rejects.toBeInstanceOf(VdsmTransportError);
    expect(fake.sessions).toHaveLength(2);
    // Second failure: the wait doubles.
    expect(nextAttemptInMs(await rejection(client.taskClear(TASK_A)))).toBeGreaterThan(500);

    fake.refuseConnect = false;
    await new Promise((resolve) => setTimeout(resolve, 620));
    await expect(client.taskClear(TASK_A)).resolves.toBeUndefined();
    expect(fake.sessions).toHaveLength(3);
  });

  test('nothing listening → VdsmTransportError with the socket error as cause', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const channel = new VdsmRpcChannel({ address: '127.0.0.1', port, heartbeatMs: 0 });
    cleanups.push(() => channel.close());
    const error = await rejection(
      new VdsmHostClient({ hostId: 'gone', address: '127.0.0.1', port }, channel).taskClear(TASK_A),
    );
    expect(error).toBeInstanceOf(VdsmTransportError);
    expect((error as Error).cause).toMatchObject({ code: 'ECONNREFUSED' });
  });

  test('a silent server is detected by heart-beats and fails the in-flight request', async () => {
    const fake = await startVdsm();
    // The server promises heart-beats every 100 ms and wants ours every 100 ms, then never answers.
    fake.connectedHeaders = { version: '1.2', 'heart-beat': '100,100' };
    fake.handler = () => undefined;
    const client = clientFor(fake, { heartbeatMs: 100, requestTimeoutMs: 10_000 });

    const started = Date.now();
    const error = await rejection(client.taskGetStatus(TASK_A));
    expect(error).toBeInstanceOf(VdsmTransportError);
    expect(((error as Error).cause as Error).name).toBe('StompHeartbeatTimeoutError');
    expect(Date.now() - started).toBeLessThan(2000);
    // Meanwhile the client kept beating for the server.
    expect(fake.sessions[0]!.heartbeatsReceived).toBeGreaterThan(0);
  });
});

describe('VDSM client: events', () => {
  test('notifications on jms.queue.events reach listeners until they unsubscribe', async () => {
    const fake = await startVdsm();
    const client = clientFor(fake);
    const received: VdsmEvent[] = [];
    const unsubscribe = client.onEvent((event) => received.push(event));
    await client.connect();
    await client.taskClear(TASK_A); // round trip: the subscriptions are in place

    const params = {
      id: TASK_B,
      status: 'done',
      description: 'copy_data',
      job_type: 'storage',
      notify_time: 123,
    };
    fake.emitEvent(`|jobs|status|${TASK_B}`, params);
    await client.taskClear(TASK_A); // the event was sent before this answer
    expect(received).toEqual([{ method: `|jobs|status|${TASK_B}`, params }]);

    unsubscribe();
    fake.emitEvent('|virt|VM_status|x', {});
    await client.taskClear(TASK_A);
    expect(received).toHaveLength(1);
  });
});

describe('VDSM connector', () => {
  test('one connection per address:port; errors name each host; close() ends everything', async () => {
    const fake = await startVdsm();
    fake.handler = (request) => request.fail(401, `Task id unknown: ('${String(request.params.taskID)}',)`);
    const connector = createVdsmConnector({ heartbeatMs: 0, requestTimeoutMs: 2000 });
    cleanups.push(() => connector.close());

    const first = connector.host(fake.endpoint('host-a'));
    const second = connector.host(fake.endpoint('host-b'));
    expect(connector.host(fake.endpoint('host-a'))).toBe(first);
    await expect(first.taskGetStatus(TASK_A)).rejects.toMatchObject({ code: 401, host: 'host-a' });
    await expect(second.taskGetStatus(TASK_A)).rejects.toMatchObject({ code: 401, host: 'host-b' });
    expect(fake.sessions).toHaveLength(1);

    await connector.close();
    await expect(first.taskClear(TASK_A)).rejects.toBeInstanceOf(VdsmTransportError);
    expect(fake.sessions[0]!.socket.destroyed || fake.sessions[0]!.socket.readableEnded).toBe(true);
  });
});

describe('VDSM client over mutual TLS', () => {
  let dir: string;
  const pem = (name: string) => readFileSync(path.join(dir, name));

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'vdsm-tls-'));
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    for (const ca of ['ca', 'rogue-ca'])
      openssl(
        'req',
        '-x509',
        ...newKey,
        '-keyout',
        `${ca}.key`,
        '-out',
        `${ca}.pem`,
        '-days',
        '1',
        '-subj',
        `/CN=${ca}`,
      );
    writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    writeFileSync(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    const issue = (name: string, ca: string, ext: string) => {
      openssl('req', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      openssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${ca}.pem`,
        '-CAkey',
        `${ca}.key`,
        '-CAcreateserial',
        '-out',
        `${name}.pem`,
        '-days',
        '1',
        '-extfile',
        ext,
      );
    };
    issue('server', 'ca', 'server.ext');
    issue('client', 'ca', 'client.ext');
    issue('rogue-client', 'rogue-ca', 'client.ext');
    issue('rogue-server', 'rogue-ca', 'server.ext');
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const serverOptions = (certName = 'server'): tls.TlsOptions => ({
    key: pem(`${certName}.key`),
    cert: pem(`${certName}.pem`),
    ca: pem('ca.pem'),
    requestCert: true,
    rejectUnauthorized: true,
  });

  test('the connector reads the PEM files and talks to a server that demands a client certificate', async () => {
    const fake = await startVdsm(serverOptions());
    fake.handler = (request) => request.ok(status(request.params.taskID as string, 'finished', 'success'));
    const connector = createVdsmConnector({
      tls: {
        cert: path.join(dir, 'client.pem'),
        key: path.join(dir, 'client.key'),
        ca: path.join(dir, 'ca.pem'),
      },
      heartbeatMs: 0,
    });
    cleanups.push(() => connector.close());
    await expect(connector.host(fake.endpoint()).taskGetStatus(TASK_A)).resolves.toMatchObject({
      taskResult: 'success',
    });
  });

  test('a client without a certificate is refused', async () => {
    const fake = await startVdsm(serverOptions());
    const client = clientFor(fake, { tls: { ca: pem('ca.pem') }, connectTimeoutMs: 2000 });
    await expect(client.taskClear(TASK_A)).rejects.toBeInstanceOf(VdsmTransportError);
    expect(fake.requests).toHaveLength(0);
  });

  test('a client certificate from another CA is refused', async () => {
    const fake = await startVdsm(serverOptions());
    const client = clientFor(fake, {
      tls: { cert: pem('rogue-client.pem'), key: pem('rogue-client.key'), ca: pem('ca.pem') },
      connectTimeoutMs: 2000,
    });
    await expect(client.taskClear(TASK_A)).rejects.toBeInstanceOf(VdsmTransportError);
    expect(fake.requests).toHaveLength(0);
  });

  test('the client refuses a server whose certificate the CA did not sign', async () => {
    const fake = await startVdsm(serverOptions('rogue-server'));
    const client = clientFor(fake, {
      tls: { cert: pem('client.pem'), key: pem('client.key'), ca: pem('ca.pem') },
      connectTimeoutMs: 2000,
    });
    const error = await rejection(client.taskClear(TASK_A));
    expect(error).toBeInstanceOf(VdsmTransportError);
    expect((error as Error).cause).toMatchObject({
      code: expect.stringMatching(/CERT|SIGNATURE|VERIFY|ISSUER/),
    });
  });
});
