import { CapstanError } from '../core/errors.ts';
import { renderDigest } from '../core/digest.ts';
import type { Inventory } from '../core/inventory.ts';
import type { ResourceId } from '../core/resource.ts';
import { formatId, keyOf, parseKey } from '../core/resource.ts';
import type { SyncResult } from '../core/sync-result.ts';
import type { RenderedObject } from '../ports/renderer.ts';
import { ChangeSet, syncResult } from './change-set.ts';
import {
  DEFAULT_CONCURRENCY,
  DEFAULT_TIMEOUT_MS,
  ownerIdentity,
  type SyncDeps,
  type SyncOptions,
} from './context.ts';
import { runHooks } from './hooks.ts';
import { planSync, type SyncPlan } from './plan-sync.ts';
import { pruneLeftBehind } from './prune.ts';
import { applyDesired } from './sync-apply.ts';
import { reportDryRun } from './sync-dry-run.ts';
import { completedHooks, recordInventory } from './sync-inventory.ts';
import { stopIfCancelled, watchedOf, type SyncRun } from './sync-run.ts';
import { waitForHealth } from './wait.ts';

export { planSync, type SyncPlan } from './plan-sync.ts';

/**
 * Makes the cluster equal to the rendered desired state of one application, as a runbook:
 *   1. refuse an empty render        5. prune what this application owned and no longer wants
 *   2. plan (server-side dry run)    6. record the inventory
 *   3. a dry run stops here          7. wait for health, when asked
 *   4. apply: namespaces, CRDs, PreSync hooks, waves with Sync hooks, PostSync hooks
 * Nothing is applied when the plan fails; nothing is pruned when anything failed or the render was
 * empty. Every step adds its entries to one change set, which becomes the SyncResult.
 */
export async function sync(
  rendered: readonly RenderedObject[],
  options: SyncOptions,
  deps: SyncDeps,
): Promise<SyncResult> {
  const startedAt = deps.clock.now();
  const changes = new ChangeSet(deps.progress);
  const digest = renderDigest(rendered.map((r) => r.object));
  const finish = (failedBecause?: string) =>
    syncResult(
      changes,
      {
        application: options.application,
        revision: options.revision,
        digest,
        startedAt,
        finishedAt: deps.clock.now(),
        dryRun: options.dryRun === true,
        ...(options.resources ? { resources: options.resources } : {}),
      },
      { failedBecause },
    );

  // 1. An empty render is refused: syncing it would prune everything the application owns.
  refuseEmptyRender(rendered, options);

  // 2. Prepare (identity, namespaces, ownership marks) and plan (a server-side dry run of the whole set,
  //    or of the selected objects); a selector that names nothing of the render fails here.
  const planned = await planOrReport(rendered, options, deps, changes);
  if (typeof planned === 'string') return finish(planned);
  if (planned.plan.failures.length > 0) return finish(reportPlanFailures(planned, changes));
  const run = startRun({ options, deps, planned, changes, digest });

  // 3. A dry run reports the plan and what would be pruned, and stops.
  if (options.dryRun === true) {
    await reportDryRun(run);
    return finish();
  }

  // 4. Apply, in order; a failed step keeps what it applied owned, runs SyncFail hooks, prunes nothing.
  const outcome = await applyDesired(run);
  if (outcome.failure !== undefined) {
    await recordFailedSync(run, outcome.applied);
    return finish(outcome.failure);
  }

  // 5. Prune what this application owned and no longer wants (only after everything else succeeded).
  const stillOwned = await pruneDeparted(run);

  // 6. Record the inventory: what is wanted, plus what was left behind and is still owned. A sync of a
  //    selection keeps every previous entry, adds what it applied, and keeps the previous digest.
  const partial = options.resources !== undefined;
  await recordInventory(
    {
      application: options.application,
      ownerRef: options.ownerRef,
      migrated: planned.migratedFrom !== undefined,
      previous: planned.previous,
      owned: [
        // A sync of a selection keeps the previous entries but those it pruned.
        ...(partial ? keptOf(planned.previous, planned.candidates, stillOwned) : []),
        ...planned.regular.map((o) => o.id),
        ...stillOwned,
      ],
      outcome: partial ? 'partial' : 'succeeded',
      digest,
      revision: options.revision,
      completed: run.completed,
    },
    deps,
  );

  // 7. Wait for health when asked; Degraded ends the wait early.
  if (options.wait === true) return finish(await waitForAll(run));
  return finish();
}

/** The previous inventory's entries less the candidates pruned (those not still owned). */
function keptOf(
  previous: Inventory | undefined,
  candidates: readonly ResourceId[],
  stillOwned: readonly ResourceId[],
): ResourceId[] {
  const kept = new Set(stillOwned.map(keyOf));
  const gone = new Set(candidates.map(keyOf).filter((key) => !kept.has(key)));
  return (previous?.entries ?? []).filter((key) => !gone.has(key)).map(parseKey);
}

function refuseEmptyRender(rendered: readonly RenderedObject[], options: SyncOptions): void {
  if (rendered.length === 0 && options.allowEmpty !== true) {
    throw new CapstanError(
      'SYNC_EMPTY_RENDER',
      'the desired state is empty (the render produced no objects); refusing to sync, since that would prune everything. If this is intended, allow empty renders (--allow-empty)',
    );
  }
}

/** The plan; or, when the selection names what the render does not hold, why the sync failed (nothing changed). */
async function planOrReport(
  rendered: readonly RenderedObject[],
  options: SyncOptions,
  deps: SyncDeps,
  changes: ChangeSet,
): Promise<SyncPlan | string> {
  try {
    return await planSync(rendered, options, deps);
  } catch (error) {
    if (!(error instanceof CapstanError) || error.code !== 'SYNC_SELECTION_NOT_FOUND') throw error;
    const named = new Set(error.fields);
    for (const s of options.resources ?? [])
      changes.add(
        named.has(keyOf(s))
          ? {
              id: s,
              wave: 0,
              action: 'failed',
              code: error.code,
              message: 'not in the desired state, or a hook',
            }
          : { id: s, wave: 0, action: 'skipped', message: 'not applied: the selection cannot be synced' },
      );
    return error.message;
  }
}

/** A failed plan: the failures, every other object skipped; why the sync failed. */
function reportPlanFailures(planned: SyncPlan, changes: ChangeSet): string {
  const { failures } = planned.plan;
  for (const failure of failures) changes.add({ ...failure, wave: 0, action: 'failed' });
  const failedKeys = new Set(failures.map((f) => keyOf(f.id)));
  for (const o of planned.regular)
    if (!failedKeys.has(keyOf(o.id)))
      changes.add({ id: o.id, wave: o.wave, action: 'skipped', message: 'not applied: the plan failed' });
  return `the plan failed for ${failures.length} object(s); nothing was changed: ${failures.map((f) => `${formatId(f.id)}: ${f.message}`).join('; ')}`;
}

/** What every later step reads. Hooks run once per desired state when asked (SyncOptions.hooks). */
function startRun(input: {
  options: SyncOptions;
  deps: SyncDeps;
  planned: SyncPlan;
  changes: ChangeSet;
  digest: string;
}): SyncRun {
  const { options, deps, planned, changes, digest } = input;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const once = options.hooks === 'once';
  const completed = once ? completedHooks(options, planned.previous, digest, deps) : undefined;
  return {
    options,
    deps,
    planned,
    changeOf: new Map(planned.plan.changes.map((c) => [keyOf(c.prepared.id), c])),
    changes,
    digest,
    timeoutMs,
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    runHookPhases: !once || planned.previous?.digest !== digest,
    completed,
    hooks: {
      deps,
      prepared: planned.byKey,
      timeoutMs,
      emit: changes.add,
      digest,
      ...(completed ? { completed } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    },
  };
}

/**
 * After a failed step: keep ownership of everything that may exist now (the previous inventory and
 * what this sync applied), keep the previous digest, then run the SyncFail hooks.
 */
async function recordFailedSync(run: SyncRun, applied: readonly ResourceId[]): Promise<void> {
  const { options, planned } = run;
  await recordInventory(
    {
      application: options.application,
      ownerRef: options.ownerRef,
      migrated: planned.migratedFrom !== undefined,
      previous: planned.previous,
      owned: [...(planned.previous?.entries ?? []).map(parseKey), ...applied],
      outcome: 'failed',
      digest: run.digest,
      revision: options.revision,
      completed: run.completed,
    },
    run.deps,
  );
  const failHooks = planned.order.phases.SyncFail;
  if (failHooks.length > 0) {
    run.changes.step('running SyncFail hooks');
    await runHooks('SyncFail', failHooks, run.hooks);
  }
}

/** Prunes (or, with prune off, reports) what left the desired state; the resources still owned. */
async function pruneDeparted(run: SyncRun): Promise<readonly ResourceId[]> {
  const { candidates } = run.planned;
  const prune = run.options.prune === true;
  stopIfCancelled(run.options);
  if (candidates.length > 0)
    run.changes.step(
      `${prune ? 'pruning' : 'checking'} ${candidates.length} object(s) no longer in the desired state`,
    );
  const pruned = await pruneLeftBehind(
    candidates,
    { owner: ownerIdentity(run.options), prune, dryRun: false, deletion: run.options.deletion === true },
    run.deps,
    run.changes.add,
  );
  return pruned.stillOwned;
}

/** Waits until every resource is healthy and adds the health to the entries; why not, if not. */
async function waitForAll(run: SyncRun): Promise<string | undefined> {
  const { deps, timeoutMs } = run;
  const watched = await watchedOf(run.planned.regular, deps);
  run.changes.step(
    `waiting for ${watched.length} resource(s) to be healthy (up to ${Math.round(timeoutMs / 1000)} s)`,
  );
  const outcome = await waitForHealth(watched, {
    cluster: deps.cluster,
    clock: deps.clock,
    assessHealth: deps.assessHealth,
    timeoutMs,
    ...(run.options.signal ? { signal: run.options.signal } : {}),
  });
  run.changes.update((entry) => {
    const health = outcome.health.get(formatId(entry.id));
    return health && entry.action !== 'pruned' ? { ...entry, health } : entry;
  });
  if (outcome.healthy) return undefined;
  return `applied, but ${outcome.timedOut ? `not healthy within ${Math.round(timeoutMs / 1000)} s` : 'degraded'}: ${outcome.pending.join('; ')}`;
}
