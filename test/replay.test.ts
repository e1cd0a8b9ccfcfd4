/**
 * Replay: every history recorded from real runs (test/fixtures/histories, written by
 * `npm run record-histories`) must replay against today's workflow code under its real workflow
 * id. A workflow change that would break executions already running fails here, before it ships.
 * Every recorded set (a sub-folder with its own index.json) is replayed, so once a release is out,
 * histories of older workflow code keep being checked after a patched() change is recorded anew.
 * Nothing has been released yet, so there is one set, recorded from the current code. Needs no
 * server: replay runs the workflow code against the recorded events only.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { historySets, type HistoryFixture, type HistorySet } from '../tools/record-histories/sets';
import { WorkflowType } from '../src/shared/names';
import { quietRuntime } from './support/engine-stack';

jest.setTimeout(120_000);

const sets = historySets();
/** Every fixture of every set, with the set it belongs to. */
const allFixtures = sets.flatMap((set) => set.index.fixtures.map((fixture) => ({ set, fixture })));

/** The paths the issue names; a recording that lost one of them must not pass unnoticed. */
const REQUIRED_SCENARIOS = [
  'add-disk-success',
  'add-disk-task-failure',
  'add-disk-cancelled',
  'create-snapshot-success',
  'create-snapshot-reverted',
  'create-snapshot-cancelled',
  'move-disk-success',
  'move-disk-copy-failure',
  'copy-disk-success',
  'remove-vm-success',
  'remove-vm-partial-failure',
  'remove-vm-cancelled',
  'remove-vm-spm-failover',
  'remove-vm-image-already-gone',
  'remove-disk-success',
  'task-janitor',
];

function loadHistory(set: HistorySet, fixture: HistoryFixture): unknown {
  return JSON.parse(readFileSync(join(set.dir, fixture.file), 'utf8'));
}

function bundle(workflowsPath: string): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
}

let currentWorkflows: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The bundle the worker runs, built once for the file. */
function currentBundle(): Promise<WorkflowBundleWithSourceMap> {
  currentWorkflows ??= bundle(require.resolve('../src/workflows'));
  return currentWorkflows;
}

beforeAll(() => quietRuntime());

describe('the recorded histories', () => {
  test('at least one recording is there', () => {
    expect(sets.length).toBeGreaterThan(0);
  });

  test.each(sets.map((set) => [set.name, set] as const))(
    'set %s covers every workflow type, every required path, and each way a run closes',
    (_name, set) => {
      const types = new Set(set.index.fixtures.map((f) => f.workflowType));
      expect([...types].sort()).toEqual(Object.values(WorkflowType).sort());
      const scenarios = new Set(set.index.fixtures.map((f) => f.scenario));
      for (const scenario of REQUIRED_SCENARIOS) expect(scenarios).toContain(scenario);
      expect(new Set(set.index.fixtures.map((f) => f.status))).toEqual(
        new Set(['COMPLETED', 'FAILED', 'CANCELLED']),
      );
    },
  );

  test('each file is the history the index says it is', () => {
    for (const { set, fixture } of allFixtures) {
      const history = loadHistory(set, fixture) as {
        events: Array<{ workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }>;
      };
      expect({
        file: join(set.name, fixture.file),
        type: history.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name,
      }).toEqual({ file: join(set.name, fixture.file), type: fixture.workflowType });
    }
  });

  test.each(
    allFixtures.map(
      ({ set, fixture }) => [set.name, fixture.scenario, fixture.workflowId, set, fixture] as const,
    ),
  )(
    '%s %s: %s replays on the current workflow code',
    async (_setName, _scenario, workflowId, set, fixture) => {
      await Worker.runReplayHistory(
        { workflowBundle: await currentBundle() },
        loadHistory(set, fixture),
        workflowId,
      );
    },
  );
});

/**
 * Histories a user exported with `ovirt-tasks history export <id>` (default folder
 * test/fixtures/exported-histories, each `<name>.json` beside its `<name>.meta.json`) replay too.
 */
const EXPORTED_DIR = join(__dirname, 'fixtures', 'exported-histories');
const exported = existsSync(EXPORTED_DIR)
  ? readdirSync(EXPORTED_DIR)
      .filter((f) => f.endsWith('.meta.json'))
      .map(
        (f) =>
          JSON.parse(readFileSync(join(EXPORTED_DIR, f), 'utf8')) as { workflowId: string; file: string },
      )
  : [];
if (exported.length > 0) {
  describe('histories exported with `ovirt-tasks history export`', () => {
    test.each(exported.map((m) => [m.workflowId, m] as const))(
      '%s replays on the current workflow code',
      async (workflowId, meta) => {
        const history: unknown = JSON.parse(readFileSync(join(EXPORTED_DIR, meta.file), 'utf8'));
        await Worker.runReplayHistory({ workflowBundle: await currentBundle() }, history, workflowId);
      },
    );
  });
}

describe('a deliberately changed RemoveImage (a new step before Image.delete)', () => {
  test.each(sets.map((set) => [set.name, set] as const))(
    'without patched(): replay of set %s fails with a DeterminismViolationError',
    async (_name, set) => {
      const recordedStep = set.index.fixtures.find(
        (f) => f.scenario === 'remove-vm-success' && f.workflowType === WorkflowType.removeImage,
      );
      expect(recordedStep).toBeDefined();
      const workflowBundle = await bundle(require.resolve('./fixtures/changed-workflows/unpatched-new-step'));
      const replay = Worker.runReplayHistory(
        { workflowBundle },
        loadHistory(set, recordedStep!),
        recordedStep!.workflowId,
      );
      await expect(replay).rejects.toBeInstanceOf(DeterminismViolationError);
      // The error names the mismatch itself: the recorded activity (or patch) against the new one.
      await expect(replay).rejects.toThrow(/startSpmTask|checkImageNotInUse|patch/i);
    },
  );

  test('gated by patched(): every recorded history still replays', async () => {
    const workflowBundle = await bundle(require.resolve('./fixtures/changed-workflows/patched-new-step'));
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle },
      allFixtures.map(({ set, fixture }) => ({
        workflowId: fixture.workflowId,
        history: loadHistory(set, fixture),
      })),
    )) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
  });
});
