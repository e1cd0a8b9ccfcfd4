import type { Command } from 'commander';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description(
      'run a worker against the configured Temporal server (TEMPORAL_* / temporal.toml, OVIRT_TASKS_*, VDSM_*) until SIGINT/SIGTERM',
    )
    .action(async () => {
      // Loaded on use: `--help` and the other commands stay fast and independent of it.
      const { runWorkerCommand } = await import('../worker-command');
      await runWorkerCommand();
    });
}
