/**
 * RemoveSnapshot's input at the edges, before anything is contacted: the typed client refuses a
 * malformed input naming the field, and `submit remove-snapshot` exits 2 naming the flag without
 * opening the inventory (whose URL here points nowhere) or connecting to Temporal.
 */
import { Client, Connection } from '@temporalio/client';
import { InvalidCommandInputError, submitRemoveSnapshot } from '../src/client';
import { ExitCode } from '../src/cli/exit-codes';
import { runCliSync } from './support/cli';

const VM = '11111111-1111-4111-8111-111111111111';

test('the client refuses a snapshot id that is not a UUID, and an unknown field, naming them', async () => {
  // A client whose connection is never used: validation comes first.
  const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
  const bad = await submitRemoveSnapshot(client, { vmId: VM, snapshotId: 'snap-1' }).catch((e: unknown) => e);
  expect(bad).toBeInstanceOf(InvalidCommandInputError);
  expect((bad as Error).message).toMatch(/snapshotId: must be a UUID/);
  const extra = await submitRemoveSnapshot(client, { vmId: VM, snapshotId: VM, force: true }).catch(
    (e: unknown) => e,
  );
  expect(extra).toBeInstanceOf(InvalidCommandInputError);
  expect((extra as Error).message).toMatch(/force/);
});

test('submit remove-snapshot: a malformed or missing --snapshot exits 2 before anything is contacted', () => {
  const env = {
    OVIRT_TASKS_INVENTORY_URL: 'sqlite:/nonexistent/dir/inventory.db',
    TEMPORAL_ADDRESS: '127.0.0.1:1',
  };
  const malformed = runCliSync(['submit', 'remove-snapshot', '--vm', 'web-01', '--snapshot', 'snap-1'], env);
  expect(malformed.status).toBe(ExitCode.Usage);
  expect(malformed.stderr).toMatch(/--snapshot <id>.*must be a UUID/);
  const missing = runCliSync(['submit', 'remove-snapshot', '--vm', 'web-01'], env);
  expect(missing.status).toBe(ExitCode.Usage);
  expect(missing.stderr).toMatch(/required option '--snapshot <id>' not specified/);
  const help = runCliSync(['submit', 'remove-snapshot', '--help'], env);
  expect(help.status).toBe(ExitCode.Ok);
  expect(help.stdout).toContain('SDM.merge host job');
});
