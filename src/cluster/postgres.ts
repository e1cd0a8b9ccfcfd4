/**
 * The cluster's PostgreSQL: Debian's server (scripts/ensure-postgres.sh) on a data directory of its
 * own, as the compose `postgresql` service: the superuser and password from that service's
 * environment, and on first start the init scripts it mounts into /docker-entrypoint-initdb.d/
 * (the inventory's role and database). initdb and postgres refuse to run as root: as root they run
 * as the `postgres` system user (created when missing), which then owns the data directory.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { LOOPBACK, postgresSettings, type ClusterLayout } from './cluster-env';
import { ClusterProcessError, ManagedProcess, runToEnd } from './process';

const run = promisify(execFile);
const SERVICE_USER = 'postgres';

async function output(file: string, args: string[]): Promise<string> {
  try {
    return (await run(file, args)).stdout.trim();
  } catch (err) {
    const { stderr, stdout } = err as { stderr?: string; stdout?: string };
    throw new ClusterProcessError(
      `${file} ${args.join(' ')} failed: ${(stderr || stdout || (err as Error).message).trim()}`,
      { cause: err },
    );
  }
}

/** The `postgres` system user (created when missing): initdb and postgres refuse to run as root. */
export async function postgresServiceUser(): Promise<{ uid: number; gid: number }> {
  try {
    await output('id', ['-u', SERVICE_USER]);
  } catch {
    await output('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      SERVICE_USER,
    ]);
  }
  return {
    uid: Number(await output('id', ['-u', SERVICE_USER])),
    gid: Number(await output('id', ['-g', SERVICE_USER])),
  };
}

export interface ClusterPostgres {
  process: ManagedProcess;
  /** A superuser connection string of one database. */
  url(database: string): string;
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /** false: no fsync (a throw-away cluster, as the tests run it). */
  durable: boolean;
}

export async function startClusterPostgres(
  layout: ClusterLayout,
  options: PostgresOptions,
): Promise<ClusterPostgres> {
  const settings = postgresSettings(layout);
  const base = join(layout.dataDir, 'postgres');
  const dataDir = join(base, 'data');
  const initialized = join(base, 'initialized');
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? await postgresServiceUser() : undefined;
  const tool = (name: string): string => join(layout.tools.pgBin, name);
  // As root, run as the service user (setpriv execs: signals reach postgres itself).
  const asOwner = (command: string, args: string[]): { command: string; args: string[] } =>
    asRoot
      ? {
          command: 'setpriv',
          args: [
            `--reuid=${SERVICE_USER}`,
            `--regid=${SERVICE_USER}`,
            '--init-groups',
            '--',
            command,
            ...args,
          ],
        }
      : { command, args };
  const logs = join(layout.dataDir, 'logs');

  // A data directory whose first start did not finish (initdb or init scripts) is made anew.
  const fresh = !existsSync(initialized);
  if (fresh) {
    rmSync(base, { recursive: true, force: true });
    mkdirSync(base, { recursive: true });
    if (owner) chownSync(base, owner.uid, owner.gid);
    const pwfile = join(base, 'pwfile');
    writeFileSync(pwfile, `${settings.password}\n`, { mode: 0o600 });
    if (owner) chownSync(pwfile, owner.uid, owner.gid);
    const initdb = asOwner(tool('initdb'), [
      '-D',
      dataDir,
      '-U',
      settings.superuser,
      `--pwfile=${pwfile}`,
      '--auth-local=trust',
      `--auth-host=${settings.password ? 'scram-sha-256' : 'trust'}`,
      '-E',
      'UTF8',
      '--locale=C',
      ...(options.durable ? [] : ['--no-sync']),
    ]);
    try {
      await runToEnd('initdb', { ...initdb, env: { ...layout.baseEnv } }, join(logs, 'initdb.log'));
    } finally {
      rmSync(pwfile, { force: true });
    }
  }

  const serverArgs = [
    '-D',
    dataDir,
    '-c',
    `listen_addresses=${LOOPBACK}`,
    '-c',
    `port=${layout.ports.postgres}`,
    '-c',
    `unix_socket_directories=${base}`,
    // Four Temporal services with up to 30 connections each, two workers, the schema tool.
    '-c',
    'max_connections=300',
    ...(options.durable
      ? []
      : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
  ];
  const server = asOwner(tool('postgres'), serverArgs);
  const proc = new ManagedProcess(
    'postgresql',
    { ...server, env: { ...layout.baseEnv } },
    join(logs, 'postgresql.log'),
  );
  const url = (database: string): string =>
    `postgres://${encodeURIComponent(settings.superuser)}:${encodeURIComponent(settings.password)}@${LOOPBACK}:${layout.ports.postgres}/${database}`;
  proc.start();
  await proc.waitUntil('accepting connections', async () => {
    const client = new Client({ connectionString: url('postgres'), connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
    } finally {
      await client.end().catch(() => undefined);
    }
  });

  const stop = async (): Promise<void> => {
    if (!proc.running) return;
    // Fast shutdown: sessions still open (a client of the caller) must not hold it up.
    const pgCtl = asOwner(tool('pg_ctl'), ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '30']);
    await run(pgCtl.command, pgCtl.args).catch(() => undefined);
    await proc.stop();
  };

  if (fresh) {
    try {
      for (const script of settings.initScripts)
        await runToEnd(
          `init ${script}`,
          { command: 'sh', args: [script], env: settings.initEnv },
          join(logs, 'postgres-init.log'),
        );
    } catch (err) {
      await stop();
      throw err;
    }
    writeFileSync(initialized, `${new Date().toISOString()}\n`);
  }
  return { process: proc, url, stop };
}
