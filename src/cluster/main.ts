/**
 * `npm run cluster` (scripts/cluster.sh runs the compiled lib/cluster/main.js): the production shape
 * on loopback until Ctrl-C or SIGTERM, then every process it started is stopped. Flags:
 * `--data DIR` (default .data/cluster), `--free-ports` (any free port instead of the defaults).
 */
import { join, resolve } from 'node:path';
import { firstShutdownSignal } from '../cli/signals';
import { projectRoot } from '../dev/project-root';
import { startCluster, type Cluster } from './cluster';
import { TEMPORAL_SERVICES } from './cluster-env';

function parseArgs(argv: string[]): { dataDir: string; freePorts: boolean } {
  let dataDir = join(projectRoot(), '.data', 'cluster');
  let freePorts = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--data' && argv[i + 1]) dataDir = resolve(argv[++i]!);
    else if (arg === '--free-ports') freePorts = true;
    else {
      console.error(
        `cluster: unknown argument ${arg} (usage: npm run cluster -- [--data DIR] [--free-ports])`,
      );
      process.exit(2);
    }
  }
  return { dataDir, freePorts };
}

function describe(cluster: Cluster): string[] {
  const p = cluster.ports;
  return [
    `PostgreSQL          127.0.0.1:${p.postgres} (databases temporal, temporal_visibility, ovirt_tasks)`,
    ...TEMPORAL_SERVICES.map(
      (s) =>
        `Temporal ${s.padEnd(10)} process group ${cluster.temporal[s].pid}, log ${cluster.temporal[s].logFile}`,
    ),
    `Temporal frontend   ${cluster.frontendAddress} (gRPC), http://127.0.0.1:${p.frontendHttp} (HTTP); namespace ${cluster.namespace}`,
    `Web UI              ${cluster.uiUrl ?? '(off)'}`,
    `VDSM simulator      127.0.0.1:${p.vdsm} and the next ports; control ${cluster.simulatorControlUrl}`,
    ...cluster.workers.map((w) => `ovirt-tasks ${w.name.padEnd(8)} process group ${w.pid}, log ${w.logFile}`),
    `inventory           ${cluster.inventoryUrl.replace(/:[^:@/]*@/, ':***@')}`,
    `client commands     TEMPORAL_ADDRESS=${cluster.frontendAddress} OVIRT_TASKS_INVENTORY_URL=<inventory>${cluster.uiUrl ? ` OVIRT_TASKS_UI_URL=${cluster.uiUrl}` : ''} node bin/ovirt-tasks list`,
    `state and logs      ${cluster.dataDir}`,
  ];
}

async function main(): Promise<void> {
  const { dataDir, freePorts } = parseArgs(process.argv.slice(2));
  const shutdown = firstShutdownSignal();
  let up = false;
  void shutdown.then((signal) => {
    if (up) return;
    // Mid-start: exiting closes every watchdog's pipe, which stops each process started so far.
    console.log(`cluster: ${signal} while starting, stopping`);
    process.exit(130);
  });
  const cluster = await startCluster({ dataDir, freePorts, log: (line) => console.log(`cluster: ${line}`) });
  up = true;
  for (const line of describe(cluster)) console.log(line);
  console.log('cluster: running; Ctrl-C stops every process');
  let stopping = false;
  for (const proc of [
    cluster.postgres,
    ...Object.values(cluster.temporal),
    cluster.simulator,
    ...cluster.workers,
  ])
    proc.onExit((status) => {
      if (!stopping) console.error(`cluster: ${proc.name} exited (status ${status}); see ${proc.logFile}`);
    });
  const signal = await shutdown;
  stopping = true;
  console.log(`cluster: ${signal}, stopping`);
  await cluster.stop();
  console.log('cluster: stopped');
}

main().catch((err: unknown) => {
  console.error(`cluster: ${(err as Error).message}`);
  process.exit(1);
});
