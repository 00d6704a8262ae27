import { canonicalJson } from '../core/digest.ts';
import type { Health } from '../core/health.ts';
import { FIELD_MANAGER, APP_LABEL, ownerOf } from '../core/ownership.ts';
import { withoutManagedFields, type KubeObject } from '../core/resource.ts';
import type { ResourceType } from '../ports/cluster.ts';
import type { WatchEvent, Watcher } from '../ports/watch.ts';
import type { AgentMetrics } from './metrics.ts';
import type { Logger } from '../ports/logger.ts';

/** Why a managed object's event matters to its application. */
export type ManagedChangeReason =
  /** Someone other than Capstan changed its desired state (drift). */
  | 'changed'
  /** It was deleted (by someone, or by Capstan's own prune: the reconcile tells). */
  | 'deleted'
  /** Its health changed (a rollout progressed, a pod failed). */
  | 'health';

export interface ManagedChange {
  readonly reason: ManagedChangeReason;
  /** The destination cluster's registered name. */
  readonly destination: string;
  /** The owning application (`applicationOwnerName`), from the object's tracking annotation. */
  readonly owner: string;
  /** `Kind/namespace/name`, for logs. */
  readonly subject: string;
}

export interface ManagedResourcesOptions {
  readonly assessHealth: (live: KubeObject | undefined) => Health;
  readonly metrics?: AgentMetrics;
  readonly log?: Logger;
}

interface Tracked {
  readonly controller: AbortController;
  /** The destination's watcher it was started with: a new one (new credentials) restarts the watch. */
  readonly watcher: Watcher;
  done: Promise<void>;
  /** Objects by `namespace/name` without managedFields; undefined until the first list completed. */
  objects: Map<string, KubeObject> | undefined;
  /** Objects seen while the first list runs. */
  readonly listing: Map<string, KubeObject>;
  /** Last assessed health of each object, to react to changes only. */
  readonly health: Map<string, string>;
}

/**
 * Watches on the resources Capstan manages, shared per kind and destination cluster (one watch of every
 * Deployment Capstan labelled, not one per application). Two jobs:
 *
 * - events: a change made by anyone but Capstan (drift) or a change of an object's health is reported
 *   to `onChange` with the owning application, so that it is reconciled at once instead of at its interval;
 * - a cache: `get` answers from the watched state, so that steady-state health checks cost no request.
 *
 * Capstan's own writes are recognised by the field manager of the object's latest managedFields entry.
 */
export class ManagedResources {
  readonly #options: ManagedResourcesOptions;
  readonly #tracked = new Map<string, Tracked>();
  /** Events seen per destination and owner since the watches started: unchanged means nothing moved. */
  readonly #events = new Map<string, number>();
  /** Per destination and owner: resourceVersions of events counted, and of Capstan's writes not seen yet. */
  readonly #counted = new Map<string, Set<string>>();
  readonly #expected = new Map<string, Set<string>>();
  #onChange: ((change: ManagedChange) => void) | undefined;
  #epoch = 0;

  constructor(options: ManagedResourcesOptions) {
    this.#options = options;
  }

  /** Increases at each start: counts of `eventsOf` compare only within one epoch. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Starts reporting changes (the agent calls this when it starts leading). */
  start(onChange: (change: ManagedChange) => void): void {
    this.#epoch += 1;
    this.#onChange = onChange;
  }

  /** Stops every watch and forgets the cache (when the agent stops leading or shuts down). */
  async stop(): Promise<void> {
    this.#onChange = undefined;
    const tracked = [...this.#tracked.values()];
    this.#tracked.clear();
    this.#events.clear();
    this.#counted.clear();
    this.#expected.clear();
    for (const t of tracked) t.controller.abort();
    await Promise.all(tracked.map((t) => t.done));
    this.#options.metrics?.resourceWatches.set(0);
  }

  /** Watches these kinds in that destination, if not watched yet. Idempotent and cheap. */
  track(
    destination: { readonly name: string; readonly watcher: Watcher },
    types: readonly ResourceType[],
  ): void {
    if (this.#onChange === undefined) return;
    for (const type of types) {
      const key = trackKey(destination.name, type);
      const existing = this.#tracked.get(key);
      if (existing?.watcher === destination.watcher) continue;
      // The destination was rebuilt (its cluster Secret changed): watch again with the new client.
      existing?.controller.abort();
      const tracked: Tracked = {
        controller: new AbortController(),
        watcher: destination.watcher,
        done: Promise.resolve(),
        objects: undefined,
        listing: new Map(),
        health: new Map(),
      };
      this.#tracked.set(key, tracked);
      tracked.done = destination.watcher.watch(
        type,
        '',
        (event) => {
          this.#handle(destination.name, type, tracked, event);
        },
        {
          signal: tracked.controller.signal,
          labelSelector: APP_LABEL,
          onError: (error) =>
            this.#options.log?.({
              level: 'warn',
              msg: 'managed resource watch',
              destination: destination.name,
              kind: type.kind,
              error: error.message,
            }),
        },
      );
      this.#options.metrics?.resourceWatches.set(this.#tracked.size);
    }
  }

  /**
   * The watched state of a labelled object, or undefined when the cache does not know it (the kind is not
   * watched there yet, or no object with Capstan's label has that name): then ask the API server.
   */
  get(destination: string, type: ResourceType, namespace: string, name: string): KubeObject | undefined {
    return this.#tracked.get(trackKey(destination, type))?.objects?.get(`${namespace}/${name}`);
  }

  /**
   * Whether every one of these kinds is watched and listed in that destination: only then do
   * `eventsOf` and `get` tell the whole truth about them.
   */
  covers(destination: string, types: readonly ResourceType[]): boolean {
    return types.every((type) => this.#tracked.get(trackKey(destination, type))?.objects !== undefined);
  }

  /**
   * How many events the watches delivered for the objects of one owner (any change: Capstan's own
   * writes, status updates, deletions). Equal counts at two moments mean none of its objects changed
   * in between, as far as the watches of `covers` kinds know.
   */
  eventsOf(destination: string, owner: string): number {
    return this.#events.get(`${destination}\u0000${owner}`) ?? 0;
  }

  /**
   * Capstan's own writes (the resourceVersions its applies returned) do not count as events of their
   * owner: those already delivered are taken off the count, those still to come will not be counted.
   */
  discount(destination: string, owner: string, resourceVersions: readonly string[]): void {
    const counterKey = `${destination}\u0000${owner}`;
    for (const rv of resourceVersions) {
      if (rv === '') continue;
      if (this.#counted.get(counterKey)?.delete(rv)) {
        this.#events.set(counterKey, (this.#events.get(counterKey) ?? 1) - 1);
      } else {
        remember(this.#expected, counterKey, rv);
      }
    }
  }

  /**
   * An object of a watch's first list. A version Capstan's own write returned (discounted) is not news.
   * Any other counts as an event of its owner, so that the watches do not vouch for a state they did
   * not see being made; and when someone else wrote it last (a drift made while the watch started,
   * right after the sync that started it), its owner is told at once, as a watch event would.
   */
  #listed(destination: string, type: ResourceType, object: KubeObject, objectKey: string): void {
    const owner = ownerOf(object);
    if (owner === undefined) return;
    const counterKey = `${destination}\u0000${owner}`;
    const rv = object.metadata.resourceVersion ?? '';
    if (this.#expected.get(counterKey)?.delete(rv)) return;
    this.#events.set(counterKey, (this.#events.get(counterKey) ?? 0) + 1);
    remember(this.#counted, counterKey, rv);
    if (lastWriter(object) === FIELD_MANAGER) return;
    this.#options.metrics?.resourceEvents.inc({ reaction: 'changed' });
    const namespaced = objectKey.startsWith('/') ? objectKey.slice(1) : objectKey;
    this.#onChange?.({ reason: 'changed', destination, owner, subject: `${type.kind}/${namespaced}` });
  }

  #handle(destination: string, type: ResourceType, tracked: Tracked, event: WatchEvent): void {
    if (event.type === 'SYNCED') {
      // The first complete list: from now on the cache answers.
      if (tracked.objects === undefined) {
        tracked.objects = new Map(tracked.listing);
        tracked.listing.clear();
      }
      return;
    }
    const objectKey = `${event.object.metadata.namespace ?? ''}/${event.object.metadata.name ?? ''}`;
    const objects = tracked.objects;
    if (objects === undefined) {
      // Still listing: fill the cache. These objects are mostly what the syncs just wrote; any other
      // version was written since (or before this agent's syncs), and no event will tell of it.
      if (event.type === 'DELETED') tracked.listing.delete(objectKey);
      else {
        tracked.listing.set(objectKey, withoutManagedFields(event.object));
        this.#listed(destination, type, event.object, objectKey);
      }
      tracked.health.set(objectKey, this.#options.assessHealth(event.object).status);
      return;
    }
    const eventOwner = ownerOf(event.object);
    if (eventOwner !== undefined) {
      const counterKey = `${destination}\u0000${eventOwner}`;
      const rv = event.object.metadata.resourceVersion ?? '';
      // An event of Capstan's own write (discounted beforehand) is not a change to look at.
      if (!this.#expected.get(counterKey)?.delete(rv)) {
        this.#events.set(counterKey, (this.#events.get(counterKey) ?? 0) + 1);
        remember(this.#counted, counterKey, rv);
      }
    }
    const previous = objects.get(objectKey);
    const previousHealth = tracked.health.get(objectKey);
    let reason: ManagedChangeReason | undefined;
    if (event.type === 'DELETED') {
      objects.delete(objectKey);
      tracked.health.delete(objectKey);
      reason = 'deleted';
    } else {
      const current = withoutManagedFields(event.object);
      objects.set(objectKey, current);
      if (
        event.type === 'MODIFIED' &&
        lastWriter(event.object) !== FIELD_MANAGER &&
        desiredStateChanged(previous, current)
      ) {
        reason = 'changed';
      }
      const health = this.#options.assessHealth(current).status;
      tracked.health.set(objectKey, health);
      if (reason === undefined && previousHealth !== undefined && previousHealth !== health)
        reason = 'health';
    }
    this.#options.metrics?.resourceEvents.inc({ reaction: reason ?? 'ignored' });
    const owner = eventOwner;
    if (reason === undefined || owner === undefined) return;
    const namespaced = objectKey.startsWith('/') ? objectKey.slice(1) : objectKey;
    this.#onChange?.({ reason, destination, owner, subject: `${type.kind}/${namespaced}` });
  }
}

/** Adds to a bounded set of recent resourceVersions (the oldest go first). */
function remember(sets: Map<string, Set<string>>, key: string, rv: string): void {
  let set = sets.get(key);
  if (!set) sets.set(key, (set = new Set<string>()));
  set.add(rv);
  if (set.size > 500) {
    const oldest = set.values().next().value;
    if (oldest !== undefined) set.delete(oldest);
  }
}

function trackKey(destination: string, type: ResourceType): string {
  return `${destination}\u0000${type.group}/${type.version}/${type.kind}`;
}

interface ManagedFieldsEntry {
  readonly manager?: string;
  readonly operation?: string;
  readonly time?: string;
  readonly subresource?: string;
}

/**
 * The field manager of the latest write to the object's desired state (status writes excluded): Capstan's
 * applies show `capstan`, `kubectl edit` shows `kubectl-edit`, `kubectl scale` shows `kubectl` on the
 * scale subresource. Entries record seconds only; on a tie Capstan's entry loses (a change is assumed).
 */
export function lastWriter(object: KubeObject): string | undefined {
  const entries = (object.metadata.managedFields ?? []) as ManagedFieldsEntry[];
  let latest: ManagedFieldsEntry | undefined;
  for (const entry of entries) {
    if (entry.subresource === 'status') continue;
    if (
      latest === undefined ||
      (entry.time ?? '') > (latest.time ?? '') ||
      ((entry.time ?? '') === (latest.time ?? '') && latest.manager === FIELD_MANAGER)
    )
      latest = entry;
  }
  return latest?.manager;
}

/**
 * Whether an object's desired state changed between two watched versions. Objects with a generation
 * (workloads, custom resources) bump it on spec changes only, so status and metadata writes of
 * controllers are not drift; for the others (ConfigMaps, Services...) any change but bookkeeping counts.
 */
export function desiredStateChanged(previous: KubeObject | undefined, current: KubeObject): boolean {
  if (previous === undefined) return true;
  if (current.metadata.generation !== undefined)
    return current.metadata.generation !== previous.metadata.generation;
  return canonicalJson(withoutBookkeeping(previous)) !== canonicalJson(withoutBookkeeping(current));
}

function withoutBookkeeping(object: KubeObject): unknown {
  const { resourceVersion: _rv, managedFields: _mf, ...metadata } = object.metadata;
  const { status: _status, ...rest } = object;
  return { ...rest, metadata };
}
