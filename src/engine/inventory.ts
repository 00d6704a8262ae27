import { CapstanError } from '../core/errors.ts';
import { inventoryBelongsTo, migratedInventory, type Inventory } from '../core/inventory.ts';
import { formatOwnerRef, type OwnerIdentity } from '../core/ownership.ts';
import type { InventoryStore } from '../ports/inventory.ts';

export interface OwnInventory {
  readonly inventory: Inventory | undefined;
  /** The legacy owner name whose record `inventory` was taken from; the sync writes it under the new name. */
  readonly migratedFrom?: string;
}

/**
 * The inventory of `owner`: its own record, checked to be that of the same Application; else, on the
 * first sync after an upgrade, the record an earlier release wrote under a legacy name (see
 * `migratedInventory`). A record of another Application is an error, never an empty inventory.
 */
export async function readOwnInventory(owner: OwnerIdentity, store: InventoryStore): Promise<OwnInventory> {
  const own = await store.read(owner.name);
  if (own) {
    if (!inventoryBelongsTo(own, owner)) throw ownerMismatch(own, owner);
    return { inventory: own };
  }
  for (const legacy of owner.legacyNames ?? []) {
    if (legacy === owner.name) continue;
    const record = await store.read(legacy);
    // A legacy record names no Application; one that names any was written by this release for another.
    if (record && record.owner === undefined)
      return { inventory: migratedInventory(record, owner), migratedFrom: legacy };
  }
  return { inventory: undefined };
}

function ownerMismatch(inventory: Inventory, owner: OwnerIdentity): CapstanError {
  const stored = inventory.owner ? `Application ${formatOwnerRef(inventory.owner)}` : 'no Application';
  const expected = owner.ref ? `Application ${formatOwnerRef(owner.ref)}` : 'no Application';
  return new CapstanError(
    'INVENTORY_OWNER_MISMATCH',
    `the inventory of '${owner.name}' records ${stored}, not ${expected}: two owners share one name; nothing was changed. Rename one of them, or delete the inventory if it is stale`,
    { subject: `inventory ${owner.name}` },
  );
}
