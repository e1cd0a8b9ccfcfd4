import type { Command } from 'commander';
import { notImplemented } from '../not-implemented';

export function registerHistoryCommand(program: Command): void {
  const history = program.command('history').description('workflow histories (for replay tests)');
  history
    .command('export')
    .description("write a command's event history (and its children's) as JSON")
    .argument('<workflowId>', 'e.g. RemoveVm/<vmId>')
    .option('--out <dir>', 'output directory')
    .action(() => notImplemented('history export'));
}
