/**
 * The production shape, run: `npm run cluster`'s launcher starts PostgreSQL, the Temporal services
 * as separate processes, the simulator and two `ovirt-tasks worker` processes from compose's own
 * files; RemoveVm and RemoveDisk commands go through it while the history service and one worker
 * are SIGKILLed mid-run and started again. Every command must end with its typed outcome, nothing
 * may stay LOCKED, claimed or uncleared, and VDSM must have seen one Image.delete per disk.
 * The binaries come from scripts/ensure-temporal-server.sh (scripts/test.sh provisions them first).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { startCluster, type Cluster } from '../src/cluster/cluster';
import { submitRemoveDisk, submitRemoveVm } from '../src/client';
import { openInventory, type InventoryRepository } from '../src/inventory';
import { ErrorType } from '../src/shared/errors';
import { workflowIds } from '../src/shared/names';
import { assertCliBuilt } from './support/cli';
import { eventually } from './support/engine-stack';

jest.setTimeout(300_000);

/** Each Image.delete runs this long in the simulator: the kills land while tasks run. */
const TASK_MS = 8_000;

let cluster: Cluster | undefined;
let dataDir: string | undefined;
let connection: Connection | undefined;
let inventory: InventoryRepository | undefined;

beforeAll(async () => {
  assertCliBuilt();
  dataDir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-cluster-'));
  // mkdtemp makes it 0700: PostgreSQL, run as its own user under root, must reach its directory.
  chmodSync(dataDir, 0o755);
  cluster = await startCluster({
    dataDir,
    freePorts: true,
    durable: false,
    simulatorFaults: JSON.stringify({ durations: { 'Image.delete': TASK_MS } }),
  });
  connection = await Connection.connect({ address: cluster.frontendAddress });
  inventory = openInventory(cluster.inventoryUrl);
  await inventory.init();
}, 600_000);

afterAll(async () => {
  await inventory?.close();
  await connection?.close();
  await cluster?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function control<T>(path: string): Promise<T> {
  const response = await fetch(`${cluster!.simulatorControlUrl}${path}`);
  if (!response.ok) throw new Error(`simulator ${path}: ${response.status}`);
  return (await response.json()) as T;
}

/** The process group of the worker whose Temporal identity (`<pid>@<host>`) this is. */
function processGroupOf(identity: string): number | undefined {
  const pid = Number(identity.split('@')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    // "<pid> (<comm>) <state> <ppid> <pgrp> ...": comm may hold spaces, so count from its ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return undefined;
  }
}

type Outcome = { ok: true; value: unknown } | { ok: false; type: string | undefined };

/**
 * The command's outcome. While the history service is down (or just back) the frontend answers
 * Unavailable and the client's own retries may give up: ask again, a workflow's failure is final.
 */
async function outcome(handle: WorkflowHandle): Promise<Outcome> {
  const deadline = Date.now() + 240_000;
  for (;;) {
    try {
      return { ok: true, value: await handle.result() };
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        const cause = err.cause;
        return {
          ok: false,
          type: cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined,
        };
      }
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

test('RemoveVm and RemoveDisk through the cluster survive a SIGKILLed history service and worker', async () => {
  const c = cluster!;
  const inv = inventory!;
  const client = new Client({ connection: connection!, namespace: c.namespace });

  // The workers seeded the shared inventory from the built-in data center.
  const vms = await inv.listVms();
  const vmNamed = (name: string) => {
    const vm = vms.find((v) => v.name === name);
    if (!vm) throw new Error(`no VM ${name} in the seeded inventory`);
    return vm;
  };
  const removedVms = [vmNamed('web-01'), vmNamed('db-01')];
  const vmDisks = new Map<string, string[]>();
  for (const vm of removedVms)
    vmDisks.set(
      vm.id,
      (await inv.listDisks({ vmId: vm.id })).map((d) => d.id),
    );
  const floating = (await inv.listDisks()).filter((d) => d.vmId === null).slice(0, 2);
  expect(floating).toHaveLength(2);
  const protectedVm = vmNamed('protected-01');
  const removedDiskIds = [...[...vmDisks.values()].flat(), ...floating.map((d) => d.id)];
  const poolId = removedVms[0]!.poolId;
  const lockedBefore = (await inv.listDisks({ status: 'LOCKED' })).map((d) => d.id);

  const vmHandles = await Promise.all(
    removedVms.map(async (vm) => (await submitRemoveVm(client, { vmId: vm.id }, { inventory: inv })).handle),
  );
  const diskHandles = await Promise.all(
    floating.map(async (d) => (await submitRemoveDisk(client, { diskId: d.id }, { inventory: inv })).handle),
  );
  // Refused by the workflow's own validation: its typed failure must come through the cluster too.
  const refused = (await submitRemoveVm(client, { vmId: protectedVm.id })).handle;

  // Mid-run: the first VDSM tasks exist, others may still be starting.
  await eventually(
    async () => ((await control<unknown[]>('/tasks')).length > 0 ? true : undefined),
    120_000,
    'the first Image.delete task',
  );
  for (const handle of [...vmHandles, ...diskHandles])
    expect((await handle.describe()).status.name).toBe('RUNNING');
  // The worker to kill is one running a step's activity (starting or waiting for its task).
  const stepIds = [
    ...removedVms.flatMap((vm, i) =>
      vmDisks.get(vm.id)!.map((diskId) => workflowIds.removeImage(vmHandles[i]!.workflowId, diskId)),
    ),
    ...floating.map((d, i) => workflowIds.removeImage(diskHandles[i]!.workflowId, d.id)),
  ];
  const worker = await eventually(
    async () => {
      for (const workflowId of stepIds) {
        const described = await client.workflowService
          .describeWorkflowExecution({ namespace: c.namespace, execution: { workflowId } })
          .catch(() => undefined);
        for (const activity of described?.pendingActivities ?? []) {
          const group = processGroupOf(activity.lastWorkerIdentity ?? '');
          const busy = c.workers.find((w) => group !== undefined && w.pid === group);
          if (busy) return busy;
        }
      }
      return undefined;
    },
    60_000,
    'a worker process running a step activity',
  );
  const history = c.temporal.history;
  await Promise.all([history.kill('SIGKILL'), worker.kill('SIGKILL')]);
  expect(history.running).toBe(false);
  expect(worker.running).toBe(false);
  await c.restart(history);
  await c.restart(worker);

  for (const [i, handle] of vmHandles.entries()) {
    const result = await outcome(handle);
    const vm = removedVms[i]!;
    expect(result).toEqual({
      ok: true,
      value: { vmId: vm.id, vmName: vm.name, removedDiskIds: expect.arrayContaining(vmDisks.get(vm.id)!) },
    });
  }
  for (const [i, handle] of diskHandles.entries()) {
    expect(await outcome(handle)).toEqual({ ok: true, value: { diskId: floating[i]!.id } });
  }
  expect(await outcome(refused)).toEqual({ ok: false, type: ErrorType.VmDeleteProtected });

  // Nothing left LOCKED, locked or claimed; every removed disk and VM gone from the inventory.
  expect(await inv.listLocks()).toEqual([]);
  expect(await inv.listTaskClaims()).toEqual([]);
  for (const diskId of removedDiskIds) expect(await inv.getDisk(diskId)).toBeUndefined();
  for (const vm of removedVms) expect(await inv.getVm(vm.id)).toBeUndefined();
  expect((await inv.getVm(protectedVm.id))?.status).toBe(protectedVm.status);
  // Only the fixture's own LOCKED disk (locked-01's, by "some other operation") is LOCKED.
  expect((await inv.listDisks({ status: 'LOCKED' })).map((d) => d.id)).toEqual(lockedBefore);

  // VDSM: every task cleared, one Image.delete per disk (a retried start found its task), the
  // images gone from storage.
  expect(await control<unknown[]>('/tasks')).toEqual([]);
  const counters = await control<{ pools: Record<string, { verbs: Record<string, number> }> }>('/counters');
  expect(counters.pools[poolId]?.verbs['Image.delete']).toBe(removedDiskIds.length);
  const storage = await control<Record<string, { images: Record<string, string[]> }>>('/storage');
  const imagesLeft = Object.values(storage).flatMap((domain) => Object.keys(domain.images));
  for (const diskId of removedDiskIds) expect(imagesLeft).not.toContain(diskId);

  // The Web UI's server reaches the frontend and filters on a registered search attribute.
  const query = encodeURIComponent('CommandType="RemoveVm"');
  const removeVmIds = [...vmHandles, refused].map((h) => h.workflowId).sort();
  const listed = await eventually(
    async () => {
      const response = await fetch(`${c.uiUrl}/api/v1/namespaces/${c.namespace}/workflows?query=${query}`);
      if (!response.ok) return undefined;
      const { executions } = (await response.json()) as {
        executions?: Array<{ execution: { workflowId: string } }>;
      };
      const ids = (executions ?? []).map((e) => e.execution.workflowId).sort();
      // Visibility lags a little: wait for all three.
      return ids.length >= removeVmIds.length ? ids : undefined;
    },
    30_000,
    'the Web UI to list the RemoveVm commands',
  );
  expect(listed).toEqual(removeVmIds);

  // The killed processes are the restarted ones serving now.
  expect(history.running).toBe(true);
  expect(worker.running).toBe(true);
});
