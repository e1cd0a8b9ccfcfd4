import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnection, NativeConnectionOptions } from '@temporalio/worker';
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

export function loadTemporalConnectionOptions(
  overrides: TemporalConnectionOverrides = {},
): TemporalConnectionOptions {
  const env = overrides.env ?? process.env;
  const { connectionOptions, namespace } = loadClientConnectConfig({
    profile: overrides.profile,
    overrideEnvVars: definedEntries(env),
  });
  return {
    connectionOptions: {
      ...connectionOptions,
      address: overrides.address ?? connectionOptions.address ?? DEFAULT_ADDRESS,
    },
    namespace: overrides.namespace ?? namespace ?? DEFAULT_NAMESPACE,
  };
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
