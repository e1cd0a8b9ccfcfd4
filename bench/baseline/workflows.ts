/**
 * Temporal's own floor on this machine: workflows of the same shape as RemoveVm → RemoveImage
 * (a parent running a few activities, N children in a window, each child running the same number
 * of activities a RemoveImage step runs), with activities that do nothing. Bundled on its own and
 * run on its own task queue by the baseline worker.
 */
import {
  condition,
  executeChild,
  proxyActivities,
  proxyLocalActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from './activities';

const { noop } = proxyActivities<typeof activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumAttempts: 10 },
});
const { noop: localNoop } = proxyLocalActivities<typeof activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumAttempts: 10 },
});

export interface BaselineParentInput {
  children: number;
  /** Activities before the children start (RemoveVm: prepare, remove the VM record). */
  activitiesBefore: number;
  /** Activities after the children ended (RemoveVm: finish). */
  activitiesAfter: number;
  /** Activities per child (RemoveImage: start, wait). */
  childActivities: number;
  /** Local activities per child, after its activities (RemoveImage: end action, clear). */
  childLocalActivities: number;
  /** Children at once (MAX_CONCURRENT_IMAGES). */
  window: number;
}

export async function baselineParent(input: BaselineParentInput): Promise<number> {
  for (let i = 0; i < input.activitiesBefore; i++) await noop();
  const { workflowId } = workflowInfo();
  let running = 0;
  const children: Array<Promise<void>> = [];
  for (let i = 0; i < input.children; i++) {
    await condition(() => running < input.window);
    running++;
    children.push(
      executeChild(baselineChild, {
        workflowId: `${workflowId}/child/${i}`,
        args: [input.childActivities, input.childLocalActivities],
      }).finally(() => running--),
    );
  }
  await Promise.all(children);
  for (let i = 0; i < input.activitiesAfter; i++) await noop();
  return input.children;
}

export async function baselineChild(activityCount: number, localActivityCount = 0): Promise<void> {
  for (let i = 0; i < activityCount; i++) await noop();
  for (let i = 0; i < localActivityCount; i++) await localNoop();
}
