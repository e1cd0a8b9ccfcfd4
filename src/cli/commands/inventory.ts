import { Argument, type Command } from 'commander';
import { notImplemented } from '../not-implemented';

export function registerInventoryCommand(program: Command): void {
  program
    .command('inventory')
    .description('show the inventory: VMs, disks, or the VDSM tasks the SPM reports')
    .addArgument(new Argument('<what>', 'what to list').choices(['vms', 'disks', 'tasks']))
    .option('--json', 'print JSON', false)
    .action(() => notImplemented('inventory'));
}
