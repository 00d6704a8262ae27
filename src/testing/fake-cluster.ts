/**
 * An in-memory Cluster for pure unit tests (the cluster registry, anything that reads and writes a few
 * objects): a fixed set of served types, server-side apply with field ownership by manager (conflicts,
 * force, fields a manager stops applying removed), dry runs, uid preconditions on delete, label
 * selectors. It passes the same contract as KubeCluster on a real API server
 * (src/testing/cluster-contract.ts: test/unit/testing/fake-cluster.test.ts and
 * test/integration/cluster-port.test.ts). Lists are counted, so a test sees a cache work.
 */
import { randomUUID } from 'node:crypto';
import { CapstanError } from '../core/errors.ts';
import { formatId, type KubeObject } from '../core/resource.ts';
import type {
  ApplyOptions,
  ApplyResult,
  Cluster,
  ClusterInfo,
  DeleteOptions,
  ResourceType,
} from '../ports/cluster.ts';
import { matchesLabels, parseLabelSelector } from '../server/label-selector.ts';

/** The types a FakeCluster serves unless told otherwise. */
export const FAKE_CLUSTER_TYPES: readonly ResourceType[] = [
  { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
  { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
  { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false },
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
];

/** A lower-case RFC 1123 subdomain, as the API server requires of most names. */
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * A field's path, its keys joined by NUL: a key may hold dots (a label `capstan.dev/run`), as the API
 * server's field paths allow; shown with dots in messages.
 */
const SEP = '\u0000';
const fieldPath = (...keys: readonly string[]): string => keys.join(SEP);
const shown = (path: string): string => path.split(SEP).join('.');

/** Fields apply never takes ownership of: identity and what the server itself keeps. */
const UNOWNED = new Set([
  'apiVersion',
  'kind',
  fieldPath('metadata', 'name'),
  fieldPath('metadata', 'namespace'),
  'status',
]);

interface Stored {
  object: KubeObject;
  /** Leaf field path (dotted) → the manager that applied it last. */
  owners: Map<string, string>;
}

export class FakeCluster implements Cluster {
  readonly #types: readonly ResourceType[];
  readonly #objects = new Map<string, Stored>();
  #version = 1;
  /** Every list, as `namespace:labelSelector`, in order. */
  readonly lists: string[] = [];
  /** While set, every list rejects with it (an API server that is down). */
  failLists: Error | undefined;

  constructor(options: { readonly types?: readonly ResourceType[] } = {}) {
    this.#types = options.types ?? FAKE_CLUSTER_TYPES;
  }

  info(): Promise<ClusterInfo> {
    const versions = [...new Set(this.#types.map(apiVersionOf))];
    return Promise.resolve({
      gitVersion: 'v1.36.3-fake',
      apiVersions: [...versions, ...this.#types.map((t) => `${apiVersionOf(t)}/${t.kind}`)],
    });
  }

  resourceType(apiVersion: string, kind: string): Promise<ResourceType | undefined> {
    return Promise.resolve(this.#types.find((t) => apiVersionOf(t) === apiVersion && t.kind === kind));
  }

  preferredType(group: string, kind: string): Promise<ResourceType | undefined> {
    return Promise.resolve(this.#types.find((t) => t.group === group && t.kind === kind));
  }

  get(type: ResourceType, namespace: string, name: string): Promise<KubeObject | undefined> {
    const stored = this.#objects.get(keyOf(type, namespace, name));
    return Promise.resolve(stored === undefined ? undefined : structuredClone(stored.object));
  }

  list(
    type: ResourceType,
    namespace: string,
    options: { labelSelector?: string } = {},
  ): Promise<KubeObject[]> {
    this.lists.push(`${namespace}:${options.labelSelector ?? ''}`);
    if (this.failLists !== undefined) return Promise.reject(this.failLists);
    const selector = parseLabelSelector(options.labelSelector ?? '');
    const prefix = `${typeKey(type)}|${type.namespaced ? namespace : ''}|`;
    const items = [...this.#objects.entries()]
      .filter(([key]) =>
        type.namespaced && namespace === '' ? key.startsWith(`${typeKey(type)}|`) : key.startsWith(prefix),
      )
      .map(([, stored]) => stored.object)
      .filter((object) => matchesLabels(object.metadata.labels ?? {}, selector))
      .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
    return Promise.resolve(structuredClone(items));
  }

  apply(type: ResourceType, object: KubeObject, options: ApplyOptions): Promise<ApplyResult> {
    const name = object.metadata.name ?? '';
    const namespace = type.namespaced ? (object.metadata.namespace ?? '') : '';
    const subject = formatId({ group: type.group, kind: type.kind, namespace, name });
    if (!NAME.test(name) || name.length > 253)
      return Promise.reject(
        new CapstanError(
          'KUBE_INVALID',
          `${subject}: metadata.name: Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`,
          { subject },
        ),
      );
    const key = keyOf(type, namespace, name);
    const before = this.#objects.get(key);
    const applied = leaves(object);
    const conflicts =
      before === undefined || options.force === true
        ? []
        : conflictsOf(before, applied, options.fieldManager);
    if (conflicts.length > 0)
      return Promise.reject(
        new CapstanError(
          'KUBE_CONFLICT',
          `${subject}: Apply failed with ${conflicts.length} conflict(s): ${conflicts.join(', ')}`,
          { subject },
        ),
      );
    const next = merged(before, applied, options.fieldManager);
    const stored: Stored = {
      owners: next.owners,
      object: {
        ...fromLeaves(next.values),
        apiVersion: apiVersionOf(type),
        kind: type.kind,
        metadata: {
          ...(fromLeaves(next.values)['metadata'] as Record<string, unknown> | undefined),
          name,
          ...(type.namespaced ? { namespace } : {}),
          uid: before?.object.metadata.uid ?? randomUUID(),
          resourceVersion: String(options.dryRun === true ? this.#version : ++this.#version),
        },
      },
    };
    if (options.dryRun !== true) this.#objects.set(key, stored);
    return Promise.resolve({ object: structuredClone(stored.object), created: before === undefined });
  }

  delete(type: ResourceType, namespace: string, name: string, options: DeleteOptions = {}): Promise<boolean> {
    const key = keyOf(type, type.namespaced ? namespace : '', name);
    const stored = this.#objects.get(key);
    if (stored === undefined) return Promise.resolve(false);
    if (options.uid !== undefined && stored.object.metadata.uid !== options.uid) {
      const subject = formatId({ group: type.group, kind: type.kind, namespace, name });
      return Promise.reject(
        new CapstanError(
          'KUBE_CONFLICT',
          `${subject}: Precondition failed: UID in precondition: ${options.uid}, UID in object meta: ${stored.object.metadata.uid ?? ''}`,
          { subject },
        ),
      );
    }
    if (options.dryRun !== true) this.#objects.delete(key);
    return Promise.resolve(true);
  }

  /** Writes an object as someone outside the test's subject would (no field owners), with a new resourceVersion. */
  put(type: ResourceType, object: KubeObject): void {
    const namespace = type.namespaced ? (object.metadata.namespace ?? '') : '';
    const key = keyOf(type, namespace, object.metadata.name ?? '');
    const before = this.#objects.get(key);
    this.#objects.set(key, {
      owners: new Map(),
      object: {
        ...structuredClone(object),
        metadata: {
          ...structuredClone(object.metadata),
          uid: before?.object.metadata.uid ?? randomUUID(),
          resourceVersion: String(++this.#version),
        },
      },
    });
  }

  /** Removes every object of a type in a namespace, as someone else would. */
  clear(type: ResourceType, namespace: string): void {
    const prefix = `${typeKey(type)}|${type.namespaced ? namespace : ''}|`;
    for (const key of [...this.#objects.keys()]) if (key.startsWith(prefix)) this.#objects.delete(key);
  }
}

const apiVersionOf = (type: ResourceType) =>
  type.group === '' ? type.version : `${type.group}/${type.version}`;
const typeKey = (type: ResourceType) => `${type.group}/${type.kind}`;
const keyOf = (type: ResourceType, namespace: string, name: string) =>
  `${typeKey(type)}|${namespace}|${name}`;

/** The leaf values of an object by dotted path (arrays are leaves: atomic, as most lists are to apply). */
function leaves(value: unknown, path = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value))
      leaves(child, path === '' ? key : fieldPath(path, key), out);
  } else if (path !== '' && !UNOWNED.has(path) && !path.startsWith(fieldPath('status', '')))
    out.set(path, value);
  return out;
}

function fromLeaves(values: ReadonlyMap<string, unknown>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [path, value] of values) {
    const parts = path.split(SEP);
    let node = root;
    for (const part of parts.slice(0, -1)) {
      node[part] ??= {};
      node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1] ?? ''] = structuredClone(value);
  }
  return root;
}

/** Fields another manager owns that this apply would change. */
function conflictsOf(before: Stored, applied: ReadonlyMap<string, unknown>, manager: string): string[] {
  const current = leaves(before.object);
  return [...applied]
    .filter(([path, value]) => {
      const owner = before.owners.get(path);
      return (
        owner !== undefined &&
        owner !== manager &&
        JSON.stringify(current.get(path)) !== JSON.stringify(value)
      );
    })
    .map(([path]) => `conflict with "${before.owners.get(path) ?? ''}": .${shown(path)}`);
}

/** The fields after an apply: the manager's fields as applied, its fields left out removed unless someone else owns them. */
function merged(
  before: Stored | undefined,
  applied: ReadonlyMap<string, unknown>,
  manager: string,
): { values: Map<string, unknown>; owners: Map<string, string> } {
  const values = before === undefined ? new Map<string, unknown>() : leaves(before.object);
  const owners = new Map(before?.owners ?? []);
  for (const [path, owner] of owners)
    if (owner === manager && !applied.has(path)) {
      owners.delete(path);
      values.delete(path);
    }
  for (const key of ['uid', 'resourceVersion', 'creationTimestamp'])
    values.delete(fieldPath('metadata', key));
  for (const [path, value] of applied) {
    values.set(path, value);
    owners.set(path, manager);
  }
  return { values, owners };
}
