/**
 * The built CLI against careless and hostile input (issue 14, "The CLI and configuration"):
 * output through a real pipe, option-like values, and settings that must exit 2 naming
 * themselves before anything is started or contacted. No Temporal server is needed: anything
 * contacted by mistake would show as exit 3 (TEMPORAL_ADDRESS points at a closed port).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode } from '../src/cli/exit-codes';
import { generateDataCenter } from '../src/fixture';
import { openInventory } from '../src/inventory';
import { workflowIds } from '../src/shared/names';
import { assertCliBuilt, CLI_BIN, runCliSync } from './support/cli';

const CLOSED_PORT = '127.0.0.1:1';
const dir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-cli-hardening-'));
const neverInventory = join(dir, 'never', 'inventory.db');
/** Anything contacted would show: Temporal as exit 3, the inventory as a message about it. */
const offline = {
  TEMPORAL_ADDRESS: CLOSED_PORT,
  OVIRT_TASKS_INVENTORY_URL: `sqlite:${neverInventory}`,
  HOME: dir,
};
const someCommand = workflowIds.removeVm('7f0a5c1e-3b7d-4c2a-9e61-0d5b8f3a2c11');

const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const notPem = file('notes.txt', 'hello');

beforeAll(() => assertCliBuilt());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('output through a pipe', () => {
  const inventoryPath = join(dir, 'big', 'inventory.db');
  let diskCount = 0;

  beforeAll(async () => {
    mkdirSync(join(dir, 'big'));
    // Enough disks for --json to be several times a pipe's 64 KiB buffer.
    const fixture = generateDataCenter({ name: 'big', vmCount: 400, maxDisksPerVm: 8 });
    diskCount = fixture.disks.length;
    const inventory = openInventory(`sqlite:${inventoryPath}`);
    await inventory.init({ fixture, vdsmAddress: '127.0.0.1', vdsmBasePort: 54321 });
    await inventory.close();
  });

  it('inventory disks --json reaches a slow reader whole (it was cut at 64 KiB, exit 0)', async () => {
    // The reader starts late, so the pipe is full while the CLI has more to write.
    const child = spawn(
      'sh',
      ['-c', `"${process.execPath}" "${CLI_BIN}" inventory disks --json | { sleep 1; cat; }; exit $?`],
      {
        env: { ...process.env, OVIRT_TASKS_INVENTORY_URL: `sqlite:${inventoryPath}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const out = Buffer.concat(chunks).toString('utf8');
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(out.length).toBeGreaterThan(4 * 65_536);
    const disks = JSON.parse(out) as unknown[];
    expect(disks).toHaveLength(diskCount);
  });
});

describe('option-like values are refused (exit 2), nothing contacted', () => {
  it.each([
    [['submit', 'remove-vm', '--vm', '--force'], "option '--vm <id|name>' argument '--force' is invalid"],
    [['submit', 'remove-vm', '--vm=--help'], "option '--vm <id|name>' argument '--help' is invalid"],
    [['submit', 'remove-disk', '--disk', '--wait'], "option '--disk <id>' argument '--wait' is invalid"],
    [['list', '--vm', '-1'], "option '--vm <id|name>' argument '-1' is invalid"],
    [['list', '--limit', '-5'], "option '--limit <n>' argument '-5' is invalid"],
    [
      ['history', 'export', someCommand, '--out', '--json'],
      "option '--out <dir>' argument '--json' is invalid",
    ],
    [['dev', '--data', '--demo'], "option '--data <dir>' argument '--demo' is invalid"],
  ])('%j', (args, message) => {
    const result = runCliSync(args, offline);
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain('looks like an option, not a value');
    expect(result.status).toBe(ExitCode.Usage);
    expect(existsSync(neverInventory)).toBe(false);
  });
});

describe('bad Temporal settings exit 2 naming the setting, before connecting', () => {
  it.each<[string, Record<string, string>, string]>([
    [
      'a malformed TEMPORAL_ADDRESS (exit 3 before)',
      { TEMPORAL_ADDRESS: 'localhost' },
      'TEMPORAL_ADDRESS: "localhost" must be host:port',
    ],
    [
      'TEMPORAL_TLS=maybe (accepted before)',
      { TEMPORAL_TLS: 'maybe' },
      'TEMPORAL_TLS: must be true, false, 1 or 0',
    ],
    [
      'a missing TEMPORAL_CONFIG_FILE (accepted before)',
      { TEMPORAL_CONFIG_FILE: join(dir, 'absent.toml') },
      'TEMPORAL_CONFIG_FILE: ',
    ],
    [
      'a bad temporal.toml',
      { TEMPORAL_CONFIG_FILE: file('bad.toml', '[profile.default\n') },
      'TEMPORAL_CONFIG_FILE (',
    ],
    ['an unknown profile', { TEMPORAL_PROFILE: 'nope' }, "TEMPORAL_PROFILE: Profile 'nope' not found"],
    [
      'a missing TLS file',
      { TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'absent.pem') },
      'TEMPORAL_TLS_SERVER_CA_CERT_PATH: ',
    ],
    ['a non-PEM TLS file', { TEMPORAL_TLS_SERVER_CA_CERT_PATH: notPem }, 'is not a PEM certificate'],
    [
      'a task queue name beyond Temporal’s limit',
      { OVIRT_TASKS_TASK_QUEUE: 'q'.repeat(1001) },
      'OVIRT_TASKS_TASK_QUEUE: must be at most 1000 characters',
    ],
  ])('%s', (_what, env, message) => {
    const result = runCliSync(['status', someCommand], { ...offline, ...env });
    expect(result.stderr).toContain('invalid configuration');
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toContain('cannot reach Temporal');
    expect(result.status).toBe(ExitCode.Usage);
  });

  it('the worker refuses non-PEM VDSM TLS files and a bad Temporal setting alike', () => {
    const vdsm = runCliSync(['worker'], {
      ...offline,
      VDSM_TLS: 'true',
      VDSM_TLS_CERT: notPem,
      VDSM_TLS_KEY: notPem,
      VDSM_TLS_CA: notPem,
    });
    expect(vdsm.stderr).toContain('VDSM_TLS_CERT: ');
    expect(vdsm.stderr).toContain('is not a PEM certificate');
    expect(vdsm.status).toBe(ExitCode.Usage);
    const temporal = runCliSync(['worker'], {
      ...offline,
      OVIRT_TASKS_INVENTORY_URL: `sqlite:${join(dir, 'worker-inventory.db')}`,
      TEMPORAL_ADDRESS: 'http://temporal:7233',
    });
    expect(temporal.stderr).toContain('TEMPORAL_ADDRESS: "http://temporal:7233" must be host:port');
    expect(temporal.status).toBe(ExitCode.Usage);
  });
});

describe('the simulator and dev stack check their flags before starting', () => {
  it.each([
    [['vdsm-sim', '--faults', '{"durationz":{}}'], "Unrecognized key(s) in object: 'durationz'"],
    [['vdsm-sim', '--faults', '{"failures":[{"verb":"x","phase":"later"}]}'], 'failures.0.phase'],
    [['vdsm-sim', '--faults', '{not json'], 'not valid JSON'],
    [['vdsm-sim', '--tls-cert', join(dir, 'absent.pem')], 'absent.pem does not exist'],
    [['vdsm-sim', '--tls-key', notPem], 'is not a PEM private key'],
    [['vdsm-sim', '--fixture', notPem], 'cannot read fixture'],
  ])('%j exits 2 naming the flag', (args, message) => {
    const result = runCliSync(args, offline);
    expect(result.stderr).toContain(`option '${args[1]} `);
    expect(result.stderr).toContain(message);
    expect(result.status).toBe(ExitCode.Usage);
  });

  it('dev --fixture <bad> fails before the Temporal server is started', () => {
    const data = join(dir, 'dev-bad-fixture');
    const result = runCliSync(
      ['dev', '--data', data, '--fixture', file('fixture.json', '{"pool":1}')],
      offline,
    );
    expect(result.stderr).toContain("option '--fixture <file>' argument");
    expect(result.stderr).toContain('invalid fixture');
    expect(result.status).toBe(ExitCode.Usage);
    // The server would have written its log (and database) there.
    expect(existsSync(join(data, 'temporal.log'))).toBe(false);
  });

  it.each([
    ['under a file', (): string => join(notPem, 'data'), 'cannot create the directory (ENOTDIR)'],
    [
      'whose temporal.db is a directory',
      (): string => {
        const data = join(dir, 'dev-db-dir');
        mkdirSync(join(data, 'temporal.db'), { recursive: true });
        return data;
      },
      'temporal.db is a directory, not a file',
    ],
  ])('dev --data on a path %s fails at once, exit 2 naming --data', (_what, path, problem) => {
    const data = path();
    const result = runCliSync(
      ['dev', '--data', data, '--temporal-port', '0', '--ui-port', '0'],
      offline,
      10_000,
    );
    expect(result.stderr).toContain(`--data ${data}: ${problem}`);
    expect(result.status).toBe(ExitCode.Usage);
    expect(existsSync(join(data, 'temporal.log'))).toBe(false);
  });
});
