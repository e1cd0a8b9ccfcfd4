/** What every `submit` subcommand does once it has its input: submit, report, and with --wait follow. */
import type { Client } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import { CommandRefusedError, webUiLink, type Submitted } from '../client';
import { awaitFinalReport, exitWithOutcome, type CommandOutcome, type StateReading } from './command-report';
import { withTemporal, type CliSettings } from './context';
import { UsageError } from './exit-codes';
import { printJson, renderOutcome, renderReading, renderTable } from './render';

export interface SubmitFlags {
  wait: boolean;
  json: boolean;
}

/** What `submit --json` prints. */
interface SubmitReport {
  workflowId: string;
  runId: string;
  /** True only for the call that started the run; false when the same command was submitted before. */
  started: boolean;
  executionStatus: string;
  webUiUrl: string;
  /** With --wait. */
  outcome?: CommandOutcome;
  state?: StateReading['state'];
}

export async function submitAndReport(
  settings: CliSettings,
  flags: SubmitFlags,
  submit: (client: Client) => Promise<Submitted<Workflow>>,
): Promise<void> {
  // Loaded only when configured: the OpenTelemetry SDK is not needed otherwise.
  const tracing = settings.tracing
    ? (await import('../observability/submit-trace')).startSubmitTracing(settings.tracing)
    : undefined;
  await withTemporal(
    async ({ client, namespace }) => {
      let submitted: Submitted<Workflow>;
      try {
        submitted = tracing
          ? await tracing.span('ovirt-tasks submit', async (attribute) => {
              const result = await submit(client);
              attribute('temporal.workflow.id', result.handle.workflowId);
              return result;
            })
          : await submit(client);
      } catch (err) {
        // Unknown VM or disk, locked disk: the user's to fix, and nothing was started (exit 2).
        if (err instanceof CommandRefusedError)
          throw new UsageError(
            `refused (${err.type}): ${err.message}${err.field ? ` (--${err.field})` : ''}`,
          );
        throw err;
      } finally {
        // Exported now: --wait may end in process.exit.
        await tracing?.shutdown();
      }
      const { handle, started } = submitted;
      const description = await handle.describe();
      const report: SubmitReport = {
        workflowId: handle.workflowId,
        runId: description.runId,
        started,
        executionStatus: description.status.name,
        webUiUrl: webUiLink(settings.uiBaseUrl, namespace, handle.workflowId, description.runId),
      };
      if (!flags.json) {
        console.log(
          `${report.workflowId}: ${started ? 'started' : `existing execution (${report.executionStatus}), submitted before`}`,
        );
        console.log(
          renderTable([
            ['  run', report.runId],
            ['  Web UI', report.webUiUrl],
          ]),
        );
      }
      if (!flags.wait) {
        if (flags.json) printJson(report);
        return;
      }
      const { outcome, reading } = await awaitFinalReport(
        client,
        client.workflow.getHandle(handle.workflowId, description.runId),
      );
      if (flags.json) {
        printJson({ ...report, outcome, state: reading.state } satisfies SubmitReport);
      } else {
        console.log(`\n${renderReading(reading)}\n`);
        console.log(renderOutcome(outcome, reading.state));
      }
      exitWithOutcome(handle.workflowId, outcome);
    },
    { interceptors: tracing?.interceptors },
  );
}
