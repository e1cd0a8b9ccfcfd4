/**
 * `npm run build` step: webpacks the compiled workflows (lib/workflows) once, into
 * lib/workflow-bundle.js, so a worker loads that file (`workflowBundle: { codePath }`) instead of
 * running webpack in its own process at every start (~90 MiB of RSS that stays, and seconds of
 * start-up). createOvirtWorker (src/worker.ts) finds it with prebuiltWorkflowBundle()
 * (src/prebuilt-bundle.ts).
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_FILE } from '../prebuilt-bundle';

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
