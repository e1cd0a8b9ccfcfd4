/**
 * `ovirt-tasks unlock` through the BUILT CLI (bin/ovirt-tasks, `npm run build` first), against the
 * suite's dev server, the simulator and a SQLite inventory shared with an in-process worker: it
 * refuses while the owning workflow runs, shows its plan, changes nothing with --dry-run, and
 * otherwise applies the janitor's rules and audits them. Also `status` of a command that failed
 * validation (this engineer's defect of issue 11), which needs the same set-up.
 */
import { randomUUID } from 'node:crypto';
import type { OrphanPlan } from '../src/activities/orphan-locks';
import { OrphanAuditType } from '../src/activities/orphan-release';
import { ExitCode } from '../src/cli/exit-codes';
import { submitRemoveDisk } from '../src/client';
import { workflowIds, WorkflowType } from '../src/shared/names';
import { assertCliBuilt, spawnCli, type CliResult } from './support/cli';
import { eventually, startEngineStack, type EngineStack } from './support/engine-stack';
import { testAddress, TEST_NAMESPACE } from './support/temporal';

jest.setTimeout(90_000);

/** Runs the CLI without blocking this process's event loop (the worker lives in it). */
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

let stack: EngineStack;
let env: Record<string, string>;
beforeAll(async () => {
  assertCliBuilt();
  stack = await startEngineStack({ faults: { durations: { 'Image.delete': 60_000 } } });
  env = {
    TEMPORAL_ADDRESS: testAddress(),
    TEMPORAL_NAMESPACE: TEST_NAMESPACE,
    OVIRT_TASKS_INVENTORY_URL: stack.inventoryUrl,
    OVIRT_TASKS_TASK_QUEUE: stack.taskQueue,
  };
});
afterAll(async () => {
  await stack?.stop();
});

/** What a RemoveVm terminated before its first image leaves: VM ImageLocked, disks LOCKED, locks. */
async function orphanedRemoveVm(name: string): Promise<{ vmId: string; disks: string[]; owner: string }> {
  const vm = stack.vmByName(name);
  // No such workflow on the server: describe() says not found, as for a run deleted by retention.
  const owner = workflowIds.removeVm(vm.id);
  await stack.inventory.acquireLocks(owner, `RemoveVm ${name}`, [
    { type: 'VM', id: vm.id },
    ...vm.disks.map((id) => ({ type: 'DISK' as const, id })),
  ]);
  await stack.inventory.setVmStatus(vm.id, 'ImageLocked');
  await stack.inventory.setDiskStatus(vm.disks, 'LOCKED');
  return { vmId: vm.id, disks: vm.disks, owner };
}

test('unlock refuses (exit 2) while the owning workflow runs, naming it, and changes nothing', async () => {
  const disk = (await stack.inventory.listDisks({ status: 'OK' })).find((d) => d.vmId === null)!;
  const { handle } = await submitRemoveDisk(
    stack.client,
    { diskId: disk.id },
    { taskQueue: stack.taskQueue, inventory: stack.inventory },
  );
  await eventually(async () =>
    (await stack.inventory.getDisk(disk.id))?.status === 'LOCKED' ? true : undefined,
  );
  const locks = await stack.inventory.listLocks({ owner: handle.workflowId });

  const result = await runCli(['unlock', 'disk', disk.id], env);

  expect(result.status).toBe(ExitCode.Usage);
  expect(result.stderr).toContain(
    `refused (EntityLocked): DISK ${disk.id}: workflow ${handle.workflowId} is running`,
  );
  expect(await stack.inventory.listLocks({ owner: handle.workflowId })).toEqual(locks);
  expect((await stack.inventory.getDisk(disk.id))?.status).toBe('LOCKED');
  await handle.terminate('test over');
});

test('unlock --dry-run --json shows the locks and statuses it would change and changes nothing; without it, applies and audits', async () => {
  const { vmId, disks, owner } = await orphanedRemoveVm('db-01');

  const dry = await runCli(['unlock', 'vm', vmId, '--dry-run', '--json'], env);
  expect(dry.stderr).toBe('');
  expect(dry.status).toBe(ExitCode.Ok);
  const report = JSON.parse(dry.stdout) as { dryRun: boolean; plans: OrphanPlan[]; applied: unknown[] };
  expect(report.dryRun).toBe(true);
  expect(report.applied).toEqual([]);
  const [plan] = report.plans;
  expect(plan).toMatchObject({ owner, blockedBy: null, unproven: [] });
  expect(plan!.releaseLocks.map((l) => l.id).sort()).toEqual([vmId, ...disks].sort());
  expect(plan!.changes).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ kind: 'vmStatus', vmId, from: 'ImageLocked', to: 'Down' }),
      ...disks.map((diskId) =>
        expect.objectContaining({ kind: 'diskStatus', diskId, from: 'LOCKED', to: 'OK' }),
      ),
    ]),
  );
  // Nothing changed.
  expect(await stack.inventory.listLocks({ owner })).toHaveLength(1 + disks.length);
  expect((await stack.inventory.getVm(vmId))?.status).toBe('ImageLocked');
  expect(await stack.inventory.listAudit({ correlationId: owner })).toEqual([]);

  const done = await runCli(['unlock', 'vm', vmId], env);
  expect(done.stderr).toBe('');
  expect(done.status).toBe(ExitCode.Ok);
  expect(done.stdout).toContain(`left by ${owner} (not running)`);
  expect(done.stdout).toMatch(/ImageLocked -> Down/);
  expect(done.stdout).toContain('done (audited)');
  expect((await stack.inventory.getVm(vmId))?.status).toBe('Down');
  for (const id of disks) expect((await stack.inventory.getDisk(id))?.status).toBe('OK');
  expect(await stack.inventory.listLocks({ owner })).toEqual([]);
  const audit = (await stack.inventory.listAudit({ correlationId: owner })).map((e) => e.type);
  expect(audit.filter((t) => t === OrphanAuditType.statusRestored)).toHaveLength(1 + disks.length);
  expect(audit).toContain(OrphanAuditType.locksReleased);
  expect((await stack.inventory.listAudit({ correlationId: owner }))[0]?.message).toMatch(
    /^ovirt-tasks unlock: /,
  );
});

test('unlock snapshot removes a LOCKED snapshot of a CreateSnapshot that is gone and made no volume', async () => {
  const vm = stack.vmByName('app-01');
  const snapshotId = randomUUID();
  const owner = workflowIds.createSnapshot(randomUUID());
  await stack.inventory.addSnapshot({
    id: snapshotId,
    vmId: vm.id,
    description: 'left behind',
    status: 'LOCKED',
  });
  await stack.inventory.addAudit({
    type: 'USER_CREATE_SNAPSHOT',
    severity: 'INFO',
    message: `Snapshot 'left behind' creation for VM 'app-01' was initiated.`,
    correlationId: owner,
    entityIds: [vm.id, snapshotId],
  });

  const result = await runCli(['unlock', 'snapshot', snapshotId], env);

  expect(result.stderr).toBe('');
  expect(result.status).toBe(ExitCode.Ok);
  expect(result.stdout).toContain('removed from the inventory (no volume belongs to it)');
  expect(await stack.inventory.getSnapshot(snapshotId)).toBeUndefined();
  expect((await stack.inventory.listAudit({ correlationId: owner })).map((e) => e.type)).toContain(
    OrphanAuditType.removed,
  );
});

test('unlock of an unknown entity or type exits 2', async () => {
  const unknown = await runCli(['unlock', 'disk', randomUUID()], env);
  expect(unknown.status).toBe(ExitCode.Usage);
  expect(unknown.stderr).toMatch(/no DISK .* in the inventory and no lock on it/);
  const badType = await runCli(['unlock', 'host', randomUUID()], env);
  expect(badType.status).toBe(ExitCode.Usage);
  expect(badType.stderr).toContain('must be vm, disk or snapshot');
});

test('status of a command that failed validation shows the refusal and its type, not "Activity task failed"', async () => {
  const vm = stack.vmByName('protected-01');
  // Started past the client's own checks, as a refusal the workflow finds (the VM changed meanwhile).
  const handle = await stack.client.workflow.start(WorkflowType.removeVm, {
    taskQueue: stack.taskQueue,
    workflowId: workflowIds.removeVm(vm.id),
    args: [{ vmId: vm.id, force: false }],
  });
  await handle.result().catch(() => undefined);

  const text = await runCli(['status', handle.workflowId], env);
  expect(text.status).toBe(ExitCode.Ok);
  expect(text.stdout).toMatch(/failure reason +refused \(VmDeleteProtected\): .*protected-01/);
  expect(text.stdout).not.toContain('Activity task failed');

  const json = await runCli(['status', handle.workflowId, '--json'], env);
  expect((JSON.parse(json.stdout) as { failureReason: string }).failureReason).toMatch(
    /^refused \(VmDeleteProtected\): /,
  );
});
