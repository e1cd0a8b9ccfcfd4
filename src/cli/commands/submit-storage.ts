/**
 * `submit add-disk`, `create-snapshot`, `remove-snapshot`, `move-disk` and `copy-disk`. Flags are
 * checked when parsed, names resolved in the inventory, and the shared refusal rules answered, all
 * before anything starts (exit 2 naming the flag). Each call is a new command unless --command-id names an earlier one.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  submitAddDisk,
  submitCopyDisk,
  submitCreateSnapshot,
  submitMoveDisk,
  submitRemoveSnapshot,
} from '../../client';
import {
  AddDiskInput,
  CreateSnapshotInput,
  MAX_DISK_SIZE_BYTES,
  RemoveSnapshotInput,
} from '../../shared/commands';
import {
  loadCliSettings,
  parseDiskId,
  parseDomainRef,
  parseVmRef,
  resolveDomain,
  resolveVm,
  withInventory,
  type NameRef,
  type VmRef,
} from '../context';
import { submitAndReport, type SubmitFlags } from '../submit-report';

const UNITS: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Bytes, or a number with K, M, G or T (powers of 1024, as the engine counts: 10G = 10 GiB). */
export function parseSize(value: string): number {
  const match = /^(\d+)(?:([KMGT])(?:i?B)?)?$/i.exec(value);
  if (!match)
    throw new InvalidArgumentError(
      'must be a size in bytes or with a unit: 512M, 10G, 1T (K, M, G, T are powers of 1024).',
    );
  const bytes = Number(match[1]) * (match[2] ? UNITS[match[2].toUpperCase()]! : 1);
  if (bytes === 0) throw new InvalidArgumentError('must be more than 0 bytes.');
  if (!Number.isSafeInteger(bytes) || bytes > MAX_DISK_SIZE_BYTES)
    throw new InvalidArgumentError(`must be at most 1 PiB (${MAX_DISK_SIZE_BYTES} bytes).`);
  return bytes;
}

/** A schema field's rule, applied when the flag is parsed. */
function byField<T>(schema: {
  safeParse(
    v: unknown,
  ): { success: true; data: T } | { success: false; error: { issues: Array<{ message: string }> } };
}) {
  return (value: string): T => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new InvalidArgumentError(`${parsed.error.issues[0]?.message ?? 'invalid'}.`);
    return parsed.data;
  };
}

const parseCommandUuid = byField(AddDiskInput.shape.commandId);
const parseAlias = byField(AddDiskInput.shape.alias);
const parseDescription = byField(CreateSnapshotInput.shape.description);
const parseSnapshotId = byField(RemoveSnapshotInput.shape.snapshotId);

export function parseDiskIds(value: string): string[] {
  const ids = value.split(',').map((id) => id.trim());
  const parsed = CreateSnapshotInput.shape.diskIds.safeParse(ids);
  if (!parsed.success || !parsed.data)
    throw new InvalidArgumentError(
      parsed.success
        ? 'must name at least one disk.'
        : `must be disk ids (UUIDs) separated by commas, none repeated (${parsed.error.issues[0]?.message}).`,
    );
  return parsed.data;
}

interface AddDiskFlags extends SubmitFlags {
  domain: NameRef;
  size: number;
  alias: string;
  vm?: VmRef;
  format?: 'cow' | 'raw';
  sparse?: boolean;
  preallocated?: boolean;
  wipeAfterDelete: boolean;
  commandId?: string;
}

interface CreateSnapshotFlags extends SubmitFlags {
  vm: VmRef;
  description: string;
  disks?: string[];
  commandId?: string;
}

const commandIdHelp =
  'the command id (UUID), so that submitting again reaches the same run; default: a new one (a new command)';

export function registerStorageSubmitCommands(submit: Command): void {
  submit
    .command('add-disk')
    .description(
      'add a new disk (image) on a storage domain, optionally attached to a VM (AddDisk → AddImageFromScratch)',
    )
    .requiredOption(
      '--domain <id|name>',
      'storage domain id or name (looked up in the inventory)',
      parseDomainRef,
    )
    .requiredOption(
      '--size <bytes|10G|512M|1T>',
      'virtual size: bytes, or K/M/G/T (powers of 1024)',
      parseSize,
    )
    .requiredOption('--alias <name>', 'the disk alias', parseAlias)
    .option('--vm <id|name>', 'attach the disk to this VM (id or name)', parseVmRef)
    .addOption(
      new Option('--format <format>', 'volume format (default: the engine default for the domain)').choices([
        'cow',
        'raw',
      ]),
    )
    .addOption(new Option('--sparse', 'thin provisioned (the default)').conflicts('preallocated'))
    .addOption(new Option('--preallocated', 'fully allocated').conflicts('sparse'))
    .option('--wipe-after-delete', 'zero the volume when the disk is removed', false)
    .option('--command-id <uuid>', commandIdHelp, parseCommandUuid)
    .option('--wait', 'wait for the outcome and print it (exit 1 if the command fails)', false)
    .option('--json', 'print JSON', false)
    .action(async (flags: AddDiskFlags) => {
      const settings = loadCliSettings();
      await withInventory(settings.inventoryUrl, async (inventory) => {
        const domainId = await resolveDomain(inventory, flags.domain);
        const vmId = flags.vm ? await resolveVm(inventory, flags.vm) : null;
        const input = {
          domainId,
          sizeBytes: flags.size,
          alias: flags.alias,
          vmId,
          ...(flags.format ? { format: flags.format } : {}),
          ...(flags.sparse || flags.preallocated ? { sparse: !flags.preallocated } : {}),
          wipeAfterDelete: flags.wipeAfterDelete,
          ...(flags.commandId ? { commandId: flags.commandId } : {}),
        };
        await submitAndReport(settings, flags, (client) =>
          submitAddDisk(client, input, { taskQueue: settings.taskQueue, inventory }),
        );
      });
    });
  submit
    .command('create-snapshot')
    .description(
      'cold snapshot of a VM that is Down: a new COW volume on each disk, all or nothing (CreateSnapshot → CreateSnapshotDisk)',
    )
    .requiredOption('--vm <id|name>', 'VM id or name (looked up in the inventory)', parseVmRef)
    .requiredOption('--description <text>', 'the snapshot description', parseDescription)
    .option(
      '--disks <id,id>',
      'only these disks of the VM (default: every disk that can be snapshotted)',
      parseDiskIds,
    )
    .option('--command-id <uuid>', commandIdHelp, parseCommandUuid)
    .option('--wait', 'wait for the outcome and print it (exit 1 if the command fails)', false)
    .option('--json', 'print JSON', false)
    .action(async (flags: CreateSnapshotFlags) => {
      const settings = loadCliSettings();
      await withInventory(settings.inventoryUrl, async (inventory) => {
        const vmId = await resolveVm(inventory, flags.vm);
        const input = {
          vmId,
          description: flags.description,
          ...(flags.disks ? { diskIds: flags.disks } : {}),
          ...(flags.commandId ? { commandId: flags.commandId } : {}),
        };
        await submitAndReport(settings, flags, (client) =>
          submitCreateSnapshot(client, input, { taskQueue: settings.taskQueue, inventory }),
        );
      });
    });
  submit
    .command('remove-snapshot')
    .description(
      "cold removal of a snapshot of a VM that is Down: per disk, the snapshot's volume and its child merged (PrepareMerge task, SDM.merge host job, FinalizeMerge task, Image.deleteVolumes task), forward only (RemoveSnapshot)",
    )
    .requiredOption('--vm <id|name>', 'VM id or name (looked up in the inventory)', parseVmRef)
    .requiredOption('--snapshot <id>', 'the snapshot id (UUID)', parseSnapshotId)
    .option('--wait', 'wait for the outcome and print it (exit 1 if the command fails)', false)
    .option('--json', 'print JSON', false)
    .action(async (flags: SubmitFlags & { vm: VmRef; snapshot: string }) => {
      const settings = loadCliSettings();
      await withInventory(settings.inventoryUrl, async (inventory) => {
        const vmId = await resolveVm(inventory, flags.vm);
        await submitAndReport(settings, flags, (client) =>
          submitRemoveSnapshot(
            client,
            { vmId, snapshotId: flags.snapshot },
            { taskQueue: settings.taskQueue, inventory },
          ),
        );
      });
    });
  submit
    .command('move-disk')
    .description(
      'cold move of a disk to another storage domain (VMs using it Down): destination volume, data copy (host job), source removed (MoveDisk)',
    )
    .requiredOption('--disk <id>', 'the disk id', parseDiskId)
    .requiredOption('--to <id|name>', 'destination storage domain id or name', parseDomainRef)
    .option('--wait', 'wait for the outcome and print it (exit 1 if the command fails)', false)
    .option('--json', 'print JSON', false)
    .action(async (flags: SubmitFlags & { disk: string; to: NameRef }) => {
      const settings = loadCliSettings();
      await withInventory(settings.inventoryUrl, async (inventory) => {
        const toDomainId = await resolveDomain(inventory, flags.to, '--to');
        await submitAndReport(settings, flags, (client) =>
          submitMoveDisk(
            client,
            { diskId: flags.disk, toDomainId },
            { taskQueue: settings.taskQueue, inventory },
          ),
        );
      });
    });
  submit
    .command('copy-disk')
    .description('cold copy of a disk to a new floating disk on a storage domain (CopyDisk)')
    .requiredOption('--disk <id>', 'the disk id', parseDiskId)
    .requiredOption('--to <id|name>', 'destination storage domain id or name', parseDomainRef)
    .option('--alias <name>', "the copy's alias (default: <alias>_copy)", parseAlias)
    .option('--command-id <uuid>', commandIdHelp, parseCommandUuid)
    .option('--wait', 'wait for the outcome and print it (exit 1 if the command fails)', false)
    .option('--json', 'print JSON', false)
    .action(
      async (flags: SubmitFlags & { disk: string; to: NameRef; alias?: string; commandId?: string }) => {
        const settings = loadCliSettings();
        await withInventory(settings.inventoryUrl, async (inventory) => {
          const toDomainId = await resolveDomain(inventory, flags.to, '--to');
          const input = {
            diskId: flags.disk,
            toDomainId,
            ...(flags.alias ? { alias: flags.alias } : {}),
            ...(flags.commandId ? { commandId: flags.commandId } : {}),
          };
          await submitAndReport(settings, flags, (client) =>
            submitCopyDisk(client, input, { taskQueue: settings.taskQueue, inventory }),
          );
        });
      },
    );
}
