/**
 * The SQLite side of VDSM task starts and status polls: the per-pool start lease, start intents and
 * the task claims they record, the shared status polls (one poller per pool, its last answer for
 * the other workers) and the observed task states. Each function runs as one transaction of
 * SqliteInventory (writes are BEGIN IMMEDIATE, so SQLite serialises them).
 */
import { ClaimRow, IntentRow, ObservationRow, checkPositiveInt, isoTime, parseRow, parseRows } from './codec';
import { TaskClaimError } from './errors';
import type {
  PublishedTaskStatuses,
  StatusPollLead,
  TaskClaim,
  TaskObservation,
  TaskStartIntent,
} from './port';
import type { SqliteDb } from './sqlite-volumes';

/** A per-pool lease row: the pool's start lease, or the lead of its status polls. */
interface Lease {
  table: string;
  holder: string;
  expires: string;
}
const START_LEASE: Lease = { table: 'start_leases', holder: 'owner', expires: 'expires_at_ms' };
const STATUS_POLL_LEASE: Lease = { table: 'status_polls', holder: 'poller', expires: 'lease_expires_at_ms' };

/**
 * Takes the pool's lease for `holder` if it is free (expired) or already `holder`'s, renewing it
 * for `leaseMs`; true when `holder` holds it now.
 */
function takeLease(db: SqliteDb, lease: Lease, poolId: string, holder: string, leaseMs: number): boolean {
  const { table, holder: h, expires: e } = lease;
  const now = Date.now();
  const { changes } = db
    .q(
      `INSERT INTO ${table} (pool_id, ${h}, ${e}) VALUES (@poolId, @holder, @expires)
       ON CONFLICT (pool_id) DO UPDATE SET ${h} = excluded.${h}, ${e} = excluded.${e}
       WHERE ${table}.${h} = excluded.${h} OR ${table}.${e} <= @now`,
    )
    .run({ poolId, holder, expires: now + leaseMs, now });
  return changes === 1;
}

export async function acquireStartLease(
  db: SqliteDb,
  poolId: string,
  owner: string,
  leaseMs: number,
): Promise<boolean> {
  checkPositiveInt(leaseMs, 'leaseMs', 'acquireStartLease');
  return db.write('acquireStartLease', () => takeLease(db, START_LEASE, poolId, owner, leaseMs));
}

export async function releaseStartLease(db: SqliteDb, poolId: string, owner: string): Promise<void> {
  return db.write('releaseStartLease', () => {
    db.q('DELETE FROM start_leases WHERE pool_id = ? AND owner = ?').run(poolId, owner);
  });
}

export async function getStartIntent(db: SqliteDb, owner: string): Promise<TaskStartIntent | undefined> {
  return db.read('getStartIntent', () =>
    parseRow(
      IntentRow,
      db.q('SELECT * FROM task_start_intents WHERE owner = ?').get(owner),
      'getStartIntent',
    ),
  );
}

export async function putStartIntent(
  db: SqliteDb,
  intent: Omit<TaskStartIntent, 'createdAt' | 'vdsmTaskId' | 'seq' | 'refusedCode'>,
): Promise<void> {
  return db.write('putStartIntent', () => {
    // Writes are serialised in SQLite, so max + 1 is a strictly later seq.
    db.q(
      `INSERT INTO task_start_intents (owner, pool_id, verb, subject_id, known_task_ids, created_at, vdsm_task_id, seq)
       VALUES (@owner, @poolId, @verb, @subjectId, @knownTaskIds, @createdAt, NULL,
               (SELECT COALESCE(MAX(seq), 0) + 1 FROM task_start_intents))
       ON CONFLICT (owner) DO UPDATE SET pool_id = excluded.pool_id, verb = excluded.verb,
         subject_id = excluded.subject_id, known_task_ids = excluded.known_task_ids,
         created_at = excluded.created_at, vdsm_task_id = NULL, seq = excluded.seq`,
    ).run({
      owner: intent.owner,
      poolId: intent.poolId,
      verb: intent.verb,
      subjectId: intent.subjectId,
      knownTaskIds: JSON.stringify(intent.knownTaskIds),
      createdAt: new Date().toISOString(),
    });
  });
}

export async function listStartIntents(
  db: SqliteDb,
  filter: { poolId: string; pending?: boolean },
): Promise<TaskStartIntent[]> {
  return db.read('listStartIntents', () =>
    parseRows(
      IntentRow,
      db
        .q(
          `SELECT * FROM task_start_intents WHERE pool_id = @poolId AND (@pending = 0 OR vdsm_task_id IS NULL)
         ORDER BY seq`,
        )
        .all({ poolId: filter.poolId, pending: filter.pending ? 1 : 0 }),
      'listStartIntents',
    ),
  );
}

export async function markStartIntentRefused(db: SqliteDb, owner: string, code: number): Promise<void> {
  return db.write('markStartIntentRefused', () => {
    db.q('UPDATE task_start_intents SET refused_code = ? WHERE owner = ?').run(code, owner);
  });
}

export async function completeStartIntent(db: SqliteDb, owner: string, vdsmTaskId: string): Promise<void> {
  return db.write('completeStartIntent', () => {
    const intent = parseRow(
      IntentRow,
      db.q('SELECT * FROM task_start_intents WHERE owner = ?').get(owner),
      'completeStartIntent',
    );
    if (!intent) throw new TaskClaimError(owner, vdsmTaskId, 'it has no start intent');
    if (intent.vdsmTaskId !== null && intent.vdsmTaskId !== vdsmTaskId) {
      throw new TaskClaimError(owner, vdsmTaskId, `its intent already names task ${intent.vdsmTaskId}`);
    }
    const claim = parseRow(
      ClaimRow,
      db.q('SELECT * FROM task_claims WHERE vdsm_task_id = ?').get(vdsmTaskId),
      'completeStartIntent',
    );
    if (claim && claim.owner !== owner) {
      throw new TaskClaimError(owner, vdsmTaskId, `${claim.owner} already claimed it`);
    }
    db.q('UPDATE task_start_intents SET vdsm_task_id = ? WHERE owner = ?').run(vdsmTaskId, owner);
    if (!claim) {
      db.q(
        `INSERT INTO task_claims (vdsm_task_id, pool_id, owner, verb, subject_id, claimed_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(vdsmTaskId, intent.poolId, owner, intent.verb, intent.subjectId, new Date().toISOString());
    }
  });
}

export async function deleteStartIntent(db: SqliteDb, owner: string): Promise<void> {
  return db.write('deleteStartIntent', () => {
    db.q('DELETE FROM task_start_intents WHERE owner = ?').run(owner);
  });
}

export async function listTaskClaims(
  db: SqliteDb,
  filter: { poolId?: string; owner?: string } = {},
): Promise<TaskClaim[]> {
  return db.read('listTaskClaims', () =>
    parseRows(
      ClaimRow,
      db
        .q(
          `SELECT * FROM task_claims WHERE (@poolId IS NULL OR pool_id = @poolId) AND (@owner IS NULL OR owner = @owner)
         ORDER BY claimed_at, vdsm_task_id`,
        )
        .all({ poolId: filter.poolId ?? null, owner: filter.owner ?? null }),
      'listTaskClaims',
    ),
  );
}

export async function leadStatusPolls(
  db: SqliteDb,
  poolId: string,
  worker: string,
  leaseMs: number,
): Promise<StatusPollLead> {
  checkPositiveInt(leaseMs, 'leaseMs', 'leadStatusPolls');
  return db.write('leadStatusPolls', () => {
    const leading = takeLease(db, STATUS_POLL_LEASE, poolId, worker, leaseMs);
    const row = db.q('SELECT seq, ended_at_ms FROM status_polls WHERE pool_id = ?').get(poolId) as {
      seq: number;
      ended_at_ms: number | null;
    };
    return { leading, seq: row.seq, endedAtMs: row.ended_at_ms };
  });
}

export async function publishTaskStatuses(
  db: SqliteDb,
  poolId: string,
  worker: string,
  statusesJson: string,
  endedAtMs: number,
): Promise<number | undefined> {
  return db.write('publishTaskStatuses', () => {
    const row = db
      .q(
        `UPDATE status_polls SET seq = seq + 1, statuses = @statusesJson, ended_at_ms = @endedAtMs
       WHERE pool_id = @poolId AND poller = @worker AND lease_expires_at_ms > @now RETURNING seq`,
      )
      .get({ poolId, worker, statusesJson, endedAtMs, now: Date.now() }) as { seq: number } | undefined;
    return row?.seq;
  });
}

export async function readTaskStatuses(
  db: SqliteDb,
  poolId: string,
  afterSeq: number,
): Promise<PublishedTaskStatuses | undefined> {
  return db.read('readTaskStatuses', () => {
    const row = db
      .q('SELECT seq, statuses, ended_at_ms FROM status_polls WHERE pool_id = ? AND seq > ?')
      .get(poolId, afterSeq) as { seq: number; statuses: string; ended_at_ms: number | null } | undefined;
    return row && { seq: row.seq, statusesJson: row.statuses, endedAtMs: row.ended_at_ms };
  });
}

export async function quitStatusPolls(db: SqliteDb, poolId: string, worker: string): Promise<void> {
  return db.write('quitStatusPolls', () => {
    db.q('UPDATE status_polls SET lease_expires_at_ms = 0 WHERE pool_id = ? AND poller = ?').run(
      poolId,
      worker,
    );
  });
}

export async function countTaskClaims(db: SqliteDb, poolId: string): Promise<number> {
  return db.read('countTaskClaims', () => {
    const row = db.q('SELECT COUNT(*) AS n FROM task_claims WHERE pool_id = ?').get(poolId) as {
      n: number;
    };
    return row.n;
  });
}

export async function releaseTaskClaim(db: SqliteDb, vdsmTaskId: string): Promise<void> {
  return db.write('releaseTaskClaim', () => {
    db.q('DELETE FROM task_claims WHERE vdsm_task_id = ?').run(vdsmTaskId);
    // Only the intent that recorded this task: a newer intent of the same owner is a start in flight.
    db.q('DELETE FROM task_start_intents WHERE vdsm_task_id = ?').run(vdsmTaskId);
  });
}

export async function observeTasks(
  db: SqliteDb,
  poolId: string,
  states: Record<string, string>,
  now: string,
): Promise<TaskObservation[]> {
  const at = isoTime(now, 'observeTasks');
  const reported = Object.entries(states);
  return db.write('observeTasks', () => {
    const upsert = db.q(
      `INSERT INTO task_observations (vdsm_task_id, pool_id, first_seen_at, last_state, last_change_at, reported_at)
       VALUES (@id, @poolId, @at, @state, @at, NULL)
       ON CONFLICT (vdsm_task_id) DO UPDATE SET
         last_change_at = CASE WHEN last_state = excluded.last_state THEN last_change_at ELSE excluded.last_change_at END,
         last_state = excluded.last_state`,
    );
    for (const [id, state] of reported) upsert.run({ id, poolId, at, state });
    db.q(
      'DELETE FROM task_observations WHERE pool_id = ? AND vdsm_task_id NOT IN (SELECT value FROM json_each(?))',
    ).run(poolId, JSON.stringify(reported.map(([id]) => id)));
    return parseRows(
      ObservationRow,
      db
        .q('SELECT * FROM task_observations WHERE pool_id = ? ORDER BY first_seen_at, vdsm_task_id')
        .all(poolId),
      'observeTasks',
    );
  });
}

export async function markTaskReported(db: SqliteDb, vdsmTaskId: string, now: string): Promise<void> {
  const at = isoTime(now, 'markTaskReported');
  return db.write('markTaskReported', () => {
    db.q('UPDATE task_observations SET reported_at = ? WHERE vdsm_task_id = ?').run(at, vdsmTaskId);
  });
}

export async function forgetTasks(db: SqliteDb, vdsmTaskIds: string[]): Promise<void> {
  return db.write('forgetTasks', () => {
    const remove = db.q('DELETE FROM task_observations WHERE vdsm_task_id = ?');
    for (const id of vdsmTaskIds) remove.run(id);
  });
}
