import {
  hookLedgerEntry,
  makeInventory,
  sameInventory,
  type HookLedger,
  type Inventory,
} from '../core/inventory.ts';
import type { ResourceId } from '../core/resource.ts';
import type { OwnerRef } from '../core/ownership.ts';
import { ownerIdentity, type SyncDeps, type SyncOptions } from './context.ts';
import { readOwnInventory } from './inventory.ts';
import type { CompletedHooks } from './hooks.ts';

/** The hooks that completed for one desired state, and the ledger to keep of them. */
export interface LedgerOfHooks extends CompletedHooks {
  ledger(): HookLedger | undefined;
}

export interface InventoryRecord {
  readonly application: string;
  /** The Application the owner name stands for, recorded with it. */
  readonly ownerRef: OwnerRef | undefined;
  /** `previous` was taken over from a legacy name: not stored under this one yet, so always written. */
  readonly migrated: boolean;
  readonly previous: Inventory | undefined;
  /** The resources the application owns now. */
  readonly owned: readonly ResourceId[];
  /**
   * 'succeeded': the inventory takes this sync's digest and revision. 'failed': it keeps the previous
   * ones, and the ledger of hooks that completed for this desired state, so that the retry does not
   * run them again. 'partial' (a sync of a selection): the previous digest, revision and ledger stay,
   * since the desired state was not applied whole.
   */
  readonly outcome: 'succeeded' | 'failed' | 'partial';
  readonly digest: string;
  readonly revision: string | undefined;
  readonly completed: LedgerOfHooks | undefined;
}

/**
 * Writes the application's inventory. A record equal to the one read when the sync began is not
 * written again (a periodic full comparison that found nothing to do writes nothing); one changed
 * meanwhile by another client stays as it is.
 */
export async function recordInventory(record: InventoryRecord, deps: SyncDeps): Promise<void> {
  const succeeded = record.outcome === 'succeeded';
  const ledger =
    record.outcome === 'partial'
      ? record.previous?.hooks
      : succeeded
        ? undefined
        : record.completed?.ledger();
  const next: Inventory = {
    ...makeInventory(record.application, record.owned, {
      owner: record.ownerRef,
      digest: succeeded ? record.digest : (record.previous?.digest ?? ''),
      now: deps.clock.now(),
      revision: succeeded ? record.revision : record.previous?.revision,
    }),
    ...(ledger ? { hooks: ledger } : {}),
  };
  if (record.previous && !record.migrated && sameInventory(record.previous, next)) return;
  await deps.inventory.write(next);
}

/**
 * The hooks that completed for this desired state (see HookLedger): those its previous, unfinished
 * syncs recorded, and each that completes now, written to the inventory at once. The rest of the
 * inventory (what is owned, the last successful digest) is kept as it is then (SyncFail hooks run
 * after the failed sync has recorded what it applied).
 */
export function completedHooks(
  options: Pick<SyncOptions, 'application' | 'ownerRef' | 'legacyOwners'>,
  previous: Inventory | undefined,
  digest: string,
  deps: SyncDeps,
): LedgerOfHooks {
  const done = new Set(previous?.hooks?.digest === digest ? previous.hooks.completed : []);
  return {
    has: (phase, id) => done.has(hookLedgerEntry(phase, id)),
    record: async (phase, id) => {
      done.add(hookLedgerEntry(phase, id));
      const base =
        (await readOwnInventory(ownerIdentity(options), deps.inventory)).inventory ??
        makeInventory(options.application, [], {
          owner: options.ownerRef,
          digest: '',
          now: deps.clock.now(),
        });
      await deps.inventory.write({ ...base, hooks: { digest, completed: [...done].sort() } });
    },
    ledger: () => (done.size > 0 ? { digest, completed: [...done].sort() } : undefined),
  };
}
