/** Text output of the client commands: aligned tables, times, the task table, outcomes. */
import type { CommandState, TaskRow } from '../shared/messages';
import { statusCell } from '../workflows/details';
import type { CommandOutcome, StateReading } from './command-report';

/** Columns separated by two spaces; the last one is not padded, so long messages do not widen the rest. */
export function renderTable(rows: string[][], headers?: string[]): string {
  const all = headers ? [headers, ...rows] : rows;
  const widths: number[] = [];
  for (const row of all) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return all
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** UTC to the second: what an administrator compares with VDSM and engine logs. */
export function formatTime(value: Date | string | null | undefined): string {
  if (value === null || value === undefined) return '-';
  return new Date(value).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const GiB = 1024 ** 3;
export function formatSize(bytes: number): string {
  const gib = bytes / GiB;
  return `${Number.isInteger(gib) ? gib : gib.toFixed(1)} GiB`;
}

export function yesNo(value: boolean): string {
  return value ? 'yes' : 'no';
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** The engine's async_tasks columns, one row per image step (a host job's status says how the job is). */
export function renderTaskTable(rows: TaskRow[]): string {
  if (rows.length === 0) return '(no image steps)';
  return renderTable(
    rows.map((r) => [
      r.imageAlias,
      r.vdsmTaskId ?? '-',
      r.state,
      statusCell(r),
      r.result,
      [r.code ?? '', r.message ?? ''].join(' ').trim(),
    ]),
    ['DISK', 'VDSM TASK', 'AsyncTaskState', 'AsyncTaskStatus', 'AsyncTaskResult', 'CODE/MESSAGE'],
  );
}

/** The task table, or why there is none (no worker answered the query). */
export function renderReading(reading: StateReading): string {
  return reading.state
    ? renderTaskTable(reading.state.tasks)
    : `task table unavailable (${reading.unavailable})`;
}

export function renderImageCounts(state: CommandState): string {
  const { total, succeeded, failed, running } = state.images;
  return `${total} image${total === 1 ? '' : 's'}: ${succeeded} removed, ${failed} failed, ${running} in progress`;
}

/** Disk ids with their aliases where the task table knows them. */
function describeDisks(diskIds: string[], state: CommandState | null): string {
  return diskIds
    .map((id) => {
      const alias = state?.tasks.find((t) => t.imageId === id)?.imageAlias;
      return alias ? `${alias} (${id})` : id;
    })
    .join(', ');
}

export function renderOutcome(outcome: CommandOutcome, state: CommandState | null): string {
  if (outcome.succeeded) return 'outcome: succeeded';
  const { type, message, illegalDiskIds } = outcome.failure;
  const lines = [`outcome: failed (${type}): ${message}`];
  if (illegalDiskIds.length) lines.push(`illegal disks: ${describeDisks(illegalDiskIds, state)}`);
  return lines.join('\n');
}
