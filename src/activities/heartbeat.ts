import { Context } from '@temporalio/activity';

/**
 * Heartbeats every third of the activity's heartbeat timeout until the returned function is
 * called: the activity is alive while it waits or works, and a dead worker is noticed within the
 * timeout instead of the (much longer) start-to-close timeout.
 */
export function keepHeartbeating(details: () => unknown): () => void {
  const ctx = Context.current();
  const timer = setInterval(
    () => ctx.heartbeat(details()),
    Math.max(1_000, Math.floor((ctx.info.heartbeatTimeoutMs ?? 30_000) / 3)),
  );
  return () => clearInterval(timer);
}
