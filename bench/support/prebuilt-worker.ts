/**
 * EXPERIMENT (`npm run bench -- --worker-bundle prebuilt`): `ovirt-tasks worker` as
 * runWorkerCommand (src/cli/worker-command.ts) assembles it (src/stack), with the same workflow bundle (the one
 * `npm run build` writes, lib/workflow-bundle.js; BENCH_WORKFLOW_BUNDLE overrides it), plus a full
 * GC and `process.memoryUsage()` on SIGUSR2: what is live, not just held. The product path is
 * `node bin/ovirt-tasks worker`. The cache size comes from OVIRT_TASKS_MAX_CACHED_WORKFLOWS.
 */
import { join } from 'node:path';
import { Runtime } from '@temporalio/worker';
import { loadConfig } from '../../src/config/config';
import { prebuiltWorkflowBundle } from '../../src/prebuilt-bundle';
import { projectRoot } from '../../src/dev/project-root';
import { assembleStack } from '../../src/stack';
import { OVIRT_WORKER_READY_LINE } from './worker-process';

export const MEMORY_LINE = 'BENCH_MEMORY ';

async function main(): Promise<void> {
  // The runtime's default shutdown signals include SIGUSR2: keep it for the memory report.
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM', 'SIGQUIT'] });
  // SIGUSR2: a full GC (node --expose-gc) then the memory figures: what is live, not just held.
  process.on('SIGUSR2', () => {
    (globalThis as { gc?: () => void }).gc?.();
    console.log(
      `${MEMORY_LINE}${JSON.stringify({ ...process.memoryUsage(), gcExposed: 'gc' in globalThis })}`,
    );
  });
  const codePath = process.env.BENCH_WORKFLOW_BUNDLE ?? prebuiltWorkflowBundle(join(projectRoot(), 'lib'));
  if (!codePath) throw new Error('lib/workflow-bundle.js is missing or stale: run `npm run build`');
  const config = loadConfig(process.env);
  const stack = await assembleStack({
    config,
    temporal: { env: process.env },
    worker: { workflowBundle: { codePath } },
    janitorSchedules: true,
  });
  try {
    console.log(`${OVIRT_WORKER_READY_LINE} ${config.taskQueue} (prebuilt bundle)`);
    await stack.workers[0]!.done;
  } finally {
    await stack.stop();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
