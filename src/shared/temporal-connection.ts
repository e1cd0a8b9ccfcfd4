import { existsSync, statSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnection, NativeConnectionOptions } from '@temporalio/worker';
import { ConfigError } from '../config/config';
import { pemDataProblem, pemFileProblem, type PemKind } from '../config/pem';
import { DEFAULT_NAMESPACE } from './names';

/**
 * How ovirt-tasks reaches Temporal, read exactly as the `temporal` CLI reads it
 * (@temporalio/envconfig): the temporal.toml profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE),
 * then TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_GRPC_META_*
 * on top. Unset address = localhost:7233, unset namespace = default.
 */
export interface TemporalConnectionOptions {
  connectionOptions: NativeConnectionOptions & { address: string };
  namespace: string;
}

export interface TemporalConnectionOverrides {
  address?: string;
  namespace?: string;
  /** temporal.toml profile name (else TEMPORAL_PROFILE, else "default"). */
  profile?: string;
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_ADDRESS = 'localhost:7233';
const CONNECT_TIMEOUT = '5s';

/** The server could not be reached (the CLI maps this to exit code 3). */
export class TemporalUnreachableError extends Error {
  override readonly name = 'TemporalUnreachableError';
  constructor(
    readonly address: string,
    cause: unknown,
  ) {
    super(`cannot reach Temporal at ${address}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}

/**
 * The connection settings, checked: envconfig ignores a TEMPORAL_CONFIG_FILE that does not exist,
 * reads TEMPORAL_TLS=maybe as false and passes any address on, and its own errors name no
 * setting. Every problem here is a ConfigError naming the setting (the CLI exits 2).
 */
export function loadTemporalConnectionOptions(
  overrides: TemporalConnectionOverrides = {},
): TemporalConnectionOptions {
  const env = definedEntries(overrides.env ?? process.env);
  checkEnvironment(env);
  let loaded: ReturnType<typeof loadClientConnectConfig>;
  try {
    // Strict: a mistyped key (`adress`) would otherwise be ignored and the default address used.
    loaded = loadClientConnectConfig({
      profile: overrides.profile,
      overrideEnvVars: env,
      configFileStrict: true,
    });
  } catch (err) {
    throw configError(whichSetting(err, env, overrides.profile), messageOf(err), err);
  }
  const { connectionOptions, namespace } = loaded;
  const address = overrides.address ?? connectionOptions.address ?? DEFAULT_ADDRESS;
  const addressProblem = hostPortProblem(address);
  if (addressProblem) {
    const setting =
      overrides.address !== undefined
        ? 'address'
        : env.TEMPORAL_ADDRESS
          ? 'TEMPORAL_ADDRESS'
          : 'temporal.toml address';
    throw configError(setting, `${JSON.stringify(address)} ${addressProblem}`);
  }
  checkTlsMaterial(connectionOptions.tls);
  return {
    connectionOptions: { ...connectionOptions, address },
    namespace: overrides.namespace ?? namespace ?? DEFAULT_NAMESPACE,
  };
}

function configError(setting: string, problem: string, cause?: unknown): ConfigError {
  return new ConfigError(`invalid configuration:\n  ${setting}: ${problem}`, { cause });
}

const BOOLEAN_VARIABLES = ['TEMPORAL_TLS', 'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION'];
const TLS_FILES: ReadonlyArray<{ path: string; data: string; kind: PemKind }> = [
  { path: 'TEMPORAL_TLS_CLIENT_CERT_PATH', data: 'TEMPORAL_TLS_CLIENT_CERT_DATA', kind: 'certificate' },
  { path: 'TEMPORAL_TLS_CLIENT_KEY_PATH', data: 'TEMPORAL_TLS_CLIENT_KEY_DATA', kind: 'private key' },
  { path: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', data: 'TEMPORAL_TLS_SERVER_CA_CERT_DATA', kind: 'certificate' },
];

/** What the environment says on its own, before envconfig reads anything. */
function checkEnvironment(env: Record<string, string>): void {
  for (const name of BOOLEAN_VARIABLES) {
    const value = env[name];
    if (value !== undefined && !['true', 'false', '1', '0'].includes(value))
      throw configError(name, `must be true, false, 1 or 0 (got ${JSON.stringify(value)})`);
  }
  const file = env.TEMPORAL_CONFIG_FILE;
  if (file !== undefined && file !== '') {
    if (!existsSync(file)) throw configError('TEMPORAL_CONFIG_FILE', `${file} does not exist`);
    if (!statSync(file).isFile()) throw configError('TEMPORAL_CONFIG_FILE', `${file} is not a file`);
  }
  for (const { path, data, kind } of TLS_FILES) {
    const problem =
      env[path] !== undefined
        ? pemFileProblem(env[path], kind)
        : env[data] !== undefined
          ? pemDataProblem(env[data], kind)
          : undefined;
    if (problem) throw configError(env[path] !== undefined ? path : data, problem);
  }
  if (env.TEMPORAL_ADDRESS !== undefined) {
    const problem = hostPortProblem(env.TEMPORAL_ADDRESS);
    if (problem) throw configError('TEMPORAL_ADDRESS', `${JSON.stringify(env.TEMPORAL_ADDRESS)} ${problem}`);
  }
}

/** The TLS material envconfig loaded (also from temporal.toml paths and data) must be PEM. */
function checkTlsMaterial(tls: NativeConnectionOptions['tls']): void {
  if (!tls || typeof tls !== 'object') return;
  const parts: Array<[string, Uint8Array | undefined, PemKind]> = [
    ['temporal.toml tls.server_ca_cert', tls.serverRootCACertificate, 'certificate'],
    ['temporal.toml tls.client_cert', tls.clientCertPair?.crt, 'certificate'],
    ['temporal.toml tls.client_key', tls.clientCertPair?.key, 'private key'],
  ];
  for (const [setting, data, kind] of parts) {
    const problem = data === undefined ? undefined : pemDataProblem(data, kind);
    if (problem) throw configError(setting, problem);
  }
}

/** `host:port` as the temporal CLI takes it (no scheme, no path), port 1-65535. */
function hostPortProblem(address: string): string | undefined {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/.exec(address);
  if (!match) return 'must be host:port (e.g. localhost:7233), without a scheme or path';
  const port = Number(match[2]);
  return port >= 1 && port <= 65_535 ? undefined : 'has a port outside 1-65535';
}

/** Names the setting behind an envconfig error: the profile, a TLS file, or the config file. */
function whichSetting(err: unknown, env: Record<string, string>, profile: string | undefined): string {
  const message = messageOf(err);
  if (/^Profile '.*' not found/.test(message)) return profile !== undefined ? 'profile' : 'TEMPORAL_PROFILE';
  const file = env.TEMPORAL_CONFIG_FILE || 'temporal.toml (default location)';
  const errno = err as NodeJS.ErrnoException;
  if (errno.code === 'ENOENT' && errno.path) return `${file}: a TLS file`;
  return env.TEMPORAL_CONFIG_FILE ? `TEMPORAL_CONFIG_FILE (${file})` : file;
}

function messageOf(err: unknown): string {
  const errno = err as NodeJS.ErrnoException;
  if (errno.code === 'ENOENT' && errno.path) return `${errno.path} does not exist`;
  // TOML parse errors quote the offending line with a caret on following lines: the first says it.
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

/** A client connection; throws TemporalUnreachableError when the frontend does not answer. */
export async function connectClient(
  overrides: TemporalConnectionOverrides = {},
): Promise<{ client: Client; connection: Connection; namespace: string }> {
  const { connectionOptions, namespace } = loadTemporalConnectionOptions(overrides);
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...connectionOptions, connectTimeout: CONNECT_TIMEOUT });
  } catch (err) {
    throw new TemporalUnreachableError(connectionOptions.address, err);
  }
  return { client: new Client({ connection, namespace }), connection, namespace };
}

/** How long a probe waits for the frontend's answer: a frozen server accepts and never answers. */
const PROBE_TIMEOUT_MS = 3_000;

/**
 * Throws TemporalUnreachableError unless the frontend answers a cheap call (GetSystemInfo) in
 * time: tells "the server cannot be reached" apart from "no worker answered".
 */
export async function probeTemporal(connection: Connection, timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
  try {
    await connection.withDeadline(Date.now() + timeoutMs, () => connection.workflowService.getSystemInfo({}));
  } catch (err) {
    throw new TemporalUnreachableError(connection.options.address, err);
  }
}

/** The Rust-core connection a Worker needs; throws TemporalUnreachableError when unreachable. */
export async function connectWorkerConnection(
  overrides: TemporalConnectionOverrides = {},
): Promise<{ connection: NativeConnection; namespace: string }> {
  const { connectionOptions, namespace } = loadTemporalConnectionOptions(overrides);
  // Loaded on use: it brings the native Rust core, which client-only commands never need.
  const { NativeConnection } = await import('@temporalio/worker');
  try {
    return { connection: await NativeConnection.connect(connectionOptions), namespace };
  } catch (err) {
    throw new TemporalUnreachableError(connectionOptions.address, err);
  }
}

/** envconfig wants Record<string, string>; process.env may hold undefined values. */
function definedEntries(env: NodeJS.ProcessEnv): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) result[key] = value;
  return result;
}
