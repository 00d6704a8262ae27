import { formatId, groupOf, type KubeObject } from '../core/resource.ts';
import type { Health } from '../core/health.ts';
import type { SyncDeps } from '../engine/context.ts';
import { withPodFailures } from '../engine/wait.ts';
import type { Cluster, ResourceType } from '../ports/cluster.ts';
import type { ManagedResources } from './managed-resources.ts';
import type { Destination } from './reconciler.ts';

/** The health of one deployed resource, with what identifies it in the status. */
export interface ResourceHealth extends Health {
  readonly id: { group: string; kind: string; namespace: string; name: string };
  readonly version?: string;
  readonly type?: ResourceType;
  readonly subject: string;
}

/** The cluster, with the objects its (non-dry-run) applies return kept in `applied` by resource id. */
export function recordingApplies(cluster: Cluster, applied: Map<string, KubeObject>): Cluster {
  return {
    info: () => cluster.info(),
    resourceType: (apiVersion, kind, options) => cluster.resourceType(apiVersion, kind, options),
    preferredType: (group, kind, options) => cluster.preferredType(group, kind, options),
    get: (type, namespace, name) => cluster.get(type, namespace, name),
    list: (type, namespace, options) => cluster.list(type, namespace, options),
    delete: (type, namespace, name, options) => cluster.delete(type, namespace, name, options),
    apply: async (type, object, options) => {
      const result = await cluster.apply(type, object, options);
      if (options.dryRun !== true) {
        const o = result.object;
        const namespace = type.namespaced ? (o.metadata.namespace ?? '') : '';
        applied.set(
          formatId({ group: type.group, kind: type.kind, namespace, name: o.metadata.name ?? '' }),
          o,
        );
      }
      return result;
    },
  };
}

/** The health of each desired object as it is live: from the watch cache where it answers, else a GET. */
export async function liveHealth(
  objects: readonly KubeObject[],
  defaultNamespace: string,
  destination: Destination,
  assess: SyncDeps['assessHealth'],
  managed: ManagedResources | undefined,
  written: ReadonlyMap<string, KubeObject | undefined>,
): Promise<ResourceHealth[]> {
  const { cluster } = destination;
  const result: ResourceHealth[] = [];
  for (const o of objects) {
    const type = await cluster.resourceType(o.apiVersion, o.kind);
    const namespace = type?.namespaced === true ? (o.metadata.namespace ?? defaultNamespace) : '';
    const id = { group: groupOf(o.apiVersion), kind: o.kind, namespace, name: o.metadata.name ?? '' };
    let live: KubeObject | undefined;
    if (type) {
      const cached = written.has(formatId(id))
        ? written.get(formatId(id))
        : managed?.get(destination.name, type, namespace, id.name);
      // The watch sees only objects Capstan labelled: one missing there may exist unlabelled, so ask.
      live = cached ?? (await cluster.get(type, namespace, id.name));
    }
    // A Deployment still rolling out whose pods fail (an image that cannot be pulled, a crash loop)
    // is Degraded with the kubelet's reason, not Progressing until its deadline.
    const health = await withPodFailures(live, assess(live), { cluster, assessHealth: assess });
    result.push({
      ...health,
      id,
      ...(type ? { version: type.version, type } : {}),
      subject: formatId(id),
    });
  }
  return result;
}

/** The served types of the objects; undefined when one is not served (then no watch vouches for it). */
export async function typesOf(
  objects: readonly { object: KubeObject }[],
  cluster: Cluster,
): Promise<ResourceType[] | undefined> {
  const types: ResourceType[] = [];
  const seen = new Set<string>();
  for (const { object } of objects) {
    const key = `${object.apiVersion}/${object.kind}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const type = await cluster.resourceType(object.apiVersion, object.kind);
    if (!type) return undefined;
    types.push(type);
  }
  return types;
}
