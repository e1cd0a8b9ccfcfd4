/**
 * A throw-away PostgreSQL server for tests: a fresh cluster in a temp dir on a free loopback port,
 * trust auth, stopped and removed by stop(). initdb and postgres refuse to run as root, so as root
 * they run as the `postgres` system user (created when missing) in a temp dir it owns.
 */
import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { postgresServiceUser } from '../../src/cluster/postgres';
import { freePort } from '../../src/dev/ports';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';

const run = promisify(execFile);
const ENSURE_SCRIPT = resolve(__dirname, '../../scripts/ensure-postgres.sh');
const SERVICE_USER = 'postgres';

export interface TestPostgres {
  /** A database created for the caller. */
  url: string;
  /** Creates another empty database and returns its URL (one per test keeps tests independent). */
  newDatabase(): Promise<string>;
  stop(): Promise<void>;
}

async function output(file: string, args: string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await run(file, args, { cwd, maxBuffer: 16 * 1024 * 1024 });
    return stdout.trim();
  } catch (err) {
    const { stderr, stdout } = err as { stderr?: string; stdout?: string };
    throw new Error(
      `${file} ${args.join(' ')} failed: ${(stderr || stdout || (err as Error).message).trim()}`,
      {
        cause: err,
      },
    );
  }
}

async function sql(url: string, statement: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

export async function startPostgres(): Promise<TestPostgres> {
  const binDir = await output('bash', [ENSURE_SCRIPT]);
  const asRoot = process.getuid?.() === 0;
  const base = mkdtempSync(join(tmpdir(), 'ovirt-tasks-pg-'));
  if (asRoot) {
    const { uid, gid } = await postgresServiceUser();
    chownSync(base, uid, gid);
  }
  const dataDir = join(base, 'data');
  const logFile = join(base, 'server.log');
  // As root, run as the service user; cwd is the temp dir, which it can enter (the caller's may not be).
  const pgTool = (tool: string, args: string[]): Promise<string> =>
    asRoot
      ? output('runuser', ['-u', SERVICE_USER, '--', join(binDir, tool), ...args], base)
      : output(join(binDir, tool), args, base);

  let started = false;
  const stop = async (): Promise<void> => {
    try {
      if (started) await pgTool('pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w']);
    } finally {
      started = false;
      rmSync(base, { recursive: true, force: true });
    }
  };

  try {
    await pgTool('initdb', [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '--no-sync',
      '-E',
      'UTF8',
      '--locale=C',
    ]);
    let port = 0;
    // The free port may be taken between probing and binding: try a few.
    for (let attempt = 1; !started; attempt++) {
      port = await freePort();
      // Durability settings off: these clusters are thrown away, and tests do not simulate power loss.
      const serverOptions = [
        '-c listen_addresses=127.0.0.1',
        `-c port=${port}`,
        `-c unix_socket_directories='${base}'`,
        '-c fsync=off',
        '-c synchronous_commit=off',
        '-c full_page_writes=off',
      ].join(' ');
      try {
        await pgTool('pg_ctl', [
          'start',
          '-D',
          dataDir,
          '-l',
          logFile,
          '-w',
          '-t',
          '60',
          '-o',
          serverOptions,
        ]);
        started = true;
      } catch (err) {
        if (attempt >= 3) {
          let log = '';
          try {
            log = readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
          } catch {
            // no log written
          }
          throw new Error(`PostgreSQL did not start: ${(err as Error).message}\n${log}`, { cause: err });
        }
      }
    }
    const serverUrl = (database: string): string => `postgres://postgres@127.0.0.1:${port}/${database}`;
    let databases = 0;
    const newDatabase = async (): Promise<string> => {
      const name = `test_${++databases}`;
      await sql(serverUrl('postgres'), `CREATE DATABASE ${name}`);
      return serverUrl(name);
    };
    return { url: await newDatabase(), newDatabase, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
