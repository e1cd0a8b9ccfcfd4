import type { Context as ActivityContext } from '@temporalio/activity';
import type { Logger } from '@temporalio/common';
import type { ActivityInterceptors } from '@temporalio/worker';
import { z } from 'zod';
import { runInTaskContext, taskHost, taskLogFields, type TaskContext } from './context';
import type { EngineMetrics } from './metrics';

/** What the task activities take (src/activities/task-step.ts): read loosely, only for labels. */
const taskInput = z
  .object({ poolId: z.string().optional(), vdsmTaskId: z.string().optional() })
  .passthrough();
const startResult = z
  .object({ kind: z.literal('started'), vdsmTaskId: z.string(), reconciled: z.boolean() })
  .passthrough();
const waitResult = z
  .object({ taskState: z.string(), taskResult: z.string(), code: z.number() })
  .passthrough();
const janitorReport = z
  .object({
    poolId: z.string(),
    cleared: z.array(z.unknown()),
    stopped: z.array(z.unknown()),
    reportedLongRunning: z.array(z.unknown()),
    failed: z.array(z.unknown()),
    orphans: z
      .object({ released: z.array(z.unknown()) })
      .passthrough()
      .optional(),
  })
  .passthrough();

export interface ActivityObservability {
  metrics?: EngineMetrics;
  logger?: Logger;
}

/**
 * Activity interceptor factory: runs each activity inside its task context (workflow id, run id,
 * pool, VDSM task id; the VDSM decorator adds the host), so every line logged in it carries them,
 * and turns the task activities' inputs and results into the engine's series (tasks in flight,
 * detection delay, start reconciliations, janitor actions).
 */
export function taskActivityInterceptors(
  options: ActivityObservability,
): (ctx: ActivityContext) => ActivityInterceptors {
  return (ctx) => {
    const { workflowExecution, activityType } = ctx.info;
    const context: TaskContext = {
      workflowId: workflowExecution?.workflowId ?? '',
      runId: workflowExecution?.runId ?? '',
      activityType,
    };
    return {
      inbound: {
        execute: async (input, next) => {
          const parsed = taskInput.safeParse(input.args[0]);
          if (parsed.success) {
            if (parsed.data.poolId) context.poolId = parsed.data.poolId;
            if (parsed.data.vdsmTaskId) context.vdsmTaskId = parsed.data.vdsmTaskId;
          }
          return runInTaskContext(context, () => observe(context, () => next(input), options));
        },
      },
      outbound: {
        // Every activity.log line (ours and the SDK's) gets the task fields known so far.
        getLogAttributes: (attributes, next) => next({ ...taskLogFields(context), ...attributes }),
      },
    };
  };
}

async function observe(
  context: TaskContext,
  run: () => Promise<unknown>,
  { metrics, logger }: ActivityObservability,
): Promise<unknown> {
  const pool = context.poolId ?? 'unknown';
  const waiting = context.activityType === 'waitForTaskEnd' && context.vdsmTaskId !== undefined;
  if (waiting) metrics?.taskWaitStarted(pool, context.vdsmTaskId!);
  let sawEnd = false;
  try {
    const result = await run();
    switch (context.activityType) {
      case 'startSpmTask': {
        const started = startResult.safeParse(result);
        if (!started.success) break;
        if (started.data.reconciled) metrics?.startReconciliations.inc({ pool });
        logger?.info(
          started.data.reconciled ? 'task start reconciled' : 'task started',
          taskLogFields(context),
        );
        break;
      }
      case 'waitForTaskEnd': {
        sawEnd = true;
        // The hub's poll may have run in another step's context: the host is the one that reported it.
        context.host ??= taskHost(context.vdsmTaskId ?? '');
        const status = waitResult.safeParse(result);
        if (status.success)
          logger?.info('task ended', {
            ...taskLogFields(context),
            taskState: status.data.taskState,
            taskResult: status.data.taskResult,
            code: status.data.code,
          });
        break;
      }
      case 'sweepPoolTasks': {
        const report = janitorReport.safeParse(result);
        if (report.success && metrics) countJanitorActions(metrics, report.data);
        break;
      }
    }
    return result;
  } finally {
    if (waiting) metrics?.taskWaitEnded(context.vdsmTaskId!, sawEnd);
  }
}

function countJanitorActions(metrics: EngineMetrics, report: z.infer<typeof janitorReport>): void {
  const pool = report.poolId;
  const counts: Record<string, number> = {
    cleared: report.cleared.length,
    stopped: report.stopped.length,
    reported_long_running: report.reportedLongRunning.length,
    refused: report.failed.length,
    orphan_locks_released: report.orphans?.released.length ?? 0,
  };
  for (const [action, n] of Object.entries(counts)) metrics.janitorActions.inc({ pool, action }, n);
}
