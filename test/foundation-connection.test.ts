import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  connectClient,
  connectWorkerConnection,
  loadTemporalConnectionOptions,
  TemporalUnreachableError,
} from '../src/shared/temporal-connection';
import { ConfigError } from '../src/config/config';
import { testAddress } from './support/temporal';

/** No config file unless a test writes one: HOME points at an empty directory. */
const isolated = (env: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  HOME: mkdtempSync(join(tmpdir(), 'ovirt-tasks-home-')),
  ...env,
});

describe('loadTemporalConnectionOptions (read like the temporal CLI)', () => {
  it('defaults to localhost:7233 and namespace default, without TLS', () => {
    const options = loadTemporalConnectionOptions({ env: isolated() });
    expect(options.connectionOptions.address).toBe('localhost:7233');
    expect(options.namespace).toBe('default');
    expect(options.connectionOptions.tls).toBeUndefined();
  });

  it('reads TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY (an API key implies TLS)', () => {
    const options = loadTemporalConnectionOptions({
      env: isolated({
        TEMPORAL_ADDRESS: 'prod.tmprl.cloud:7233',
        TEMPORAL_NAMESPACE: 'ovirt.acct',
        TEMPORAL_API_KEY: 'k',
      }),
    });
    expect(options.connectionOptions).toMatchObject({
      address: 'prod.tmprl.cloud:7233',
      apiKey: 'k',
      tls: true,
    });
    expect(options.namespace).toBe('ovirt.acct');
  });

  it('reads a temporal.toml profile, with environment variables on top and explicit overrides above all', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-toml-'));
    const file = join(dir, 'temporal.toml');
    writeFileSync(
      file,
      '[profile.prod]\naddress = "toml-host:7233"\nnamespace = "toml-ns"\n[profile.prod.tls]\nserver_name = "temporal.example"\n',
    );
    const env = isolated({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' });

    const fromToml = loadTemporalConnectionOptions({ env });
    expect(fromToml.connectionOptions.address).toBe('toml-host:7233');
    expect(fromToml.namespace).toBe('toml-ns');
    expect(fromToml.connectionOptions.tls).toMatchObject({ serverNameOverride: 'temporal.example' });

    const envOnTop = loadTemporalConnectionOptions({ env: { ...env, TEMPORAL_NAMESPACE: 'env-ns' } });
    expect(envOnTop.namespace).toBe('env-ns');
    expect(envOnTop.connectionOptions.address).toBe('toml-host:7233');

    const overridden = loadTemporalConnectionOptions({ env, address: 'flag-host:1', namespace: 'flag-ns' });
    expect(overridden.connectionOptions.address).toBe('flag-host:1');
    expect(overridden.namespace).toBe('flag-ns');
  });

  it('fails on a profile that does not exist, naming the setting', () => {
    expect(() => loadTemporalConnectionOptions({ env: isolated(), profile: 'nope' })).toThrow(
      /profile: Profile 'nope' not found/,
    );
    expect(() => loadTemporalConnectionOptions({ env: isolated({ TEMPORAL_PROFILE: 'nope' }) })).toThrow(
      /TEMPORAL_PROFILE: Profile 'nope' not found/,
    );
  });
});

describe('a bad Temporal setting is a ConfigError naming it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-temporal-config-'));
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const cert = file('cert.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const key = file('key.pem', '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n');
  const notPem = file('notes.txt', 'hello');

  it.each<[string, Record<string, string>, string]>([
    ['TEMPORAL_ADDRESS', { TEMPORAL_ADDRESS: 'localhost' }, 'must be host:port'],
    ['TEMPORAL_ADDRESS', { TEMPORAL_ADDRESS: 'http://localhost:7233' }, 'must be host:port'],
    ['TEMPORAL_ADDRESS', { TEMPORAL_ADDRESS: 'localhost:99999' }, 'port outside 1-65535'],
    ['TEMPORAL_ADDRESS', { TEMPORAL_ADDRESS: 'local host:7233' }, 'must be host:port'],
    ['TEMPORAL_TLS', { TEMPORAL_TLS: 'maybe' }, 'must be true, false, 1 or 0 (got "maybe")'],
    [
      'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
      { TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'yes' },
      'must be true, false, 1 or 0',
    ],
    [
      'TEMPORAL_CONFIG_FILE',
      { TEMPORAL_CONFIG_FILE: join(dir, 'absent.toml') },
      'absent.toml does not exist',
    ],
    ['TEMPORAL_CONFIG_FILE', { TEMPORAL_CONFIG_FILE: dir }, 'is not a file'],
    [
      'TEMPORAL_CONFIG_FILE',
      { TEMPORAL_CONFIG_FILE: file('broken.toml', '[profile.default\naddress = 1\n') },
      'broken.toml',
    ],
    [
      'TEMPORAL_CONFIG_FILE',
      { TEMPORAL_CONFIG_FILE: file('not-a-table.toml', 'profile = 3\n') },
      'profile must be a table',
    ],
    [
      'TEMPORAL_CONFIG_FILE',
      { TEMPORAL_CONFIG_FILE: file('unknown-key.toml', '[profile.default]\nadress = "x:1"\n') },
      'unrecognized in profile.default: adress',
    ],
    [
      'TEMPORAL_TLS_CLIENT_CERT_PATH',
      { TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'absent.pem'), TEMPORAL_TLS_CLIENT_KEY_PATH: key },
      'absent.pem does not exist',
    ],
    [
      'TEMPORAL_TLS_CLIENT_KEY_PATH',
      { TEMPORAL_TLS_CLIENT_CERT_PATH: cert, TEMPORAL_TLS_CLIENT_KEY_PATH: notPem },
      'is not a PEM private key',
    ],
    [
      'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
      { TEMPORAL_TLS_SERVER_CA_CERT_PATH: notPem },
      'is not a PEM certificate',
    ],
    [
      'temporal.toml tls.server_ca_cert',
      {
        TEMPORAL_CONFIG_FILE: file(
          'tls.toml',
          `[profile.default]\naddress = "h:7233"\n[profile.default.tls]\nserver_ca_cert_path = "${notPem}"\n`,
        ),
      },
      'not a PEM certificate',
    ],
    [
      'a TLS file',
      {
        TEMPORAL_CONFIG_FILE: file(
          'tls-missing.toml',
          `[profile.default]\n[profile.default.tls]\nclient_cert_path = "${join(dir, 'gone.pem')}"\nclient_key_path = "${key}"\n`,
        ),
      },
      'gone.pem does not exist',
    ],
  ])('%s', (setting, env, problem) => {
    let error: unknown;
    try {
      loadTemporalConnectionOptions({ env: isolated(env) });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('invalid configuration:');
    expect(message).toContain(`${setting}`);
    expect(message).toContain(problem);
  });

  it('accepts valid PEM files and an IPv6 address', () => {
    const options = loadTemporalConnectionOptions({
      env: isolated({
        TEMPORAL_ADDRESS: '[::1]:7233',
        TEMPORAL_TLS_CLIENT_CERT_PATH: cert,
        TEMPORAL_TLS_CLIENT_KEY_PATH: key,
        TEMPORAL_TLS: 'true',
      }),
    });
    expect(options.connectionOptions.address).toBe('[::1]:7233');
    expect(options.connectionOptions.tls).toMatchObject({ clientCertPair: expect.anything() });
  });
});

describe('connecting', () => {
  it('connectClient and connectWorkerConnection reach the server named by TEMPORAL_ADDRESS', async () => {
    const env = isolated({ TEMPORAL_ADDRESS: testAddress() });
    const { client, connection, namespace } = await connectClient({ env });
    const worker = await connectWorkerConnection({ env });
    try {
      expect(namespace).toBe('default');
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.serverVersion).toBeTruthy();
      expect(client.options.namespace).toBe('default');
      expect(worker.namespace).toBe('default');
    } finally {
      await connection.close();
      await worker.connection.close();
    }
  });

  it('an unreachable server is a TemporalUnreachableError naming the address', async () => {
    await expect(
      connectWorkerConnection({ env: isolated({ TEMPORAL_ADDRESS: '127.0.0.1:1' }) }),
    ).rejects.toThrow(TemporalUnreachableError);
    await expect(
      connectWorkerConnection({ env: isolated({ TEMPORAL_ADDRESS: '127.0.0.1:1' }) }),
    ).rejects.toThrow('cannot reach Temporal at 127.0.0.1:1');
  });
});
