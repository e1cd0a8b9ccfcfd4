/**
 * `ovirt-tasks unlock <vm|disk|snapshot> <id>`: the safe form of oVirt's unlock_entity.sh. It
 * refuses while a workflow that owns the entity runs; otherwise it applies the janitor's rules
 * (src/activities/orphan-locks.ts): every lock of the closed command goes, statuses change only as
 * storage proves them, and each action is audited.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { ownerIsRunning } from '../../activities/janitor';
import {
  isEmptyPlan,
  planEntityUnlock,
  type OrphanDeps,
  type OrphanPlan,
} from '../../activities/orphan-locks';
import { applyOrphanPlan, describeChange } from '../../activities/orphan-release';
import { temporalCommandPorts } from '../../activities/orphan-temporal';
import { SpmLocator } from '../../activities/spm-locator';
import { loadConfig } from '../../config/config';
import type { EntityType, InventoryRepository } from '../../inventory/port';
import { RemoveVmInput } from '../../shared/commands';
import { createVdsmConnector } from '../../vdsm';
import { withTemporal, withWritableInventory } from '../context';
import { UsageError } from '../exit-codes';
import { printJson } from '../render';

const TYPES: Record<string, EntityType> = { vm: 'VM', disk: 'DISK', snapshot: 'SNAPSHOT' };

function parseEntityType(value: string): EntityType {
  const type = TYPES[value];
  if (!type) throw new InvalidArgumentError('must be vm, disk or snapshot.');
  return type;
}

function parseUuid(value: string): string {
  const parsed = RemoveVmInput.shape.vmId.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError('must be a UUID.');
  return parsed.data;
}

async function entityExists(inventory: InventoryRepository, type: EntityType, id: string): Promise<boolean> {
  const found =
    type === 'VM'
      ? await inventory.getVm(id)
      : type === 'DISK'
        ? await inventory.getDisk(id)
        : await inventory.getSnapshot(id);
  return found !== undefined || (await inventory.listLocks()).some((l) => l.type === type && l.id === id);
}

function renderPlan(plan: OrphanPlan): string {
  const lines = [plan.owner ? `left by ${plan.owner} (not running)` : 'no lock names it'];
  if (plan.releaseLocks.length)
    lines.push(
      '  locks to release:',
      ...plan.releaseLocks.map((l) => `    ${l.type} ${l.id} (${l.mode}, ${l.reason})`),
    );
  if (plan.removeImages.length)
    lines.push(
      '  first, images it left on storage to remove (then run unlock again once their steps end):',
      ...plan.removeImages.map((i) => `    ${i.step.description} (${i.stepId}): ${i.why}`),
    );
  if (plan.changes.length) lines.push('  changes:', ...plan.changes.map((c) => `    ${describeChange(c)}`));
  if (plan.unproven.length)
    lines.push(
      '  left as they are (not proved):',
      ...plan.unproven.map((u) => `    ${u.type} ${u.id} stays ${u.status}: ${u.why}`),
    );
  if (isEmptyPlan(plan)) lines.push('  nothing to change');
  return lines.join('\n');
}

export function registerUnlockCommand(program: Command): void {
  program
    .command('unlock')
    .description(
      "the safe form of oVirt's unlock_entity.sh: release the locks a closed command left and restore the statuses storage proves (refused, exit 2, while the owning workflow runs)",
    )
    .argument('<type>', 'vm, disk or snapshot', parseEntityType)
    .argument('<id>', 'the entity id (UUID)', parseUuid)
    .option('--dry-run', 'show what would change and change nothing', false)
    .option('--json', 'print JSON', false)
    .action(async (type: EntityType, id: string, flags: { dryRun: boolean; json: boolean }) => {
      // Storage is asked through VDSM, so its TLS settings are checked like the worker's.
      const config = loadConfig(process.env);
      // The one CLI command that writes to the inventory: it releases locks and restores statuses.
      await withWritableInventory(config.inventoryUrl, async (inventory) => {
        if (!(await entityExists(inventory, type, id)))
          throw new UsageError(`no ${type} ${id} in the inventory and no lock on it`);
        await withTemporal(async ({ client }) => {
          const vdsm = createVdsmConnector({
            tls: config.vdsm.tls,
            requestTimeoutMs: config.vdsm.requestTimeoutMs,
          });
          try {
            const deps: OrphanDeps = {
              inventory,
              spm: new SpmLocator(inventory, vdsm),
              isRunning: (workflowId) => ownerIsRunning(client, workflowId),
              commands: temporalCommandPorts(client, config.taskQueue, config.taskStartMaxAttempts),
            };
            const plans = await planEntityUnlock(deps, type, id);
            const blocked = plans.find((p) => p.blockedBy)?.blockedBy;
            if (blocked) {
              const what = blocked.workflowId ? `workflow ${blocked.workflowId} is running` : blocked.why;
              throw new UsageError(`refused (EntityLocked): ${type} ${id}: ${what}; nothing was changed`);
            }
            const applied = [];
            if (!flags.dryRun) {
              for (const plan of plans) applied.push(await applyOrphanPlan(deps, plan, 'ovirt-tasks unlock'));
            }
            if (applied.some((a) => !a.applied))
              throw new UsageError(`refused (EntityLocked): ${type} ${id}: its command was started again`);
            if (flags.json) {
              printJson({ type, id, dryRun: flags.dryRun, plans, applied });
              return;
            }
            console.log(`${type} ${id}:`);
            for (const plan of plans) console.log(renderPlan(plan));
            const removing = applied.flatMap((a) => a.removalsStarted);
            console.log(
              flags.dryRun
                ? 'dry run: nothing was changed'
                : removing.length
                  ? `removal started (audited): ${removing.join(', ')}; run unlock again once it ends`
                  : 'done (audited)',
            );
          } finally {
            await vdsm.close();
          }
        });
      });
    });
}
