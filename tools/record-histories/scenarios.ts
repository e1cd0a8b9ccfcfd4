/**
 * The paths record-histories records, one data center each: add a scenario here when a workflow
 * gains a path (test/replay.test.ts then replays it once the set is recorded again).
 */
import { submitRemoveDisk, submitRemoveVm } from '../../src/client';
import { workflowIds } from '../../src/shared/names';
import type { taskJanitorWorkflow } from '../../src/workflows';
import {
  allStepsPolling,
  removeImageBehindTheEnginesBack,
  startAddDisk,
  startMoveOrCopy,
  startRemoveSnapshot,
  startSnapshot,
  type Scenario,
} from './helpers';

/** Short enough to record quickly, long enough for each step to poll. */
const REMOVE_SNAPSHOT_DURATIONS = {
  'Volume.create': 100,
  'StoragePool.prepareMerge': 100,
  'SDM.merge': 300,
  'StoragePool.finalizeMerge': 100,
  'Image.deleteVolumes': 100,
};

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
  {
    name: 'add-disk-success',
    description: 'AddDisk of a floating disk on the block domain: one Volume.create task',
    faults: { durations: { 'Volume.create': 300 } },
    async run(ctx) {
      return [{ workflowId: await startAddDisk(ctx, 'iscsi', 'scratch-01'), expect: 'COMPLETED' }];
    },
  },
  {
    name: 'add-disk-task-failure',
    description: 'AddDisk whose Volume.create task fails (code 100): the rows go',
    faults: {
      durations: { 'Volume.create': 300 },
      failures: [{ verb: 'Volume.create', phase: 'task', code: 100, count: 1 }],
    },
    async run(ctx) {
      return [{ workflowId: await startAddDisk(ctx, 'nfs', 'doomed-01'), expect: 'FAILED' }];
    },
  },
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
  {
    name: 'create-snapshot-success',
    description: 'CreateSnapshot of web-01: a new COW leaf on each of its 4 disks, committed',
    faults: { durations: { 'Volume.create': 300 } },
    async run(ctx) {
      return [{ workflowId: await startSnapshot(ctx, 'web-01', 'nightly'), expect: 'COMPLETED' }];
    },
  },
  {
    name: 'create-snapshot-reverted',
    description: 'CreateSnapshot of web-01 where one Volume.create task fails: the 3 others are reverted',
    faults: {
      durations: { 'Volume.create': 300 },
      failures: [{ verb: 'Volume.create', phase: 'task', code: 100, count: 1 }],
    },
    async run(ctx) {
      return [{ workflowId: await startSnapshot(ctx, 'web-01', 'doomed'), expect: 'FAILED' }];
    },
  },
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
  {
    name: 'move-disk-success',
    description:
      'MoveDisk of a floating disk to another NFS domain: Volume.create, SDM.copy_data, Image.delete of the source',
    faults: { durations: { 'Volume.create': 200, 'SDM.copy_data': 300, 'Image.delete': 200 } },
    async run(ctx) {
      return [{ workflowId: await startMoveOrCopy(ctx, 'move'), expect: 'COMPLETED' }];
    },
  },
  {
    name: 'move-disk-copy-failure',
    description: 'MoveDisk whose SDM.copy_data job fails: the destination is removed, the source untouched',
    faults: {
      durations: { 'Volume.create': 200, 'SDM.copy_data': 300, 'Image.delete': 200 },
      failures: [{ verb: 'SDM.copy_data', phase: 'task', code: 100, count: 1 }],
    },
    async run(ctx) {
      return [{ workflowId: await startMoveOrCopy(ctx, 'move'), expect: 'FAILED' }];
    },
  },
  {
    name: 'copy-disk-success',
    description: 'CopyDisk of a floating disk to a new disk on another NFS domain',
    faults: { durations: { 'Volume.create': 200, 'SDM.copy_data': 300 } },
    async run(ctx) {
      return [{ workflowId: await startMoveOrCopy(ctx, 'copy'), expect: 'COMPLETED' }];
    },
  },
  {
    name: 'remove-snapshot-success',
    description:
      'RemoveSnapshot of a fresh snapshot of web-01: per disk PrepareMerge, SDM.merge, FinalizeMerge, Image.deleteVolumes',
    faults: { durations: REMOVE_SNAPSHOT_DURATIONS },
    async run(ctx) {
      return [{ workflowId: await startRemoveSnapshot(ctx, 'web-01', 'to remove'), expect: 'COMPLETED' }];
    },
  },
  {
    name: 'remove-snapshot-prepare-failure',
    description:
      'RemoveSnapshot of web-01 where its StoragePool.prepareMerge task fails on one disk: that disk keeps its chain, the others merge',
    faults: {
      durations: REMOVE_SNAPSHOT_DURATIONS,
      failures: [{ verb: 'StoragePool.prepareMerge', phase: 'task', code: 100, count: 1 }],
    },
    async run(ctx) {
      return [
        {
          workflowId: await startRemoveSnapshot(ctx, 'web-01', 'remove-snapshot-prepare-failure'),
          expect: 'FAILED',
        },
      ];
    },
  },
  {
    name: 'remove-snapshot-merge-failure',
    description:
      'RemoveSnapshot of web-01 where its SDM.merge job fails on one disk: no FinalizeMerge for it, the others merge',
    faults: {
      durations: REMOVE_SNAPSHOT_DURATIONS,
      failures: [{ verb: 'SDM.merge', phase: 'task', code: 100, count: 1 }],
    },
    async run(ctx) {
      return [
        {
          workflowId: await startRemoveSnapshot(ctx, 'web-01', 'remove-snapshot-merge-failure'),
          expect: 'FAILED',
        },
      ];
    },
  },
  {
    name: 'remove-snapshot-finalize-failure',
    description:
      'RemoveSnapshot of web-01 where its StoragePool.finalizeMerge task fails on one disk: storage unchanged, the disk OK',
    faults: {
      durations: REMOVE_SNAPSHOT_DURATIONS,
      failures: [{ verb: 'StoragePool.finalizeMerge', phase: 'task', code: 100, count: 1 }],
    },
    async run(ctx) {
      return [
        {
          workflowId: await startRemoveSnapshot(ctx, 'web-01', 'remove-snapshot-finalize-failure'),
          expect: 'FAILED',
        },
      ];
    },
  },
  {
    name: 'remove-snapshot-destroy-failure',
    description:
      'RemoveSnapshot of web-01 where its Image.deleteVolumes task fails on one disk: the top stays ILLEGAL outside the chain',
    faults: {
      durations: REMOVE_SNAPSHOT_DURATIONS,
      failures: [{ verb: 'Image.deleteVolumes', phase: 'task', code: 100, count: 1 }],
    },
    async run(ctx) {
      return [
        {
          workflowId: await startRemoveSnapshot(ctx, 'web-01', 'remove-snapshot-destroy-failure'),
          expect: 'FAILED',
        },
      ];
    },
  },
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
