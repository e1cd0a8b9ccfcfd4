import type { Command } from 'commander';
import { notImplemented } from '../not-implemented';

export function registerWatchCommand(program: Command): void {
  program
    .command('watch')
    .description('follow a command until it ends, printing each change')
    .argument('<workflowId>', 'e.g. RemoveVm/<vmId>')
    .option('--json', 'print one JSON object per change', false)
    .action(() => notImplemented('watch'));
}
