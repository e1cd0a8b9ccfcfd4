/**
 * Test helpers for the VDSM simulator: a raw STOMP client speaking exact frames, and a small
 * JSON-RPC caller on top of it. Not a test file (no `.test.ts`).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { encodeFrame, StompParser, type StompFrame } from '../src/stomp';

export const REQUESTS = 'jms.topic.vdsm_requests';
export const EVENTS = 'jms.queue.events';

export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns a value other than undefined/false. */
export async function eventually<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 3000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}

export function frame(command: string, headers: Record<string, string> = {}, body = ''): StompFrame {
  return { command, headers, body: Buffer.from(body) };
}

/** A STOMP peer that records every frame and heart-beat it receives. */
export class RawStomp {
  readonly frames: StompFrame[] = [];
  heartbeats = 0;
  closed = false;
  readonly closedPromise: Promise<void>;
  private readonly parser = new StompParser();
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: Socket) {
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        this.closed = true;
        this.notify();
        resolve();
      });
    });
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const item of this.parser.push(chunk)) {
          if (item.kind === 'heartbeat') this.heartbeats += 1;
          else this.frames.push(item.frame);
        }
      } catch {
        socket.destroy();
      }
      this.notify();
    });
  }

  static open(port: number, tls?: ConnectionOptions): Promise<RawStomp> {
    return new Promise((resolve, reject) => {
      const socket = tls
        ? tlsConnect({ host: '127.0.0.1', port, ...tls })
        : netConnect({ host: '127.0.0.1', port });
      const ready = tls ? 'secureConnect' : 'connect';
      socket.once(ready, () => {
        socket.off('error', reject);
        resolve(new RawStomp(socket));
      });
      socket.once('error', reject);
    });
  }

  /** CONNECT (1.2) and wait for CONNECTED. */
  static async connected(
    port: number,
    headers: Record<string, string> = {},
    tls?: ConnectionOptions,
  ): Promise<RawStomp> {
    const peer = await RawStomp.open(port, tls);
    peer.send(frame('CONNECT', { 'accept-version': '1.2', host: 'localhost', ...headers }));
    await peer.next((f) => f.command === 'CONNECTED');
    return peer;
  }

  send(f: StompFrame): void {
    this.socket.write(encodeFrame(f));
  }

  writeRaw(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The first not yet taken frame matching `match` (frames taken are removed). */
  async next(match: (f: StompFrame) => boolean = () => true, timeoutMs = 3000): Promise<StompFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex(match);
      if (index >= 0) return this.frames.splice(index, 1)[0]!;
      if (this.closed) throw new Error('connection closed while waiting for a frame');
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no matching frame within ${timeoutMs} ms (got ${this.frames.map((f) => f.command).join(', ') || 'nothing'})`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves true if the server closes the connection within `timeoutMs`. */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    return Promise.race([this.closedPromise.then(() => true), sleep(timeoutMs).then(() => false)]);
  }

  close(): void {
    this.socket.destroy();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

export interface RpcAnswer {
  jsonrpc: '2.0';
  id: string | number | null;
  result?: unknown;
  error?: { code: number; message: string };
}

/** JSON-RPC over a RawStomp connection subscribed to its own reply queue (and to events). */
export class RpcPeer {
  readonly replyQueue = `reply-${randomUUID()}`;
  private nextId = 1;

  private constructor(readonly stomp: RawStomp) {}

  static async open(port: number, tls?: ConnectionOptions): Promise<RpcPeer> {
    const stomp = await RawStomp.connected(port, {}, tls);
    const peer = new RpcPeer(stomp);
    stomp.send(frame('SUBSCRIBE', { destination: peer.replyQueue, id: 'replies', ack: 'auto' }));
    stomp.send(frame('SUBSCRIBE', { destination: EVENTS, id: 'events', ack: 'auto' }));
    return peer;
  }

  /** Sends one request and returns its answer envelope. */
  async request(method: string, params: unknown = {}, timeoutMs = 3000): Promise<RpcAnswer> {
    const id = `req-${this.nextId++}`;
    this.sendBody(JSON.stringify({ jsonrpc: '2.0', method, params, id }));
    const reply = await this.stomp.next(
      (f) =>
        f.command === 'MESSAGE' &&
        f.headers.subscription === 'replies' &&
        (JSON.parse(f.body.toString()) as RpcAnswer).id === id,
      timeoutMs,
    );
    return JSON.parse(reply.body.toString()) as RpcAnswer;
  }

  /** The result, or throws `Error("<code>: <message>")` with `code` set. */
  async call<T = unknown>(method: string, params: unknown = {}): Promise<T> {
    const answer = await this.request(method, params);
    if (answer.error)
      throw Object.assign(new Error(`${answer.error.code}: ${answer.error.message}`), {
        code: answer.error.code,
        vdsmMessage: answer.error.message,
      });
    return answer.result as T;
  }

  /** The error of a call that must fail. */
  async error(method: string, params: unknown = {}): Promise<{ code: number; message: string }> {
    const answer = await this.request(method, params);
    if (!answer.error) throw new Error(`${method} succeeded: ${JSON.stringify(answer.result)}`);
    return answer.error;
  }

  sendBody(body: string, headers: Record<string, string> = {}): void {
    this.stomp.send(
      frame(
        'SEND',
        {
          destination: REQUESTS,
          'reply-to': this.replyQueue,
          'content-type': 'application/json',
          ...headers,
        },
        body,
      ),
    );
  }

  async nextEvent(
    method: string,
    timeoutMs = 3000,
  ): Promise<{ method: string; params: Record<string, unknown> }> {
    const event = await this.stomp.next(
      (f) =>
        f.command === 'MESSAGE' &&
        f.headers.destination === EVENTS &&
        (JSON.parse(f.body.toString()) as { method: string }).method === method,
      timeoutMs,
    );
    return JSON.parse(event.body.toString()) as { method: string; params: Record<string, unknown> };
  }

  /** Events of `method` received so far (not taken). */
  events(method: string): Array<{ method: string; params: Record<string, unknown> }> {
    return this.stomp.frames
      .filter((f) => f.command === 'MESSAGE' && f.headers.destination === EVENTS)
      .map((f) => JSON.parse(f.body.toString()) as { method: string; params: Record<string, unknown> })
      .filter((e) => e.method === method);
  }

  close(): void {
    this.stomp.close();
  }
}
