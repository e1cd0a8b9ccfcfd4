/**
 * A host job's progress, visible while it runs: Host.getJobs progress reaches the waiting
 * activity's heartbeat, `queryLiveCommandState` puts it into the step's row, `status` and `watch`
 * show it; the step's history does not grow with the job's length. Real dev server, the simulator,
 * an in-process worker, the built CLI.
 */
import type { ChildProcess } from 'node:child_process';
import { queryLiveCommandState } from '../src/client';
import type { TaskRow } from '../src/shared/messages';
import { workflowIds, WorkflowType } from '../src/shared/names';
import { spawnCli } from './support/cli';
import { startEngineStack, type EngineStack } from './support/engine-stack';
import { testAddress, TEST_NAMESPACE } from './support/temporal';

jest.setTimeout(120_000);

let stack: EngineStack | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await stack?.stop();
  stack = undefined;
});

function floatingDisks(s: EngineStack) {
  const disks = s.fixture.disks.filter(
    (d) =>
      d.vmId === null &&
      !d.shareable &&
      d.volumeIds.length === 1 &&
      d.status === 'OK' &&
      s.fixture.domains.find((dom) => dom.id === d.domainId)?.storageType === 'nfs',
  );
  const to = (diskDomainId: string) =>
    s.fixture.domains.find((d) => d.storageType === 'nfs' && d.id !== diskDomainId)!;
  return disks.map((disk) => ({ disk, to: to(disk.domainId) }));
}

/** The built CLI against the stack; resolves with its output once it exits. */
function cli(s: EngineStack, args: string[]): Promise<{ status: number | null; stdout: string }> {
  const child = spawnCli(args, {
    TEMPORAL_ADDRESS: testAddress(),
    TEMPORAL_NAMESPACE: TEST_NAMESPACE,
    OVIRT_TASKS_INVENTORY_URL: s.inventoryUrl,
    OVIRT_TASKS_TASK_QUEUE: s.taskQueue,
  });
  children.push(child);
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout })));
}

const copyRow = (rows: TaskRow[]): TaskRow | undefined => rows.find((t) => t.commandType === 'CopyData');

async function historyLength(s: EngineStack, workflowId: string): Promise<number> {
  return (await s.client.workflow.getHandle(workflowId).fetchHistory()).events?.length ?? 0;
}

test('a running copy shows its Host.getJobs progress in the live row, `status` and `watch`; its history does not grow with it', async () => {
  // Long enough for several heartbeats to reach the server (at most one per 8 s).
  stack = await startEngineStack({
    faults: { durations: { 'Volume.create': 200, 'SDM.copy_data': 14_000, 'Image.delete': 200 } },
  });
  const s = stack;
  const [slow, fast] = floatingDisks(s) as [
    ReturnType<typeof floatingDisks>[0],
    ReturnType<typeof floatingDisks>[0],
  ];
  const handle = await s.client.workflow.start(WorkflowType.moveDisk, {
    taskQueue: s.taskQueue,
    workflowId: workflowIds.moveDisk(slow.disk.id),
    args: [{ diskId: slow.disk.id, toDomainId: slow.to.id }],
  });
  const watching = cli(s, ['watch', handle.workflowId]);
  let ended = false;
  const result = handle.result().finally(() => (ended = true));

  const seen: number[] = [];
  let statusOutput: string | undefined;
  while (!ended) {
    const row = copyRow((await queryLiveCommandState(s.client, handle.workflowId)).tasks);
    const progress = row?.state === 'Polling' ? row.job?.progress : null;
    if (typeof progress === 'number') {
      if (seen.at(-1) !== progress) seen.push(progress);
      expect(row?.job).toMatchObject({ phase: 'waiting', status: 'running' });
      if (progress > 0 && statusOutput === undefined)
        statusOutput = (await cli(s, ['status', handle.workflowId])).stdout;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await result;

  // Seen part-way, never going back.
  expect(seen.some((p) => p > 0 && p < 100)).toBe(true);
  expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  expect(statusOutput).toMatch(/running \(job running \d+%\)/);
  // One line per step (a move's three steps share the disk's id): the destination made, the copy running.
  expect(statusOutput).toMatch(/Cleared\s+finished/);
  expect(statusOutput?.match(/Polling/g)).toHaveLength(1);
  const watched = await watching;
  expect(watched.status).toBe(0);
  expect(watched.stdout).toMatch(/job running \d+%/);
  expect(watched.stdout).toMatch(/job done 100%/);

  const final = copyRow((await queryLiveCommandState(s.client, handle.workflowId)).tasks)!;
  expect(final.job).toMatchObject({ phase: 'ended', status: 'done', progress: 100 });

  // The same step for a copy 50 times shorter: the same history, event for event.
  s.sim.setFaults({ durations: { 'Volume.create': 200, 'SDM.copy_data': 280, 'Image.delete': 200 } });
  const quick = await s.client.workflow.start(WorkflowType.moveDisk, {
    taskQueue: s.taskQueue,
    workflowId: workflowIds.moveDisk(fast.disk.id),
    args: [{ diskId: fast.disk.id, toDomainId: fast.to.id }],
  });
  await quick.result();
  const quickRow = copyRow((await queryLiveCommandState(s.client, quick.workflowId)).tasks)!;
  expect(await historyLength(s, final.commandId)).toBe(await historyLength(s, quickRow.commandId));
});
