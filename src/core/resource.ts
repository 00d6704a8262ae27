/**
 * Resource identity. A resource is identified by group, kind, namespace and name — never by API
 * version — and printed as `Kind/namespace/name` (cluster-scoped: `Kind/name`) everywhere.
 */

/** A Kubernetes object as JSON: only the fields every object has are typed. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  managedFields?: unknown[];
  finalizers?: string[];
  [field: string]: unknown;
}

export interface ResourceId {
  /** API group; '' for the core group. */
  readonly group: string;
  readonly kind: string;
  /** '' for cluster-scoped resources. */
  readonly namespace: string;
  readonly name: string;
}

/**
 * The object without metadata.managedFields (the same object when it has none): what caches keep and
 * what users are shown, as kubectl shows objects. managedFields are often as large as the rest of an
 * object. A shallow copy: everything else is shared with the object.
 */
export function withoutManagedFields<T extends KubeObject>(object: T): T {
  if (object.metadata.managedFields === undefined) return object;
  const { managedFields: _managedFields, ...metadata } = object.metadata;
  return { ...object, metadata };
}

/** The group of an apiVersion: `apps/v1` → `apps`, `v1` → ''. */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

export function idOf(object: KubeObject): ResourceId {
  return {
    group: groupOf(object.apiVersion),
    kind: object.kind,
    namespace: object.metadata.namespace ?? '',
    name: object.metadata.name ?? '',
  };
}

/** `Kind/namespace/name`, or `Kind/name` when cluster-scoped. For people: logs, errors, CLI, UI. */
export function formatId(id: ResourceId): string {
  return id.namespace ? `${id.kind}/${id.namespace}/${id.name}` : `${id.kind}/${id.name}`;
}

/** A stable, unambiguous key for maps and inventories: `group/Kind/namespace/name`. */
export function keyOf(id: ResourceId): string {
  return `${id.group}/${id.kind}/${id.namespace}/${id.name}`;
}

export function parseKey(key: string): ResourceId {
  const [group = '', kind = '', namespace = '', name = ''] = key.split('/');
  return { group, kind, namespace, name };
}
