/**
 * Workflow unit tests on Temporal's time-skipping test server: real workflow code (one bundle of
 * src/workflows per test file), activities replaced by in-memory fakes (./fake-activities.ts), and
 * server time that jumps over timers and retry back-offs while a test waits for a result. The
 * server skips no time while an activity runs (a fake that hangs holds the clock).
 *
 * The server executable comes from scripts/ensure-test-server.sh ($TEMPORAL_TEST_SERVER, or
 * .tools/bin/temporal-test-server built once from Maven Central): the SDK's own download needs the
 * open internet.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { WorkflowHandle, WorkflowStartOptions } from '@temporalio/client';
import { defaultPayloadConverter, type Workflow, type WorkflowResultType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Context } from '@temporalio/activity';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type LogEntry,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { projectRoot } from '../../src/dev/project-root';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../../src/shared/search-attributes';
import { reportStarted } from '../../src/activities/step-report';
import { FAKE_ACTIVITY_NAMES, type FakeActivities, type InputOf, type OutputOf } from './fake-activities';

/** Path of the time-skipping test server; the resolution order lives in scripts/ensure-test-server.sh. */
export function resolveTestServer(env: NodeJS.ProcessEnv = process.env): string {
  const script = join(projectRoot(), 'scripts', 'ensure-test-server.sh');
  // stderr is inherited: a first-time build reports its progress, a failure says why.
  const result = spawnSync('bash', [script], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (result.error) throw new Error(`cannot run ${script}: ${result.error.message}`);
  const path = result.stdout.trim();
  if (result.status !== 0 || path === '') {
    throw new Error(
      `no time-skipping test server available (${script} exited with ${result.status ?? result.signal})`,
    );
  }
  return path;
}

const INDEXED_VALUE_TYPES: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  Keyword: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  KeywordList: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

export interface TimeSkippingSuite {
  env: TestWorkflowEnvironment;
  /**
   * Workflow, activity and SDK log entries at WARN and above, in order. Kept, not printed (a step
   * whose test runs no parent warns that it cannot report to it): tests assert on them. ERROR is
   * printed as well.
   */
  logs: LogEntry[];
  /**
   * Starts `workflow` on the suite's worker. Its activities, and those of its children (ids under
   * `<workflowId>/`), are served by `fake`.
   */
  start<W extends Workflow>(
    workflow: W,
    args: Parameters<W>,
    fake: FakeActivities,
    workflowId?: string,
  ): Promise<WorkflowHandle<W>>;
  /** `start`, then the workflow's result (or its failure, thrown). */
  run<W extends Workflow>(
    workflow: W,
    args: Parameters<W>,
    fake: FakeActivities,
    workflowId?: string,
  ): Promise<WorkflowResultType<W>>;
  teardown(): Promise<void>;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** One bundle of src/workflows per test file (jest gives each file its own module registry). */
function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'),
    logger: new DefaultLogger('WARN'),
  });
  return bundle;
}

/**
 * The SDK gives the server 5 s to answer. The wrapper's JVM starts in about 1 s even on a loaded
 * machine, but two jest workers starting two JVMs next to a busy build can still miss it: one
 * retry of a start that timed out, never of anything else.
 */
async function startEnvironment(path: string): Promise<TestWorkflowEnvironment> {
  const create = () =>
    TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } });
  try {
    return await create();
  } catch (err) {
    if (!/did not start within/.test(String(err))) throw err;
    return create();
  }
}

/**
 * One environment and one worker per test file: call in beforeAll, `teardown()` in afterAll.
 * Each test's workflow gets a fake of its own: the worker's activities find it by workflow id.
 */
export async function createTimeSkippingSuite(): Promise<TimeSkippingSuite> {
  const logs: LogEntry[] = [];
  try {
    Runtime.install({
      logger: new DefaultLogger('WARN', (entry) => {
        logs.push(entry);
        if (entry.level === 'ERROR') console.error(`[${entry.level}] ${entry.message}`, entry.meta ?? '');
      }),
      // The SDK core's own warnings go to the same logger instead of straight to the console.
      telemetryOptions: { logging: { forward: {}, filter: { core: 'WARN', other: 'ERROR' } } },
    });
  } catch {
    // Already installed in this module registry: the first suite's logger stays.
  }
  const [env] = await Promise.all([startEnvironment(resolveTestServer()), workflowBundle()]);
  const namespace = env.namespace ?? 'default';
  // Registered as production registers them, so the workflows' upserts meet the same rules.
  await env.connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      SEARCH_ATTRIBUTE_REGISTRATIONS.map(({ name, type }) => {
        const indexed = INDEXED_VALUE_TYPES[type];
        if (indexed === undefined)
          throw new Error(`search attribute ${name}: type ${type} has no mapping here`);
        return [name, indexed];
      }),
    ),
  });

  const fakes = new Map<string, FakeActivities>();
  /** The fake of a workflow or of its nearest registered ancestor (children's ids extend the parent's). */
  function fakeOf(workflowId: string): FakeActivities {
    for (let id = workflowId; ; id = id.slice(0, id.lastIndexOf('/'))) {
      const fake = fakes.get(id);
      if (fake) return fake;
      if (!id.includes('/')) throw new Error(`no fake activities registered for workflow ${workflowId}`);
    }
  }
  const activities = Object.fromEntries(
    FAKE_ACTIVITY_NAMES.map((name) => [
      name,
      async (input: unknown) => {
        const result = await fakeOf(Context.current().info.workflowExecution?.workflowId ?? '').invoke(
          name,
          input,
        );
        // As the real start does: it tells the step's parent that the task runs.
        if (name === 'startSpmTask') await reportStartOf(input, result);
        return result;
      },
    ]),
  );
  async function reportStartOf(input: unknown, result: unknown): Promise<void> {
    const { report } = input as InputOf<'startSpmTask'>;
    const started = result as OutputOf<'startSpmTask'>;
    if (started.kind === 'started') await reportStarted(env.client, report, started.vdsmTaskId);
  }

  const taskQueue = `unit-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities,
    // Heartbeats go out at once, so a cancelled activity learns it and ends (see fake `hang`).
    maxHeartbeatThrottleInterval: '20ms',
    defaultHeartbeatThrottleInterval: '20ms',
  });
  const running = worker.run();

  function start<W extends Workflow>(
    workflow: W,
    args: Parameters<W>,
    fake: FakeActivities,
    workflowId = `unit/${randomUUID()}`,
  ): Promise<WorkflowHandle<W>> {
    fakes.set(workflowId, fake);
    // WorkflowStartOptions' `args` is a conditional type TypeScript cannot resolve for a generic W.
    // A workflow task gets a minute, not 10 s: on a loaded machine a timed-out task would run its
    // local activities (end action, Task.clear) a second time and blur the calls a test counts.
    const options = {
      taskQueue,
      workflowId,
      args,
      workflowTaskTimeout: '1 minute',
    } as unknown as WorkflowStartOptions<W>;
    return env.client.workflow.start(workflow, options);
  }
  return {
    env,
    logs,
    start,
    run: async (workflow, args, fake, workflowId) => (await start(workflow, args, fake, workflowId)).result(),
    teardown: async () => {
      worker.shutdown();
      await running;
      await env.teardown();
    },
  };
}

/** Polls `check` (a query, a fake's calls) until it holds; fails with the last value after `timeoutMs` of real time. */
export async function until<T>(
  what: string,
  read: () => Promise<T> | T,
  check: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

/** Every value a workflow upserted for one search attribute, in history order. */
export function upsertedValues(history: History, key: string): unknown[] {
  return (history.events ?? []).flatMap((event) => {
    const payload =
      event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.[key];
    return payload ? [defaultPayloadConverter.fromPayload(payload)] : [];
  });
}

/** The durations of the timers a workflow started (its `sleep`s), in history order, in ms. */
export function timerDurationsMs(history: History): number[] {
  return (history.events ?? []).flatMap((event) => {
    const timeout = event.timerStartedEventAttributes?.startToFireTimeout;
    return timeout ? [Number(timeout.seconds ?? 0) * 1000 + Math.round((timeout.nanos ?? 0) / 1e6)] : [];
  });
}

/**
 * The suite of one test file: created in beforeAll, torn down in afterAll. Call at the top level
 * of the file; the object it returns forwards to the suite once beforeAll has created it.
 */
export function timeSkippingSuitePerFile(): TimeSkippingSuite {
  let created: TimeSkippingSuite | undefined;
  beforeAll(async () => {
    created = await createTimeSkippingSuite();
  }, 120_000);
  afterAll(async () => {
    await created?.teardown();
  });
  const current = (): TimeSkippingSuite => {
    if (!created) throw new Error('the time-skipping suite is used before beforeAll created it');
    return created;
  };
  return {
    get env() {
      return current().env;
    },
    get logs() {
      return current().logs;
    },
    start: (workflow, args, fake, workflowId) => current().start(workflow, args, fake, workflowId),
    run: (workflow, args, fake, workflowId) => current().run(workflow, args, fake, workflowId),
    teardown: () => current().teardown(),
  };
}
