import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import {
  CommandRefusedError,
  submitRemoveDisk,
  submitRemoveVm,
  webUiLink,
  type Submitted,
} from '../../client';
import { awaitFinalReport, exitWithOutcome, type CommandOutcome, type StateReading } from '../command-report';
import {
  loadCliSettings,
  parseDiskId,
  parseVmRef,
  resolveVm,
  withInventory,
  withTemporal,
  type CliSettings,
  type VmRef,
} from '../context';
import { UsageError } from '../exit-codes';
import { printJson, renderOutcome, renderTable, renderReading } from '../render';

interface SubmitFlags {
  force: boolean;
  wait: boolean;
  json: boolean;
}

/** What `submit --json` prints. */
interface SubmitReport {
  workflowId: string;
  runId: string;
  /** False when the same command had been submitted before: this is that execution. */
  started: boolean;
  executionStatus: string;
  webUiUrl: string;
  /** With --wait. */
  outcome?: CommandOutcome;
  state?: StateReading['state'];
}

export function registerSubmitCommand(program: Command): void {
  const submit = program
    .command('submit')
    .description('submit a storage command; the workflow id is the business id, so submitting twice is safe');
  submit
    .command('remove-vm')
    .description('remove a VM and all its disks (RemoveVm → one RemoveImage per disk)')
    .requiredOption('--vm <id|name>', 'VM id or name (looked up in the inventory)', parseVmRef)
    .option('--force', 'remove even if some disks are LOCKED by another operation', false)
    .option('--wait', 'wait for the outcome and print it (exit 1 if the command fails)', false)
    .option('--json', 'print JSON', false)
    .action(async (flags: SubmitFlags & { vm: VmRef }) => {
      const settings = loadCliSettings();
      await withInventory(settings.inventoryUrl, async (inventory) => {
        const vmId = await resolveVm(inventory, flags.vm);
        await submitAndReport(settings, flags, (client) =>
          submitRemoveVm(client, { vmId, force: flags.force }, { taskQueue: settings.taskQueue, inventory }),
        );
      });
    });
  submit
    .command('remove-disk')
    .description('remove one disk (RemoveDisk → RemoveImage)')
    .requiredOption('--disk <id>', 'disk id (UUID)', parseDiskId)
    .option('--force', 'remove even if the disk is LOCKED by another operation', false)
    .option('--wait', 'wait for the outcome and print it (exit 1 if the command fails)', false)
    .option('--json', 'print JSON', false)
    .action(async (flags: SubmitFlags & { disk: string }) => {
      const settings = loadCliSettings();
      await withInventory(settings.inventoryUrl, (inventory) =>
        submitAndReport(settings, flags, (client) =>
          submitRemoveDisk(
            client,
            { diskId: flags.disk, force: flags.force },
            { taskQueue: settings.taskQueue, inventory },
          ),
        ),
      );
    });
}

async function submitAndReport(
  settings: CliSettings,
  flags: SubmitFlags,
  submit: (client: Client) => Promise<Submitted<Workflow>>,
): Promise<void> {
  await withTemporal(async ({ client, namespace }) => {
    let submitted: Submitted<Workflow>;
    try {
      submitted = await submit(client);
    } catch (err) {
      // Unknown VM or disk, locked disk: the user's to fix, and nothing was started (exit 2).
      if (err instanceof CommandRefusedError) throw new UsageError(`refused (${err.type}): ${err.message}`);
      throw err;
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
  });
}
