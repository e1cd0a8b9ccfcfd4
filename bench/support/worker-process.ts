/**
 * Worker child processes (`node bin/ovirt-tasks worker`, or the baseline worker): started under a
 * small sh watchdog so that they die with this process even if it is SIGKILLed, SIGKILLed or
 * stopped gracefully by pid, and sampled for RSS from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, writeFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../src/dev/project-root';

/**
 * fd 0 is a pipe from us: when it closes (we exit, however) the watcher SIGTERMs the worker. The
 * worker's pid goes to fd 3 so we can signal node itself, not the shell.
 */
const WATCHDOG = `
exec 4<&0
"$@" 0</dev/null 3>&- 4<&- &
child=$!
echo "$child" >&3
exec 3>&-
{ read -r _ <&4 || :; kill -TERM "$child" 2>/dev/null; } &
watcher=$!
wait "$child"; status=$?
kill "$watcher" 2>/dev/null
exit "$status"
`;

export interface WorkerProcessOptions {
  name: string;
  /** Arguments after `node` (script and its arguments). */
  args: string[];
  env: NodeJS.ProcessEnv;
  logFile: string;
  /** A stdout/stderr line containing this means the worker polls. */
  readyLine: string;
  readyTimeoutMs?: number;
  /** RSS sampling period; 0 = none. */
  sampleMs?: number;
}

export interface RssSample {
  at: number;
  rssBytes: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Killed on purpose (kill()/stop()). */
  expected: boolean;
  at: number;
}

/** One life of a worker process; restart = a new WorkerProcess with the same options. */
export class WorkerProcess {
  pid: number | undefined;
  readonly startedAt = Date.now();
  readyAt: number | undefined;
  exit: ExitInfo | undefined;
  readonly samples: RssSample[] = [];
  /** Output lines starting with `BENCH_MEMORY ` (the prebuilt-bundle experiment), parsed. */
  readonly memoryReports: Array<{ at: number; report: Record<string, unknown> }> = [];
  private readonly shell: ChildProcess;
  private readonly log: WriteStream;
  private readonly exited: Promise<ExitInfo>;
  private sampler: NodeJS.Timeout | undefined;
  private expectedExit = false;
  private hwmBytes = 0;

  private constructor(readonly options: WorkerProcessOptions) {
    this.log = createWriteStream(options.logFile, { flags: 'a' });
    this.log.write(`\n=== ${options.name} starting at ${new Date().toISOString()} ===\n`);
    this.shell = spawn('sh', ['-c', WATCHDOG, options.name, process.execPath, ...options.args], {
      cwd: projectRoot(),
      env: options.env,
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => {
      this.shell.once('exit', (code, signal) => {
        this.stopSampling();
        this.exit = { code, signal, expected: this.expectedExit, at: Date.now() };
        this.log.end(`=== ${options.name} exited code=${code} signal=${signal} ===\n`);
        resolve(this.exit);
      });
    });
  }

  static async start(options: WorkerProcessOptions): Promise<WorkerProcess> {
    const worker = new WorkerProcess(options);
    await worker.waitReady();
    return worker;
  }

  private waitReady(): Promise<void> {
    const { readyLine, readyTimeoutMs = 180_000, sampleMs = 500 } = this.options;
    return new Promise((resolve, reject) => {
      let buffered = '';
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `${this.options.name} not ready after ${readyTimeoutMs} ms (log: ${this.options.logFile})`,
            ),
          ),
        readyTimeoutMs,
      );
      const pidPipe = this.shell.stdio[3] as NodeJS.ReadableStream;
      pidPipe.on('data', (chunk: Buffer) => {
        const pid = Number.parseInt(chunk.toString().trim(), 10);
        if (Number.isInteger(pid) && pid > 0) {
          this.pid = pid;
          if (sampleMs > 0) this.startSampling(sampleMs);
        }
      });
      const onOutput = (chunk: Buffer): void => {
        this.log.write(chunk);
        for (const line of chunk.toString().split('\n')) {
          const at = line.indexOf('BENCH_MEMORY ');
          if (at < 0) continue;
          try {
            this.memoryReports.push({
              at: Date.now(),
              report: JSON.parse(line.slice(at + 'BENCH_MEMORY '.length)) as Record<string, unknown>,
            });
          } catch {
            // A line split across chunks: ignored.
          }
        }
        if (this.readyAt !== undefined) return;
        buffered = (buffered + chunk.toString()).slice(-4096);
        if (buffered.includes(readyLine)) {
          this.readyAt = Date.now();
          clearTimeout(timer);
          resolve();
        }
      };
      this.shell.stdout?.on('data', onOutput);
      this.shell.stderr?.on('data', onOutput);
      void this.exited.then((exit) => {
        clearTimeout(timer);
        if (this.readyAt === undefined)
          reject(
            new Error(
              `${this.options.name} exited before it was ready (code ${exit.code}, signal ${exit.signal}); log: ${this.options.logFile}`,
            ),
          );
      });
    });
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** SIGKILL (chaos) or SIGTERM (graceful) to node itself; resolves when it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<ExitInfo> {
    if (this.exit) return this.exit;
    this.expectedExit = true;
    if (this.pid !== undefined) {
      try {
        process.kill(this.pid, signal);
      } catch {
        // Already gone.
      }
    } else {
      this.shell.kill(signal);
    }
    return this.exited;
  }

  /** Graceful stop (SIGTERM), escalating to SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<ExitInfo> {
    if (this.exit) return this.exit;
    const timer = setTimeout(() => void this.kill('SIGKILL'), graceMs);
    const exit = await this.kill('SIGTERM');
    clearTimeout(timer);
    return exit;
  }

  whenExited(): Promise<ExitInfo> {
    return this.exited;
  }

  /** Peak VmHWM (kernel's high-water mark of this process) seen so far, bytes. */
  get peakHwmBytes(): number {
    return this.hwmBytes;
  }

  /** Highest sampled VmRSS in [from, to]. */
  peakRss(from = 0, to = Number.POSITIVE_INFINITY): number {
    let peak = 0;
    for (const s of this.samples) if (s.at >= from && s.at <= to && s.rssBytes > peak) peak = s.rssBytes;
    return peak;
  }

  /** Samples now (outside the periodic sampler), e.g. at the end of a measuring window. */
  sampleNow(): RssSample | undefined {
    if (this.pid === undefined || this.exit) return undefined;
    const status = readProcStatus(this.pid);
    if (!status) return undefined;
    if (status.hwm > this.hwmBytes) this.hwmBytes = status.hwm;
    const sample = { at: Date.now(), rssBytes: status.rss };
    this.samples.push(sample);
    return sample;
  }

  private startSampling(periodMs: number): void {
    this.sampleNow();
    this.sampler = setInterval(() => this.sampleNow(), periodMs);
    this.sampler.unref();
  }

  private stopSampling(): void {
    if (this.sampler) clearInterval(this.sampler);
    this.sampler = undefined;
  }
}

/** VmRSS and VmHWM of a process, bytes; undefined when it is gone or /proc is unavailable. */
export function readProcStatus(pid: number): { rss: number; hwm: number } | undefined {
  const file = join('/proc', String(pid), 'status');
  if (!existsSync(file)) return undefined;
  try {
    const text = readFileSync(file, 'utf8');
    const kb = (key: string): number => {
      const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
      return match ? Number(match[1]) * 1024 : 0;
    };
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** A temporal.toml with an empty default profile, in the temp dir (envconfig wants the profile). */
function emptyTemporalConfig(): string {
  const file = join(tmpdir(), 'ovirt-tasks-bench-empty-temporal.toml');
  writeFileSync(file, '[profile.default]\n');
  return file;
}

/** The environment of `ovirt-tasks worker` children: only what we set, nothing from a profile. */
export function workerEnvironment(settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('TEMPORAL_') || key.startsWith('OVIRT_TASKS_')) continue;
    if (/^(POLL_|JANITOR_|VDSM_|MAX_CONCURRENT_IMAGES$|LOG_LEVEL$|TASK_AGE_LIMIT_MS$)/.test(key)) continue;
    env[key] = value;
  }
  // An empty profile: no temporal.toml of the user's redirects the worker (the worker refuses a
  // TEMPORAL_CONFIG_FILE that does not exist, so it must be there).
  env.TEMPORAL_CONFIG_FILE = emptyTemporalConfig();
  return { ...env, ...settings };
}

export const OVIRT_WORKER_READY_LINE = 'ovirt-tasks worker polling task queue';

/** `node bin/ovirt-tasks worker`: needs `npm run build` (the CLI and the workflow bundle). */
export function ovirtWorkerArgs(): string[] {
  const bin = join(projectRoot(), 'bin', 'ovirt-tasks');
  // Without lib/workflow-bundle.js the worker would webpack its workflows itself: not as shipped.
  for (const file of ['cli/main.js', 'workflow-bundle.js']) {
    if (!existsSync(join(projectRoot(), 'lib', file))) {
      throw new Error(`lib/${file} is missing: run \`npm run build\` first`);
    }
  }
  return [bin, 'worker'];
}
