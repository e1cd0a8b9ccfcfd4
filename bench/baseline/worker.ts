/**
 * The baseline worker process (`node lib/bench-build/bench/baseline/worker.js`): same worker
 * settings as `ovirt-tasks worker` where they matter (activity slots), its own bundle and task
 * queue from BASELINE_TASK_QUEUE, server from TEMPORAL_ADDRESS.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import * as activities from './activities';

export const BASELINE_READY_LINE = 'baseline worker polling task queue';

async function main(): Promise<void> {
  const address = process.env.TEMPORAL_ADDRESS;
  const taskQueue = process.env.BASELINE_TASK_QUEUE;
  if (!address || !taskQueue) throw new Error('TEMPORAL_ADDRESS and BASELINE_TASK_QUEUE are required');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address });
  try {
    const worker = await Worker.create({
      connection,
      namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
      taskQueue,
      // BASELINE_BUNDLE: a prebuilt bundle (mirrors `--worker-bundle prebuilt` of the bench).
      ...(process.env.BASELINE_BUNDLE
        ? { workflowBundle: { codePath: process.env.BASELINE_BUNDLE } }
        : { workflowsPath: require.resolve('./workflows') }),
      activities,
      maxConcurrentActivityTaskExecutions: 2_000,
      shutdownGraceTime: '5s',
    });
    console.log(`${BASELINE_READY_LINE} ${taskQueue}`);
    await worker.run();
  } finally {
    await connection.close();
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
