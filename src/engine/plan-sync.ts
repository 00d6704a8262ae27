import { ignoresExtraneous, objectSyncOptions } from '../core/argocd.ts';
import { leftBehind, type Inventory } from '../core/inventory.ts';
import { CapstanError } from '../core/errors.ts';
import { hookOf, orderForSync, type OrderedObject, type SyncOrder } from '../core/ordering.ts';
import type { ResourceId } from '../core/resource.ts';
import { formatId, keyOf, parseKey } from '../core/resource.ts';
import {
  selectionProblems,
  selects,
  splitSelection,
  type ResourceSelector,
} from '../core/resource-selection.ts';
import type { RenderedObject } from '../ports/renderer.ts';
import { DEFAULT_CONCURRENCY, ownerIdentity, type SyncDeps, type SyncOptions } from './context.ts';
import { readOwnInventory } from './inventory.ts';
import { planChanges, type Plan } from './plan.ts';
import { prepare, type PreparedObject } from './prepare.ts';
import { enforceAdoption, enforceObjects } from './project-check.ts';

export interface SyncPlan {
  readonly prepared: readonly PreparedObject[];
  readonly byKey: ReadonlyMap<string, PreparedObject>;
  readonly order: SyncOrder;
  /** Objects that are not hooks, in apply order: the application's resources. */
  readonly regular: readonly OrderedObject[];
  readonly plan: Plan;
  readonly previous: Inventory | undefined;
  /** Resources of the previous inventory that left the desired state (what a prune looks at). */
  readonly candidates: readonly ResourceId[];
  /**
   * The candidates that make the application differ from its desired state: all but those whose live
   * object asks to be ignored while extraneous (argocd.argoproj.io/compare-options: IgnoreExtraneous).
   */
  readonly extraneous: readonly ResourceId[];
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
    now: deps.clock.now().getTime(),
    ...(options.ignoreDifferences ? { ignoreDifferences: options.ignoreDifferences } : {}),
  });
  // The whole render against the project, before anything is dry-run or applied.
  if (options.project)
    enforceObjects(
      prepared.map((p) => p.id),
      options.project,
    );
  // A sync of a selection: only the selected objects of the render, no hook (Argo CD's selective sync);
  // with prune, also the selected resources it owns that left the render. The inventory is read first.
  const owned = options.resources
    ? await readOwnInventory(ownerIdentity(options), deps.inventory)
    : undefined;
  const selection = options.resources
    ? selectedObjects(prepared, options.resources, {
        namespace: options.namespace,
        previous: owned?.inventory,
        prune: options.prune === true,
      })
    : undefined;
  const chosen = selection?.chosen ?? prepared;
  const byKey = new Map(chosen.map((p) => [keyOf(p.id), p]));
  const order = orderForSync(chosen.map((p) => p.object));
  const regular = [...order.bootstrap, ...order.phases.Sync.flatMap((w) => w.objects.filter((o) => !o.hook))];
  // CreateNamespace=true for the whole sync, or on the objects that ask for it (argocd.argoproj.io/sync-options).
  const asking =
    options.createNamespace === true
      ? chosen
      : chosen.filter((p) => objectSyncOptions(p.object).createNamespace);
  const missingNamespaces = asking.length > 0 ? await namespacesToCreate(prepared, asking, deps) : [];
  step(`planning: server-side dry run of ${regular.length} object(s)`);
  // The dry run of the whole set and the read of the previous inventory do not wait for each other.
  const [plan, { inventory: previous, migratedFrom }] = await Promise.all([
    planChanges(
      regular.map((o) => byKey.get(keyOf(o.id))).filter((p): p is PreparedObject => p !== undefined),
      {
        cluster: deps.cluster,
        forceConflicts: options.forceConflicts === true,
        adopt: options.adopt === true,
        replace: options.replace === true,
        concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
        owner: ownerIdentity(options),
        createdNamespaces: missingNamespaces,
        ...(deps.liveCache ? { liveCache: deps.liveCache } : {}),
      },
    ),
    owned ?? readOwnInventory(ownerIdentity(options), deps.inventory),
  ]);
  // Objects that exist and that Capstan did not create are adopted only where the project allows it.
  if (options.project) enforceAdoption(plan.unowned, options.project);
  // A sync of a selection prunes only the selected resources that departed: what it leaves out is not.
  const candidates =
    selection?.departed ??
    leftBehind(
      previous,
      regular.map((o) => o.id),
    );
  const ignored = await ignoringExtraneous(candidates, deps);
  return {
    prepared,
    byKey,
    order,
    regular,
    plan,
    previous,
    candidates,
    extraneous: candidates.filter((id) => !ignored.has(keyOf(id))),
    missingNamespaces,
    ...(migratedFrom === undefined ? {} : { migratedFrom }),
  };
}

/**
 * The objects of the render a selection names, and (with prune) the resources it names that the
 * application owns (its previous inventory) but no longer renders: those, and only those, are pruned.
 * A selector that names none of them, one that names a departed resource without prune, or one that
 * names a hook (a sync of a selection runs no hooks), fails the sync before anything is dry-run or
 * applied.
 */
function selectedObjects(
  prepared: readonly PreparedObject[],
  selection: readonly ResourceSelector[],
  context: { namespace: string; previous: Inventory | undefined; prune: boolean },
): { chosen: PreparedObject[]; departed: ResourceId[] } {
  const { namespace } = context;
  const owned = (context.previous?.entries ?? []).map(parseKey);
  const split = splitSelection(prepared, owned, selection, context);
  const hooks = split.selected.filter((p) => hookOf(p.object) !== undefined).map((p) => p.id);
  const reasons = selectionProblems(split, hooks);
  if (reasons.length === 0) return { chosen: split.selected, departed: split.departed };
  const faulty = [...split.unknown, ...split.unpruned];
  throw new CapstanError(
    'SYNC_SELECTION_NOT_FOUND',
    `the selection cannot be synced: ${reasons.join('; ')}; nothing was applied. Select resources of the rendered desired state (capstan app get lists them)`,
    {
      subject: [...faulty, ...hooks].map(formatId).join(', '),
      // The selectors at fault, by key: the sync's entries mark those failed.
      fields: selection
        .filter((s) => faulty.includes(s) || hooks.some((id) => selects(s, id, namespace)))
        .map(keyOf),
    },
  );
}

/**
 * The keys of the candidates whose live object carries compare-options IgnoreExtraneous. A candidate
 * that cannot be read (its kind no longer served, no right to read it) is not ignored: it still counts.
 */
async function ignoringExtraneous(candidates: readonly ResourceId[], deps: SyncDeps): Promise<Set<string>> {
  const ignored = new Set<string>();
  for (const id of candidates) {
    const type = await deps.cluster.preferredType(id.group, id.kind).catch(() => undefined);
    if (!type) continue;
    const live = await deps.cluster.get(type, id.namespace, id.name).catch(() => undefined);
    if (live && ignoresExtraneous(live)) ignored.add(keyOf(id));
  }
  return ignored;
}

/** Namespaces that the asking objects name, which neither exist in the cluster nor are part of the desired state. */
async function namespacesToCreate(
  prepared: readonly PreparedObject[],
  asking: readonly PreparedObject[],
  deps: SyncDeps,
): Promise<string[]> {
  const inSet = new Set(
    prepared.filter((p) => p.id.group === '' && p.id.kind === 'Namespace').map((p) => p.id.name),
  );
  const wanted = [
    ...new Set(asking.map((p) => p.id.namespace).filter((ns) => ns !== '' && !inSet.has(ns))),
  ].sort();
  const nsType = await deps.cluster.resourceType('v1', 'Namespace');
  if (!nsType) return [];
  const missing: string[] = [];
  for (const name of wanted) if (!(await deps.cluster.get(nsType, '', name))) missing.push(name);
  return missing;
}
