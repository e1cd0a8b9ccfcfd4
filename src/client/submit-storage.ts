/**
 * Submitting the commands that create storage: AddDisk and cold CreateSnapshot. Unlike a removal,
 * the command's id is not the entity's: the caller's `commandId` (a fresh UUID when absent) is the
 * business id, so each call adds a new disk unless the same commandId is given again.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { checkAddDisk } from '../rules/add-disk';
import { checkCreateSnapshot } from '../rules/create-snapshot';
import { checkMoveOrCopy } from '../rules/move-copy-disk';
import { checkRemoveSnapshot } from '../rules/remove-snapshot';
import {
  AddDiskInput,
  CopyDiskInput,
  CreateSnapshotInput,
  MoveDiskInput,
  RemoveSnapshotInput,
} from '../shared/commands';
import { DEFAULT_TASK_QUEUE, workflowIds, WorkflowType } from '../shared/names';
import { MAX_IDS_IN_SEARCH_ATTRIBUTE, SA } from '../shared/search-attributes';
import type {
  addDiskWorkflow,
  copyDiskWorkflow,
  createSnapshotWorkflow,
  moveDiskWorkflow,
  removeSnapshotWorkflow,
} from '../workflows';
import {
  parseSubmitCall,
  refusedAsError,
  reusableRun,
  startIdempotent,
  type SubmitOptions,
  type Submitted,
} from './start';
import { parseInput } from './validate';

/** The input with a fresh commandId when it has none (anything else is left to the schema). */
function withCommandId(rawInput: unknown): unknown {
  if (typeof rawInput !== 'object' || rawInput === null || Array.isArray(rawInput)) return rawInput;
  const input = rawInput as Record<string, unknown>;
  return input.commandId === undefined ? { ...input, commandId: randomUUID() } : input;
}

const GiB = 1024 ** 3;
function describeSize(bytes: number): string {
  return bytes % GiB === 0 ? `${bytes / GiB} GiB` : `${bytes} bytes`;
}

/**
 * AddDisk (workflow `AddDisk/<commandId>`). With `options.inventory`, the shared refusal rules
 * (src/rules/add-disk.ts: domain exists, VM in its data center and not locked, alias free on the
 * VM, raw+sparse not on block storage, enough free space) answer before anything starts, as a
 * CommandRefusedError naming the field; the workflow checks them again under its locks.
 */
export async function submitAddDisk(
  client: Client,
  rawInput: unknown,
  rawOptions: SubmitOptions = {},
): Promise<Submitted<typeof addDiskWorkflow>> {
  const input = parseInput(AddDiskInput, withCommandId(rawInput), 'AddDisk');
  const { options } = parseSubmitCall(client, rawOptions, 'submitAddDisk');
  const workflowId = workflowIds.addDisk(input.commandId);
  let summary = `Add disk ${input.alias} (${describeSize(input.sizeBytes)})`;
  let poolId: string | undefined;
  if (options.inventory) {
    // A resubmission (same commandId) reaches its run, whose new disk now takes the alias.
    const existing = await reusableRun<typeof addDiskWorkflow>(client, workflowId);
    if (existing) return existing;
    const { domain, vm, format, volumeType } = await refusedAsError(() =>
      checkAddDisk(options.inventory!, input),
    );
    poolId = domain.poolId;
    summary =
      `Add disk ${input.alias} (${describeSize(input.sizeBytes)}, ${format} ${volumeType}) on ${domain.name}` +
      (vm ? ` to VM ${vm.name}` : '');
  }
  return startIdempotent(client, WorkflowType.addDisk, workflowId, {
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    args: [input],
    staticSummary: summary,
    typedSearchAttributes: [
      { key: SA.CommandType, value: 'AddDisk' },
      { key: SA.CommandStatus, value: 'ACTIVE' },
      ...(input.vmId ? [{ key: SA.VmId, value: input.vmId }] : []),
      ...(poolId ? [{ key: SA.StoragePoolId, value: poolId }] : []),
    ],
  });
}

/**
 * Cold CreateSnapshot (workflow `CreateSnapshot/<commandId>`). With `options.inventory`, the
 * shared refusal rules (src/rules/create-snapshot.ts: VM exists and is Down, the named disks are
 * its snapshotable disks, none locked) answer before anything starts.
 */
export async function submitCreateSnapshot(
  client: Client,
  rawInput: unknown,
  rawOptions: SubmitOptions = {},
): Promise<Submitted<typeof createSnapshotWorkflow>> {
  const input = parseInput(CreateSnapshotInput, withCommandId(rawInput), 'CreateSnapshot');
  const { options } = parseSubmitCall(client, rawOptions, 'submitCreateSnapshot');
  const workflowId = workflowIds.createSnapshot(input.commandId);
  let summary = `Snapshot VM ${input.vmId}: ${input.description}`;
  let poolId: string | undefined;
  let imageIds = input.diskIds ?? [];
  if (options.inventory) {
    const existing = await reusableRun<typeof createSnapshotWorkflow>(client, workflowId);
    if (existing) return existing;
    const { vm, disks } = await refusedAsError(() => checkCreateSnapshot(options.inventory!, input));
    poolId = vm.poolId;
    imageIds = disks.map((d) => d.disk.id);
    summary = `Snapshot VM ${vm.name}: ${disks.length} disk${disks.length === 1 ? '' : 's'}, ${input.description}`;
  }
  return startIdempotent(client, WorkflowType.createSnapshot, workflowId, {
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    args: [input],
    // Summaries are shown in lists: the description may be long.
    staticSummary: summary.length > 200 ? `${summary.slice(0, 199)}…` : summary,
    typedSearchAttributes: [
      { key: SA.CommandType, value: 'CreateSnapshot' },
      { key: SA.CommandStatus, value: 'ACTIVE' },
      { key: SA.VmId, value: input.vmId },
      ...(imageIds.length
        ? [{ key: SA.ImageIds, value: imageIds.slice(0, MAX_IDS_IN_SEARCH_ATTRIBUTE) }]
        : []),
      ...(poolId ? [{ key: SA.StoragePoolId, value: poolId }] : []),
    ],
  });
}

/**
 * Cold MoveDisk (workflow `MoveDisk/<diskId>`: one move of a disk at a time) and CopyDisk
 * (`CopyDisk/<commandId>`). With `options.inventory`, the shared refusal rules
 * (src/rules/move-copy-disk.ts) answer before anything starts.
 */
export async function submitMoveDisk(
  client: Client,
  rawInput: unknown,
  rawOptions: SubmitOptions = {},
): Promise<Submitted<typeof moveDiskWorkflow>> {
  const input = parseInput(MoveDiskInput, rawInput, 'MoveDisk');
  const { options } = parseSubmitCall(client, rawOptions, 'submitMoveDisk');
  const workflowId = workflowIds.moveDisk(input.diskId);
  let summary = `Move disk ${input.diskId}`;
  let poolId: string | undefined;
  if (options.inventory) {
    const existing = await reusableRun<typeof moveDiskWorkflow>(client, workflowId);
    if (existing) return existing;
    const { disk, source, destination } = await refusedAsError(() =>
      checkMoveOrCopy(options.inventory!, 'move', input),
    );
    poolId = disk.poolId;
    summary = `Move disk ${disk.alias} from ${source.name} to ${destination.name}`;
  }
  return startIdempotent(client, WorkflowType.moveDisk, workflowId, {
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    args: [input],
    staticSummary: summary,
    typedSearchAttributes: [
      { key: SA.CommandType, value: 'MoveDisk' },
      { key: SA.CommandStatus, value: 'ACTIVE' },
      { key: SA.ImageIds, value: [input.diskId] },
      ...(poolId ? [{ key: SA.StoragePoolId, value: poolId }] : []),
    ],
  });
}

export async function submitCopyDisk(
  client: Client,
  rawInput: unknown,
  rawOptions: SubmitOptions = {},
): Promise<Submitted<typeof copyDiskWorkflow>> {
  const input = parseInput(CopyDiskInput, withCommandId(rawInput), 'CopyDisk');
  const { options } = parseSubmitCall(client, rawOptions, 'submitCopyDisk');
  const workflowId = workflowIds.copyDisk(input.commandId);
  let summary = `Copy disk ${input.diskId}`;
  let poolId: string | undefined;
  if (options.inventory) {
    const existing = await reusableRun<typeof copyDiskWorkflow>(client, workflowId);
    if (existing) return existing;
    const { disk, destination } = await refusedAsError(() =>
      checkMoveOrCopy(options.inventory!, 'copy', input),
    );
    poolId = disk.poolId;
    summary = `Copy disk ${disk.alias} to ${destination.name}`;
  }
  return startIdempotent(client, WorkflowType.copyDisk, workflowId, {
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    args: [input],
    staticSummary: summary,
    typedSearchAttributes: [
      { key: SA.CommandType, value: 'CopyDisk' },
      { key: SA.CommandStatus, value: 'ACTIVE' },
      { key: SA.ImageIds, value: [input.diskId] },
      ...(poolId ? [{ key: SA.StoragePoolId, value: poolId }] : []),
    ],
  });
}

/**
 * Cold RemoveSnapshot (workflow `RemoveSnapshot/<snapshotId>`: one removal of a snapshot at a
 * time). With `options.inventory`, the shared refusal rules (src/rules/remove-snapshot.ts: VM Down,
 * the snapshot its own and OK, its disks neither LOCKED nor ILLEGAL) answer before anything starts.
 */
export async function submitRemoveSnapshot(
  client: Client,
  rawInput: unknown,
  rawOptions: SubmitOptions = {},
): Promise<Submitted<typeof removeSnapshotWorkflow>> {
  const input = parseInput(RemoveSnapshotInput, rawInput, 'RemoveSnapshot');
  const { options } = parseSubmitCall(client, rawOptions, 'submitRemoveSnapshot');
  const workflowId = workflowIds.removeSnapshot(input.snapshotId);
  let summary = `Remove snapshot ${input.snapshotId} of VM ${input.vmId}`;
  let poolId: string | undefined;
  let imageIds: string[] = [];
  if (options.inventory) {
    const existing = await reusableRun<typeof removeSnapshotWorkflow>(client, workflowId);
    if (existing) return existing;
    const { vm, snapshot, disks } = await refusedAsError(() =>
      checkRemoveSnapshot(options.inventory!, input),
    );
    poolId = vm.poolId;
    imageIds = disks.map((d) => d.disk.id);
    summary = `Remove snapshot '${snapshot.description}' of VM ${vm.name} (${disks.length} disk${disks.length === 1 ? '' : 's'})`;
  }
  return startIdempotent(client, WorkflowType.removeSnapshot, workflowId, {
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    args: [input],
    staticSummary: summary.length > 200 ? `${summary.slice(0, 199)}…` : summary,
    typedSearchAttributes: [
      { key: SA.CommandType, value: 'RemoveSnapshot' },
      { key: SA.CommandStatus, value: 'ACTIVE' },
      { key: SA.VmId, value: input.vmId },
      ...(imageIds.length
        ? [{ key: SA.ImageIds, value: imageIds.slice(0, MAX_IDS_IN_SEARCH_ATTRIBUTE) }]
        : []),
      ...(poolId ? [{ key: SA.StoragePoolId, value: poolId }] : []),
    ],
  });
}
