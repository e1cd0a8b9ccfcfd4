import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, ConfigSchema, loadConfig } from '../src/config/config';
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
    ['POLL_BACKOFF_FACTOR', { POLL_BACKOFF_FACTOR: 'fast' }, 'Expected number'],
    ['POLL_BACKOFF_FACTOR', { POLL_BACKOFF_FACTOR: '0.5' }, 'greater than or equal to 1'],
    ['VDSM_REQUEST_TIMEOUT_MS', { VDSM_REQUEST_TIMEOUT_MS: '0' }, 'greater than 0'],
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
      'greater than or equal to 0',
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
      expect(result.stderr).toContain('POLL_BACKOFF_FACTOR: Expected number');
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
