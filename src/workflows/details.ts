/** Markdown for the Web UI's details panes. Pure functions: safe in workflow code. */
import { describeJob } from '../shared/job-view';
import type { TaskRow } from '../shared/messages';
import type { ImagePlan } from '../shared/commands';
import type { JobStepType, StepImage, StepType } from '../shared/steps';

const GiB = 1024 ** 3;

/** A step's row before anything happened to it (the step's own, or its parent's placeholder). */
export function stepRow(ids: {
  commandType: StepType | JobStepType;
  commandId: string;
  parentCommandId: string;
  rootCommandId: string;
  image: StepImage;
  taskType: string;
  description: string;
  status: TaskRow['status'];
  startTime: string | null;
}): TaskRow {
  const { image } = ids;
  return {
    commandType: ids.commandType,
    commandId: ids.commandId,
    parentCommandId: ids.parentCommandId,
    rootCommandId: ids.rootCommandId,
    imageId: image.id,
    imageAlias: image.alias,
    storagePoolId: image.poolId,
    taskType: ids.taskType,
    vdsmTaskId: null,
    stepDescription: ids.description,
    status: ids.status,
    result: 'unknown',
    state: 'Initializing',
    code: null,
    message: null,
    startTime: ids.startTime,
    endTime: null,
  };
}

export function renderImagesDetails(title: string, images: ImagePlan[]): string {
  const rows = images.map(
    (i) =>
      `| ${i.alias} | \`${i.diskId}\` | ${(i.sizeBytes / GiB).toFixed(0)} GiB | ${i.postZero ? 'yes' : 'no'} | ${i.discard ? 'yes' : 'no'} |`,
  );
  return [
    `**${title}**`,
    '',
    '| Disk | Image group | Size | Wipe after delete | Discard |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** One row of the task table: rendered once per change of that row, not per render of the table. */
export function renderTaskTableLine(r: TaskRow): string {
  return `| ${r.imageAlias} | ${r.vdsmTaskId ? `\`${r.vdsmTaskId}\`` : '—'} | ${r.state} | ${statusCell(r)} | ${r.result} | ${r.code ?? ''} ${r.message ?? ''} |`;
}

/** AsyncTaskStatus, and for a host job what the step knows of the job (`running (job done 100%)`). */
export function statusCell(r: TaskRow): string {
  return r.job ? `${r.status} (${describeJob(r.job)})` : r.status;
}

/** The task table from lines already rendered by renderTaskTableLine. */
export function renderTaskTableLines(heading: string, lines: Iterable<string>): string {
  return [
    heading,
    '',
    '| Disk | VDSM task | AsyncTaskState | AsyncTaskStatus | AsyncTaskResult | VDSM code / message |',
    '|---|---|---|---|---|---|',
    ...lines,
  ].join('\n');
}

export function renderTaskTable(heading: string, rows: TaskRow[]): string {
  return renderTaskTableLines(heading, rows.map(renderTaskTableLine));
}
