/**
 * The activities the async-task step (./task-step.ts) calls after its start, and the back-off its
 * SPM verbs are retried with.
 */
import { proxyActivities, proxyLocalActivities, sleep } from '@temporalio/workflow';
import type { OvirtActivities } from '../activities';
import { endActionActivityOptions, vdsmTaskVerbActivityOptions, waitTaskActivityOptions } from './options';

export const { waitForTaskEnd } = proxyActivities<OvirtActivities>({
  ...waitTaskActivityOptions,
  summary: 'Poll the VDSM task until it ends',
});
export const { imageGone } = proxyActivities<OvirtActivities>({
  ...vdsmTaskVerbActivityOptions,
  summary: 'Is the image still on its domain?',
});
export const { stopTask, revertTask } = proxyActivities<OvirtActivities>({
  ...vdsmTaskVerbActivityOptions,
  summary: 'Task.stop / Task.revert',
});
/**
 * The end action (inventory writes) and Task.clear take milliseconds: the worker runs them as
 * local activities inside the workflow task that learnt the task ended, one marker each instead of
 * an activity's three events and a workflow task of its own. Both are idempotent, so retries and a
 * worker dying mid-way are safe.
 */
export const { endTaskStep } = proxyLocalActivities<OvirtActivities>({
  ...endActionActivityOptions,
  summary: 'End action',
});
export const { auditTaskRestart } = proxyLocalActivities<OvirtActivities>({
  ...endActionActivityOptions,
  summary: 'Audit: task started again after VDSM recovery',
});
// Local activities do not heartbeat: a dead worker's attempt is retried with its workflow task.
const { heartbeatTimeout: _notForLocal, ...localVerbOptions } = vdsmTaskVerbActivityOptions;
export const { clearTask } = proxyLocalActivities<OvirtActivities>({
  ...localVerbOptions,
  summary: 'Task.clear',
});

/**
 * Calls `action` until it succeeds (an SPM verb that must happen: Task.clear, Task.revert), after
 * each failure `onFailure` and then a durable sleep of 2 s doubling up to a minute.
 */
export async function untilDone(
  action: () => Promise<unknown>,
  onFailure: (err: unknown) => Promise<void> | void,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await action();
      return;
    } catch (err) {
      await onFailure(err);
      await sleep(Math.min(60_000, 2_000 * 2 ** attempt));
    }
  }
}
