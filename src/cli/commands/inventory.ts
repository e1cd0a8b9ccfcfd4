import { Argument, type Command } from 'commander';
import type { InventoryRepository } from '../../inventory/port';
import { loadCliSettings, withInventory } from '../context';
import { formatSize, formatTime, printJson, renderTable, yesNo } from '../render';

/** `inventory tasks` shows this many of the newest audit entries. */
const AUDIT_ENTRIES = 20;

type What = 'vms' | 'disks' | 'tasks';

export function registerInventoryCommand(program: Command): void {
  program
    .command('inventory')
    .description(
      'show the inventory (OVIRT_TASKS_INVENTORY_URL): vms; disks; tasks = VDSM task claims, entity locks and the newest audit entries',
    )
    .addArgument(new Argument('<what>', 'what to list').choices(['vms', 'disks', 'tasks']))
    .option('--json', 'print JSON', false)
    .action(async (what: What, flags: { json: boolean }) => {
      const settings = loadCliSettings();
      await withInventory(settings.inventoryUrl, (inventory) => SHOW[what](inventory, flags.json));
    });
}

const SHOW: Record<What, (inventory: InventoryRepository, json: boolean) => Promise<void>> = {
  async vms(inventory, json) {
    const disks = await inventory.listDisks();
    const vms = (await inventory.listVms()).map((vm) => ({
      ...vm,
      diskCount: disks.filter((d) => d.vmId === vm.id).length,
    }));
    if (json) return printJson(vms);
    console.log(
      renderTable(
        vms.map((vm) => [vm.name, vm.id, vm.status, String(vm.diskCount), yesNo(vm.deleteProtected)]),
        ['NAME', 'ID', 'STATUS', 'DISKS', 'DELETE PROTECTED'],
      ),
    );
  },

  async disks(inventory, json) {
    const vmNames = new Map((await inventory.listVms()).map((vm) => [vm.id, vm.name]));
    const domainNames = new Map((await inventory.listDomains()).map((d) => [d.id, d.name]));
    const disks = (await inventory.listDisks()).map((disk) => ({
      ...disk,
      vmName: disk.vmId === null ? null : (vmNames.get(disk.vmId) ?? null),
      domainName: domainNames.get(disk.domainId) ?? null,
    }));
    if (json) return printJson(disks);
    console.log(
      renderTable(
        disks.map((d) => [
          d.alias,
          d.id,
          d.status,
          d.vmName ?? d.vmId ?? '(floating)',
          d.domainName ?? d.domainId,
          formatSize(d.sizeBytes),
          yesNo(d.wipeAfterDelete),
        ]),
        ['ALIAS', 'ID', 'STATUS', 'VM', 'DOMAIN', 'SIZE', 'WIPE AFTER DELETE'],
      ),
    );
  },

  async tasks(inventory, json) {
    const claims = await inventory.listTaskClaims();
    const locks = await inventory.listLocks();
    const audit = await inventory.listAudit({ limit: AUDIT_ENTRIES });
    if (json) return printJson({ claims, locks, audit });
    const section = (title: string, count: number, table: () => string): string =>
      `${title} (${count})\n${count ? table() : '(none)'}`;
    console.log(
      [
        section('VDSM task claims: tasks owned by a step', claims.length, () =>
          renderTable(
            claims.map((c) => [c.vdsmTaskId, c.owner, c.verb, c.subjectId, formatTime(c.claimedAt)]),
            ['VDSM TASK', 'OWNER', 'VERB', 'SUBJECT', 'CLAIMED'],
          ),
        ),
        section('Entity locks', locks.length, () =>
          renderTable(
            locks.map((l) => [l.type, l.id, l.owner, formatTime(l.acquiredAt), l.reason]),
            ['TYPE', 'ID', 'OWNER', 'SINCE', 'REASON'],
          ),
        ),
        section(`Audit log, newest first (at most ${AUDIT_ENTRIES})`, audit.length, () =>
          renderTable(
            audit.map((a) => [formatTime(a.time), a.severity, a.type, a.correlationId ?? '-', a.message]),
            ['TIME', 'SEVERITY', 'TYPE', 'CORRELATION ID', 'MESSAGE'],
          ),
        ),
      ].join('\n\n'),
    );
  },
};
