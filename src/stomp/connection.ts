import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { encodeFrame, type ParserLimits, StompParser, StompProtocolError, type StompFrame } from './frame';

/**
 * A peer silent for `expectEveryMs * HEARTBEAT_GRACE` is considered dead. STOMP 1.2 leaves the
 * margin to the implementation; 1.5 absorbs timer jitter and one late beat without hiding a dead peer.
 */
export const HEARTBEAT_GRACE = 1.5;
/** After close(), how long the peer gets to finish the TCP close before the socket is destroyed. */
const CLOSE_LINGER_MS = 1000;

const HEARTBEAT_EOL = Buffer.from('\n');

export class StompHeartbeatTimeoutError extends Error {
  override readonly name = 'StompHeartbeatTimeoutError';
}

/** The peer sent nothing within the idle limit set by expectTrafficWithin(). */
export class StompIdleTimeoutError extends Error {
  override readonly name = 'StompIdleTimeoutError';
}

export interface StompConnectionOptions {
  limits?: ParserLimits;
  /**
   * Server side: a frame the parser refuses (malformed or over a limit) is answered with an ERROR
   * frame naming the reason before the connection closes, as STOMP 1.2 asks of servers. A client
   * never sends ERROR, so it just drops the connection.
   */
  answerProtocolErrors?: boolean;
}

export interface StompConnectionEvents {
  frame: [frame: StompFrame];
  /** Protocol error, socket error or heart-beat timeout; 'close' follows. */
  error: [err: Error];
  close: [];
}

/**
 * STOMP framing over one socket (net.Socket or tls.TLSSocket). Emits 'frame', 'error' (always
 * followed by 'close') and 'close' (once). Like any EventEmitter, an 'error' without listener
 * throws: owners must listen.
 */
export class StompConnection extends EventEmitter<StompConnectionEvents> {
  private readonly parser: StompParser;
  private lastReceivedAt = Date.now();
  private lastSentAt = Date.now();
  private sendTimer: NodeJS.Timeout | undefined;
  private expectTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private isClosed = false;
  /** close() or closeWithError() was called: nothing more is read or sent. */
  private closing = false;
  private readonly answerProtocolErrors: boolean;

  constructor(
    readonly socket: Socket,
    options: StompConnectionOptions = {},
  ) {
    super();
    this.parser = new StompParser(options.limits);
    this.answerProtocolErrors = options.answerProtocolErrors ?? false;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.emit('error', err));
    socket.on('close', () => this.onClose());
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Bytes held for a frame still being received (0 once closed). */
  get bufferedBytes(): number {
    return this.parser.bufferedBytes;
  }

  /**
   * Writes one frame. Once the connection is closed it writes nothing and returns false (the owner
   * also learns of the close from 'close'); callers that await an answer must check the result.
   */
  send(frame: StompFrame): boolean {
    if (this.isClosed || this.closing || this.socket.destroyed) return false;
    this.socket.write(encodeFrame(frame));
    this.lastSentAt = Date.now();
    return true;
  }

  /**
   * `sendEveryMs`: we write an EOL whenever we have been idle that long (checked every half
   * period, so the peer never waits much more than `sendEveryMs`). `expectEveryMs`: the peer must
   * send something (frame or EOL) at least that often; after `expectEveryMs * HEARTBEAT_GRACE` of
   * silence we emit StompHeartbeatTimeoutError and destroy the socket. 0 disables either side.
   */
  startHeartbeats(sendEveryMs: number, expectEveryMs: number): void {
    this.stopHeartbeats();
    if (this.isClosed) return;
    const now = Date.now();
    this.lastSentAt = now;
    this.lastReceivedAt = now;
    if (sendEveryMs > 0) {
      const checkEveryMs = Math.max(1, Math.floor(sendEveryMs / 2));
      this.sendTimer = setInterval(() => {
        if (Date.now() - this.lastSentAt >= checkEveryMs && !this.socket.destroyed) {
          this.socket.write(HEARTBEAT_EOL);
          this.lastSentAt = Date.now();
        }
      }, checkEveryMs);
      this.sendTimer.unref();
    }
    if (expectEveryMs > 0) {
      const deadlineMs = expectEveryMs * HEARTBEAT_GRACE;
      this.expectTimer = setInterval(
        () => {
          const silentMs = Date.now() - this.lastReceivedAt;
          if (silentMs > deadlineMs) {
            this.fail(
              new StompHeartbeatTimeoutError(
                `peer silent for ${silentMs} ms (heart-beat ${expectEveryMs} ms)`,
              ),
            );
          }
        },
        Math.max(1, Math.floor(expectEveryMs / 2)),
      );
      this.expectTimer.unref();
    }
  }

  /**
   * The peer must send something (a frame or an EOL) at least every `ms`, with no grace: for a
   * connection that negotiated no incoming heart-beat, so an idle peer cannot hold a slot forever.
   * Expiry emits StompIdleTimeoutError and destroys the socket. 0 disables it.
   */
  expectTrafficWithin(ms: number): void {
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = undefined;
    if (ms <= 0 || this.isClosed) return;
    this.lastReceivedAt = Date.now();
    this.idleTimer = setInterval(
      () => {
        const silentMs = Date.now() - this.lastReceivedAt;
        if (silentMs >= ms)
          this.fail(new StompIdleTimeoutError(`peer idle for ${silentMs} ms (limit ${ms} ms)`));
      },
      Math.max(1, Math.floor(ms / 4)),
    );
    this.idleTimer.unref();
  }

  /** Graceful close: pending writes are flushed, then the socket ends. */
  close(): void {
    if (this.isClosed || this.closing) return;
    this.closing = true;
    this.stopTimers();
    this.parser.release();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_LINGER_MS).unref();
  }

  /** A server's goodbye: an ERROR frame (`message` header and body), then a graceful close. */
  closeWithError(message: string): void {
    if (this.isClosed || this.closing || this.socket.destroyed) return;
    this.send(errorFrame(message));
    this.close();
  }

  destroy(err?: Error): void {
    this.stopTimers();
    this.parser.release();
    this.socket.destroy(err);
  }

  private onData(chunk: Buffer): void {
    // After close() the rest of the stream is moot (and must not refill the parser).
    if (this.closing) return;
    this.lastReceivedAt = Date.now();
    let parsed;
    try {
      parsed = this.parser.push(chunk);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      if (this.answerProtocolErrors && err instanceof StompProtocolError) {
        // The owner hears why (its 'error' listener), the peer gets the reason in an ERROR frame.
        this.emit('error', error);
        this.closeWithError(error.message);
      } else {
        this.fail(error);
      }
      return;
    }
    for (const item of parsed) {
      // A listener may close us while we deliver a batch; later frames are moot then.
      if (this.isClosed || this.closing || this.socket.destroyed) return;
      if (item.kind === 'frame') this.emit('frame', item.frame);
    }
  }

  private fail(err: Error): void {
    this.stopTimers();
    this.parser.release();
    if (this.socket.destroyed) return;
    // destroy(err) makes the socket emit 'error' (forwarded above) then 'close'.
    this.socket.destroy(err);
  }

  private onClose(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.stopTimers();
    // A half-received frame (up to maxFrameBytes) must not outlive the socket.
    this.parser.release();
    this.emit('close');
  }

  private stopHeartbeats(): void {
    if (this.sendTimer) clearInterval(this.sendTimer);
    if (this.expectTimer) clearInterval(this.expectTimer);
    this.sendTimer = undefined;
    this.expectTimer = undefined;
  }

  private stopTimers(): void {
    this.stopHeartbeats();
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = undefined;
  }
}

function errorFrame(message: string): StompFrame {
  // A header value is one line: keep the first, bounded, for the header; the body has it all.
  const header = (message.split(/\r?\n/, 1)[0] ?? '').slice(0, 200);
  return { command: 'ERROR', headers: { message: header }, body: Buffer.from(message) };
}

/**
 * Parses a `heart-beat` header ("cx,cy"); absent → [0, 0] (no heart-beats). Malformed values
 * throw, since STOMP 1.2 requires two non-negative integers.
 */
export function parseHeartBeat(value: string | undefined): [number, number] {
  if (value === undefined) return [0, 0];
  const match = /^\s*(\d{1,9})\s*,\s*(\d{1,9})\s*$/.exec(value);
  if (!match) throw new StompProtocolError(`invalid heart-beat header: ${JSON.stringify(value)}`);
  return [Number(match[1]), Number(match[2])];
}
