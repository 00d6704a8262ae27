import { CapstanError } from './errors.ts';
import type { ResourceId } from './resource.ts';
import { keyOf, parseKey } from './resource.ts';

/**
 * The inventory of an application: what its last successful sync applied. Kept in the cluster (see
 * the ownership record), so that a CLI sync from CI and the agent agree on what is owned.
 */
export interface Inventory {
  readonly application: string;
  /** Resource keys (`group/Kind/namespace/name`), sorted. */
  readonly entries: readonly string[];
  readonly revision?: string;
  readonly digest: string;
  /** ISO 8601. */
  readonly updatedAt: string;
}

export function makeInventory(
  application: string,
  ids: readonly ResourceId[],
  details: { digest: string; now: Date; revision?: string | undefined },
): Inventory {
  return {
    application,
    entries: [...new Set(ids.map(keyOf))].sort(),
    ...(details.revision === undefined ? {} : { revision: details.revision }),
    digest: details.digest,
    updatedAt: details.now.toISOString(),
  };
}

/** What the previous inventory has that the desired state no longer has: candidates for pruning. */
export function leftBehind(previous: Inventory | undefined, current: readonly ResourceId[]): ResourceId[] {
  if (!previous) return [];
  const keep = new Set(current.map(keyOf));
  return previous.entries.filter((key) => !keep.has(key)).map(parseKey);
}

const KEY = /^[a-z0-9.-]*\/[A-Za-z0-9]+\/[a-z0-9.-]*\/[A-Za-z0-9.:_-]+$/;

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
    !v.entries.every((e) => typeof e === 'string' && KEY.test(e))
  ) {
    throw new CapstanError(
      'INVENTORY_DAMAGED',
      `the inventory in ${where} does not have the expected fields; fix or delete it`,
      { subject: where },
    );
  }
  return {
    application: v.application,
    entries: v.entries,
    digest: v.digest,
    updatedAt: v.updatedAt,
    ...(typeof v.revision === 'string' ? { revision: v.revision } : {}),
  };
}

export function encodeInventory(inventory: Inventory): string {
  return JSON.stringify(inventory);
}
