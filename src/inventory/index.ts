import { InventoryError } from './errors';
import type { InventoryRepository } from './port';
import { PostgresInventory } from './postgres';
import { SqliteInventory } from './sqlite';

export * from './port';
export { InventoryConflictError, InventoryError, TaskClaimError } from './errors';
export { hostPorts, seedEntities, type InventorySeed, type SeedEntities } from './seed';
export { SqliteInventory, type SqliteInventoryOptions } from './sqlite';
export { PostgresInventory, type PostgresInventoryOptions } from './postgres';
export { InventoryNotReadyError, openExistingInventory } from './existing';

/**
 * Opens the inventory a URL names: `sqlite:<path>` (relative to the working directory, or
 * `sqlite::memory:`) or `postgres://…` / `postgresql://…`. Call `init()` before use: it creates,
 * migrates and may seed the store, which is the worker's job; the CLI uses openExistingInventory.
 */
export function openInventory(url: string): InventoryRepository {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === '') throw new InventoryError('open', 'sqlite: URL names no file (use sqlite:<path>)');
    return new SqliteInventory(path);
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return new PostgresInventory(url);
  // Only the scheme is quoted back: the rest of a URL may carry a password.
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? '(none)';
  throw new InventoryError(
    'open',
    `unsupported inventory URL scheme ${scheme}: use sqlite:<path> or postgres://user@host:port/database`,
  );
}
