/**
 * `npm run record-histories`: records the replay fixtures of test/replay.test.ts from real runs.
 * A fresh in-memory dev server, and per scenario (scenarios.ts) a data center of its own (fixed
 * name and seed, so workflow ids are the same on every recording), its VDSM simulator, a SQLite
 * inventory and a worker; each scenario drives one path through the workflows, and the history of
 * every workflow it started (parents and their children) is written to
 * test/fixtures/histories/<set>/<scenario>/<workflow id, made file-safe>.json, listed in
 * <set>/index.json.
 *
 * A recording adds a set and never rewrites one: once a release is out, histories recorded by
 * earlier workflow code stand for executions started before a change, and test/replay.test.ts
 * replays every set. Sets are named by `npm run record-histories -- --set <name>` (default
 * `recorded-<UTC time>`). Until a release, a workflow change replaces the set (delete, re-record).
 *
 * Tooling, not product: it lives outside src/ and is built by tools/tsconfig.build.json.
 */
import { cpSync, existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { loadConfig } from '../../src/config/config';
import { startDevServer } from '../../src/dev/dev-server';
import { projectRoot } from '../../src/dev/project-root';
import { resolveTemporalBinary } from '../../src/dev/temporal-binary';
import { generateDataCenter } from '../../src/fixture';
import { DEFAULT_NAMESPACE, WorkflowType } from '../../src/shared/names';
import { assembleStack, FAST_POLL_OVERRIDES } from '../../src/stack';
import { type CloseStatus, type Scenario, until } from './helpers';
import { SCENARIOS } from './scenarios';
import { fixtureFileName, HISTORIES_DIR, SET_NAME, type HistoriesIndex, type HistoryFixture } from './sets';

const DATA_CENTER_SEED = 7;

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

/** Children started by a run, read from its history: every workflow of the scenario gets recorded. */
function childWorkflowIds(events: HistoryEvent[]): string[] {
  return events.flatMap((e) => {
    const id = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
    return id ? [id] : [];
  });
}

/** Waits until the run has closed (a cancelled parent closes after its children cleaned up). */
async function closeStatus(handle: WorkflowHandle): Promise<string> {
  let status = '';
  await until(`${handle.workflowId} to close`, async () => {
    status = (await handle.describe()).status.name;
    return status !== 'RUNNING';
  });
  return status;
}

async function recordScenario(
  scenario: Scenario,
  deps: {
    address: string;
    workflowBundle: WorkflowBundleWithSourceMap;
    workDir: string;
    /** Where the histories go (a staging folder, copied to the set's folder once all succeeded). */
    outDir: string;
  },
): Promise<HistoryFixture[]> {
  const fixture = generateDataCenter({ name: `replay-${scenario.name}`, seed: DATA_CENTER_SEED, vmCount: 6 });
  const dataDir = join(deps.workDir, scenario.name);
  const taskQueue = `replay-${scenario.name}`;
  const config = loadConfig(
    {},
    {
      ...FAST_POLL_OVERRIDES,
      OVIRT_TASKS_TASK_QUEUE: taskQueue,
      OVIRT_TASKS_INVENTORY_URL: `sqlite:${join(dataDir, 'inventory.db')}`,
    },
  );
  const stack = await assembleStack({
    config,
    temporal: { address: deps.address, namespace: DEFAULT_NAMESPACE },
    simulators: { dataDir: join(dataDir, 'vdsm'), faults: scenario.faults },
    seed: { fixtures: [fixture] },
  });
  try {
    const { client } = stack;
    const worker = await stack.startWorker({ workflowBundle: deps.workflowBundle });
    const recorded: HistoryFixture[] = [];
    const record = async (): Promise<void> => {
      const roots = await scenario.run({
        client,
        fixture,
        sim: stack.simulators[0]!,
        inventory: stack.inventory,
        vdsm: stack.vdsm,
        taskQueue,
        vm(name) {
          const vm = fixture.vms.find((v) => v.name === name);
          if (!vm) throw new Error(`no VM ${name} in the data center`);
          return { id: vm.id, disks: fixture.disks.filter((d) => d.vmId === vm.id).map((d) => d.id) };
        },
      });
      const pending: Array<{ workflowId: string; expect?: CloseStatus }> = [...roots];
      for (let next = pending.shift(); next; next = pending.shift()) {
        const handle = client.workflow.getHandle(next.workflowId);
        const status = await closeStatus(handle);
        if (next.expect && status !== next.expect) {
          throw new Error(`${scenario.name}: ${next.workflowId} closed ${status}, expected ${next.expect}`);
        }
        const history = await handle.fetchHistory();
        const events = history.events ?? [];
        const workflowType =
          events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? 'unknown';
        const file = join(scenario.name, fixtureFileName(next.workflowId));
        mkdirSync(join(deps.outDir, scenario.name), { recursive: true });
        // historyToJSON writes the format `temporal workflow show --output json` does, indented.
        writeFileSync(join(deps.outDir, file), `${historyToJSON(history)}\n`);
        recorded.push({ scenario: scenario.name, workflowId: next.workflowId, workflowType, status, file });
        // Closed by the time their parent is; how each closed is part of the path, not checked.
        pending.push(...childWorkflowIds(events).map((id) => ({ workflowId: id })));
      }
    };
    // A worker that dies mid-scenario fails it (rather than waiting for runs nobody executes).
    const workerEnded = worker.done.then(() => {
      throw new Error(`${scenario.name}: the worker stopped before the scenario ended`);
    });
    await Promise.race([record(), workerEnded]);
    return recorded;
  } finally {
    await stack.stop();
  }
}

export async function recordHistories(
  options: { set?: string } = {},
  log: (line: string) => void = console.log,
): Promise<HistoriesIndex> {
  const set = options.set ?? `recorded-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  if (!SET_NAME.test(set)) throw new Error(`invalid set name ${JSON.stringify(set)}: use [A-Za-z0-9._-]`);
  const setDir = join(HISTORIES_DIR, set);
  // Never rewritten: its histories may stand for executions started before a later change.
  if (existsSync(setDir))
    throw new Error(`${relative(projectRoot(), setDir)} exists already: choose another --set`);
  // ERROR: the failure scenarios' workflows failing on purpose would otherwise print as warnings.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const workDir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-record-'));
  // In memory: a fresh server every recording, so the fixed workflow ids never meet an old run.
  const server = await startDevServer({
    binary: resolveTemporalBinary(),
    port: 0,
    headless: true,
    namespace: DEFAULT_NAMESPACE,
    ip: '127.0.0.1',
    logLevel: 'warn',
    logFile: join(workDir, 'temporal.log'),
  });
  try {
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('../../src/workflows'),
      logger: new DefaultLogger('WARN'),
    });
    // Staged, so a recording that fails half-way leaves the committed fixtures as they were.
    const outDir = join(workDir, 'histories');
    mkdirSync(outDir);
    const fixtures: HistoryFixture[] = [];
    for (const scenario of SCENARIOS) {
      const started = Date.now();
      const recorded = await recordScenario(scenario, {
        address: server.address,
        workflowBundle,
        workDir,
        outDir,
      });
      fixtures.push(...recorded);
      log(
        `${scenario.name}: ${recorded.map((f) => `${f.workflowType} ${f.status}`).join(', ')} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
      );
    }
    const missingTypes = Object.values(WorkflowType).filter(
      (t) => !fixtures.some((f) => f.workflowType === t),
    );
    if (missingTypes.length) throw new Error(`no history recorded for ${missingTypes.join(', ')}`);
    const index: HistoriesIndex = {
      note: 'Recorded by `npm run record-histories` (tools/record-histories); replayed by test/replay.test.ts.',
      set,
      sdkVersion: sdkVersion(),
      scenarios: SCENARIOS.map(({ name, description }) => ({ name, description })),
      fixtures,
    };
    writeFileSync(join(outDir, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
    // A new folder: the sets recorded before stay as they are.
    cpSync(outDir, setDir, { recursive: true, errorOnExist: true, force: false });
    log(`${fixtures.length} histories in ${relative(projectRoot(), setDir)}`);
    return index;
  } finally {
    await server.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

function sdkVersion(): string {
  const pkg = JSON.parse(readFileSync(require.resolve('@temporalio/worker/package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

const USAGE = `usage: npm run record-histories -- [--set <name>]

Records every scenario of tools/record-histories/scenarios.ts on a fresh in-memory Temporal dev
server and writes test/fixtures/histories/<name>/ (refused when it exists; default
recorded-<UTC time>).`;

/** `--set <name>` (or `--set=<name>`): the folder the new recording goes to; `--help`. */
export function parseArgs(argv: string[]): { set?: string; help?: true } {
  const out: { set?: string; help?: true } = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') out.help = true;
    else if (arg === '--set') out.set = argv[++i];
    else if (arg.startsWith('--set=')) out.set = arg.slice('--set='.length);
    else throw new Error(`unknown argument ${arg}\n${USAGE}`);
  }
  return out;
}

if (require.main === module) {
  Promise.resolve()
    .then(async () => {
      const args = parseArgs(process.argv.slice(2));
      if (args.help) console.log(USAGE);
      else await recordHistories(args);
    })
    .then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`record-histories: ${(err as Error).stack ?? String(err)}`);
        process.exit(1);
      },
    );
}
