import { keyOf } from '../core/resource.ts';
import type { SyncAction } from '../core/sync-result.ts';
import type { PlanAction } from './plan.ts';
import { pruneLeftBehind } from './prune.ts';
import type { SyncRun } from './sync-run.ts';
import { ownerIdentity } from './context.ts';

const DRY_RUN_ACTION: Record<PlanAction, SyncAction> = {
  unchanged: 'unchanged',
  configure: 'configured',
  create: 'created',
  replace: 'created',
};

/** A dry run reports the plan and what would be pruned, and changes nothing. */
export async function reportDryRun(run: SyncRun): Promise<void> {
  const { changes, planned } = run;
  for (const name of planned.missingNamespaces) {
    changes.add({
      id: { group: '', kind: 'Namespace', namespace: '', name },
      wave: 0,
      action: 'created',
      message: 'would be created (CreateNamespace)',
      dryRun: true,
    });
  }
  for (const o of planned.regular) {
    const change = run.changeOf.get(keyOf(o.id));
    if (!change) continue;
    changes.add({
      id: o.id,
      wave: o.wave,
      action: DRY_RUN_ACTION[change.action],
      message: change.deferred
        ? `would be created (${change.deferred})`
        : change.action === 'replace'
          ? 'would be replaced (an immutable field changed)'
          : '',
      dryRun: true,
    });
  }
  await pruneLeftBehind(
    planned.candidates,
    { owner: ownerIdentity(run.options), prune: run.options.prune === true, dryRun: true },
    run.deps,
    changes.add,
  );
}
