/**
 * JSON-RPC over STOMP to one VDSM endpoint (address:port), speaking like VDSM's own client
 * (lib/yajsonrpc/stompclient.py): CONNECT with accept-version 1.2, a uuid4 reply queue subscribed
 * with ack:auto, SEND to jms.topic.vdsm_requests with reply-to, plus a subscription to
 * jms.queue.events for notifications.
 *
 * The channel never retries a request: a lost connection or a timeout fails the request with
 * VdsmTransportError and the caller decides (a blind re-send of a task-creating verb could start
 * a second task). The connection opens lazily; after a failed connect, the next attempt waits an
 * exponential backoff, and requests arriving before then fail fast.
 *
 * A hostile or broken VDSM costs at most one request or one connection, never the worker: a frame
 * over the receive limit drops the connection (its requests fail with VdsmTransportError, the next
 * request reconnects); an unparsable answer that names a pending request fails it with
 * VdsmMalformedResponseError; an answer with an unknown id is dropped (its request times out); a
 * VDSM that stops reading is dropped once MAX_UNSENT_BYTES wait. Events are handled as they
 * arrive, never queued, and not even decoded while nobody listens: a flood holds no memory.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { type ParserLimits, parseHeartBeat, StompConnection, type StompFrame } from '../stomp';
import { VdsmError, VdsmMalformedResponseError, VdsmTransportError } from './errors';
import { describeIssues, notificationSchema, responseEnvelopeSchema } from './schemas';

export const REQUEST_DESTINATION = 'jms.topic.vdsm_requests';
export const EVENTS_DESTINATION = 'jms.queue.events';

const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_HEARTBEAT_MS = 10_000;
const DEFAULT_BACKOFF_INITIAL_MS = 1_000;
const DEFAULT_BACKOFF_MAX_MS = 30_000;
const EMPTY_BODY = Buffer.alloc(0);

/**
 * What one VDSM frame may hold. The largest answers the worker asks for (all tasks of a host, at
 * most 510) are ~200 KiB; 8 MiB leaves a wide margin and bounds what one connection buffers.
 */
export const DEFAULT_CLIENT_PARSER_LIMITS: Readonly<Required<ParserLimits>> = Object.freeze({
  maxFrameBytes: 8 * 1024 * 1024,
  maxHeaders: 64,
  maxHeaderLineBytes: 64 * 1024,
});
/** Requests waiting in the socket for a VDSM that does not read: past this, the connection is dropped. */
export const MAX_UNSENT_BYTES = 4 * 1024 * 1024;
/** Our request ids (randomUUID), as they appear in an answer's text. */
const REQUEST_ID_PATTERN = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** PEM contents (not paths). VDSM demands a client certificate; without one it refuses the handshake. */
export interface VdsmTlsMaterial {
  cert?: string | Buffer;
  key?: string | Buffer;
  ca: string | Buffer;
}

export interface VdsmChannelOptions {
  address: string;
  port: number;
  /** Mutual TLS (VDSM's default); plain TCP when absent. The server certificate is always verified. */
  tls?: VdsmTlsMaterial;
  requestTimeoutMs?: number;
  /** Covers TCP connect, TLS handshake and the STOMP CONNECT/CONNECTED exchange. */
  connectTimeoutMs?: number;
  /** Offered in CONNECT as `heart-beat:<ms>,<ms>`; 0 disables heart-beats. */
  heartbeatMs?: number;
  reconnectBackoff?: { initialMs?: number; maxMs?: number };
  /** Defaults: DEFAULT_CLIENT_PARSER_LIMITS. */
  parserLimits?: ParserLimits;
}

export interface VdsmEvent {
  /** e.g. `|jobs|status|<jobId>` */
  method: string;
  params: unknown;
}
export type VdsmEventListener = (event: VdsmEvent) => void;

export interface VdsmCallOptions {
  /** Overrides the channel's request timeout for this call. */
  timeoutMs?: number;
  /** Sent as the `ovirtCorrelationId` header, which VDSM logs as the flow id. */
  flowId?: string;
}

/** The server answered a STOMP frame with an ERROR frame. */
export class StompErrorFrameError extends Error {
  override readonly name = 'StompErrorFrameError';
  constructor(readonly frame: StompFrame) {
    super(`STOMP ERROR from server: ${frame.headers.message ?? ''} ${frame.body.toString('utf8')}`.trim());
  }
}

interface Session {
  connection: StompConnection;
  replySubscriptionId: string;
  eventsSubscriptionId: string;
  /** Why the connection ended, for the errors of the requests it strands. */
  lastError?: Error;
}

interface PendingRequest {
  method: string;
  hostLabel: string;
  session: Session;
  timer: NodeJS.Timeout;
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
}

export class VdsmRpcChannel {
  /** VDSM's python client names its reply queue with a bare uuid4 (stompclient.SimpleClient). */
  readonly replyQueue = randomUUID();
  readonly target: string;
  private readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly heartbeatMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private session: Session | undefined;
  private connecting: Promise<Session> | undefined;
  private readonly pending = new Map<string, PendingRequest>();
  private readonly eventListeners = new Set<VdsmEventListener>();
  private failedConnects = 0;
  private nextConnectAt = 0;
  private lastConnectError: unknown;
  private closed = false;

  constructor(private readonly options: VdsmChannelOptions) {
    this.target = `${options.address}:${options.port}`;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.backoffInitialMs = options.reconnectBackoff?.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS;
    this.backoffMaxMs = options.reconnectBackoff?.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
  }

  get connected(): boolean {
    return this.session !== undefined && !this.session.connection.closed;
  }

  /**
   * One JSON-RPC request; resolves with the raw `result`. Rejects with VdsmError (JSON-RPC error),
   * VdsmMalformedResponseError (bad envelope) or VdsmTransportError (connect failure, lost
   * connection, timeout). `hostLabel` names the host in those errors.
   */
  async request(
    hostLabel: string,
    method: string,
    params: Record<string, unknown>,
    options: VdsmCallOptions = {},
  ): Promise<unknown> {
    const session = await this.sessionFor(hostLabel, method);
    const id = randomUUID();
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', method, params, id }), 'utf8');
    const headers: Record<string, string> = {
      destination: REQUEST_DESTINATION,
      'reply-to': this.replyQueue,
      'content-type': 'application/json',
      'content-length': String(body.length),
    };
    if (options.flowId !== undefined) headers.ovirtCorrelationId = options.flowId;
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;

    const unsent = session.connection.socket.writableLength;
    if (unsent > MAX_UNSENT_BYTES) {
      session.lastError = new Error(`${this.target} does not read: ${unsent} bytes unsent`);
      session.connection.destroy();
      throw new VdsmTransportError(session.lastError.message, method, hostLabel);
    }

    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new VdsmTransportError(`no answer from ${this.target} within ${timeoutMs} ms`, method, hostLabel),
        );
      }, timeoutMs);
      this.pending.set(id, { method, hostLabel, session, timer, resolve, reject });
      if (!session.connection.send({ command: 'SEND', headers, body })) {
        this.takePending(id);
        reject(
          new VdsmTransportError(
            `connection to ${this.target} closed before the request was sent`,
            method,
            hostLabel,
            { cause: session.lastError },
          ),
        );
      }
    });
  }

  /** Opens the connection now instead of on the first request (e.g. to receive events). */
  async connect(hostLabel: string): Promise<void> {
    await this.sessionFor(hostLabel, 'connect');
  }

  /** Notifications from jms.queue.events, while a connection is open. Returns the unsubscribe. */
  onEvent(listener: VdsmEventListener): () => void {
    this.eventListeners.add(listener);
    return () => {
      this.eventListeners.delete(listener);
    };
  }

  /** Fails in-flight requests, sends DISCONNECT and waits for the socket to close. Final. */
  async close(): Promise<void> {
    this.closed = true;
    const connecting = this.connecting?.catch(() => undefined);
    const session = this.session ?? (await connecting);
    for (const [id, request] of this.pending) {
      this.takePending(id);
      request.reject(
        new VdsmTransportError(`client for ${this.target} closed`, request.method, request.hostLabel),
      );
    }
    if (!session || session.connection.closed) return;
    const closedPromise = new Promise<void>((resolve) => session.connection.once('close', resolve));
    session.connection.send({ command: 'DISCONNECT', headers: {}, body: EMPTY_BODY });
    session.connection.close();
    await closedPromise;
  }

  private async sessionFor(hostLabel: string, method: string): Promise<Session> {
    if (this.closed) throw new VdsmTransportError(`client for ${this.target} is closed`, method, hostLabel);
    if (this.session && !this.session.connection.closed) return this.session;
    if (!this.connecting) {
      const waitMs = this.nextConnectAt - Date.now();
      if (waitMs > 0) {
        throw new VdsmTransportError(
          `${this.target} unreachable (${this.failedConnects} failed connects); next attempt in ${waitMs} ms`,
          method,
          hostLabel,
          { cause: this.lastConnectError },
        );
      }
      this.connecting = this.openSession().finally(() => {
        this.connecting = undefined;
      });
    }
    try {
      return await this.connecting;
    } catch (err) {
      throw new VdsmTransportError(`cannot connect to ${this.target}: ${errorText(err)}`, method, hostLabel, {
        cause: err,
      });
    }
  }

  private async openSession(): Promise<Session> {
    try {
      const connection = await this.openConnection();
      const session = await this.handshake(connection);
      this.failedConnects = 0;
      this.nextConnectAt = 0;
      return session;
    } catch (err) {
      this.failedConnects += 1;
      const backoffMs = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** (this.failedConnects - 1));
      this.nextConnectAt = Date.now() + backoffMs;
      this.lastConnectError = err;
      throw err;
    }
  }

  /** TCP (and TLS) connect, bounded by connectTimeoutMs. */
  private openConnection(): Promise<StompConnection> {
    const { address, port } = this.options;
    const material = this.options.tls;
    return new Promise((resolve, reject) => {
      const socket = material
        ? tls.connect({
            host: address,
            port,
            cert: material.cert,
            key: material.key,
            ca: material.ca,
            // SNI takes host names only; certificate checks still apply to IP addresses.
            servername: net.isIP(address) ? undefined : address,
          })
        : net.connect({ host: address, port });
      const timer = setTimeout(
        () => fail(new Error(`connect timed out after ${this.connectTimeoutMs} ms`)),
        this.connectTimeoutMs,
      );
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.once('error', fail);
      socket.once(material ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', fail);
        socket.setNoDelay(true);
        socket.setKeepAlive(true);
        // Wrap before resolving so no socket error is ever without a listener.
        resolve(
          new StompConnection(socket, {
            limits: { ...DEFAULT_CLIENT_PARSER_LIMITS, ...this.options.parserLimits },
          }),
        );
      });
    });
  }

  /** CONNECT → CONNECTED, heart-beats, then the two subscriptions. */
  private handshake(connection: StompConnection): Promise<Session> {
    return new Promise((resolve, reject) => {
      let lastError: Error | undefined;
      const timer = setTimeout(
        () => fail(new Error(`no CONNECTED frame within ${this.connectTimeoutMs} ms`)),
        this.connectTimeoutMs,
      );
      const cleanup = () => {
        clearTimeout(timer);
        connection.removeListener('frame', onFrame);
        connection.removeListener('error', onError);
        connection.removeListener('close', onClose);
      };
      const fail = (err: Error) => {
        cleanup();
        // Keep a listener: a late socket error must not become an uncaught exception.
        connection.on('error', () => undefined);
        connection.destroy();
        reject(err);
      };
      const onError = (err: Error) => {
        lastError = err;
      };
      const onClose = () =>
        fail(new Error('connection closed during the STOMP handshake', { cause: lastError }));
      const onFrame = (frame: StompFrame) => {
        if (frame.command === 'ERROR') return fail(new StompErrorFrameError(frame));
        if (frame.command !== 'CONNECTED')
          return fail(new Error(`unexpected ${frame.command} frame before CONNECTED`));
        let serverHeartBeat: [number, number];
        try {
          serverHeartBeat = parseHeartBeat(frame.headers['heart-beat']);
        } catch (err) {
          return fail(err instanceof Error ? err : new Error(String(err)));
        }
        cleanup();
        try {
          resolve(this.startSession(connection, serverHeartBeat));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      };
      connection.on('frame', onFrame);
      connection.on('error', onError);
      connection.on('close', onClose);

      const headers: Record<string, string> = {
        'accept-version': '1.2',
        'heart-beat': `${this.heartbeatMs},${this.heartbeatMs}`,
      };
      // STOMP 1.2 wants `host`; VDSM's parser rejects a raw ':' in any header value, so an IPv6
      // address (which cannot be escaped in CONNECT) is left out rather than break the handshake.
      if (!this.options.address.includes(':')) headers.host = this.options.address;
      connection.send({ command: 'CONNECT', headers, body: EMPTY_BODY });
    });
  }

  private startSession(
    connection: StompConnection,
    [serverSendsEvery, serverWantsEvery]: [number, number],
  ): Session {
    const session: Session = {
      connection,
      replySubscriptionId: randomUUID(),
      eventsSubscriptionId: randomUUID(),
    };
    connection.on('frame', (frame) => this.onFrame(session, frame));
    connection.on('error', (err) => {
      session.lastError = err;
    });
    connection.on('close', () => this.onSessionClosed(session));

    // STOMP 1.2 negotiation: each side beats at the larger of what one offers and the other wants.
    const sendEveryMs =
      this.heartbeatMs > 0 && serverWantsEvery > 0 ? Math.max(this.heartbeatMs, serverWantsEvery) : 0;
    const expectEveryMs =
      this.heartbeatMs > 0 && serverSendsEvery > 0 ? Math.max(this.heartbeatMs, serverSendsEvery) : 0;
    // VDSM drops a client silent for the agreed period with no grace: beat twice as often.
    connection.startHeartbeats(Math.floor(sendEveryMs / 2), expectEveryMs);

    connection.send({
      command: 'SUBSCRIBE',
      headers: { destination: this.replyQueue, id: session.replySubscriptionId, ack: 'auto' },
      body: EMPTY_BODY,
    });
    connection.send({
      command: 'SUBSCRIBE',
      headers: { destination: EVENTS_DESTINATION, id: session.eventsSubscriptionId, ack: 'auto' },
      body: EMPTY_BODY,
    });

    if (this.closed) {
      connection.close();
      throw new Error('client closed while connecting');
    }
    this.session = session;
    return session;
  }

  private onFrame(session: Session, frame: StompFrame): void {
    if (frame.command === 'ERROR') {
      // STOMP servers close after ERROR; fail fast instead of waiting for the timeouts.
      session.lastError = new StompErrorFrameError(frame);
      session.connection.destroy();
      return;
    }
    if (frame.command !== 'MESSAGE') return;
    const { subscription, destination } = frame.headers;
    if (subscription === session.eventsSubscriptionId || destination === EVENTS_DESTINATION) {
      // Nobody listening: not even decoded, so a flood costs no more than reading it.
      if (this.eventListeners.size > 0) this.onEventMessage(frame.body);
    } else if (subscription === session.replySubscriptionId || destination === this.replyQueue) {
      this.onResponseMessage(session, frame.body);
    }
  }

  private onResponseMessage(session: Session, body: Buffer): void {
    const text = body.toString('utf8');
    let decoded: unknown;
    try {
      decoded = JSON.parse(text);
    } catch (err) {
      this.failNamedRequest(session, text, `unparsable JSON-RPC response: ${errorText(err)}`);
      return;
    }
    // yajsonrpc answers a batch with an array; we never batch, but route each element anyway.
    let routed = false;
    for (const item of Array.isArray(decoded) ? decoded : [decoded]) routed = this.onResponse(item) || routed;
    if (!routed) this.failNamedRequest(session, text, 'JSON-RPC response without a usable id');
  }

  /**
   * An answer we cannot route by its id still fails the request whose id it contains, if any:
   * better a typed error now than a timeout later. Without one, the request times out.
   */
  private failNamedRequest(session: Session, text: string, issues: string): void {
    for (const [candidate] of text.matchAll(REQUEST_ID_PATTERN)) {
      const pending = this.pending.get(candidate);
      if (pending?.session !== session) continue;
      this.takePending(candidate);
      pending.reject(
        new VdsmMalformedResponseError(pending.method, pending.hostLabel, issues, text.slice(0, 1000)),
      );
      return;
    }
  }

  /** Returns whether the item answered a pending request. */
  private onResponse(item: unknown): boolean {
    const rawId = isRecord(item) ? item.id : undefined;
    if (typeof rawId !== 'string' && typeof rawId !== 'number') return false;
    const request = this.takePending(String(rawId));
    if (!request) return false; // answer after its timeout, or not ours
    const envelope = responseEnvelopeSchema.safeParse(item);
    if (!envelope.success) {
      request.reject(
        new VdsmMalformedResponseError(
          request.method,
          request.hostLabel,
          `invalid JSON-RPC response: ${describeIssues(envelope.error)}`,
          item,
        ),
      );
    } else if (!envelope.data.ok) {
      request.reject(
        new VdsmError(
          envelope.data.error.code,
          envelope.data.error.message,
          request.method,
          request.hostLabel,
        ),
      );
    } else {
      request.resolve(envelope.data.result);
    }
    return true;
  }

  private onEventMessage(body: Buffer): void {
    let decoded: unknown;
    try {
      decoded = JSON.parse(body.toString('utf8'));
    } catch {
      return;
    }
    const notification = notificationSchema.safeParse(decoded);
    if (!notification.success) return;
    const event: VdsmEvent = { method: notification.data.method, params: notification.data.params };
    for (const listener of [...this.eventListeners]) {
      try {
        listener(event);
      } catch (err) {
        // A listener bug must not kill the connection that serves every request of this host.
        process.emitWarning(err instanceof Error ? err : new Error(String(err)), 'VdsmEventListenerError');
      }
    }
  }

  private onSessionClosed(session: Session): void {
    if (this.session === session) this.session = undefined;
    for (const [id, request] of this.pending) {
      if (request.session !== session) continue;
      this.takePending(id);
      request.reject(
        new VdsmTransportError(
          `connection to ${this.target} lost before the answer arrived`,
          request.method,
          request.hostLabel,
          { cause: session.lastError },
        ),
      );
    }
  }

  private takePending(id: string): PendingRequest | undefined {
    const request = this.pending.get(id);
    if (request) {
      clearTimeout(request.timer);
      this.pending.delete(id);
    }
    return request;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
