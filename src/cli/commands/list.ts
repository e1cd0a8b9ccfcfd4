import { Option, type Command } from 'commander';
import { CommandStatus, CommandType } from '../../shared/vocabulary';
import { parsePositiveInt } from '../options';
import { notImplemented } from '../not-implemented';

export function registerListCommand(program: Command): void {
  program
    .command('list')
    .description('list commands (filters use the custom search attributes)')
    .option('--vm <id|name>', 'only commands on this VM')
    .addOption(new Option('--type <type>', 'command type').choices(CommandType))
    .addOption(new Option('--status <status>', 'command status').choices(CommandStatus))
    .option('--limit <n>', 'at most n commands', parsePositiveInt)
    .option('--json', 'print JSON', false)
    .action(() => notImplemented('list'));
}
