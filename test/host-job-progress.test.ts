/**
 * A host job's progress, visible while it runs: Host.getJobs progress reaches the waiting
 * activity's heartbeat, `queryLiveCommandState` puts it into the step's row, `status` and `watch`
 * show it; the step's history does not grow with the job's length. Real dev server, the simulator,
 * an in-process worker, the built CLI.
 */
import type { ChildProcess } from 'node:child_process';
import { queryLiveCommandState } from '../src/client';
import type { TaskRow } from '../src/shared/messages';
import { stackPerTest, type EngineStack } from './support/engine-stack';
import { runStackCli } from './support/stack-cli';
import { floatingNfsDisks, startMoveDisk } from './support/storage';

jest.setTimeout(120_000);

const children: ChildProcess[] = [];
const stacks = stackPerTest(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/** The built CLI against the stack; resolves with its output once it exits. */
const cli = (s: EngineStack, args: string[]) => runStackCli(s, args, (child) => children.push(child));

const copyRow = (rows: TaskRow[]): TaskRow | undefined => rows.find((t) => t.commandType === 'CopyData');

async function historyLength(s: EngineStack, workflowId: string): Promise<number> {
  return (await s.client.workflow.getHandle(workflowId).fetchHistory()).events?.length ?? 0;
}

test('a running copy shows its Host.getJobs progress in the live row, `status` and `watch`; its history does not grow with it', async () => {
  // Long enough for several heartbeats to reach the server (at most one per 8 s).
  const s = await stacks.start({
    faults: { durations: { 'Volume.create': 200, 'SDM.copy_data': 14_000, 'Image.delete': 200 } },
  });
  const [slow, fast] = floatingNfsDisks(s) as [
    ReturnType<typeof floatingNfsDisks>[0],
    ReturnType<typeof floatingNfsDisks>[0],
  ];
  const handle = await startMoveDisk(s, slow.disk.id, slow.to.id);
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
  const quick = await startMoveDisk(s, fast.disk.id, fast.to.id);
  await quick.result();
  const quickRow = copyRow((await queryLiveCommandState(s.client, quick.workflowId)).tasks)!;
  expect(await historyLength(s, final.commandId)).toBe(await historyLength(s, quickRow.commandId));
});
