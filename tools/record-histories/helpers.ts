/**
 * What a record-histories scenario gets (ScenarioContext) and the steps scenarios share: starting
 * commands with ids fixed by the data center, waiting for steps to poll, meddling behind the
 * engine's back.
 */
import type { Client } from '@temporalio/client';
import { queryCommandState } from '../../src/client';
import { uuidFromName, type DataCenterFixture } from '../../src/fixture';
import type { InventoryRepository } from '../../src/inventory/port';
import { workflowIds, WorkflowType } from '../../src/shared/names';
import type { VdsmConnector } from '../../src/vdsm/port';
import type { FaultConfigInput } from '../../src/vdsm-sim/faults';
import type { Simulator } from '../../src/vdsm-sim/simulator';

export type CloseStatus = 'COMPLETED' | 'FAILED' | 'CANCELLED';

export interface ScenarioContext {
  client: Client;
  fixture: DataCenterFixture;
  sim: Simulator;
  inventory: InventoryRepository;
  vdsm: VdsmConnector;
  taskQueue: string;
  vm(name: string): { id: string; disks: string[] };
}

export interface Scenario {
  name: string;
  description: string;
  faults?: FaultConfigInput;
  /** Starts the scenario's top-level workflows and returns them with how each must close. */
  run(ctx: ScenarioContext): Promise<Array<{ workflowId: string; expect: CloseStatus }>>;
}

/** Starts AddDisk with a command id fixed by the scenario (same workflow ids on every recording). */
export async function startAddDisk(
  ctx: ScenarioContext,
  storageType: 'nfs' | 'iscsi',
  alias: string,
): Promise<string> {
  const domain = ctx.fixture.domains.find((d) => d.storageType === storageType);
  if (!domain) throw new Error(`the data center has no ${storageType} domain`);
  const commandId = uuidFromName(`${ctx.fixture.pool.id}/AddDisk/${alias}`);
  const workflowId = workflowIds.addDisk(commandId);
  await ctx.client.workflow.start(WorkflowType.addDisk, {
    workflowId,
    taskQueue: ctx.taskQueue,
    args: [{ domainId: domain.id, sizeBytes: 2 * 1024 ** 3, alias, vmId: null, sparse: true, commandId }],
  });
  return workflowId;
}

export async function startSnapshot(
  ctx: ScenarioContext,
  vmName: string,
  description: string,
): Promise<string> {
  const commandId = uuidFromName(`${ctx.fixture.pool.id}/CreateSnapshot/${vmName}/${description}`);
  const workflowId = workflowIds.createSnapshot(commandId);
  await ctx.client.workflow.start(WorkflowType.createSnapshot, {
    workflowId,
    taskQueue: ctx.taskQueue,
    args: [{ vmId: ctx.vm(vmName).id, description, commandId }],
  });
  return workflowId;
}

/**
 * Snapshots the VM (a CreateSnapshot run to its end), then starts RemoveSnapshot of that snapshot.
 * The snapshot id is the CreateSnapshot run's choice, so this workflow id differs per recording.
 */
export async function startRemoveSnapshot(
  ctx: ScenarioContext,
  vmName: string,
  description: string,
): Promise<string> {
  const created = (await ctx.client.workflow
    .getHandle(await startSnapshot(ctx, vmName, description))
    .result()) as { snapshotId: string };
  const workflowId = workflowIds.removeSnapshot(created.snapshotId);
  await ctx.client.workflow.start(WorkflowType.removeSnapshot, {
    workflowId,
    taskQueue: ctx.taskQueue,
    args: [{ vmId: ctx.vm(vmName).id, snapshotId: created.snapshotId }],
  });
  return workflowId;
}

/** Moves or copies the first floating single-volume disk on an NFS domain to the other NFS domain. */
export async function startMoveOrCopy(ctx: ScenarioContext, op: 'move' | 'copy'): Promise<string> {
  const nfs = (id: string) => ctx.fixture.domains.find((d) => d.id === id)?.storageType === 'nfs';
  const disk = ctx.fixture.disks.find(
    (d) => d.vmId === null && !d.shareable && d.volumeIds.length === 1 && nfs(d.domainId),
  );
  const to = ctx.fixture.domains.find((d) => d.storageType === 'nfs' && d.id !== disk?.domainId);
  if (!disk || !to) throw new Error('the data center has no floating NFS disk and second NFS domain');
  if (op === 'move') {
    const workflowId = workflowIds.moveDisk(disk.id);
    await ctx.client.workflow.start(WorkflowType.moveDisk, {
      workflowId,
      taskQueue: ctx.taskQueue,
      args: [{ diskId: disk.id, toDomainId: to.id }],
    });
    return workflowId;
  }
  const commandId = uuidFromName(`${ctx.fixture.pool.id}/CopyDisk/${disk.id}`);
  const workflowId = workflowIds.copyDisk(commandId);
  await ctx.client.workflow.start(WorkflowType.copyDisk, {
    workflowId,
    taskQueue: ctx.taskQueue,
    args: [{ diskId: disk.id, toDomainId: to.id, commandId }],
  });
  return workflowId;
}

/** Waits until the command's `count` steps all poll a running VDSM task. */
export async function allStepsPolling(
  ctx: ScenarioContext,
  workflowId: string,
  count: number,
): Promise<void> {
  await until(`${count} steps of ${workflowId} polling`, async () => {
    if (ctx.sim.listTasks().length !== count) return false;
    const state = await queryCommandState(ctx.client, workflowId);
    return state.tasks.length === count && state.tasks.every((t) => t.state === 'Polling');
  });
}

/** Someone else deleted the image (and cleared the task): the engine's delete then meets 268. */
export async function removeImageBehindTheEnginesBack(ctx: ScenarioContext, diskId: string): Promise<void> {
  const disk = ctx.fixture.disks.find((d) => d.id === diskId);
  const spm = ctx.sim.hosts.find((h) => h.hostId === ctx.sim.spmHostId());
  if (!disk || !spm) throw new Error(`no disk ${diskId} or no SPM`);
  const api = ctx.vdsm.host({ hostId: spm.hostId, address: spm.address, port: spm.port });
  const taskId = await api.imageDelete({
    imageID: disk.id,
    storagepoolID: ctx.fixture.pool.id,
    storagedomainID: disk.domainId,
    postZero: false,
    force: false,
    discard: false,
  });
  await until(
    `task ${taskId} finished`,
    async () => (await api.taskGetStatus(taskId)).taskState === 'finished',
  );
  await api.taskClear(taskId);
}

export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
