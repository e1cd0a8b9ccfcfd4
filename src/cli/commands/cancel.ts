import type { Command } from 'commander';
import { cancelCommand } from '../../client';
import { awaitFinalReport, exitWithOutcome } from '../command-report';
import { describeCommand, parseCommandId, withTemporal } from '../context';
import { renderOutcome, renderReading } from '../render';

export function registerCancelCommand(program: Command): void {
  program
    .command('cancel')
    .description(
      'request cancellation of a command: its steps stop their VDSM tasks, wait for the rollback, end and clear them',
    )
    .argument('<workflowId>', 'e.g. RemoveVm/<vmId>', parseCommandId)
    .option(
      '--wait',
      'wait until the clean-up has finished and print the outcome (exit 0 only if the command still succeeded)',
      false,
    )
    .action(async (workflowId: string, flags: { wait: boolean }) => {
      await withTemporal(async ({ client }) => {
        const description = await describeCommand(client, workflowId);
        const handle = client.workflow.getHandle(workflowId, description.runId);
        const running = description.status.name === 'RUNNING';
        if (running) {
          await cancelCommand(client, workflowId);
          console.log(`${workflowId}: cancellation requested (run ${description.runId})`);
          if (!flags.wait) return;
        } else {
          // Nothing to cancel: report how it ended, with the exit code of that outcome.
          console.log(`${workflowId}: already ended (${description.status.name}), nothing to cancel`);
        }
        const { outcome, reading } = await awaitFinalReport(client, handle);
        console.log(`\n${renderReading(reading)}\n`);
        console.log(renderOutcome(outcome, reading.state));
        exitWithOutcome(workflowId, outcome);
      });
    });
}
