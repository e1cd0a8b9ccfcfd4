import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { buildProgram } from '../src/cli/program';
import {
  namespaceSetupSpec,
  pkiDirs,
  pkiSetupSpec,
  postgresSettings,
  schemaSetupSpec,
  simulatorArgs,
  TEMPORAL_SERVICES,
  temporalServiceSpec,
  uiSpec,
  withFlags,
  workerArgs,
  workerEnv,
  type ClusterLayout,
  type ClusterPorts,
  type ClusterTools,
} from '../src/cluster/cluster-env';
import { loadCompose } from '../src/cluster/compose';
import { loadConfig } from '../src/config/config';
import { projectRoot } from '../src/dev/project-root';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../src/shared/search-attributes';
import { generateDataCenter } from '../src/fixture';
import { createVdsmConnector, VdsmRpcChannel, VdsmTransportError } from '../src/vdsm';
import { startSimulator } from '../src/vdsm-sim';

/** No Docker engine here: the compose file is checked statically, against the code it must match. */
interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

const root = projectRoot();
// merge: compose honours YAML `<<:` merge keys.
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;

function service(name: string): Service {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

/** Compose's `${VAR:-default}` with nothing set, as on a fresh machine. */
function withDefaults(value: string): string {
  return value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
}

/** Host path of a `./host:/container[:ro]` bind mount onto `containerPath`. */
function hostPathMountedAt(svc: Service, containerPath: string): string | undefined {
  const mount = svc.volumes
    ?.map((v) => v.split(':'))
    .find(([host, target]) => host?.startsWith('./') && target === containerPath);
  return mount?.[0] ? join(root, mount[0]) : undefined;
}

describe('docker-compose.yml', () => {
  it('has the production-like services', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'ovirt-tasks-worker',
        'postgresql',
        'temporal',
        'temporal-admin-tools',
        'temporal-create-namespace',
        'temporal-ui',
        'vdsm-pki',
        'vdsm-sim',
      ].sort(),
    );
  });

  it('pins every pulled image, matching server 1.29.x and UI 2.42.x, and never uses the deprecated auto-setup', () => {
    for (const [name, svc] of Object.entries(services)) {
      if (svc.build !== undefined) continue; // built from this repository, not pulled
      const image = svc.image ?? '';
      expect(`${name}: ${image}`).toMatch(/:[0-9][\w.-]*$/);
      expect(image).not.toContain('auto-setup');
      expect(image).not.toMatch(/:latest$/);
    }
    expect(service('temporal').image).toMatch(/^temporalio\/server:1\.29\.\d+$/);
    expect(service('temporal-admin-tools').image).toMatch(/^temporalio\/admin-tools:1\.29\.\d+/);
    expect(service('temporal-create-namespace').image).toBe(service('temporal-admin-tools').image);
    expect(service('temporal-ui').image).toMatch(/^temporalio\/ui:2\.42\.\d+$/);
  });

  it('publishes gRPC 7233 and the Web UI on 8080', () => {
    expect(service('temporal').ports).toContain('7233:7233');
    expect(service('temporal-ui').ports).toContain('8080:8080');
  });

  it('has health checks where others wait on health', () => {
    expect(service('postgresql').healthcheck?.test.join(' ')).toContain('pg_isready');
    expect(service('temporal').healthcheck?.test.join(' ')).toContain('7233');
    expect(service('vdsm-sim').healthcheck?.test.join(' ')).toContain('54321');
  });

  it('starts in order: database, schema, server, namespace, then UI and worker', () => {
    const conditions = (name: string): Record<string, string> =>
      Object.fromEntries(
        Object.entries(service(name).depends_on ?? {}).map(([dep, { condition }]) => [dep, condition]),
      );
    expect(conditions('temporal-admin-tools')).toEqual({ postgresql: 'service_healthy' });
    expect(conditions('temporal')).toEqual({ 'temporal-admin-tools': 'service_completed_successfully' });
    expect(conditions('temporal-create-namespace')).toEqual({ temporal: 'service_healthy' });
    expect(conditions('temporal-ui')).toEqual({ temporal: 'service_healthy' });
    expect(conditions('ovirt-tasks-worker')).toEqual({
      postgresql: 'service_healthy',
      'temporal-create-namespace': 'service_completed_successfully',
      'vdsm-sim': 'service_healthy',
    });
    // Every service that is depended on for health has a health check.
    for (const svc of Object.values(services)) {
      for (const [dep, { condition }] of Object.entries(svc.depends_on ?? {})) {
        if (condition === 'service_healthy') expect(service(dep).healthcheck).toBeDefined();
      }
    }
  });

  it('configures the server for PostgreSQL with a dynamic config file that exists', () => {
    const env = service('temporal').environment ?? {};
    expect(env).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql', BIND_ON_IP: '0.0.0.0' });
    const dynamicConfig = env.DYNAMIC_CONFIG_FILE_PATH ?? '';
    const mounted = hostPathMountedAt(service('temporal'), '/etc/temporal/config/dynamicconfig');
    expect(mounted).toBeDefined();
    expect(existsSync(join(mounted!, dynamicConfig.replace(/^config\/dynamicconfig\//, '')))).toBe(true);
  });

  it('sets up both Temporal schemas and registers every custom search attribute of the code', () => {
    const scripts = hostPathMountedAt(service('temporal-admin-tools'), '/scripts');
    expect(scripts).toBeDefined();
    const setup = readFileSync(join(scripts!, 'setup-postgres.sh'), 'utf8');
    expect(setup).toContain('for db in temporal temporal_visibility');
    expect(setup).toMatch(/setup-schema[\s\S]*update-schema/);
    expect(service('temporal-admin-tools').command).toEqual(['/scripts/setup-postgres.sh']);

    expect(service('temporal-create-namespace').command).toEqual(['/scripts/create-namespace.sh']);
    const createNamespace = readFileSync(join(scripts!, 'create-namespace.sh'), 'utf8');
    for (const { name, type } of SEARCH_ATTRIBUTE_REGISTRATIONS) {
      expect(createNamespace).toContain(`--name ${name} --type ${type}`);
    }
  });

  it('gives the inventory its own database on the same PostgreSQL', () => {
    const init = hostPathMountedAt(service('postgresql'), '/docker-entrypoint-initdb.d/init-ovirt-tasks.sh');
    expect(init).toBeDefined();
    expect(readFileSync(init!, 'utf8')).toContain('CREATE DATABASE ovirt_tasks');
  });

  it('runs the worker and the simulator from the repository image, with commands the CLI has', () => {
    const commands = buildProgram().commands.map((c) => c.name());
    for (const name of ['vdsm-sim', 'ovirt-tasks-worker']) {
      expect(service(name).build).toBe('.');
      expect(service(name).image).toBe('ovirt-tasks:local');
      expect(commands).toContain(service(name).command?.[0]);
    }
    expect(service('ovirt-tasks-worker').command).toEqual(['worker']);
    expect(service('vdsm-sim').command?.[0]).toBe('vdsm-sim');
  });

  it("gives the worker a configuration that loadConfig accepts, pointing at compose's services", () => {
    const env = Object.fromEntries(
      Object.entries(service('ovirt-tasks-worker').environment ?? {}).map(([k, v]) => [
        k,
        withDefaults(String(v)),
      ]),
    );
    expect(env.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(env.TEMPORAL_NAMESPACE).toBe('default');
    const url = new URL(env.OVIRT_TASKS_INVENTORY_URL ?? '');
    expect(url.protocol).toBe('postgres:');
    expect(url.hostname).toBe('postgresql');
    expect(url.pathname).toBe('/ovirt_tasks');
    // The certificate files live in a volume the vdsm-pki job fills (checked below).
    const config = loadConfig(env, {}, { checkFiles: false });
    expect(config.seed).toEqual({ vdsmAddress: 'vdsm-sim', vdsmBasePort: 54321 });
    expect(config.vdsm.tls).toEqual({ cert: '/pki/worker.pem', key: '/pki/worker.key', ca: '/pki/ca.pem' });
  });

  describe('mutual TLS between the worker and the simulator', () => {
    /** Named volumes mounted by `svc`: volume → container path. */
    const namedVolumes = (svc: Service): Record<string, string> =>
      Object.fromEntries(
        (svc.volumes ?? [])
          .map((v) => v.split(':'))
          .filter(([source]) => source !== undefined && !source.startsWith('.') && !source.startsWith('/'))
          .map(([source, target]) => [source!, target!]),
      );

    it('keeps the CA key in a volume only the vdsm-pki job mounts; each service gets its own files', () => {
      const owners = Object.entries(services)
        .filter(([, svc]) => 'vdsm-ca' in namedVolumes(svc))
        .map(([name]) => name);
      expect(owners).toEqual(['vdsm-pki']);
      expect(namedVolumes(service('vdsm-sim'))).toMatchObject({ 'vdsm-sim-pki': '/pki' });
      expect(namedVolumes(service('ovirt-tasks-worker'))).toMatchObject({ 'worker-pki': '/pki' });
      expect(service('vdsm-sim').volumes).toContain('vdsm-sim-pki:/pki:ro');
      expect(service('ovirt-tasks-worker').volumes).toContain('worker-pki:/pki:ro');
      expect(service('vdsm-sim').depends_on).toEqual({
        'vdsm-pki': { condition: 'service_completed_successfully' },
      });
    });

    it("serves the worker's client certificate made by compose's own script, and refuses a client without one", async () => {
      const pki = service('vdsm-pki');
      const [script, ...dirs] = pki.command ?? [];
      const scriptPath = hostPathMountedAt(pki, '/scripts');
      expect(script).toBe('/scripts/vdsm-pki.sh');
      // Each container directory of the job stands for a volume: here, one temporary directory each.
      const temp = mkdtempSync(join(tmpdir(), 'compose-pki-'));
      const local = (containerDir: string): string => join(temp, containerDir.replace(/\//g, '_'));
      const jobVolumes = namedVolumes(pki);
      const volumeDir = (volume: string): string => local(jobVolumes[volume]!);
      try {
        // As compose runs it, minus the owner (uid 1000 may not exist here).
        execFileSync('sh', [join(scriptPath!, 'vdsm-pki.sh'), ...dirs.slice(0, 3).map(local)], {
          stdio: 'pipe',
        });
        // A file under a service's /pki is that file in the volume mounted there.
        const inVolume = (svc: Service, path: string): string => {
          const [volume] = Object.entries(namedVolumes(svc)).find(([, target]) =>
            path.startsWith(`${target}/`),
          )!;
          return join(volumeDir(volume), path.slice(path.lastIndexOf('/') + 1));
        };
        const command = service('vdsm-sim').command!;
        const flag = (name: string): string =>
          inVolume(service('vdsm-sim'), command[command.indexOf(name) + 1]!);
        const dataDir = join(temp, 'vdsm');
        const sim = await startSimulator({
          fixture: generateDataCenter({ vmCount: 1 }),
          dataDir,
          basePort: 0,
          tls: { cert: flag('--tls-cert'), key: flag('--tls-key'), ca: flag('--tls-ca') },
        });
        const workerEnvironment = service('ovirt-tasks-worker').environment!;
        const workerFile = (key: string): string =>
          inVolume(service('ovirt-tasks-worker'), workerEnvironment[key]!);
        const endpoint = { hostId: 'h', address: '127.0.0.1', port: sim.hosts[0]!.port };
        const worker = createVdsmConnector({
          heartbeatMs: 0,
          tls: {
            cert: workerFile('VDSM_TLS_CERT'),
            key: workerFile('VDSM_TLS_KEY'),
            ca: workerFile('VDSM_TLS_CA'),
          },
        });
        const stranger = new VdsmRpcChannel({
          address: '127.0.0.1',
          port: sim.hosts[0]!.port,
          heartbeatMs: 0,
          tls: { ca: readFileSync(workerFile('VDSM_TLS_CA')) },
        });
        try {
          expect(await worker.host(endpoint).call('Host.ping2')).toBe(true);
          await expect(stranger.request('h', 'Host.ping2', {})).rejects.toBeInstanceOf(VdsmTransportError);
        } finally {
          await worker.close();
          await stranger.close();
          await sim.stop();
        }
      } finally {
        rmSync(temp, { recursive: true, force: true });
      }
    });
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

  it('builds in a node:20 stage and runs in a slim one', () => {
    const stages = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(stages).toEqual(['node:20-bookworm', 'node:20-bookworm-slim']);
    expect(dockerfile).toContain('RUN npm ci');
    expect(dockerfile).toMatch(/RUN npm run build/);
  });

  it('has ovirt-tasks as its entrypoint', () => {
    expect(dockerfile).toMatch(/^ENTRYPOINT \["ovirt-tasks"\]$/m);
    expect(dockerfile).toContain('ln -s /app/bin/ovirt-tasks /usr/local/bin/ovirt-tasks');
  });

  it('keeps local state out of the build context', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n');
    for (const path of ['node_modules', 'lib', '.data', '.tools']) expect(ignored).toContain(path);
  });
});

describe('docker-compose.yml and `npm run cluster` share their configuration', () => {
  // A cluster layout on made-up ports and tool paths: only how each process is derived is checked.
  const ports: ClusterPorts = {
    postgres: 15432,
    frontend: 17233,
    frontendHttp: 17243,
    frontendMembership: 16933,
    history: 17234,
    historyMembership: 16934,
    matching: 17235,
    matchingMembership: 16935,
    worker: 17239,
    workerMembership: 16939,
    ui: 18080,
    vdsm: 24321,
    vdsmControl: 24320,
    workerMetrics: 29464,
  };
  const tools: ClusterTools = {
    server: '/tools/bin/temporal-server',
    sqlTool: '/tools/bin/temporal-sql-tool',
    schemaDir: '/tools/temporal-schema',
    uiServer: '/tools/bin/temporal-ui-server',
    uiConfigDir: '/tools/temporal-ui/config',
    temporalCli: '/tools/bin/temporal',
    pgBin: '/usr/lib/postgresql/15/bin',
  };
  // Nothing set in the environment: compose's own defaults, as on a fresh machine.
  const layout: ClusterLayout = {
    compose: loadCompose(root, {}),
    ports,
    dataDir: '/data/cluster',
    tools,
    baseEnv: {},
  };
  const composeEnv = (name: string): Record<string, string> =>
    Object.fromEntries(
      Object.entries(service(name).environment ?? {}).map(([k, v]) => [k, withDefaults(String(v))]),
    );
  /** The variables the cluster sets differently from compose (or adds). */
  const changed = (derived: NodeJS.ProcessEnv, name: string): string[] => {
    const original = composeEnv(name);
    return Object.keys(derived)
      .filter((k) => derived[k] !== original[k])
      .sort();
  };

  it('runs every Temporal service from the one config file compose mounts, and its dynamic config', () => {
    const env = composeEnv('temporal');
    const configDir = hostPathMountedAt(service('temporal'), `/etc/temporal/${env.TEMPORAL_CONFIG_DIR}`);
    expect(configDir).toBe(join(root, 'deploy', 'temporal'));
    // The image's start script runs `temporal-server --env docker start`: it loads <dir>/docker.yaml.
    const template = readFileSync(join(configDir!, 'docker.yaml'), 'utf8');
    expect(template.split('\n')[0]).toBe('# enable-template');
    for (const svc of TEMPORAL_SERVICES) {
      const spec = temporalServiceSpec(layout, svc);
      expect(spec.command).toBe(tools.server);
      expect(spec.args).toEqual(['--env', 'docker', 'start', '--service', svc]);
      expect(spec.env.TEMPORAL_CONFIG_DIR).toBe(configDir);
      expect(spec.env.DYNAMIC_CONFIG_FILE_PATH).toBe(
        join(root, 'deploy', 'dynamicconfig', 'ovirt-tasks.yaml'),
      );
      expect(existsSync(spec.env.DYNAMIC_CONFIG_FILE_PATH!)).toBe(true);
      // Only where things are differs: the database's address, the listeners, the file paths.
      expect(changed(spec.env, 'temporal')).toEqual(
        [
          'TEMPORAL_ROOT',
          'TEMPORAL_CONFIG_DIR',
          'DYNAMIC_CONFIG_FILE_PATH',
          'POSTGRES_SEEDS',
          'DB_PORT',
          'BIND_ON_IP',
          'TEMPORAL_BROADCAST_ADDRESS',
          ...['FRONTEND', 'HISTORY', 'MATCHING', 'WORKER'].map((s) => `${s}_GRPC_PORT`),
          ...['FRONTEND', 'HISTORY', 'MATCHING', 'WORKER'].map((s) => `${s}_MEMBERSHIP_PORT`),
          'FRONTEND_HTTP_PORT',
        ].sort(),
      );
    }
    // Every variable compose sets for the server is read by the config or by the server itself.
    const readByServer = ['TEMPORAL_CONFIG_DIR', 'TEMPORAL_ALLOW_NO_AUTH'];
    for (const key of Object.keys(env)) {
      if (!readByServer.includes(key)) expect(`${key}: ${template}`).toContain(`env "${key}"`);
    }
  });

  it("renders the config with compose's environment (the server's own template engine)", () => {
    const server = execFileSync('bash', [join(root, 'scripts', 'ensure-temporal-server.sh'), 'server'], {
      encoding: 'utf8',
    }).trim();
    const render = (env: Record<string, string>): string =>
      execFileSync(
        server,
        ['--root', '/', '--config', join(root, 'deploy', 'temporal'), '--env', 'docker', 'render-config'],
        { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
    // The image's entrypoint sets the broadcast address when BIND_ON_IP is 0.0.0.0.
    const rendered = parse(
      render({ ...composeEnv('temporal'), TEMPORAL_BROADCAST_ADDRESS: '172.18.0.5' }),
    ) as {
      persistence: {
        datastores: Record<string, { sql: { connectAddr: string; pluginName: string; user: string } }>;
      };
      services: Record<string, { rpc: { bindOnIP: string; grpcPort: number } }>;
    };
    for (const store of Object.values(rendered.persistence.datastores))
      expect(store.sql).toMatchObject({
        connectAddr: 'postgresql:5432',
        pluginName: 'postgres12',
        user: 'temporal',
      });
    expect(Object.keys(rendered.services).sort()).toEqual([...TEMPORAL_SERVICES].sort());
    expect(rendered.services.frontend?.rpc).toMatchObject({ bindOnIP: '0.0.0.0', grpcPort: 7233 });
    // A missing database address is an error, not a server on the wrong database.
    expect(() => render({ ...composeEnv('temporal'), POSTGRES_SEEDS: '' })).toThrow(/POSTGRES_SEEDS/);
  });

  it('sets up the schema with the script compose runs, on the same database settings', () => {
    const spec = schemaSetupSpec(layout);
    const compose = service('temporal-admin-tools');
    expect(spec.command).toBe('sh');
    expect(spec.args).toEqual([join(root, 'deploy', 'scripts', 'setup-postgres.sh')]);
    expect(compose.command).toEqual(['/scripts/setup-postgres.sh']);
    expect(changed(spec.env, 'temporal-admin-tools')).toEqual(
      ['POSTGRES_SEEDS', 'DB_PORT', 'TEMPORAL_SQL_TOOL', 'TEMPORAL_SCHEMA_DIR'].sort(),
    );
    // The schema tool outside the image finds the schema laid out as the image has it.
    const setup = readFileSync(spec.args[0]!, 'utf8');
    expect(setup).toContain('${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema}');
    expect(setup).toContain('${TEMPORAL_SQL_TOOL:-temporal-sql-tool}');
  });

  it('registers the namespace and search attributes with the script compose runs', () => {
    const spec = namespaceSetupSpec(layout);
    expect(spec.args).toEqual([join(root, 'deploy', 'scripts', 'create-namespace.sh')]);
    expect(service('temporal-create-namespace').command).toEqual(['/scripts/create-namespace.sh']);
    expect(changed(spec.env, 'temporal-create-namespace')).toEqual(['PATH', 'TEMPORAL_ADDRESS']);
    expect(spec.env.TEMPORAL_ADDRESS).toBe(`127.0.0.1:${ports.frontend}`);
    expect(spec.env.PATH?.split(':')[0]).toBe('/tools/bin');
  });

  it("creates the inventory's database with the init script compose's PostgreSQL runs", () => {
    const pg = postgresSettings(layout);
    expect(pg.initScripts).toEqual([join(root, 'deploy', 'postgres', 'init-ovirt-tasks.sh')]);
    const env = composeEnv('postgresql');
    expect(pg.superuser).toBe(env.POSTGRES_USER);
    expect(pg.password).toBe(env.POSTGRES_PASSWORD);
    expect(pg.initEnv.OVIRT_TASKS_DB_PASSWORD).toBe(env.OVIRT_TASKS_DB_PASSWORD);
  });

  it("gives each worker compose's worker environment and command, on loopback", () => {
    const env = workerEnv(layout);
    expect(changed(env, 'ovirt-tasks-worker')).toEqual(
      [
        'TEMPORAL_ADDRESS',
        'OVIRT_TASKS_INVENTORY_URL',
        'OVIRT_TASKS_SEED_VDSM_ADDRESS',
        'OVIRT_TASKS_SEED_VDSM_BASE_PORT',
        // Loopback, one port per worker (compose has one worker, published on its port).
        'OVIRT_TASKS_METRICS_ADDRESS',
        // The same certificate files, in the cluster's stand-in for the worker-pki volume.
        'VDSM_TLS_CERT',
        'VDSM_TLS_KEY',
        'VDSM_TLS_CA',
      ].sort(),
    );
    expect(env.VDSM_TLS_CERT).toBe(join(pkiDirs(layout).worker, 'worker.pem'));
    expect(composeEnv('ovirt-tasks-worker').OVIRT_TASKS_METRICS_ADDRESS).toBe('0.0.0.0:9464');
    expect(service('ovirt-tasks-worker').ports).toContain('9464:9464');
    expect([env, workerEnv(layout, 1)].map((e) => loadConfig(e, {}, { checkFiles: false }).metrics)).toEqual([
      { host: '127.0.0.1', port: ports.workerMetrics },
      { host: '127.0.0.1', port: ports.workerMetrics + 1 },
    ]);
    // The same database, role and password; only the host and port differ.
    const composed = new URL(composeEnv('ovirt-tasks-worker').OVIRT_TASKS_INVENTORY_URL!);
    const derived = new URL(env.OVIRT_TASKS_INVENTORY_URL!);
    expect([derived.protocol, derived.username, derived.password, derived.pathname]).toEqual([
      composed.protocol,
      composed.username,
      composed.password,
      composed.pathname,
    ]);
    expect(derived.host).toBe(`127.0.0.1:${ports.postgres}`);
    expect(workerArgs(layout)).toEqual(service('ovirt-tasks-worker').command);
    expect(loadConfig(env, {}, { checkFiles: false }).seed).toEqual({
      vdsmAddress: '127.0.0.1',
      vdsmBasePort: ports.vdsm,
    });
  });

  it("runs the simulator with compose's command, on loopback, and the Web UI with its environment", () => {
    const composed = service('vdsm-sim').command!;
    expect(simulatorArgs(layout)).toEqual(
      withFlags(composed, {
        '--host': '127.0.0.1',
        '--port': String(ports.vdsm),
        '--data': '/data/cluster/vdsm',
        '--control-port': String(ports.vdsmControl),
        '--tls-cert': join(pkiDirs(layout).sim, 'vdsm-sim.pem'),
        '--tls-key': join(pkiDirs(layout).sim, 'vdsm-sim.key'),
        '--tls-ca': join(pkiDirs(layout).sim, 'ca.pem'),
      }),
    );
    // The certificates come from compose's vdsm-pki script, into the cluster's data directory.
    const pki = pkiSetupSpec(layout);
    expect(pki.args).toEqual([
      join(root, 'deploy', 'scripts', 'vdsm-pki.sh'),
      pkiDirs(layout).ca,
      pkiDirs(layout).sim,
      pkiDirs(layout).worker,
    ]);
    expect(service('vdsm-pki').command?.[0]).toBe('/scripts/vdsm-pki.sh');
    expect(simulatorArgs(layout).slice(0, 3)).toEqual(['vdsm-sim', '--host', '127.0.0.1']);
    const ui = uiSpec(layout);
    expect(changed(ui.env, 'temporal-ui')).toEqual(['TEMPORAL_ADDRESS', 'TEMPORAL_UI_PORT']);
    expect(ui.args).toEqual(['--root', '/', '--config', tools.uiConfigDir, '--env', 'docker', 'start']);
  });
});
