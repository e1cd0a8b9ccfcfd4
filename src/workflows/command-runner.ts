/**
 * What every storage command shares: its state for queries and the Web UI, and running one task
 * step child per image with a bounded window (all-or-nothing groups wait for every member and
 * then tell them to commit or revert), cleaning up on every path.
 */
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  ParentClosePolicy,
  condition,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { z } from 'zod';
import { describeZodError } from '../shared/commands';
import { ErrorType } from '../shared/errors';
import {
  commandStateQuery,
  groupVerdictSignal,
  rowSucceeded,
  taskProgressSignal,
  taskTableQuery,
  type CommandState,
  type TaskRow,
} from '../shared/messages';
import { workflowIds } from '../shared/names';
import { MAX_IDS_IN_SEARCH_ATTRIBUTE, SA } from '../shared/search-attributes';
import type {
  HostJobStepInput,
  HostJobStepResult,
  JobStepType,
  StepType,
  TaskStepInput,
  TaskStepResult,
} from '../shared/steps';
import {
  isTaskSuccess,
  type AsyncTaskState,
  type CommandStatus,
  type CommandType,
} from '../shared/vocabulary';
import { renderTaskTableLine, renderTaskTableLines, stepRow } from './details';
import { surfaceActivityFailure } from './options';
import {
  addImageFromScratchWorkflow,
  createSnapshotDiskWorkflow,
  createVolumeContainerWorkflow,
  destroyImageWorkflow,
  finalizeMergeWorkflow,
  prepareMergeWorkflow,
  removeImageWorkflow,
} from './task-step';
import { coldMergeWorkflow, copyDataWorkflow } from './host-job-step';

const STEP_WORKFLOWS: Record<StepType, (input: TaskStepInput) => Promise<TaskStepResult>> = {
  RemoveImage: removeImageWorkflow,
  AddImageFromScratch: addImageFromScratchWorkflow,
  CreateSnapshotDisk: createSnapshotDiskWorkflow,
  CreateVolumeContainer: createVolumeContainerWorkflow,
  PrepareMerge: prepareMergeWorkflow,
  FinalizeMerge: finalizeMergeWorkflow,
  DestroyImage: destroyImageWorkflow,
};
const JOB_STEP_WORKFLOWS: Record<JobStepType, (input: HostJobStepInput) => Promise<HostJobStepResult>> = {
  CopyData: copyDataWorkflow,
  ColdMerge: coldMergeWorkflow,
};

type AnyStep = TaskStepInput | HostJobStepInput;

/** A step's deterministic child id: replay checks it, and a retried parent finds the same child. */
export const stepWorkflowId = (parentId: string, step: Pick<AnyStep, 'stepType' | 'image'>): string =>
  workflowIds.taskStep(parentId, step.stepType, step.image.id);

/** A step's row in the command's table: one per step type and image (a move has three per disk). */
const keyOf = (step: Pick<AnyStep, 'stepType' | 'image'>): string => `${step.stepType}/${step.image.id}`;
const rowKey = (row: TaskRow): string => `${row.commandType}/${row.imageId}`;
const taskTypeOf = (step: AnyStep): string => ('task' in step ? step.task.taskVerb : step.job.verb);

/** The order a row's AsyncTaskState moves in (ClearFailed may repeat before Cleared). */
const STATE_ORDER: readonly AsyncTaskState[] = [
  'Initializing',
  'Polling',
  'Ended',
  'AttemptingEndAction',
  'ClearFailed',
  'Cleared',
];

/** A step child's one-line summary in the Web UI, by step type (RemoveImage's as it always was). */
const STEP_SUMMARY: Record<AnyStep['stepType'], string> = {
  RemoveImage: 'Remove image',
  AddImageFromScratch: 'Add image',
  CreateSnapshotDisk: 'Snapshot image',
  CreateVolumeContainer: 'Create the volume of',
  CopyData: 'Copy data into',
  PrepareMerge: 'Prepare the merge of',
  ColdMerge: 'Merge the snapshot of',
  FinalizeMerge: 'Finalize the merge of',
  DestroyImage: 'Remove the merged volume of',
};

/** How every step child starts: its deterministic id, its summary and the searches that find it. */
function stepChildOptions(parentId: string, step: AnyStep) {
  return {
    workflowId: stepWorkflowId(parentId, step),
    // A parent closed abnormally asks its steps to clean up instead of killing them mid-task.
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    staticSummary: `${STEP_SUMMARY[step.stepType]} ${step.image.alias} (${step.image.id})`,
    typedSearchAttributes: [
      { key: SA.CommandType, value: step.stepType },
      { key: SA.CommandStatus, value: 'ACTIVE' },
      { key: SA.ParentCommandId, value: parentId },
      { key: SA.ImageIds, value: [step.image.id] },
      { key: SA.StoragePoolId, value: step.image.poolId },
      { key: SA.AsyncTaskState, value: 'Initializing' },
      ...(step.vmId ? [{ key: SA.VmId, value: step.vmId }] : []),
    ],
  };
}

type Outcome = 'succeeded' | 'failed' | 'running';
const outcomeOf = (row: TaskRow): Outcome =>
  row.state !== 'Cleared' ? 'running' : rowSucceeded(row) ? 'succeeded' : 'failed';
/** A member of a group whose task has ended: it waits for the verdict (Ended) or is done (Cleared). */
const hasEnded = (row: TaskRow | undefined): boolean => row?.state === 'Ended' || row?.state === 'Cleared';

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
  private readonly rows = new Map<string, TaskRow>();
  private readonly planned = new Map<string, AnyStep>();
  /** Task ids for VdsmTaskIds, in the order they were first reported; written with the final status. */
  private readonly reportedTaskIds: string[] = [];
  /** Rendered table line per planned image, in plan order, and how many images end how. */
  private readonly lines = new Map<string, string>();
  private readonly tally: Record<Outcome, number> = { succeeded: 0, failed: 0, running: 0 };
  private renderQueued = false;

  constructor(
    readonly commandType: CommandType,
    readonly vmId: string | null,
    private readonly title: () => string,
    /** How the counts read in the details heading, e.g. "removed". */
    private readonly doneWord = 'done',
  ) {
    setHandler(commandStateQuery, () => this.state());
    setHandler(taskTableQuery, () => this.taskRows());
    setHandler(taskProgressSignal, (row) => {
      this.report(row);
      this.renderSoon();
    });
  }

  plan(steps: AnyStep[]): void {
    for (const step of steps) {
      const id = keyOf(step);
      const previous = this.planned.has(id) ? this.rowOf(step) : undefined;
      this.planned.set(id, step);
      if (previous) this.tally[outcomeOf(previous)]--;
      const row = this.rowOf(step);
      this.tally[outcomeOf(row)]++;
      this.lines.set(id, renderTaskTableLine(row));
    }
    this.render();
  }

  setStatus(status: CommandStatus, failureReason: string | null = null): void {
    this.status = status;
    this.failureReason = failureReason;
    upsertSearchAttributes([
      { key: SA.CommandStatus, value: status },
      ...(this.reportedTaskIds.length ? [{ key: SA.VdsmTaskIds, value: [...this.reportedTaskIds] }] : []),
    ]);
    this.render();
  }

  /**
   * A step's row, from its progress signal or its result. Rows only move forward: a report that
   * arrives late (a step does not wait for its Polling report to be delivered, and a retried
   * delivery may trail its Ended report) never moves a row back — a group waiting for its members
   * to be Ended would otherwise wait forever.
   */
  report(row: TaskRow): void {
    const key = rowKey(row);
    const previous = this.rows.get(key);
    if (previous && STATE_ORDER.indexOf(row.state) < STATE_ORDER.indexOf(previous.state)) return;
    const step = this.planned.get(key);
    const shown = step ? this.rowOf(step) : undefined;
    this.rows.set(key, row);
    if (!step || !shown) return;
    this.tally[outcomeOf(shown)]--;
    this.tally[outcomeOf(row)]++;
    this.lines.set(key, renderTaskTableLine(row));
  }

  /** Records a step's result: its final row and its task id (for VdsmTaskIds; not a job's id). */
  reportResult(result: TaskStepResult | HostJobStepResult): void {
    this.report(result.row);
    const id = 'jobId' in result ? null : result.row.vdsmTaskId;
    if (
      id &&
      !this.reportedTaskIds.includes(id) &&
      this.reportedTaskIds.length < MAX_IDS_IN_SEARCH_ATTRIBUTE
    ) {
      this.reportedTaskIds.push(id);
    }
    this.renderSoon();
  }

  /** The last row a child reported, or a placeholder for images not started yet. */
  taskRows(): TaskRow[] {
    return [...this.planned.values()].map((step) => this.rowOf(step));
  }

  /** The row a step reported, if any. */
  reported(step: AnyStep): TaskRow | undefined {
    return this.rows.get(keyOf(step));
  }

  private rowOf(step: AnyStep): TaskRow {
    return (
      this.rows.get(keyOf(step)) ??
      stepRow({
        commandType: step.stepType,
        commandId: stepWorkflowId(this.commandId, step),
        parentCommandId: this.commandId,
        rootCommandId: this.commandId,
        image: step.image,
        taskType: taskTypeOf(step),
        description: step.description,
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
        `**${this.title()}** — ${this.status}: ${succeeded} ${this.doneWord}, ${failed} failed, ${running} in progress${this.failureReason ? `\n\n${this.failureReason}` : ''}`,
        this.lines.values(),
      ),
    );
  }

  /** Did the step succeed? Uses the child's result, else its last report (e.g. it was cancelled). */
  stepSucceeded(step: AnyStep, result: TaskStepResult | HostJobStepResult | undefined): boolean {
    if (result) return result.succeeded;
    const row = this.rows.get(keyOf(step));
    return row !== undefined && rowSucceeded(row);
  }
}

export interface StepsOutcome {
  succeeded: string[];
  failed: string[];
  /** Never started (cancelled first): untouched on storage. */
  notStarted: TaskStepInput[];
  cancellation: unknown;
  /** Why each failed image failed, and the failure's type (ErrorType) when the step named one. */
  reasons: Map<string, string>;
  failureTypes: Map<string, string>;
  results: Map<string, TaskStepResult>;
}

/**
 * One task step child per image, at most `window` at once, with deterministic ids. On
 * cancellation no new child starts and every started child is awaited while it cleans up. With
 * `group`, once every member's task has ended the members are told to commit (all succeeded) or
 * to revert; a cancelled group's members revert on their own.
 */
export async function runSteps(
  tracker: CommandTracker,
  steps: TaskStepInput[],
  options: { window: number; group?: boolean },
): Promise<StepsOutcome> {
  const results = new Map<string, TaskStepResult>();
  const reasons = new Map<string, string>();
  const failureTypes = new Map<string, string>();
  const started = new Map<string, TaskStepInput>();
  /** Children that have closed, with a result or a failure (a member that failed never reports Ended). */
  const settled = new Set<string>();
  const children: Array<Promise<void>> = [];
  let running = 0;
  let cancellation: unknown;

  try {
    for (const step of steps) {
      await condition(() => running < options.window);
      running++;
      started.set(step.image.id, step);
      children.push(
        executeChild(STEP_WORKFLOWS[step.stepType], {
          ...stepChildOptions(tracker.commandId, step),
          args: [step],
        })
          .then(
            (result) => {
              tracker.reportResult(result);
              settled.add(step.image.id);
              results.set(step.image.id, result);
              if (result.failureReason) reasons.set(step.image.id, result.failureReason);
              if (result.failureType) failureTypes.set(step.image.id, result.failureType);
            },
            (err: unknown) => {
              settled.add(step.image.id);
              const cause = (err as { cause?: Error }).cause;
              reasons.set(step.image.id, cause?.message ?? (err as Error).message);
              const type = cause instanceof ApplicationFailure ? cause.type : undefined;
              failureTypes.set(
                step.image.id,
                type ?? (isCancellation(err) ? ErrorType.Cancelled : ErrorType.TaskFailed),
              );
            },
          )
          .finally(() => running--),
      );
    }
    if (options.group) await decideGroup(tracker, [...started.values()], results, settled);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancellation = err;
  }
  await Promise.all(children);
  // A cancel that came after the last child started is only seen here (children got it too).
  if (cancellation === undefined && CancellationScope.current().consideredCancelled) {
    cancellation = new CancelledFailure('command cancelled');
  }

  const succeeded: string[] = [];
  const failed: string[] = [];
  for (const [id, step] of started) {
    (tracker.stepSucceeded(step, results.get(id)) ? succeeded : failed).push(id);
  }
  return {
    succeeded,
    failed,
    notStarted: steps.filter((s) => !started.has(s.image.id)),
    cancellation,
    reasons,
    failureTypes,
    results,
  };
}

/** Waits until every member's task has ended, then tells each waiting member to commit or revert. */
async function decideGroup(
  tracker: CommandTracker,
  members: TaskStepInput[],
  results: Map<string, TaskStepResult>,
  settled: ReadonlySet<string>,
): Promise<void> {
  const endedOrDone = (m: TaskStepInput): boolean => settled.has(m.image.id) || hasEnded(tracker.reported(m));
  await condition(() => members.every(endedOrDone));
  const failedMember = members.find((m) => {
    const row = results.get(m.image.id)?.row ?? tracker.reported(m);
    return !row || !isTaskSuccess(row.status, row.result);
  });
  const verdict = {
    commit: failedMember === undefined,
    reason: failedMember ? `${failedMember.description} failed` : null,
  };
  await Promise.all(
    members
      .filter((m) => !settled.has(m.image.id))
      .map((m) =>
        getExternalWorkflowHandle(stepWorkflowId(tracker.commandId, m)).signal(groupVerdictSignal, verdict),
      ),
  );
}

/**
 * One host-job step child (a data copy, a merge), awaited; its row joins the command's table. A failure to
 * run the child at all is reported like the step's own failure.
 */
export async function runJobStep(
  tracker: CommandTracker,
  step: HostJobStepInput,
): Promise<HostJobStepResult | null> {
  try {
    const result = await executeChild(JOB_STEP_WORKFLOWS[step.stepType], {
      ...stepChildOptions(tracker.commandId, step),
      args: [step],
    });
    tracker.reportResult(result);
    return result;
  } catch (err) {
    if (isCancellation(err)) throw err;
    return null;
  }
}

/**
 * A command's validate-and-lock activity, run to completion even if a cancel arrives meanwhile (we
 * must know what was locked to put it back). A refusal fails the command with the refusal's type.
 */
export async function prepareCommand<T>(tracker: CommandTracker, prepare: () => Promise<T>): Promise<T> {
  try {
    return await CancellationScope.nonCancellable(prepare);
  } catch (err) {
    tracker.setStatus('FAILED', (err as Error).message);
    throw surfaceActivityFailure(err);
  }
}

export function invalidInput(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ErrorType.InvalidInput, message, nonRetryable: true });
}

/** A command's input checked against its schema: a malformed one fails the command, `invalid <command> input: …`. */
export function parseCommandInput<S extends z.ZodTypeAny>(
  schema: S,
  command: string,
  rawInput: unknown,
): z.output<S> {
  const parsed = schema.safeParse(rawInput);
  if (!parsed.success) throw invalidInput(`invalid ${command} input: ${describeZodError(parsed.error)}`);
  return parsed.data as z.output<S>;
}
