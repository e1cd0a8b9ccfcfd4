/**
 * The decision of acquireLocks, shared by both adapters: given the locks the wanted entities have
 * now, what conflicts, what to insert and what to upgrade. The adapters only read and write rows
 * (each within one transaction that no other acquirer of the same entities can interleave with).
 */
import { EntityTypes, LockModes } from './codec';
import { InventoryError } from './errors';
import type { EntityLock, EntityRef, EntityType, LockMode } from './port';

export interface WantedLock {
  type: EntityType;
  id: string;
  mode: LockMode;
}

export interface LockPlan {
  /** Every lock of another owner that stands in the way, in the global order. */
  conflicts: EntityLock[];
  /** Entities the owner does not hold yet. */
  insert: WantedLock[];
  /** Entities the owner holds shared and now wants exclusive. */
  upgrade: WantedLock[];
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Distinct entities in one global order (type, then id), each in the strongest mode asked for.
 * PostgreSQL takes its per-entity locks in this order, so two acquirers of overlapping sets queue on
 * the same first entity instead of deadlocking.
 */
export function wantedLocks(entities: EntityRef[]): WantedLock[] {
  const byKey = new Map<string, WantedLock>();
  for (const ref of entities) {
    if (!(EntityTypes as readonly string[]).includes(ref.type)) {
      throw new InventoryError('acquireLocks', `unknown entity type ${JSON.stringify(ref.type)}`);
    }
    const mode = ref.mode ?? 'exclusive';
    if (!(LockModes as readonly string[]).includes(mode)) {
      throw new InventoryError('acquireLocks', `unknown lock mode ${JSON.stringify(mode)}`);
    }
    const key = `${ref.type}\u0000${ref.id}`;
    const seen = byKey.get(key);
    if (!seen || mode === 'exclusive') byKey.set(key, { type: ref.type, id: ref.id, mode });
  }
  return [...byKey.entries()].sort(([a], [b]) => compare(a, b)).map(([, lock]) => lock);
}

/** Locks in the global order (type, id, then owner), so conflict lists are stable. */
export function sortLocks(locks: EntityLock[]): EntityLock[] {
  return [...locks].sort(
    (a, b) => compare(a.type, b.type) || compare(a.id, b.id) || compare(a.owner, b.owner),
  );
}

/** `held`: every current lock of the wanted entities, whoever holds it. */
export function planLocks(owner: string, wanted: WantedLock[], held: EntityLock[]): LockPlan {
  const plan: LockPlan = { conflicts: [], insert: [], upgrade: [] };
  for (const want of wanted) {
    const holders = held.filter((l) => l.type === want.type && l.id === want.id);
    const mine = holders.find((l) => l.owner === owner);
    // An exclusive lock of the owner already covers anything it may ask for.
    if (mine?.mode === 'exclusive') continue;
    const blocking = holders.filter(
      (l) => l.owner !== owner && (want.mode === 'exclusive' || l.mode === 'exclusive'),
    );
    if (blocking.length > 0) plan.conflicts.push(...blocking);
    else if (!mine) plan.insert.push(want);
    else if (want.mode === 'exclusive') plan.upgrade.push(want);
  }
  plan.conflicts = sortLocks(plan.conflicts);
  return plan;
}
