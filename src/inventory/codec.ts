/**
 * What both adapters share: rows parsed and validated when read (one schema per table accepts both
 * dialects' representations), and inputs checked before they are written.
 */
import { z } from 'zod';
import { ImageStatus, VmStatus } from '../shared/vocabulary';
import { EntityLockedError, NotFoundError } from './port';
import type {
  AuditEntry,
  Disk,
  EntityLock,
  EntityRef,
  Host,
  StorageDomain,
  StoragePool,
  TaskClaim,
  TaskObservation,
  TaskStartIntent,
  Vm,
} from './port';
import { InventoryError, TaskClaimError } from './errors';

/** SQLite stores booleans as 0/1, PostgreSQL as booleans. */
const bool = z.union([z.boolean(), z.literal(0), z.literal(1)]).transform((v) => v === true || v === 1);

/** SQLite: ISO text; PostgreSQL: timestamptz, which pg returns as a Date. Always read back as ISO UTC. */
const time = z.union([z.string(), z.date()]).transform((v, ctx) => {
  const date = typeof v === 'string' ? new Date(v) : v;
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({ code: 'custom', message: `not a time: ${String(v)}` });
    return z.NEVER;
  }
  return date.toISOString();
});

/** pg returns BIGINT as a string (it may exceed 2^53); ours never do, and that is checked. */
const int = z
  .union([
    z.number(),
    z
      .string()
      .regex(/^-?\d+$/)
      .transform(Number),
  ])
  .pipe(z.number().refine(Number.isSafeInteger, 'must be a safe integer'));

/** SQLite: JSON text; PostgreSQL: jsonb, which pg parses. */
const stringArray = z
  .union([
    z.string().transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not JSON' });
        return z.NEVER;
      }
    }),
    z.array(z.unknown()),
  ])
  .pipe(z.array(z.string()));

export const PoolRow = z
  .object({ id: z.string(), name: z.string(), master_domain_id: z.string() })
  .transform((r): StoragePool => ({ id: r.id, name: r.name, masterDomainId: r.master_domain_id }));

export const DomainRow = z
  .object({
    id: z.string(),
    pool_id: z.string(),
    name: z.string(),
    storage_type: z.string(),
    discard_after_delete: bool,
  })
  .transform((r): StorageDomain => ({
    id: r.id,
    poolId: r.pool_id,
    name: r.name,
    storageType: r.storage_type,
    discardAfterDelete: r.discard_after_delete,
  }));

export const HostRow = z
  .object({
    id: z.string(),
    pool_id: z.string(),
    name: z.string(),
    vds_id: int,
    address: z.string(),
    port: int,
  })
  .transform((r): Host => ({
    id: r.id,
    poolId: r.pool_id,
    name: r.name,
    vdsId: r.vds_id,
    address: r.address,
    port: r.port,
  }));

export const VmRow = z
  .object({
    id: z.string(),
    pool_id: z.string(),
    name: z.string(),
    status: z.enum(VmStatus),
    delete_protected: bool,
  })
  .transform((r): Vm => ({
    id: r.id,
    poolId: r.pool_id,
    name: r.name,
    status: r.status,
    deleteProtected: r.delete_protected,
  }));

export const DiskRow = z
  .object({
    id: z.string(),
    pool_id: z.string(),
    alias: z.string(),
    vm_id: z.string().nullable(),
    domain_id: z.string(),
    size_bytes: int,
    wipe_after_delete: bool,
    shareable: bool,
    status: z.enum(ImageStatus),
    volume_ids: stringArray,
  })
  .transform((r): Disk => ({
    id: r.id,
    poolId: r.pool_id,
    alias: r.alias,
    vmId: r.vm_id,
    domainId: r.domain_id,
    sizeBytes: r.size_bytes,
    wipeAfterDelete: r.wipe_after_delete,
    shareable: r.shareable,
    status: r.status,
    volumeIds: r.volume_ids,
  }));

export const LockRow = z
  .object({
    entity_type: z.enum(['VM', 'DISK']),
    entity_id: z.string(),
    owner: z.string(),
    reason: z.string(),
    acquired_at: time,
  })
  .transform((r): EntityLock => ({
    type: r.entity_type,
    id: r.entity_id,
    owner: r.owner,
    reason: r.reason,
    acquiredAt: r.acquired_at,
  }));

export const AuditRow = z
  .object({
    id: int,
    time,
    type: z.string(),
    severity: z.enum(['INFO', 'WARNING', 'ERROR']),
    message: z.string(),
    correlation_id: z.string().nullable(),
    entity_ids: stringArray,
  })
  .transform((r): AuditEntry => ({
    id: r.id,
    time: r.time,
    type: r.type,
    severity: r.severity,
    message: r.message,
    correlationId: r.correlation_id,
    entityIds: r.entity_ids,
  }));

export const IntentRow = z
  .object({
    owner: z.string(),
    pool_id: z.string(),
    verb: z.string(),
    subject_id: z.string(),
    known_task_ids: stringArray,
    created_at: time,
    vdsm_task_id: z.string().nullable(),
    seq: z.coerce.number().int(),
    refused_code: z.coerce.number().int().nullable(),
  })
  .transform((r): TaskStartIntent => ({
    owner: r.owner,
    poolId: r.pool_id,
    verb: r.verb,
    subjectId: r.subject_id,
    knownTaskIds: r.known_task_ids,
    createdAt: r.created_at,
    seq: r.seq,
    vdsmTaskId: r.vdsm_task_id,
    refusedCode: r.refused_code,
  }));

export const ClaimRow = z
  .object({
    vdsm_task_id: z.string(),
    pool_id: z.string(),
    owner: z.string(),
    verb: z.string(),
    subject_id: z.string(),
    claimed_at: time,
  })
  .transform((r): TaskClaim => ({
    vdsmTaskId: r.vdsm_task_id,
    poolId: r.pool_id,
    owner: r.owner,
    verb: r.verb,
    subjectId: r.subject_id,
    claimedAt: r.claimed_at,
  }));

export const ObservationRow = z
  .object({
    vdsm_task_id: z.string(),
    pool_id: z.string(),
    first_seen_at: time,
    last_state: z.string(),
    last_change_at: time,
    reported_at: time.nullable(),
  })
  .transform((r): TaskObservation => ({
    vdsmTaskId: r.vdsm_task_id,
    poolId: r.pool_id,
    firstSeenAt: r.first_seen_at,
    lastState: r.last_state,
    lastChangeAt: r.last_change_at,
    reportedAt: r.reported_at,
  }));

/** Parses rows read by `operation`; a row that does not fit its table is an InventoryError. */
export function parseRows<T>(
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  rows: unknown[],
  operation: string,
): T[] {
  return rows.map((row) => {
    const parsed = schema.safeParse(row);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      throw new InventoryError(operation, `malformed row (${issues})`, { cause: parsed.error });
    }
    return parsed.data;
  });
}

export function parseRow<T>(
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  row: unknown,
  operation: string,
): T | undefined {
  return row === undefined || row === null ? undefined : parseRows(schema, [row], operation)[0];
}

/** Normalises a caller's time to ISO UTC, so stored times sort as text and compare as times. */
export function isoTime(value: string, operation: string): string {
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new InventoryError(operation, `not a time: ${JSON.stringify(value)}`);
  return date.toISOString();
}

export function checkVmStatus(status: string, operation: string): void {
  if (!(VmStatus as readonly string[]).includes(status)) {
    throw new InventoryError(operation, `unknown VM status ${JSON.stringify(status)}`);
  }
}

export function checkImageStatus(status: string, operation: string): void {
  if (!(ImageStatus as readonly string[]).includes(status)) {
    throw new InventoryError(operation, `unknown image status ${JSON.stringify(status)}`);
  }
}

export function checkPositiveInt(value: number, what: string, operation: string): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new InventoryError(operation, `${what} must be a positive integer, got ${value}`);
  }
}

/** The limit of listAudit: undefined = every entry. */
export function auditLimit(limit: number | undefined): number | undefined {
  if (limit === undefined) return undefined;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new InventoryError('listAudit', `limit must be a non-negative integer, got ${limit}`);
  }
  return limit;
}

/**
 * Distinct refs in one global order (type, then id). Adapters take row locks in this order, so two
 * acquirers of overlapping sets queue on the same first row instead of deadlocking.
 */
export function sortedUniqueRefs(entities: EntityRef[]): EntityRef[] {
  const byKey = new Map<string, EntityRef>();
  for (const ref of entities) {
    if (ref.type !== 'VM' && ref.type !== 'DISK') {
      throw new InventoryError('acquireLocks', `unknown entity type ${JSON.stringify(ref.type)}`);
    }
    byKey.set(`${ref.type}\u0000${ref.id}`, { type: ref.type, id: ref.id });
  }
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, ref]) => ref);
}

/** Locks in the global ref order (type, then id), so conflict messages are stable. */
export function sortLocks(locks: EntityLock[]): EntityLock[] {
  return [...locks].sort((a, b) =>
    a.type === b.type ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.type < b.type ? -1 : 1,
  );
}

/** Errors that already say what went wrong pass; anything else becomes an InventoryError keeping it as cause. */
export function asInventoryError(operation: string, err: unknown): Error {
  if (
    err instanceof EntityLockedError ||
    err instanceof NotFoundError ||
    err instanceof InventoryError ||
    err instanceof TaskClaimError
  ) {
    return err;
  }
  const message = err instanceof Error ? err.message : String(err);
  return new InventoryError(operation, message, { cause: err });
}
