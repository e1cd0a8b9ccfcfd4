import type { Command } from 'commander';
import { notImplemented } from '../not-implemented';

export function registerSubmitCommand(program: Command): void {
  const submit = program
    .command('submit')
    .description('submit a storage command; the workflow id is the business id, so submitting twice is safe');
  submit
    .command('remove-vm')
    .description('remove a VM and all its disks (RemoveVm → one RemoveImage per disk)')
    .requiredOption('--vm <id|name>', 'VM id or name')
    .option('--force', 'remove even if some disks are LOCKED by another operation', false)
    .option('--wait', 'wait for the outcome and print it', false)
    .option('--json', 'print JSON', false)
    .action(() => notImplemented('submit remove-vm'));
  submit
    .command('remove-disk')
    .description('remove one disk (RemoveDisk → RemoveImage)')
    .requiredOption('--disk <id>', 'disk id')
    .option('--wait', 'wait for the outcome and print it', false)
    .option('--json', 'print JSON', false)
    .action(() => notImplemented('submit remove-disk'));
}
