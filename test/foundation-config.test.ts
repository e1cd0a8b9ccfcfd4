import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, ConfigSchema, loadConfig, MAX_TIMER_MS } from '../src/config/config';
import { projectRoot } from '../src/dev/project-root';
import { runCliSync } from './support/cli';

describe('loadConfig', () => {
  it('applies the defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.taskQueue).toBe('ovirt-tasks');
    expect(config.inventoryUrl).toBe('sqlite:.data/inventory.db');
    expect(config.vdsm.tls).toBeUndefined();
    expect(config.polling.minIntervalMs).toBeLessThanOrEqual(config.polling.maxIntervalMs);
    expect(config.maxCachedWorkflows).toBe(500);
  });

  it('reads the workflow cache size; 0 disables the cache', () => {
    expect(loadConfig({ OVIRT_TASKS_MAX_CACHED_WORKFLOWS: '100' }).maxCachedWorkflows).toBe(100);
    expect(loadConfig({ OVIRT_TASKS_MAX_CACHED_WORKFLOWS: '0' }).maxCachedWorkflows).toBe(0);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ POLL_MIN_INTERVAL_MS: '' }).polling.minIntervalMs).toBe(
      loadConfig({}).polling.minIntervalMs,
    );
  });

  it('lets overrides (flags) win over the environment', () => {
    const config = loadConfig(
      { OVIRT_TASKS_TASK_QUEUE: 'from-env' },
      { OVIRT_TASKS_TASK_QUEUE: 'from-flag' },
    );
    expect(config.taskQueue).toBe('from-flag');
  });

  it.each([
    ['POLL_BACKOFF_FACTOR', { POLL_BACKOFF_FACTOR: 'fast' }, 'must be a decimal number from 1 to 10'],
    ['POLL_BACKOFF_FACTOR', { POLL_BACKOFF_FACTOR: '0.5' }, 'must be a decimal number from 1 to 10'],
    ['POLL_BACKOFF_FACTOR', { POLL_BACKOFF_FACTOR: '1e1' }, 'must be a decimal number from 1 to 10'],
    ['VDSM_REQUEST_TIMEOUT_MS', { VDSM_REQUEST_TIMEOUT_MS: '0' }, 'from 1 to 3600000 (1 ms to 1 h)'],
    // Node would turn this into a 1 ms timer: requests failed after 2 ms.
    [
      'VDSM_REQUEST_TIMEOUT_MS',
      { VDSM_REQUEST_TIMEOUT_MS: '3000000000' },
      'must be a decimal integer from 1 to 3600000 (1 ms to 1 h)',
    ],
    ['VDSM_REQUEST_TIMEOUT_MS', { VDSM_REQUEST_TIMEOUT_MS: '0x10' }, 'must be a decimal integer'],
    ['VDSM_REQUEST_TIMEOUT_MS', { VDSM_REQUEST_TIMEOUT_MS: '1e3' }, 'must be a decimal integer'],
    ['VDSM_REQUEST_TIMEOUT_MS', { VDSM_REQUEST_TIMEOUT_MS: ' 100' }, 'must be a decimal integer'],
    ['POLL_MAX_INTERVAL_MS', { POLL_MAX_INTERVAL_MS: '86400000' }, 'from 1 to 3600000 (1 ms to 1 h)'],
    ['POLL_FAST_PHASE_MS', { POLL_FAST_PHASE_MS: '-1' }, 'from 0 to 3600000 (0 ms to 1 h)'],
    ['JANITOR_GRACE_MS', { JANITOR_GRACE_MS: '604800001' }, 'from 0 to 604800000 (0 ms to 7 d)'],
    ['JANITOR_INTERVAL_MS', { JANITOR_INTERVAL_MS: '99999999999' }, 'from 1 to 86400000 (1 ms to 1 d)'],
    ['TASK_AGE_LIMIT_MS', { TASK_AGE_LIMIT_MS: '2147483648' }, 'from 1 to 2073600000 (1 ms to 24 d)'],
    ['MAX_CONCURRENT_IMAGES', { MAX_CONCURRENT_IMAGES: '1001' }, 'must be a decimal integer from 1 to 1000'],
    ['VDSM_SPM_TASK_LIMIT', { VDSM_SPM_TASK_LIMIT: '0x1F4' }, 'must be a decimal integer from 1 to 100000'],
    ['OVIRT_TASKS_SEED_VDSM_BASE_PORT', { OVIRT_TASKS_SEED_VDSM_BASE_PORT: '65536' }, 'from 1 to 65535'],
    [
      'OVIRT_TASKS_TASK_QUEUE',
      { OVIRT_TASKS_TASK_QUEUE: 'q'.repeat(1001) },
      "at most 1000 characters (Temporal's limit for a task queue name)",
    ],
    ['OVIRT_TASKS_TASK_QUEUE', { OVIRT_TASKS_TASK_QUEUE: '/_sys/mine' }, 'must not start with /_sys/'],
    [
      'OVIRT_TASKS_INVENTORY_URL',
      { OVIRT_TASKS_INVENTORY_URL: 'mysql://db' },
      'must be sqlite:<file> or postgres://...',
    ],
    ['LOG_LEVEL', { LOG_LEVEL: 'LOUD' }, "Expected 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR'"],
    [
      'POLL_MAX_INTERVAL_MS',
      { POLL_MIN_INTERVAL_MS: '5000', POLL_MAX_INTERVAL_MS: '1000' },
      'must be ≥ POLL_MIN_INTERVAL_MS',
    ],
    ['VDSM_TLS', { VDSM_TLS: 'true' }, 'needs VDSM_TLS_CERT, VDSM_TLS_KEY and VDSM_TLS_CA'],
    [
      'OVIRT_TASKS_MAX_CACHED_WORKFLOWS',
      { OVIRT_TASKS_MAX_CACHED_WORKFLOWS: '1' },
      'must be 0 (no cache) or at least 2',
    ],
    [
      'OVIRT_TASKS_MAX_CACHED_WORKFLOWS',
      { OVIRT_TASKS_MAX_CACHED_WORKFLOWS: '-5' },
      'must be a decimal integer from 0 to 100000',
    ],
  ])('rejects a bad %s with a message naming the variable and the rule', (variable, env, rule) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`${variable}: `);
    expect((error as Error).message).toContain(rule);
  });
});

describe('bounds', () => {
  const durations = Object.keys(ConfigSchema.innerType().shape).filter((key) => key.endsWith('_MS'));

  it('every duration is bounded below what Node timers hold, and the error says the bound', () => {
    expect(durations).toHaveLength(7);
    for (const key of durations) {
      let error: unknown;
      try {
        loadConfig({ [key]: String(MAX_TIMER_MS + 1) });
      } catch (err) {
        error = err;
      }
      expect({ key, error: String(error) }).toEqual({
        key,
        error: expect.stringMatching(new RegExp(`${key}: must be a decimal integer from \\d+ to \\d+ \\(`)),
      });
    }
  });

  it('accepts each bound itself', () => {
    const config = loadConfig({
      VDSM_REQUEST_TIMEOUT_MS: '3600000',
      TASK_AGE_LIMIT_MS: '2073600000',
      POLL_MIN_INTERVAL_MS: '600000',
      POLL_MAX_INTERVAL_MS: '3600000',
      POLL_BACKOFF_FACTOR: '10',
      JANITOR_GRACE_MS: '0',
    });
    expect(config.vdsm.requestTimeoutMs).toBe(3_600_000);
    expect(config.janitor.taskAgeLimitMs).toBe(2_073_600_000);
    expect(config.polling.backoffFactor).toBe(10);
  });
});

describe('VDSM TLS files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-pem-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const notPem = join(dir, 'notes.txt');
  writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  writeFileSync(key, '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n');
  writeFileSync(notPem, 'hello');
  const tls = (files: Record<string, string>): NodeJS.ProcessEnv => ({
    VDSM_TLS: 'true',
    VDSM_TLS_CERT: cert,
    VDSM_TLS_KEY: key,
    VDSM_TLS_CA: cert,
    ...files,
  });

  it('accepts PEM files', () => {
    expect(loadConfig(tls({})).vdsm.tls).toEqual({ cert, key, ca: cert });
  });

  it.each([
    ['VDSM_TLS_CERT', { VDSM_TLS_CERT: join(dir, 'missing.pem') }, 'missing.pem does not exist'],
    ['VDSM_TLS_KEY', { VDSM_TLS_KEY: notPem }, 'is not a PEM private key'],
    ['VDSM_TLS_KEY', { VDSM_TLS_KEY: cert }, 'is not a PEM private key'],
    ['VDSM_TLS_CA', { VDSM_TLS_CA: notPem }, 'is not a PEM certificate'],
  ])('refuses a bad %s naming it', (variable, files, problem) => {
    expect(() => loadConfig(tls(files))).toThrow(ConfigError);
    expect(() => loadConfig(tls(files))).toThrow(`${variable}: `);
    expect(() => loadConfig(tls(files))).toThrow(problem);
  });

  it('leaves the files unchecked when told (client commands)', () => {
    expect(loadConfig(tls({ VDSM_TLS_CA: notPem }), {}, { checkFiles: false }).vdsm.tls?.ca).toBe(notPem);
  });
});

describe('a bad configuration stops the CLI before anything starts', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-config-'));

  it.each([['dev', '--data', dataDir], ['worker']])(
    '`ovirt-tasks %s` exits 2 naming the variable',
    (...args) => {
      const result = runCliSync(args, {
        POLL_BACKOFF_FACTOR: 'fast',
        OVIRT_TASKS_INVENTORY_URL: `sqlite:${join(dataDir, 'inv.db')}`,
      });
      expect(result.stderr).toContain('invalid configuration');
      expect(result.stderr).toContain('POLL_BACKOFF_FACTOR: must be a decimal number from 1 to 10');
      expect(result.status).toBe(2);
    },
  );
});

describe('README.md', () => {
  it('documents every configuration variable', () => {
    const readme = readFileSync(join(projectRoot(), 'README.md'), 'utf8');
    for (const variable of Object.keys(ConfigSchema.innerType().shape))
      expect(readme).toContain(`\`${variable}\``);
  });
});
