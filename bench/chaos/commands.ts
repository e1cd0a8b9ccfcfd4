/**
 * The load of a chaos scenario: RemoveVm mixed with AddDisk and cold CreateSnapshot, planned from
 * the seed (which command, which VM, how many disks, the caller-chosen command ids) and submitted
 * at seeded moments. AddDisk and CreateSnapshot are started by workflow type name, as
 * test/support/storage.ts does, with their business workflow ids.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { DataCenterFixture } from '../../src/fixture';
import type { AddDiskInput, CreateSnapshotInput } from '../../src/shared/commands';
import { workflowIds, WorkflowType } from '../../src/shared/names';
import { submitRemoveVms, withRetry } from '../support/driver';
import type { VmPlan } from '../support/fixtures';
import type { Rng } from '../support/random';

export type CommandKind = 'RemoveVm' | 'AddDisk' | 'CreateSnapshot';

/** Command i of a scenario is MIX[i % 4]: half RemoveVm, a quarter each of the volume-making commands. */
export const MIX: readonly CommandKind[] = ['RemoveVm', 'CreateSnapshot', 'RemoveVm', 'AddDisk'];

export const WORKFLOW_TYPE_OF: Record<CommandKind, string> = {
  RemoveVm: WorkflowType.removeVm,
  AddDisk: WorkflowType.addDisk,
  CreateSnapshot: WorkflowType.createSnapshot,
};

/** Size of every disk AddDisk makes: small, so a scenario never runs a domain out of space. */
export const ADDED_DISK_BYTES = 1024 ** 3;

export interface PlannedCommand {
  kind: CommandKind;
  /** The fixture VM the command works on (AddDisk attaches the new disk to it unless `floating`). */
  vmName: string;
  /** Disks the fixture gives that VM. */
  disks: number;
  floating: boolean;
  /** AddDisk / CreateSnapshot: the caller-chosen command id (seeded, so a replay submits the same). */
  commandId: string;
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
      disks: kind === 'AddDisk' ? 1 : rng.int(1, maxDisksPerVm),
      // Every other AddDisk makes a floating disk; the rest attach to their VM (shared VM lock).
      floating: kind === 'AddDisk' && i % (2 * MIX.length) === MIX.length - 1,
      commandId: seededUuid(rng),
    };
  });
}

/** The domain new disks go to: a file (NFS) data domain, where sparse COW and RAW are both valid. */
export function addDiskDomain(fixture: DataCenterFixture): string {
  return (fixture.domains.find((d) => d.storageType === 'nfs') ?? fixture.domains[0]!).id;
}

/** Starts one command; a start whose answer was lost and is retried finds its own execution. */
export async function submitCommand(
  client: Client,
  taskQueue: string,
  planned: PlannedCommand,
  vm: VmPlan,
  domainId: string,
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
  const [workflowId, args]: [string, [AddDiskInput] | [CreateSnapshotInput]] =
    planned.kind === 'AddDisk'
      ? [
          workflowIds.addDisk(planned.commandId),
          [
            {
              domainId,
              sizeBytes: ADDED_DISK_BYTES,
              alias: `${planned.vmName}-added`,
              vmId: planned.floating ? null : vm.id,
              sparse: true,
              wipeAfterDelete: false,
              commandId: planned.commandId,
            },
          ],
        ]
      : [
          workflowIds.createSnapshot(planned.commandId),
          [{ vmId: vm.id, description: `chaos ${planned.vmName}`, commandId: planned.commandId }],
        ];
  await withRetry(async () => {
    try {
      await client.workflow.start(base.workflowType, { taskQueue, workflowId, args });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  });
  return { ...base, workflowId, submitAt };
}
