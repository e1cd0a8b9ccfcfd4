import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { startDevServer, type DevServerOptions } from '../src/dev/dev-server';
import { freePort, isPortFree } from '../src/dev/ports';
import { projectRoot } from '../src/dev/project-root';
import { resolveTemporalBinary } from '../src/dev/temporal-binary';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../src/shared/search-attributes';
import { assertCliBuilt } from './support/cli';
import { uniqueTaskQueue, uniqueWorkflowId } from './support/temporal';

/**
 * The launcher itself, with a persistent db (the suite's shared server is in memory). Costs two
 * server starts: the price of checking that a resumed db gets the search attributes.
 */
describe('startDevServer', () => {
  const binary = resolveTemporalBinary();
  const dir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-devserver-'));
  const options = (dbFile: string): DevServerOptions => ({
    binary,
    port: 0,
    headless: true,
    dbFile,
    namespace: 'default',
    ip: '127.0.0.1',
    logLevel: 'warn',
    logFile: join(dir, 'server.log'),
  });

  async function registeredSearchAttributes(address: string): Promise<Record<string, unknown>> {
    const connection = await Connection.connect({ address });
    try {
      const { customAttributes } = await connection.operatorService.listSearchAttributes({
        namespace: 'default',
      });
      return customAttributes ?? {};
    } finally {
      await connection.close();
    }
  }

  it('resumes a db: runs survive, and search attributes missing from it are registered', async () => {
    const dbFile = join(dir, 'resume.db');
    // A db that start-dev created WITHOUT our search attributes (start-dev only registers them on a new db).
    const plainPort = String(await freePort());
    const plain = spawnSync(
      'sh',
      [
        '-c',
        `"$0" server start-dev --headless --ip 127.0.0.1 --port "$2" --db-filename "$1" --log-level never & pid=$!
         until "$0" operator cluster health --address "127.0.0.1:$2" >/dev/null 2>&1; do sleep 0.2; done
         kill $pid; wait $pid`,
        binary,
        dbFile,
        plainPort,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(plain.status).toBe(0);

    const first = await startDevServer(options(dbFile));
    const workflowId = uniqueWorkflowId('survivor');
    try {
      const names = Object.keys(await registeredSearchAttributes(first.address));
      for (const { name } of SEARCH_ATTRIBUTE_REGISTRATIONS) expect(names).toContain(name);
      const connection = await Connection.connect({ address: first.address });
      // Never executed (no worker polls this queue): it only has to be remembered.
      await connection.workflowService.startWorkflowExecution({
        namespace: 'default',
        workflowId,
        workflowType: { name: 'neverRuns' },
        taskQueue: { name: uniqueTaskQueue() },
        requestId: workflowId,
      });
      await connection.close();
    } finally {
      await first.stop();
    }
    expect(await isPortFree(first.port)).toBe(true);

    const second = await startDevServer(options(dbFile));
    try {
      const connection = await Connection.connect({ address: second.address });
      const described = await connection.workflowService.describeWorkflowExecution({
        namespace: 'default',
        execution: { workflowId },
      });
      await connection.close();
      expect(described.workflowExecutionInfo?.type?.name).toBe('neverRuns');
    } finally {
      await second.stop();
    }
  });

  it('refuses a port that is already taken (another server there would answer for it)', async () => {
    const squatter = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => squatter.once('listening', resolve));
    const { port } = squatter.address() as AddressInfo;
    try {
      await expect(startDevServer({ ...options(join(dir, 'taken.db')), port })).rejects.toThrow(
        `port 127.0.0.1:${port} is in use`,
      );
    } finally {
      squatter.close();
    }
  });

  it('the server dies with the process that started it, even on SIGKILL', async () => {
    assertCliBuilt();
    const launcher = `
      const { startDevServer } = require(${JSON.stringify(join(projectRoot(), 'lib', 'dev', 'dev-server.js'))});
      startDevServer(${JSON.stringify({ ...options(join(dir, 'orphan.db')), headless: true })})
        .then((s) => console.log('PORT ' + s.port));`;
    const child = spawn(process.execPath, ['-e', launcher], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const match = /PORT (\d+)/.exec(chunk.toString());
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`launcher exited with ${code}`)));
    });
    expect(await isPortFree(port)).toBe(false);
    child.kill('SIGKILL');
    const deadline = Date.now() + 10_000;
    while (!(await isPortFree(port)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await isPortFree(port)).toBe(true);
  });
});
