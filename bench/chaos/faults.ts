/**
 * The faults a scenario injects at seeded moments (worker SIGKILL, Temporal restart, VDSM restart,
 * SPM failover, latency and dropped connections), the healing after them, and the supervisor that
 * restarts a worker that died by itself.
 */
import { sleep } from '../support/stats';
import { startHostilePeer } from './hostile-peer';
import type { WorkerProcess } from '../support/worker-process';
import { poolOf, type ScenarioCtx, type ScenarioName } from './types';

type FaultAction = (ctx: ScenarioCtx) => Promise<string>;

/** SIGKILL a random worker; a new one starts after 1–4 s (it webpacks its workflows first). */
const killWorker: FaultAction = async (ctx) => {
  const alive = ctx.stack.workers.filter((w) => w.running);
  if (alive.length === 0) return 'skipped: no worker running';
  const victim = ctx.rng.pick(alive);
  const pid = victim.pid;
  await victim.kill('SIGKILL');
  const downMs = ctx.rng.int(1_000, 4_000);
  await sleep(downMs);
  await startReplacement(ctx, victim);
  return `SIGKILLed pid ${pid}, replaced after ${downMs} ms`;
};

async function startReplacement(ctx: ScenarioCtx, dead: WorkerProcess): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.stack.replaceWorker(dead);
      ctx.lastRestartAt = Date.now();
      return;
    } catch (err) {
      // The server may be restarting meanwhile: the worker exits 3; try again.
      if (attempt >= 10) throw err;
      ctx.notes.push(`worker start attempt ${attempt} failed: ${(err as Error).message.slice(0, 200)}`);
      await sleep(2_000);
    }
  }
}

const restartTemporal: FaultAction = async (ctx) => {
  const downMs = ctx.rng.int(500, 3_000);
  await ctx.stack.restartServer(downMs);
  ctx.lastRestartAt = Date.now();
  return `dev server stopped, restarted after ${downMs} ms on the same port and db`;
};

const restartVdsm: FaultAction = async (ctx) => {
  const sim = ctx.stack.sim(poolOf(ctx.stack));
  await sim.restart();
  ctx.lastRestartAt = Date.now();
  return 'simulator crashed and restarted from disk';
};

const failover: FaultAction = async (ctx) => {
  const sim = ctx.stack.sim(poolOf(ctx.stack));
  if (!sim.running) return 'skipped: simulator down';
  const { from, to } = await sim.failover();
  const name = (id: string | undefined) => ctx.stack.fixtures[0]!.hosts.find((h) => h.id === id)?.name ?? id;
  return `SPM ${name(from)} → ${name(to)}`;
};

/** Latency and dropped connections for 6–12 s. */
const network: FaultAction = async (ctx) => {
  const sim = ctx.stack.sim(poolOf(ctx.stack));
  const maxLatency = ctx.rng.int(100, 400);
  const probability = Math.round(ctx.rng.between(0.02, 0.08) * 1000) / 1000;
  const forMs = ctx.rng.int(6_000, 12_000);
  sim.setFaults({
    latencyMs: { kind: 'uniform', minMs: 10, maxMs: maxLatency },
    dropConnections: { probability },
  });
  await sleep(forMs);
  sim.setFaults({ latencyMs: null, dropConnections: null });
  return `latency 10–${maxLatency} ms and ${(probability * 100).toFixed(1)}% dropped connections for ${forMs} ms`;
};

/** The hostile peer of hostile-peer.ts against the SPM host, from now to the end of the fault window. */
const hostilePeer: FaultAction = async (ctx) => {
  const fixture = ctx.stack.fixtures[0]!;
  const host = ctx.stack.sim(poolOf(ctx.stack)).hosts.find((h) => h.hostId === fixture.spmHostId);
  if (!host) return 'skipped: no SPM host listening';
  const peer = startHostilePeer(host.port);
  await sleep(Math.max(0, ctx.t0 + ctx.options.faultWindowMs - Date.now()));
  return `against ${host.name} for the fault window: ${await peer.stop()}`;
};

type Scheduled = { name: string; action: FaultAction; atMs?: number };

function scheduleFor(name: ScenarioName): Scheduled[] {
  switch (name) {
    case 'worker-kill':
      return [
        { name: 'kill worker', action: killWorker },
        { name: 'kill worker', action: killWorker },
      ];
    case 'temporal-restart':
      return [{ name: 'restart Temporal', action: restartTemporal }];
    case 'vdsm-restart':
      return [
        { name: 'restart VDSM', action: restartVdsm },
        { name: 'restart VDSM', action: restartVdsm },
      ];
    case 'spm-failover':
      return [
        { name: 'SPM failover', action: failover },
        { name: 'SPM failover', action: failover },
      ];
    case 'network':
      return [{ name: 'latency + drops', action: network }];
    case 'mixed':
      return [
        { name: 'kill worker', action: killWorker },
        { name: 'restart Temporal', action: restartTemporal },
        { name: 'restart VDSM', action: restartVdsm },
        { name: 'SPM failover', action: failover },
        { name: 'latency + drops', action: network },
      ];
    case 'hostile-peer':
      // From the first command on: the slowdown is measured over the whole run.
      return [{ name: 'hostile peer', action: hostilePeer, atMs: 0 }];
  }
}

/** Runs the faults at seeded moments in [1 s, faultWindowMs], one after the other. */
export async function injectFaults(ctx: ScenarioCtx, name: ScenarioName): Promise<void> {
  const planned = scheduleFor(name)
    .map((f) => ({ ...f, atMs: f.atMs ?? ctx.rng.int(1_000, ctx.options.faultWindowMs) }))
    .sort((a, b) => a.atMs - b.atMs);
  for (const fault of planned) {
    const wait = ctx.t0 + fault.atMs - Date.now();
    if (wait > 0) await sleep(wait);
    const atS = Math.round((Date.now() - ctx.t0) / 100) / 10;
    let outcome: string;
    try {
      outcome = await fault.action(ctx);
    } catch (err) {
      outcome = `failed to inject: ${(err as Error).message.slice(0, 200)}`;
    }
    ctx.options.log(`  ${atS}s ${fault.name}: ${outcome}`);
    ctx.faults.push({ atS, fault: fault.name, outcome });
  }
}

/**
 * Submits the commands at seeded moments over the first 80% of the fault window, so that commands
 * are in flight whenever a fault strikes (a few at t=0 so there is load from the start).

/** After the faults: simulator up with no transport faults, every worker slot filled. */
export async function heal(ctx: ScenarioCtx): Promise<void> {
  const sim = ctx.stack.sim(poolOf(ctx.stack));
  sim.setFaults({ latencyMs: null, dropConnections: null });
  if (!sim.running) await sim.restart();
  for (const dead of ctx.stack.workers.filter((w) => !w.running)) await startReplacement(ctx, dead);
  while (ctx.stack.workers.length < ctx.options.workers) await ctx.stack.startWorker();
}

/** Restarts workers that died without being killed, and says so. */
export function superviseWorkers(ctx: ScenarioCtx): () => void {
  let stopped = false;
  const loop = async (): Promise<void> => {
    while (!stopped) {
      for (const w of ctx.stack.workers) {
        if (w.exit && !w.exit.expected) {
          ctx.notes.push(
            `worker ${w.options.name} (pid ${w.pid}) exited by itself (code ${w.exit.code}, signal ${w.exit.signal}); restarted — see ${w.options.logFile}`,
          );
          await startReplacement(ctx, w).catch((err: unknown) =>
            ctx.notes.push(`restart failed: ${String(err)}`),
          );
        }
      }
      await sleep(1_000);
    }
  };
  const running = loop();
  return () => {
    stopped = true;
    void running;
  };
}
