/**
 * How a stack reaches Temporal: a server it started itself (address and namespace: dev, tests,
 * bench, record-histories) or the environment, read as the `temporal` CLI reads it (`ovirt-tasks
 * worker`: TEMPORAL_*, temporal.toml).
 */
import { Client, Connection, type ClientOptions } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { connectClient, connectWorkerConnection } from '../shared/temporal-connection';

export type TemporalTarget = { address: string; namespace: string } | { env: NodeJS.ProcessEnv };

/** A client (its own connection); `interceptors` e.g. start a trace at submit. */
export async function connectStackClient(
  target: TemporalTarget,
  interceptors?: ClientOptions['interceptors'],
): Promise<{ client: Client; connection: Connection; namespace: string }> {
  if ('env' in target) {
    const { connection, namespace } = await connectClient({ env: target.env });
    return { client: new Client({ connection, namespace, interceptors }), connection, namespace };
  }
  const connection = await Connection.connect({ address: target.address });
  const client = new Client({ connection, namespace: target.namespace, interceptors });
  return { client, connection, namespace: target.namespace };
}

/** The Rust-core connection a worker polls through. */
export async function connectStackWorker(
  target: TemporalTarget,
): Promise<{ connection: NativeConnection; namespace: string }> {
  if ('env' in target) return connectWorkerConnection({ env: target.env });
  // Loaded on use, as in connectWorkerConnection: the native core only where a worker runs.
  const { NativeConnection } = await import('@temporalio/worker');
  return {
    connection: await NativeConnection.connect({ address: target.address }),
    namespace: target.namespace,
  };
}
