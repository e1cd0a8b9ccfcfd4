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
  DiskAttachment,
  EntityLock,
  Host,
  Snapshot,
  StorageDomain,
  StoragePool,
  TaskClaim,
  TaskObservation,
  TaskStartIntent,
  Vm,
  Volume,
} from './port';
import { domainKind } from '../fixture/schema';
import { InventoryConflictError, InventoryError, TaskClaimError } from './errors';

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

/** A domain row with `used_bytes`: the capacity of its volumes, summed by the query (DOMAIN_COLUMNS). */
export const DomainRow = z
  .object({
    id: z.string(),
    pool_id: z.string(),
    name: z.string(),
    storage_type: z.string(),
    discard_after_delete: bool,
    supports_discard: bool,
    size_bytes: int,
    used_bytes: int,
  })
  .transform((r): StorageDomain => ({
    id: r.id,
    poolId: r.pool_id,
    name: r.name,
    storageType: r.storage_type,
    discardAfterDelete: r.discard_after_delete,
    supportsDiscard: r.supports_discard,
    kind: domainKind(r.storage_type),
    sizeBytes: r.size_bytes,
    freeBytes: r.size_bytes - r.used_bytes,
  }));

/** What both dialects select for a domain (alias `d`): its row and what its volumes take. */
export const DOMAIN_COLUMNS = `d.*, (SELECT COALESCE(SUM(v.size_bytes), 0) FROM volumes v WHERE v.domain_id = d.id) AS used_bytes`;

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

/** A disk as its row holds it; its chain and format come from its volumes (see volumes.ts). */
export type DiskRecord = Omit<Disk, 'volumeIds' | 'format' | 'volumeType'>;

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
  })
  .transform((r): DiskRecord => ({
    id: r.id,
    poolId: r.pool_id,
    alias: r.alias,
    vmId: r.vm_id,
    domainId: r.domain_id,
    sizeBytes: r.size_bytes,
    wipeAfterDelete: r.wipe_after_delete,
    shareable: r.shareable,
    status: r.status,
  }));

export const AttachmentRow = z
  .object({ vm_id: z.string(), disk_id: z.string(), plugged: bool, pass_discard: bool })
  .transform((r): DiskAttachment => ({
    vmId: r.vm_id,
    diskId: r.disk_id,
    plugged: r.plugged,
    passDiscard: r.pass_discard,
  }));

export const VolumeFormats = ['COW', 'RAW'] as const;
export const VolumeTypes = ['SPARSE', 'PREALLOCATED'] as const;
export const VolumeLegalities = ['LEGAL', 'ILLEGAL'] as const;
export const SnapshotStatuses = ['OK', 'LOCKED', 'IN_PREVIEW'] as const;
export const EntityTypes = ['VM', 'DISK', 'SNAPSHOT'] as const;
export const LockModes = ['exclusive', 'shared'] as const;

export const VolumeRow = z
  .object({
    id: z.string(),
    disk_id: z.string(),
    domain_id: z.string(),
    parent_id: z.string().nullable(),
    active: bool,
    snapshot_id: z.string().nullable(),
    format: z.enum(VolumeFormats),
    volume_type: z.enum(VolumeTypes),
    legality: z.enum(VolumeLegalities),
    size_bytes: int,
    actual_size_bytes: int.nullable(),
    created_at: time,
  })
  .transform((r): Volume => ({
    id: r.id,
    diskId: r.disk_id,
    domainId: r.domain_id,
    parentId: r.parent_id,
    active: r.active,
    snapshotId: r.snapshot_id,
    format: r.format,
    volumeType: r.volume_type,
    legality: r.legality,
    sizeBytes: r.size_bytes,
    actualSizeBytes: r.actual_size_bytes,
    createdAt: r.created_at,
  }));

export const SnapshotRow = z
  .object({
    id: z.string(),
    vm_id: z.string(),
    description: z.string(),
    status: z.enum(SnapshotStatuses),
    created_at: time,
  })
  .transform((r): Snapshot => ({
    id: r.id,
    vmId: r.vm_id,
    description: r.description,
    status: r.status,
    createdAt: r.created_at,
  }));

export const LockRow = z
  .object({
    entity_type: z.enum(EntityTypes),
    entity_id: z.string(),
    mode: z.enum(LockModes),
    owner: z.string(),
    reason: z.string(),
    acquired_at: time,
  })
  .transform((r): EntityLock => ({
    type: r.entity_type,
    id: r.entity_id,
    mode: r.mode,
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

/** A value of a closed vocabulary, checked before it is written. */
export function checkOneOf(
  value: unknown,
  allowed: readonly string[],
  what: string,
  operation: string,
): void {
  if (typeof value !== 'string' || !allowed.includes(value)) {
    throw new InventoryError(operation, `unknown ${what} ${JSON.stringify(value)}`);
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

/** Errors that already say what went wrong pass; anything else becomes an InventoryError keeping it as cause. */
export function asInventoryError(operation: string, err: unknown): Error {
  if (
    err instanceof EntityLockedError ||
    err instanceof NotFoundError ||
    err instanceof InventoryError ||
    err instanceof InventoryConflictError ||
    err instanceof TaskClaimError
  ) {
    return err;
  }
  const message = err instanceof Error ? err.message : String(err);
  return new InventoryError(operation, message, { cause: err });
}
