/**
 * The AddDisk and CreateSnapshot part of a bench run: for each, warm-up commands (their histories
 * give the shape), the measured run, then its same-shape baseline with as many parents and
 * children, on the same server in the same run.
 */
import { addDiskDomain } from '../chaos/commands';
import type { VmPlan } from '../support/fixtures';
import type { Ctx } from '../run/context';
import type { BenchResult } from '../run/result';
import { baselinePhase } from './baseline';
import { baselineShapeOf, volumePhase, volumeWarmup, type VolumeTarget } from './volume-commands';

export async function runVolumePhases(ctx: Ctx, result: BenchResult): Promise<void> {
  const { options } = ctx;
  const vms = (prefix: string, n: number): VmPlan[] =>
    Array.from({ length: n }, (_, i) => ctx.vms.get(`${prefix}-${i}`)!);
  result.volumeShapes = {};

  if (options.addDisks > 0) {
    const domain: VolumeTarget = { domainId: addDiskDomain(ctx.stack.fixtures[0]!) };
    const shape = await volumeWarmup(
      ctx,
      'AddDisk',
      Array.from({ length: Math.max(1, options.warmup) }, () => domain),
    );
    result.volumeShapes.addDisk = shape;
    result.phases.addDisk = await volumePhase(
      ctx,
      'AddDisk',
      Array.from({ length: options.addDisks }, () => domain),
    );
    if (options.baseline) {
      result.phases.addDiskBaseline = await baselinePhase(ctx, baselineShapeOf('AddDisk', shape, 1), {
        label: 'add-disk',
        commands: options.addDisks,
        warmup: options.warmup,
      });
    }
  }

  if (options.snapshots > 0) {
    const warm = vms('snap-warm', options.warmup);
    // Without warm-up VMs, the first measured VM is snapshotted twice (the shape is all it gives).
    const shape = await volumeWarmup(
      ctx,
      'CreateSnapshot',
      (warm.length ? warm : vms('snap', 1)).map((vm) => ({ vm })),
    );
    result.volumeShapes.createSnapshot = shape;
    result.phases.createSnapshot = await volumePhase(
      ctx,
      'CreateSnapshot',
      vms('snap', options.snapshots).map((vm) => ({ vm })),
    );
    if (options.baseline) {
      result.phases.createSnapshotBaseline = await baselinePhase(
        ctx,
        baselineShapeOf('CreateSnapshot', shape, options.images),
        { label: 'create-snapshot', commands: options.snapshots, warmup: options.warmup },
      );
    }
  }
}
