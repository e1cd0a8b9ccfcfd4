import type { ChildProcess } from 'node:child_process';
import { spawnCli, type CliResult } from './cli';
import type { EngineStack } from './engine-stack';
import { testAddress, TEST_NAMESPACE } from './temporal';

/** The environment that points the CLI at the stack: the suite's server, its inventory and task queue. */
export function stackCliEnv(s: Pick<EngineStack, 'inventoryUrl' | 'taskQueue'>): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: testAddress(),
    TEMPORAL_NAMESPACE: TEST_NAMESPACE,
    OVIRT_TASKS_INVENTORY_URL: s.inventoryUrl,
    OVIRT_TASKS_TASK_QUEUE: s.taskQueue,
  };
}

/**
 * The built CLI against the stack, run to its end without blocking this process (the in-process
 * worker lives in it). `spawned`, when given, receives the child (e.g. to kill it after the test).
 */
export function runStackCli(
  s: Pick<EngineStack, 'inventoryUrl' | 'taskQueue'>,
  args: string[],
  spawned?: (child: ChildProcess) => void,
): Promise<CliResult> {
  const child = spawnCli(args, stackCliEnv(s));
  spawned?.(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
