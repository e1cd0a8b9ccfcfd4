/** `ovirt-tasks worker` as a real process (for tests that SIGKILL it), configured only through its environment. */
import { spawn, type ChildProcess } from 'node:child_process';
import { assertCliBuilt, CLI_BIN } from './cli';
import { TEST_CONFIG_OVERRIDES, type EngineStack } from './engine-stack';
import { testAddress } from './temporal';

const spawned: ChildProcess[] = [];

export function spawnWorker(s: EngineStack): ChildProcess {
  assertCliBuilt();
  const child = spawn(process.execPath, [CLI_BIN, 'worker'], {
    env: {
      PATH: process.env.PATH,
      TEMPORAL_ADDRESS: testAddress(),
      TEMPORAL_NAMESPACE: 'default',
      OVIRT_TASKS_TASK_QUEUE: s.taskQueue,
      OVIRT_TASKS_INVENTORY_URL: s.inventoryUrl,
      LOG_LEVEL: 'WARN',
      ...TEST_CONFIG_OVERRIDES,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.push(child);
  return child;
}

export async function killed(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** For afterEach: no worker process outlives its test. */
export function killSpawnedWorkers(): void {
  for (const child of spawned.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
}
