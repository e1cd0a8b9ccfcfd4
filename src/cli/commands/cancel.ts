import type { Command } from 'commander';
import { notImplemented } from '../not-implemented';

export function registerCancelCommand(program: Command): void {
  program
    .command('cancel')
    .description('request cancellation of a command')
    .argument('<workflowId>', 'e.g. RemoveVm/<vmId>')
    .action(() => notImplemented('cancel'));
}
