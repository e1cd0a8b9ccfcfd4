/**
 * The invariants of cold MoveDisk and CopyDisk, and of the host jobs behind them: a moved disk is
 * on its destination only, with the chain it had; a failed move or any copy leaves the source as
 * it was; a copy is one volume on its destination; no image of the disk on a domain the inventory
 * does not name; no host job still pending or running once every command closed.
 */
import type { MoveOrCopyResult } from '../../src/shared/commands';
import type { AddViolation, Closed } from './invariants';
import { storageChain, type ChainRow, type StorageWorld } from './volume-checks';

const show = (chain: ChainRow[] | undefined): string =>
  chain ? `[${chain.map(([id, , leaf]) => `${id.slice(0, 8)}${leaf ? '*' : ''}`).join(' ← ')}]` : 'no image';
const same = (a: ChainRow[] | undefined, b: ChainRow[] | undefined): boolean =>
  JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

export async function checkMoveOrCopyCommands(
  stack: StorageWorld,
  closed: Closed[],
  before: ReadonlyMap<string, ChainRow[] | undefined>,
  add: AddViolation,
): Promise<void> {
  const fixture = stack.fixtures[0]!;
  const sourceOf = new Map(fixture.disks.map((d) => [d.id, d.domainId]));
  const domains = fixture.domains.map((d) => d.id);
  for (const { command, outcome } of closed) {
    if ((command.kind !== 'MoveDisk' && command.kind !== 'CopyDisk') || !outcome) continue;
    const diskId = command.vm.diskIds[0]!;
    const src = sourceOf.get(diskId)!;
    const disk = await stack.inventory.getDisk(diskId);
    const had = before.get(diskId);
    const moved = command.kind === 'MoveDisk' && outcome.completed;
    const home = moved ? (outcome.result as MoveOrCopyResult).domainId : src;
    const what = `${command.workflowId} (${outcome.label})`;
    if (disk?.domainId !== home || disk.status !== 'OK') {
      add(
        'outcomeConsistent',
        `${what}: disk ${diskId} is ${disk?.status ?? 'gone'} on ${disk?.domainId}, expected OK on ${home}`,
      );
    }
    const chain = storageChain(stack, home, diskId);
    if (!same(chain, had)) {
      add('outcomeConsistent', `${what}: disk ${diskId} has ${show(chain)} on ${home}, had ${show(had)}`);
    }
    // The image lives on one domain: the one the inventory names (a failed move removed its copy).
    const elsewhere = domains.filter((d) => d !== home && storageChain(stack, d, diskId) !== undefined);
    if (elsewhere.length) {
      add('storageAgrees', `${what}: disk ${diskId} also has an image on ${elsewhere.join(', ')}`);
    }
    if (command.kind === 'CopyDisk' && outcome.completed) {
      const copy = outcome.result as MoveOrCopyResult;
      const record = await stack.inventory.getDisk(copy.diskId);
      const copied = storageChain(stack, copy.domainId, copy.diskId);
      const expected: ChainRow[] = [[copy.volumeId, null, true]];
      if (record?.status !== 'OK' || record.domainId !== copy.domainId || !same(copied, expected)) {
        add(
          'outcomeConsistent',
          `${what}: the copy ${copy.diskId} is ${record?.status ?? 'gone'} with ${show(copied)}, expected OK with ${show(expected)}`,
        );
      }
    }
  }
}

/** Once every command closed, no host job may still be pending or running (ended ones stay listed for an hour). */
export function checkNoJobsLeft(stack: StorageWorld, add: AddViolation): void {
  const sim = stack.sim(stack.fixtures[0]!.pool.id);
  for (const [hostId, jobs] of Object.entries(sim.listJobs())) {
    for (const job of Object.values(jobs)) {
      if (job.status === 'pending' || job.status === 'running')
        add('noJobsLeft', `job ${job.id} (${job.description}) is ${job.status} on host ${hostId}`);
    }
  }
}
