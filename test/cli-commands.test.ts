/**
 * The client commands of the BUILT CLI (submit, status, watch, cancel, list, history export,
 * inventory) as users run them: child processes against the suite's dev server, with an engine
 * stack (simulator, SQLite inventory, in-process worker) of their own. The CLI runs asynchronously:
 * the worker that serves its commands lives in this process's event loop.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { queryCommandState, submitRemoveVm } from '../src/client';
import { ExitCode } from '../src/cli/exit-codes';
import type { HistoryFixtureMeta } from '../src/cli/commands/history';
import type { CommandState } from '../src/shared/messages';
import { workflowIds } from '../src/shared/names';
import { assertCliBuilt, spawnCli, type CliResult } from './support/cli';
import {
  eventually,
  expectClean,
  startEngineStack,
  workflowBundle,
  type EngineStack,
} from './support/engine-stack';
import { testAddress, TEST_NAMESPACE } from './support/temporal';

jest.setTimeout(60_000);

const CLOSED_PORT = '127.0.0.1:1';
const UI_URL = 'http://ui.test:8233';

/** Runs the CLI to completion without blocking this process's event loop. */
function runCli(args: string[], env: Record<string, string>, timeoutMs = 45_000): Promise<CliResult> {
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

function parseJson<T>(result: CliResult): T {
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as T;
}

const someUuid = (): string => randomUUID();

beforeAll(() => assertCliBuilt());

describe('client commands without a server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-cli-'));
  const inventoryPath = join(dir, 'never', 'inventory.db');
  // Anything contacted would show: Temporal as exit 3, the inventory as a message about it.
  const env = { TEMPORAL_ADDRESS: CLOSED_PORT, OVIRT_TASKS_INVENTORY_URL: `sqlite:${inventoryPath}` };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    [
      ['submit', 'remove-disk', '--disk', 'not-a-uuid'],
      "option '--disk <id>' argument 'not-a-uuid' is invalid. must be a UUID",
    ],
    [
      ['submit', 'remove-vm', '--vm', 'web 01'],
      "argument 'web 01' is invalid. must be a VM id (UUID) or a VM name",
    ],
    [['submit', 'remove-vm'], "required option '--vm <id|name>' not specified"],
    [['submit', 'remove-disk'], "required option '--disk <id>' not specified"],
    [['submit', 'remove-everything'], "unknown command 'remove-everything'"],
    [['status'], "missing required argument 'workflowId'"],
    [
      ['status', 'RemoveVm/not-a-uuid'],
      "argument 'workflowId'. must be RemoveVm/<vmId>, RemoveDisk/<diskId>",
    ],
    [['watch', 'web-01'], "argument 'workflowId'. must be RemoveVm/<vmId>"],
    [['cancel', 'RemoveDisk/1234'], "argument 'workflowId'. must be RemoveVm/<vmId>"],
    [['history', 'export', `RemoveVm/${someUuid()}/RemoveImage/x`], "argument 'workflowId'. must be"],
    [['history', 'import'], "unknown command 'import'"],
    [
      ['list', '--limit', 'ten'],
      "option '--limit <n>' argument 'ten' is invalid. must be a positive integer",
    ],
    [['list', '--type', 'RemoveHost'], 'Allowed choices are RemoveVm, RemoveDisk, RemoveImage'],
    [['list', '--status', 'DONE'], 'Allowed choices are NOT_STARTED, ACTIVE'],
    [['list', '--vm', 'web;01'], 'must be a VM id (UUID) or a VM name'],
    [['inventory', 'hosts'], 'Allowed choices are vms, disks, tasks'],
  ])('%j exits 2 naming the rule, contacting nothing', async (args, message) => {
    const result = await runCli(args, env);
    expect(result.stderr).toContain(message);
    expect(result.status).toBe(ExitCode.Usage);
    expect(existsSync(inventoryPath)).toBe(false);
  });

  it.each([
    [
      'OVIRT_TASKS_UI_URL',
      ['status', `RemoveVm/${someUuid()}`],
      { OVIRT_TASKS_UI_URL: 'ftp://ui' },
      'OVIRT_TASKS_UI_URL: must be an http:// or https:// URL',
    ],
    [
      'OVIRT_TASKS_INVENTORY_URL scheme',
      ['inventory', 'vms'],
      { OVIRT_TASKS_INVENTORY_URL: 'mysql://db/inventory' },
      'OVIRT_TASKS_INVENTORY_URL: must be sqlite:<file> or postgres://',
    ],
    [
      'a missing SQLite inventory (not created)',
      ['inventory', 'disks'],
      {},
      `OVIRT_TASKS_INVENTORY_URL: sqlite:${inventoryPath} does not exist`,
    ],
  ])('bad configuration (%s) exits 2 naming the variable', async (_what, args, extraEnv, message) => {
    const result = await runCli(args, { ...env, ...extraEnv });
    expect(result.stderr).toContain(message);
    expect(result.status).toBe(ExitCode.Usage);
    expect(existsSync(inventoryPath)).toBe(false);
  });

  it('every Temporal command exits 3 when the server cannot be reached', async () => {
    const id = workflowIds.removeVm(someUuid());
    const commands = [
      ['status', id],
      ['watch', id],
      ['cancel', id],
      ['list'],
      ['history', 'export', id, '--out', dir],
    ];
    const results = await Promise.all(commands.map((args) => runCli(args, env)));
    for (const [i, result] of results.entries()) {
      expect({ args: commands[i], status: result.status }).toEqual({
        args: commands[i],
        status: ExitCode.Unreachable,
      });
      expect(result.stderr).toContain(`cannot reach Temporal at ${CLOSED_PORT}`);
    }
  });
});

describe('client commands against the dev server', () => {
  let stack: EngineStack;
  let env: Record<string, string>;
  const DELETE_MS = 200;

  beforeAll(async () => {
    stack = await startEngineStack({
      dc: { vmCount: 14, maxDisksPerVm: 3 },
      faults: { durations: { 'Image.delete': DELETE_MS }, rollbackMs: 200 },
    });
    env = {
      TEMPORAL_ADDRESS: testAddress(),
      TEMPORAL_NAMESPACE: TEST_NAMESPACE,
      OVIRT_TASKS_INVENTORY_URL: stack.inventoryUrl,
      OVIRT_TASKS_TASK_QUEUE: stack.taskQueue,
      OVIRT_TASKS_UI_URL: UI_URL,
    };
  });
  afterAll(async () => {
    await stack?.stop();
  });
  afterEach(() => {
    stack.sim.setFaults({ durations: { 'Image.delete': DELETE_MS }, failures: null });
  });

  /**
   * Removes a VM through the client API, for tests about what the CLI reads. `upFront: false`
   * skips the client's inventory check, so the workflow itself refuses what the rules refuse.
   */
  async function removeVmViaApi(
    name: string,
    { upFront = true }: { upFront?: boolean } = {},
  ): Promise<{ vmId: string; workflowId: string; disks: string[] }> {
    const vm = stack.vmByName(name);
    const { handle } = await submitRemoveVm(
      stack.client,
      { vmId: vm.id },
      { taskQueue: stack.taskQueue, ...(upFront ? { inventory: stack.inventory } : {}) },
    );
    await handle.result().catch(() => undefined);
    return { vmId: vm.id, workflowId: handle.workflowId, disks: vm.disks };
  }

  async function expectNoWorkflow(workflowId: string): Promise<void> {
    await expect(stack.client.workflow.getHandle(workflowId).describe()).rejects.toThrow(
      WorkflowNotFoundError,
    );
  }

  test('inventory vms, disks and tasks show what the inventory holds, as text and --json', async () => {
    const web = stack.vmByName('web-01');
    const vmsText = await runCli(['inventory', 'vms'], env);
    expect(vmsText.status).toBe(0);
    expect(vmsText.stdout).toMatch(/^NAME +ID +STATUS +DISKS +DELETE PROTECTED$/m);
    expect(vmsText.stdout).toMatch(new RegExp(`^web-01 +${web.id} +Down +4 +no$`, 'm'));
    expect(vmsText.stdout).toMatch(/^protected-01 +\S+ +Down +1 +yes$/m);
    const vms = parseJson<Array<{ name: string; id: string; diskCount: number }>>(
      await runCli(['inventory', 'vms', '--json'], env),
    );
    expect(vms.find((vm) => vm.name === 'web-01')).toMatchObject({
      id: web.id,
      status: 'Down',
      diskCount: 4,
      deleteProtected: false,
    });
    expect(vms).toHaveLength(stack.fixture.vms.length);

    const lockedDisk = stack.fixture.disks.find((d) => d.status === 'LOCKED')!;
    const floating = stack.fixture.disks.find((d) => d.vmId === null)!;
    const disksText = await runCli(['inventory', 'disks'], env);
    expect(disksText.stdout).toMatch(/^ALIAS +ID +STATUS +VM +DOMAIN +SIZE +WIPE AFTER DELETE$/m);
    expect(disksText.stdout).toMatch(
      new RegExp(`^${lockedDisk.alias} +${lockedDisk.id} +LOCKED +locked-01 +\\S+ +\\d+ GiB +(yes|no)$`, 'm'),
    );
    expect(disksText.stdout).toMatch(
      new RegExp(`^${floating.alias} +${floating.id} +OK +\\(floating\\)`, 'm'),
    );
    const disks = parseJson<Array<Record<string, unknown>>>(
      await runCli(['inventory', 'disks', '--json'], env),
    );
    const domain = stack.fixture.domains.find((d) => d.id === lockedDisk.domainId)!;
    expect(disks.find((d) => d.id === lockedDisk.id)).toMatchObject({
      alias: lockedDisk.alias,
      status: 'LOCKED',
      vmName: 'locked-01',
      domainName: domain.name,
      sizeBytes: lockedDisk.sizeBytes,
      wipeAfterDelete: lockedDisk.wipeAfterDelete,
    });

    // A claim, a lock and an audit entry of a command in flight.
    const owner = `RemoveVm/${web.id}/RemoveImage/${web.disks[0]}`;
    const taskId = someUuid();
    await stack.inventory.putStartIntent({
      owner,
      poolId: stack.fixture.pool.id,
      verb: 'Image.delete',
      subjectId: web.disks[0]!,
      knownTaskIds: [],
    });
    await stack.inventory.completeStartIntent(owner, taskId);
    await stack.inventory.acquireLocks(owner, 'cli test', [{ type: 'DISK', id: web.disks[0]! }]);
    await stack.inventory.addAudit({
      type: 'CLI_TEST',
      severity: 'WARNING',
      message: 'seen by inventory tasks',
      correlationId: owner,
      entityIds: [],
    });
    try {
      const tasksText = await runCli(['inventory', 'tasks'], env);
      expect(tasksText.status).toBe(0);
      expect(tasksText.stdout).toContain('VDSM task claims: tasks owned by a step (1)');
      expect(tasksText.stdout).toMatch(
        new RegExp(`^${taskId} +${owner.replace(/\//g, '\\/')} +Image\\.delete +${web.disks[0]}`, 'm'),
      );
      expect(tasksText.stdout).toMatch(new RegExp(`^DISK +${web.disks[0]} +\\S+ +\\S+ +cli test$`, 'm'));
      expect(tasksText.stdout).toMatch(/WARNING +CLI_TEST +\S+ +seen by inventory tasks$/m);
      const tasks = parseJson<{ claims: unknown[]; locks: unknown[]; audit: unknown[] }>(
        await runCli(['inventory', 'tasks', '--json'], env),
      );
      expect(tasks.claims).toEqual([
        expect.objectContaining({ vdsmTaskId: taskId, owner, verb: 'Image.delete' }),
      ]);
      expect(tasks.locks).toEqual([expect.objectContaining({ type: 'DISK', id: web.disks[0], owner })]);
      expect(tasks.audit).toEqual([expect.objectContaining({ type: 'CLI_TEST', correlationId: owner })]);
    } finally {
      await stack.inventory.releaseTaskClaim(taskId);
      await stack.inventory.releaseLocks(owner);
    }
    const empty = await runCli(['inventory', 'tasks'], env);
    expect(empty.stdout).toContain('VDSM task claims: tasks owned by a step (0)\n(none)');
  });

  test('submit remove-vm by name --wait removes the VM, prints ids, link, table and outcome; submitting again reaches the same run', async () => {
    const vm = stack.vmByName('web-01');
    const workflowId = workflowIds.removeVm(vm.id);
    const result = await runCli(['submit', 'remove-vm', '--vm', 'web-01', '--wait'], env);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(ExitCode.Ok);
    expect(result.stdout).toContain(`${workflowId}: started`);
    const runId = /^ {2}run +(\S+)$/m.exec(result.stdout)?.[1];
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.stdout).toContain(
      `${UI_URL}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${runId}/history`,
    );
    expect(result.stdout.match(/ Cleared +finished +success /g)).toHaveLength(4);
    expect(result.stdout).toMatch(/outcome: succeeded\n$/);
    expect(await stack.inventory.getVm(vm.id)).toBeUndefined();
    await expectClean(stack, vm.disks);

    // By id now: the name left the inventory with the VM.
    const again = parseJson<Record<string, unknown>>(
      await runCli(['submit', 'remove-vm', '--vm', vm.id, '--json'], env),
    );
    expect(again).toEqual({
      workflowId,
      runId,
      started: false,
      executionStatus: 'COMPLETED',
      webUiUrl: `${UI_URL}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${runId}/history`,
    });
    expect(stack.sim.counters().pools[stack.fixture.pool.id]!.verbs['Image.delete']).toBe(4);
  });

  test('submit remove-disk --wait --json prints the outcome and the final task row', async () => {
    const disk = stack.fixture.disks.find((d) => d.vmId === null)!;
    const report = parseJson<{ started: boolean; outcome: unknown; state: CommandState }>(
      await runCli(['submit', 'remove-disk', '--disk', disk.id.toUpperCase(), '--wait', '--json'], env),
    );
    expect(report).toMatchObject({
      workflowId: workflowIds.removeDisk(disk.id),
      started: true,
      outcome: { succeeded: true, result: { diskId: disk.id } },
      state: { commandType: 'RemoveDisk', commandStatus: 'ENDED_SUCCESSFULLY' },
    });
    expect(report.state.tasks).toEqual([
      expect.objectContaining({ imageId: disk.id, state: 'Cleared', status: 'finished', result: 'success' }),
    ]);
    expect(await stack.inventory.getDisk(disk.id)).toBeUndefined();
  });

  test('status shows a finished command and its async_tasks table, as text and --json', async () => {
    const { workflowId, disks } = await removeVmViaApi('app-01');
    const text = await runCli(['status', workflowId], env);
    expect(text.status).toBe(ExitCode.Ok);
    expect(text.stdout).toContain(`${workflowId} (removeVmWorkflow, run `);
    expect(text.stdout).toMatch(/^ {2}summary +Remove VM app-01: \d images?$/m);
    expect(text.stdout).toMatch(/^ {2}command status +ENDED_SUCCESSFULLY \(Temporal: COMPLETED\)$/m);
    expect(text.stdout).toMatch(
      /^DISK +VDSM TASK +AsyncTaskState +AsyncTaskStatus +AsyncTaskResult +CODE\/MESSAGE$/m,
    );
    expect(text.stdout.match(/^app-01_Disk\d +[0-9a-f-]{36} +Cleared +finished +success +0 /gm)).toHaveLength(
      disks.length,
    );
    expect(text.stdout).toContain('outcome: succeeded');

    const report = parseJson<Record<string, unknown> & { state: CommandState }>(
      await runCli(['status', workflowId, '--json'], env),
    );
    expect(report).toMatchObject({
      workflowId,
      workflowType: 'removeVmWorkflow',
      executionStatus: 'COMPLETED',
      commandStatus: 'ENDED_SUCCESSFULLY',
      stateUnavailable: null,
      outcome: { succeeded: true },
    });
    expect(report.state.images).toEqual({
      total: disks.length,
      succeeded: disks.length,
      failed: 0,
      running: 0,
    });
  });

  test("status falls back to the server's records when no worker answers, running or terminated", async () => {
    const vm = stack.vmByName('mon-01');
    const workflowId = workflowIds.removeVm(vm.id);
    // A task queue no worker polls: the run waits, and nobody can answer its query.
    const unpolled = { ...env, OVIRT_TASKS_TASK_QUEUE: `${stack.taskQueue}-unpolled` };
    const submitted = await runCli(['submit', 'remove-vm', '--vm', 'mon-01'], unpolled);
    expect(submitted.stdout).toContain(`${workflowId}: started`);

    const running = parseJson<Record<string, unknown>>(await runCli(['status', workflowId, '--json'], env));
    expect(running).toMatchObject({
      executionStatus: 'RUNNING',
      commandStatus: 'NOT_STARTED',
      summary: expect.stringMatching(/^Remove VM mon-01: /),
      state: null,
      stateUnavailable: 'no worker answered the query within 5 s',
      outcome: null,
    });

    await stack.client.workflow.getHandle(workflowId).terminate('cli test: no worker');
    const terminated = await runCli(['status', workflowId], env);
    expect(terminated.status).toBe(ExitCode.Ok);
    expect(terminated.stdout).toMatch(/command status +NOT_STARTED \(Temporal: TERMINATED\)/);
    // The server refuses at once: the run closed before any worker took its first task.
    expect(terminated.stdout).toMatch(/^task table unavailable \(the query failed: .+\)$/m);
    expect(terminated.stdout).toContain('outcome: failed (Terminated): cli test: no worker');
    expect((await stack.inventory.getVm(vm.id))?.status).toBe('Down');
  });

  test('watch follows a command to its end, one line per change, exit 0; --json ends with the outcome', async () => {
    // Long enough for the first poll to see every task Polling.
    stack.sim.setFaults({ durations: { 'Image.delete': 2_000 } });
    const vm = stack.vmByName('db-01');
    const { handle } = await submitRemoveVm(stack.client, { vmId: vm.id }, { taskQueue: stack.taskQueue });
    const watched = await runCli(['watch', handle.workflowId], env);
    expect(watched.stderr).toBe('');
    expect(watched.status).toBe(ExitCode.Ok);
    const lines = watched.stdout.trimEnd().split('\n');
    for (const diskId of vm.disks) {
      const alias = stack.fixture.disks.find((d) => d.id === diskId)!.alias;
      const polling = lines.findIndex((l) =>
        new RegExp(`Z  ${alias} +Polling +running +unknown +[0-9a-f-]{36}`).test(l),
      );
      const cleared = lines.findIndex((l) =>
        new RegExp(`Z  ${alias} +Cleared +finished +success +[0-9a-f-]{36}`).test(l),
      );
      expect({ alias, polling: polling >= 0, clearedAfterPolling: cleared > polling }).toEqual({
        alias,
        polling: true,
        clearedAfterPolling: true,
      });
    }
    expect(lines).toContainEqual(expect.stringMatching(`${handle.workflowId}: ENDED_SUCCESSFULLY, `));
    expect(lines.at(-1)).toBe('outcome: succeeded');

    const jsonLines = (await runCli(['watch', handle.workflowId, '--json'], env)).stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; outcome?: unknown; state: CommandState | null });
    const last = jsonLines.at(-1)!;
    expect(last).toMatchObject({ event: 'outcome', outcome: { succeeded: true }, unavailable: null });
    expect(last.state?.tasks.map((t) => t.state)).toEqual(vm.disks.map(() => 'Cleared'));
  });

  test('submit --wait and watch exit 1 on "finished with illegal disks" and name the illegal disk', async () => {
    stack.sim.setFaults({ failures: [{ verb: 'Image.delete', phase: 'task', code: 100, count: 1 }] });
    const vm = stack.vmByName('build-01');
    const workflowId = workflowIds.removeVm(vm.id);
    const result = await runCli(['submit', 'remove-vm', '--vm', 'build-01', '--wait'], env);
    expect(result.status).toBe(ExitCode.Failed);
    expect(result.stderr).toContain(`${workflowId} failed (FinishedWithIllegalDisks)`);
    const illegal = (await stack.inventory.listDisks({ status: 'ILLEGAL' })).filter((d) =>
      vm.disks.includes(d.id),
    );
    expect(illegal).toHaveLength(1);
    expect(result.stdout).toContain(
      'outcome: failed (FinishedWithIllegalDisks): Remove VM build-01 finished with illegal disks',
    );
    expect(result.stdout).toContain(`illegal disks: ${illegal[0]!.alias} (${illegal[0]!.id})`);
    expect(result.stdout).toMatch(
      new RegExp(`^${illegal[0]!.alias} +\\S+ +Cleared +finished +cleanSuccess +100 `, 'm'),
    );

    const watched = await runCli(['watch', workflowId], env);
    expect(watched.status).toBe(ExitCode.Failed);
    expect(watched.stdout).toContain(`illegal disks: ${illegal[0]!.alias} (${illegal[0]!.id})`);
    await expectClean(stack, vm.disks);
  });

  test('a VM that is Up is refused up front (exit 2); past the client, the workflow refuses it with the typed failure', async () => {
    const vm = stack.vmByName('db-02');
    const upFront = await runCli(['submit', 'remove-vm', '--vm', 'db-02', '--wait', '--json'], env);
    expect(upFront.stderr).toContain('refused (VmStatusNotAllowed): VM db-02 is Up');
    expect(upFront.status).toBe(ExitCode.Usage);
    await expectNoWorkflow(workflowIds.removeVm(vm.id));

    // The same rules are the workflow's (a client that skipped the check, or a VM that changed).
    const { workflowId } = await removeVmViaApi('db-02', { upFront: false });
    const result = await runCli(['status', workflowId, '--json'], env);
    expect(result.status).toBe(ExitCode.Ok);
    const report = JSON.parse(result.stdout) as { outcome: unknown };
    expect(report.outcome).toEqual({
      succeeded: false,
      failure: {
        type: 'VmStatusNotAllowed',
        message: expect.stringContaining('Up') as unknown,
        illegalDiskIds: [],
      },
    });
  });

  test('refusals (unknown VM name or id, locked disk, unknown command) exit 2 and start nothing', async () => {
    const unknownName = await runCli(['submit', 'remove-vm', '--vm', 'no-such-vm'], env);
    expect(unknownName.stderr).toContain('no VM named no-such-vm in the inventory');
    expect(unknownName.status).toBe(ExitCode.Usage);

    const unknownId = someUuid();
    const byId = await runCli(['submit', 'remove-vm', '--vm', unknownId], env);
    expect(byId.stderr).toContain(`refused (VmNotFound): VM ${unknownId} does not exist`);
    expect(byId.status).toBe(ExitCode.Usage);
    await expectNoWorkflow(workflowIds.removeVm(unknownId));

    const locked = stack.vmByName('locked-01');
    const lockedVm = await runCli(['submit', 'remove-vm', '--vm', 'locked-01'], env);
    expect(lockedVm.stderr).toContain('refused (DiskLocked): VM locked-01 has locked disks');
    expect(lockedVm.status).toBe(ExitCode.Usage);
    await expectNoWorkflow(workflowIds.removeVm(locked.id));

    const lockedDisk = stack.fixture.disks.find((d) => d.status === 'LOCKED')!;
    const disk = await runCli(['submit', 'remove-disk', '--disk', lockedDisk.id], env);
    expect(disk.stderr).toContain(`refused (DiskLocked): disk ${lockedDisk.alias} is locked`);
    expect(disk.status).toBe(ExitCode.Usage);
    await expectNoWorkflow(workflowIds.removeDisk(lockedDisk.id));

    const status = await runCli(['status', workflowIds.removeVm(unknownId)], env);
    expect(status.stderr).toContain(`no command ${workflowIds.removeVm(unknownId)} on this namespace`);
    expect(status.status).toBe(ExitCode.Usage);
  });

  test('cancel --wait stops a long VDSM task: the command ends cancelled after clean-up, exit 1', async () => {
    // As VDSM: Task.stop lets each image purge run to its end, then reports the task rolled back;
    // the step finds the image gone and calls it removed. The command still ends cancelled.
    stack.sim.setFaults({ durations: { 'Image.delete': 8_000 } });
    const vm = stack.vmByName('cache-01');
    const workflowId = workflowIds.removeVm(vm.id);
    expect((await runCli(['submit', 'remove-vm', '--vm', 'cache-01'], env)).status).toBe(ExitCode.Ok);
    await eventually(async () => {
      const state = await queryCommandState(stack.client, workflowId);
      return state.tasks.length === vm.disks.length && state.tasks.every((t) => t.state === 'Polling')
        ? true
        : undefined;
    });

    const cancelled = await runCli(['cancel', workflowId, '--wait'], env);
    expect(cancelled.stdout).toContain(`${workflowId}: cancellation requested (run `);
    expect(cancelled.stdout).toContain('outcome: failed (Cancelled)');
    expect(cancelled.stderr).toContain(`${workflowId} failed (Cancelled)`);
    expect(cancelled.status).toBe(ExitCode.Failed);
    // Each step stopped its task and cleared it; the images are gone, so the disks are removed.
    expect(stack.sim.counters().pools[stack.fixture.pool.id]!.verbs['Task.stop']).toBeGreaterThanOrEqual(
      vm.disks.length,
    );
    for (const diskId of vm.disks) expect(await stack.inventory.getDisk(diskId)).toBeUndefined();
    await expectClean(stack, vm.disks);

    const again = await runCli(['cancel', workflowId], env);
    expect(again.stdout).toContain(`${workflowId}: already ended (CANCELLED), nothing to cancel`);
    expect(again.status).toBe(ExitCode.Failed);
  });

  test('list filters on the search attributes: VmId (by id or name), type and status', async () => {
    // An Up VM, past the client's check: RemoveVm fails and the VM stays in the inventory, so its
    // name still resolves.
    const upVm = stack.vmByName('mq-01');
    await removeVmViaApi('mq-01', { upFront: false });
    const removed = await removeVmViaApi('ldap-01');

    type Listing = { query: string; commands: Array<Record<string, unknown> & { workflowId: string }> };
    const listed = (args: string[], count: number): Promise<Listing> =>
      eventually(
        async () => {
          const result = await runCli(['list', ...args, '--json'], env);
          expect(result.status).toBe(ExitCode.Ok);
          const listing = JSON.parse(result.stdout) as Listing;
          return listing.commands.length === count ? listing : undefined;
        },
        20_000,
        `list ${args.join(' ')} to show ${count}`,
      );

    const byName = await listed(['--vm', 'mq-01'], 1);
    expect(byName.query).toBe(
      `CommandType IN ('RemoveVm', 'RemoveDisk', 'AddDisk', 'CreateSnapshot', 'MoveDisk', 'CopyDisk', 'RemoveSnapshot') AND VmId = '${upVm.id}'`,
    );
    expect(byName.commands[0]).toMatchObject({
      workflowId: workflowIds.removeVm(upVm.id),
      commandType: 'RemoveVm',
      commandStatus: 'FAILED',
      executionStatus: 'FAILED',
      // Without the inventory the client knows only the id.
      summary: `Remove VM ${upVm.id}`,
    });

    const steps = await listed(['--vm', removed.vmId, '--type', 'RemoveImage'], removed.disks.length);
    expect(steps.commands.map((c) => c.workflowId).sort()).toEqual(
      removed.disks.map((d) => workflowIds.removeImage(removed.workflowId, d)).sort(),
    );
    await listed(['--vm', removed.vmId, '--status', 'FAILED'], 0);
    await listed(['--vm', removed.vmId, '--status', 'ENDED_SUCCESSFULLY'], 1);

    const text = await runCli(['list', '--vm', removed.vmId, '--limit', '5'], env);
    expect(text.stdout).toMatch(/^WORKFLOW ID +TYPE +STATUS +TEMPORAL +STARTED +CLOSED +SUMMARY$/m);
    expect(text.stdout).toMatch(
      new RegExp(
        `^${removed.workflowId} +RemoveVm +ENDED_SUCCESSFULLY +COMPLETED +\\S+Z +\\S+Z +Remove VM ldap-01: `,
        'm',
      ),
    );
    const none = await runCli(['list', '--vm', removed.vmId, '--status', 'ACTIVE'], env);
    expect(none.stdout).toBe(
      `no commands match CommandType IN ('RemoveVm', 'RemoveDisk', 'AddDisk', 'CreateSnapshot', 'MoveDisk', 'CopyDisk', 'RemoveSnapshot') AND VmId = '${removed.vmId}' AND CommandStatus = 'ACTIVE'\n`,
    );
  });

  test('history export writes replayable fixtures of the command and its steps, with their real ids', async () => {
    const { workflowId, disks } = await removeVmViaApi('proxy-01');
    const out = mkdtempSync(join(tmpdir(), 'ovirt-tasks-histories-'));
    try {
      const result = await runCli(['history', 'export', workflowId, '--out', out], env);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(ExitCode.Ok);
      const metaFiles = readdirSync(out).filter((f) => f.endsWith('.meta.json'));
      expect(metaFiles).toHaveLength(1 + disks.length);
      expect(readdirSync(out)).toHaveLength(2 * (1 + disks.length));
      const metas = metaFiles.map(
        (f) => JSON.parse(readFileSync(join(out, f), 'utf8')) as HistoryFixtureMeta,
      );
      expect(metas.map((m) => m.workflowId).sort()).toEqual(
        [workflowId, ...disks.map((d) => workflowIds.removeImage(workflowId, d))].sort(),
      );
      expect(metas.find((m) => m.workflowId === workflowId)).toMatchObject({
        format: 1,
        workflowType: 'removeVmWorkflow',
        parentWorkflowId: null,
        status: 'COMPLETED',
        file: `RemoveVm_${workflowId.split('/')[1]}.json`,
      });
      for (const meta of metas) {
        const history = JSON.parse(readFileSync(join(out, meta.file), 'utf8')) as {
          events: Array<{ eventType: string }>;
        };
        expect(history.events[0]!.eventType).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
        await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, meta.workflowId);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('submit exits 3 when Temporal cannot be reached, after validating, and the VM is untouched', async () => {
    const vm = stack.vmByName('log-01');
    const result = await runCli(['submit', 'remove-vm', '--vm', 'log-01', '--wait'], {
      ...env,
      TEMPORAL_ADDRESS: CLOSED_PORT,
    });
    expect(result.stderr).toContain(`cannot reach Temporal at ${CLOSED_PORT}`);
    expect(result.status).toBe(ExitCode.Unreachable);
    expect((await stack.inventory.getVm(vm.id))?.status).toBe('Down');
    expect(await stack.inventory.listLocks()).toEqual([]);
  });
});
