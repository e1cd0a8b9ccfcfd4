/**
 * What only the embedded store has to prove (several processes on one file), plus URL handling and
 * the fixture-to-port mapping.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { DataCenterFixture, baseVolumeFormat, generateDataCenter, hostPort } from '../src/fixture';
import {
  InventoryError,
  PostgresInventory,
  SqliteInventory,
  hostPorts,
  openInventory,
  seedEntities,
} from '../src/inventory';
import { SQLITE_MIGRATIONS } from '../src/inventory/migrations';

const PROJECT_ROOT = resolve(__dirname, '..');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ovirt-tasks-sqlite-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A separate Node process running the real adapter (TypeScript compiled on load with swc, as jest
 * does): each round it tries to lock a DISK shared with the other process plus a VM of its own.
 */
const RACER = `
const swc = require('@swc/core');
const fs = require('node:fs');
require.extensions['.ts'] = (module, filename) => module._compile(
  swc.transformSync(fs.readFileSync(filename, 'utf8'), {
    filename, jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' },
  }).code,
  filename,
);
const { SqliteInventory, EntityLockedError } = require(process.env.INVENTORY_MODULE);
(async () => {
  const inventory = new SqliteInventory(process.env.DB_PATH);
  const me = process.env.RACER;
  let won = 0;
  let lost = 0;
  while (Date.now() < Number(process.env.START_AT)) await new Promise((r) => setTimeout(r, 2));
  for (let round = 0; round < Number(process.env.ROUNDS); round++) {
    try {
      await inventory.acquireLocks(me + '-' + round, 'race', [
        { type: 'DISK', id: 'shared-' + round },
        { type: 'VM', id: me + '-own-' + round },
      ]);
      won++;
    } catch (err) {
      if (!(err instanceof EntityLockedError)) throw err;
      lost++;
    }
  }
  await inventory.close();
  process.stdout.write(JSON.stringify({ won, lost }));
})().catch((err) => { console.error(err); process.exit(1); });
`;

function race(env: Record<string, string>): Promise<{ won: number; lost: number }> {
  return new Promise((resolveRace, reject) => {
    const child = spawn(process.execPath, ['-e', RACER], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`racer ${env.RACER} exited ${code}: ${stderr}`));
      else resolveRace(JSON.parse(stdout) as { won: number; lost: number });
    });
  });
}

describe('SqliteInventory', () => {
  it('creates the missing folder and puts the file in WAL mode', async () => {
    const path = join(dir, 'a', 'b', 'inventory.db');
    const inv = new SqliteInventory(path);
    await inv.init();
    await inv.close();
    expect(existsSync(path)).toBe(true);
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });

  it('gives each contested lock to exactly one of two processes, all or nothing, with no busy errors', async () => {
    const path = join(dir, 'inventory.db');
    const setup = new SqliteInventory(path);
    await setup.init();
    await setup.close();

    const rounds = 150;
    const common = {
      INVENTORY_MODULE: join(PROJECT_ROOT, 'src/inventory/index.ts'),
      DB_PATH: path,
      ROUNDS: String(rounds),
      // Both start together once compiled, so their rounds overlap.
      START_AT: String(Date.now() + 2_500),
    };
    const [p, q] = await Promise.all([race({ ...common, RACER: 'p' }), race({ ...common, RACER: 'q' })]);
    expect(p.won + p.lost).toBe(rounds);
    expect(q.won + q.lost).toBe(rounds);
    expect(p.won + q.won).toBe(rounds);

    const inv = new SqliteInventory(path);
    try {
      const locks = await inv.listLocks();
      for (let round = 0; round < rounds; round++) {
        const shared = locks.filter((l) => l.id === `shared-${round}`);
        expect(shared).toHaveLength(1);
        const winner = shared[0]!.owner.split('-')[0]!;
        const loser = winner === 'p' ? 'q' : 'p';
        expect(locks.find((l) => l.id === `${winner}-own-${round}`)?.owner).toBe(`${winner}-${round}`);
        // The loser took nothing: not even its uncontested VM.
        expect(locks.some((l) => l.id === `${loser}-own-${round}`)).toBe(false);
      }
      expect(locks).toHaveLength(rounds * 2);
    } finally {
      await inv.close();
    }
  }, 60_000);
});

describe('openInventory', () => {
  it('opens sqlite:<path> as SQLite and postgres:// / postgresql:// as PostgreSQL', async () => {
    const sqlite = openInventory(`sqlite:${join(dir, 'x.db')}`);
    expect(sqlite).toBeInstanceOf(SqliteInventory);
    await sqlite.close();
    for (const url of ['postgres://u@127.0.0.1:1/db', 'postgresql://u@127.0.0.1:1/db']) {
      const pg = openInventory(url);
      expect(pg).toBeInstanceOf(PostgresInventory);
      await pg.close();
    }
  });

  it('refuses other URLs without echoing what may be a password', () => {
    expect(() => openInventory('mysql://root:hunter2@db/inventory')).toThrow(
      /unsupported inventory URL scheme mysql:/,
    );
    expect(() => openInventory('mysql://root:hunter2@db/inventory')).not.toThrow(/hunter2/);
    expect(() => openInventory('inventory.db')).toThrow(InventoryError);
    expect(() => openInventory('sqlite:')).toThrow(/names no file/);
  });

  it('reports an unreachable PostgreSQL as an InventoryError that keeps the cause', async () => {
    const inv = openInventory('postgres://nobody@127.0.0.1:1/none');
    try {
      const err = await inv.listPools().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InventoryError);
      expect((err as InventoryError).operation).toBe('listPools');
      expect((err as Error).cause).toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      await inv.close();
    }
  });
});

describe('seeding from the fixture', () => {
  const fixture = generateDataCenter({ name: 'SeedTest', vmCount: 3, hostCount: 4 });

  it('maps hosts to ports exactly as the fixture (and so the simulator) does', () => {
    const ports = hostPorts(fixture, 50_000);
    expect([...ports.keys()]).toEqual(fixture.hosts.map((h) => h.id));
    for (const host of fixture.hosts) expect(ports.get(host.id)).toBe(hostPort(fixture, host.id, 50_000));
    expect(new Set(ports.values()).size).toBe(fixture.hosts.length);
  });

  it('refuses a base port that puts a host beyond 65535', () => {
    expect(() => hostPorts(fixture, 65_534)).toThrow(InventoryError);
  });

  it('gives every disk its pool and keeps volume chains in order', () => {
    const entities = seedEntities({ fixture, vdsmAddress: '10.0.0.1', vdsmBasePort: 50_000 });
    expect(entities.disks.every((d) => d.poolId === fixture.pool.id)).toBe(true);
    expect(entities.disks.map((d) => d.volumeIds)).toEqual(fixture.disks.map((d) => d.volumeIds));
    expect(entities.volumes.map((v) => v.id)).toEqual(fixture.disks.flatMap((d) => d.volumeIds));
    expect(entities.hosts.every((h) => h.address === '10.0.0.1')).toBe(true);
  });

  it('gives a fresh disk the engine’s default format: thin, RAW on file storage, COW on block storage', () => {
    expect(baseVolumeFormat('file')).toEqual({ format: 'RAW', volumeType: 'SPARSE' });
    expect(baseVolumeFormat('block')).toEqual({ format: 'COW', volumeType: 'SPARSE' });
    expect(baseVolumeFormat('block', { format: 'RAW' })).toEqual({
      format: 'RAW',
      volumeType: 'PREALLOCATED',
    });
    expect(baseVolumeFormat('file', { volumeType: 'PREALLOCATED' })).toEqual({
      format: 'RAW',
      volumeType: 'PREALLOCATED',
    });
    expect(baseVolumeFormat('file', { format: 'COW' })).toEqual({ format: 'COW', volumeType: 'SPARSE' });
  });

  it('seeds a fixture disk’s own format for its base, and COW + SPARSE above it', () => {
    const iscsi = fixture.domains.find((d) => d.storageType === 'iscsi')!;
    const [first, second] = fixture.disks;
    const custom = DataCenterFixture.parse({
      ...fixture,
      disks: [
        { ...first, domainId: iscsi.id, format: 'RAW', volumeIds: first!.volumeIds.slice(0, 1) },
        {
          ...second,
          domainId: iscsi.id,
          volumeType: 'PREALLOCATED',
          volumeIds: [second!.volumeIds[0], '00000000-0000-4000-8000-000000000001'],
        },
      ],
    });
    const { volumes, disks } = seedEntities({ fixture: custom, vdsmAddress: 'h', vdsmBasePort: 50_000 });
    expect(volumes.map((v) => [v.format, v.volumeType, v.active])).toEqual([
      ['RAW', 'PREALLOCATED', true],
      ['RAW', 'PREALLOCATED', false],
      ['COW', 'SPARSE', true],
    ]);
    expect(disks.map((d) => [d.format, d.volumeType])).toEqual([
      ['RAW', 'PREALLOCATED'],
      ['COW', 'SPARSE'],
    ]);
  });

  it('refuses a fixture that repeats a volume id or asks for RAW + SPARSE on block storage; accepts posixfs', () => {
    const iscsi = fixture.domains.find((d) => d.storageType === 'iscsi')!;
    const [first, second] = fixture.disks;
    const repeated = DataCenterFixture.safeParse({
      ...fixture,
      disks: [first, { ...second, volumeIds: [first!.volumeIds[0]] }],
    });
    expect(repeated.success).toBe(false);
    expect(repeated.error?.issues.map((i) => i.path.join('.'))).toEqual(['disks.1.volumeIds.0']);
    const rawSparse = DataCenterFixture.safeParse({
      ...fixture,
      disks: [{ ...first, domainId: iscsi.id, format: 'RAW', volumeType: 'SPARSE' }],
    });
    expect(rawSparse.error?.issues.map((i) => i.message)).toEqual([expect.stringMatching(/RAW \+ SPARSE/)]);
    const posix = DataCenterFixture.parse({
      ...fixture,
      domains: fixture.domains.map((d, i) => (i === 0 ? { ...d, storageType: 'posixfs' } : d)),
    });
    expect(posix.domains[0]!.storageType).toBe('posixfs');
  });
});

describe('schema upgrades', () => {
  it('a version-1 store with a start intent in flight upgrades to the latest version and keeps it', async () => {
    const file = join(dir, 'v1.db');
    const db = new Database(file);
    db.exec(SQLITE_MIGRATIONS[0]!.sql);
    db.exec('CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    db.prepare('INSERT INTO schema_version VALUES (1, ?)').run(new Date().toISOString());
    db.prepare(
      `INSERT INTO task_start_intents (owner, pool_id, verb, subject_id, known_task_ids, created_at, vdsm_task_id)
       VALUES ('step-old', 'pool-1', 'deleteImage', 'disk-1', '["t-1"]', ?, NULL)`,
    ).run(new Date().toISOString());
    db.close();

    const inv = new SqliteInventory(file);
    try {
      await inv.init();
      expect(await inv.getStartIntent('step-old')).toMatchObject({
        knownTaskIds: ['t-1'],
        vdsmTaskId: null,
        refusedCode: null,
      });
      await inv.putStartIntent({
        owner: 'step-new',
        poolId: 'pool-1',
        verb: 'deleteImage',
        subjectId: 'disk-2',
        knownTaskIds: [],
      });
      // The upgraded intent sorts before anything written after the upgrade.
      expect((await inv.listStartIntents({ poolId: 'pool-1' })).map((i) => i.owner)).toEqual([
        'step-old',
        'step-new',
      ]);
    } finally {
      await inv.close();
    }
  });
});
