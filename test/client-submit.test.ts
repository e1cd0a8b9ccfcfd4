/**
 * Submitting the same command concurrently: one execution, and exactly one caller told it started
 * it (with USE_EXISTING every caller was: 20 of 20 typed-client calls said started:true).
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { submitRemoveDisk, submitRemoveVm } from '../src/client';
import { testClient, uniqueTaskQueue } from './support/temporal';

let client: Client;
// No worker polls this queue: the runs stay RUNNING, which is what a submission race meets.
const taskQueue = uniqueTaskQueue('submit-race');
const started: string[] = [];

beforeAll(async () => {
  client = await testClient();
});
afterAll(async () => {
  await Promise.all(
    started.map((id) =>
      client.workflow
        .getHandle(id)
        .terminate('test cleanup')
        .catch(() => undefined),
    ),
  );
  await client.connection.close();
});

it('20 concurrent submissions of one RemoveVm: one run, exactly one started:true', async () => {
  const vmId = randomUUID();
  const results = await Promise.all(
    Array.from({ length: 20 }, () => submitRemoveVm(client, { vmId }, { taskQueue })),
  );
  started.push(results[0]!.handle.workflowId);
  expect(results.filter((r) => r.started)).toHaveLength(1);
  const runIds = new Set(await Promise.all(results.map(async (r) => (await r.handle.describe()).runId)));
  expect(runIds.size).toBe(1);
  // Every handle names that run, so each caller follows the same execution.
  const winner = results.find((r) => r.started)!;
  expect(winner.handle.workflowId).toBe(`RemoveVm/${vmId}`);
});

it('a later submission of a running command says it did not start it', async () => {
  const diskId = randomUUID();
  const first = await submitRemoveDisk(client, { diskId }, { taskQueue });
  started.push(first.handle.workflowId);
  const again = await submitRemoveDisk(client, { diskId: diskId.toUpperCase() }, { taskQueue });
  expect([first.started, again.started]).toEqual([true, false]);
  expect((await again.handle.describe()).runId).toBe((await first.handle.describe()).runId);
});
