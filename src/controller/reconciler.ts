import {
  applicationOwner,
  applicationOwnerName,
  parseSyncRequest,
  type SyncRequestValue,
  requestTime,
  RESOURCES_FINALIZER,
  resolveSpec,
  validateApplication,
  type Application,
  type ApplicationStatus,
  type ResolvedSpec,
} from '../contracts/application.ts';
import { applicationRender, mayRenderHelm } from '../contracts/application-render.ts';
import { DEFAULT_NAMESPACE } from '../contracts/install.ts';
import {
  applicationFacts,
  effectiveProject,
  type ProjectLookup,
  type ResolvedProject,
} from '../contracts/project.ts';
import { aggregateHealth, setCondition, type Condition } from '../core/conditions.ts';
import { applyingServiceAccount, checkApplication } from '../core/policy.ts';
import { CapstanError, messageOf, type ErrorCode } from '../core/errors.ts';
import type { Health } from '../core/health.ts';
import { hookOf } from '../core/ordering.ts';
import {
  decideSync,
  decideTarget,
  judgeSync,
  resolutionNotBefore,
  syncEvent,
  watchesVouch,
  type CleanRecord,
  type Operation,
  type PendingRequests,
  type RollbackHold,
  type SyncJudgement,
  type SyncStep,
} from '../core/reconcile-decision.ts';
import { computeConditions, type ReconcileState } from '../core/reconcile-status.ts';
import type { KubeObject } from '../core/resource.ts';
import { formatId } from '../core/resource.ts';
import type { SyncResult } from '../core/sync-result.ts';
import type { LiveCache, SyncDeps, SyncEvent, SyncOptions } from '../engine/context.ts';
import { policyViolation } from '../engine/project-check.ts';
import { renderWarnings } from '../engine/render-warnings.ts';
import { planSync, sync } from '../engine/sync.ts';
import type { ApplicationStore } from '../ports/applications.ts';
import type { Cluster, ResourceType } from '../ports/cluster.ts';
import type { Clock } from '../ports/clock.ts';
import type { InventoryStore } from '../ports/inventory.ts';
import type { RenderResult } from '../ports/renderer.ts';
import type {
  FetchOptions,
  GitCredentials,
  ResolvedRevision,
  SourceFetcher,
  SourceSpec,
  SourceTree,
} from '../ports/source.ts';
import type { Watcher } from '../ports/watch.ts';
import { pendingRequests, reconciledStatus, statusOf, statusUnchanged } from './application-status.ts';
import { liveHealth, recordingApplies, typesOf, type ResourceHealth } from './live-health.ts';
import type { ManagedResources } from './managed-resources.ts';
import type { AgentMetrics } from './metrics.ts';
import { CapabilitiesCache } from './capabilities-cache.ts';
import type { RenderCache } from './render-cache.ts';
import { ValidatedApplications } from './validated-applications.ts';
import type { Logger } from '../ports/logger.ts';

export interface Destination {
  /** The registered name (`in-cluster`, or the name of a cluster Secret). */
  readonly name: string;
  readonly cluster: Cluster;
  readonly inventory: InventoryStore;
  /** Watches on this cluster, for the managed resources (drift and health events). */
  readonly watcher: Watcher;
  /**
   * The same cluster, every request made as a ServiceAccount of it (impersonation): what a project's
   * destination names applies, prunes and dry-runs with that ServiceAccount's rights only.
   */
  readonly as?: (serviceAccount: { readonly namespace: string; readonly name: string }) => Cluster;
}

export interface ReconcilerDeps {
  readonly applications: ApplicationStore;
  readonly source: SourceFetcher;
  readonly renders: RenderCache;
  /** The cluster an Application deploys to, by its registered name (`in-cluster` by default). */
  readonly destination: (name: string) => Promise<Destination>;
  /** Git credentials from the Secret an Application names, in its own namespace. */
  readonly credentials: (namespace: string, secretName: string) => Promise<GitCredentials>;
  /** Told when a git server refused the credentials of that Secret (a cache reads it again next time). */
  readonly forgetCredentials?: (namespace: string, secretName: string) => void;
  readonly clock: Clock;
  readonly assessHealth: SyncDeps['assessHealth'];
  readonly metrics?: AgentMetrics;
  readonly log?: Logger;
  /** Watches on managed resources: told which kinds each sync manages; answers health reads from its cache. */
  readonly managed?: ManagedResources;
  /** The Projects by name (src/controller/projects.ts). Absent: none exist, every Application is in the default project. */
  readonly projects?: (name: string) => Promise<ProjectLookup>;
  /** Namespaces no Application may write, on any cluster: the agent's own state. Default ['capstan-system']. */
  readonly protectedNamespaces?: readonly string[];
  /**
   * The ServiceAccount, in each Application's namespace, that applies when its project's destination
   * names none (`capstan agent --default-service-account`). Absent: the agent's own identity applies.
   */
  readonly defaultServiceAccount?: string;
  /** The destinations' Helm capabilities, read by discovery and kept a while. Default: a cache of its own. */
  readonly capabilities?: CapabilitiesCache;
}

export interface ReconcileOutcome {
  /** When to look again (the interval, sooner while resources progress). Undefined: only on a change. */
  readonly requeueAfterMs?: number;
}

const PROGRESSING_RECHECK_MS = 5_000;
/** How old a shared git resolution a poll accepts. */
const SHARED_RESOLUTION_MAX_AGE_MS = 5_000;
/** A type no watch covers. */
const UNSERVED: ResourceType = { group: '', version: '', kind: '', plural: '', namespaced: false };
/** Git errors that may mean the credentials changed (some servers answer "not found" to a stranger). */
const REFUSED_CREDENTIALS = new Set<ErrorCode>([
  'SOURCE_AUTH_FAILED',
  'SOURCE_REPO_NOT_FOUND',
  'SOURCE_HOST_KEY_UNKNOWN',
]);

/** However quiet the watches are, compare with the cluster at least this often. */
const FULL_COMPARE_EVERY_MS = 30 * 60_000;
const DEPENDENCY_RECHECK_MS = 5_000;

/** An Application admitted to a reconcile: a valid spec, the finalizer on, not suspended, dependencies ready. */
interface Admitted {
  readonly object: KubeObject;
  readonly app: Application;
  readonly spec: ResolvedSpec;
  /** `namespace/name`. */
  readonly key: string;
  /** The name it owns its resources under (ownership marks, inventory). */
  readonly owner: string;
  /** The project that bounds it, checked against its spec already. */
  readonly project: ResolvedProject;
  readonly status: ApplicationStatus;
  readonly requests: PendingRequests;
}

/** The source as resolved now: the latest commit of the target revision. */
interface Resolved {
  readonly source: SourceSpec;
  readonly fetch: FetchOptions;
  readonly latest: ResolvedRevision;
  readonly nowMs: number;
}

/** What to deploy: the commit (latest, held or rolled back to) and why. */
interface Decided {
  readonly target: ResolvedRevision;
  readonly hold: RollbackHold | undefined;
  readonly operation: Operation | undefined;
}

/** The rendered desired state of the commit. */
interface Rendered {
  readonly tree: SourceTree;
  readonly result: RenderResult;
  /** The render's cache key: its inputs by content. */
  readonly key: string;
}

/** What the sync step did (or found, when it only compared or skipped). */
interface Synced {
  readonly destination: Destination;
  readonly step: SyncStep;
  readonly result: SyncResult | undefined;
  /** From a comparison: whether anything differs. */
  readonly outOfSync: boolean;
  /** Objects as this sync's applies returned them, by resource id. */
  readonly applied: ReadonlyMap<string, KubeObject>;
  /** Events on the managed objects before the sync (see CleanRecord). */
  readonly eventsBefore: number;
  /** The record the skip relied on, kept when nothing moved. */
  readonly clean: CleanRecord | undefined;
  readonly newRevision: boolean;
  /**
   * Whether the watches covered every kind deployed when the step began: only then can a later look
   * rely on them for what happened since (a change made before a watch listed is no event of it).
   */
  readonly covered: boolean;
}

/** The health of what is deployed. */
interface Observed {
  readonly healths: readonly ResourceHealth[];
  readonly health: Health;
}

/** How long each phase of one reconcile took, for its log line (a phase marked twice adds up). */
class PhaseTimer {
  readonly phases: Record<string, number> = {};
  #mark = performance.now();
  /** The sync step running now (the first word of the engine's step message), while a sync runs. */
  #step: string | undefined;

  mark(name: string): void {
    const now = performance.now();
    this.phases[name] = (this.phases[name] ?? 0) + Math.round(now - this.#mark);
    this.#mark = now;
  }

  /**
   * The engine's progress, timed by step: `sync.preparing`, `sync.planning` (the dry run of the whole
   * set and the inventory read), `sync.applying`, `sync.pruning`... The time before the first step
   * (the comparison with what the watches saw) goes to `sync.start`; `endSteps` closes the last one.
   */
  readonly progress = (event: SyncEvent): void => {
    if (event.type !== 'step') return;
    this.mark(`sync.${this.#step ?? 'start'}`);
    this.#step = /^[A-Za-z]+/.exec(event.message)?.[0] ?? 'step';
  };

  /** The sync returned: its last step ends here (the inventory record after it counts in it). */
  endSteps(): void {
    if (this.#step === undefined) return;
    this.mark(`sync.${this.#step}`);
    this.#step = undefined;
  }
}

/**
 * Makes one Application's cluster equal to its source: the agent's runbook for one key. Transient
 * errors are thrown (the queue retries them with backoff); terminal ones mark the Application Stalled
 * and wait for a new input.
 */
export class ApplicationReconciler {
  readonly #deps: ReconcilerDeps;
  readonly #capabilities: CapabilitiesCache;
  /**
   * The last resolution of each application's revision. A reconcile soon after another one (a
   * managed-resource event, a progressing rollout) re-uses it instead of asking the git server again;
   * a new spec, a request (webhooks refresh by request) or half an interval resolve anew.
   */
  readonly #resolved = new Map<
    string,
    { revision: ResolvedRevision; at: number; generation: number | undefined }
  >();
  /**
   * Applications found in sync, with what that finding depended on. While none of it changed (spec,
   * render — a commit that does not touch an application's inputs leaves its render as it was — and no
   * event on any of its objects), the next look needs no comparison with the cluster: the watches
   * vouch for it. A full comparison still runs every FULL_COMPARE_EVERY_MS.
   */
  readonly #clean = new Map<string, CleanRecord>();
  /**
   * Resolutions shared by the applications of one repository and revision: a push seen by 100
   * applications, or 1000 starting at once, costs one `ls-remote`, not one each. Keyed by repository,
   * revision and credentials; each remembers when it started.
   */
  readonly #shared = new Map<string, { startedAt: number; revision: Promise<ResolvedRevision> }>();
  /** Each Application is checked against its schema once per resourceVersion, not at every poll. */
  readonly #validated = new ValidatedApplications((by) => {
    this.#deps.metrics?.applicationValidations.inc({ by });
  });

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
    this.#capabilities = deps.capabilities ?? new CapabilitiesCache();
  }

  /** The runbook: admit → resolve → decide → fetch and render → sync → observe → record → report. */
  async reconcile(namespace: string, name: string, signal?: AbortSignal): Promise<ReconcileOutcome> {
    const started = performance.now();
    // 0. A new Application gets the finalizer first, from the watch's copy: no read needed (below).
    if (await this.#finalizerFromWatch(namespace, name)) return {};
    const object = await this.#deps.applications.get(namespace, name);
    if (!object) {
      this.#validated.forget(namespace, name);
      return {};
    }
    try {
      // 1. Deletion: prune what it owns (its finalizer), then let it go.
      if (object.metadata.deletionTimestamp) return await this.#finalize(object);
      // 2. Admit: a valid spec (else Stalled), the finalizer on, not suspended, dependencies ready.
      const admitted = await this.#admit(object);
      if ('outcome' in admitted) return admitted.outcome;
      const timer = new PhaseTimer();
      // 3. Resolve the source revision (ls-remote, shared per repository and re-used for a while).
      const resolved = await this.#resolve(admitted, signal);
      timer.mark('resolve');
      // 4. Decide what to deploy: the latest commit, a held one, or a rollback target.
      const decision = decideTarget({
        latest: resolved.latest.sha,
        requests: admitted.requests,
        hold: admitted.status.hold,
        syncedRevision: admitted.status.sync?.revision,
        history: admitted.status.history ?? [],
        now: this.#deps.clock.now(),
        application: admitted.key,
      });
      if (decision.kind === 'rollback-failed') {
        await this.#recordRollbackFailed(admitted, decision);
        return {};
      }
      const decided: Decided = {
        target: decision.pinned ? { sha: decision.pinned, ref: decision.pinned } : resolved.latest,
        hold: decision.hold,
        operation: decision.operation,
      };
      // 5. Fetch the tree of that commit (once per commit) and render it (once per input).
      const rendered = await this.#render(admitted, resolved, decided, timer);
      // 6. Sync when automated or asked; compare otherwise; skip when the watches vouch for it.
      const synced = await this.#sync(admitted, resolved, decided, rendered, { signal, timer });
      timer.endSteps();
      timer.mark(synced.step.kind === 'skip' ? 'quiet' : synced.result ? 'sync' : 'plan');
      // 7. Observe the health of what is deployed.
      const observed = await this.#observe(admitted, rendered, synced);
      const judgement = judgeSync({
        result: synced.result,
        outOfSync: synced.outOfSync,
        newRevision: synced.newRevision,
        operation: decided.operation,
      });
      this.#remember(admitted, resolved, rendered, synced, judgement);
      timer.mark('health');
      // 8. Record the status and its conditions, and an event for a recorded sync.
      await this.#record(admitted, decided, rendered, synced, observed, judgement);
      timer.mark('status');
      // 9. Report: the log line and the metrics.
      this.#report({ admitted, rendered, observed, judgement, timer, started });
      return {
        requeueAfterMs:
          observed.health.status === 'Progressing'
            ? PROGRESSING_RECHECK_MS
            : jitter(admitted.spec.intervalMs),
      };
    } catch (error) {
      return await this.#failed(object, error, { started, signal });
    }
  }

  /**
   * Adds the finalizer to an Application the watch delivered without it (a new one), as #admit would,
   * from the watch's copy: the patch is guarded by that copy's resourceVersion, so a copy that is not
   * current changes nothing and the reconcile goes on with a read of the API server. Its watch event
   * queues the Application again, as after #admit's patch. Whether it did.
   */
  async #finalizerFromWatch(namespace: string, name: string): Promise<boolean> {
    const seen = this.#deps.applications.watched?.(namespace, name);
    const version = seen?.metadata.resourceVersion;
    if (seen === undefined || version === undefined || version === '') return false;
    const finalizers = seen.metadata.finalizers ?? [];
    if (seen.metadata.deletionTimestamp || finalizers.includes(RESOURCES_FINALIZER)) return false;
    // An invalid spec gets no finalizer: #admit reports it on the current object.
    if (!validateApplication(seen).ok) return false;
    try {
      await this.#deps.applications.setFinalizers(
        namespace,
        name,
        [...finalizers, RESOURCES_FINALIZER],
        version,
      );
      return true;
    } catch {
      // Changed since (409), gone, or refused: the reconcile reads it and goes on as for any object
      // (a refusal is reported in its status there).
      return false;
    }
  }

  /** A valid spec with the finalizer on, not suspended, dependencies ready; or the outcome of stopping here. */
  async #admit(object: KubeObject): Promise<Admitted | { outcome: ReconcileOutcome }> {
    const namespace = object.metadata.namespace ?? 'default';
    const name = object.metadata.name ?? '';
    const validation = this.#validated.validate(object);
    if (!validation.ok) {
      await this.#writeStatus(object, {}, { kind: 'InvalidSpec', errors: validation.errors });
      return { outcome: {} };
    }
    const spec = resolveSpec(validation.value);
    const finalizers = object.metadata.finalizers ?? [];
    if (!finalizers.includes(RESOURCES_FINALIZER)) {
      await this.#deps.applications.setFinalizers(
        namespace,
        name,
        [...finalizers, RESOURCES_FINALIZER],
        object.metadata.resourceVersion ?? '',
      );
      // The watch event of this patch (its finalizers changed) queues the Application again; queued
      // here as well, it would be reconciled twice when that event comes during the next reconcile.
      return { outcome: {} };
    }
    if (spec.suspend) {
      await this.#writeStatus(object, {}, { kind: 'Suspended' });
      return { outcome: {} };
    }
    // The project: what the Application may do; refused here, before anything is fetched (Stalled).
    const project = await this.#project(namespace, name, spec);
    // dependsOn: wait until each dependency is Synced and Healthy.
    const waitingFor = await this.#unreadyDependencies(spec);
    if (waitingFor.length > 0) {
      await this.#writeStatus(object, {}, { kind: 'DependencyNotReady', waitingFor });
      return { outcome: { requeueAfterMs: DEPENDENCY_RECHECK_MS } };
    }
    return {
      object,
      app: validation.value,
      spec,
      key: `${namespace}/${name}`,
      owner: applicationOwnerName(namespace, name),
      project,
      status: statusOf(object),
      requests: pendingRequests(object),
    };
  }

  /**
   * The project of the Application (the one it names, or the default one), with the checks that need
   * only its spec: its namespace may use it, the repository, the cluster and namespace, ForceConflicts,
   * CreateNamespace and dependsOn. A refusal is POLICY_VIOLATION: terminal, the Application is Stalled.
   */
  async #project(namespace: string, name: string, spec: ResolvedSpec): Promise<ResolvedProject> {
    const lookup: ProjectLookup = this.#deps.projects
      ? await this.#deps.projects(spec.project)
      : { kind: 'missing' };
    const project = effectiveProject(spec.project, lookup, namespace);
    const violations = checkApplication(applicationFacts(namespace, name, spec), project, {
      namespaces: this.#protectedNamespaces(),
    });
    if (violations.length > 0) throw policyViolation(project, violations);
    return project;
  }

  #protectedNamespaces(): readonly string[] {
    return this.#deps.protectedNamespaces ?? [DEFAULT_NAMESPACE];
  }

  /**
   * The cluster a sync of the Application goes through: as the ServiceAccount its project's destination
   * names, or the agent's default one (impersonation), else with the agent's own identity.
   */
  #applier(
    destination: Destination,
    project: ResolvedProject,
    namespace: string,
    spec: ResolvedSpec,
  ): Cluster {
    const serviceAccount = applyingServiceAccount(
      project,
      {
        cluster: spec.destination.cluster,
        namespace: spec.destination.namespace,
        applicationNamespace: namespace,
      },
      { defaultServiceAccount: this.#deps.defaultServiceAccount },
    );
    if (!serviceAccount) return destination.cluster;
    if (!destination.as)
      throw new CapstanError(
        'IMPERSONATION_UNAVAILABLE',
        `project '${project.name}' applies as ServiceAccount ${serviceAccount.namespace}/${serviceAccount.name}, but destination '${destination.name}' cannot impersonate`,
      );
    return destination.as(serviceAccount);
  }

  /**
   * The latest commit of the target revision. Re-uses this application's last resolution while its
   * spec is the same, nothing was asked, and it is younger than half an interval; otherwise a shared
   * one: a poll accepts one a few seconds old, a request one that started after it was made.
   */
  async #resolve(admitted: Admitted, signal: AbortSignal | undefined): Promise<Resolved> {
    const { spec, requests, object } = admitted;
    const fetch = await this.#fetchOptions(admitted.app, spec, signal);
    const source = {
      repoURL: spec.source.repoURL,
      targetRevision: spec.source.targetRevision,
      ...(spec.source.chart === undefined ? {} : { chart: spec.source.chart }),
    };
    const nowMs = this.#deps.clock.now().getTime();
    const memo = this.#resolved.get(admitted.key);
    if (
      memo &&
      Object.keys(requests).length === 0 &&
      memo.generation === object.metadata.generation &&
      nowMs - memo.at < spec.intervalMs / 2
    )
      return { source, fetch, latest: memo.revision, nowMs };
    const created = Date.parse(object.metadata.creationTimestamp ?? '');
    const notBefore = resolutionNotBefore({
      nowMs,
      maxAgeMs: SHARED_RESOLUTION_MAX_AGE_MS,
      requestTimes: Object.values(requests).map((r) => requestTime(r)),
      createdMs: Number.isFinite(created) ? created : undefined,
    });
    const latest = await this.#resolveShared(
      `${spec.source.repoURL}\u0000${spec.source.chart ?? ''}\u0000${spec.source.targetRevision}\u0000${object.metadata.namespace ?? 'default'}/${spec.source.secretRef?.name ?? ''}`,
      notBefore,
      () => this.#deps.source.resolve(source, fetch),
    );
    this.#resolved.set(admitted.key, { revision: latest, at: nowMs, generation: object.metadata.generation });
    return { source, fetch, latest, nowMs };
  }

  /** A rollback with nothing to roll back to, answered in the same write as its failed operation (a waiting CLI reads it). */
  async #recordRollbackFailed(
    admitted: Admitted,
    failed: { readonly message: string; readonly revision: string },
  ): Promise<void> {
    const now = this.#deps.clock.now().toISOString();
    await this.#writeStatus(
      admitted.object,
      {
        handledRequests: { ...admitted.status.handledRequests, rollback: admitted.requests.rollback },
        operation: {
          phase: 'Failed',
          type: 'rollback',
          revision: failed.revision,
          startedAt: now,
          finishedAt: now,
          message: failed.message,
        },
      },
      { kind: 'RollbackFailed', message: failed.message },
    );
  }

  /** The tree of the target commit, rendered; keyed by what it reads, so a commit re-renders only the applications whose files it changed. */
  async #render(
    admitted: Admitted,
    resolved: Resolved,
    decided: Decided,
    timer: PhaseTimer,
  ): Promise<Rendered> {
    const { spec } = admitted;
    const { source, fetch } = resolved;
    const tree = await this.#deps.source.checkout(source, decided.target, fetch);
    timer.mark('checkout');
    // As the server and `capstan app diff` render it: with the destination's Helm capabilities.
    const capabilities = mayRenderHelm(spec)
      ? await this.#capabilities.get(
          spec.destination.cluster,
          (await this.#deps.destination(spec.destination.cluster)).cluster,
        )
      : undefined;
    const { chartSecrets, ...options } = applicationRender(admitted.app, spec, capabilities);
    const { result, cached, key } = await this.#deps.renders.render(
      tree.revision.sha,
      {
        root: tree.dir,
        path: spec.source.path,
        ...options,
        ...(await this.#chartCredentials(admitted.object.metadata.namespace ?? 'default', chartSecrets)),
      },
      { contentIds: (paths) => this.#deps.source.contentIds(source, tree, paths, fetch) },
    );
    if (cached) this.#deps.metrics?.renderCacheHits.inc();
    else this.#deps.metrics?.renderCacheMisses.inc();
    timer.mark('render');
    return { tree, result, key };
  }

  /** Syncs, compares or skips (decideSync), against the destination cluster. */
  async #sync(
    admitted: Admitted,
    resolved: Resolved,
    decided: Decided,
    rendered: Rendered,
    context: { readonly signal: AbortSignal | undefined; readonly timer: PhaseTimer },
  ): Promise<Synced> {
    const { signal, timer } = context;
    const { spec, status } = admitted;
    const revision = rendered.tree.revision.sha;
    const destination = await this.#deps.destination(spec.destination.cluster);
    // What this sync writes, as the API server answered: the health of those needs no second read.
    const applied = new Map<string, KubeObject>();
    const applier = this.#applier(
      destination,
      admitted.project,
      admitted.app.metadata.namespace ?? 'default',
      spec,
    );
    const deps = this.#syncDeps(destination, recordingApplies(applier, applied), {
      impersonating: applier !== destination.cluster,
      progress: timer.progress,
    });
    // A person's sync request may say whether this sync prunes, and which resources it syncs.
    const asked = decided.operation === 'sync' ? syncRequestOf(admitted.requests.sync) : undefined;
    const options = this.#syncOptions(admitted, revision, signal, {
      cluster: destination.name,
      prune: asked?.prune,
    });
    const newRevision = status.sync?.revision !== revision;
    const eventsBefore = this.#deps.managed?.eventsOf(destination.name, admitted.owner) ?? 0;
    const covered = await this.#covered(destination, rendered);
    const clean = this.#clean.get(admitted.key);
    const quiet = covered && this.#quiet(admitted, resolved, decided, rendered, { clean, eventsBefore });
    this.#clean.delete(admitted.key);
    const step = decideSync({
      quiet,
      operation: decided.operation,
      automated: spec.automated !== undefined,
      selfHeal: spec.automated?.selfHeal === true,
      newRevision,
    });
    const base = { destination, step, applied, eventsBefore, clean, newRevision, covered };
    if (step.kind === 'skip') return { ...base, result: undefined, outOfSync: false };
    if (step.kind === 'compare')
      return { ...base, result: undefined, outOfSync: await this.#differs(rendered, options, deps) };
    const selection = asked?.resources;
    const result = await sync(
      rendered.result.objects,
      {
        ...options,
        ...(step.forcePrune ? { prune: true } : {}),
        hooks: step.hooks,
        // A selection prunes (its selected resources that left the render) only when the request says so.
        ...(selection ? { resources: selection, prune: asked.prune === true } : {}),
      },
      deps,
    );
    this.#deps.metrics?.syncs.inc({ result: result.phase });
    for (const e of result.entries) this.#deps.metrics?.syncResources.inc({ action: e.action });
    if (!selection) return { ...base, result, outOfSync: false };
    // A sync of a selection does not say the application is in sync: a comparison of the whole render does.
    return { ...base, result, outOfSync: await this.#differs(rendered, options, deps) };
  }

  /**
   * What a sync or comparison goes through. The plan compares with what the watches hold where that is
   * the version its dry run saw; only with the agent's own identity (a project's ServiceAccount reads
   * only what it may read, from the API server).
   */
  #syncDeps(
    destination: Destination,
    cluster: Cluster,
    context: { readonly impersonating: boolean; readonly progress: SyncDeps['progress'] },
  ): SyncDeps {
    const managed = this.#deps.managed;
    const liveCache: LiveCache | undefined =
      managed && !context.impersonating
        ? (type, namespace, name) => managed.get(destination.name, type, namespace, name)
        : undefined;
    return {
      cluster,
      inventory: destination.inventory,
      clock: this.#deps.clock,
      assessHealth: this.#deps.assessHealth,
      ...(context.progress ? { progress: context.progress } : {}),
      ...(liveCache ? { liveCache } : {}),
    };
  }

  /** A comparison of the whole render with the cluster (a server-side dry run): whether anything differs. */
  async #differs(rendered: Rendered, options: SyncOptions, deps: SyncDeps): Promise<boolean> {
    const planned = await planSync(rendered.result.objects, options, deps);
    return (
      planned.plan.failures.length > 0 ||
      planned.plan.changes.some((c) => c.action !== 'unchanged') ||
      planned.extraneous.length > 0
    );
  }

  /** The engine's options for this Application's spec. */
  #syncOptions(
    admitted: Admitted,
    revision: string,
    signal: AbortSignal | undefined,
    given: { readonly cluster: string; readonly prune: boolean | undefined },
  ): SyncOptions {
    const { spec } = admitted;
    const { cluster } = given;
    const { namespace, name } = admitted.app.metadata;
    return {
      ...applicationOwner(namespace ?? 'default', name),
      // The whole render is checked against the project before anything is dry-run or applied.
      project: { rules: admitted.project, cluster, protectedNamespaces: this.#protectedNamespaces() },
      namespace: spec.destination.namespace,
      revision,
      prune: given.prune ?? spec.automated?.prune ?? false,
      allowEmpty: spec.automated?.allowEmpty ?? false,
      createNamespace: spec.syncOptions.createNamespace,
      ignoreDifferences: spec.ignoreDifferences,
      replace: spec.syncOptions.replace,
      // Git is the source of truth: fields someone changed by hand are taken back (server-side apply force).
      forceConflicts: true,
      adopt: spec.syncOptions.forceConflicts,
      timeoutMs: 60_000,
      ...(signal ? { signal } : {}),
    };
  }

  /** Whether the watches cover (watch and have listed) every kind the render deploys there. */
  async #covered(destination: Destination, rendered: Rendered): Promise<boolean> {
    const managed = this.#deps.managed;
    return (
      managed !== undefined &&
      managed.covers(
        destination.name,
        (await typesOf(rendered.result.objects, destination.cluster)) ?? [UNSERVED],
      )
    );
  }

  /** Whether the watches, which cover every kind deployed, vouch that nothing moved (watchesVouch). */
  #quiet(
    admitted: Admitted,
    resolved: Resolved,
    decided: Decided,
    rendered: Rendered,
    at: { clean: CleanRecord | undefined; eventsBefore: number },
  ): boolean {
    const managed = this.#deps.managed;
    return (
      managed !== undefined &&
      watchesVouch({
        clean: at.clean,
        operation: decided.operation,
        requests: admitted.requests,
        syncStatus: admitted.status.sync?.status,
        generation: admitted.object.metadata.generation,
        renderKey: rendered.key,
        epoch: managed.epoch,
        events: at.eventsBefore,
        nowMs: resolved.nowMs,
        fullCompareEveryMs: FULL_COMPARE_EVERY_MS,
      })
    );
  }

  /** The live health of the desired objects (hooks are not the application's resources), and the watches told. */
  async #observe(admitted: Admitted, rendered: Rendered, synced: Synced): Promise<Observed> {
    const { destination, applied, result } = synced;
    const managed = this.#deps.managed;
    const healths = await liveHealth(
      // A hook deleted after it ran (or a Helm test) is not Missing.
      rendered.result.objects.map((r) => r.object).filter((o) => hookOf(o) === undefined),
      admitted.spec.destination.namespace,
      destination,
      this.#deps.assessHealth,
      managed,
      // Right after writes the watch may lag behind: those as the writes returned them, or read again.
      new Map(
        (result?.entries ?? [])
          .filter((e) => e.action !== 'unchanged' && e.action !== 'skipped')
          .map((e) => [formatId(e.id), applied.get(formatId(e.id))] as const),
      ),
    );
    managed?.discount(
      destination.name,
      admitted.owner,
      [...applied.values()].map((o) => o.metadata.resourceVersion ?? ''),
    );
    managed?.track(
      destination,
      healths.flatMap((h) => (h.type ? [h.type] : [])),
    );
    return { healths, health: aggregateHealth(healths) };
  }

  /** Found in sync: what that finding depended on, so that the next look may skip the comparison. */
  #remember(
    admitted: Admitted,
    resolved: Resolved,
    rendered: Rendered,
    synced: Synced,
    judgement: SyncJudgement,
  ): void {
    if (judgement.drift.length > 0) this.#deps.metrics?.driftCorrections.inc(judgement.drift.length);
    // Found in sync by a step the watches did not cover from its start: the next look compares again.
    if (!judgement.synced || !synced.covered) return;
    this.#clean.set(admitted.key, {
      generation: admitted.object.metadata.generation,
      renderKey: rendered.key,
      epoch: this.#deps.managed?.epoch ?? 0,
      events: synced.eventsBefore,
      at: synced.step.kind === 'skip' && synced.clean ? synced.clean.at : resolved.nowMs,
    });
  }

  /** The status with its conditions, and an event for a sync worth recording. */
  async #record(
    admitted: Admitted,
    decided: Decided,
    rendered: Rendered,
    synced: Synced,
    observed: Observed,
    judgement: SyncJudgement,
  ): Promise<void> {
    const { result } = synced;
    const revision = rendered.tree.revision.sha;
    // The status and the event of a recorded sync do not wait for each other.
    const event =
      result && judgement.recordHistory
        ? this.#deps.applications
            .event(
              admitted.object,
              syncEvent({ result, operation: decided.operation, drift: judgement.drift, revision }),
            )
            .catch(() => undefined)
        : undefined;
    const status = this.#writeStatus(
      admitted.object,
      reconciledStatus({
        status: admitted.status,
        requests: admitted.requests,
        tree: rendered.tree,
        result,
        judgement,
        operation: decided.operation,
        hold: decided.hold,
        healths: observed.healths,
        health: observed.health,
        warnings: renderWarnings(rendered.result),
      }),
      {
        kind: 'Reconciled',
        sync: result ? { phase: result.phase, message: result.message } : undefined,
        synced: judgement.synced,
        pendingPrune: judgement.pendingPrune,
        automated: admitted.spec.automated !== undefined,
        revision,
        health: observed.health,
      },
    );
    await Promise.all([status, event]);
  }

  /** The log line of a reconcile, and its duration. */
  #report(input: {
    admitted: Admitted;
    rendered: Rendered;
    observed: Observed;
    judgement: SyncJudgement;
    timer: PhaseTimer;
    started: number;
  }): void {
    this.#deps.log?.({
      level: 'info',
      msg: 'reconciled',
      application: input.admitted.key,
      revision: input.rendered.tree.revision.sha,
      synced: input.judgement.synced,
      health: input.observed.health.status,
      wrote: input.judgement.wrote,
      ms: Math.round(performance.now() - input.started),
      phases: input.timer.phases,
    });
    this.#deps.metrics?.reconcileDuration.observe(
      { result: 'success' },
      (performance.now() - input.started) / 1000,
    );
  }

  /**
   * A reconcile that threw. Cancelled: write nothing (another replica may lead already). Terminal
   * (not retryable): Stalled, looked at again at the interval. Transient: Retrying, thrown for the
   * queue's backoff.
   */
  async #failed(
    object: KubeObject,
    error: unknown,
    context: { started: number; signal: AbortSignal | undefined },
  ): Promise<ReconcileOutcome> {
    const namespace = object.metadata.namespace ?? 'default';
    const name = object.metadata.name ?? '';
    this.#deps.metrics?.reconcileDuration.observe(
      { result: 'error' },
      (performance.now() - context.started) / 1000,
    );
    if (context.signal?.aborted === true) throw error;
    const secretRef = (object as { spec?: { source?: { secretRef?: { name?: unknown } } } }).spec?.source
      ?.secretRef?.name;
    if (error instanceof CapstanError && REFUSED_CREDENTIALS.has(error.code) && typeof secretRef === 'string')
      this.#deps.forgetCredentials?.(namespace, secretRef);
    if (error instanceof CapstanError && !error.retryable) {
      await this.#writeStatus(
        object,
        {},
        { kind: 'Stalled', code: error.code, message: error.message },
      ).catch(() => undefined);
      this.#deps.log?.({
        level: 'warn',
        msg: 'stalled',
        application: `${namespace}/${name}`,
        code: error.code,
        error: error.message,
      });
      return { requeueAfterMs: jitter(intervalOf(object)) };
    }
    await this.#writeStatus(object, {}, { kind: 'Retrying', message: messageOf(error) }).catch(
      () => undefined,
    );
    throw error;
  }

  async #resolveShared(
    key: string,
    notBefore: number,
    resolve: () => Promise<ResolvedRevision>,
  ): Promise<ResolvedRevision> {
    const existing = this.#shared.get(key);
    if (existing && existing.startedAt >= notBefore) return existing.revision;
    const startedAt = this.#deps.clock.now().getTime();
    this.#deps.metrics?.gitLsRemote.inc();
    const revision = resolve();
    const entry = { startedAt, revision };
    this.#shared.set(key, entry);
    // Failures are not shared with later callers; old entries go when the map grows.
    revision.catch(() => {
      if (this.#shared.get(key) === entry) this.#shared.delete(key);
    });
    if (this.#shared.size > 1000) {
      for (const [k, v] of this.#shared)
        if (startedAt - v.startedAt > SHARED_RESOLUTION_MAX_AGE_MS) this.#shared.delete(k);
    }
    return revision;
  }

  async #finalize(object: KubeObject): Promise<ReconcileOutcome> {
    this.#resolved.delete(`${object.metadata.namespace ?? 'default'}/${object.metadata.name ?? ''}`);
    this.#validated.forget(object.metadata.namespace ?? 'default', object.metadata.name ?? '');
    const finalizers = object.metadata.finalizers ?? [];
    if (!finalizers.includes(RESOURCES_FINALIZER)) return {};
    const namespace = object.metadata.namespace ?? 'default';
    const name = object.metadata.name ?? '';
    const validation = validateApplication(object);
    if (validation.ok) {
      const spec = resolveSpec(validation.value);
      const destination = await this.#deps.destination(spec.destination.cluster).catch((error: unknown) => {
        // Refused before any sync (no history, no resources) and naming a cluster that is not registered:
        // nothing of it can be there, so letting it go needs no cluster.
        if (error instanceof CapstanError && error.code === 'DESTINATION_UNKNOWN' && neverDeployed(object))
          return undefined;
        throw error;
      });
      if (destination === undefined) {
        await this.#release(object, finalizers);
        return {};
      }
      const owner = applicationOwner(namespace, name);
      // Pruned as the project's ServiceAccount, as it was applied (only what it owns is ever deleted).
      const lookup: ProjectLookup = this.#deps.projects
        ? await this.#deps.projects(spec.project)
        : { kind: 'missing' };
      const project = effectiveProject(spec.project, lookup, namespace);
      const result = await sync(
        [],
        { ...owner, namespace: spec.destination.namespace, prune: true, allowEmpty: true, deletion: true },
        {
          cluster: this.#applier(destination, project, namespace, spec),
          inventory: destination.inventory,
          clock: this.#deps.clock,
          assessHealth: this.#deps.assessHealth,
        },
      );
      if (result.phase !== 'Succeeded')
        throw new CapstanError(
          'DELETE_PRUNE_FAILED',
          `deleting the resources of Application/${namespace}/${name} failed: ${result.message}`,
          { retryable: true },
        );
      await destination.inventory.delete(owner.application);
    }
    await this.#release(object, finalizers);
    return {};
  }

  /** Takes the resources finalizer off: the Application may go. */
  async #release(object: KubeObject, finalizers: readonly string[]): Promise<void> {
    await this.#deps.applications.setFinalizers(
      object.metadata.namespace ?? 'default',
      object.metadata.name ?? '',
      finalizers.filter((f) => f !== RESOURCES_FINALIZER),
      object.metadata.resourceVersion ?? '',
    );
  }

  async #unreadyDependencies(spec: ResolvedSpec): Promise<string[]> {
    const waiting: string[] = [];
    for (const dep of spec.dependsOn) {
      const other = await this.#deps.applications.get(dep.namespace, dep.name);
      const status = (other?.['status'] ?? {}) as ApplicationStatus;
      if (!other) waiting.push(`Application/${dep.namespace}/${dep.name} (not found)`);
      else if (status.sync?.status !== 'Synced' || status.health?.status !== 'Healthy') {
        waiting.push(
          `Application/${dep.namespace}/${dep.name} (${status.sync?.status ?? 'Unknown'}, ${status.health?.status ?? 'Unknown'})`,
        );
      }
    }
    return waiting;
  }

  /** Credentials for the Helm repositories of the chart's dependencies, from the Secrets the spec names. */
  async #chartCredentials(
    namespace: string,
    secrets: readonly string[],
  ): Promise<{ chartCredentials?: GitCredentials[] }> {
    if (secrets.length === 0) return {};
    return {
      chartCredentials: await Promise.all(secrets.map((name) => this.#deps.credentials(namespace, name))),
    };
  }

  async #fetchOptions(
    app: Application,
    spec: ResolvedSpec,
    signal?: AbortSignal,
  ): Promise<{ credentials?: GitCredentials; allowInsecureHttp: boolean; signal?: AbortSignal }> {
    const credentials = spec.source.secretRef
      ? await this.#deps.credentials(app.metadata.namespace ?? 'default', spec.source.secretRef.name)
      : undefined;
    return {
      allowInsecureHttp: spec.source.insecureHttp,
      ...(credentials ? { credentials } : {}),
      ...(signal ? { signal } : {}),
    };
  }

  /** Writes status fields and the conditions of `state` (computeConditions); nothing when nothing changes. */
  async #writeStatus(
    object: KubeObject,
    fields: Record<string, unknown>,
    state: ReconcileState,
  ): Promise<void> {
    const now = this.#deps.clock.now();
    const current = (object['status'] ?? {}) as { conditions?: Condition[] };
    let next = current.conditions;
    for (const c of computeConditions(state))
      next = setCondition(next, c, { now, generation: object.metadata.generation });
    const patch: Record<string, unknown> = {
      ...fields,
      conditions: next,
      ...(object.metadata.generation === undefined ? {} : { observedGeneration: object.metadata.generation }),
    };
    // Nothing new: no write (a write per interval per application is load on etcd and on every watcher).
    if (statusUnchanged(object['status'] as Record<string, unknown> | undefined, patch)) return;
    const namespace = object.metadata.namespace ?? 'default';
    const name = object.metadata.name ?? '';
    const written = await this.#deps.applications.patchStatus(namespace, name, patch);
    // The next poll reads the version this write made: no need to check its spec again (ValidatedApplications).
    this.#validated.wrote(namespace, name, object.metadata.resourceVersion, written);
  }
}

function intervalOf(object: KubeObject): number {
  const validation = validateApplication(object);
  return validation.ok ? resolveSpec(validation.value).intervalMs : 180_000;
}

/** ±10 % so that many applications with one interval do not all poll at once. */
function jitter(ms: number): number {
  return Math.round(ms * (0.9 + Math.random() * 0.2));
}

/** What a pending sync request asks: to prune (or not; undefined: as the spec), and a selection of resources. */
function syncRequestOf(request: string | undefined): SyncRequestValue | undefined {
  return request === undefined ? undefined : parseSyncRequest(request);
}

/** No sync ever recorded: no history and no managed resources in its status. */
function neverDeployed(object: KubeObject): boolean {
  const status = (object['status'] ?? {}) as ApplicationStatus;
  return (status.history ?? []).length === 0 && (status.resources ?? []).length === 0;
}
