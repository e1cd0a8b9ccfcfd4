import { closeSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config/config';
import { UsageError } from '../exit-codes';
import { parseFixtureFile, parsePort } from '../options';
import { firstShutdownSignal } from '../signals';

interface DevFlags {
  data: string;
  temporalPort: number;
  uiPort: number;
  vdsmPort: number;
  fixture?: string;
  demo: boolean;
}

export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description(
      'run the whole stack in one process: Temporal dev server + Web UI, VDSM simulator, SQLite inventory, worker; state persists in --data. Metrics, traces and logs as the worker (OVIRT_TASKS_METRICS_ADDRESS, OTEL_EXPORTER_OTLP_ENDPOINT, LOG_LEVEL)',
    )
    .option(
      '--data <dir>',
      'state directory (temporal.db, inventory.db, vdsm/); running again resumes it',
      './.data',
    )
    .option('--temporal-port <port>', 'Temporal gRPC port (0 = any free port)', parsePort, 7233)
    .option('--ui-port <port>', 'Temporal Web UI port (0 = any free port)', parsePort, 8233)
    .option(
      '--vdsm-port <port>',
      "port of the SPM's simulated VDSM host; the other hosts use the next ports (0 = any free ports)",
      parsePort,
      54321,
    )
    .option(
      '--fixture <file>',
      'data center fixture (JSON) seeding an empty inventory and simulator; default: built-in',
      parseFixtureFile,
    )
    .option(
      '--demo',
      'after start-up, remove VM web-01 (or the first removable VM) and report it; the stack stays up',
      false,
    )
    .action(async (flags: DevFlags) => {
      const dataDir = resolve(flags.data);
      checkDataDir(dataDir);
      const config = loadConfig(process.env, {
        OVIRT_TASKS_INVENTORY_URL: `sqlite:${join(dataDir, 'inventory.db')}`,
        ...(flags.fixture !== undefined ? { OVIRT_TASKS_FIXTURE: flags.fixture } : {}),
        // A terminal reads the SDK's text lines better; OVIRT_TASKS_LOG_FORMAT=json still wins.
        OVIRT_TASKS_LOG_FORMAT: process.env.OVIRT_TASKS_LOG_FORMAT || 'text',
      });
      const [{ startDevStack }, { runDemo }] = await Promise.all([
        import('../../dev/stack'),
        import('../../dev/demo'),
      ]);
      // Listening before start-up: a Ctrl-C during it still stops what has started.
      const shutdown = firstShutdownSignal();
      const log = (line: string): void => console.log(line);
      // The demo's pending result() fails once connections close: that is not news.
      let stopping = false;
      const demoLog = (line: string): void => {
        if (!stopping) log(line);
      };

      const stack = await startDevStack({
        dataDir,
        temporalPort: flags.temporalPort,
        uiPort: flags.uiPort,
        vdsmPort: flags.vdsmPort,
        config,
        log,
      });
      log(`ovirt-tasks dev: ready (data in ${dataDir}); Ctrl-C stops everything`);
      if (flags.demo) {
        runDemo(stack, demoLog).catch((err: unknown) =>
          demoLog(`demo: could not run: ${(err as Error).message}`),
        );
      }

      const ended = await Promise.race([
        shutdown.then((signal) => ({ signal })),
        stack.workerDone.then(
          () => ({ workerError: new Error('the worker stopped unexpectedly') }),
          (err: unknown) => ({ workerError: err }),
        ),
      ]);
      stopping = true;
      log('ovirt-tasks dev: stopping...');
      await stack.stop();
      log('ovirt-tasks dev: stopped');
      if ('workerError' in ended) throw ended.workerError;
    });
}

/** What `dev` writes in --data: files, then directories. */
const DATA_FILES = ['temporal.db', 'temporal.log', 'inventory.db'];
const DATA_DIRS = ['vdsm'];

/**
 * --data must be a directory this process can write, holding (if anything) our files and
 * directories: checked before anything starts, since the Temporal server, the inventory and the
 * simulator would each fail on their own, later and less clearly.
 */
function checkDataDir(dataDir: string): void {
  const refuse = (problem: string, err?: unknown): never => {
    const reason = err ? ` (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` : '';
    throw new UsageError(`--data ${dataDir}: ${problem}${reason}`);
  };
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    refuse('cannot create the directory', err);
  }
  const probe = join(dataDir, `.write-probe-${process.pid}`);
  try {
    closeSync(openSync(probe, 'w'));
    rmSync(probe);
  } catch (err) {
    refuse('cannot write in the directory', err);
  }
  for (const name of [...DATA_FILES, ...DATA_DIRS]) {
    const path = join(dataDir, name);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) continue;
    const wantDir = DATA_DIRS.includes(name);
    if (stat.isDirectory() !== wantDir)
      refuse(`${name} is ${wantDir ? 'not a directory' : 'a directory, not a file'}`);
    if (!wantDir) {
      try {
        closeSync(openSync(path, 'r+'));
      } catch (err) {
        refuse(`cannot write ${name}`, err);
      }
    }
  }
}
