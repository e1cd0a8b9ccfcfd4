import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  connectClient,
  connectWorkerConnection,
  loadTemporalConnectionOptions,
  TemporalUnreachableError,
} from '../src/shared/temporal-connection';
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

  it('fails on a profile that does not exist', () => {
    expect(() => loadTemporalConnectionOptions({ env: isolated(), profile: 'nope' })).toThrow(
      "Profile 'nope' not found",
    );
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
