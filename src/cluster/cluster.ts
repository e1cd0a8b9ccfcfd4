/**
 * The production shape on one machine: every compose service as loopback processes. PostgreSQL,
 * Temporal's schema set up by the schema tool, the Temporal services as separate processes
 * (history, matching, frontend, internal worker) from one config file, the namespace and search
 * attributes, the VDSM simulator, `ovirt-tasks worker` processes sharing a PostgreSQL inventory,
 * and the Web UI. Everything runs from the compose file's own scripts, config and environment.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort, isPortFree } from '../dev/ports';
import { projectRoot } from '../dev/project-root';
import {
  frontendAddress,
  inventoryUrl,
  namespaceOf,
  namespaceSetupSpec,
  pkiSetupSpec,
  schemaSetupSpec,
  simulatorArgs,
  temporalServiceSpec,
  TEMPORAL_SERVICES,
  uiSpec,
  workerArgs,
  workerEnv,
  type ClusterLayout,
  type ClusterPorts,
  type ClusterTools,
  type TemporalService,
} from './cluster-env';
import { loadCompose } from './compose';
import { startClusterPostgres, type ClusterPostgres } from './postgres';
import { ClusterProcessError, ManagedProcess, probeHttp, probeTcp, runToEnd } from './process';

/** `npm run cluster`'s ports: compose's published ones, Temporal's defaults, and 5433 for PostgreSQL. */
export const DEFAULT_CLUSTER_PORTS: ClusterPorts = {
  postgres: 5433,
  frontend: 7233,
  frontendHttp: 7243,
  frontendMembership: 6933,
  history: 7234,
  historyMembership: 6934,
  matching: 7235,
  matchingMembership: 6935,
  worker: 7239,
  workerMembership: 6939,
  ui: 8080,
  vdsm: 54321,
  vdsmControl: 54320,
  // Compose publishes the worker's 9464; the cluster's second worker takes 9465.
  workerMetrics: 9464,
};

export interface ClusterOptions {
  /** State (PostgreSQL, the simulator's storage) and logs (<dataDir>/logs). */
  dataDir: string;
  /** Unset ports: the defaults, or free ones with `freePorts`. */
  ports?: Partial<ClusterPorts>;
  freePorts?: boolean;
  /** `ovirt-tasks worker` processes (default 2). */
  workers?: number;
  /** The Web UI (default true). */
  ui?: boolean;
  /** false: PostgreSQL without fsync (a throw-away cluster). Default true. */
  durable?: boolean;
  /** The simulator's --faults (JSON), e.g. task durations for a test. */
  simulatorFaults?: string;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface Cluster {
  ports: ClusterPorts;
  dataDir: string;
  namespace: string;
  /** host:port of the frontend's gRPC. */
  frontendAddress: string;
  uiUrl: string | undefined;
  /** The workers' inventory (the compose worker's URL, on the cluster's PostgreSQL). */
  inventoryUrl: string;
  /** The simulator's loopback control endpoint (counters, tasks). */
  simulatorControlUrl: string;
  postgres: ManagedProcess;
  temporal: Record<TemporalService, ManagedProcess>;
  simulator: ManagedProcess;
  workers: ManagedProcess[];
  ui: ManagedProcess | undefined;
  /** Starts a process of the cluster again (after a kill) and waits until it serves. */
  restart(process: ManagedProcess): Promise<void>;
  /** Stops everything started, in reverse order. Idempotent. */
  stop(): Promise<void>;
}

/** Runs a provisioning script and returns the path it prints (its progress goes to our stderr). */
function provision(root: string, script: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(root, 'scripts', script), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const path = out.trim();
      if (code === 0 && path) resolve(path);
      else reject(new ClusterProcessError(`scripts/${script} ${args.join(' ')} failed (status ${code})`));
    });
  });
}

export async function resolveClusterTools(root = projectRoot()): Promise<ClusterTools> {
  // One after another: the first call may build, and the build serves the next ones.
  const server = await provision(root, 'ensure-temporal-server.sh', 'server');
  const sqlTool = await provision(root, 'ensure-temporal-server.sh', 'sql-tool');
  const schemaDir = await provision(root, 'ensure-temporal-server.sh', 'schema');
  const uiServer = await provision(root, 'ensure-temporal-server.sh', 'ui-server');
  const uiConfigDir = await provision(root, 'ensure-temporal-server.sh', 'ui-config');
  const temporalCli = await provision(root, 'ensure-temporal.sh');
  const pgBin = await provision(root, 'ensure-postgres.sh');
  return { server, sqlTool, schemaDir, uiServer, uiConfigDir, temporalCli, pgBin };
}

/** A free port whose next `span - 1` ports are free too, none of them already `taken`. */
async function freeRun(span: number, taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await freePort();
    const run = Array.from({ length: span }, (_, i) => port + i);
    if (run.some((p) => taken.has(p))) continue;
    if ((await Promise.all(run.map((p) => isPortFree(p)))).every(Boolean)) return port;
  }
}

async function choosePorts(options: ClusterOptions): Promise<ClusterPorts> {
  const ports = { ...DEFAULT_CLUSTER_PORTS, ...options.ports };
  const taken = new Set<number>();
  for (const key of Object.keys(ports) as Array<keyof ClusterPorts>) {
    if (options.ports?.[key] !== undefined || !options.freePorts) continue;
    // The simulator's hosts listen on consecutive ports from its base (3 in the built-in data center),
    // and each worker serves its metrics on the port after the previous one's.
    const span = key === 'vdsm' ? 4 : key === 'workerMetrics' ? Math.max(1, options.workers ?? 2) : 1;
    const port = await freeRun(span, taken);
    for (let i = 0; i < span; i++) taken.add(port + i);
    ports[key] = port;
  }
  for (const [name, port] of Object.entries(ports)) {
    if (!(await isPortFree(port)))
      throw new ClusterProcessError(`port ${port} (${name}) is in use on 127.0.0.1`);
  }
  return ports;
}

async function probeFrontend(address: string, namespace?: string): Promise<void> {
  await probeTcp(Number(address.split(':')[1]));
  const connection = await Connection.connect({ address, connectTimeout: '2s' });
  try {
    await connection.workflowService.getSystemInfo({});
    if (namespace) await connection.workflowService.describeNamespace({ namespace });
  } finally {
    await connection.close();
  }
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const log = options.log ?? (() => undefined);
  const root = projectRoot();
  const tools = await resolveClusterTools(root);
  const ports = await choosePorts(options);
  const dataDir = options.dataDir;
  const logs = join(dataDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const layout: ClusterLayout = {
    compose: loadCompose(root),
    ports,
    dataDir,
    tools,
    baseEnv: { ...process.env },
  };
  const namespace = namespaceOf(layout);
  const address = frontendAddress(layout);
  const started: Array<{ stop(): Promise<void> }> = [];
  const stop = async (): Promise<void> => {
    for (const item of started.splice(0).reverse()) await item.stop();
  };
  const logFile = (name: string): string => join(logs, `${name}.log`);

  try {
    log(`PostgreSQL on 127.0.0.1:${ports.postgres}`);
    const postgres: ClusterPostgres = await startClusterPostgres(layout, {
      durable: options.durable ?? true,
    });
    started.push(postgres);

    log('Temporal schema (deploy/scripts/setup-postgres.sh)');
    await runToEnd('setup-postgres', schemaSetupSpec(layout), logFile('setup-postgres'));

    const temporal = {} as Record<TemporalService, ManagedProcess>;
    for (const service of TEMPORAL_SERVICES) {
      temporal[service] = new ManagedProcess(
        `temporal-${service}`,
        temporalServiceSpec(layout, service),
        logFile(`temporal-${service}`),
      );
    }
    // The internal worker serves no gRPC: only its membership port says it is up.
    const servicePort: Record<TemporalService, number> = {
      frontend: ports.frontend,
      history: ports.history,
      matching: ports.matching,
      worker: ports.workerMembership,
    };
    const serving = async (service: TemporalService): Promise<void> => {
      const proc = temporal[service];
      await proc.waitUntil('its port', () => probeTcp(servicePort[service]));
      if (service === 'frontend')
        await proc.waitUntil('the frontend answering', () => probeFrontend(address));
    };
    log(`Temporal services (${TEMPORAL_SERVICES.join(', ')}), frontend ${address}`);
    // Each process writes the cluster metadata (addresses) when it differs from the config; at once,
    // all but one lose that race and exit. The first one up has written it for the others.
    const [first, ...rest] = TEMPORAL_SERVICES;
    for (const batch of [[first], rest]) {
      for (const service of batch) {
        temporal[service].start();
        started.push(temporal[service]);
      }
      await Promise.all(batch.map(serving));
    }

    log(`namespace ${namespace} and search attributes (deploy/scripts/create-namespace.sh)`);
    await runToEnd('create-namespace', namespaceSetupSpec(layout), logFile('create-namespace'));
    await temporal.frontend.waitUntil(`namespace ${namespace}`, () => probeFrontend(address, namespace));

    log('mTLS certificates of the simulator and the workers (deploy/scripts/vdsm-pki.sh)');
    await runToEnd('vdsm-pki', pkiSetupSpec(layout), logFile('vdsm-pki'));

    const simulatorControlUrl = `http://127.0.0.1:${ports.vdsmControl}`;
    const cli = join(root, 'bin', 'ovirt-tasks');
    const simulator = new ManagedProcess(
      'vdsm-sim',
      {
        command: process.execPath,
        args: [
          cli,
          ...simulatorArgs(layout),
          ...(options.simulatorFaults ? ['--faults', options.simulatorFaults] : []),
        ],
        env: { ...process.env },
      },
      logFile('vdsm-sim'),
    );
    const simulatorUp = (): Promise<void> =>
      simulator.waitUntil('its control endpoint', () => probeHttp(`${simulatorControlUrl}/health`));
    log(`VDSM simulator from 127.0.0.1:${ports.vdsm}`);
    simulator.start();
    started.push(simulator);
    await simulatorUp();

    const workers: ManagedProcess[] = [];
    const workerUp = (worker: ManagedProcess): Promise<void> =>
      worker.waitForOutput(/ovirt-tasks worker polling/);
    for (let i = 1; i <= (options.workers ?? 2); i++) {
      const worker = new ManagedProcess(
        `worker-${i}`,
        { command: process.execPath, args: [cli, ...workerArgs(layout)], env: workerEnv(layout, i - 1) },
        logFile(`worker-${i}`),
      );
      log(`ovirt-tasks ${worker.name} (metrics at http://127.0.0.1:${ports.workerMetrics + i - 1}/metrics)`);
      worker.start();
      started.push(worker);
      workers.push(worker);
      // One at a time: the first seeds the empty inventory, the next finds it seeded.
      await workerUp(worker);
    }

    let ui: ManagedProcess | undefined;
    const uiUrl = options.ui === false ? undefined : `http://localhost:${ports.ui}`;
    const uiUp = (): Promise<void> =>
      ui!.waitUntil('the Web UI', () => probeHttp(`http://127.0.0.1:${ports.ui}/`));
    if (uiUrl) {
      ui = new ManagedProcess('temporal-ui', uiSpec(layout), logFile('temporal-ui'));
      log(`Web UI ${uiUrl}`);
      ui.start();
      started.push(ui);
      await uiUp();
    }

    const ready = new Map<ManagedProcess, () => Promise<void>>([
      [simulator, simulatorUp],
      ...workers.map((w): [ManagedProcess, () => Promise<void>] => [w, () => workerUp(w)]),
      ...TEMPORAL_SERVICES.map((s): [ManagedProcess, () => Promise<void>] => [temporal[s], () => serving(s)]),
      ...(ui ? [[ui, uiUp] as [ManagedProcess, () => Promise<void>]] : []),
    ]);
    return {
      ports,
      dataDir,
      namespace,
      frontendAddress: address,
      uiUrl,
      inventoryUrl: inventoryUrl(layout),
      simulatorControlUrl,
      postgres: postgres.process,
      temporal,
      simulator,
      workers,
      ui,
      async restart(proc) {
        const up = ready.get(proc);
        if (!up) throw new ClusterProcessError(`${proc.name} cannot be restarted`);
        proc.start();
        await up();
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
