/**
 * The CLI's inventory (openExistingInventory): read only, never created or migrated. A missing,
 * empty, older or newer store is refused with what to run and left as it was; a current one is
 * read, and a write through the read-only adapter fails without changing anything. `unlock`'s
 * read-write mode writes. SQLite and PostgreSQL alike; then the built CLI on an empty file.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ExitCode } from '../src/cli/exit-codes';
import { generateDataCenter } from '../src/fixture';
import { InventoryNotReadyError, openExistingInventory, openInventory } from '../src/inventory';
import { POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS } from '../src/inventory/migrations';
import { assertCliBuilt, runCliSync } from './support/cli';
import { BACKENDS, rejection, type Backend } from './support/inventory-backends';

jest.setTimeout(120_000);

const latest = (backend: string): number =>
  Math.max(...(backend === 'sqlite' ? SQLITE_MIGRATIONS : POSTGRES_MIGRATIONS).map((m) => m.version));

describe.each(BACKENDS)('%s', (name, start) => {
  let backend: Backend;
  beforeAll(async () => {
    backend = await start();
  });
  afterAll(async () => backend?.stop());

  const fixture = generateDataCenter({ name: 'existing', seed: 3, vmCount: 3 });
  async function migrated(): Promise<string> {
    const url = await backend.newUrl();
    const inventory = openInventory(url);
    await inventory.init({ fixture, vdsmAddress: '127.0.0.1', vdsmBasePort: 54321 });
    await inventory.close();
    return url;
  }
  const versions = async (url: string): Promise<number[]> =>
    (await backend.raw(url, 'SELECT version FROM schema_version ORDER BY version')).map((r) =>
      Number((r as { version: number }).version),
    );

  test('a store without the schema is refused and stays without it', async () => {
    const url = await backend.newUrl();
    // An empty database (SQLite: an empty file, as a mistyped path once created).
    await backend.exec(url, 'CREATE TABLE unrelated (x INTEGER)');
    const err = await rejection(openExistingInventory(url));
    expect(err).toBeInstanceOf(InventoryNotReadyError);
    expect((err as Error).message).toMatch(/has no ovirt-tasks schema: start `ovirt-tasks worker`/);
    const tables = await backend.raw(
      url,
      name === 'sqlite'
        ? "SELECT name FROM sqlite_master WHERE name = 'schema_version'"
        : "SELECT to_regclass('schema_version') AS t WHERE to_regclass('schema_version') IS NOT NULL",
    );
    expect(tables).toEqual([]);
  });

  test('an older schema is refused and not migrated; a newer one is refused', async () => {
    const url = await migrated();
    const newest = latest(name);
    await backend.raw(url, `DELETE FROM schema_version WHERE version = ${newest}`);
    const older = await rejection(openExistingInventory(url));
    expect(older).toBeInstanceOf(InventoryNotReadyError);
    expect((older as Error).message).toContain(
      `schema version ${newest - 1}, this ovirt-tasks needs ${newest}`,
    );
    expect(await versions(url)).not.toContain(newest);

    await backend.raw(
      url,
      `INSERT INTO schema_version (version, applied_at) VALUES (${newest}, ${name === 'sqlite' ? "'now'" : 'now()'}), (${newest + 1}, ${name === 'sqlite' ? "'now'" : 'now()'})`,
    );
    const newer = await rejection(openExistingInventory(url));
    expect((newer as Error).message).toContain(`newer than this ovirt-tasks knows (${newest})`);
  });

  test('a current store is read; a write through the read-only adapter fails and changes nothing', async () => {
    const url = await migrated();
    const inventory = await openExistingInventory(url);
    try {
      expect((await inventory.listVms()).map((vm) => vm.id).sort()).toEqual(
        fixture.vms.map((vm) => vm.id).sort(),
      );
      const host = fixture.hosts[0]!;
      await expect(inventory.setHostAddress(host.id, '10.9.9.9', 1234)).rejects.toThrow(/read.?only/i);
    } finally {
      await inventory.close();
    }
    const rows = await backend.raw(url, "SELECT address FROM hosts WHERE address = '10.9.9.9'");
    expect(rows).toEqual([]);
  });

  test("unlock's read-write mode writes, still without migrating", async () => {
    const url = await migrated();
    const inventory = await openExistingInventory(url, { readOnly: false });
    try {
      await inventory.setHostAddress(fixture.hosts[0]!.id, '10.9.9.9', 1234);
    } finally {
      await inventory.close();
    }
    expect(await backend.raw(url, "SELECT address FROM hosts WHERE address = '10.9.9.9'")).toHaveLength(1);
  });
});

describe('the built CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-cli-inv-'));
  beforeAll(() => assertCliBuilt());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('an inventory nobody migrated exits 2 saying to start the worker, and stays unmigrated', () => {
    const file = join(dir, 'empty.db');
    new Database(file).close();
    const result = runCliSync(['inventory', 'vms'], { OVIRT_TASKS_INVENTORY_URL: `sqlite:${file}` });
    expect(result.stderr).toContain(`OVIRT_TASKS_INVENTORY_URL: sqlite:${file} has no ovirt-tasks schema`);
    expect(result.stderr).toContain('start `ovirt-tasks worker` (or `ovirt-tasks dev`)');
    expect(result.status).toBe(ExitCode.Usage);
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()).toEqual([]);
    } finally {
      db.close();
    }
  });

  test('a current inventory is listed (read only, its WAL files gone since the worker closed it)', async () => {
    const file = join(dir, 'current.db');
    const dc = generateDataCenter({ name: 'cli', seed: 4, vmCount: 2 });
    const inventory = openInventory(`sqlite:${file}`);
    await inventory.init({ fixture: dc, vdsmAddress: '127.0.0.1', vdsmBasePort: 1 });
    await inventory.close();
    expect(existsSync(`${file}-wal`)).toBe(false);
    const result = runCliSync(['inventory', 'vms', '--json'], {
      OVIRT_TASKS_INVENTORY_URL: `sqlite:${file}`,
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(ExitCode.Ok);
    expect((JSON.parse(result.stdout) as Array<{ id: string }>).map((vm) => vm.id).sort()).toEqual(
      dc.vms.map((vm) => vm.id).sort(),
    );
  });
});
