import { CapstanError, messageOf } from '../core/errors.ts';
import { FIELD_MANAGER } from '../core/ownership.ts';
import { renderDigest } from '../core/digest.ts';
import type { Health } from '../core/health.ts';
import {
  hookLedgerEntry,
  leftBehind,
  makeInventory,
  sameInventory,
  type HookLedger,
  type Inventory,
} from '../core/inventory.ts';
import { kindRank, orderForSync, type OrderedObject, type SyncOrder, type Wave } from '../core/ordering.ts';
import type { ResourceId } from '../core/resource.ts';
import { formatId, keyOf, parseKey } from '../core/resource.ts';
import { summarise, type SyncEntry, type SyncResult } from '../core/sync-result.ts';
import type { RenderedObject } from '../ports/renderer.ts';
import { applyWave } from './apply.ts';
import { DEFAULT_TIMEOUT_MS, ownerIdentity, type SyncDeps, type SyncOptions } from './context.ts';
import { runHooks, type CompletedHooks } from './hooks.ts';
import { readOwnInventory } from './inventory.ts';
import { planChanges, type Plan, type PlannedChange } from './plan.ts';
import { prepare, type PreparedObject } from './prepare.ts';
import { pruneLeftBehind } from './prune.ts';
import { waitForHealth, type Watched } from './wait.ts';

/**
 * Makes the cluster equal to the rendered desired state of one application:
 * prepare → plan (server-side dry run of the whole set) → bootstrap (namespaces, CRDs) → PreSync hooks
 * → waves → PostSync hooks → prune what this application owned and no longer wants → record the
 * inventory → wait for health. Nothing is applied when the plan fails; nothing is pruned when anything
 * failed or the render was empty.
 */
export async function sync(
  rendered: readonly RenderedObject[],
  options: SyncOptions,
  deps: SyncDeps,
): Promise<SyncResult> {
  const startedAt = deps.clock.now();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const concurrency = options.concurrency ?? 8;
  const dryRun = options.dryRun === true;
  const entries: SyncEntry[] = [];
  const emit = (entry: SyncEntry) => {
    entries.push(entry);
    deps.progress?.({ type: 'entry', entry });
  };
  const step = (message: string) => deps.progress?.({ type: 'step', message });
  const digest = renderDigest(rendered.map((r) => r.object));
  const finish = (failedBecause?: string): SyncResult => ({
    application: options.application,
    phase:
      failedBecause === undefined && !entries.some((e) => e.action === 'failed') ? 'Succeeded' : 'Failed',
    message: failedBecause ?? summarise(entries),
    ...(options.revision === undefined ? {} : { revision: options.revision }),
    digest,
    startedAt: startedAt.toISOString(),
    finishedAt: deps.clock.now().toISOString(),
    dryRun,
    entries: inApplyOrder(entries),
  });

  // 1. An empty render is refused: syncing it would prune everything the application owns.
  if (rendered.length === 0 && options.allowEmpty !== true) {
    throw new CapstanError(
      'SYNC_EMPTY_RENDER',
      'the desired state is empty (the render produced no objects); refusing to sync, since that would prune everything. If this is intended, allow empty renders (--allow-empty)',
    );
  }

  // 2-3. Prepare (identity, namespaces, ownership marks) and plan (server-side dry run of the whole set).
  const planned = await planSync(rendered, options, deps);
  const { byKey, order, regular, plan, previous, candidates, missingNamespaces } = planned;
  const regularIds = regular.map((o) => o.id);
  if (plan.failures.length > 0) {
    for (const failure of plan.failures)
      emit({ id: failure.id, wave: 0, action: 'failed', message: failure.message });
    const failedKeys = new Set(plan.failures.map((f) => keyOf(f.id)));
    for (const o of regular)
      if (!failedKeys.has(keyOf(o.id)))
        emit({ id: o.id, wave: o.wave, action: 'skipped', message: 'not applied: the plan failed' });
    return finish(
      `the plan failed for ${plan.failures.length} object(s); nothing was changed: ${plan.failures.map((f) => `${formatId(f.id)}: ${f.message}`).join('; ')}`,
    );
  }
  const changes = new Map(plan.changes.map((c) => [keyOf(c.prepared.id), c]));
  // Cancelled (the agent stops, or lost its leadership): stop between steps and record nothing more —
  // no failed sync, no inventory of what was applied, no SyncFail hooks (the hooks that completed are
  // in the hook ledger already). What was applied stays; the next sync resumes it.
  const stopIfCancelled = () => {
    if (options.signal?.aborted === true) {
      throw new CapstanError(
        'SYNC_CANCELLED',
        `the sync of ${options.application} was cancelled part-way; nothing was recorded and the next sync carries on`,
        { retryable: true, cause: options.signal.reason },
      );
    }
  };

  // 4. A dry run reports the plan and what would be pruned, and stops.
  if (dryRun) {
    for (const name of missingNamespaces) {
      emit({
        id: { group: '', kind: 'Namespace', namespace: '', name },
        wave: 0,
        action: 'created',
        message: 'would be created (CreateNamespace)',
        dryRun: true,
      });
    }
    for (const o of regular) {
      const change = changes.get(keyOf(o.id));
      if (!change) continue;
      const action =
        change.action === 'unchanged'
          ? 'unchanged'
          : change.action === 'configure'
            ? 'configured'
            : 'created';
      emit({
        id: o.id,
        wave: o.wave,
        action,
        message: change.deferred
          ? `would be created (${change.deferred})`
          : change.action === 'replace'
            ? 'would be replaced (an immutable field changed)'
            : '',
        dryRun: true,
      });
    }
    await pruneLeftBehind(
      candidates,
      { owner: ownerIdentity(options), prune: options.prune === true, dryRun: true },
      deps,
      emit,
    );
    return finish();
  }

  const applied: ResourceId[] = [];
  // Hooks run once per desired state when asked (the agent's automated syncs): see SyncOptions.hooks.
  const once = options.hooks === 'once';
  const completed = once ? completedHooks(options, previous, digest, deps) : undefined;
  // The inventory's digest is that of the last successful sync: a failed one keeps the previous digest,
  // and the hooks that completed for this one, so that the retry does not run them again.
  // A record equal to the one read when the sync began is not written again (a periodic full comparison
  // that found nothing to do writes nothing); one changed meanwhile by another client stays as it is.
  const recordInventory = async (ids: readonly ResourceId[], succeeded: boolean) => {
    const ledger = succeeded ? undefined : completed?.ledger();
    const next: Inventory = {
      ...makeInventory(options.application, ids, {
        owner: options.ownerRef,
        digest: succeeded ? digest : (previous?.digest ?? ''),
        now: deps.clock.now(),
        revision: succeeded ? options.revision : previous?.revision,
      }),
      ...(ledger ? { hooks: ledger } : {}),
    };
    // A record taken over from a legacy name is always written: under the new name, it is not stored yet.
    if (previous && planned.migratedFrom === undefined && sameInventory(previous, next)) return;
    await deps.inventory.write(next);
  };
  const failAndRecord = async (why: string) => {
    // Keep ownership of everything that may exist now: the previous inventory and what this sync applied.
    const keep = [...(previous?.entries ?? []).map(parseKey), ...applied];
    await recordInventory(keep, false);
    await runFailHooks();
    return finish(why);
  };
  const runHookPhases = !once || previous?.digest !== digest;
  const hookContext = {
    deps,
    prepared: byKey,
    timeoutMs,
    emit,
    digest,
    ...(completed ? { completed } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const runFailHooks = async () => {
    if (order.phases.SyncFail.length > 0) {
      step('running SyncFail hooks');
      await runHooks('SyncFail', order.phases.SyncFail, hookContext);
    }
  };
  const applyObjects = async (objects: readonly OrderedObject[], wave: number): Promise<boolean> => {
    const list = objects
      .map((o) => changes.get(keyOf(o.id)))
      .filter((c): c is PlannedChange => c !== undefined);
    const result = await applyWave(list, {
      cluster: deps.cluster,
      clock: deps.clock,
      forceConflicts: options.forceConflicts === true,
      concurrency,
      timeoutMs,
      wave,
      emit,
    });
    for (const e of result) if (e.action === 'created' || e.action === 'configured') applied.push(e.id);
    return !result.some((e) => e.action === 'failed');
  };
  const waitHealthy = async (
    objects: readonly OrderedObject[],
    what: string,
  ): Promise<string | undefined> => {
    const watched = await watchedOf(objects, deps);
    if (watched.length === 0) return undefined;
    step(`waiting for ${what} to be healthy`);
    const outcome = await waitForHealth(watched, {
      cluster: deps.cluster,
      clock: deps.clock,
      assessHealth: deps.assessHealth,
      timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    stopIfCancelled();
    if (outcome.healthy) return undefined;
    return `${what} ${outcome.timedOut ? `not healthy within ${Math.round(timeoutMs / 1000)} s` : 'degraded'}: ${outcome.pending.join('; ')}`;
  };

  stopIfCancelled();
  // 5a. The CreateNamespace option: namespaces the objects need, created but never owned (never pruned).
  if (missingNamespaces.length > 0) {
    step(`creating ${missingNamespaces.length} namespace(s): ${missingNamespaces.join(', ')}`);
    const nsType = await deps.cluster.resourceType('v1', 'Namespace');
    for (const name of missingNamespaces) {
      const id = { group: '', kind: 'Namespace', namespace: '', name };
      try {
        if (!nsType) throw new CapstanError('KUBE_DISCOVERY', 'the cluster does not serve v1 Namespace');
        await deps.cluster.apply(
          nsType,
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
          { fieldManager: FIELD_MANAGER },
        );
        emit({
          id,
          wave: 0,
          action: 'created',
          message: 'created by the CreateNamespace option (not owned, never pruned)',
        });
      } catch (error) {
        emit({ id, wave: 0, action: 'failed', message: messageOf(error) });
        return failAndRecord(`creating namespace ${name} failed`);
      }
    }
  }

  // 5. Namespaces and CRDs first; CRDs must be Established before their custom resources are applied.
  if (order.bootstrap.length > 0) {
    step(`applying ${order.bootstrap.length} Namespace(s) and CustomResourceDefinition(s)`);
    if (!(await applyObjects(order.bootstrap, 0)))
      return failAndRecord('applying Namespaces or CustomResourceDefinitions failed; nothing was pruned');
    const crds = order.bootstrap.filter((o) => o.id.kind === 'CustomResourceDefinition');
    const notReady = await waitHealthy(crds, 'the CustomResourceDefinitions');
    if (notReady) return failAndRecord(notReady);
  }

  // 6. PreSync hooks: a failure stops the sync before any other change.
  if (runHookPhases && order.phases.PreSync.length > 0) {
    step('running PreSync hooks');
    const pre = await runHooks('PreSync', order.phases.PreSync, hookContext);
    stopIfCancelled();
    if (!pre.ok)
      return failAndRecord('a PreSync hook failed; the sync stopped before applying anything else');
  }

  // 7. Waves in order; each wave is healthy before the next one starts.
  const syncWaves = order.phases.Sync;
  for (const [index, wave] of syncWaves.entries()) {
    const objects = wave.objects.filter((o) => !o.hook);
    const hooks = wave.objects.filter((o) => o.hook);
    stopIfCancelled();
    step(`applying wave ${wave.wave}: ${objects.length} object(s)`);
    if (!(await applyObjects(objects, wave.wave)))
      return failAndRecord(
        `applying wave ${wave.wave} failed; later waves were not applied and nothing was pruned`,
      );
    if (runHookPhases && hooks.length > 0) {
      const syncHooks = await runHooks(
        'Sync',
        [{ wave: wave.wave, objects: hooks }] satisfies Wave[],
        hookContext,
      );
      stopIfCancelled();
      if (!syncHooks.ok) return failAndRecord(`a Sync hook of wave ${wave.wave} failed`);
    }
    const later = index < syncWaves.length - 1 || (runHookPhases && order.phases.PostSync.length > 0);
    if (later) {
      const unhealthy = await waitHealthy(objects, `wave ${wave.wave}`);
      if (unhealthy) return failAndRecord(`${unhealthy}; later waves were not applied`);
    }
  }

  // 8. PostSync hooks, once everything is healthy.
  if (runHookPhases && order.phases.PostSync.length > 0) {
    step('running PostSync hooks');
    const post = await runHooks('PostSync', order.phases.PostSync, hookContext);
    stopIfCancelled();
    if (!post.ok) return failAndRecord('a PostSync hook failed');
  }

  // 9. Prune what this application owned and no longer wants (only after everything else succeeded).
  stopIfCancelled();
  if (candidates.length > 0)
    step(
      `${options.prune === true ? 'pruning' : 'checking'} ${candidates.length} object(s) no longer in the desired state`,
    );
  const pruned = await pruneLeftBehind(
    candidates,
    { owner: ownerIdentity(options), prune: options.prune === true, dryRun: false },
    deps,
    emit,
  );

  // 10. Record the inventory: what is wanted, plus what was left behind and is still owned.
  await recordInventory([...regularIds, ...pruned.stillOwned], true);

  // 11. Wait for health when asked; Degraded ends the wait early.
  if (options.wait === true) {
    const watched = await watchedOf(regular, deps);
    step(`waiting for ${watched.length} resource(s) to be healthy (up to ${Math.round(timeoutMs / 1000)} s)`);
    const outcome = await waitForHealth(watched, {
      cluster: deps.cluster,
      clock: deps.clock,
      assessHealth: deps.assessHealth,
      timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    withHealth(entries, outcome.health);
    if (!outcome.healthy) {
      return finish(
        `applied, but ${outcome.timedOut ? `not healthy within ${Math.round(timeoutMs / 1000)} s` : 'degraded'}: ${outcome.pending.join('; ')}`,
      );
    }
  }
  return finish();
}

export interface SyncPlan {
  readonly prepared: readonly PreparedObject[];
  readonly byKey: ReadonlyMap<string, PreparedObject>;
  readonly order: SyncOrder;
  /** Objects that are not hooks, in apply order: the application's resources. */
  readonly regular: readonly OrderedObject[];
  readonly plan: Plan;
  readonly previous: Inventory | undefined;
  /** Resources of the previous inventory that left the desired state. */
  readonly candidates: readonly ResourceId[];
  /** Namespaces to create first (the CreateNamespace option): named by objects, absent from the cluster and the set. */
  readonly missingNamespaces: readonly string[];
  /** The legacy owner name `previous` was taken over from (the first sync after an upgrade). */
  readonly migratedFrom?: string;
}

/** Prepares and plans a sync without changing anything: the basis of `sync` and of `diff`. */
export async function planSync(
  rendered: readonly RenderedObject[],
  options: SyncOptions,
  deps: SyncDeps,
): Promise<SyncPlan> {
  const step = (message: string) => deps.progress?.({ type: 'step', message });
  step(`preparing ${rendered.length} object(s)`);
  const prepared = await prepare(rendered, {
    owner: ownerIdentity(options),
    namespace: options.namespace,
    cluster: deps.cluster,
  });
  const byKey = new Map(prepared.map((p) => [keyOf(p.id), p]));
  const order = orderForSync(prepared.map((p) => p.object));
  const regular = [...order.bootstrap, ...order.phases.Sync.flatMap((w) => w.objects.filter((o) => !o.hook))];
  const missingNamespaces = options.createNamespace === true ? await namespacesToCreate(prepared, deps) : [];
  step(`planning: server-side dry run of ${regular.length} object(s)`);
  const plan = await planChanges(
    regular.map((o) => byKey.get(keyOf(o.id))).filter((p): p is PreparedObject => p !== undefined),
    {
      cluster: deps.cluster,
      forceConflicts: options.forceConflicts === true,
      adopt: options.adopt === true,
      replace: options.replace === true,
      concurrency: options.concurrency ?? 8,
      owner: ownerIdentity(options),
      createdNamespaces: missingNamespaces,
    },
  );
  const { inventory: previous, migratedFrom } = await readOwnInventory(
    ownerIdentity(options),
    deps.inventory,
  );
  return {
    prepared,
    byKey,
    order,
    regular,
    plan,
    previous,
    candidates: leftBehind(
      previous,
      regular.map((o) => o.id),
    ),
    missingNamespaces,
    ...(migratedFrom === undefined ? {} : { migratedFrom }),
  };
}

async function watchedOf(objects: readonly OrderedObject[], deps: SyncDeps): Promise<Watched[]> {
  const watched: Watched[] = [];
  for (const o of objects) {
    const type = await deps.cluster.resourceType(o.object.apiVersion, o.object.kind);
    if (type) watched.push({ id: o.id, type });
  }
  return watched;
}

function withHealth(entries: SyncEntry[], health: ReadonlyMap<string, Health>): void {
  for (const [i, entry] of entries.entries()) {
    const h = health.get(formatId(entry.id));
    if (h && entry.action !== 'pruned') entries[i] = { ...entry, health: h };
  }
}

/** Namespaces that objects name, which neither exist in the cluster nor are part of the desired state. */
async function namespacesToCreate(prepared: readonly PreparedObject[], deps: SyncDeps): Promise<string[]> {
  const inSet = new Set(
    prepared.filter((p) => p.id.group === '' && p.id.kind === 'Namespace').map((p) => p.id.name),
  );
  const wanted = [
    ...new Set(prepared.map((p) => p.id.namespace).filter((ns) => ns !== '' && !inSet.has(ns))),
  ].sort();
  const nsType = await deps.cluster.resourceType('v1', 'Namespace');
  if (!nsType) return [];
  const missing: string[] = [];
  for (const name of wanted) if (!(await deps.cluster.get(nsType, '', name))) missing.push(name);
  return missing;
}

const PHASE_RANK: Record<string, number> = { PreSync: 0, Sync: 1, PostSync: 2, SyncFail: 3 };

/** Entries as a person reads them: by phase, wave, kind order and name; prunes last. (Progress events keep their own order.) */
function inApplyOrder(entries: readonly SyncEntry[]): SyncEntry[] {
  const rank = (e: SyncEntry) =>
    e.action === 'pruned' || (e.action === 'skipped' && e.message.includes('desired state'))
      ? 4
      : e.hook
        ? (PHASE_RANK[e.hook] ?? 1)
        : 1;
  return [...entries].sort(
    (a, b) =>
      rank(a) - rank(b) ||
      a.wave - b.wave ||
      kindRank(a.id.kind) - kindRank(b.id.kind) ||
      formatId(a.id).localeCompare(formatId(b.id)),
  );
}

/**
 * The hooks that completed for this desired state (see HookLedger): those its previous, unfinished
 * syncs recorded, and each that completes now, written to the inventory at once. The rest of the
 * inventory (what is owned, the last successful digest) is kept as it is then (SyncFail hooks run
 * after the failed sync has recorded what it applied).
 */
function completedHooks(
  options: SyncOptions,
  previous: Inventory | undefined,
  digest: string,
  deps: SyncDeps,
): CompletedHooks & { ledger(): HookLedger | undefined } {
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
