import type { Command } from 'commander';
import { notImplemented } from '../not-implemented';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description("show a command's state and the state of its VDSM tasks")
    .argument('<workflowId>', 'e.g. RemoveVm/<vmId>')
    .option('--json', 'print JSON', false)
    .action(() => notImplemented('status'));
}
