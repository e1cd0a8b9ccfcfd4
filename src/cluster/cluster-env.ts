/**
 * Each cluster process's environment and command line, derived from its compose service: the
 * service's own environment and files, with only addresses, ports, data directories and the
 * locations of binaries replaced by their loopback counterparts. test/compose.test.ts checks that
 * nothing else differs, so what the cluster test proves is what compose ships.
 */
import { basename, join } from 'node:path';
import type { ComposeProject, ComposeService } from './compose';

/** Where every listener of the cluster is. */
export interface ClusterPorts {
  postgres: number;
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  /** Temporal's internal worker service. */
  worker: number;
  workerMembership: number;
  ui: number;
  /** The SPM host of the simulator; the other fixture hosts listen on the next ports. */
  vdsm: number;
  vdsmControl: number;
  /** The first ovirt-tasks worker's /metrics; the next workers use the next ports. */
  workerMetrics: number;
}

/** Binaries and files found by scripts/ensure-temporal-server.sh, ensure-temporal.sh, ensure-postgres.sh. */
export interface ClusterTools {
  server: string;
  sqlTool: string;
  schemaDir: string;
  uiServer: string;
  uiConfigDir: string;
  temporalCli: string;
  /** PostgreSQL's bin dir (initdb, postgres, psql). */
  pgBin: string;
}

export interface ClusterLayout {
  compose: ComposeProject;
  ports: ClusterPorts;
  dataDir: string;
  tools: ClusterTools;
  /** The environment the helper scripts run in (PATH and the like); compose's values go on top. */
  baseEnv: NodeJS.ProcessEnv;
}

export const LOOPBACK = '127.0.0.1';
/** The image's working directory: relative paths in the temporal service's environment start here. */
const TEMPORAL_IMAGE_WORKDIR = '/etc/temporal';

export const TEMPORAL_SERVICES = ['history', 'matching', 'frontend', 'worker'] as const;
export type TemporalService = (typeof TEMPORAL_SERVICES)[number];

export interface ProcessSpec {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

function withPath(base: NodeJS.ProcessEnv, ...dirs: string[]): NodeJS.ProcessEnv {
  return { ...base, PATH: [...dirs, base.PATH ?? '/usr/bin:/bin'].join(':') };
}

/** A one-off compose service (`entrypoint: [/bin/sh]`, `command: [<script>]`) as a host command. */
function scriptSpec(layout: ClusterLayout, service: ComposeService, env: NodeJS.ProcessEnv): ProcessSpec {
  const [script, ...args] = service.command;
  if (!script) throw new Error(`compose service ${service.name} has no command`);
  return { command: 'sh', args: [layout.compose.hostPath(service, script), ...args], env };
}

export function postgresSettings(layout: ClusterLayout): {
  superuser: string;
  password: string;
  /** Scripts the postgres image runs when it creates its data directory. */
  initScripts: string[];
  initEnv: NodeJS.ProcessEnv;
} {
  const svc = layout.compose.service('postgresql');
  const superuser = svc.environment.POSTGRES_USER ?? 'postgres';
  const password = svc.environment.POSTGRES_PASSWORD ?? '';
  const initScripts = svc.mounts
    .filter((m) => m.container.startsWith('/docker-entrypoint-initdb.d/'))
    .map((m) => m.host);
  return {
    superuser,
    password,
    initScripts,
    // The image runs them with psql on its local socket; here psql reaches the server by TCP.
    initEnv: {
      ...withPath(layout.baseEnv, layout.tools.pgBin),
      ...svc.environment,
      PGHOST: LOOPBACK,
      PGPORT: String(layout.ports.postgres),
      PGPASSWORD: password,
    },
  };
}

export function schemaSetupSpec(layout: ClusterLayout): ProcessSpec {
  const svc = layout.compose.service('temporal-admin-tools');
  return scriptSpec(layout, svc, {
    ...layout.baseEnv,
    ...svc.environment,
    POSTGRES_SEEDS: LOOPBACK,
    DB_PORT: String(layout.ports.postgres),
    TEMPORAL_SQL_TOOL: layout.tools.sqlTool,
    TEMPORAL_SCHEMA_DIR: layout.tools.schemaDir,
  });
}

export function temporalServiceSpec(layout: ClusterLayout, service: TemporalService): ProcessSpec {
  const svc = layout.compose.service('temporal');
  const env = svc.environment;
  const { ports } = layout;
  const hostPath = (key: string): string => {
    const value = env[key];
    if (!value) throw new Error(`compose service temporal sets no ${key}`);
    return layout.compose.hostPath(svc, value, TEMPORAL_IMAGE_WORKDIR);
  };
  return {
    command: layout.tools.server,
    // The image's start script: `temporal-server --env docker start`, one --service each here.
    args: ['--env', 'docker', 'start', '--service', service],
    env: {
      ...layout.baseEnv,
      ...env,
      TEMPORAL_ROOT: '/',
      TEMPORAL_CONFIG_DIR: hostPath('TEMPORAL_CONFIG_DIR'),
      DYNAMIC_CONFIG_FILE_PATH: hostPath('DYNAMIC_CONFIG_FILE_PATH'),
      POSTGRES_SEEDS: LOOPBACK,
      DB_PORT: String(ports.postgres),
      BIND_ON_IP: LOOPBACK,
      TEMPORAL_BROADCAST_ADDRESS: LOOPBACK,
      FRONTEND_GRPC_PORT: String(ports.frontend),
      FRONTEND_HTTP_PORT: String(ports.frontendHttp),
      FRONTEND_MEMBERSHIP_PORT: String(ports.frontendMembership),
      HISTORY_GRPC_PORT: String(ports.history),
      HISTORY_MEMBERSHIP_PORT: String(ports.historyMembership),
      MATCHING_GRPC_PORT: String(ports.matching),
      MATCHING_MEMBERSHIP_PORT: String(ports.matchingMembership),
      WORKER_GRPC_PORT: String(ports.worker),
      WORKER_MEMBERSHIP_PORT: String(ports.workerMembership),
    },
  };
}

export function frontendAddress(layout: ClusterLayout): string {
  return `${LOOPBACK}:${layout.ports.frontend}`;
}

export function namespaceSetupSpec(layout: ClusterLayout): ProcessSpec {
  const svc = layout.compose.service('temporal-create-namespace');
  // The script calls `temporal` (the admin-tools image has it on PATH).
  return scriptSpec(layout, svc, {
    ...withPath(layout.baseEnv, join(layout.tools.temporalCli, '..')),
    ...svc.environment,
    TEMPORAL_ADDRESS: frontendAddress(layout),
  });
}

export function namespaceOf(layout: ClusterLayout): string {
  return layout.compose.service('temporal-create-namespace').environment.DEFAULT_NAMESPACE ?? 'default';
}

export function uiSpec(layout: ClusterLayout): ProcessSpec {
  const svc = layout.compose.service('temporal-ui');
  return {
    command: layout.tools.uiServer,
    // The temporalio/ui image's start script: `ui-server --env docker start` with config/docker.yaml.
    args: ['--root', '/', '--config', layout.tools.uiConfigDir, '--env', 'docker', 'start'],
    env: {
      ...layout.baseEnv,
      ...svc.environment,
      TEMPORAL_ADDRESS: frontendAddress(layout),
      TEMPORAL_UI_PORT: String(layout.ports.ui),
    },
  };
}

/** Replaces the value of each `--flag value` pair named in `values`, appending those not present. */
export function withFlags(args: string[], values: Record<string, string>): string[] {
  const out = [...args];
  for (const [flag, value] of Object.entries(values)) {
    const at = out.indexOf(flag);
    if (at >= 0 && at + 1 < out.length) out[at + 1] = value;
    else out.push(flag, value);
  }
  return out;
}

/** Local stand-ins for compose's vdsm-ca, vdsm-sim-pki and worker-pki volumes. */
export function pkiDirs(layout: ClusterLayout): { ca: string; sim: string; worker: string } {
  const base = join(layout.dataDir, 'pki');
  return { ca: join(base, 'ca'), sim: join(base, 'vdsm-sim'), worker: join(base, 'worker') };
}

/** Compose's vdsm-pki job: its script on the local directories (one user here: no owner). */
export function pkiSetupSpec(layout: ClusterLayout): ProcessSpec {
  const svc = layout.compose.service('vdsm-pki');
  const dirs = pkiDirs(layout);
  const [script] = svc.command;
  if (!script) throw new Error('compose service vdsm-pki has no command');
  return {
    command: 'sh',
    args: [layout.compose.hostPath(svc, script), dirs.ca, dirs.sim, dirs.worker],
    env: { ...layout.baseEnv },
  };
}

/** Compose's certificate paths (files in a pki volume) in the local directory standing for it. */
function localPkiFlags(args: string[], dir: string): Record<string, string> {
  const flags: Record<string, string> = {};
  for (const flag of ['--tls-cert', '--tls-key', '--tls-ca']) {
    const at = args.indexOf(flag);
    if (at >= 0 && args[at + 1]) flags[flag] = join(dir, basename(args[at + 1]!));
  }
  return flags;
}

/** `ovirt-tasks <compose command>` arguments of the simulator. */
export function simulatorArgs(layout: ClusterLayout): string[] {
  const svc = layout.compose.service('vdsm-sim');
  return withFlags(svc.command, {
    '--host': LOOPBACK,
    '--port': String(layout.ports.vdsm),
    '--data': join(layout.dataDir, 'vdsm'),
    // Not in compose (loopback only, no authentication): the cluster test reads counters and tasks.
    '--control-port': String(layout.ports.vdsmControl),
    ...localPkiFlags(svc.command, pkiDirs(layout).sim),
  });
}

export function inventoryUrl(layout: ClusterLayout): string {
  const url = new URL(
    layout.compose.service('ovirt-tasks-worker').environment.OVIRT_TASKS_INVENTORY_URL ?? '',
  );
  url.hostname = LOOPBACK;
  url.port = String(layout.ports.postgres);
  return url.toString();
}

/** The environment of an `ovirt-tasks worker` process (its command is compose's too). */
/** The environment of ovirt-tasks worker number `index` (from 0): each serves /metrics on a port of its own. */
export function workerEnv(layout: ClusterLayout, index = 0): NodeJS.ProcessEnv {
  const svc = layout.compose.service('ovirt-tasks-worker');
  const tls: NodeJS.ProcessEnv = {};
  for (const key of ['VDSM_TLS_CERT', 'VDSM_TLS_KEY', 'VDSM_TLS_CA']) {
    const path = svc.environment[key];
    if (path) tls[key] = join(pkiDirs(layout).worker, basename(path));
  }
  return {
    ...layout.baseEnv,
    ...svc.environment,
    TEMPORAL_ADDRESS: frontendAddress(layout),
    OVIRT_TASKS_INVENTORY_URL: inventoryUrl(layout),
    OVIRT_TASKS_SEED_VDSM_ADDRESS: LOOPBACK,
    OVIRT_TASKS_SEED_VDSM_BASE_PORT: String(layout.ports.vdsm),
    OVIRT_TASKS_METRICS_ADDRESS: `${LOOPBACK}:${layout.ports.workerMetrics + index}`,
    ...tls,
  };
}

export function workerArgs(layout: ClusterLayout): string[] {
  return layout.compose.service('ovirt-tasks-worker').command;
}
