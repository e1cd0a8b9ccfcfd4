/**
 * Opening an inventory that a worker (or `ovirt-tasks dev`) created and migrated, as the CLI
 * does: never created, never migrated, read only unless the command writes (`unlock`). A missing,
 * empty or older store is refused with what to run; a newer one with what to upgrade.
 */
import { existsSync } from 'node:fs';
import { InventoryError } from './errors';
import { POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS, type Migration } from './migrations';
import type { InventoryRepository } from './port';
import { PostgresInventory } from './postgres';
import { SqliteInventory } from './sqlite';

/** The inventory is not (yet) what this ovirt-tasks runs on. */
export class InventoryNotReadyError extends Error {
  override readonly name = 'InventoryNotReadyError';
}

const RUN_FIRST =
  'start `ovirt-tasks worker` (or `ovirt-tasks dev`) on it first: the worker creates and migrates it';

export async function openExistingInventory(
  url: string,
  options: { readOnly?: boolean } = {},
): Promise<InventoryRepository> {
  const readOnly = options.readOnly ?? true;
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (!existsSync(path)) throw new InventoryNotReadyError(`${url} does not exist: ${RUN_FIRST}`);
    checkVersion(url, await sqliteVersion(path), SQLITE_MIGRATIONS);
    return new SqliteInventory(path, { readOnly });
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    // The URL may carry a password: named by its variable, never quoted.
    checkVersion('the PostgreSQL inventory', await postgresVersion(url), POSTGRES_MIGRATIONS);
    return new PostgresInventory(url, { readOnly, maxConnections: 2 });
  }
  throw new InventoryError('open', 'unsupported inventory URL scheme: use sqlite:<path> or postgres://…');
}

/** Checked before the adapter opens the store: a store refused here was not touched. */
function checkVersion(what: string, found: number | undefined, migrations: readonly Migration[]): void {
  const latest = Math.max(...migrations.map((m) => m.version));
  if (found === undefined)
    throw new InventoryNotReadyError(`${what} has no ovirt-tasks schema: ${RUN_FIRST}`);
  if (found < latest)
    throw new InventoryNotReadyError(
      `${what} is at schema version ${found}, this ovirt-tasks needs ${latest}: ${RUN_FIRST.replace('creates and migrates', 'migrates')}`,
    );
  if (found > latest)
    throw new InventoryNotReadyError(
      `${what} is at schema version ${found}, newer than this ovirt-tasks knows (${latest}): use the ovirt-tasks its workers run`,
    );
}

/** max(schema_version), undefined when the table is missing (an empty file). */
async function sqliteVersion(path: string): Promise<number | undefined> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const table = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
      .get();
    if (!table) return undefined;
    const row = db.prepare('SELECT max(version) AS version FROM schema_version').get() as {
      version: number | null;
    };
    return row.version ?? undefined;
  } catch (err) {
    throw new InventoryError('open', `cannot read the SQLite inventory ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    db.close();
  }
}

async function postgresVersion(url: string): Promise<number | undefined> {
  const { Client } = await import('pg');
  const client = new Client({ connectionString: url, application_name: 'ovirt-tasks-cli' });
  try {
    await client.connect();
    const table = await client.query<{ t: string | null }>("SELECT to_regclass('schema_version')::text AS t");
    if (!table.rows[0]?.t) return undefined;
    const row = await client.query<{ version: number | null }>(
      'SELECT max(version) AS version FROM schema_version',
    );
    return row.rows[0]?.version ?? undefined;
  } catch (err) {
    // pg's messages name host and user, never the password.
    throw new InventoryError('open', `cannot read the PostgreSQL inventory: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}
