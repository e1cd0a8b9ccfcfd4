import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { Workflow, WorkflowResultType } from '@temporalio/common';
import { submitAddDisk, submitCreateSnapshot, submitRemoveVm, webUiLink } from '../client';
import { uuidFromName } from '../fixture';
import type { InventoryRepository, Vm } from '../inventory/port';
import type { DevStack } from './stack';

const DEMO_VM_NAME = 'web-01';
const GiB = 1024 ** 3;

/**
 * `ovirt-tasks dev --demo`: the storage commands an administrator runs most, for real and waited
 * for: a cold snapshot of a VM, a new disk on it, then a RemoveVm of web-01 (or, once that is
 * gone, of the first VM that RemoveVm accepts without --force). Command ids are fixed per VM, so a
 * demo interrupted by Ctrl-C is picked up again, not started twice. The stack stays up afterwards.
 */
export async function runDemo(stack: DevStack, log: (line: string) => void): Promise<void> {
  const target = await pickVm(stack.inventory, (vm) => vm.name === DEMO_VM_NAME);
  const other = await pickVm(stack.inventory, (vm) => vm.id !== target?.id);
  const options = { taskQueue: stack.config.taskQueue, inventory: stack.inventory };

  if (other) {
    const snapshot = await submitCreateSnapshot(
      stack.client,
      { vmId: other.id, description: 'demo snapshot', commandId: uuidFromName(`demo/snapshot/${other.id}`) },
      options,
    );
    await follow(
      stack,
      log,
      `CreateSnapshot of VM ${other.name}`,
      snapshot.handle,
      (r) => `${r.volumes.length} new volume(s), snapshot ${r.snapshotId}`,
    );
    const [domain] = await stack.inventory.listDomains(other.poolId);
    if (domain) {
      const disk = await submitAddDisk(
        stack.client,
        {
          domainId: domain.id,
          sizeBytes: 10 * GiB,
          alias: `${other.name}_demo_disk`,
          vmId: other.id,
          commandId: uuidFromName(`demo/add-disk/${other.id}`),
        },
        options,
      );
      await follow(stack, log, `AddDisk to VM ${other.name}`, disk.handle, (r) => `disk ${r.diskId}`);
    }
  }

  if (!target) {
    log(
      'demo: no removable VM left (Down, not delete-protected, no LOCKED disk); start over with a fresh --data dir',
    );
    return;
  }
  const removal = await submitRemoveVm(stack.client, { vmId: target.id, force: false }, options);
  await follow(
    stack,
    log,
    `RemoveVm of ${target.name}`,
    removal.handle,
    (r) => `${r.removedDiskIds.length} disk(s) removed`,
  );
}

/** Prints the run's Web UI link, waits for it and prints its outcome. */
async function follow<W extends Workflow>(
  stack: DevStack,
  log: (line: string) => void,
  what: string,
  handle: WorkflowHandle<W>,
  describe: (result: WorkflowResultType<W>) => string,
): Promise<void> {
  const { runId } = await handle.describe();
  const url = webUiLink(stack.uiUrl, stack.namespace, handle.workflowId, runId);
  log(`demo: ${what}: workflow ${handle.workflowId}, follow it live at ${url}`);
  try {
    log(`demo: ${what} succeeded: ${describe(await handle.result())}`);
  } catch (err) {
    const cause = err instanceof WorkflowFailedError && err.cause ? err.cause : err;
    log(`demo: ${what} failed: ${(cause as Error).message}`);
  }
  log(`demo: history at ${url}`);
}

/** The first VM (preferred ones first) that is Down, not delete-protected, with no LOCKED disk. */
async function pickVm(
  inventory: InventoryRepository,
  preferred: (vm: Vm) => boolean,
): Promise<Vm | undefined> {
  const vms = await inventory.listVms();
  const candidates = [...vms.filter(preferred), ...vms.filter((vm) => !preferred(vm))];
  for (const vm of candidates) {
    if (vm.status !== 'Down' || vm.deleteProtected) continue;
    const disks = await inventory.listDisks({ vmId: vm.id });
    if (disks.every((disk) => disk.status !== 'LOCKED')) return vm;
  }
  return undefined;
}
