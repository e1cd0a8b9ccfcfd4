/**
 * The PostgreSQL side of VDSM task starts and status polls: the per-pool start lease, start intents
 * and the task claims they record, the shared status polls (one poller per pool, its last answer for
 * the other workers) and the observed task states. Lease expiry compares the database's clock.
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
import type { PostgresDb } from './postgres-volumes';

/** A per-pool lease row: the pool's start lease, or the lead of its status polls. */
interface Lease {
  table: string;
  holder: string;
  expires: string;
}
const START_LEASE: Lease = { table: 'start_leases', holder: 'owner', expires: 'expires_at' };
const STATUS_POLL_LEASE: Lease = { table: 'status_polls', holder: 'poller', expires: 'lease_expires_at' };

/**
 * Takes the pool's lease for `holder` if it is free (expired) or already `holder`'s, renewing it
 * for `leaseMs`; true when `holder` holds it now. One upsert: the conflicting row is locked while
 * its holder and expiry are compared.
 */
async function takeLease(
  db: PostgresDb,
  operation: string,
  lease: Lease,
  poolId: string,
  holder: string,
  leaseMs: number,
): Promise<boolean> {
  const { table, holder: h, expires: e } = lease;
  const { rowCount } = await db.query(
    operation,
    `INSERT INTO ${table} (pool_id, ${h}, ${e})
     VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond')
     ON CONFLICT (pool_id) DO UPDATE SET ${h} = excluded.${h}, ${e} = excluded.${e}
     WHERE ${table}.${h} = excluded.${h} OR ${table}.${e} <= clock_timestamp()`,
    [poolId, holder, leaseMs],
  );
  return rowCount === 1;
}

/** The pool's start lease (see takeLease). */
export async function acquireStartLease(
  db: PostgresDb,
  poolId: string,
  owner: string,
  leaseMs: number,
): Promise<boolean> {
  checkPositiveInt(leaseMs, 'leaseMs', 'acquireStartLease');
  return takeLease(db, 'acquireStartLease', START_LEASE, poolId, owner, leaseMs);
}

export async function releaseStartLease(db: PostgresDb, poolId: string, owner: string): Promise<void> {
  await db.query('releaseStartLease', 'DELETE FROM start_leases WHERE pool_id = $1 AND owner = $2', [
    poolId,
    owner,
  ]);
}

export async function getStartIntent(db: PostgresDb, owner: string): Promise<TaskStartIntent | undefined> {
  const { rows } = await db.query('getStartIntent', 'SELECT * FROM task_start_intents WHERE owner = $1', [
    owner,
  ]);
  return parseRow(IntentRow, rows[0], 'getStartIntent');
}

export async function putStartIntent(
  db: PostgresDb,
  intent: Omit<TaskStartIntent, 'createdAt' | 'vdsmTaskId' | 'seq' | 'refusedCode'>,
): Promise<void> {
  await db.query(
    'putStartIntent',
    `INSERT INTO task_start_intents (owner, pool_id, verb, subject_id, known_task_ids, created_at, vdsm_task_id)
     VALUES ($1, $2, $3, $4, $5::jsonb, now(), NULL)
     ON CONFLICT (owner) DO UPDATE SET pool_id = excluded.pool_id, verb = excluded.verb,
       subject_id = excluded.subject_id, known_task_ids = excluded.known_task_ids,
       created_at = excluded.created_at, vdsm_task_id = NULL, seq = nextval('task_start_intent_seq')`,
    [intent.owner, intent.poolId, intent.verb, intent.subjectId, JSON.stringify(intent.knownTaskIds)],
  );
}

export async function listStartIntents(
  db: PostgresDb,
  filter: { poolId: string; pending?: boolean },
): Promise<TaskStartIntent[]> {
  const { rows } = await db.query(
    'listStartIntents',
    `SELECT * FROM task_start_intents WHERE pool_id = $1 AND (NOT $2::boolean OR vdsm_task_id IS NULL)
     ORDER BY seq`,
    [filter.poolId, filter.pending ?? false],
  );
  return parseRows(IntentRow, rows, 'listStartIntents');
}

export async function markStartIntentRefused(db: PostgresDb, owner: string, code: number): Promise<void> {
  await db.query(
    'markStartIntentRefused',
    'UPDATE task_start_intents SET refused_code = $1 WHERE owner = $2',
    [code, owner],
  );
}

export async function completeStartIntent(db: PostgresDb, owner: string, vdsmTaskId: string): Promise<void> {
  await db.transaction('completeStartIntent', async (c) => {
    const intentRows = await c.query('SELECT * FROM task_start_intents WHERE owner = $1 FOR UPDATE', [owner]);
    const intent = parseRow(IntentRow, intentRows.rows[0], 'completeStartIntent');
    if (!intent) throw new TaskClaimError(owner, vdsmTaskId, 'it has no start intent');
    if (intent.vdsmTaskId !== null && intent.vdsmTaskId !== vdsmTaskId) {
      throw new TaskClaimError(owner, vdsmTaskId, `its intent already names task ${intent.vdsmTaskId}`);
    }
    await c.query('UPDATE task_start_intents SET vdsm_task_id = $1 WHERE owner = $2', [vdsmTaskId, owner]);
    await c.query(
      `INSERT INTO task_claims (vdsm_task_id, pool_id, owner, verb, subject_id, claimed_at)
       VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (vdsm_task_id) DO NOTHING`,
      [vdsmTaskId, intent.poolId, owner, intent.verb, intent.subjectId],
    );
    const claimRows = await c.query('SELECT * FROM task_claims WHERE vdsm_task_id = $1', [vdsmTaskId]);
    const claim = parseRow(ClaimRow, claimRows.rows[0], 'completeStartIntent');
    if (claim && claim.owner !== owner) {
      throw new TaskClaimError(owner, vdsmTaskId, `${claim.owner} already claimed it`);
    }
  });
}

export async function deleteStartIntent(db: PostgresDb, owner: string): Promise<void> {
  await db.query('deleteStartIntent', 'DELETE FROM task_start_intents WHERE owner = $1', [owner]);
}

export async function listTaskClaims(
  db: PostgresDb,
  filter: { poolId?: string; owner?: string } = {},
): Promise<TaskClaim[]> {
  const { rows } = await db.query(
    'listTaskClaims',
    `SELECT * FROM task_claims WHERE ($1::text IS NULL OR pool_id = $1) AND ($2::text IS NULL OR owner = $2)
     ORDER BY claimed_at, vdsm_task_id`,
    [filter.poolId ?? null, filter.owner ?? null],
  );
  return parseRows(ClaimRow, rows, 'listTaskClaims');
}

export async function leadStatusPolls(
  db: PostgresDb,
  poolId: string,
  worker: string,
  leaseMs: number,
): Promise<StatusPollLead> {
  checkPositiveInt(leaseMs, 'leaseMs', 'leadStatusPolls');
  const leading = await takeLease(db, 'leadStatusPolls', STATUS_POLL_LEASE, poolId, worker, leaseMs);
  const { rows } = await db.query(
    'leadStatusPolls',
    'SELECT seq::int AS seq, ended_at_ms::float8 AS ended_at_ms FROM status_polls WHERE pool_id = $1',
    [poolId],
  );
  const row = rows[0] as { seq: number; ended_at_ms: number | null };
  return { leading, seq: row.seq, endedAtMs: row.ended_at_ms };
}

export async function publishTaskStatuses(
  db: PostgresDb,
  poolId: string,
  worker: string,
  statusesJson: string,
  endedAtMs: number,
): Promise<number | undefined> {
  const { rows } = await db.query(
    'publishTaskStatuses',
    `UPDATE status_polls SET seq = seq + 1, statuses = $3, ended_at_ms = $4
     WHERE pool_id = $1 AND poller = $2 AND lease_expires_at > clock_timestamp() RETURNING seq::int AS seq`,
    [poolId, worker, statusesJson, endedAtMs],
  );
  return (rows[0] as { seq: number } | undefined)?.seq;
}

export async function readTaskStatuses(
  db: PostgresDb,
  poolId: string,
  afterSeq: number,
): Promise<PublishedTaskStatuses | undefined> {
  const { rows } = await db.query(
    'readTaskStatuses',
    'SELECT seq::int AS seq, statuses, ended_at_ms::float8 AS ended_at_ms FROM status_polls WHERE pool_id = $1 AND seq > $2',
    [poolId, afterSeq],
  );
  const row = rows[0] as { seq: number; statuses: string; ended_at_ms: number | null } | undefined;
  return row && { seq: row.seq, statusesJson: row.statuses, endedAtMs: row.ended_at_ms };
}

export async function quitStatusPolls(db: PostgresDb, poolId: string, worker: string): Promise<void> {
  await db.query(
    'quitStatusPolls',
    `UPDATE status_polls SET lease_expires_at = '-infinity' WHERE pool_id = $1 AND poller = $2`,
    [poolId, worker],
  );
}

export async function countTaskClaims(db: PostgresDb, poolId: string): Promise<number> {
  const { rows } = await db.query(
    'countTaskClaims',
    'SELECT COUNT(*)::int AS n FROM task_claims WHERE pool_id = $1',
    [poolId],
  );
  return (rows[0] as { n: number }).n;
}

export async function releaseTaskClaim(db: PostgresDb, vdsmTaskId: string): Promise<void> {
  await db.transaction('releaseTaskClaim', async (c) => {
    await c.query('DELETE FROM task_claims WHERE vdsm_task_id = $1', [vdsmTaskId]);
    // Only the intent that recorded this task: a newer intent of the same owner is a start in flight.
    await c.query('DELETE FROM task_start_intents WHERE vdsm_task_id = $1', [vdsmTaskId]);
  });
}

export async function observeTasks(
  db: PostgresDb,
  poolId: string,
  states: Record<string, string>,
  now: string,
): Promise<TaskObservation[]> {
  const at = isoTime(now, 'observeTasks');
  const ids = Object.keys(states);
  const taskStates = ids.map((id) => states[id] as string);
  return db.transaction('observeTasks', async (c) => {
    await c.query(
      `INSERT INTO task_observations (vdsm_task_id, pool_id, first_seen_at, last_state, last_change_at, reported_at)
       SELECT id, $1, $2::timestamptz, state, $2::timestamptz, NULL FROM unnest($3::text[], $4::text[]) AS r(id, state)
       ON CONFLICT (vdsm_task_id) DO UPDATE SET
         last_change_at = CASE WHEN task_observations.last_state = excluded.last_state
                               THEN task_observations.last_change_at ELSE excluded.last_change_at END,
         last_state = excluded.last_state`,
      [poolId, at, ids, taskStates],
    );
    await c.query(
      'DELETE FROM task_observations WHERE pool_id = $1 AND NOT (vdsm_task_id = ANY($2::text[]))',
      [poolId, ids],
    );
    const { rows } = await c.query(
      'SELECT * FROM task_observations WHERE pool_id = $1 ORDER BY first_seen_at, vdsm_task_id',
      [poolId],
    );
    return parseRows(ObservationRow, rows, 'observeTasks');
  });
}

export async function markTaskReported(db: PostgresDb, vdsmTaskId: string, now: string): Promise<void> {
  const at = isoTime(now, 'markTaskReported');
  await db.query(
    'markTaskReported',
    'UPDATE task_observations SET reported_at = $1 WHERE vdsm_task_id = $2',
    [at, vdsmTaskId],
  );
}

export async function forgetTasks(db: PostgresDb, vdsmTaskIds: string[]): Promise<void> {
  await db.query('forgetTasks', 'DELETE FROM task_observations WHERE vdsm_task_id = ANY($1::text[])', [
    vdsmTaskIds,
  ]);
}
