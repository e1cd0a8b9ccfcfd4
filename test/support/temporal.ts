import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';

/** Helpers to reach the suite's one dev server (started by global-setup.ts). */
export const TEST_NAMESPACE = 'default';

export function testAddress(): string {
  const address = process.env.TEMPORAL_TEST_ADDRESS;
  if (!address)
    throw new Error('TEMPORAL_TEST_ADDRESS is not set: run through jest (globalSetup starts the server)');
  return address;
}

/** Close it with `connection.close()`. */
export function testConnection(): Promise<Connection> {
  return Connection.connect({ address: testAddress() });
}

/** Close it with `client.connection.close()`. */
export async function testClient(): Promise<Client> {
  return new Client({ connection: await testConnection(), namespace: TEST_NAMESPACE });
}

/** For Workers. Close it with `connection.close()`. */
export function testNativeConnection(): Promise<NativeConnection> {
  return NativeConnection.connect({ address: testAddress() });
}

/** Client + native connection in one object, torn down with `env.teardown()` (the server stays). */
export function testWorkflowEnvironment(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createFromExistingServer({
    address: testAddress(),
    namespace: TEST_NAMESPACE,
  });
}

/** One task queue per test: workers of other tests never pick up its tasks. */
export function uniqueTaskQueue(prefix = 'test'): string {
  return `${prefix}-${randomUUID()}`;
}

export function uniqueWorkflowId(prefix = 'test'): string {
  return `${prefix}/${randomUUID()}`;
}
