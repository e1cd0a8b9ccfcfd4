/**
 * The SQLite side of entity locks and the audit log. Each function runs as one transaction of
 * SqliteInventory (writes are BEGIN IMMEDIATE, so a check and the write that depends on it cannot
 * interleave with another writer).
 */
import { AuditRow, LockRow, auditLimit, isoTime, parseRows } from './codec';
import { planLocks, wantedLocks } from './locks';
import {
  EntityLockedError,
  type AuditEntry,
  type EntityLock,
  type EntityRef,
  type NewAuditEntry,
} from './port';
import type { SqliteDb } from './sqlite-volumes';

export async function acquireLocks(
  db: SqliteDb,
  owner: string,
  reason: string,
  entities: EntityRef[],
): Promise<void> {
  const wanted = wantedLocks(entities);
  return db.write('acquireLocks', () => {
    const select = db.q('SELECT * FROM entity_locks WHERE entity_type = ? AND entity_id = ?');
    const held = wanted.flatMap((w) => parseRows(LockRow, select.all(w.type, w.id), 'acquireLocks'));
    const plan = planLocks(owner, wanted, held);
    if (plan.conflicts.length > 0) throw new EntityLockedError(plan.conflicts);
    const insert = db.q(
      'INSERT INTO entity_locks (entity_type, entity_id, owner, mode, reason, acquired_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const at = new Date().toISOString();
    for (const w of plan.insert) insert.run(w.type, w.id, owner, w.mode, reason, at);
    const upgrade = db.q(
      "UPDATE entity_locks SET mode = 'exclusive' WHERE entity_type = ? AND entity_id = ? AND owner = ?",
    );
    for (const w of plan.upgrade) upgrade.run(w.type, w.id, owner);
  });
}

export async function releaseLocks(db: SqliteDb, owner: string): Promise<number> {
  return db.write('releaseLocks', () => db.q('DELETE FROM entity_locks WHERE owner = ?').run(owner).changes);
}

export async function listLocks(db: SqliteDb, filter: { owner?: string } = {}): Promise<EntityLock[]> {
  const owner = filter.owner ?? null;
  return db.read('listLocks', () =>
    parseRows(
      LockRow,
      db
        .q(
          'SELECT * FROM entity_locks WHERE (? IS NULL OR owner = ?) ORDER BY acquired_at, entity_type, entity_id, owner',
        )
        .all(owner, owner),
      'listLocks',
    ),
  );
}

export async function addAudit(db: SqliteDb, entry: NewAuditEntry): Promise<void> {
  const time = entry.time === undefined ? new Date().toISOString() : isoTime(entry.time, 'addAudit');
  return db.write('addAudit', () => insertAudit(db, entry, time));
}

export async function addAuditOnce(
  db: SqliteDb,
  entry: NewAuditEntry & { correlationId: string },
): Promise<boolean> {
  const time = entry.time === undefined ? new Date().toISOString() : isoTime(entry.time, 'addAuditOnce');
  // One write transaction: SQLite serialises writers, so check and insert cannot interleave.
  return db.write('addAuditOnce', () => {
    const exists = db
      .q('SELECT 1 FROM audit_log WHERE correlation_id = ? AND type = ? LIMIT 1')
      .get(entry.correlationId, entry.type);
    if (exists) return false;
    insertAudit(db, entry, time);
    return true;
  });
}

function insertAudit(db: SqliteDb, entry: NewAuditEntry, time: string): void {
  db.q(
    `INSERT INTO audit_log (time, type, severity, message, correlation_id, entity_ids)
     VALUES (?, ?, ?, ?, ?, ?)`,
  ).run(
    time,
    entry.type,
    entry.severity,
    entry.message,
    entry.correlationId,
    JSON.stringify(entry.entityIds),
  );
}

export async function listAudit(
  db: SqliteDb,
  filter: { correlationId?: string; type?: string; limit?: number } = {},
): Promise<AuditEntry[]> {
  const limit = auditLimit(filter.limit);
  return db.read('listAudit', () =>
    parseRows(
      AuditRow,
      db
        .q(
          `SELECT * FROM audit_log
         WHERE (@correlationId IS NULL OR correlation_id = @correlationId) AND (@type IS NULL OR type = @type)
         ORDER BY time DESC, id DESC LIMIT @limit`,
        )
        .all({ correlationId: filter.correlationId ?? null, type: filter.type ?? null, limit: limit ?? -1 }),
      'listAudit',
    ),
  );
}
