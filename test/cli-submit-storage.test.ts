/**
 * `submit add-disk` and `submit create-snapshot` of the BUILT CLI: flags checked when parsed,
 * names resolved in the inventory, the shared refusal rules answered, all before anything starts
 * (exit 2 naming the flag); what a start records (search attributes, one run per command id).
 * No worker polls the task queue: the runs only need to exist, not to run (the end-to-end test
 * of the workflows is elsewhere).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ExitCode } from '../src/cli/exit-codes';
import { generateDataCenter, type DataCenterFixture } from '../src/fixture';
import { openInventory } from '../src/inventory';
import { workflowIds } from '../src/shared/names';
import { SA } from '../src/shared/search-attributes';
import { assertCliBuilt, runCliSync, type CliResult } from './support/cli';
import { testAddress, testClient, TEST_NAMESPACE, uniqueTaskQueue } from './support/temporal';

jest.setTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-submit-storage-'));
const inventoryUrl = `sqlite:${join(dir, 'inventory.db')}`;
const fixture: DataCenterFixture = generateDataCenter({ name: 'st', vmCount: 12 });
const GiB = 1024 ** 3;
const nfs = fixture.domains.find((d) => d.name === 'st-nfs-02')!;
const iscsi = fixture.domains.find((d) => d.name === 'st-iscsi-01')!;
const downVm = fixture.vms.find((vm) => vm.status === 'Down' && fixture.disks.some((d) => d.vmId === vm.id))!;
const upVm = fixture.vms.find((vm) => vm.status === 'Up')!;
const diskOf = (vmId: string): DataCenterFixture['disks'][number] =>
  fixture.disks.find((d) => d.vmId === vmId)!;

beforeAll(async () => {
  assertCliBuilt();
  const inventory = openInventory(inventoryUrl);
  await inventory.init({ fixture, vdsmAddress: '127.0.0.1', vdsmBasePort: 54321 });
  await inventory.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bad input exits 2 naming the flag, before Temporal is contacted', () => {
  // A closed port: anything that reached Temporal would exit 3.
  const env = { TEMPORAL_ADDRESS: '127.0.0.1:1', OVIRT_TASKS_INVENTORY_URL: inventoryUrl };
  const addDisk = (...extra: string[]): string[] => [
    'submit',
    'add-disk',
    '--domain',
    nfs.name,
    '--alias',
    'data-1',
    ...extra,
  ];

  it.each([
    [
      addDisk('--size', '0'),
      "option '--size <bytes|10G|512M|1T>' argument '0' is invalid. must be more than 0 bytes",
    ],
    [addDisk('--size', '10Q'), 'must be a size in bytes or with a unit: 512M, 10G, 1T'],
    [addDisk('--size', '0x10'), 'must be a size in bytes or with a unit'],
    [addDisk('--size', '2000T'), 'must be at most 1 PiB'],
    [addDisk(), "required option '--size <bytes|10G|512M|1T>' not specified"],
    [
      addDisk('--size', '1G', '--sparse', '--preallocated'),
      "option '--sparse' cannot be used with option '--preallocated'",
    ],
    [addDisk('--size', '1G', '--format', 'qcow'), "argument 'qcow' is invalid. Allowed choices are cow, raw"],
    [
      addDisk('--size', '1G', '--command-id', '12'),
      "option '--command-id <uuid>' argument '12' is invalid. must be a UUID",
    ],
    [addDisk('--size', '1G', '--vm', '--wait'), 'looks like an option, not a value'],
    [
      ['submit', 'add-disk', '--domain', nfs.name, '--size', '1G', '--alias', 'a\tb'],
      "option '--alias <name>' argument 'a\tb' is invalid. must not contain control characters",
    ],
    [
      ['submit', 'add-disk', '--domain', 'no-such-domain', '--size', '1G', '--alias', 'a'],
      '--domain: no storage domain named no-such-domain in the inventory',
    ],
    [addDisk('--size', '1G', '--vm', 'no-such-vm'), '--vm: no VM named no-such-vm in the inventory'],
    [
      ['submit', 'create-snapshot', '--vm', 'no-such-vm', '--description', 'before upgrade'],
      '--vm: no VM named no-such-vm in the inventory',
    ],
    [
      ['submit', 'create-snapshot', '--vm', downVm.name, '--description', ''],
      "option '--description <text>' argument '' is invalid. must not be empty",
    ],
    [
      ['submit', 'create-snapshot', '--vm', downVm.name, '--description', 'x', '--disks', 'a,b'],
      "option '--disks <id,id>' argument 'a,b' is invalid. must be disk ids (UUIDs) separated by commas",
    ],
    [
      [
        'submit',
        'create-snapshot',
        '--vm',
        downVm.name,
        '--description',
        'x',
        '--disks',
        `${diskOf(downVm.id).id},${diskOf(downVm.id).id}`,
      ],
      'none repeated (must not repeat a disk)',
    ],
    [
      ['submit', 'create-snapshot', '--vm', downVm.name],
      "required option '--description <text>' not specified",
    ],
  ])('%j', (args, message) => {
    const result = runCliSync(args, env);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toContain('cannot reach Temporal');
    expect(result.status).toBe(ExitCode.Usage);
  });
});

describe('against the dev server', () => {
  let client: Client;
  let env: Record<string, string>;
  const started: string[] = [];

  beforeAll(async () => {
    client = await testClient();
    env = {
      TEMPORAL_ADDRESS: testAddress(),
      TEMPORAL_NAMESPACE: TEST_NAMESPACE,
      OVIRT_TASKS_INVENTORY_URL: inventoryUrl,
      OVIRT_TASKS_TASK_QUEUE: uniqueTaskQueue('submit-storage'),
    };
  });
  afterAll(async () => {
    await Promise.all(
      started.map((id) =>
        client.workflow
          .getHandle(id)
          .terminate('test cleanup')
          .catch(() => undefined),
      ),
    );
    await client.connection.close();
  });

  async function expectNoWorkflow(workflowId: string): Promise<void> {
    await expect(client.workflow.getHandle(workflowId).describe()).rejects.toThrow(WorkflowNotFoundError);
  }

  function submitted(result: CliResult): { workflowId: string; runId: string; started: boolean } {
    expect(result.stderr).toBe('');
    expect(result.status).toBe(ExitCode.Ok);
    const report = JSON.parse(result.stdout) as { workflowId: string; runId: string; started: boolean };
    started.push(report.workflowId);
    return report;
  }

  it.each([
    [
      'more than the domain has free',
      (): string[] => [
        'add-disk',
        '--domain',
        nfs.name,
        '--size',
        `${nfs.sizeBytes / GiB + 1}G`,
        '--alias',
        'big',
      ],
      'refused (NotEnoughSpace): storage domain st-nfs-02 has',
      '(--size)',
    ],
    [
      'raw and sparse on block storage',
      (): string[] => [
        'add-disk',
        '--domain',
        iscsi.name,
        '--size',
        '1G',
        '--alias',
        'r',
        '--format',
        'raw',
        '--sparse',
      ],
      'refused (VolumeFormatNotAllowed): a raw disk on block storage domain st-iscsi-01 must be preallocated',
      '(--format)',
    ],
    [
      'an alias the VM already has',
      (): string[] => [
        'add-disk',
        '--domain',
        nfs.name,
        '--size',
        '1G',
        '--vm',
        downVm.name,
        '--alias',
        diskOf(downVm.id).alias,
      ],
      `refused (DiskAliasInUse): VM ${downVm.name} already has a disk named ${diskOf(downVm.id).alias}`,
      '(--alias)',
    ],
    [
      'an unknown domain id',
      (): string[] => ['add-disk', '--domain', randomUUID(), '--size', '1G', '--alias', 'x'],
      'refused (StorageDomainNotFound): storage domain',
      '(--domain)',
    ],
    [
      'a snapshot of a VM that is Up',
      (): string[] => ['create-snapshot', '--vm', upVm.name, '--description', 'nightly'],
      `refused (VmStatusNotAllowed): VM ${upVm.name} is Up`,
      '(--vm)',
    ],
  ])('the shared rules refuse %s: exit 2 naming the flag, nothing started', (_what, args, message, flag) => {
    const commandId = randomUUID();
    const [command] = args();
    const result = runCliSync(['submit', ...args(), '--command-id', commandId], env);
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain(flag);
    expect(result.status).toBe(ExitCode.Usage);
    return expectNoWorkflow(
      command === 'add-disk' ? workflowIds.addDisk(commandId) : workflowIds.createSnapshot(commandId),
    );
  });

  test('add-disk starts AddDisk/<new id> each time, the same run again with --command-id; search attributes set at start', async () => {
    const args = [
      'submit',
      'add-disk',
      '--domain',
      nfs.name,
      '--size',
      '10G',
      '--alias',
      'data-7',
      '--vm',
      downVm.name,
    ];
    const first = submitted(runCliSync([...args, '--json'], env));
    const second = submitted(runCliSync([...args, '--json'], env));
    expect(first.workflowId).toMatch(/^AddDisk\/[0-9a-f-]{36}$/);
    expect(second.workflowId).not.toBe(first.workflowId);
    expect([first.started, second.started]).toEqual([true, true]);

    const commandId = first.workflowId.split('/')[1]!;
    const again = submitted(runCliSync([...args, '--command-id', commandId, '--json'], env));
    expect(again).toMatchObject({ workflowId: first.workflowId, runId: first.runId, started: false });

    const description = await client.workflow.getHandle(first.workflowId).describe();
    expect(description.type).toBe('addDiskWorkflow');
    expect(description.typedSearchAttributes.get(SA.CommandType)).toBe('AddDisk');
    expect(description.typedSearchAttributes.get(SA.CommandStatus)).toBe('ACTIVE');
    expect(description.typedSearchAttributes.get(SA.VmId)).toBe(downVm.id);
    expect(description.typedSearchAttributes.get(SA.StoragePoolId)).toBe(fixture.pool.id);
    expect(await description.staticSummary()).toBe(
      `Add disk data-7 (10 GiB, RAW SPARSE) on ${nfs.name} to VM ${downVm.name}`,
    );
  });

  test('create-snapshot starts CreateSnapshot/<new id> with the VM, its pool and its disks as search attributes', async () => {
    const disk = diskOf(downVm.id);
    const report = submitted(
      runCliSync(
        [
          'submit',
          'create-snapshot',
          '--vm',
          downVm.id,
          '--description',
          'before upgrade',
          '--disks',
          disk.id,
          '--json',
        ],
        env,
      ),
    );
    expect(report).toMatchObject({
      workflowId: expect.stringMatching(/^CreateSnapshot\/[0-9a-f-]{36}$/),
      started: true,
    });
    const description = await client.workflow.getHandle(report.workflowId).describe();
    expect(description.type).toBe('createSnapshotWorkflow');
    expect(description.typedSearchAttributes.get(SA.CommandType)).toBe('CreateSnapshot');
    expect(description.typedSearchAttributes.get(SA.CommandStatus)).toBe('ACTIVE');
    expect(description.typedSearchAttributes.get(SA.VmId)).toBe(downVm.id);
    expect(description.typedSearchAttributes.get(SA.StoragePoolId)).toBe(fixture.pool.id);
    expect(description.typedSearchAttributes.get(SA.ImageIds)).toEqual([disk.id]);
    expect(await description.staticSummary()).toBe(`Snapshot VM ${downVm.name}: 1 disk, before upgrade`);

    // `list` without --type shows the new top-level commands (visibility lags a little).
    let listing: { query: string; commands: Array<{ workflowId: string }> } | undefined;
    for (let i = 0; i < 40; i++) {
      const result = runCliSync(['list', '--vm', downVm.name, '--json'], env);
      listing = JSON.parse(result.stdout) as typeof listing;
      if (listing!.commands.some((c) => c.workflowId === report.workflowId)) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(listing!.query).toBe(
      `CommandType IN ('RemoveVm', 'RemoveDisk', 'AddDisk', 'CreateSnapshot', 'MoveDisk', 'CopyDisk', 'RemoveSnapshot') AND VmId = '${downVm.id}'`,
    );
    expect(listing!.commands.map((c) => c.workflowId)).toEqual(
      expect.arrayContaining([report.workflowId, ...started.filter((id) => id.startsWith('AddDisk/'))]),
    );
  });
});
