/**
 * `ovirt-tasks worker`: a worker configured only from the environment (src/config and the Temporal
 * variables read like the `temporal` CLI), the same image for dev, compose or Cloud, assembled by
 * src/stack like every other stack. Runs until SIGINT/SIGTERM (the Temporal runtime turns them into
 * a graceful shutdown).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../config/config';
import { generateDataCenter, loadFixture } from '../fixture';
import { connectClient, probeTemporal, TemporalUnreachableError } from '../shared/temporal-connection';
import { assembleStack, StackAbortedError } from '../stack';

export async function runWorkerCommand(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadConfig(env);
  // Signals while waiting: the Temporal runtime, which turns them into a graceful shutdown later,
  // has no worker to stop yet, so the wait listens for them itself.
  const stop = untilShutdownSignal();
  let stack;
  try {
    stack = await assembleStack({
      config,
      temporal: { env },
      // OVIRT_TASKS_SEED_VDSM_*: an empty inventory is seeded for a simulator (compose, cluster).
      seed: config.seed && {
        fixtures: [config.fixturePath ? loadFixture(config.fixturePath) : generateDataCenter()],
        ...config.seed,
      },
      telemetry: true,
      beforeConnect: () => waitForTemporal(env, undefined, stop.signal).finally(stop.dispose),
      worker: {},
      janitorSchedules: true,
      log: (line) => console.log(`ovirt-tasks worker ${line}`),
    });
  } catch (err) {
    if (err instanceof StackAbortedError) return;
    throw err;
  } finally {
    stop.dispose();
  }
  try {
    console.log(`ovirt-tasks worker polling task queue ${config.taskQueue} in namespace ${stack.namespace}`);
    await stack.workers[0]!.done;
  } finally {
    await stack.stop();
  }
}

/** While Temporal cannot be reached at start: how often to try again, and to say so again. */
const OUTAGE_RETRY_MS = 5_000;
const OUTAGE_REPEAT_LOG_MS = 60_000;

/** Aborts on the first SIGINT/SIGTERM until disposed. */
function untilShutdownSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/**
 * Resolves true once the Temporal frontend answers, false if `signal` aborts first. Probed first,
 * so an outage is logged at once (the worker's own connection retries quietly: a frozen server
 * showed up in the log 37 s later), then again every minute while it lasts; a worker started
 * before its server waits for it.
 */
export async function waitForTemporal(
  env: NodeJS.ProcessEnv,
  log: (line: string) => void = (line) => console.error(line),
  signal?: AbortSignal,
): Promise<boolean> {
  let downSince: number | undefined;
  let lastLog = 0;
  for (;;) {
    if (signal?.aborted) return false;
    try {
      const { connection } = await connectClient({ env });
      try {
        await probeTemporal(connection);
      } finally {
        await connection.close();
      }
      if (downSince !== undefined)
        log(
          `ovirt-tasks worker: Temporal answers again after ${Math.round((Date.now() - downSince) / 1000)} s`,
        );
      return true;
    } catch (err) {
      if (!(err instanceof TemporalUnreachableError)) throw err;
      const now = Date.now();
      downSince ??= now;
      if (now - lastLog >= OUTAGE_REPEAT_LOG_MS || lastLog === 0) {
        log(
          `ovirt-tasks worker: ${err.message}; retrying every ${OUTAGE_RETRY_MS / 1000} s until it answers`,
        );
        lastLog = now;
      }
      await sleep(OUTAGE_RETRY_MS, undefined, { signal }).catch(() => undefined);
    }
  }
}
