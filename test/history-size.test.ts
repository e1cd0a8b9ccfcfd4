/**
 * A task step's history does not grow with the task's duration: waiting is one heartbeating
 * activity, and polling happens in the worker's status hub, not in workflow timers. Nor is it
 * much longer than the floor: the same-shape baseline child has 19 events.
 */
import { submitRemoveDisk } from '../src/client';
import { workflowIds } from '../src/shared/names';
import { expectClean, startEngineStack, type EngineStack } from './support/engine-stack';

jest.setTimeout(180_000);

let stack: EngineStack | undefined;
afterAll(async () => {
  await stack?.stop();
});

test('a RemoveImage step of a 1 s task and of a 60 s task have the same number of history events', async () => {
  stack = await startEngineStack();
  const s = stack;
  const [short, long] = s.fixture.disks.filter((d) => d.vmId === null);
  const eventsOfStep = async (diskId: string, taskMs: number): Promise<number> => {
    s.sim.setFaults({ durations: { 'Image.delete': taskMs } });
    const { handle } = await submitRemoveDisk(s.client, { diskId }, { taskQueue: s.taskQueue });
    await handle.result();
    const step = s.client.workflow.getHandle(workflowIds.removeImage(handle.workflowId, diskId));
    return (await step.fetchHistory()).events?.length ?? 0;
  };
  const shortEvents = await eventsOfStep(short!.id, 1_000);
  const longEvents = await eventsOfStep(long!.id, 60_000);
  console.log(`RemoveImage history events: 1 s task ${shortEvents}, 60 s task ${longEvents}`);
  expect(shortEvents).toBeGreaterThan(0);
  expect(longEvents).toBe(shortEvents);
  // Issue 13: at most 4 events more than the same-shape baseline child (19).
  expect(shortEvents).toBeLessThanOrEqual(23);
  await expectClean(s, [short!.id, long!.id]);
});
