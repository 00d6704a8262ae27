/**
 * The ResourceReader port: what the server's resource views (src/server/resource-views.ts) read of an
 * Application's world: objects and Events on its destination cluster, container logs, and its desired
 * state rendered from Git. Adapter: src/adapters/kube/resource-reader.ts (KubeResourceReader), wired
 * in src/main/server-resources.ts; fake: src/testing/fake-resource-reader.ts; both pass
 * src/testing/resource-reader-contract.ts.
 */
import type { KubeObject, ResourceId } from '../core/resource.ts';
import type { Application } from '../contracts/application.ts';
import type { EventInfo } from '../contracts/server-api.ts';

/** The rendered desired state of an Application at one commit. */
export interface DesiredState {
  /** The commit rendered (40 hex). */
  readonly revision: string;
  readonly objects: readonly KubeObject[];
}

/** Which container of which Pod, checked: the Pod is the Application's and on a real node. */
export interface LogTarget {
  readonly pod: ResourceId;
  readonly container: string;
  readonly tailLines: number;
}

/** How a followed log is delivered. */
export interface LogFollow {
  readonly onLine: (line: string) => void;
  readonly signal: AbortSignal;
}

export interface ResourceReader {
  /** The object on the Application's destination cluster; undefined when it does not exist. */
  live(app: Application, id: ResourceId): Promise<KubeObject | undefined>;
  /** The desired state at `revision` (a commit SHA), or at spec.source.targetRevision resolved now. */
  desired(app: Application, revision: string | undefined): Promise<DesiredState>;
  /** Kubernetes Events about the object, on its destination cluster, oldest first. */
  events(app: Application, id: ResourceId): Promise<readonly EventInfo[]>;
  /** The objects of one kind in one namespace of the destination (to follow owner references). */
  list(
    app: Application,
    kind: { readonly group: string; readonly kind: string },
    namespace: string,
  ): Promise<readonly KubeObject[]>;
  /**
   * A container's log through the API server (`pods/log`): its last `tailLines` lines; with `follow`,
   * each line (those first) to `onLine` until the container stops or the signal aborts. A refusal
   * (the kubelet's error) rejects with POD_LOGS_UNAVAILABLE and its reason.
   */
  logs(app: Application, target: LogTarget, follow?: LogFollow): Promise<readonly string[]>;
  /**
   * The entries of the Application's inventory (what it owns), read where its agent keeps it on the
   * destination: the inventory namespace of that destination (a registered cluster's
   * `inventoryNamespace`, else capstan-system; in-cluster, the agent's, which the server is told).
   * None when there is none; a damaged one rejects (INVENTORY_DAMAGED).
   */
  inventory(app: Application): Promise<readonly ResourceId[]>;
}
