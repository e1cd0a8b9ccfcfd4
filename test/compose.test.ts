import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { buildProgram } from '../src/cli/program';
import { loadConfig } from '../src/config/config';
import { projectRoot } from '../src/dev/project-root';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../src/shared/search-attributes';

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
    const config = loadConfig(env);
    expect(config.seed).toEqual({ vdsmAddress: 'vdsm-sim', vdsmBasePort: 54321 });
    expect(config.vdsm.tls).toBeUndefined();
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
