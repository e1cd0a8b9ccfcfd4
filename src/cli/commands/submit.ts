import type { Command } from 'commander';
import { submitRemoveDisk, submitRemoveVm } from '../../client';
import { loadCliSettings, parseDiskId, parseVmRef, resolveVm, withInventory, type VmRef } from '../context';
import { submitAndReport, type SubmitFlags } from '../submit-report';
import { registerStorageSubmitCommands } from './submit-storage';

interface RemoveFlags extends SubmitFlags {
  force: boolean;
}

export function registerSubmitCommand(program: Command): void {
  const submit = program
    .command('submit')
    .description(
      'submit a storage command; the workflow id is the business id (for add-disk and create-snapshot, the --command-id), so submitting twice is safe',
    );
  submit
    .command('remove-vm')
    .description('remove a VM and all its disks (RemoveVm → one RemoveImage per disk)')
    .requiredOption('--vm <id|name>', 'VM id or name (looked up in the inventory)', parseVmRef)
    .option('--force', 'remove even if some disks are LOCKED by another operation', false)
    .option('--wait', 'wait for the outcome and print it (exit 1 if the command fails)', false)
    .option('--json', 'print JSON', false)
    .action(async (flags: RemoveFlags & { vm: VmRef }) => {
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
    .action(async (flags: RemoveFlags & { disk: string }) => {
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
  registerStorageSubmitCommands(submit);
}
