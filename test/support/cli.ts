import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigSchema } from '../../src/config/config';
import { projectRoot } from '../../src/dev/project-root';

/** Tests run the BUILT CLI (bin/ovirt-tasks → lib/cli/main.js), as users do: `npm test` builds first. */
export const CLI_BIN = join(projectRoot(), 'bin', 'ovirt-tasks');
const CLI_MAIN = join(projectRoot(), 'lib', 'cli', 'main.js');

export function assertCliBuilt(): void {
  if (!existsSync(CLI_MAIN))
    throw new Error(`${CLI_MAIN} is missing: run \`npm run build\` first (npm test does)`);
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion with only `env` added to a clean copy of this environment. */
export function runCliSync(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): CliResult {
  assertCliBuilt();
  const result = spawnSync(process.execPath, [CLI_BIN, ...args], {
    env: { ...cleanEnv(), ...env },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Starts a long-running CLI command (e.g. `dev`). */
export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  assertCliBuilt();
  return spawn(process.execPath, [CLI_BIN, ...args], {
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

const CONFIG_VARIABLES = new Set(Object.keys(ConfigSchema.innerType().shape));

/** This environment without the settings that would change what the CLI connects to or does. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    // TEMPORAL_CLI stays: it only says which binary provides the dev server.
    if ((key.startsWith('TEMPORAL_') && key !== 'TEMPORAL_CLI') || CONFIG_VARIABLES.has(key)) delete env[key];
  }
  return env;
}
