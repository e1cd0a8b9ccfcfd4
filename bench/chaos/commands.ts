/**
 * The load of a chaos scenario: RemoveVm mixed with AddDisk, cold CreateSnapshot, cold
 * MoveDisk / CopyDisk (a host job each) and cold RemoveSnapshot (of a snapshot made for it before
 * the faults begin: prepareSnapshots), planned from the seed (which command, which VM, how many
 * disks, the caller-chosen command ids) and submitted at seeded moments. The commands other than
 * RemoveVm are started by workflow type name, as test/support/storage.ts does, with their business
 * workflow ids.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { DataCenterFixture } from '../../src/fixture';
import type {
  AddDiskInput,
  CopyDiskInput,
  CreateSnapshotInput,
  CreateSnapshotResult,
  MoveDiskInput,
  RemoveSnapshotInput,
} from '../../src/shared/commands';
import { workflowIds, WorkflowType } from '../../src/shared/names';
import { submitRemoveVms, withRetry } from '../support/driver';
import type { VmPlan } from '../support/fixtures';
import type { Rng } from '../support/random';

export type CommandKind =
  'RemoveVm' | 'AddDisk' | 'CreateSnapshot' | 'MoveDisk' | 'CopyDisk' | 'RemoveSnapshot';

/**
 * Command i of a scenario is MIX[i % MIX.length]: four in nine RemoveVm, the rest the commands that
 * change volumes (MoveDisk and CopyDisk move their VM's one disk to another NFS domain, or copy it
 * there; RemoveSnapshot merges the snapshot prepareSnapshots made of its VM's disks).
 */
export const MIX: readonly CommandKind[] = [
  'RemoveVm',
  'CreateSnapshot',
  'RemoveVm',
  'AddDisk',
  'RemoveVm',
  'MoveDisk',
  'RemoveVm',
  'CopyDisk',
  'RemoveSnapshot',
];

/** Commands that work on one disk of their VM: the fixture gives the VM exactly one. */
const ONE_DISK: ReadonlySet<CommandKind> = new Set(['AddDisk', 'MoveDisk', 'CopyDisk']);

export const WORKFLOW_TYPE_OF: Record<CommandKind, string> = {
  RemoveVm: WorkflowType.removeVm,
  AddDisk: WorkflowType.addDisk,
  CreateSnapshot: WorkflowType.createSnapshot,
  MoveDisk: WorkflowType.moveDisk,
  CopyDisk: WorkflowType.copyDisk,
  RemoveSnapshot: WorkflowType.removeSnapshot,
};

/** Size of every disk AddDisk makes: small, so a scenario never runs a domain out of space. */
export const ADDED_DISK_BYTES = 1024 ** 3;

export interface PlannedCommand {
  kind: CommandKind;
  /** The fixture VM the command works on (AddDisk attaches the new disk to it unless `floating`). */
  vmName: string;
  /** Disks the fixture gives that VM (one for AddDisk, MoveDisk and CopyDisk). */
  disks: number;
  floating: boolean;
  /** AddDisk / CreateSnapshot: the caller-chosen command id (seeded, so a replay submits the same). */
  commandId: string;
  /**
   * RemoveSnapshot: the snapshot prepareSnapshots made (its CreateSnapshot's choice). Unset when
   * that failed: the command then names `commandId` as its snapshot, which the VM does not have.
   */
  snapshotId?: string;
}

export interface ChaosCommand {
  kind: CommandKind;
  workflowId: string;
  workflowType: string;
  vm: VmPlan;
  floating: boolean;
  submitAt: number;
}

/** A version-4 shaped UUID drawn from the seed. */
export function seededUuid(rng: Rng): string {
  const hex = Array.from({ length: 32 }, () => rng.int(0, 15).toString(16));
  hex[12] = '4';
  hex[16] = (8 + rng.int(0, 3)).toString(16);
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

/** The commands of one scenario, in MIX order; RemoveVm and CreateSnapshot VMs get 1..maxDisks disks. */
export function planCommands(
  rng: Rng,
  scenario: string,
  count: number,
  maxDisksPerVm: number,
): PlannedCommand[] {
  return Array.from({ length: count }, (_, i) => {
    const kind = MIX[i % MIX.length]!;
    return {
      kind,
      vmName: `${scenario}-${i}`,
      disks: ONE_DISK.has(kind) ? 1 : rng.int(1, maxDisksPerVm),
      // Every other AddDisk makes a floating disk; the rest attach to their VM (shared VM lock).
      floating: kind === 'AddDisk' && i % (2 * MIX.length) === MIX.indexOf('AddDisk'),
      commandId: seededUuid(rng),
    };
  });
}

/** The domain new disks go to: a file (NFS) data domain, where sparse COW and RAW are both valid. */
export function addDiskDomain(fixture: DataCenterFixture): string {
  return (fixture.domains.find((d) => d.storageType === 'nfs') ?? fixture.domains[0]!).id;
}

/** Where commands put disks: AddDisk's domain, and a move's or copy's destination for a disk. */
export interface Placement {
  addDiskDomainId: string;
  /** An NFS domain other than the disk's (a file domain takes any format and allocation). */
  destinationOf(diskId: string): string;
}

export function placement(fixture: DataCenterFixture): Placement {
  const nfs = fixture.domains.filter((d) => d.storageType === 'nfs');
  const domainOf = new Map(fixture.disks.map((d) => [d.id, d.domainId]));
  return {
    addDiskDomainId: addDiskDomain(fixture),
    destinationOf: (diskId) => (nfs.find((d) => d.id !== domainOf.get(diskId)) ?? nfs[0]!).id,
  };
}

/**
 * Makes the snapshot each RemoveSnapshot of the scenario removes: a CreateSnapshot of its VM's
 * disks (command id = the planned one), run to its end before the faults begin, so that the
 * scenario's tasks and chains start from it.
 */
export async function prepareSnapshots(
  client: Client,
  taskQueue: string,
  planned: PlannedCommand[],
  vmOf: (p: PlannedCommand) => VmPlan,
): Promise<void> {
  await Promise.all(
    planned
      .filter((p) => p.kind === 'RemoveSnapshot')
      .map(async (p) => {
        const workflowId = workflowIds.createSnapshot(p.commandId);
        const input: CreateSnapshotInput = {
          vmId: vmOf(p).id,
          description: `chaos ${p.vmName}`,
          commandId: p.commandId,
        };
        try {
          const result = await withRetry(async () => {
            try {
              await client.workflow.start(WorkflowType.createSnapshot, {
                taskQueue,
                workflowId,
                args: [input],
              });
            } catch (err) {
              if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
            }
            return (await client.workflow.getHandle(workflowId).result()) as CreateSnapshotResult;
          });
          p.snapshotId = result.snapshotId;
        } catch {
          // No snapshot: the RemoveSnapshot is refused (SnapshotNotFound), a typed outcome too.
        }
      }),
  );
}

/** Starts one command; a start whose answer was lost and is retried finds its own execution. */
export async function submitCommand(
  client: Client,
  taskQueue: string,
  planned: PlannedCommand,
  vm: VmPlan,
  where: Placement,
): Promise<ChaosCommand> {
  const base = {
    kind: planned.kind,
    vm,
    floating: planned.floating,
    workflowType: WORKFLOW_TYPE_OF[planned.kind],
  };
  if (planned.kind === 'RemoveVm') {
    const [s] = await submitRemoveVms(client, taskQueue, [vm.id], 1);
    return { ...base, workflowId: s!.workflowId, submitAt: s!.submitAt };
  }
  const submitAt = Date.now();
  const [workflowId, args] = commandCall(planned, vm, where);
  await withRetry(async () => {
    try {
      await client.workflow.start(base.workflowType, { taskQueue, workflowId, args });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  });
  return { ...base, workflowId, submitAt };
}

/** The business workflow id and the input of a command other than RemoveVm. */
function commandCall(
  planned: PlannedCommand,
  vm: VmPlan,
  where: Placement,
): [
  string,
  [AddDiskInput] | [CreateSnapshotInput] | [MoveDiskInput] | [CopyDiskInput] | [RemoveSnapshotInput],
] {
  const { commandId } = planned;
  const diskId = vm.diskIds[0]!;
  switch (planned.kind) {
    case 'AddDisk':
      return [
        workflowIds.addDisk(commandId),
        [
          {
            domainId: where.addDiskDomainId,
            sizeBytes: ADDED_DISK_BYTES,
            alias: `${planned.vmName}-added`,
            vmId: planned.floating ? null : vm.id,
            sparse: true,
            wipeAfterDelete: false,
            commandId,
          },
        ],
      ];
    case 'CreateSnapshot':
      return [
        workflowIds.createSnapshot(commandId),
        [{ vmId: vm.id, description: `chaos ${planned.vmName}`, commandId }],
      ];
    case 'MoveDisk':
      return [workflowIds.moveDisk(diskId), [{ diskId, toDomainId: where.destinationOf(diskId) }]];
    case 'CopyDisk':
      return [
        workflowIds.copyDisk(commandId),
        [{ diskId, toDomainId: where.destinationOf(diskId), commandId }],
      ];
    case 'RemoveSnapshot': {
      const snapshotId = planned.snapshotId ?? commandId;
      return [workflowIds.removeSnapshot(snapshotId), [{ vmId: vm.id, snapshotId }]];
    }
    case 'RemoveVm':
      throw new Error('RemoveVm is submitted through the client (submitRemoveVms)');
  }
}
