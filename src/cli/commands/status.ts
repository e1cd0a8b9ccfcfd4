import type { Command } from 'commander';
import { webUiLink } from '../../client';
import type { CommandState } from '../../shared/messages';
import { SA } from '../../shared/search-attributes';
import { awaitFinalReport, readCommandState, type CommandOutcome } from '../command-report';
import { describeCommand, loadCliSettings, parseCommandId, withTemporal } from '../context';
import {
  formatTime,
  printJson,
  renderImageCounts,
  renderOutcome,
  renderTable,
  renderTaskTable,
} from '../render';

/** What `status --json` prints. */
interface StatusReport {
  workflowId: string;
  runId: string;
  workflowType: string;
  /** Temporal's view: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, ... */
  executionStatus: string;
  /** The engine's CommandStatus: from the task table, else the CommandStatus search attribute. */
  commandStatus: string | null;
  summary: string | null;
  startTime: Date;
  closeTime: Date | null;
  webUiUrl: string;
  /** Null when no worker answered the query: `stateUnavailable` says why. */
  state: CommandState | null;
  stateUnavailable: string | null;
  /** Closed runs only. */
  outcome: CommandOutcome | null;
  /** Why it failed: a refusal's type and reason, else the task table's failure reason. */
  failureReason: string | null;
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description(
      "show a command's state and its per-image VDSM task table (running or closed; exit 0 whenever it can report)",
    )
    .argument('<workflowId>', 'e.g. RemoveVm/<vmId>', parseCommandId)
    .option('--json', 'print JSON', false)
    .action(async (workflowId: string, flags: { json: boolean }) => {
      const settings = loadCliSettings();
      await withTemporal(async ({ client, namespace }) => {
        const description = await describeCommand(client, workflowId);
        const closed = description.status.name !== 'RUNNING';
        // A closed run's outcome is at hand at once; a running one is read as it is now.
        const { outcome, reading } = closed
          ? await awaitFinalReport(client, client.workflow.getHandle(workflowId, description.runId))
          : { outcome: null, reading: await readCommandState(client, workflowId) };
        const report: StatusReport = {
          workflowId,
          runId: description.runId,
          workflowType: description.type,
          executionStatus: description.status.name,
          commandStatus:
            reading.state?.commandStatus ?? description.typedSearchAttributes.get(SA.CommandStatus) ?? null,
          summary: (await description.staticSummary()) ?? null,
          startTime: description.startTime,
          closeTime: description.closeTime ?? null,
          webUiUrl: webUiLink(settings.uiBaseUrl, namespace, workflowId, description.runId),
          state: reading.state,
          stateUnavailable: reading.unavailable,
          outcome,
          failureReason: null,
        };
        report.failureReason = failureReason(report);
        if (flags.json) printJson(report);
        else console.log(renderStatus(report));
      });
    });
}

/**
 * A command that failed validation (FAILED) recorded its activity's wrapper message ("Activity
 * task failed"); its outcome carries the refusal itself, with its type.
 */
function failureReason(r: Omit<StatusReport, 'failureReason'>): string | null {
  if (r.commandStatus === 'FAILED' && r.outcome && !r.outcome.succeeded)
    return `refused (${r.outcome.failure.type}): ${r.outcome.failure.message}`;
  return r.state?.failureReason ?? null;
}

function renderStatus(r: StatusReport): string {
  const fields = [
    ['  summary', r.summary ?? '-'],
    ['  command status', `${r.commandStatus ?? '-'} (Temporal: ${r.executionStatus})`],
    ['  started', formatTime(r.startTime)],
    ['  closed', formatTime(r.closeTime)],
    ...(r.state ? [['  images', renderImageCounts(r.state)]] : []),
    ...(r.failureReason ? [['  failure reason', r.failureReason]] : []),
    ['  Web UI', r.webUiUrl],
  ];
  return [
    `${r.workflowId} (${r.workflowType}, run ${r.runId})`,
    renderTable(fields),
    '',
    r.state ? renderTaskTable(r.state.tasks) : `task table unavailable (${r.stateUnavailable})`,
    ...(r.outcome ? ['', renderOutcome(r.outcome, r.state)] : []),
  ].join('\n');
}
