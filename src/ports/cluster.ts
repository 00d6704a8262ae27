import type { KubeObject } from '../core/resource.ts';

/** One kind of resource as the API server serves it (from discovery). */
export interface ResourceType {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** The URL segment: `deployments`. */
  readonly plural: string;
  readonly namespaced: boolean;
}

export interface ApplyOptions {
  /** Field manager for server-side apply. */
  readonly fieldManager: string;
  /** Take over fields owned by other managers instead of failing with a conflict. Default false. */
  readonly force?: boolean;
  /** Server-side dry run: validated, defaulted and merged by the server, nothing written. */
  readonly dryRun?: boolean;
}

export interface ApplyResult {
  readonly object: KubeObject;
  /** True when the object did not exist before (HTTP 201). */
  readonly created: boolean;
}

export interface DeleteOptions {
  /** Default Background. */
  readonly propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  /** Delete only if the live object still has this uid (it was not replaced meanwhile). */
  readonly uid?: string;
  readonly dryRun?: boolean;
}

export interface ClusterInfo {
  /** `v1.36.3` */
  readonly gitVersion: string;
  /** Every served `group/version` and `group/version/Kind`, as `helm template --api-versions` takes them. */
  readonly apiVersions: readonly string[];
}

/**
 * A Kubernetes cluster as the engine needs it. Errors are CapstanErrors with codes KUBE_INVALID (422),
 * KUBE_CONFLICT (409 on apply), KUBE_NOT_FOUND (404), KUBE_FORBIDDEN (403), KUBE_UNAVAILABLE (retryable:
 * connection refused or reset, 429, 5xx, time-outs).
 */
export interface Cluster {
  /** The version and served API versions; `refresh` re-reads discovery (a cluster upgraded, a CRD added). */
  info(options?: { refresh?: boolean }): Promise<ClusterInfo>;
  /** The served resource for an apiVersion and kind; undefined when the server does not serve it. `refresh` re-reads discovery. */
  resourceType(
    apiVersion: string,
    kind: string,
    options?: { refresh?: boolean },
  ): Promise<ResourceType | undefined>;
  /** The preferred served version of a group's kind (inventories record group and kind, never the version). */
  preferredType(
    group: string,
    kind: string,
    options?: { refresh?: boolean },
  ): Promise<ResourceType | undefined>;
  get(type: ResourceType, namespace: string, name: string): Promise<KubeObject | undefined>;
  list(type: ResourceType, namespace: string, options?: { labelSelector?: string }): Promise<KubeObject[]>;
  /** Server-side apply: the object as the server has it (or would have it, in a dry run), and whether it was (would be) created. */
  apply(type: ResourceType, object: KubeObject, options: ApplyOptions): Promise<ApplyResult>;
  /** Returns false when the object was already gone. */
  delete(type: ResourceType, namespace: string, name: string, options?: DeleteOptions): Promise<boolean>;
}
