import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from './project-root';

/**
 * Path of a Temporal CLI binary (it embeds the dev server). The resolution order lives in one
 * place, scripts/ensure-temporal.sh: $TEMPORAL_CLI, `temporal` on PATH, .tools/bin/temporal, else
 * a `go install` of v1.5.1. The SDK's own download is never used: no open internet here.
 */
export function resolveTemporalBinary(env: NodeJS.ProcessEnv = process.env): string {
  const script = join(projectRoot(), 'scripts', 'ensure-temporal.sh');
  // stderr is inherited: a first-time build reports its progress, a failure says why.
  const result = spawnSync('bash', [script], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (result.error) throw new Error(`cannot run ${script}: ${result.error.message}`);
  const path = result.stdout.trim();
  if (result.status !== 0 || path === '') {
    throw new Error(`no Temporal CLI available (${script} exited with ${result.status ?? result.signal})`);
  }
  return path;
}
