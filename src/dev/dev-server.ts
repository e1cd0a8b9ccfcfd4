import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../shared/search-attributes';
import { freePort, isPortFree } from './ports';

export type DevServerLogLevel = 'debug' | 'info' | 'warn' | 'error' | 'never';

export interface DevServerOptions {
  /** Temporal CLI binary (see resolveTemporalBinary). */
  binary: string;
  /** Frontend gRPC port; 0 picks a free one. */
  port: number;
  /** Web UI port; 0 or unset picks a free one. Ignored when headless. */
  uiPort?: number;
  /** SQLite file that persists the server's state; unset keeps everything in memory. */
  dbFile?: string;
  headless?: boolean;
  namespace: string;
  ip: string;
  logLevel: DevServerLogLevel;
  /** The server's own output is appended here; its tail is quoted when start-up fails. */
  logFile: string;
  startTimeoutMs?: number;
}

export interface DevServer {
  /** host:port of the gRPC frontend. */
  address: string;
  port: number;
  /** Web UI base URL; undefined when headless. */
  uiUrl: string | undefined;
  uiPort: number | undefined;
  /** SIGTERMs the server and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Runs the server under a small sh watchdog that holds the read end of a pipe from this process.
 * When this process stops the server (closes the pipe) or dies in any way, even SIGKILL, the
 * kernel closes the pipe and the watchdog SIGTERMs the server: no orphan keeps the port or db.
 */
const WATCHDOG = `
exec 3<&0
"$@" 0</dev/null 3<&- &
server=$!
{ read -r _ <&3 || :; kill -TERM "$server" 2>/dev/null; } &
watcher=$!
wait "$server"; status=$?
kill "$watcher" 2>/dev/null
exit "$status"
`;

const STOP_GRACE_MS = 15_000;
const POLL_INTERVAL_MS = 100;

/** Starts `temporal server start-dev` and resolves once the frontend (and UI) answer. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const port = options.port === 0 ? await freePort(options.ip) : options.port;
  const uiPort = options.headless ? undefined : options.uiPort ? options.uiPort : await freePort(options.ip);
  const address = `${options.ip}:${port}`;
  // Otherwise another server already on the port would answer the readiness probe for us.
  for (const wanted of [port, uiPort]) {
    if (wanted !== undefined && !(await isPortFree(wanted, options.ip))) {
      throw new Error(`cannot start the Temporal dev server: port ${options.ip}:${wanted} is in use`);
    }
  }
  const resumingDb = options.dbFile !== undefined && existsSync(options.dbFile);

  const args = [
    'server',
    'start-dev',
    '--ip',
    options.ip,
    '--port',
    String(port),
    '--log-level',
    options.logLevel,
  ];
  if (options.namespace !== 'default') args.push('--namespace', options.namespace);
  if (options.dbFile !== undefined) {
    mkdirSync(dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile);
  }
  if (uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  // start-dev registers these only when it creates the db; a resumed db gets them below.
  if (!resumingDb) {
    for (const { name, type } of SEARCH_ATTRIBUTE_REGISTRATIONS)
      args.push('--search-attribute', `${name}=${type}`);
  }

  mkdirSync(dirname(options.logFile), { recursive: true });
  const logFd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    // detached: a terminal Ctrl-C reaches only us, so we stop the worker before the server.
    child = spawn('sh', ['-c', WATCHDOG, 'temporal-dev-server', options.binary, ...args], {
      detached: true,
      stdio: ['pipe', logFd, logFd],
    });
  } finally {
    closeSync(logFd);
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));

  const stop = async (): Promise<void> => {
    if (exitCode !== undefined) return;
    child.stdin?.end();
    const timer = setTimeout(() => killGroup(child), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  const failStart = async (reason: string): Promise<never> => {
    await stop();
    throw new Error(
      `Temporal dev server (${address}) ${reason}\n--- tail of ${options.logFile} ---\n${tail(options.logFile)}`,
    );
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  let lastError = '';
  for (;;) {
    if (exitCode !== undefined) return failStart(`exited during start-up with code ${exitCode}`);
    if (Date.now() > deadline) return failStart(`did not answer within the start timeout (${lastError})`);
    try {
      // A gRPC connect to a closed port waits out its whole timeout: knock on TCP first.
      await probeTcp(options.ip, port);
      await probeFrontend(address, options.namespace);
      if (uiPort !== undefined) await probeHttp(`http://${options.ip}:${uiPort}/`);
      break;
    } catch (err) {
      lastError = (err as Error).message;
      await delay(POLL_INTERVAL_MS);
    }
  }

  if (resumingDb) {
    try {
      await registerSearchAttributes(options.binary, address, options.namespace);
    } catch (err) {
      return failStart((err as Error).message);
    }
  }

  return {
    address,
    port,
    uiPort,
    uiUrl: uiPort === undefined ? undefined : `http://localhost:${uiPort}`,
    stop,
  };
}

function probeTcp(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

async function probeFrontend(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: '1s' });
  try {
    await connection.workflowService.getSystemInfo({});
    await connection.workflowService.describeNamespace({ namespace });
  } finally {
    await connection.close();
  }
}

async function probeHttp(url: string): Promise<void> {
  const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
}

/** Idempotent: `search-attribute create` accepts names that already exist with the same type. */
function registerSearchAttributes(binary: string, address: string, namespace: string): Promise<void> {
  const args = ['operator', 'search-attribute', 'create', '--address', address, '--namespace', namespace];
  for (const { name, type } of SEARCH_ATTRIBUTE_REGISTRATIONS) args.push('--name', name, '--type', type);
  return new Promise((resolve, reject) => {
    const cli = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    cli.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    cli.once('error', reject);
    cli.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`could not register search attributes: ${stderr.trim()}`)),
    );
  });
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
