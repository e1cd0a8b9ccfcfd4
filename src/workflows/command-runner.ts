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
  patched,
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
import { initialTaskRow, renderTaskTableLine, renderTaskTableLines } from './details';
import { removeImageWorkflow, type RemoveImageOutcome } from './remove-image';

/**
 * Patch id of the lean command (runs started before it replay the old command sequence): the
 * command's VdsmTaskIds search attribute is written once, with its final CommandStatus (one
 * upsert), instead of once per progress signal that brings a new task id. While the command runs,
 * each VDSM task id is searchable on its RemoveImage step (which carries VdsmTaskIds from the
 * moment the task exists, with ParentCommandId and VmId).
 */
export const LEAN_COMMAND_PATCH = 'command-tracker-lean-progress';

type Outcome = 'succeeded' | 'failed' | 'running';
const outcomeOf = (row: TaskRow): Outcome =>
  row.state !== 'Cleared' ? 'running' : isTaskSuccess(row.status, row.result) ? 'succeeded' : 'failed';

/**
 * The command's task table. Current details (the Web UI, `temporal workflow describe`) are kept
 * up to date cheaply: each row's Markdown line and the per-outcome counts are updated when that
 * row changes (O(1) per progress report), and the table is joined at most once per workflow
 * activation however many reports it brings. None of this issues commands.
 */
export class CommandTracker {
  readonly commandId = workflowInfo().workflowId;
  status: CommandStatus = 'ACTIVE';
  failureReason: string | null = null;
  storagePoolId: string | null = null;
  /** Called first, before any command (the tracker is built before the first activity). */
  private readonly lean = patched(LEAN_COMMAND_PATCH);
  private readonly rows = new Map<string, TaskRow>();
  private readonly planned = new Map<string, ImagePlan>();
  /** Task ids for VdsmTaskIds, in the order they were first reported. */
  private readonly reportedTaskIds: string[] = [];
  /** How many of reportedTaskIds the search attribute holds already. */
  private upsertedTaskIds = 0;
  /** Rendered table line per planned image, in plan order, and how many images end how. */
  private readonly lines = new Map<string, string>();
  private readonly tally: Record<Outcome, number> = { succeeded: 0, failed: 0, running: 0 };
  private renderQueued = false;

  constructor(
    readonly commandType: CommandType,
    readonly vmId: string | null,
    private readonly title: () => string,
  ) {
    setHandler(commandStateQuery, () => this.state());
    setHandler(taskTableQuery, () => this.taskRows());
    setHandler(taskProgressSignal, (row) => {
      this.report(row);
      const isNew = this.noteTaskId(row.vdsmTaskId);
      if (isNew && !this.lean) {
        // Runs recorded before LEAN_COMMAND_PATCH: one upsert per new task id, as they did.
        this.upsertedTaskIds = this.reportedTaskIds.length;
        upsertSearchAttributes([{ key: SA.VdsmTaskIds, value: [...this.reportedTaskIds] }]);
      }
      this.renderSoon();
    });
  }

  plan(images: ImagePlan[]): void {
    for (const image of images) {
      const previous = this.planned.has(image.diskId) ? this.rowOf(image) : undefined;
      this.planned.set(image.diskId, image);
      if (previous) this.tally[outcomeOf(previous)]--;
      const row = this.rowOf(image);
      this.tally[outcomeOf(row)]++;
      this.lines.set(image.diskId, renderTaskTableLine(row));
    }
    this.render();
  }

  setStatus(status: CommandStatus, failureReason: string | null = null): void {
    this.status = status;
    this.failureReason = failureReason;
    const taskIds =
      this.lean && this.reportedTaskIds.length > this.upsertedTaskIds ? [...this.reportedTaskIds] : undefined;
    if (taskIds) this.upsertedTaskIds = taskIds.length;
    upsertSearchAttributes([
      { key: SA.CommandStatus, value: status },
      ...(taskIds ? [{ key: SA.VdsmTaskIds, value: taskIds }] : []),
    ]);
    this.render();
  }

  /**
   * A step's row, from its progress signal or (lean steps) its result. A row that has reached
   * Cleared is final: a report that arrives after it (signals of lean steps are not awaited, so
   * their delivery may trail the step's end) does not move it back.
   */
  report(row: TaskRow): void {
    const previous = this.rows.get(row.imageId);
    if (previous?.state === 'Cleared' && row.state !== 'Cleared') return;
    const image = this.planned.get(row.imageId);
    const shown = image ? this.rowOf(image) : undefined;
    this.rows.set(row.imageId, row);
    if (!image || !shown) return;
    this.tally[outcomeOf(shown)]--;
    this.tally[outcomeOf(row)]++;
    this.lines.set(row.imageId, renderTaskTableLine(row));
  }

  /** Records a step's result: its final row when it carries one (lean steps). */
  reportResult(result: RemoveImageOutcome): void {
    if (!result.row) return;
    this.report(result.row);
    // Lean runs only (old steps' results carry no row): their VdsmTaskIds are written at the end.
    if (this.lean) this.noteTaskId(result.row.vdsmTaskId);
    this.renderSoon();
  }

  /** Remembers a task id for VdsmTaskIds (up to the cap); true if it is new. */
  private noteTaskId(vdsmTaskId: string | null): boolean {
    if (
      !vdsmTaskId ||
      this.reportedTaskIds.includes(vdsmTaskId) ||
      this.reportedTaskIds.length >= MAX_IDS_IN_SEARCH_ATTRIBUTE
    ) {
      return false;
    }
    this.reportedTaskIds.push(vdsmTaskId);
    return true;
  }

  /** The last row a child reported, or a placeholder for images not started yet. */
  taskRows(): TaskRow[] {
    return [...this.planned.values()].map((image) => this.rowOf(image));
  }

  private rowOf(image: ImagePlan): TaskRow {
    return (
      this.rows.get(image.diskId) ??
      initialTaskRow({
        commandId: workflowIds.removeImage(this.commandId, image.diskId),
        parentCommandId: this.commandId,
        rootCommandId: this.commandId,
        image,
        status: 'unknown',
        startTime: null,
      })
    );
  }

  state(): CommandState {
    const tasks = this.taskRows();
    const { succeeded, failed, running } = this.tally;
    return {
      commandType: this.commandType,
      commandId: this.commandId,
      commandStatus: this.status,
      vmId: this.vmId,
      storagePoolId: this.storagePoolId,
      images: { total: tasks.length, succeeded, failed, running },
      tasks,
      failureReason: this.failureReason,
    };
  }

  /** Renders once the current activation's signals and results have all been taken in. */
  private renderSoon(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    void Promise.resolve().then(() => {
      this.renderQueued = false;
      this.render();
    });
  }

  private render(): void {
    const { succeeded, failed, running } = this.tally;
    setCurrentDetails(
      renderTaskTableLines(
        `**${this.title()}** — ${this.status}: ${succeeded} removed, ${failed} failed, ${running} in progress${this.failureReason ? `\n\n${this.failureReason}` : ''}`,
        this.lines.values(),
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
              tracker.reportResult(result);
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
