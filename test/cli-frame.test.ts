import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { ServiceError } from '@temporalio/client';
import { ConfigError } from '../src/config/config';
import { ExitCode, exitCodeFor, UsageError } from '../src/cli/exit-codes';
import { TemporalUnreachableError } from '../src/shared/temporal-connection';
import { runCliSync, spawnCli } from './support/cli';

const SUBCOMMANDS = [
  'dev',
  'worker',
  'vdsm-sim',
  'submit',
  'status',
  'watch',
  'cancel',
  'list',
  'history',
  'inventory',
];

describe('ovirt-tasks CLI frame (built CLI)', () => {
  it('--help lists every subcommand and the exit codes, exit 0', () => {
    const result = runCliSync(['--help']);
    expect(result.status).toBe(0);
    for (const name of SUBCOMMANDS) expect(result.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    expect(result.stdout).toContain(
      'Exit codes: 0 ok, 1 command failed, 2 invalid input or configuration, 3 cannot reach',
    );
  });

  it.each([
    [
      ['submit', '--help'],
      ['remove-vm', 'remove-disk'],
    ],
    [
      ['submit', 'remove-vm', '--help'],
      ['--vm <id|name>', '--force', '--wait'],
    ],
    [
      ['submit', 'remove-disk', '--help'],
      ['--disk <id>', '--force', '--wait', '--json'],
    ],
    [
      ['status', '--help'],
      ['<workflowId>', '--json'],
    ],
    [
      ['watch', '--help'],
      ['<workflowId>', '--json'],
    ],
    [
      ['cancel', '--help'],
      ['<workflowId>', '--wait'],
    ],
    [
      ['list', '--help'],
      ['--vm', '--type', '--status', '--limit', '--json'],
    ],
    [
      ['inventory', '--help'],
      ['<what>', '--json'],
    ],
    [
      ['history', 'export', '--help'],
      ['<workflowId>', '--out <dir>'],
    ],
    [
      ['dev', '--help'],
      ['--data', '--temporal-port', '--ui-port', '--vdsm-port', '--fixture', '--demo'],
    ],
  ])('`%s` describes its flags', (args, expected) => {
    const result = runCliSync(args);
    expect(result.status).toBe(0);
    for (const text of expected) expect(result.stdout).toContain(text);
  });

  it.each([
    [[], 'Usage: ovirt-tasks'],
    [['no-such-command'], "unknown command 'no-such-command'"],
    [['list', '--bogus'], "unknown option '--bogus'"],
    [['list', '--limit', '0'], 'must be a positive integer'],
    [['inventory', 'hosts'], 'Allowed choices are vms, disks, tasks'],
    [['submit', 'remove-vm'], "required option '--vm <id|name>' not specified"],
    [['dev', '--temporal-port', '70000'], 'must be a port number'],
  ])('bad usage %j exits 2 and says why', (args, message) => {
    const result = runCliSync(args);
    expect(result.stderr).toContain(message);
    expect(result.status).toBe(ExitCode.Usage);
  });

  it('`worker` says at once that Temporal cannot be reached, and waits for it instead of exiting', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-cli-'));
    const child = spawnCli(['worker'], {
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      OVIRT_TASKS_INVENTORY_URL: `sqlite:${join(dataDir, 'inventory.db')}`,
    });
    let stderr = '';
    let exited = false;
    const exit = new Promise<void>((resolve) => child.on('close', () => ((exited = true), resolve())));
    await new Promise<void>((resolve, reject) => {
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        if (stderr.includes('retrying every 5 s until it answers')) resolve();
      });
      void exit.then(() => reject(new Error(`the worker exited: ${stderr}`)));
    });
    expect(stderr).toContain('ovirt-tasks worker: cannot reach Temporal at 127.0.0.1:1');
    expect(exited).toBe(false);
    child.kill('SIGTERM');
    await exit;
  });
});

describe('exitCodeFor', () => {
  const unavailable = Object.assign(new Error('14 UNAVAILABLE: No connection established'), {
    code: 14,
    details: 'No connection established',
    metadata: {},
  });

  it.each<[string, unknown, ExitCode]>([
    ['help shown', new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), ExitCode.Ok],
    [
      'commander usage error',
      new CommanderError(1, 'commander.unknownOption', 'unknown option'),
      ExitCode.Usage,
    ],
    ['own usage error', new UsageError('bad id'), ExitCode.Usage],
    ['bad configuration', new ConfigError('invalid configuration'), ExitCode.Usage],
    [
      'unreachable at connect',
      new TemporalUnreachableError('h:1', new Error('refused')),
      ExitCode.Unreachable,
    ],
    [
      'server gone mid-command',
      new ServiceError('Failed to start Workflow', { cause: unavailable }),
      ExitCode.Unreachable,
    ],
    ['anything else', new Error('workflow failed'), ExitCode.Failed],
  ])('%s → %i', (_what, error, code) => {
    expect(exitCodeFor(error)).toBe(code);
  });
});
