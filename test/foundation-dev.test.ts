import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { uuidFromName } from '../src/fixture';
import { openInventory } from '../src/inventory';
import { freePort } from '../src/dev/ports';
import { workflowIds } from '../src/shared/names';
import { spawnCli } from './support/cli';
import { uniqueTaskQueue, uniqueWorkflowId } from './support/temporal';

/**
 * `ovirt-tasks dev` as a user runs it (the built CLI): two lives on one --data dir. The first runs
 * the demo; the second must find the first one's Temporal runs and inventory changes.
 */
class DevProcess {
  private output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get text(): string {
    return this.output;
  }

  /** Resolves with the first match of `pattern` in the output; fails on exit or timeout, quoting the output. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      const match = pattern.exec(this.output);
      if (match) return match;
      if (exited || Date.now() > deadline) {
        throw new Error(
          `${exited ? 'exited' : 'timed out'} before ${String(pattern)}; output:\n${this.output}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe('ovirt-tasks dev', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-dev-'));
  const markerWorkflowId = uniqueWorkflowId('dev-life-1');
  const webVmId = uuidFromName('Default/vm/web-01');
  let temporalPort = 0;
  let uiPort = 0;
  const running: DevProcess[] = [];

  async function startDev(extraArgs: string[]): Promise<DevProcess> {
    const args = [
      'dev',
      '--data',
      dataDir,
      '--temporal-port',
      String(temporalPort),
      '--ui-port',
      String(uiPort),
    ];
    const dev = new DevProcess(spawnCli([...args, '--vdsm-port', '0', ...extraArgs], { LOG_LEVEL: 'WARN' }));
    running.push(dev);
    await dev.waitFor(/ovirt-tasks dev: ready/, 90_000);
    return dev;
  }

  async function stopWithSigterm(dev: DevProcess): Promise<{ code: number | null; elapsedMs: number }> {
    const started = Date.now();
    dev.child.kill('SIGTERM');
    const { code } = await dev.exited;
    return { code, elapsedMs: Date.now() - started };
  }

  beforeAll(async () => {
    temporalPort = await freePort();
    uiPort = await freePort();
  });

  afterAll(() => {
    // A failed test must not leave a stack behind (its dev server dies with it).
    for (const dev of running) if (dev.child.exitCode === null) dev.child.kill('SIGKILL');
  });

  it('first life: starts everything, serves gRPC and the Web UI, runs the demo, stops on SIGTERM with 0', async () => {
    const dev = await startDev(['--demo']);
    expect(dev.text).toContain(`Temporal Web UI    http://localhost:${uiPort}`);
    expect(dev.text).toContain('seeded from the fixture');
    // LOG_LEVEL=WARN reaches the Temporal runtime: no INFO lines from the SDK or core.
    expect(dev.text).not.toMatch(/\[INFO\]/);

    const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
    expect(ui.status).toBe(200);

    const connection = await Connection.connect({ address: `127.0.0.1:${temporalPort}` });
    try {
      expect((await connection.workflowService.getSystemInfo({})).serverVersion).toBeTruthy();
      // Never executed (no worker polls this queue): the next life must still know it.
      await connection.workflowService.startWorkflowExecution({
        namespace: 'default',
        workflowId: markerWorkflowId,
        workflowType: { name: 'neverRuns' },
        taskQueue: { name: uniqueTaskQueue() },
        requestId: markerWorkflowId,
      });
    } finally {
      await connection.close();
    }

    await dev.waitFor(/demo: RemoveVm of web-01 (succeeded|failed).*/, 120_000);
    expect(dev.text).toMatch(/demo: RemoveVm of web-01 succeeded/);
    expect(dev.text).toContain(
      `http://localhost:${uiPort}/namespaces/default/workflows/${encodeURIComponent(workflowIds.removeVm(webVmId))}/`,
    );

    const { code, elapsedMs } = await stopWithSigterm(dev);
    expect(code).toBe(0);
    expect(elapsedMs).toBeLessThan(15_000);
  }, 240_000);

  it('second life on the same --data resumes: runs and inventory changes of the first are there', async () => {
    const dev = await startDev([]);
    expect(dev.text).toContain('(resumed)');

    const connection = await Connection.connect({ address: `127.0.0.1:${temporalPort}` });
    try {
      const marker = await connection.workflowService.describeWorkflowExecution({
        namespace: 'default',
        execution: { workflowId: markerWorkflowId },
      });
      expect(marker.workflowExecutionInfo?.type?.name).toBe('neverRuns');
      const demo = await connection.workflowService.describeWorkflowExecution({
        namespace: 'default',
        execution: { workflowId: workflowIds.removeVm(webVmId) },
      });
      expect(demo.workflowExecutionInfo?.closeTime).toBeTruthy();
    } finally {
      await connection.close();
    }

    const { code } = await stopWithSigterm(dev);
    expect(code).toBe(0);

    const inventory = openInventory(`sqlite:${join(dataDir, 'inventory.db')}`);
    try {
      expect(await inventory.getVm(webVmId)).toBeUndefined();
    } finally {
      await inventory.close();
    }
  }, 180_000);
});
