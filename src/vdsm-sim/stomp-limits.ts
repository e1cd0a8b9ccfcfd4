/**
 * What one peer may cost a simulated VDSM listener. VDSM's broker (yajsonrpc stomp.py,
 * stompserver.py) has no limits at all: its parser buffers whatever arrives and any connection
 * may subscribe without end. These are tighter, sized from what the engine (and our worker)
 * actually sends, with a wide margin; src/vdsm-sim/README.md explains each.
 *
 * Worst case held per listener: maxConnections × (maxFrameBytes + maxOutboundBytes) ≈ 384 MiB,
 * and only when every slot is taken by a peer that sends large frames and never reads.
 */
export interface StompServerLimits {
  /** One inbound frame, headers and body. Engine requests are a few KiB (a pool connect with 50 domains ~5 KiB). */
  maxFrameBytes: number;
  /** Headers per frame. A SEND carries 5. */
  maxHeaders: number;
  /** One command or header line (a destination, a uuid reply queue, a correlation id). */
  maxHeaderLineBytes: number;
  /** Subscriptions per connection. The engine makes 2 (its reply queue and events). */
  maxSubscriptionsPerConnection: number;
  /** Open sockets per listener, mid-handshake ones included. One per worker process and host. */
  maxConnections: number;
  /** Answers and events queued for a peer that does not read; over it, the peer is dropped. */
  maxOutboundBytes: number;
  /** From accept until CONNECT (TLS handshake and protocol detection included). */
  connectTimeoutMs: number;
  /** A CONNECTed peer that negotiated no heart-beat must still send something this often; heart-beats are capped at it. */
  idleTimeoutMs: number;
}

export const DEFAULT_STOMP_SERVER_LIMITS: Readonly<StompServerLimits> = Object.freeze({
  maxFrameBytes: 1024 * 1024,
  maxHeaders: 32,
  maxHeaderLineBytes: 8 * 1024,
  maxSubscriptionsPerConnection: 100,
  maxConnections: 128,
  maxOutboundBytes: 2 * 1024 * 1024,
  connectTimeoutMs: 20_000,
  idleTimeoutMs: 5 * 60_000,
});
