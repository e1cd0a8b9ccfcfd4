import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { encodeFrame, StompConnection, type StompFrame } from '../stomp';
import { DestinationIndex } from './destinations';
import { DEFAULT_STOMP_SERVER_LIMITS, type StompServerLimits } from './stomp-limits';

/**
 * One host's listener, behaving like VDSM's protocol detector + yajsonrpc stompserver: the first
 * bytes pick the protocol, then STOMP 1.2 with VDSM's CONNECT/SUBSCRIBE/SEND/DISCONNECT rules.
 * Requests sent to a request queue are handed to `onRequest`; answers and events go out with
 * `publish` to every subscription of a destination, whichever connection made it.
 *
 * Unlike VDSM, a peer is held to limits (stomp-limits.ts) and must CONNECT before anything else:
 * over a limit it gets an ERROR frame naming it, then the connection closes.
 */

/** Destinations VDSM answers itself (config addresses.request_queues); sub-destinations count too. */
export const REQUEST_QUEUES = ['jms.topic.vdsm_requests', 'jms.topic.vdsm_irs_requests'] as const;
export const EVENTS_DESTINATION = 'jms.queue.events';

const STOMP_COMMANDS = [
  'CONNECT',
  'STOMP',
  'SEND',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'BEGIN',
  'COMMIT',
  'ABORT',
  'ACK',
  'NACK',
  'DISCONNECT',
  'CONNECTED',
  'MESSAGE',
  'RECEIPT',
  'ERROR',
];
const HTTP_PREFIXES = ['GET /', 'PUT /'];
/** The detector peeks until it has as many bytes as the longest command (`UNSUBSCRIBE`). */
const DETECT_BYTES = Math.max(...STOMP_COMMANDS.map((c) => c.length));
const HTTP_NOT_IMPLEMENTED =
  'HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain\r\nContent-Length: 32\r\nConnection: close\r\n\r\n' +
  'image transfer is not simulated\n';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  /** CA of the client certificates (the engine CA): clients without one signed by it are refused. */
  ca: Buffer;
}

export interface IncomingRequest {
  body: string;
  replyTo: string | undefined;
  session: StompSession;
}

export interface StompEndpointOptions {
  bindAddress: string;
  port: number;
  tls?: TlsFiles;
  /** Negotiated non-zero heart-beats are raised to at least this (VDSM: 1000 ms). */
  heartbeatFloorMs: number;
  /** A connection that has not sent enough bytes to tell its protocol by then is closed. */
  sniffTimeoutMs: number;
  /** Defaults: DEFAULT_STOMP_SERVER_LIMITS. */
  limits?: Partial<StompServerLimits>;
  onRequest(request: IncomingRequest): void;
  onConnection(): void;
  log(line: string): void;
}

interface Subscription {
  session: StompSession;
  destination: string;
  id: string;
}

export class StompSession {
  /** Requests this connection sent to a request queue. */
  requests = 0;
  /** CONNECT was accepted; until then only CONNECT is served. */
  connected = false;
  readonly subscriptions = new Map<string, Subscription>();

  constructor(readonly connection: StompConnection) {}

  get closed(): boolean {
    return this.connection.closed;
  }

  /** Drops the connection without a goodbye (fault injection). */
  drop(): void {
    this.connection.destroy();
  }

  /** Resolves once everything sent so far has been handed to the OS. */
  flushed(): Promise<void> {
    return new Promise((resolve) => {
      const socket = this.connection.socket;
      if (socket.destroyed || !socket.writable) resolve();
      else socket.write('', () => resolve());
    });
  }
}

/** stompserver.parseHeartBeatHeader: Python int() per side, anything unparsable is 0. */
function parseHeartBeatLenient(value: string): [number, number] {
  const comma = value.indexOf(',');
  if (comma < 0) return [0, 0];
  const pyInt = (text: string): number => (/^\s*[+-]?\d+\s*$/.test(text) ? parseInt(text.trim(), 10) : 0);
  return [pyInt(value.slice(0, comma)), pyInt(value.slice(comma + 1))];
}

function isRequestQueue(destination: string): boolean {
  return REQUEST_QUEUES.some((q) => destination === q || destination.startsWith(`${q}.`));
}

function errorFrame(message: string): StompFrame {
  return { command: 'ERROR', headers: {}, body: Buffer.from(message) };
}

export class StompEndpoint {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly destinations = new DestinationIndex<Subscription>();
  readonly limits: Readonly<StompServerLimits>;

  constructor(private readonly options: StompEndpointOptions) {
    this.limits = { ...DEFAULT_STOMP_SERVER_LIMITS, ...options.limits };
    if (options.tls) {
      this.server = createTlsServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          ca: options.tls.ca,
          requestCert: true,
          rejectUnauthorized: true,
          // A socket that never completes the handshake (Node's default waits 120 s).
          handshakeTimeout: this.limits.connectTimeoutMs,
        },
        (socket) => this.accept(socket),
      );
      // A refused or timed-out handshake is the client's problem; the server goes on. With a
      // listener here Node leaves the socket open, so a silent one would stay forever.
      this.server.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy());
    } else {
      this.server = createTcpServer((socket) => this.accept(socket));
    }
    // Raw TCP sockets, mid-TLS-handshake ones included, so close() can drop them all.
    this.server.on('connection', (socket: Socket) => {
      if (this.sockets.size >= this.limits.maxConnections) {
        this.refuse(socket);
        return;
      }
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Open sockets, mid-handshake ones included. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Over maxConnections: a plain peer is told why; a TLS one cannot be before its handshake. */
  private refuse(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this.options.tls) {
      socket.destroy();
      return;
    }
    socket.end(encodeErrorFrame(`too many connections (limit ${this.limits.maxConnections})`));
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /** Resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.bindAddress, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : this.options.port);
      });
    });
  }

  /** Stops listening and drops every connection at once (a crash, or a stop). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }

  /** A MESSAGE to every subscription of `destination` (stompserver.StompServer.send). */
  publish(destination: string, body: string): void {
    for (const subscription of this.destinations.exact(destination)) {
      this.deliver(subscription.session, {
        command: 'MESSAGE',
        headers: { destination, 'content-type': 'application/json', subscription: subscription.id },
        body: Buffer.from(body),
      });
    }
  }

  /** Sends unless the peer has stopped reading: past maxOutboundBytes it is dropped instead. */
  private deliver(session: StompSession, frame: StompFrame): void {
    const socket = session.connection.socket;
    if (socket.writableLength > this.limits.maxOutboundBytes) {
      this.options.log(
        `dropping a connection that does not read (${socket.writableLength} bytes unsent, limit ${this.limits.maxOutboundBytes})`,
      );
      session.connection.destroy();
      return;
    }
    session.connection.send(frame);
  }

  private accept(socket: Socket): void {
    this.options.onConnection();
    // Errors end in 'close'; the session (if any) cleans up there.
    socket.on('error', () => undefined);
    let head = Buffer.alloc(0);
    const giveUp = setTimeout(() => socket.destroy(), this.options.sniffTimeoutMs);
    const sniff = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.length < DETECT_BYTES) return;
      clearTimeout(giveUp);
      socket.off('data', sniff);
      socket.pause();
      const start = head.subarray(0, DETECT_BYTES).toString('latin1');
      if (STOMP_COMMANDS.some((c) => start.startsWith(c))) {
        socket.unshift(head);
        this.startSession(socket);
        socket.resume();
      } else if (HTTP_PREFIXES.some((p) => start.startsWith(p))) {
        socket.end(HTTP_NOT_IMPLEMENTED);
      } else {
        socket.destroy();
      }
    };
    socket.on('data', sniff);
    socket.once('close', () => clearTimeout(giveUp));
  }

  private startSession(socket: Socket): void {
    const { maxFrameBytes, maxHeaders, maxHeaderLineBytes, connectTimeoutMs } = this.limits;
    const connection = new StompConnection(socket, {
      limits: { maxFrameBytes, maxHeaders, maxHeaderLineBytes },
      answerProtocolErrors: true,
    });
    const session = new StompSession(connection);
    const connectDeadline = setTimeout(() => {
      if (!session.connected) connection.closeWithError(`no CONNECT within ${connectTimeoutMs} ms`);
    }, connectTimeoutMs);
    connectDeadline.unref();
    connection.on('frame', (frame) => {
      try {
        this.onFrame(session, frame);
      } catch (err) {
        // Whatever a peer sends costs it its connection, never the server.
        this.options.log(
          `closing a connection after an internal error: ${(err as Error).stack ?? String(err)}`,
        );
        connection.destroy();
      }
    });
    connection.on('error', () => undefined);
    connection.on('close', () => {
      clearTimeout(connectDeadline);
      for (const subscription of session.subscriptions.values()) this.destinations.remove(subscription);
      session.subscriptions.clear();
    });
  }

  private onFrame(session: StompSession, frame: StompFrame): void {
    const { connection } = session;
    const headers = frame.headers;
    // VDSM serves a SEND from a peer that never CONNECTed; a broker must not.
    if (!session.connected && frame.command !== 'CONNECT') {
      connection.closeWithError(`${frame.command} before CONNECT`);
      return;
    }
    switch (frame.command) {
      case 'CONNECT': {
        if (headers['accept-version'] !== '1.2') {
          connection.send(errorFrame('Version unsupported'));
          return;
        }
        // VDSM raises a non-zero heart-beat to its floor. We also cap it at idleTimeoutMs: a peer
        // asking for 10^12 ms would otherwise never be timed out (and overflow Node's timers).
        const floor = (ms: number): number =>
          ms !== 0 ? Math.min(Math.max(ms, this.options.heartbeatFloorMs), this.limits.idleTimeoutMs) : 0;
        const [clientSends, clientWants] = parseHeartBeatLenient(headers['heart-beat'] ?? '0,0').map(
          floor,
        ) as [number, number];
        connection.send({
          command: 'CONNECTED',
          headers: { version: '1.2', 'heart-beat': `${clientWants},${clientSends}` },
          body: Buffer.alloc(0),
        });
        connection.startHeartbeats(clientWants, clientSends);
        // Without an incoming heart-beat, a silent peer would hold its slot forever.
        connection.expectTrafficWithin(clientSends === 0 ? this.limits.idleTimeoutMs : 0);
        session.connected = true;
        return;
      }
      case 'SUBSCRIBE': {
        const destination = headers.destination;
        const id = headers.id;
        if (!destination || !id) {
          connection.send(errorFrame('Missing destination or subscription id header'));
          return;
        }
        if (session.subscriptions.has(id)) {
          connection.send(errorFrame('Subscription id already exists'));
          return;
        }
        if (session.subscriptions.size >= this.limits.maxSubscriptionsPerConnection) {
          connection.closeWithError(
            `too many subscriptions (limit ${this.limits.maxSubscriptionsPerConnection} per connection)`,
          );
          return;
        }
        const subscription = { session, destination, id };
        session.subscriptions.set(id, subscription);
        this.destinations.add(destination, subscription);
        return;
      }
      case 'UNSUBSCRIBE': {
        const id = headers.id;
        if (!id) {
          connection.send(errorFrame('Missing id header'));
          return;
        }
        const subscription = session.subscriptions.get(id);
        if (subscription) {
          session.subscriptions.delete(id);
          this.destinations.remove(subscription);
        }
        return;
      }
      case 'DISCONNECT': {
        const receipt = headers.receipt;
        // VDSM reads the receipt header unguarded: without one the lookup fails and the connection closes.
        if (receipt === undefined) connection.close();
        else if (receipt)
          connection.send({ command: 'RECEIPT', headers: { 'receipt-id': receipt }, body: Buffer.alloc(0) });
        return;
      }
      case 'SEND': {
        const destination = headers.destination;
        if (destination === undefined) {
          connection.close();
          return;
        }
        const subscribers = this.destinations.matching(destination);
        for (const subscription of subscribers) {
          this.deliver(subscription.session, {
            command: 'MESSAGE',
            headers: { subscription: subscription.id, ...headers },
            body: frame.body,
          });
        }
        if (isRequestQueue(destination)) {
          this.options.onRequest({
            body: frame.body.toString('utf8'),
            replyTo: headers['reply-to'],
            session,
          });
        } else if (subscribers.length === 0) {
          connection.send(errorFrame('Subscription not available'));
        }
        return;
      }
      default:
        connection.close();
    }
  }
}

function encodeErrorFrame(message: string): Buffer {
  return encodeFrame({ command: 'ERROR', headers: { message }, body: Buffer.from(message) });
}
