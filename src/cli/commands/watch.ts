import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { describeJob } from '../../shared/job-view';
import type { CommandState, TaskRow } from '../../shared/messages';
import { AsyncTaskResult, AsyncTaskState, AsyncTaskStatus } from '../../shared/vocabulary';
import {
  awaitFinalReport,
  exitWithOutcome,
  readCommandState,
  type CommandOutcome,
  type StateReading,
} from '../command-report';
import { describeCommand, parseCommandId, withTemporal } from '../context';
import { formatTime, renderImageCounts, renderOutcome, renderTable } from '../render';

const POLL_INTERVAL_MS = 500;

export function registerWatchCommand(program: Command): void {
  program
    .command('watch')
    .description(
      'follow a command until it ends: one row per image (AsyncTaskState, VDSM task state); exit 0 succeeded, 1 failed',
    )
    .argument('<workflowId>', 'e.g. RemoveVm/<vmId>', parseCommandId)
    .option(
      '--json',
      'print one JSON object per line: each change, then the outcome with the final state',
      false,
    )
    .action(async (workflowId: string, flags: { json: boolean }) => {
      await withTemporal(async ({ client }) => {
        const { runId } = await describeCommand(client, workflowId);
        const view: ChangeView = flags.json
          ? new JsonLinesView(workflowId)
          : process.stdout.isTTY
            ? new RedrawView(workflowId)
            : new AppendView(workflowId);
        // Never rejects, so nothing goes unhandled while the loop is between polls.
        const ending = awaitFinalReport(client, client.workflow.getHandle(workflowId, runId)).then(
          (report) => ({ report }),
          (error: unknown) => ({ error }),
        );
        let ended: Awaited<typeof ending> | undefined;
        while (!ended) {
          view.show(await readCommandState(client, workflowId));
          ended = await Promise.race([ending, sleep(POLL_INTERVAL_MS).then(() => undefined)]);
        }
        if ('error' in ended) throw ended.error;
        const { outcome, reading } = ended.report;
        view.show(reading);
        view.end(outcome, reading);
        exitWithOutcome(workflowId, outcome);
      });
    });
}

/**
 * How progress is shown (redrawn on a terminal, appended otherwise, or JSON lines), changes only:
 * the same reading twice shows nothing.
 */
abstract class ChangeView {
  private last = '';
  constructor(protected readonly workflowId: string) {}

  show(reading: StateReading): void {
    const key = JSON.stringify(reading);
    if (key === this.last) return;
    this.last = key;
    this.render(reading);
  }

  protected abstract render(reading: StateReading): void;
  abstract end(outcome: CommandOutcome, reading: StateReading): void;
}

function headline(workflowId: string, state: CommandState): string {
  return `${workflowId}: ${state.commandStatus}, ${renderImageCounts(state)}`;
}

/** A host job's row ends with the job (`job running 42%`): last, so the other columns stay aligned. */
const rowCells = (r: TaskRow): string[] => [
  r.imageAlias,
  r.state,
  r.status,
  r.result,
  r.vdsmTaskId ?? '-',
  ...(r.job ? [describeJob(r.job)] : []),
];
const ROW_HEADERS = ['DISK', 'AsyncTaskState', 'VDSM STATE', 'RESULT', 'VDSM TASK'];
const headersFor = (rows: TaskRow[]): string[] =>
  rows.some((r) => r.job) ? [...ROW_HEADERS, 'JOB'] : ROW_HEADERS;

/** Screen rows `line` takes on a terminal `columns` wide (a long line wraps). */
export function screenRows(line: string, columns: number): number {
  return Math.max(1, Math.ceil([...line].length / Math.max(1, columns)));
}

/**
 * The lines that fit on a screen of `rows` × `columns`, the last one saying how many were left
 * out: the cursor cannot move above the top of the screen, so a taller drawing could not be
 * redrawn in place.
 */
export function fitToScreen(lines: string[], columns: number, rows: number): string[] {
  const room = Math.max(2, rows - 1);
  const shown: string[] = [];
  let used = 0;
  for (const [i, line] of lines.entries()) {
    const rest = lines.length - i;
    const need = screenRows(line, columns);
    if (used + need > (rest === 1 ? room : room - 1)) {
      shown.push(`… ${rest} more line${rest === 1 ? '' : 's'} (use --json or status for all)`);
      return shown;
    }
    shown.push(line);
    used += need;
  }
  return shown;
}

/** Terminal: the whole table, redrawn in place. */
class RedrawView extends ChangeView {
  private rowsShown = 0;

  protected render(reading: StateReading): void {
    const text = reading.state
      ? `${headline(this.workflowId, reading.state)}\n${renderTable(reading.state.tasks.map(rowCells), headersFor(reading.state.tasks))}`
      : `${this.workflowId}: ${reading.unavailable}; waiting for the run to end`;
    const columns = process.stdout.columns || 80;
    const lines = fitToScreen(text.split('\n'), columns, process.stdout.rows || 24);
    // Cursor to the start of what was drawn last (wrapped lines count as the rows they took),
    // then clear to the end of the screen.
    const rewind = this.rowsShown ? `\x1b[${this.rowsShown}F\x1b[J` : '';
    process.stdout.write(`${rewind}${lines.join('\n')}\n`);
    this.rowsShown = lines.reduce((sum, line) => sum + screenRows(line, columns), 0);
  }

  end(outcome: CommandOutcome, reading: StateReading): void {
    console.log(`\n${renderOutcome(outcome, reading.state)}`);
  }
}

/** Pipes and logs: a timestamped line per change (command status, or one image's row). */
class AppendView extends ChangeView {
  private lastHeadline = '';
  private readonly lastRows = new Map<string, string>();

  protected render(reading: StateReading): void {
    const now = formatTime(new Date());
    if (!reading.state) {
      console.log(`${now}  ${this.workflowId}: ${reading.unavailable}; waiting for the run to end`);
      return;
    }
    const title = headline(this.workflowId, reading.state);
    if (title !== this.lastHeadline) console.log(`${now}  ${title}`);
    this.lastHeadline = title;
    // Lines printed at different times still line up: columns as wide as their widest possible value.
    const widths = [
      Math.max(0, ...reading.state.tasks.map((r) => r.imageAlias.length)),
      widest(AsyncTaskState),
      widest(AsyncTaskStatus),
      widest(AsyncTaskResult),
    ];
    for (const row of reading.state.tasks) {
      const line = rowCells(row)
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ');
      if (this.lastRows.get(row.commandId) === line) continue;
      this.lastRows.set(row.commandId, line);
      console.log(`${now}  ${line}`);
    }
  }

  end(outcome: CommandOutcome, reading: StateReading): void {
    console.log(renderOutcome(outcome, reading.state));
  }
}

const widest = (values: readonly string[]): number => Math.max(...values.map((v) => v.length));

/** One JSON object per line: `{event: 'progress', ...}` per change, then `{event: 'outcome', ...}`. */
class JsonLinesView extends ChangeView {
  protected render(reading: StateReading): void {
    console.log(
      JSON.stringify({ event: 'progress', time: new Date(), workflowId: this.workflowId, ...reading }),
    );
  }

  end(outcome: CommandOutcome, reading: StateReading): void {
    console.log(
      JSON.stringify({
        event: 'outcome',
        time: new Date(),
        workflowId: this.workflowId,
        outcome,
        ...reading,
      }),
    );
  }
}
