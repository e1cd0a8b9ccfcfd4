/**
 * The PostgreSQL side of entity locks and the audit log. Checks that a write depends on serialise
 * on transaction-scoped advisory locks (READ COMMITTED alone would let two writers both see "free").
 */
import { AuditRow, LockRow, asInventoryError, auditLimit, isoTime, parseRows } from './codec';
import { planLocks, wantedLocks } from './locks';
import {
  EntityLockedError,
  type AuditEntry,
  type EntityLock,
  type EntityRef,
  type NewAuditEntry,
} from './port';
import type { PostgresDb, Queryable } from './postgres-volumes';

/**
 * Takes a transaction-scoped advisory lock per wanted entity first (in the global order), so
 * acquirers of a common entity run one after the other: with several holders allowed per entity
 * there is no single row to conflict on. Then reads every holder, which under READ COMMITTED
 * includes whatever an earlier acquirer committed before releasing its advisory locks.
 */
export async function acquireLocks(
  db: PostgresDb,
  owner: string,
  reason: string,
  entities: EntityRef[],
): Promise<void> {
  const wanted = wantedLocks(entities);
  if (wanted.length === 0) return;
  const types = wanted.map((w) => w.type);
  const ids = wanted.map((w) => w.id);
  await db.transaction('acquireLocks', async (c) => {
    // Hash collisions only make unrelated entities wait for each other; an order the planner does
    // not keep can only deadlock, which PostgreSQL detects and transaction() runs again.
    await c.query(
      `SELECT pg_advisory_xact_lock(hashtextextended('entity-lock:' || k, 0))
       FROM (SELECT t || ':' || i AS k, n FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(t, i, n)
             ORDER BY n) AS ordered`,
      [types, ids],
    );
    const { rows } = await c.query(
      `SELECT l.* FROM entity_locks l
       JOIN unnest($1::text[], $2::text[]) AS w(t, i) ON l.entity_type = w.t AND l.entity_id = w.i`,
      [types, ids],
    );
    const plan = planLocks(owner, wanted, parseRows(LockRow, rows, 'acquireLocks'));
    if (plan.conflicts.length > 0) throw new EntityLockedError(plan.conflicts);
    if (plan.insert.length > 0) {
      await c.query(
        `INSERT INTO entity_locks (entity_type, entity_id, owner, mode, reason, acquired_at)
         SELECT t, i, $4, m, $5, now() FROM unnest($1::text[], $2::text[], $3::text[]) AS w(t, i, m)`,
        [
          plan.insert.map((w) => w.type),
          plan.insert.map((w) => w.id),
          plan.insert.map((w) => w.mode),
          owner,
          reason,
        ],
      );
    }
    if (plan.upgrade.length > 0) {
      await c.query(
        `UPDATE entity_locks l SET mode = 'exclusive' FROM unnest($1::text[], $2::text[]) AS w(t, i)
         WHERE l.entity_type = w.t AND l.entity_id = w.i AND l.owner = $3`,
        [plan.upgrade.map((w) => w.type), plan.upgrade.map((w) => w.id), owner],
      );
    }
  });
}

export async function releaseLocks(db: PostgresDb, owner: string): Promise<number> {
  const { rowCount } = await db.query('releaseLocks', 'DELETE FROM entity_locks WHERE owner = $1', [owner]);
  return rowCount;
}

export async function listLocks(db: PostgresDb, filter: { owner?: string } = {}): Promise<EntityLock[]> {
  const { rows } = await db.query(
    'listLocks',
    `SELECT * FROM entity_locks WHERE ($1::text IS NULL OR owner = $1)
     ORDER BY acquired_at, entity_type, entity_id, owner`,
    [filter.owner ?? null],
  );
  return parseRows(LockRow, rows, 'listLocks');
}

export async function addAudit(db: PostgresDb, entry: NewAuditEntry): Promise<void> {
  try {
    await insertAudit(db.pool, entry);
  } catch (err) {
    throw asInventoryError('addAudit', err);
  }
}

export async function addAuditOnce(
  db: PostgresDb,
  entry: NewAuditEntry & { correlationId: string },
): Promise<boolean> {
  return db.transaction('addAuditOnce', async (c) => {
    // Under READ COMMITTED two transactions could both see "absent": serialise on the key.
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [
      entry.correlationId,
      entry.type,
    ]);
    const { rows } = await c.query(
      'SELECT 1 FROM audit_log WHERE correlation_id = $1 AND type = $2 LIMIT 1',
      [entry.correlationId, entry.type],
    );
    if (rows.length > 0) return false;
    await insertAudit(c, entry);
    return true;
  });
}

export async function listAudit(
  db: PostgresDb,
  filter: { correlationId?: string; type?: string; limit?: number } = {},
): Promise<AuditEntry[]> {
  const limit = auditLimit(filter.limit);
  const { rows } = await db.query(
    'listAudit',
    `SELECT * FROM audit_log WHERE ($1::text IS NULL OR correlation_id = $1) AND ($2::text IS NULL OR type = $2)
     ORDER BY time DESC, id DESC LIMIT $3`,
    [filter.correlationId ?? null, filter.type ?? null, limit ?? null],
  );
  return parseRows(AuditRow, rows, 'listAudit');
}

async function insertAudit(c: Queryable, entry: NewAuditEntry): Promise<void> {
  const time = entry.time === undefined ? null : isoTime(entry.time, 'addAudit');
  await c.query(
    `INSERT INTO audit_log (time, type, severity, message, correlation_id, entity_ids)
     VALUES (COALESCE($1::timestamptz, now()), $2, $3, $4, $5, $6::jsonb)`,
    [time, entry.type, entry.severity, entry.message, entry.correlationId, JSON.stringify(entry.entityIds)],
  );
}
