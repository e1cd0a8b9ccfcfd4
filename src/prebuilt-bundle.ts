/**
 * Finds the workflow bundle (named apart from it: lib/workflow-bundle.js is the bundle itself).
 * The workflow bundle `npm run build` writes next to the compiled worker (lib/workflow-bundle.js,
 * by src/dev/build-workflow-bundle.ts), so workers load it instead of running webpack at start.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const WORKFLOW_BUNDLE_FILE = 'workflow-bundle.js';

/**
 * The prebuilt bundle in `dir` (the directory of the compiled worker), or undefined when there is
 * none (running from src/ with ts) or it is older than the compiled workflows it was built from
 * (lib/ recompiled without the bundling step): better to bundle at start than to run stale code.
 */
export function prebuiltWorkflowBundle(dir: string): string | undefined {
  const codePath = join(dir, WORKFLOW_BUNDLE_FILE);
  if (!existsSync(codePath)) return undefined;
  const source = join(dir, 'workflows', 'index.js');
  if (existsSync(source) && statSync(source).mtimeMs > statSync(codePath).mtimeMs) {
    console.warn(`${codePath} is older than ${source}: ignored (run \`npm run build\`)`);
    return undefined;
  }
  return codePath;
}
