/**
 * `npm run build` step: webpacks the compiled workflows (lib/workflows) once, into
 * lib/workflow-bundle.js, so a worker loads that file (`workflowBundle: { codePath }`) instead of
 * running webpack in its own process at every start (~90 MiB of RSS that stays, and seconds of
 * start-up). createOvirtWorker (src/worker.ts) finds it with prebuiltWorkflowBundle().
 */
import { existsSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

/** The bundle's file name, next to the compiled worker (lib/worker.js). */
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

/** Bundles `<libDir>/workflows` into `<libDir>/workflow-bundle.js` (atomically); returns its path. */
export async function buildWorkflowBundle(libDir: string): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve(join(libDir, 'workflows')),
    logger: new DefaultLogger('WARN'),
  });
  const codePath = join(libDir, WORKFLOW_BUNDLE_FILE);
  const partial = `${codePath}.${process.pid}.tmp`;
  writeFileSync(partial, code);
  renameSync(partial, codePath);
  return codePath;
}

if (require.main === module) {
  // Compiled to lib/dev/: the compiled workflows are in lib/workflows.
  buildWorkflowBundle(join(__dirname, '..')).then(
    (codePath) => console.log(`workflow bundle: ${codePath}`),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
