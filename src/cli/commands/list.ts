import { Option, type Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { commandListQuery, listCommands, MAX_LIST_LIMIT, type CommandFilter } from '../../client';
import { CommandStatus, CommandType } from '../../shared/vocabulary';
import { loadCliSettings, parseVmRef, resolveVm, withInventory, withTemporal, type VmRef } from '../context';
import { parsePositiveInt } from '../options';

/** 1 to MAX_LIST_LIMIT: each listed run is described, so the bound keeps a listing quick. */
function parseLimit(value: string): number {
  const n = parsePositiveInt(value);
  if (n > MAX_LIST_LIMIT) throw new InvalidArgumentError(`must be at most ${MAX_LIST_LIMIT}.`);
  return n;
}
import { formatTime, printJson, renderTable } from '../render';

const DEFAULT_LIMIT = 20;

interface ListFlags {
  vm?: VmRef;
  type?: CommandType;
  status?: CommandStatus;
  limit: number;
  json: boolean;
}

export function registerListCommand(program: Command): void {
  program
    .command('list')
    .description(
      'list commands, newest first, by their custom search attributes (without --type: RemoveVm, RemoveDisk, AddDisk, CreateSnapshot, MoveDisk, CopyDisk and RemoveSnapshot, not their steps); visibility lags by a few seconds',
    )
    .option('--vm <id|name>', 'only commands on this VM (a name is looked up in the inventory)', parseVmRef)
    .addOption(new Option('--type <type>', 'command type').choices(CommandType))
    .addOption(new Option('--status <status>', 'CommandStatus').choices(CommandStatus))
    .option('--limit <n>', 'at most n commands', parseLimit, DEFAULT_LIMIT)
    .option('--json', 'print JSON', false)
    .action(async (flags: ListFlags) => {
      const settings = loadCliSettings();
      const vm = flags.vm;
      const filter: CommandFilter = {
        commandType: flags.type,
        commandStatus: flags.status,
        // Only a name needs the inventory.
        vmId:
          vm === undefined || 'id' in vm
            ? vm?.id
            : await withInventory(settings.inventoryUrl, (inventory) => resolveVm(inventory, vm)),
      };
      const query = commandListQuery(filter);
      const commands = await withTemporal(({ client }) => listCommands(client, filter, flags.limit));
      if (flags.json) {
        printJson({ query, commands });
        return;
      }
      if (commands.length === 0) {
        console.log(`no commands match ${query}`);
        return;
      }
      console.log(
        renderTable(
          commands.map((c) => [
            c.workflowId,
            c.commandType ?? '-',
            c.commandStatus ?? '-',
            c.executionStatus,
            formatTime(c.startTime),
            formatTime(c.closeTime),
            c.summary ?? '',
          ]),
          ['WORKFLOW ID', 'TYPE', 'STATUS', 'TEMPORAL', 'STARTED', 'CLOSED', 'SUMMARY'],
        ),
      );
    });
}
