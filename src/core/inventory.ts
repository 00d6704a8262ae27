import { CapstanError } from './errors.ts';
import { canonicalJson } from './digest.ts';
import type { OwnerIdentity, OwnerRef } from './ownership.ts';
import { formatOwnerRef } from './ownership.ts';
import type { ResourceId } from './resource.ts';
import type { HookPhase } from './sync-result.ts';
import { keyOf, parseKey } from './resource.ts';

/**
 * The inventory of an application: what its last successful sync applied. Kept in the cluster (see
 * the ownership record), so that a CLI sync from CI and the agent agree on what is owned.
 */
export interface Inventory {
  /** The owner name (`OwnerIdentity.name`): the record's key. */
  readonly application: string;
  /** The Application the owner name stands for; checked when read (absent for `capstan push`). */
  readonly owner?: OwnerRef;
  /** Resource keys (`group/Kind/namespace/name`), sorted. */
  readonly entries: readonly string[];
  readonly revision?: string;
  readonly digest: string;
  /** ISO 8601. */
  readonly updatedAt: string;
  /** The hooks that completed in a sync not yet recorded as successful: see HookLedger. */
  readonly hooks?: HookLedger;
}

/**
 * The hooks that completed for one desired state (its render digest), as `Phase:key` entries, written
 * as each completes in the agent's automated syncs. A sync resumed after the replica syncing died (or
 * retried after a failure) skips them, even when they are gone (deleted on success by HookSucceeded,
 * or by a Job's ttlSecondsAfterFinished). Cleared by the sync that succeeds for that digest.
 */
export interface HookLedger {
  readonly digest: string;
  readonly completed: readonly string[];
}

export function makeInventory(
  application: string,
  ids: readonly ResourceId[],
  details: { digest: string; now: Date; revision?: string | undefined; owner?: OwnerRef | undefined },
): Inventory {
  return {
    application,
    ...(details.owner === undefined
      ? {}
      : { owner: { namespace: details.owner.namespace, name: details.owner.name } }),
    entries: [...new Set(ids.map(keyOf))].sort(),
    ...(details.revision === undefined ? {} : { revision: details.revision }),
    digest: details.digest,
    updatedAt: details.now.toISOString(),
  };
}

/**
 * Whether two inventories record the same thing: everything but `updatedAt`, which says when the record
 * last changed, so a sync that would write an equal record leaves the stored one as it is.
 */
export function sameInventory(a: Inventory, b: Inventory): boolean {
  const { updatedAt: _a, ...left } = a;
  const { updatedAt: _b, ...right } = b;
  return canonicalJson(left) === canonicalJson(right);
}

/**
 * Whether a stored inventory is the record of `owner`: the same owner name and the same Application
 * (both absent for `capstan push`). A record of another Application under the same name is never used.
 */
export function inventoryBelongsTo(inventory: Inventory, owner: OwnerIdentity): boolean {
  const stored = inventory.owner ? formatOwnerRef(inventory.owner) : undefined;
  const expected = owner.ref ? formatOwnerRef(owner.ref) : undefined;
  return inventory.application === owner.name && stored === expected;
}

/**
 * The inventory an earlier release wrote under a legacy owner name, taken over by `owner`: the same
 * entries, digest and hook ledger, under the new name and with the Application recorded. Its objects
 * still carry the legacy marks, so none of them is pruned on its strength (see `pruneDecision`); the
 * ones still wanted are marked anew by the sync.
 */
export function migratedInventory(legacy: Inventory, owner: OwnerIdentity): Inventory {
  return {
    ...legacy,
    application: owner.name,
    ...(owner.ref === undefined ? {} : { owner: { namespace: owner.ref.namespace, name: owner.ref.name } }),
  };
}

/** What the previous inventory has that the desired state no longer has: candidates for pruning. */
export function leftBehind(previous: Inventory | undefined, current: readonly ResourceId[]): ResourceId[] {
  if (!previous) return [];
  const keep = new Set(current.map(keyOf));
  return previous.entries.filter((key) => !keep.has(key)).map(parseKey);
}

const KEY_PATTERN = '[a-z0-9.-]*/[A-Za-z0-9]+/[a-z0-9.-]*/[A-Za-z0-9.:_-]+';
const KEY = new RegExp(`^${KEY_PATTERN}$`);
const LEDGER_ENTRY = new RegExp(`^(PreSync|Sync|PostSync|SyncFail):${KEY_PATTERN}$`);

/** The ledger entry of a hook that completed in a phase. */
export function hookLedgerEntry(phase: HookPhase, id: ResourceId): string {
  return `${phase}:${keyOf(id)}`;
}

function isOwnerRef(value: unknown): value is OwnerRef {
  const v = value as Partial<OwnerRef> | null;
  return typeof v === 'object' && v !== null && typeof v.namespace === 'string' && typeof v.name === 'string';
}

function isLedger(value: unknown): value is HookLedger {
  const v = value as Partial<HookLedger> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.digest === 'string' &&
    Array.isArray(v.completed) &&
    v.completed.every((e) => typeof e === 'string' && LEDGER_ENTRY.test(e))
  );
}

/** Reads an inventory from its stored JSON; a damaged record is an error, never an empty inventory. */
export function decodeInventory(text: string, where: string): Inventory {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CapstanError(
      'INVENTORY_DAMAGED',
      `the inventory in ${where} is not valid JSON; fix or delete it`,
      { subject: where, cause: error },
    );
  }
  const v = value as Partial<Inventory>;
  if (
    typeof v.application !== 'string' ||
    typeof v.digest !== 'string' ||
    typeof v.updatedAt !== 'string' ||
    !Array.isArray(v.entries) ||
    !v.entries.every((e) => typeof e === 'string' && KEY.test(e)) ||
    (v.hooks !== undefined && !isLedger(v.hooks)) ||
    (v.owner !== undefined && !isOwnerRef(v.owner))
  ) {
    throw new CapstanError(
      'INVENTORY_DAMAGED',
      `the inventory in ${where} does not have the expected fields; fix or delete it`,
      { subject: where },
    );
  }
  return {
    application: v.application,
    ...(v.owner === undefined ? {} : { owner: { namespace: v.owner.namespace, name: v.owner.name } }),
    entries: v.entries,
    digest: v.digest,
    updatedAt: v.updatedAt,
    ...(typeof v.revision === 'string' ? { revision: v.revision } : {}),
    ...(v.hooks === undefined ? {} : { hooks: { digest: v.hooks.digest, completed: v.hooks.completed } }),
  };
}

export function encodeInventory(inventory: Inventory): string {
  return JSON.stringify(inventory);
}
