/**
 * The Web UI, seen through a real browser: a RemoveVm of a 4-disk VM is found by its VmId search
 * attribute, opened, and shows its summary and its 4 RemoveImage children. Runs against a dev
 * server of its own (the suite's shared one is headless) and Debian's Chromium, which
 * `npm test` installs through scripts/ensure-chromium.sh. Screenshots go to
 * test-results/screenshots/ (a failure leaves one of the page it failed on).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { submitRemoveVm } from '../src/client';
import { startDevServer, type DevServer } from '../src/dev/dev-server';
import { projectRoot } from '../src/dev/project-root';
import { resolveTemporalBinary } from '../src/dev/temporal-binary';
import { DEFAULT_NAMESPACE, workflowIds } from '../src/shared/names';
import { eventually, startEngineStack, type EngineStack } from './support/engine-stack';

jest.setTimeout(180_000);

const RESULTS_DIR = join(projectRoot(), 'test-results');
const SCREENSHOTS_DIR = join(RESULTS_DIR, 'screenshots');
/** The UI fetches from the server after every navigation: allow a slow CI machine. */
const UI_TIMEOUT_MS = 30_000;
/** Quiet, reproducible headless runs: no GPU, no background downloads, no sync. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let server: DevServer | undefined;
let stack: EngineStack | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  // Screenshots of an earlier run must never pass for this one's.
  rmSync(SCREENSHOTS_DIR, { recursive: true, force: true });
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  // In memory, UI on a free port: nothing of another test or run is in its lists.
  server = await startDevServer({
    binary: resolveTemporalBinary(),
    port: 0,
    uiPort: 0,
    namespace: DEFAULT_NAMESPACE,
    ip: '127.0.0.1',
    logLevel: 'warn',
    logFile: join(RESULTS_DIR, 'web-ui-dev-server.log'),
  });
  stack = await startEngineStack({
    temporalAddress: server.address,
    faults: { durations: { 'Image.delete': 300 } },
  });
  const executablePath = execFileSync('bash', [join(projectRoot(), 'scripts', 'ensure-chromium.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  // launch() gives every browser a fresh temporary user-data-dir, removed on close.
  browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await server?.stop();
});

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS_DIR, `${name}.png`), fullPage: true });
}

test('finds a RemoveVm by VmId in the Web UI, opens it and sees its 4 RemoveImage children', async () => {
  const s = stack!;
  const vm = s.vmByName('web-01');
  expect(vm.disks).toHaveLength(4);
  const { handle } = await submitRemoveVm(
    s.client,
    { vmId: vm.id },
    { taskQueue: s.taskQueue, inventory: s.inventory },
  );
  await handle.result();
  const childIds = vm.disks.map((diskId) => workflowIds.removeImage(handle.workflowId, diskId));
  const byVmId = `VmId="${vm.id}"`;
  // Visibility is updated asynchronously: the UI is asked only once the server lists all five.
  await eventually(
    async () => {
      let count = 0;
      for await (const _ of s.client.workflow.list({ query: byVmId })) count++;
      return count === 1 + childIds.length ? count : undefined;
    },
    20_000,
    'the RemoveVm run and its children in visibility',
  );

  const page = await browser!.newPage({ viewport: { width: 1600, height: 1000 } });
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  try {
    // The list page takes a visibility query in its `query` parameter, as its filter bar writes it.
    await page.goto(
      `${server!.uiUrl}/namespaces/${DEFAULT_NAMESPACE}/workflows?query=${encodeURIComponent(byVmId)}`,
    );
    const parentLink = page.getByRole('link', { name: handle.workflowId, exact: true });
    await parentLink.waitFor();
    for (const childId of childIds) await page.getByRole('link', { name: childId, exact: true }).waitFor();
    // Children carry the VmId too: the parent and its 4 children, nothing else.
    expect(await page.getByTestId('workflows-summary-configurable-table-row').count()).toBe(5);
    await screenshot(page, '01-workflows-by-vm-id');

    await parentLink.click();
    await page.waitForURL(/\/history$/);
    await page.getByTestId('workflow-id-heading').getByText(handle.workflowId, { exact: true }).waitFor();
    // The children's summaries on the event timeline.
    for (const diskId of vm.disks) {
      const alias = s.fixture.disks.find((d) => d.id === diskId)!.alias;
      await page.getByText(`Remove image ${alias} (${diskId})`, { exact: true }).first().waitFor();
    }
    await screenshot(page, '02-remove-vm-history');

    await page.getByTestId('user-metadata-tab').click();
    // Summary, details and current details are Markdown, each rendered in an iframe of its own.
    const markdownPanes = page.locator('iframe[title="output"]');
    await markdownPanes
      .first()
      .contentFrame()
      .getByText('Remove VM web-01: 4 images', { exact: true })
      .waitFor();
    await markdownPanes
      .last()
      .contentFrame()
      .getByText('ENDED_SUCCESSFULLY: 4 removed, 0 failed, 0 in progress', { exact: false })
      .waitFor();
    await screenshot(page, '03-remove-vm-user-metadata');

    await page.getByTestId('relationships-tab').click();
    await page.waitForURL(/\/relationships$/);
    for (const childId of childIds) await page.getByRole('link', { name: childId, exact: true }).waitFor();
    await screenshot(page, '04-remove-vm-relationships');
  } catch (err) {
    await screenshot(page, 'failure');
    throw err;
  } finally {
    await page.close();
  }
});
