import { objectSyncOptions } from '../core/argocd.ts';
import { CapstanError, failureOf, type ErrorCode, type Failure } from '../core/errors.ts';
import { diffObjects, sameState, type ObjectDiff } from '../core/diff.ts';
import {
  APP_LABEL,
  applicationLabelValue,
  FIELD_MANAGER,
  ownershipOf,
  TRACKING_ANNOTATION,
  type OwnerIdentity,
} from '../core/ownership.ts';
import type { KubeObject, ResourceId } from '../core/resource.ts';
import type { Cluster, ResourceType } from '../ports/cluster.ts';
import { mapBounded } from './concurrency.ts';
import type { LiveCache } from './context.ts';
import type { PreparedObject } from './prepare.ts';

export type PlanAction = 'create' | 'configure' | 'unchanged' | 'replace';

export interface PlannedChange {
  readonly prepared: PreparedObject;
  readonly action: PlanAction;
  readonly live: KubeObject | undefined;
  /** What the server would make of the apply (server-side dry run), when a dry run was possible. */
  readonly merged: KubeObject | undefined;
  readonly diff: ObjectDiff;
  /** Why the change could not be dry-run: its namespace or CRD is created by the same sync. */
  readonly deferred?: string;
}

export interface PlanFailure extends Failure {
  readonly id: ResourceId;
  /**
   * Why, where it is a difference rather than an error (what `diff` shows as such): 'immutable' when
   * the change needs the object deleted and re-created (replace), 'owned' when another application
   * owns the object (adopt).
   */
  readonly reason?: 'immutable' | 'owned';
  /** The fields concerned (the immutable ones), where the API server names them. */
  readonly fields?: readonly string[];
}

/** The hints of the plan's errors: what the CLI and an Application's spec offer for each. */
export const REPLACE_HINT =
  'sync with --replace (an Application: the sync option Replace=true) to delete and re-create it';
export const ADOPT_HINT =
  'remove it from one of them, or sync with --adopt (an Application: the sync option ForceConflicts=true) to take it over';

export interface Plan {
  readonly changes: readonly PlannedChange[];
  readonly failures: readonly PlanFailure[];
  /** Objects that exist and carry no Capstan marks: applying them adopts them (see checkAdoption). */
  readonly unowned: readonly ResourceId[];
}

export interface PlanOptions {
  readonly cluster: Cluster;
  readonly forceConflicts: boolean;
  /** Take over objects another application tracks. */
  readonly adopt: boolean;
  readonly replace: boolean;
  readonly concurrency: number;
  /**
   * The owner planned for: a live object tracked by another owner is not taken over; one marked by an
   * earlier release under this owner's legacy name is (in place).
   */
  readonly owner: OwnerIdentity;
  /** Namespaces that the sync creates before anything else (the CreateNamespace option). */
  readonly createdNamespaces?: readonly string[];
  /** Live objects a watch holds, taken where their version is the dry run's (SyncDeps.liveCache). */
  readonly liveCache?: LiveCache;
}

/**
 * Server-side dry run of the whole set, compared with live after normalisation: defaulting, managed
 * fields, status and server-set fields never show as differences. Objects whose namespace or CRD is
 * created by the same sync are planned as creations without a dry run.
 */
export async function planChanges(objects: readonly PreparedObject[], options: PlanOptions): Promise<Plan> {
  const namespacesInSet = new Set([
    ...objects.filter((o) => o.id.group === '' && o.id.kind === 'Namespace').map((o) => o.id.name),
    ...(options.createdNamespaces ?? []),
  ]);
  const failures: PlanFailure[] = [];
  const unowned: ResourceId[] = [];
  const liveObjects = liveReader(objects, options);
  const planned = await mapBounded(
    objects,
    options.concurrency,
    async (prepared): Promise<PlannedChange | undefined> => {
      const { id, object, type } = prepared;
      if (!type) {
        return deferredCreation(
          prepared,
          objectSyncOptions(object).skipDryRunOnMissingResource
            ? 'its kind is not served yet (SkipDryRunOnMissingResource=true): created in its wave'
            : 'its CustomResourceDefinition is created by this sync',
        );
      }
      try {
        const { merged, live } = await dryRunAndLive(prepared, type, options, liveObjects);
        if (!live)
          return lazyDiff({ prepared, action: 'create', live, merged }, () =>
            diffObjects(id, undefined, merged),
          );
        const ownership = ownershipOf(live, options.owner);
        if (ownership.kind === 'other' && !options.adopt) {
          failures.push({
            id,
            reason: 'owned',
            message: `already managed by application '${ownership.owner}' (${TRACKING_ANNOTATION}); two applications must not own one resource: ${ADOPT_HINT}`,
          });
          return undefined;
        }
        if (ownership.kind === 'none') unowned.push(id);
        const unchanged = sameState(live, merged);
        return lazyDiff({ prepared, action: unchanged ? 'unchanged' : 'configure', live, merged }, () =>
          unchanged ? { changed: false, unified: '' } : diffObjects(id, live, merged),
        );
      } catch (error) {
        const code = error instanceof CapstanError ? error.code : '';
        if (code === 'KUBE_NOT_FOUND' && id.namespace !== '' && namespacesInSet.has(id.namespace)) {
          return deferredCreation(prepared, `its Namespace ${id.namespace} is created by this sync`);
        }
        if (code === 'KUBE_IMMUTABLE' && (options.replace || objectSyncOptions(object).replace)) {
          const live = await options.cluster.get(type, id.namespace, id.name);
          return lazyDiff({ prepared, action: 'replace', live, merged: undefined }, () =>
            diffObjects(id, live, object),
          );
        }
        failures.push({
          ...explain(id, error),
          ...(code === 'KUBE_IMMUTABLE'
            ? { reason: 'immutable' as const, fields: (error as CapstanError).fields }
            : {}),
        });
        return undefined;
      }
    },
  );
  return { changes: planned.filter((c): c is PlannedChange => c !== undefined), failures, unowned };
}

/**
 * A planned change whose diff is made when first read. The YAML and the unified diff of every object
 * cost more than the rest of its plan; a sync reads them only for the objects it configures (the
 * entry's message), `diff` and a dry run for every one.
 */
function lazyDiff(change: Omit<PlannedChange, 'diff'>, make: () => ObjectDiff): PlannedChange {
  let diff: ObjectDiff | undefined;
  return {
    ...change,
    get diff(): ObjectDiff {
      diff ??= make();
      return diff;
    },
  };
}

/** Dry runs and fresh reads of one object, at most, to get both from the same moment. */
const SAME_MOMENT_TRIES = 3;

/**
 * The dry run of one object and its live state, from the same moment. Both carry the object's
 * resourceVersion (a dry run answers with the version it applied to): read at different moments, with
 * a controller's write in between (the Deployment controller annotates a new Deployment's revision a
 * moment after it is created), they would show that write as a difference, so they are read again until
 * their versions agree, a few times at most. The dry run comes first: when it would create the object,
 * there is no live object to read.
 */
async function dryRunAndLive(
  { id, object }: PreparedObject,
  type: ResourceType,
  options: PlanOptions,
  liveObjects: LiveReader,
): Promise<{ merged: KubeObject; live: KubeObject | undefined }> {
  const dryRun = () =>
    options.cluster.apply(type, object, {
      fieldManager: FIELD_MANAGER,
      force: options.forceConflicts,
      dryRun: true,
    });
  let dry = await dryRun();
  let live = dry.created ? undefined : await liveObjects.get(type, id.namespace, id.name, dry.object);
  for (
    let tries = 1;
    live !== undefined && !sameVersion(live, dry.object) && tries < SAME_MOMENT_TRIES;
    tries++
  ) {
    live = await options.cluster.get(type, id.namespace, id.name);
    if (live === undefined || sameVersion(live, dry.object)) break;
    dry = await dryRun();
    if (dry.created) live = undefined;
  }
  return { merged: dry.object, live };
}

/** Whether two copies of an object are of the same version (true when either does not say). */
function sameVersion(a: KubeObject, b: KubeObject): boolean {
  const [x, y] = [a.metadata.resourceVersion, b.metadata.resourceVersion];
  return x === undefined || y === undefined || x === y;
}

/** Why an object could not be planned, and what to do (PlanFailure). */
function explain(id: ResourceId, error: unknown): PlanFailure {
  const failure = failureOf(error);
  const advice: Partial<Record<ErrorCode, string>> = {
    KUBE_IMMUTABLE: `It cannot be updated in place: ${REPLACE_HINT}`,
    KUBE_CONFLICT:
      "Another field manager owns these fields and this apply did not force: the CLI and the agent always take Git's fields back; run again",
    KUBE_NOT_FOUND: 'Create it first, or add it to the desired state (or use the CreateNamespace option)',
  };
  const hint = failure.code === undefined ? undefined : advice[failure.code];
  return { id, ...failure, message: hint === undefined ? failure.message : `${failure.message}. ${hint}` };
}

/** A creation that cannot be dry-run yet, because what it needs is created earlier in the same sync. */
function deferredCreation(prepared: PreparedObject, why: string): PlannedChange {
  return lazyDiff({ prepared, action: 'create', live: undefined, merged: undefined, deferred: why }, () =>
    diffObjects(prepared.id, undefined, prepared.object),
  );
}

/** Groups of at least this many objects of one kind in one namespace are read with one list. */
const LIST_THRESHOLD = 4;

interface LiveReader {
  /** The live state of an object, whose server-side dry run answered `dryRun`. */
  get(
    type: ResourceType,
    namespace: string,
    name: string,
    dryRun: KubeObject,
  ): Promise<KubeObject | undefined>;
}

/**
 * Reads live objects: from the live cache (a watch) when it holds the very version the dry run applied
 * to, which needs no request (a drift correction compares ten objects without reading one); else with
 * one list per (kind, namespace) where several objects share them, instead of one get each: a plan of
 * 500 objects in one namespace costs a handful of lists, not 500 gets.
 *
 * A list is made only when the first object of its group needs its live state (the dry run says the
 * object exists), so a sync that creates everything lists nothing. It asks only for the objects that
 * carry this application's label: a namespace shared by a thousand applications is not read whole by
 * each of them (which made a cold sync's reads grow with the square of the applications). An object
 * the list does not hold (not yet marked by this application, someone else's, or created since) is
 * read with a get, and so is every object of a group whose list failed (RBAC may allow get only).
 */
function liveReader(objects: readonly PreparedObject[], options: PlanOptions): LiveReader {
  const groupKey = (type: ResourceType, namespace: string) =>
    `${type.group}/${type.version}/${type.plural}/${namespace}`;
  const counts = new Map<string, number>();
  for (const o of objects) {
    if (!o.type) continue;
    const key = groupKey(o.type, o.id.namespace);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const selector = `${APP_LABEL}=${applicationLabelValue(options.owner.name)}`;
  const lists = new Map<string, Promise<Map<string, KubeObject> | undefined>>();
  const listed = (type: ResourceType, namespace: string) => {
    const key = groupKey(type, namespace);
    if ((counts.get(key) ?? 0) < LIST_THRESHOLD) return undefined;
    let list = lists.get(key);
    if (!list) {
      list = options.cluster.list(type, namespace, { labelSelector: selector }).then(
        (items) => new Map(items.map((item) => [item.metadata.name ?? '', item])),
        () => undefined,
      );
      lists.set(key, list);
    }
    return list;
  };
  return {
    get: async (type, namespace, name, dryRun) => {
      const cached = options.liveCache?.(type, namespace, name);
      if (cached !== undefined && sameKnownVersion(cached, dryRun)) return cached;
      return (await listed(type, namespace))?.get(name) ?? (await options.cluster.get(type, namespace, name));
    },
  };
}

/** Whether both copies say their version and it is the same one. */
function sameKnownVersion(a: KubeObject, b: KubeObject): boolean {
  const version = a.metadata.resourceVersion;
  return version !== undefined && version !== '' && version === b.metadata.resourceVersion;
}
