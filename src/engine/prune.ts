import { ignoresExtraneous } from '../core/argocd.ts';
import { failureOf } from '../core/errors.ts';
import { kindRank } from '../core/ordering.ts';
import { pruneDecision, type OwnerIdentity } from '../core/ownership.ts';
import type { ResourceId } from '../core/resource.ts';
import { formatId } from '../core/resource.ts';
import type { SyncEntry } from '../core/sync-result.ts';
import type { SyncDeps } from './context.ts';

export interface PruneOutcome {
  readonly entries: SyncEntry[];
  /** Left-behind resources that still exist, are owned, and stay in the inventory (prune off, or failed). */
  readonly stillOwned: ResourceId[];
}

/**
 * Deletes, in reverse dependency order, the resources of the previous inventory that left the desired
 * state — only those that still carry this application's ownership marks and are not annotated to be
 * kept. With prune off they are reported and stay owned.
 */
export async function pruneLeftBehind(
  candidates: readonly ResourceId[],
  options: { owner: OwnerIdentity; prune: boolean; dryRun: boolean; deletion?: boolean },
  deps: SyncDeps,
  emit: (entry: SyncEntry) => void,
): Promise<PruneOutcome> {
  const ordered = [...candidates].sort(
    (a, b) => kindRank(b.kind) - kindRank(a.kind) || formatId(a).localeCompare(formatId(b)),
  );
  const entries: SyncEntry[] = [];
  const stillOwned: ResourceId[] = [];
  for (const id of ordered) {
    const record = (entry: SyncEntry) => {
      entries.push(entry);
      emit(entry);
    };
    try {
      const type = await deps.cluster.preferredType(id.group, id.kind);
      if (!type) {
        record({
          id,
          wave: 0,
          action: 'skipped',
          message: `the cluster no longer serves ${id.group || 'core'} ${id.kind}; nothing to prune`,
        });
        continue;
      }
      const live = await deps.cluster.get(type, id.namespace, id.name);
      if (!live) continue; // already gone: it simply leaves the inventory
      const decision = pruneDecision(live, options.owner, id, { deletion: options.deletion === true });
      if (!decision.prune) {
        record({ id, wave: 0, action: 'skipped', message: decision.reason });
        continue;
      }
      if (!options.prune) {
        stillOwned.push(id);
        // Marked compare-options IgnoreExtraneous: kept, and not a difference that keeps the application OutOfSync.
        const ignored = ignoresExtraneous(live);
        record({
          id,
          wave: 0,
          action: 'skipped',
          message: ignored
            ? 'no longer in the desired state, not a difference (compare-options IgnoreExtraneous): pruned only with prune on'
            : 'no longer in the desired state: would be pruned with prune on',
          ...(ignored ? {} : { prunePending: true }),
        });
        continue;
      }
      if (!options.dryRun)
        await deps.cluster.delete(type, id.namespace, id.name, {
          propagationPolicy: 'Background',
          ...(live.metadata.uid ? { uid: live.metadata.uid } : {}),
        });
      record({
        id,
        wave: 0,
        action: 'pruned',
        message: options.dryRun ? 'would be pruned' : '',
        ...(options.dryRun ? { dryRun: true } : {}),
      });
    } catch (error) {
      stillOwned.push(id);
      const failure = failureOf(error);
      record({ id, wave: 0, action: 'failed', ...failure, message: `prune failed: ${failure.message}` });
    }
  }
  return { entries, stillOwned };
}
