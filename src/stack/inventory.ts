/**
 * The inventory a stack runs on: opened, migrated, seeded when empty, and its hosts pointed at the
 * simulators this run really started (ports are ephemeral, and a resumed inventory remembers the
 * last run's).
 */
import { rmSync } from 'node:fs';
import type { DataCenterFixture } from '../fixture';
import { openInventory } from '../inventory';
import type { InventoryRepository } from '../inventory/port';
import type { Simulator } from '../vdsm-sim/simulator';

/** Seeds an EMPTY inventory: one data center (storage pool) per fixture. */
export interface InventorySeedOptions {
  fixtures: DataCenterFixture[];
  /** Where the fixtures' hosts listen (consecutive ports); with simulators, corrected afterwards. */
  vdsmAddress: string;
  vdsmBasePort: number;
}

/** Opens (and migrates) the inventory at `url`; `seeded` says whether it was empty and got seeded. */
export async function openStackInventory(
  url: string,
  options: { seed?: InventorySeedOptions; simulators?: Simulator[] } = {},
): Promise<{ inventory: InventoryRepository; seeded: boolean }> {
  const { seed, simulators = [] } = options;
  const [first, ...others] = seed?.fixtures ?? [];
  const fixtureSeed =
    first && seed
      ? { fixture: first, vdsmAddress: seed.vdsmAddress, vdsmBasePort: seed.vdsmBasePort }
      : undefined;
  let seeded = false;
  if (fixtureSeed && others.length) {
    // The first pool by init(), closed again, then the others copied in beside it.
    const scratch = openInventory(url);
    seeded = await scratch.init(fixtureSeed).finally(() => scratch.close());
    if (seeded) await seedOtherPools(url, others, seed!);
  }
  const inventory = openInventory(url);
  try {
    if (others.length) await inventory.init();
    else seeded = await inventory.init(fixtureSeed);
    for (const sim of simulators) {
      for (const host of sim.hosts) await inventory.setHostAddress(host.hostId, host.address, host.port);
    }
    return { inventory, seeded };
  } catch (err) {
    await inventory.close();
    throw err;
  }
}

/**
 * The entity tables a fixture seeds, in foreign-key order (volumes and attachments too: without them
 * a further pool's disks have no volumes and every command on them is refused).
 */
const ENTITY_TABLES = [
  'storage_pools',
  'storage_domains',
  'hosts',
  'vms',
  'disks',
  'snapshots',
  'volumes',
  'vm_disks',
] as const;

/**
 * `init()` seeds one data center into an empty inventory. Each further pool is seeded by the same
 * `init()` into a scratch SQLite file whose entity rows are then copied over (same schema, same
 * code): the engine itself is multi-pool (hub, SPM locator and janitor
 * work per pool). The bench runs several pools; only SQLite inventories can take them this way.
 */
async function seedOtherPools(url: string, fixtures: DataCenterFixture[], seed: InventorySeedOptions) {
  if (!url.startsWith('sqlite:')) throw new Error('several pools can only be seeded into a SQLite inventory');
  const file = url.slice('sqlite:'.length);
  const hosts = { vdsmAddress: seed.vdsmAddress, vdsmBasePort: seed.vdsmBasePort };
  // Loaded on use: only the multi-pool bench needs the driver directly.
  const { default: Database } = await import('better-sqlite3');
  for (const [index, fixture] of fixtures.entries()) {
    const scratchFile = `${file}.pool-${index + 1}.db`;
    const scratch = openInventory(`sqlite:${scratchFile}`);
    await scratch.init({ fixture, ...hosts });
    await scratch.close();
    const db = new Database(file);
    try {
      db.prepare('ATTACH DATABASE ? AS seed').run(scratchFile);
      db.transaction(() => {
        for (const table of ENTITY_TABLES) db.exec(`INSERT INTO main.${table} SELECT * FROM seed.${table}`);
      })();
      db.exec('DETACH DATABASE seed');
    } finally {
      db.close();
    }
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${scratchFile}${suffix}`, { force: true });
  }
}
