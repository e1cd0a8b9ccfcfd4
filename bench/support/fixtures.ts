/** The bench's data centers: VMs with exact disk counts, grouped by what each phase removes. */
import { generateDataCenter, type DataCenterFixture } from '../../src/fixture';

export interface VmPlan {
  name: string;
  id: string;
  poolId: string;
  diskIds: string[];
}

export interface PoolPlan {
  name: string;
  vms: Array<{ name: string; disks: number }>;
}

/** Room left on every domain once the fixture's disks are counted: AddDisk must find space. */
const SPARE_BYTES = 16 * 1024 ** 4;

/**
 * Builds one fixture per pool plan (no generated VMs: only the exact ones asked for). Hundreds of
 * generated disks overcommit the default domain sizes (free space below zero refuses every
 * AddDisk), so each domain is grown to its disks plus SPARE_BYTES.
 */
export function buildFixtures(pools: PoolPlan[]): DataCenterFixture[] {
  return pools.map((p, index) => {
    const fixture = generateDataCenter({ name: p.name, seed: 1000 + index, vmCount: 0, extraVms: p.vms });
    for (const domain of fixture.domains) {
      const used = fixture.disks.filter((d) => d.domainId === domain.id).reduce((n, d) => n + d.sizeBytes, 0);
      domain.sizeBytes = Math.max(domain.sizeBytes, used + SPARE_BYTES);
    }
    return fixture;
  });
}

/** The VMs of a fixture by name. */
export function vmsByName(fixtures: DataCenterFixture[]): Map<string, VmPlan> {
  const out = new Map<string, VmPlan>();
  for (const fixture of fixtures) {
    for (const vm of fixture.vms) {
      out.set(vm.name, {
        name: vm.name,
        id: vm.id,
        poolId: fixture.pool.id,
        diskIds: fixture.disks.filter((d) => d.vmId === vm.id).map((d) => d.id),
      });
    }
  }
  return out;
}

/** Splits `count` disks into VMs of at most `maxDisks` (the command window), named prefix-1, -2... */
export function chunkVms(
  prefix: string,
  count: number,
  maxDisks: number,
): Array<{ name: string; disks: number }> {
  const vms: Array<{ name: string; disks: number }> = [];
  for (let left = count, i = 1; left > 0; i++) {
    const disks = Math.min(maxDisks, left);
    vms.push({ name: `${prefix}-${i}`, disks });
    left -= disks;
  }
  return vms;
}
