/**
 * Temporal's own floor on this machine: workflows of the same shape as a storage command and its
 * task steps (a parent running a few activities, N children in a window, each child running the
 * same number of activities and local activities a step runs), with activities that do nothing.
 * RemoveVm → RemoveImage and AddDisk → AddImageFromScratch are plain parent/children; CreateSnapshot
 * is a group: each child reports its task's end to the parent and waits for the parent's verdict
 * signal before its local activities (the end action and Task.clear). Bundled on its own and run
 * on its own task queue by the baseline worker.
 */
import {
  condition,
  defineSignal,
  executeChild,
  getExternalWorkflowHandle,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
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
  /**
   * All or nothing, as CreateSnapshot: every child at once, each reports its end and waits for
   * the parent's verdict, which the parent sends once every child has reported.
   */
  group?: boolean;
}

/** Child → parent: my task ended (CreateSnapshot's "Ended" progress signal, awaited). */
export const baselineEndedSignal = defineSignal<[number]>('baselineEnded');
/** Parent → each child: the group's verdict. */
export const baselineVerdictSignal = defineSignal<[boolean]>('baselineVerdict');

export async function baselineParent(input: BaselineParentInput): Promise<number> {
  if (input.group) return baselineGroupParent(input);
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

async function baselineGroupParent(input: BaselineParentInput): Promise<number> {
  for (let i = 0; i < input.activitiesBefore; i++) await noop();
  const { workflowId } = workflowInfo();
  const ended = new Set<number>();
  setHandler(baselineEndedSignal, (index) => {
    ended.add(index);
  });
  const children = await Promise.all(
    Array.from({ length: input.children }, (_, i) =>
      startChild(baselineChild, {
        workflowId: `${workflowId}/child/${i}`,
        args: [input.childActivities, input.childLocalActivities, i],
      }),
    ),
  );
  await condition(() => ended.size === input.children);
  await Promise.all(children.map((child) => child.signal(baselineVerdictSignal, true)));
  await Promise.all(children.map((child) => child.result()));
  for (let i = 0; i < input.activitiesAfter; i++) await noop();
  return input.children;
}

/** `groupIndex` set: a member of a group, which reports its end and waits for the verdict. */
export async function baselineChild(
  activityCount: number,
  localActivityCount = 0,
  groupIndex?: number,
): Promise<void> {
  for (let i = 0; i < activityCount; i++) await noop();
  if (groupIndex !== undefined) {
    let verdict: boolean | undefined;
    setHandler(baselineVerdictSignal, (v) => {
      verdict ??= v;
    });
    const parent = workflowInfo().parent;
    if (parent) await getExternalWorkflowHandle(parent.workflowId).signal(baselineEndedSignal, groupIndex);
    await condition(() => verdict !== undefined);
  }
  for (let i = 0; i < localActivityCount; i++) await localNoop();
}
