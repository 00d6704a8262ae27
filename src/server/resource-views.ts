/**
 * One resource of an Application as people look at it: its live manifest, its desired manifest
 * (rendered from Git at the synced or the target revision), what a sync would change in it, and its
 * Events. Only resources the Application manages (status.resources) or its desired state has can be
 * read: the server is no window onto the rest of the cluster. A Secret's values never leave: every
 * manifest and diff goes through the redaction of src/core/diff.ts.
 */
import { diffObjects, normalizeForCompare, redactSecret } from '../core/diff.ts';
import { CapstanError, messageOf } from '../core/errors.ts';
import { predictApplied } from '../core/predicted.ts';
import { formatId, idOf, withoutManagedFields, type KubeObject, type ResourceId } from '../core/resource.ts';
import { selectionProblems, splitSelection, type ResourceSelector } from '../core/resource-selection.ts';
import { hookOf } from '../core/ordering.ts';
import { applicationOwnerName, resolveSpec, type Application } from '../contracts/application.ts';
import { pruneDecision } from '../core/ownership.ts';
import type { DesiredState, LogFollow, LogTarget, ResourceReader } from '../ports/resource-reader.ts';
import { childrenOf, logTargetOf, podsOf, type ChildNode } from './pod-views.ts';
import { syncCandidatesOf } from './sync-candidates.ts';
import type {
  EventInfo,
  PodLogsQuery,
  PreviewEntry,
  ResourceDiff,
  ResourceManifest,
  ResourceQuery,
  SyncCandidates,
  SyncPreview,
} from '../contracts/server-api.ts';

export interface ResourceViewsOptions {
  readonly reader: ResourceReader;
  /** Renders kept, by Application and commit. Default 64. */
  readonly cacheSize?: number;
}

const DEFAULT_CACHE_SIZE = 64;
/** Live reads of a preview at a time. */
const PREVIEW_READS = 8;

export class ResourceViews {
  readonly #reader: ResourceReader;
  readonly #cacheSize: number;
  /** Renders by `uid/generation/revision`, most recent last; a pending one is shared by its callers. */
  readonly #renders = new Map<string, Promise<DesiredState>>();

  constructor(options: ResourceViewsOptions) {
    this.#reader = options.reader;
    this.#cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
  }

  /** The live manifest, without server-set bookkeeping (managedFields), a Secret's values hidden. */
  async live(app: Application, query: ResourceQuery): Promise<ResourceManifest> {
    const id = idOfQuery(query);
    const desired = isManaged(app, id) ? undefined : await this.#desired(app, query.revision);
    if (desired) requireKnown(app, id, desired);
    const object = await this.#reader.live(app, id);
    return { id: formatId(id), ...(object ? { object: shown(withoutManagedFields(object)) } : {}) };
  }

  /** The desired manifest at the revision asked for, a Secret's values hidden. */
  async desired(app: Application, query: ResourceQuery): Promise<ResourceManifest> {
    const id = idOfQuery(query);
    const desired = await this.#desired(app, query.revision);
    requireKnown(app, id, desired);
    const object = desiredObject(app, id, desired);
    return { id: formatId(id), revision: desired.revision, ...(object ? { object: shown(object) } : {}) };
  }

  /** What a sync to that revision would change: live against live with the desired fields applied. */
  async diff(app: Application, query: ResourceQuery): Promise<ResourceDiff> {
    const id = idOfQuery(query);
    const desired = await this.#desired(app, query.revision);
    requireKnown(app, id, desired);
    const wanted = desiredObject(app, id, desired);
    const live = await this.#reader.live(app, id);
    const predicted = wanted && live ? predictApplied(live, wanted) : wanted;
    const { changed, unified } = diffObjects(id, live, predicted);
    return {
      id: formatId(id),
      revision: desired.revision,
      changed,
      unified,
      ...(live ? { live: shown(normalizeForCompare(live)) } : {}),
      ...(predicted ? { predicted: shown(normalizeForCompare(predicted)) } : {}),
    };
  }

  /** Events about a resource the Application manages. */
  async events(app: Application, query: ResourceQuery): Promise<{ id: string; items: EventInfo[] }> {
    const id = idOfQuery(query);
    if (!isManaged(app, id)) requireKnown(app, id, await this.#desired(app, query.revision));
    return { id: formatId(id), items: [...(await this.#reader.events(app, id))] };
  }

  /** What the Application's workloads own (ReplicaSets, Jobs, Pods), found by owner references. */
  async children(app: Application): Promise<{ nodes: ChildNode[] }> {
    return { nodes: await childrenOf(this.#reader, app) };
  }

  /** The Pods the Application's workloads own (for its trace). */
  pods(app: Application): Promise<KubeObject[]> {
    return podsOf(this.#reader, app);
  }

  /** The container log asked for, checked (the Application's Pod, its container, a real node). */
  logTarget(app: Application, query: PodLogsQuery): Promise<LogTarget> {
    return logTargetOf(this.#reader, app, query);
  }

  /** The last lines of the log, or (with `follow`) each line as it comes. */
  logs(app: Application, target: LogTarget, follow?: LogFollow): Promise<readonly string[]> {
    return this.#reader.logs(app, target, follow);
  }

  /**
   * What a sync to the target revision would do, without doing it: each desired object created,
   * configured or unchanged (live against live with its fields applied), each managed resource the
   * desired state left pruned (with `prune`) or skipped. Entries of the one sync result type; no
   * manifest, so no Secret value, is in them.
   */
  async preview(
    app: Application,
    options: { readonly prune: boolean; readonly resources?: readonly ResourceSelector[] },
  ): Promise<SyncPreview> {
    const desired = await this.#desired(app, 'target');
    const destination = resolveSpec(app).destination.namespace;
    const all = placed(desired.objects, destination);
    // A selection: only those objects, and (with prune) the selected ones that left the desired state.
    const split = options.resources
      ? await this.#checkedSelection(app, all, options.resources, options.prune)
      : { selected: all, departed: undefined };
    const wanted = split.selected;
    const entries: PreviewEntry[] = [];
    for (let i = 0; i < wanted.length; i += PREVIEW_READS) {
      const batch = wanted.slice(i, i + PREVIEW_READS);
      entries.push(...(await Promise.all(batch.map((object) => this.#previewOne(app, object)))));
    }
    const kept = new Set(wanted.map((o) => formatId(idOf(o))));
    for (const id of (split.departed ?? managedIds(app)).map(formatId)) {
      if (kept.has(id)) continue;
      entries.push(
        options.prune
          ? { id, action: 'pruned', message: 'left the desired state: would be deleted' }
          : { id, action: 'skipped', message: 'left the desired state: stays, prune is off' },
      );
    }
    return { dryRun: true, revision: desired.revision, entries };
  }

  /**
   * What a sync may select: the desired state at the target revision (hooks left out), and the
   * resources that left it which the Application still owns live (src/server/sync-candidates.ts).
   */
  async syncCandidates(app: Application): Promise<SyncCandidates> {
    return syncCandidatesOf(this.#reader, app, await this.#desired(app, 'target'));
  }

  /**
   * A sync request's selection against the desired state at the target revision (what the agent will
   * render): 422 SYNC_SELECTION_NOT_FOUND naming each selected resource that is not in it (and, with
   * prune, not one the Application manages), that left it without prune, or that is a hook. Resolves
   * with the commit checked.
   */
  async checkSelection(
    app: Application,
    selection: readonly ResourceSelector[],
    prune: boolean,
  ): Promise<string> {
    const desired = await this.#desired(app, 'target');
    const objects = placed(desired.objects, resolveSpec(app).destination.namespace);
    await this.#checkedSelection(app, objects, selection, prune);
    return desired.revision;
  }

  /**
   * The desired objects a selection names, and (with prune) the resources it names that left the
   * desired state but the Application still owns: managed (status.resources), or live with its
   * ownership marks (the agent's inventory decides in the end). 422 naming every selector at fault.
   */
  async #checkedSelection(
    app: Application,
    objects: readonly KubeObject[],
    selection: readonly ResourceSelector[],
    prune: boolean,
  ): Promise<{ selected: KubeObject[]; departed: ResourceId[] }> {
    const destination = resolveSpec(app).destination.namespace;
    const rendered = objects.map((object) => ({ id: idOf(object), object }));
    const first = splitSelection(rendered, managedIds(app), selection, { namespace: destination, prune });
    // With prune, a selected resource neither rendered nor listed as managed may still be owned: read it.
    const owned = prune ? await this.#ownedLive(app, first.unknown) : [];
    const split = owned.length
      ? splitSelection(rendered, [...managedIds(app), ...owned], selection, { namespace: destination, prune })
      : first;
    const hooks = split.selected.filter((s) => hookOf(s.object) !== undefined).map((s) => s.id);
    const reasons = selectionProblems(split, hooks);
    if (reasons.length > 0)
      throw new CapstanError(
        'SYNC_SELECTION_NOT_FOUND',
        `the selection cannot be synced: ${reasons.join('; ')}; select resources the application renders (or, with prune, owns)`,
        { subject: [...split.unknown, ...split.unpruned, ...hooks].map(formatId).join(', ') },
      );
    return { selected: split.selected.map((s) => s.object), departed: split.departed };
  }

  /** The live objects these selectors name that carry this Application's ownership marks (prunable). */
  async #ownedLive(app: Application, selectors: readonly ResourceSelector[]): Promise<ResourceId[]> {
    const { namespace = '', name } = app.metadata;
    const owner = { name: applicationOwnerName(namespace, name), ref: { namespace, name } };
    const destination = resolveSpec(app).destination.namespace;
    const owned: ResourceId[] = [];
    for (const selector of selectors.slice(0, PREVIEW_READS * 4)) {
      // A namespace left out: the destination namespace, or a cluster-scoped resource.
      const places = selector.namespace === '' ? [destination, ''] : [selector.namespace];
      for (const place of places) {
        const id = { ...selector, namespace: place };
        const live = await this.#reader.live(app, id).catch(() => undefined);
        if (live && pruneDecision(live, owner, id).prune) {
          owned.push(id);
          break;
        }
      }
    }
    return owned;
  }

  async #previewOne(app: Application, object: KubeObject): Promise<PreviewEntry> {
    const id = idOf(object);
    const live = await this.#reader.live(app, id);
    if (!live) return { id: formatId(id), action: 'created', message: 'would be created' };
    const { changed } = diffObjects(id, live, predictApplied(live, object));
    return changed
      ? { id: formatId(id), action: 'configured', message: 'would be changed (see its diff)' }
      : { id: formatId(id), action: 'unchanged', message: 'as desired' };
  }

  /** The render at the synced revision (default; the target when none was synced) or the target. */
  #desired(app: Application, revision: ResourceQuery['revision']): Promise<DesiredState> {
    const synced = revision === 'target' ? undefined : app.status?.sync?.revision;
    if (synced === undefined) return this.#read(app, undefined);
    const key = `${app.metadata.uid ?? app.metadata.name}/${String(app.metadata.generation ?? 0)}/${synced}`;
    const cached = this.#renders.get(key);
    if (cached) {
      this.#renders.delete(key);
      this.#renders.set(key, cached);
      return cached;
    }
    const pending = this.#read(app, synced);
    this.#renders.set(key, pending);
    pending.catch(() => this.#renders.delete(key));
    while (this.#renders.size > this.#cacheSize) {
      const oldest = this.#renders.keys().next().value;
      if (oldest === undefined) break;
      this.#renders.delete(oldest);
    }
    return pending;
  }

  async #read(app: Application, revision: string | undefined): Promise<DesiredState> {
    try {
      return await this.#reader.desired(app, revision);
    } catch (error) {
      const subject = `Application/${app.metadata.namespace ?? ''}/${app.metadata.name}`;
      throw new CapstanError(
        'DESIRED_STATE_UNAVAILABLE',
        `the desired state of ${subject} at ${revision ?? 'its target revision'} could not be rendered: ${messageOf(error)}`,
        { subject, retryable: (error as { retryable?: unknown }).retryable === true, cause: error },
      );
    }
  }
}

function idOfQuery(query: ResourceQuery): ResourceId {
  return { group: query.group ?? '', kind: query.kind, namespace: query.namespace ?? '', name: query.name };
}

const sameId = (a: ResourceId, b: ResourceId) =>
  a.group === b.group && a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;

function isManaged(app: Application, id: ResourceId): boolean {
  return (app.status?.resources ?? []).some((r) =>
    sameId({ group: r.group, kind: r.kind, namespace: r.namespace ?? '', name: r.name }, id),
  );
}

/** RESOURCE_NOT_MANAGED unless the Application manages the resource or its desired state has it. */
function requireKnown(app: Application, id: ResourceId, desired: DesiredState): void {
  if (isManaged(app, id) || desiredObject(app, id, desired)) return;
  const subject = formatId(id);
  throw new CapstanError(
    'RESOURCE_NOT_MANAGED',
    `${subject} is neither managed by application '${app.metadata.namespace ?? ''}/${app.metadata.name}' ` +
      `nor in its desired state at ${desired.revision.slice(0, 12)}: see its resources (GET …/resources)`,
    { subject },
  );
}

/**
 * The rendered object with that id. A namespaced object rendered without a namespace goes to the
 * destination namespace (as the agent applies it), so it matches an id with that namespace; it is
 * returned with the namespace filled in.
 */
function desiredObject(app: Application, id: ResourceId, desired: DesiredState): KubeObject | undefined {
  const destination = resolveSpec(app).destination.namespace;
  for (const object of desired.objects) {
    const rendered = idOf(object);
    if (sameId(rendered, id)) return object;
    if (
      rendered.namespace === '' &&
      id.namespace === destination &&
      sameId({ ...rendered, namespace: id.namespace }, id)
    )
      return { ...object, metadata: { ...object.metadata, namespace: destination } };
  }
  return undefined;
}

/** As JSON the API answers: a Secret's values hidden. */
const shown = (object: KubeObject): Record<string, unknown> => ({ ...redactSecret(object) });

/** The rendered objects, a namespaced one without a namespace in the destination (as the agent applies it). */
const placed = (objects: readonly KubeObject[], destination: string): KubeObject[] =>
  objects.map((object) =>
    object.metadata.namespace === undefined
      ? { ...object, metadata: { ...object.metadata, namespace: destination } }
      : object,
  );

const managedIds = (app: Application): ResourceId[] =>
  (app.status?.resources ?? []).map((r) => ({
    group: r.group,
    kind: r.kind,
    namespace: r.namespace ?? '',
    name: r.name,
  }));
