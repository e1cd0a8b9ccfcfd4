/**
 * The paths record-histories records, one data center each: add a scenario here when a workflow
 * gains a path (test/replay.test.ts then replays it once the set is recorded again).
 */
import { submitRemoveDisk, submitRemoveVm } from '../../src/client';
import { workflowIds } from '../../src/shared/names';
import type { FaultConfigInput } from '../../src/vdsm-sim/faults';
import type { taskJanitorWorkflow } from '../../src/workflows';
import {
  allStepsPolling,
  removeImageBehindTheEnginesBack,
  startAddDisk,
  startMoveOrCopy,
  startRemoveSnapshot,
  startSnapshot,
  type CloseStatus,
  type Scenario,
  type ScenarioContext,
} from './helpers';

/** Short enough to record quickly, long enough for each step to poll. */
const REMOVE_SNAPSHOT_DURATIONS = {
  'Volume.create': 100,
  'StoragePool.prepareMerge': 100,
  'SDM.merge': 300,
  'StoragePool.finalizeMerge': 100,
  'Image.deleteVolumes': 100,
};

const MOVE_DISK_DURATIONS = { 'Volume.create': 200, 'SDM.copy_data': 300, 'Image.delete': 200 };

/** The first task of `verb` fails (code 100). */
function taskFailsOnce(verb: string): NonNullable<FaultConfigInput['failures']>[number] {
  return { verb, phase: 'task', code: 100, count: 1 };
}

/** RemoveSnapshot failing on one disk at each stage: the verb that fails, what the recording shows. */
const REMOVE_SNAPSHOT_STAGE_FAILURES = [
  {
    stage: 'prepare',
    verb: 'StoragePool.prepareMerge',
    description:
      'RemoveSnapshot of web-01 where its StoragePool.prepareMerge task fails on one disk: that disk keeps its chain, the others merge',
  },
  {
    stage: 'merge',
    verb: 'SDM.merge',
    description:
      'RemoveSnapshot of web-01 where its SDM.merge job fails on one disk: no FinalizeMerge for it, the others merge',
  },
  {
    stage: 'finalize',
    verb: 'StoragePool.finalizeMerge',
    description:
      'RemoveSnapshot of web-01 where its StoragePool.finalizeMerge task fails on one disk: storage unchanged, the disk OK',
  },
  {
    stage: 'destroy',
    verb: 'Image.deleteVolumes',
    description:
      'RemoveSnapshot of web-01 where its Image.deleteVolumes task fails on one disk: the top stays ILLEGAL outside the chain',
  },
];

/** A scenario that starts one command (`start` returns its workflow id) and expects it to close as `expect`. */
function oneCommand(
  name: string,
  description: string,
  faults: FaultConfigInput,
  expect: CloseStatus,
  start: (ctx: ScenarioContext) => Promise<string>,
): Scenario {
  return {
    name,
    description,
    faults,
    async run(ctx) {
      return [{ workflowId: await start(ctx), expect }];
    },
  };
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'remove-vm-success',
    description: 'RemoveVm of web-01: 4 images removed',
    faults: { durations: { 'Image.delete': 300 } },
    async run(ctx) {
      const { handle } = await submitRemoveVm(
        ctx.client,
        { vmId: ctx.vm('web-01').id },
        { taskQueue: ctx.taskQueue, inventory: ctx.inventory },
      );
      return [{ workflowId: handle.workflowId, expect: 'COMPLETED' }];
    },
  },
  {
    name: 'remove-vm-partial-failure',
    description:
      'RemoveVm of web-01: one Image.delete task fails (code 100), the VM ends with an illegal disk',
    faults: {
      durations: { 'Image.delete': 300 },
      failures: [{ verb: 'Image.delete', phase: 'task', code: 100, count: 1 }],
    },
    async run(ctx) {
      const { handle } = await submitRemoveVm(
        ctx.client,
        { vmId: ctx.vm('web-01').id },
        { taskQueue: ctx.taskQueue, inventory: ctx.inventory },
      );
      return [{ workflowId: handle.workflowId, expect: 'FAILED' }];
    },
  },
  {
    name: 'remove-vm-cancelled',
    description:
      'RemoveVm of web-01 cancelled while its 4 VDSM tasks run: stopped; VDSM lets the purges finish, the images are gone',
    faults: { durations: { 'Image.delete': 3_000 }, rollbackMs: 300 },
    async run(ctx) {
      const { handle } = await submitRemoveVm(
        ctx.client,
        { vmId: ctx.vm('web-01').id },
        { taskQueue: ctx.taskQueue, inventory: ctx.inventory },
      );
      await allStepsPolling(ctx, handle.workflowId, 4);
      await handle.cancel();
      return [{ workflowId: handle.workflowId, expect: 'CANCELLED' }];
    },
  },
  {
    name: 'remove-vm-spm-failover',
    description:
      'RemoveVm of web-01 while the SPM role moves to another host mid-task: the lost tasks roll back, 4 illegal disks',
    faults: { durations: { 'Image.delete': 60_000 }, rollbackMs: 200 },
    async run(ctx) {
      const { handle } = await submitRemoveVm(
        ctx.client,
        { vmId: ctx.vm('web-01').id },
        { taskQueue: ctx.taskQueue, inventory: ctx.inventory },
      );
      await allStepsPolling(ctx, handle.workflowId, 4);
      await ctx.sim.failover();
      return [{ workflowId: handle.workflowId, expect: 'FAILED' }];
    },
  },
  {
    name: 'remove-disk-restarted-after-recovery',
    description:
      'RemoveDisk of a wipe-after-delete disk on the block domain while VDSM restarts: the zeroing task, still waiting for its locks, is rolled back by recovery with the image untouched, and the step starts Image.delete once more',
    faults: { acquireMs: { 'Image.delete': 60_000 }, durations: { 'Image.delete': 300 }, rollbackMs: 100 },
    async run(ctx) {
      const block = ctx.fixture.domains.find((d) => d.storageType === 'iscsi');
      const disk = ctx.fixture.disks.find(
        (d) => d.vmId === null && d.wipeAfterDelete && d.domainId === block?.id,
      );
      if (!disk)
        throw new Error('the data center has no floating wipe-after-delete disk on the block domain');
      const { handle } = await submitRemoveDisk(
        ctx.client,
        { diskId: disk.id },
        { taskQueue: ctx.taskQueue, inventory: ctx.inventory },
      );
      await allStepsPolling(ctx, handle.workflowId, 1);
      ctx.sim.setFaults({ acquireMs: null });
      await ctx.sim.restart();
      return [{ workflowId: handle.workflowId, expect: 'COMPLETED' }];
    },
  },
  {
    name: 'remove-vm-image-already-gone',
    description:
      'RemoveVm of web-01 whose first image was already removed: VDSM answers 268, that step ends at once',
    faults: { durations: { 'Image.delete': 100 } },
    async run(ctx) {
      const vm = ctx.vm('web-01');
      await removeImageBehindTheEnginesBack(ctx, vm.disks[0]!);
      const { handle } = await submitRemoveVm(
        ctx.client,
        { vmId: vm.id },
        { taskQueue: ctx.taskQueue, inventory: ctx.inventory },
      );
      return [{ workflowId: handle.workflowId, expect: 'COMPLETED' }];
    },
  },
  {
    name: 'remove-vm-refused',
    description: 'RemoveVm of a VM that is Up: validation refuses it before anything is locked',
    async run(ctx) {
      const upVm = ctx.fixture.vms.find((v) => v.status === 'Up');
      if (!upVm) throw new Error('the data center has no Up VM');
      const { handle } = await submitRemoveVm(ctx.client, { vmId: upVm.id }, { taskQueue: ctx.taskQueue });
      return [{ workflowId: handle.workflowId, expect: 'FAILED' }];
    },
  },
  {
    name: 'remove-disk-success',
    description: 'RemoveDisk of a floating disk',
    faults: { durations: { 'Image.delete': 300 } },
    async run(ctx) {
      const disk = ctx.fixture.disks.find((d) => d.vmId === null);
      if (!disk) throw new Error('the data center has no floating disk');
      const { handle } = await submitRemoveDisk(
        ctx.client,
        { diskId: disk.id },
        { taskQueue: ctx.taskQueue, inventory: ctx.inventory },
      );
      return [{ workflowId: handle.workflowId, expect: 'COMPLETED' }];
    },
  },
  oneCommand(
    'add-disk-success',
    'AddDisk of a floating disk on the block domain: one Volume.create task',
    { durations: { 'Volume.create': 300 } },
    'COMPLETED',
    (ctx) => startAddDisk(ctx, 'iscsi', 'scratch-01'),
  ),
  oneCommand(
    'add-disk-task-failure',
    'AddDisk whose Volume.create task fails (code 100): the rows go',
    { durations: { 'Volume.create': 300 }, failures: [taskFailsOnce('Volume.create')] },
    'FAILED',
    (ctx) => startAddDisk(ctx, 'nfs', 'doomed-01'),
  ),
  {
    name: 'add-disk-cancelled',
    description: 'AddDisk cancelled while Volume.create runs: stopped, rolled back, the rows go',
    faults: { durations: { 'Volume.create': 3_000 }, rollbackMs: 200 },
    async run(ctx) {
      const workflowId = await startAddDisk(ctx, 'nfs', 'cancelled-01');
      await allStepsPolling(ctx, workflowId, 1);
      await ctx.client.workflow.getHandle(workflowId).cancel();
      return [{ workflowId, expect: 'CANCELLED' }];
    },
  },
  oneCommand(
    'create-snapshot-success',
    'CreateSnapshot of web-01: a new COW leaf on each of its 4 disks, committed',
    { durations: { 'Volume.create': 300 } },
    'COMPLETED',
    (ctx) => startSnapshot(ctx, 'web-01', 'nightly'),
  ),
  oneCommand(
    'create-snapshot-reverted',
    'CreateSnapshot of web-01 where one Volume.create task fails: the 3 others are reverted',
    { durations: { 'Volume.create': 300 }, failures: [taskFailsOnce('Volume.create')] },
    'FAILED',
    (ctx) => startSnapshot(ctx, 'web-01', 'doomed'),
  ),
  {
    name: 'create-snapshot-cancelled',
    description: 'CreateSnapshot of web-01 cancelled while its 4 tasks run: stopped, rolled back, cleared',
    faults: { durations: { 'Volume.create': 3_000 }, rollbackMs: 200 },
    async run(ctx) {
      const workflowId = await startSnapshot(ctx, 'web-01', 'cancelled');
      await allStepsPolling(ctx, workflowId, 4);
      await ctx.client.workflow.getHandle(workflowId).cancel();
      return [{ workflowId, expect: 'CANCELLED' }];
    },
  },
  oneCommand(
    'move-disk-success',
    'MoveDisk of a floating disk to another NFS domain: Volume.create, SDM.copy_data, Image.delete of the source',
    { durations: MOVE_DISK_DURATIONS },
    'COMPLETED',
    (ctx) => startMoveOrCopy(ctx, 'move'),
  ),
  oneCommand(
    'move-disk-copy-failure',
    'MoveDisk whose SDM.copy_data job fails: the destination is removed, the source untouched',
    { durations: MOVE_DISK_DURATIONS, failures: [taskFailsOnce('SDM.copy_data')] },
    'FAILED',
    (ctx) => startMoveOrCopy(ctx, 'move'),
  ),
  oneCommand(
    'copy-disk-success',
    'CopyDisk of a floating disk to a new disk on another NFS domain',
    { durations: { 'Volume.create': 200, 'SDM.copy_data': 300 } },
    'COMPLETED',
    (ctx) => startMoveOrCopy(ctx, 'copy'),
  ),
  oneCommand(
    'remove-snapshot-success',
    'RemoveSnapshot of a fresh snapshot of web-01: per disk PrepareMerge, SDM.merge, FinalizeMerge, Image.deleteVolumes',
    { durations: REMOVE_SNAPSHOT_DURATIONS },
    'COMPLETED',
    (ctx) => startRemoveSnapshot(ctx, 'web-01', 'to remove'),
  ),
  // One disk's task or job fails at each stage in turn; the snapshot's description is the scenario's name.
  ...REMOVE_SNAPSHOT_STAGE_FAILURES.map(({ stage, verb, description }) =>
    oneCommand(
      `remove-snapshot-${stage}-failure`,
      description,
      { durations: REMOVE_SNAPSHOT_DURATIONS, failures: [taskFailsOnce(verb)] },
      'FAILED',
      (ctx) => startRemoveSnapshot(ctx, 'web-01', `remove-snapshot-${stage}-failure`),
    ),
  ),
  {
    name: 'task-janitor',
    description: "One sweep of the pool's SPM tasks (what the janitor Schedule runs every interval)",
    async run(ctx) {
      const poolId = ctx.fixture.pool.id;
      const workflowId = workflowIds.taskJanitor(poolId);
      await ctx.client.workflow.execute(
        'taskJanitorWorkflow' satisfies (typeof taskJanitorWorkflow)['name'],
        { workflowId, taskQueue: ctx.taskQueue, args: [{ poolId }] },
      );
      return [{ workflowId, expect: 'COMPLETED' }];
    },
  },
];
