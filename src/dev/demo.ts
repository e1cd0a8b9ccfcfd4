import { WorkflowFailedError } from '@temporalio/client';
import { submitRemoveVm, webUiLink } from '../client';
import type { InventoryRepository, Vm } from '../inventory/port';
import type { DevStack } from './stack';

const DEMO_VM_NAME = 'web-01';

/**
 * `ovirt-tasks dev --demo`: a real RemoveVm of web-01 (or, once that is gone, of the first VM that
 * RemoveVm accepts without --force), waited for and reported. The stack stays up afterwards.
 */
export async function runDemo(stack: DevStack, log: (line: string) => void): Promise<void> {
  const vm = await pickDemoVm(stack.inventory);
  if (!vm) {
    log(
      'demo: no removable VM left (Down, not delete-protected, no LOCKED disk); start over with a fresh --data dir',
    );
    return;
  }
  // Idempotent: a demo interrupted by Ctrl-C is picked up again, not started twice.
  const { handle, started } = await submitRemoveVm(
    stack.client,
    { vmId: vm.id, force: false },
    { taskQueue: stack.config.taskQueue, inventory: stack.inventory },
  );
  const { runId } = await handle.describe();
  const url = webUiLink(stack.uiUrl, stack.namespace, handle.workflowId, runId);
  log(
    `demo: ${started ? 'removing' : 'resuming the removal of'} VM ${vm.name} (${vm.id}), workflow ${handle.workflowId}`,
  );
  log(`demo: follow it live at ${url}`);
  try {
    const result = await handle.result();
    log(`demo: RemoveVm of ${vm.name} succeeded: ${result.removedDiskIds.length} disk(s) removed`);
  } catch (err) {
    const cause = err instanceof WorkflowFailedError && err.cause ? err.cause : err;
    log(`demo: RemoveVm of ${vm.name} failed: ${(cause as Error).message}`);
  }
  log(`demo: history at ${url}`);
}

async function pickDemoVm(inventory: InventoryRepository): Promise<Vm | undefined> {
  const vms = await inventory.listVms();
  const candidates = [
    ...vms.filter((vm) => vm.name === DEMO_VM_NAME),
    ...vms.filter((vm) => vm.name !== DEMO_VM_NAME),
  ];
  for (const vm of candidates) {
    if (vm.status !== 'Down' || vm.deleteProtected) continue;
    const disks = await inventory.listDisks({ vmId: vm.id });
    if (disks.every((disk) => disk.status !== 'LOCKED')) return vm;
  }
  return undefined;
}
