import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startDevServer, type DevServer } from '../../src/dev/dev-server';
import { projectRoot } from '../../src/dev/project-root';
import { resolveTemporalBinary } from '../../src/dev/temporal-binary';

declare global {
  // Shared with global-teardown.ts (both run in jest's parent process).
  var ovirtTasksTestServer: DevServer | undefined;
}

/**
 * ONE Temporal dev server (in memory, headless, free port) for the whole suite. Test files find it
 * through TEMPORAL_TEST_ADDRESS, which jest workers inherit from this process. A TEMPORAL_TEST_ADDRESS
 * already set points the suite at an existing server instead.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.TEMPORAL_TEST_ADDRESS) return;
  const logFile = join(projectRoot(), 'test-results', 'temporal-dev-server.log');
  rmSync(logFile, { force: true });
  const server = await startDevServer({
    binary: resolveTemporalBinary(),
    port: 0,
    headless: true,
    namespace: 'default',
    ip: '127.0.0.1',
    logLevel: 'warn',
    logFile,
  });
  globalThis.ovirtTasksTestServer = server;
  process.env.TEMPORAL_TEST_ADDRESS = server.address;
}
