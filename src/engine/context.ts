import type { Health } from '../core/health.ts';
import type { IgnoreDifferenceRule } from '../core/ignore-differences.ts';
import type { OwnerIdentity, OwnerRef } from '../core/ownership.ts';
import type { KubeObject } from '../core/resource.ts';
import type { ResourceSelector } from '../core/resource-selection.ts';
import type { SyncEntry } from '../core/sync-result.ts';
import type { Cluster, ResourceType } from '../ports/cluster.ts';
import type { Clock } from '../ports/clock.ts';
import type { InventoryStore } from '../ports/inventory.ts';
import type { ProjectBoundary } from './project-check.ts';

/** Progress of a sync, for CLIs (one line per resource) and for the agent's events. */
export type SyncEvent =
  { readonly type: 'step'; readonly message: string } | { readonly type: 'entry'; readonly entry: SyncEntry };

/**
 * Objects as a watch of the cluster last delivered them (their managedFields may be left out), or
 * undefined when the watch does not know the object. The plan takes a live object from it only when
 * its resourceVersion is the one the object's dry run applied to: it is then the object as it is now,
 * and reading it again would return the same.
 */
export type LiveCache = (type: ResourceType, namespace: string, name: string) => KubeObject | undefined;

export interface SyncDeps {
  readonly cluster: Cluster;
  readonly inventory: InventoryStore;
  readonly clock: Clock;
  readonly assessHealth: (object: KubeObject | undefined) => Health;
  readonly progress?: (event: SyncEvent) => void;
  /**
   * Where the plan may find live objects without a request (the agent's watches of what it manages).
   * Default none: every live object the plan compares is read from the cluster.
   */
  readonly liveCache?: LiveCache;
}

export interface SyncOptions {
  /** Whose inventory this is: ownership marks and pruning are per application. */
  readonly application: string;
  /**
   * The Application the owner name stands for: written beside the marks and in the inventory, and
   * checked when they are read. Absent for `capstan push`, which names owners directly.
   */
  readonly ownerRef?: OwnerRef;
  /**
   * Owner names earlier releases gave the same Application: objects marked with them are taken over in
   * place (never pruned on those marks), and their inventory is read when there is none of its own yet.
   */
  readonly legacyOwners?: readonly string[];
  /** Namespace for namespaced objects that name none. */
  readonly namespace: string;
  /** Commit the desired state came from. */
  readonly revision?: string;
  /** Delete owned objects that left the desired state. Default false (they are reported). */
  readonly prune?: boolean;
  /**
   * A sync of part of the application (Argo CD's selective sync): only these objects of the render are
   * dry-run and applied, nothing is pruned, no hook runs, and the inventory keeps what was not touched
   * (with its previous digest and revision: the desired state was not applied whole). A selector that
   * names nothing of the render fails the sync before anything changes. Default: the whole render.
   */
  readonly resources?: readonly ResourceSelector[];
  /** Plan and report, write nothing. Default false. */
  readonly dryRun?: boolean;
  /**
   * The application is being deleted (its finalizer): what is pruned is everything it owns, except what
   * Argo CD's Delete=false keeps (Prune=false does not keep it then). Default false.
   */
  readonly deletion?: boolean;
  /**
   * Fields other actors own (an Application's ignoreDifferences, JSON pointers): left out of what is
   * applied, so they stay theirs and never show as differences. Default none.
   */
  readonly ignoreDifferences?: readonly IgnoreDifferenceRule[];
  /** Accept an empty desired state (and prune everything with prune on). Default false. */
  readonly allowEmpty?: boolean;
  /** Take over fields owned by other managers. Default false. */
  readonly forceConflicts?: boolean;
  /** Take over objects that carry another application's tracking id. Default false. */
  readonly adopt?: boolean;
  /** Delete and re-create objects whose immutable fields changed. Default false. */
  readonly replace?: boolean;
  /** Create the namespaces that objects name and that do not exist (they are not pruned later). Default false. */
  readonly createNamespace?: boolean;
  /** Wait until every resource is Healthy (ends early on Degraded). Default false. */
  readonly wait?: boolean;
  /** Time limit for waiting (health, hooks, CRDs). Default 5 minutes. */
  readonly timeoutMs?: number;
  /**
   * When hooks run. 'always' (default; the CLI, and syncs or rollbacks someone asked for): every hook
   * of the sync runs. 'once' (the agent's automated syncs): the hooks of one desired state run once —
   * not at all when the last successful sync applied this same desired state (its inventory's digest),
   * and a hook that already completed for it (recorded in the inventory's hook ledger, or still present
   * with its marks) is reported unchanged instead of being run again, as when the replica that was
   * syncing died part-way.
   */
  readonly hooks?: 'always' | 'once';
  /**
   * The project that bounds this sync: the whole render is checked against it before anything is
   * dry-run or applied, and the plan's unowned objects against its adoption rule; a violation throws
   * POLICY_VIOLATION and changes nothing. Absent (`capstan push`): no project check.
   */
  readonly project?: ProjectBoundary;
  /** Requests in flight at once, in the dry run and in each wave's applies. Default DEFAULT_CONCURRENCY. */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
}

export const DEFAULT_TIMEOUT_MS = 5 * 60_000;
/**
 * Requests of one sync in flight at once: the dry run of a 10-object application in one round trip
 * rather than two. The cluster client bounds the requests of all syncs together (its sockets).
 */
export const DEFAULT_CONCURRENCY = 16;

/** The owner a sync applies and prunes for. */
export function ownerIdentity(
  options: Pick<SyncOptions, 'application' | 'ownerRef' | 'legacyOwners'>,
): OwnerIdentity {
  return { name: options.application, ref: options.ownerRef, legacyNames: options.legacyOwners };
}
