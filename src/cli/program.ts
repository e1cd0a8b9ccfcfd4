import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { projectRoot } from '../dev/project-root';
import { registerCancelCommand } from './commands/cancel';
import { registerDevCommand } from './commands/dev';
import { registerHistoryCommand } from './commands/history';
import { registerInventoryCommand } from './commands/inventory';
import { registerListCommand } from './commands/list';
import { registerStatusCommand } from './commands/status';
import { registerSubmitCommand } from './commands/submit';
import { registerUnlockCommand } from './commands/unlock';
import { registerVdsmSimCommand } from './commands/vdsm-sim';
import { registerWatchCommand } from './commands/watch';
import { registerWorkerCommand } from './commands/worker';
import { ExitCode, exitCodeFor } from './exit-codes';

export function buildProgram(): Command {
  const { version } = JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  const program = new Command('ovirt-tasks')
    .description(
      'oVirt storage commands (RemoveVm, RemoveDisk, AddDisk, CreateSnapshot, MoveDisk, CopyDisk, RemoveSnapshot) as Temporal workflows driving VDSM tasks',
    )
    .version(version)
    // Throw instead of exiting, so every failure goes through exitCodeFor; inherited by subcommands.
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 command failed, 2 invalid input or configuration, 3 cannot reach the Temporal server.' +
        '\nTemporal connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, temporal.toml profiles.',
    );
  registerDevCommand(program);
  registerWorkerCommand(program);
  registerVdsmSimCommand(program);
  registerSubmitCommand(program);
  registerStatusCommand(program);
  registerWatchCommand(program);
  registerCancelCommand(program);
  registerListCommand(program);
  registerHistoryCommand(program);
  registerInventoryCommand(program);
  registerUnlockCommand(program);
  refuseOptionLikeValues(program);
  return program;
}

/**
 * Commander gives an option that takes a value whatever comes next, so `--vm --force` would remove
 * a VM named "--force" and `--vm=--help` one named "--help". No value of ours starts with '-': such
 * a value is a forgotten one, refused (exit 2) by every value-taking option of every command.
 */
function refuseOptionLikeValues(command: Command): void {
  for (const option of command.options) {
    if (!option.required && !option.optional) continue;
    const parse = option.parseArg;
    option.argParser((value: string, previous: unknown): unknown => {
      if (value.startsWith('-'))
        throw new InvalidArgumentError(
          `looks like an option, not a value: ${option.long ?? option.flags} needs its value right after it.`,
        );
      return parse ? parse(value, previous) : value;
    });
  }
  for (const sub of command.commands) refuseOptionLikeValues(sub);
}

/** Runs one CLI invocation and returns its exit code; errors are printed here, once. */
export async function runCli(argv: readonly string[]): Promise<ExitCode> {
  try {
    await buildProgram().parseAsync([...argv]);
    return ExitCode.Ok;
  } catch (err) {
    // Commander has already printed its own usage errors.
    if (!(err instanceof CommanderError))
      console.error(`ovirt-tasks: ${err instanceof Error ? err.message : String(err)}`);
    return exitCodeFor(err);
  }
}
