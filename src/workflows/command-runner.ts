/**
 * What RemoveVm and RemoveDisk share: the command's state for queries and the Web UI, and running
 * one RemoveImage child per image with a bounded window, cleaning up on every path.
 */
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  ParentClosePolicy,
  condition,
  executeChild,
  isCancellation,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ImagePlan, RemoveImageResult } from '../shared/commands';
import {
  commandStateQuery,
  taskProgressSignal,
  taskTableQuery,
  type CommandState,
  type TaskRow,
} from '../shared/messages';
import { workflowIds } from '../shared/names';
import { MAX_IDS_IN_SEARCH_ATTRIBUTE, SA } from '../shared/search-attributes';
import { isTaskSuccess, type CommandStatus, type CommandType } from '../shared/vocabulary';
import { renderTaskTable } from './details';
import { removeImageWorkflow } from './remove-image';

export class CommandTracker {
  readonly commandId = workflowInfo().workflowId;
  status: CommandStatus = 'ACTIVE';
  failureReason: string | null = null;
  storagePoolId: string | null = null;
  private readonly rows = new Map<string, TaskRow>();
  private readonly planned = new Map<string, ImagePlan>();
  private readonly reportedTaskIds: string[] = [];

  constructor(
    readonly commandType: CommandType,
    readonly vmId: string | null,
    private readonly title: () => string,
  ) {
    setHandler(commandStateQuery, () => this.state());
    setHandler(taskTableQuery, () => this.taskRows());
    setHandler(taskProgressSignal, (row) => {
      this.rows.set(row.imageId, row);
      if (
        row.vdsmTaskId &&
        !this.reportedTaskIds.includes(row.vdsmTaskId) &&
        this.reportedTaskIds.length < MAX_IDS_IN_SEARCH_ATTRIBUTE
      ) {
        this.reportedTaskIds.push(row.vdsmTaskId);
        upsertSearchAttributes([{ key: SA.VdsmTaskIds, value: [...this.reportedTaskIds] }]);
      }
      this.render();
    });
  }

  plan(images: ImagePlan[]): void {
    for (const image of images) this.planned.set(image.diskId, image);
    this.render();
  }

  setStatus(status: CommandStatus, failureReason: string | null = null): void {
    this.status = status;
    this.failureReason = failureReason;
    upsertSearchAttributes([{ key: SA.CommandStatus, value: status }]);
    this.render();
  }

  /** The last row a child reported, or a placeholder for images not started yet. */
  taskRows(): TaskRow[] {
    return [...this.planned.values()].map(
      (image) =>
        this.rows.get(image.diskId) ?? {
          commandType: 'RemoveImage',
          commandId: workflowIds.removeImage(this.commandId, image.diskId),
          parentCommandId: this.commandId,
          rootCommandId: this.commandId,
          imageId: image.diskId,
          imageAlias: image.alias,
          storagePoolId: image.poolId,
          taskType: 'deleteImage',
          vdsmTaskId: null,
          stepDescription: `Removing disk ${image.alias}`,
          status: 'unknown',
          result: 'unknown',
          state: 'Initializing',
          code: null,
          message: null,
          startTime: null,
          endTime: null,
        },
    );
  }

  state(): CommandState {
    const tasks = this.taskRows();
    const done = tasks.filter((t) => t.state === 'Cleared');
    const succeeded = done.filter((t) => isTaskSuccess(t.status, t.result)).length;
    return {
      commandType: this.commandType,
      commandId: this.commandId,
      commandStatus: this.status,
      vmId: this.vmId,
      storagePoolId: this.storagePoolId,
      images: {
        total: tasks.length,
        succeeded,
        failed: done.length - succeeded,
        running: tasks.length - done.length,
      },
      tasks,
      failureReason: this.failureReason,
    };
  }

  private render(): void {
    const s = this.state();
    setCurrentDetails(
      renderTaskTable(
        `**${this.title()}** — ${s.commandStatus}: ${s.images.succeeded} removed, ${s.images.failed} failed, ${s.images.running} in progress${s.failureReason ? `\n\n${s.failureReason}` : ''}`,
        s.tasks,
      ),
    );
  }

  /** Did the image end removed? Uses the child's result, else its last report (e.g. it was cancelled). */
  imageSucceeded(diskId: string, result: RemoveImageResult | undefined): boolean {
    if (result) return result.succeeded;
    const row = this.rows.get(diskId);
    return row !== undefined && row.state === 'Cleared' && isTaskSuccess(row.status, row.result);
  }
}

export interface ImagesOutcome {
  removed: string[];
  illegal: string[];
  /** Never started (cancelled first): untouched on storage. */
  notStarted: ImagePlan[];
  cancellation: unknown;
  reasons: Map<string, string>;
}

/**
 * One RemoveImage child per image, at most `window` at once, with deterministic ids. On
 * cancellation no new child starts and every started child is awaited while it cleans up.
 */
export async function runImageSteps(
  tracker: CommandTracker,
  images: ImagePlan[],
  options: { window: number; vmId: string | null; force: boolean },
): Promise<ImagesOutcome> {
  const results = new Map<string, RemoveImageResult>();
  const reasons = new Map<string, string>();
  const started = new Set<string>();
  const children: Array<Promise<void>> = [];
  let running = 0;
  let cancellation: unknown;

  try {
    for (const image of images) {
      await condition(() => running < options.window);
      running++;
      started.add(image.diskId);
      children.push(
        executeChild(removeImageWorkflow, {
          workflowId: workflowIds.removeImage(tracker.commandId, image.diskId),
          args: [
            {
              parentCommandId: tracker.commandId,
              rootCommandId: tracker.commandId,
              vmId: options.vmId,
              image,
              force: options.force,
            },
          ],
          // A parent closed abnormally asks its steps to clean up instead of killing them mid-task.
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          staticSummary: `Remove image ${image.alias} (${image.diskId})`,
          typedSearchAttributes: [
            { key: SA.CommandType, value: 'RemoveImage' },
            { key: SA.CommandStatus, value: 'ACTIVE' },
            { key: SA.ParentCommandId, value: tracker.commandId },
            { key: SA.ImageIds, value: [image.diskId] },
            { key: SA.StoragePoolId, value: image.poolId },
            { key: SA.AsyncTaskState, value: 'Initializing' },
            ...(options.vmId ? [{ key: SA.VmId, value: options.vmId }] : []),
          ],
        })
          .then(
            (result) => {
              results.set(image.diskId, result);
              if (result.failureReason) reasons.set(image.diskId, result.failureReason);
            },
            (err: unknown) => {
              const cause = (err as { cause?: Error }).cause;
              reasons.set(image.diskId, cause?.message ?? (err as Error).message);
            },
          )
          .finally(() => running--),
      );
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancellation = err;
  }
  await Promise.all(children);
  // A cancel that came after the last child started is only seen here (children got it too).
  if (cancellation === undefined && CancellationScope.current().consideredCancelled) {
    cancellation = new CancelledFailure('command cancelled');
  }

  const removed: string[] = [];
  const illegal: string[] = [];
  for (const diskId of started) {
    (tracker.imageSucceeded(diskId, results.get(diskId)) ? removed : illegal).push(diskId);
  }
  return {
    removed,
    illegal,
    notStarted: images.filter((i) => !started.has(i.diskId)),
    cancellation,
    reasons,
  };
}

export function invalidInput(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'InvalidInput', message, nonRetryable: true });
}
