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
  private isClosed = false;

  constructor(
    readonly socket: Socket,
    limits?: ParserLimits,
  ) {
    super();
    this.parser = new StompParser(limits);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.emit('error', err));
    socket.on('close', () => this.onClose());
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Writes one frame. Once the connection is closed it writes nothing and returns false (the owner
   * also learns of the close from 'close'); callers that await an answer must check the result.
   */
  send(frame: StompFrame): boolean {
    if (this.isClosed || this.socket.destroyed) return false;
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

  /** Graceful close: pending writes are flushed, then the socket ends. */
  close(): void {
    if (this.isClosed) return;
    this.stopHeartbeats();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_LINGER_MS).unref();
  }

  destroy(err?: Error): void {
    this.stopHeartbeats();
    this.socket.destroy(err);
  }

  private onData(chunk: Buffer): void {
    this.lastReceivedAt = Date.now();
    let parsed;
    try {
      parsed = this.parser.push(chunk);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    for (const item of parsed) {
      // A listener may close us while we deliver a batch; later frames are moot then.
      if (this.isClosed || this.socket.destroyed) return;
      if (item.kind === 'frame') this.emit('frame', item.frame);
    }
  }

  private fail(err: Error): void {
    this.stopHeartbeats();
    if (this.socket.destroyed) return;
    // destroy(err) makes the socket emit 'error' (forwarded above) then 'close'.
    this.socket.destroy(err);
  }

  private onClose(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.stopHeartbeats();
    this.emit('close');
  }

  private stopHeartbeats(): void {
    if (this.sendTimer) clearInterval(this.sendTimer);
    if (this.expectTimer) clearInterval(this.expectTimer);
    this.sendTimer = undefined;
    this.expectTimer = undefined;
  }
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
