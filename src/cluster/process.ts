/**
 * One long-running process of the cluster, restartable, with its output in a log file of its own.
 * Each runs in a process group of its own under a tiny sh watchdog holding a pipe from us: when the
 * launcher dies in any way (even SIGKILL) the pipe closes and the watchdog SIGTERMs the process, so
 * no orphan keeps a port or a data directory (the pattern src/dev/dev-server.ts uses).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import type { ProcessSpec } from './cluster-env';

const WATCHDOG = `
exec 3<&0
"$@" 0</dev/null 3<&- &
child=$!
{ read -r _ <&3 || :; kill -TERM "$child" 2>/dev/null; } &
watcher=$!
wait "$child"; status=$?
kill "$watcher" 2>/dev/null
exit "$status"
`;

const STOP_GRACE_MS = 20_000;

export class ClusterProcessError extends Error {
  override readonly name = 'ClusterProcessError';
}

/** The last lines of a log file, for error messages. */
export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  private exitStatus: number | null | undefined;
  private readonly exitListeners: Array<(status: number | null) => void> = [];
  /** Where this run's output starts in the (appended) log file. */
  private logOffset = 0;

  constructor(
    readonly name: string,
    private readonly spec: ProcessSpec,
    readonly logFile: string,
  ) {}

  get running(): boolean {
    return this.child !== undefined && this.exitStatus === undefined;
  }

  /** The watchdog's pid, which is also the process group's id. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** Called whenever the process exits (crash, kill or stop). */
  onExit(listener: (status: number | null) => void): void {
    this.exitListeners.push(listener);
  }

  start(): void {
    if (this.running) throw new ClusterProcessError(`${this.name} is already running`);
    mkdirSync(dirname(this.logFile), { recursive: true });
    this.logOffset = existsSync(this.logFile) ? statSync(this.logFile).size : 0;
    const fd = openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn('sh', ['-c', WATCHDOG, this.name, this.spec.command, ...this.spec.args], {
        env: this.spec.env,
        detached: true, // its own process group: a terminal's Ctrl-C reaches only the launcher
        stdio: ['pipe', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    this.child = child;
    this.exitStatus = undefined;
    this.exited = new Promise((resolve) => {
      let done = false;
      const finish = (status: number | null): void => {
        if (done) return;
        done = true;
        this.exitStatus = status;
        resolve(status);
        for (const listener of this.exitListeners) listener(status);
      };
      child.once('exit', (code, signal) => finish(code ?? (signal ? null : 0)));
      // A spawn that fails (no sh) may emit 'error' without 'exit': count it as an exit.
      child.once('error', () => finish(127));
    });
  }

  /** Sends `signal` to the whole group (watchdog and process) and waits for it to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const { child, exited } = this;
    if (!child?.pid || !this.running) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
    await exited;
  }

  /** SIGTERM through the watchdog, then SIGKILL after a grace period. Idempotent. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    const { child, exited } = this;
    if (!child || !this.running) return;
    child.stdin?.end();
    const timer = setTimeout(() => void this.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** Resolves when the process exits; its status (null when killed by a signal). */
  async waitForExit(): Promise<number | null> {
    if (!this.exited) throw new ClusterProcessError(`${this.name} was never started`);
    return this.exited;
  }

  /** This run's output so far. */
  output(): string {
    try {
      return readFileSync(this.logFile).subarray(this.logOffset).toString('utf8');
    } catch {
      return '';
    }
  }

  /** Waits until this run has printed a line matching `pattern`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void> {
    return this.waitUntil(
      `output matching ${pattern}`,
      async () => {
        if (!pattern.test(this.output())) throw new Error('not yet');
      },
      timeoutMs,
    );
  }

  /** Polls `probe` until it resolves; fails early when the process exits, with its log's tail. */
  async waitUntil(what: string, probe: () => Promise<unknown>, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError = '';
    for (;;) {
      if (!this.running) {
        throw new ClusterProcessError(
          `${this.name} exited (status ${this.exitStatus}) before ${what}\n--- ${this.logFile} ---\n${tail(this.logFile)}`,
        );
      }
      try {
        await probe();
        return;
      } catch (err) {
        lastError = (err as Error).message;
      }
      if (Date.now() > deadline) {
        throw new ClusterProcessError(
          `${this.name}: no ${what} within ${timeoutMs / 1000} s (${lastError})\n--- ${this.logFile} ---\n${tail(this.logFile)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Runs a one-off command to its end, its output appended to `logFile`; throws on failure. */
export async function runToEnd(name: string, spec: ProcessSpec, logFile: string): Promise<void> {
  const once = new ManagedProcess(name, spec, logFile);
  once.start();
  const status = await once.waitForExit();
  if (status !== 0) {
    throw new ClusterProcessError(`${name} failed (status ${status})\n--- ${logFile} ---\n${tail(logFile)}`);
  }
}

export function probeTcp(port: number, host = '127.0.0.1'): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    socket.setTimeout(1_000, () => socket.destroy(new Error(`${host}:${port} timed out`)));
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

export async function probeHttp(url: string): Promise<void> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
}
