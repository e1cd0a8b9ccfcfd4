/**
 * The two stores the inventory contract tests run against: SQLite (a file per database) and
 * PostgreSQL (a database per test on a throw-away server), with raw access behind the adapter's back.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import { openInventory, type InventoryRepository, type InventorySeed } from '../../src/inventory';
import { startPostgres } from './postgres';

export interface Backend {
  newUrl(): Promise<string>;
  /** Runs one SQL statement behind the adapter's back (to corrupt or inspect what it stored). */
  raw(url: string, sql: string): Promise<unknown[]>;
  /** Runs a script of several statements (to build an older schema by hand). */
  exec(url: string, sql: string): Promise<void>;
  stop(): Promise<void>;
}

export async function sqliteBackend(): Promise<Backend> {
  const dir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-inv-'));
  let n = 0;
  const withDb = <T>(url: string, body: (db: Database.Database) => T): T => {
    const db = new Database(url.slice('sqlite:'.length));
    try {
      return body(db);
    } finally {
      db.close();
    }
  };
  return {
    // A folder per database that does not exist yet: the adapter creates it.
    newUrl: async () => `sqlite:${join(dir, `db-${++n}`, 'inventory.db')}`,
    raw: async (url, sql) =>
      withDb(url, (db) => {
        const statement = db.prepare(sql);
        return statement.reader ? statement.all() : (statement.run(), []);
      }),
    exec: async (url, sql) => {
      mkdirSync(dirname(url.slice('sqlite:'.length)), { recursive: true });
      withDb(url, (db) => void db.exec(sql));
    },
    stop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

export async function postgresBackend(): Promise<Backend> {
  const server = await startPostgres();
  const withClient = async <T>(url: string, body: (client: Client) => Promise<T>): Promise<T> => {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      return await body(client);
    } finally {
      await client.end();
    }
  };
  return {
    newUrl: server.newDatabase,
    raw: (url, sql) => withClient(url, async (c) => (await c.query(sql)).rows as unknown[]),
    exec: (url, sql) => withClient(url, async (c) => void (await c.query(sql))),
    stop: server.stop,
  };
}

export const BACKENDS: Array<[string, () => Promise<Backend>]> = [
  ['sqlite', sqliteBackend],
  ['postgres', postgresBackend],
];

export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

export interface Harness {
  backend(): Backend;
  /** Opens a store on the URL; closed after the test. */
  open(url: string): InventoryRepository;
  /** A new database seeded with `seed`. */
  seeded(seed: InventorySeed): Promise<{ inv: InventoryRepository; url: string }>;
}

/** Registers the hooks of one backend's describe block: the server for the block, stores per test. */
export function useBackend(makeBackend: () => Promise<Backend>): Harness {
  let backend: Backend | undefined;
  const opened: InventoryRepository[] = [];
  beforeAll(async () => {
    backend = await makeBackend();
  }, 300_000);
  afterAll(async () => {
    await backend?.stop();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((inv) => inv.close()));
  });
  const harness: Harness = {
    backend: () => {
      if (!backend) throw new Error('backend not started');
      return backend;
    },
    open: (url) => {
      const inv = openInventory(url);
      opened.push(inv);
      return inv;
    },
    seeded: async (seed) => {
      const url = await harness.backend().newUrl();
      const inv = harness.open(url);
      await expect(inv.init(seed)).resolves.toBe(true);
      return { inv, url };
    },
  };
  return harness;
}
