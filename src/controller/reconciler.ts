import {
  applicationOwner,
  appendHistory,
  REQUEST_ANNOTATIONS,
  requestTime,
  RESOURCES_FINALIZER,
  resolveSpec,
  validateApplication,
  type Application,
  type ApplicationStatus,
  type RequestKind,
  type ResolvedSpec,
} from '../contracts/application.ts';
import { aggregateHealth, setCondition, type Condition, type ConditionInput } from '../core/conditions.ts';
import { canonicalJson } from '../core/digest.ts';
import { CapstanError, messageOf } from '../core/errors.ts';
import type { Health } from '../core/health.ts';
import { hookOf } from '../core/ordering.ts';
import type { KubeObject } from '../core/resource.ts';
import { formatId, groupOf } from '../core/resource.ts';
import type { SyncResult } from '../core/sync-result.ts';
import { summarise } from '../core/sync-result.ts';
import type { SyncDeps } from '../engine/context.ts';
import { planSync, sync } from '../engine/sync.ts';
import type { ApplicationStore } from '../ports/applications.ts';
import type { Cluster, ResourceType } from '../ports/cluster.ts';
import type { Clock } from '../ports/clock.ts';
import type { InventoryStore } from '../ports/inventory.ts';
import type { Watcher } from '../ports/watch.ts';
import type { GitCredentials, ResolvedRevision, SourceFetcher } from '../ports/source.ts';
import type { ManagedResources } from './managed-resources.ts';
import type { AgentMetrics } from './metrics.ts';
import type { RenderCache } from './render-cache.ts';

export interface Destination {
  /** The registered name (`in-cluster`, or the name of a cluster Secret). */
  readonly name: string;
  readonly cluster: Cluster;
  readonly inventory: InventoryStore;
  /** Watches on this cluster, for the managed resources (drift and health events). */
  readonly watcher: Watcher;
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
  readonly log?: (line: Record<string, unknown>) => void;
  /** Watches on managed resources: told which kinds each sync manages; answers health reads from its cache. */
  readonly managed?: ManagedResources;
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
const REFUSED_CREDENTIALS = new Set([
  'SOURCE_AUTH_FAILED',
  'SOURCE_REPO_NOT_FOUND',
  'SOURCE_HOST_KEY_UNKNOWN',
]);

/** However quiet the watches are, compare with the cluster at least this often. */
const FULL_COMPARE_EVERY_MS = 30 * 60_000;
const DEPENDENCY_RECHECK_MS = 5_000;

/**
 * Makes one Application's cluster equal to its source: the agent's runbook for one key. Transient
 * errors are thrown (the queue retries them with backoff); terminal ones mark the Application Stalled
 * and wait for a new input.
 */
export class ApplicationReconciler {
  readonly #deps: ReconcilerDeps;
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
   * Resolutions shared by the applications of one repository and revision: a push seen by 100
   * applications, or 1000 starting at once, costs one `ls-remote`, not one each. Keyed by repository,
   * revision and credentials; each remembers when it started.
   */
  /**
   * Applications found in sync, with what that finding depended on. While none of it changed (spec,
   * render — a commit that does not touch an application's inputs leaves its render as it was — and no
   * event on any of its objects), the next look needs no comparison with the cluster: the watches
   * vouch for it. A full comparison still runs every FULL_COMPARE_EVERY_MS.
   */
  readonly #clean = new Map<
    string,
    {
      generation: number | undefined;
      /** The render's cache key: its inputs by content, so equal keys mean the same objects. */
      renderKey: string;
      epoch: number;
      events: number;
      at: number;
    }
  >();
  readonly #shared = new Map<string, { startedAt: number; revision: Promise<ResolvedRevision> }>();

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
  }

  async reconcile(namespace: string, name: string, signal?: AbortSignal): Promise<ReconcileOutcome> {
    const started = performance.now();
    const { applications, clock } = this.#deps;
    const object = await applications.get(namespace, name);
    if (!object) return {};
    try {
      // 1. Deletion: prune what it owns (its finalizer), then let it go.
      if (object.metadata.deletionTimestamp) return await this.#finalize(object);

      // 2. A valid spec, or Stalled with the reason until the spec changes.
      const validation = validateApplication(object);
      if (!validation.ok) {
        await this.#writeStatus(object, {}, [
          { type: 'Stalled', status: 'True', reason: 'InvalidSpec', message: validation.errors.join('; ') },
          {
            type: 'Ready',
            status: 'False',
            reason: 'InvalidSpec',
            message: `the spec is not valid: ${validation.errors.join('; ')}`,
          },
          {
            type: 'Reconciling',
            status: 'False',
            reason: 'InvalidSpec',
            message: 'waiting for a valid spec',
          },
        ]);
        return {};
      }
      const app = validation.value;
      const spec = resolveSpec(app);
      if (!(object.metadata.finalizers ?? []).includes(RESOURCES_FINALIZER)) {
        await applications.setFinalizers(
          namespace,
          name,
          [...(object.metadata.finalizers ?? []), RESOURCES_FINALIZER],
          object.metadata.resourceVersion ?? '',
        );
        return { requeueAfterMs: 0 };
      }
      if (spec.suspend) {
        await this.#writeStatus(object, {}, [
          { type: 'Reconciling', status: 'False', reason: 'Suspended', message: 'spec.suspend is true' },
        ]);
        return {};
      }

      // 3. dependsOn: wait until each dependency is Synced and Healthy.
      const waitingFor = await this.#unreadyDependencies(spec);
      if (waitingFor.length > 0) {
        await this.#writeStatus(object, {}, [
          {
            type: 'Reconciling',
            status: 'True',
            reason: 'DependencyNotReady',
            message: `waiting for ${waitingFor.join(', ')}`,
          },
          {
            type: 'Ready',
            status: 'False',
            reason: 'DependencyNotReady',
            message: `waiting for ${waitingFor.join(', ')}`,
          },
        ]);
        return { requeueAfterMs: DEPENDENCY_RECHECK_MS };
      }

      // 4. The source: resolve (ls-remote), then the tree of that commit (fetched once per commit).
      const requests = pendingRequests(object);
      const status = (object['status'] ?? {}) as ApplicationStatus;
      const fetchOptions = await this.#fetchOptions(app, spec, signal);
      const sourceSpec = { repoURL: spec.source.repoURL, targetRevision: spec.source.targetRevision };
      const appKey = `${namespace}/${name}`;
      const memo = this.#resolved.get(appKey);
      const nowMs = clock.now().getTime();
      let latest: ResolvedRevision;
      if (
        memo &&
        Object.keys(requests).length === 0 &&
        memo.generation === object.metadata.generation &&
        nowMs - memo.at < spec.intervalMs / 2
      ) {
        latest = memo.revision;
      } else {
        // A poll accepts a resolution a few seconds old; a request one that started after it was made.
        const times = Object.values(requests).map((r) => requestTime(r) ?? nowMs);
        const notBefore = times.length > 0 ? Math.max(...times) : nowMs - SHARED_RESOLUTION_MAX_AGE_MS;
        latest = await this.#resolveShared(
          `${spec.source.repoURL}\u0000${spec.source.targetRevision}\u0000${namespace}/${spec.source.secretRef?.name ?? ''}`,
          notBefore,
          () => this.#deps.source.resolve(sourceSpec, fetchOptions),
        );
        this.#resolved.set(appKey, { revision: latest, at: nowMs, generation: object.metadata.generation });
      }

      // 5. A rollback hold pins the revision until a newer commit arrives or a person releases it.
      let hold = status.hold;
      if (
        hold &&
        (requests.releaseHold !== undefined ||
          (latest.sha !== hold.revision && latest.sha !== hold.fromRevision))
      )
        hold = undefined;
      let target: ResolvedRevision = hold ? { sha: hold.revision, ref: hold.revision } : latest;
      let operation: 'sync' | 'rollback' | undefined;
      if (requests.rollback !== undefined) {
        const rollbackTo = rollbackTarget(status, requests.rollback);
        if (!rollbackTo) {
          // Answered in the same write as its (failed) operation, so a waiting CLI reads this result.
          const now = clock.now().toISOString();
          const why = `no successful sync to roll back to for '${requests.rollback}'`;
          await this.#writeStatus(
            object,
            {
              handledRequests: { ...status.handledRequests, rollback: requests.rollback },
              operation: {
                phase: 'Failed',
                type: 'rollback',
                revision: status.sync?.revision ?? latest.sha,
                startedAt: now,
                finishedAt: now,
                message: why,
              },
            },
            [{ type: 'Ready', status: 'False', reason: 'RollbackFailed', message: why }],
          );
          return {};
        }
        target = { sha: rollbackTo, ref: rollbackTo };
        hold = {
          revision: rollbackTo,
          fromRevision: status.sync?.revision ?? latest.sha,
          reason: 'rolled back',
          since: clock.now().toISOString(),
        };
        operation = 'rollback';
      } else if (requests.sync !== undefined) {
        operation = 'sync';
      }

      const phases: Record<string, number> = {};
      let mark = performance.now();
      const phase = (name: string) => {
        const now = performance.now();
        phases[name] = Math.round(now - mark);
        mark = now;
      };
      phase('resolve');
      const tree = await this.#deps.source.checkout(sourceSpec, target, fetchOptions);
      phase('checkout');
      const {
        result: rendered,
        cached,
        key: renderKey,
      } = await this.#deps.renders.render(
        tree.revision.sha,
        {
          root: tree.dir,
          path: spec.source.path,
          ...(spec.source.type ? { type: spec.source.type } : {}),
          ...(spec.source.directory ? { directory: spec.source.directory } : {}),
          ...(spec.source.helm
            ? { helm: { releaseName: name, namespace: spec.destination.namespace, ...spec.source.helm } }
            : {}),
        },
        // Keyed by what it reads: a commit re-renders only the applications whose files it changed.
        { contentIds: (paths) => this.#deps.source.contentIds(sourceSpec, tree, paths, fetchOptions) },
      );
      if (cached) this.#deps.metrics?.renderCacheHits.inc();
      else this.#deps.metrics?.renderCacheMisses.inc();

      // 6. Sync when automated (or asked); otherwise only compare.
      phase('render');
      const destination = await this.#deps.destination(spec.destination.cluster);
      // What this sync writes, as the API server answered: the health of those needs no second read.
      const applied = new Map<string, KubeObject>();
      const syncDeps: SyncDeps = {
        cluster: recordingApplies(destination.cluster, applied),
        inventory: destination.inventory,
        clock,
        assessHealth: this.#deps.assessHealth,
      };
      const options = {
        ...applicationOwner(namespace, name),
        namespace: spec.destination.namespace,
        revision: tree.revision.sha,
        prune: spec.automated?.prune ?? false,
        allowEmpty: spec.automated?.allowEmpty ?? false,
        createNamespace: spec.syncOptions.createNamespace,
        replace: spec.syncOptions.replace,
        // Git is the source of truth: fields someone changed by hand are taken back (server-side apply force).
        forceConflicts: true,
        adopt: spec.syncOptions.forceConflicts,
        timeoutMs: 60_000,
        ...(signal ? { signal } : {}),
      };
      const newRevision = status.sync?.revision !== tree.revision.sha;
      // Automated sync follows new commits; drift on the same commit is corrected only with selfHeal.
      const mayCorrectDrift = spec.automated?.selfHeal === true || newRevision;
      let result: SyncResult | undefined;
      let outOfSync = false;
      const managed = this.#deps.managed;
      const eventsBefore = managed?.eventsOf(destination.name, options.application) ?? 0;
      const clean = this.#clean.get(appKey);
      const quiet =
        managed !== undefined &&
        clean !== undefined &&
        operation === undefined &&
        Object.keys(requests).length === 0 &&
        status.sync?.status === 'Synced' &&
        clean.generation === object.metadata.generation &&
        // The same render inputs (a commit that did not touch them gives the same render), even when the
        // cache let the render go and it was made again.
        clean.renderKey === renderKey &&
        clean.epoch === managed.epoch &&
        clean.events === eventsBefore &&
        nowMs - clean.at < FULL_COMPARE_EVERY_MS &&
        managed.covers(
          destination.name,
          (await typesOf(rendered.objects, destination.cluster)) ?? [UNSERVED],
        );
      this.#clean.delete(appKey);
      if (quiet) {
        // In sync, and nothing moved since: no request to the API server.
      } else if (operation !== undefined || (spec.automated !== undefined && mayCorrectDrift)) {
        result = await sync(
          rendered.objects,
          {
            ...options,
            prune: operation === 'rollback' ? true : options.prune,
            // Automated syncs run each desired state's hooks once (not at every interval, nor after a failover).
            hooks: operation === undefined ? 'once' : 'always',
          },
          syncDeps,
        );
        this.#deps.metrics?.syncs.inc({ result: result.phase });
        for (const e of result.entries) this.#deps.metrics?.syncResources.inc({ action: e.action });
      } else {
        const planned = await planSync(rendered.objects, options, syncDeps);
        outOfSync =
          planned.plan.failures.length > 0 ||
          planned.plan.changes.some((c) => c.action !== 'unchanged') ||
          planned.candidates.length > 0;
      }

      // 7. Health of what is deployed, and the status.
      const wrote =
        result !== undefined &&
        result.entries.some((e) => e.action !== 'unchanged' && e.action !== 'skipped');
      phase(quiet ? 'quiet' : result ? 'sync' : 'plan');
      const healths = await liveHealth(
        // Hooks are not the application's resources: one deleted after it ran (or a Helm test) is not Missing.
        rendered.objects.map((r) => r.object).filter((o) => hookOf(o) === undefined),
        spec.destination.namespace,
        destination,
        this.#deps.assessHealth,
        this.#deps.managed,
        // Right after writes the watch may lag behind: those as the writes returned them, or read again.
        new Map(
          (result?.entries ?? [])
            .filter((e) => e.action !== 'unchanged' && e.action !== 'skipped')
            .map((e) => [formatId(e.id), applied.get(formatId(e.id))] as const),
        ),
      );
      this.#deps.managed?.discount(
        destination.name,
        options.application,
        [...applied.values()].map((o) => o.metadata.resourceVersion ?? ''),
      );
      this.#deps.managed?.track(
        destination,
        healths.flatMap((h) => (h.type ? [h.type] : [])),
      );
      const health = aggregateHealth(healths);
      // Changes on the same commit without a request: someone changed the cluster by hand, and it was put back.
      const drift =
        result !== undefined && !newRevision && operation === undefined
          ? result.entries.filter((e) => e.action === 'configured' || e.action === 'created')
          : [];
      if (drift.length > 0) this.#deps.metrics?.driftCorrections.inc(drift.length);
      const recordHistory =
        result !== undefined &&
        (wrote || result.phase === 'Failed' || newRevision || operation !== undefined);
      const pendingPrune = (result?.entries ?? [])
        .filter((e) => e.prunePending === true)
        .map((e) => formatId(e.id));
      // Objects that left Git but stay because prune is off keep the application out of sync.
      const synced = result ? result.phase === 'Succeeded' && pendingPrune.length === 0 : !outOfSync;
      if (synced)
        this.#clean.set(appKey, {
          generation: object.metadata.generation,
          renderKey,
          epoch: this.#deps.managed?.epoch ?? 0,
          events: eventsBefore,
          at: quiet ? clean.at : nowMs,
        });
      const handled = { ...status.handledRequests, ...requests };
      // A merge patch: `hold: null` removes a released hold.
      const nextStatus: Record<string, unknown> = {
        sync: {
          status: synced ? 'Synced' : 'OutOfSync',
          revision: tree.revision.sha,
          digest: result?.digest ?? status.sync?.digest ?? '',
        },
        health: { status: health.status, ...(health.message ? { message: health.message } : {}) },
        resources: healths.map((h) => ({
          ...h.id,
          ...(h.version ? { version: h.version } : {}),
          syncStatus: synced ? 'Synced' : 'OutOfSync',
          health: { status: h.status, ...(h.message ? { message: h.message } : {}) },
        })),
        handledRequests: handled,
        hold: hold ?? null,
        // Only a sync that did something (or failed, or moved to a new commit) is an operation to report.
        ...(result && recordHistory
          ? {
              operation: {
                phase: result.phase,
                type: operation ?? 'sync',
                revision: tree.revision.sha,
                startedAt: result.startedAt,
                finishedAt: result.finishedAt,
                message: result.message.slice(0, 4000),
              },
            }
          : {}),
        ...(recordHistory && result
          ? {
              history: appendHistory(status.history, {
                revision: tree.revision.sha,
                digest: result.digest,
                author: tree.commit.author,
                message: tree.commit.subject,
                startedAt: result.startedAt,
                finishedAt: result.finishedAt,
                result: result.phase,
                summary: summarise(result.entries).slice(0, 4000),
              }),
            }
          : {}),
      };
      const ready: ConditionInput =
        result?.phase === 'Failed'
          ? { type: 'Ready', status: 'False', reason: 'SyncFailed', message: result.message }
          : !synced
            ? {
                type: 'Ready',
                status: 'False',
                reason: 'OutOfSync',
                message:
                  pendingPrune.length > 0
                    ? `no longer in Git but kept because prune is off: ${pendingPrune.slice(0, 10).join(', ')}${pendingPrune.length > 10 ? ', …' : ''}`
                    : spec.automated
                      ? 'out of sync'
                      : 'out of sync; automated sync is off: sync it by request',
              }
            : health.status === 'Healthy'
              ? {
                  type: 'Ready',
                  status: 'True',
                  reason: 'Synced',
                  message: `synced to ${tree.revision.sha.slice(0, 12)} and healthy`,
                }
              : {
                  type: 'Ready',
                  status: 'False',
                  reason: health.status,
                  message: health.message || health.status,
                };
      phase('health');
      await this.#writeStatus(object, nextStatus, [
        ready,
        {
          type: 'Reconciling',
          status: health.status === 'Progressing' ? 'True' : 'False',
          reason: health.status === 'Progressing' ? 'Progressing' : 'Reconciled',
          message: health.status === 'Progressing' ? health.message : '',
        },
        { type: 'Stalled', status: 'False', reason: 'Reconciled', message: '' },
      ]);
      phase('status');
      if (result && recordHistory) {
        await applications
          .event(object, {
            type: result.phase === 'Succeeded' ? 'Normal' : 'Warning',
            reason:
              result.phase !== 'Succeeded'
                ? 'SyncFailed'
                : operation === 'rollback'
                  ? 'RolledBack'
                  : drift.length > 0
                    ? 'DriftCorrected'
                    : 'Synced',
            message:
              drift.length > 0
                ? `drift corrected at ${tree.revision.sha.slice(0, 12)}: ${drift.map((e) => formatId(e.id)).join(', ')}`
                : `${tree.revision.sha.slice(0, 12)}: ${result.message}`,
          })
          .catch(() => undefined);
      }
      this.#deps.log?.({
        level: 'info',
        msg: 'reconciled',
        application: `${namespace}/${name}`,
        revision: tree.revision.sha,
        synced,
        health: health.status,
        wrote,
        ms: Math.round(performance.now() - started),
        phases,
      });
      this.#deps.metrics?.reconcileDuration.observe(
        { result: 'success' },
        (performance.now() - started) / 1000,
      );
      return {
        requeueAfterMs: health.status === 'Progressing' ? PROGRESSING_RECHECK_MS : jitter(spec.intervalMs),
      };
    } catch (error) {
      this.#deps.metrics?.reconcileDuration.observe(
        { result: 'error' },
        (performance.now() - started) / 1000,
      );
      // Cancelled (stopping, or leadership lost): another replica may lead already; write nothing.
      if (signal?.aborted === true) throw error;
      const secretRef = (object as { spec?: { source?: { secretRef?: { name?: unknown } } } }).spec?.source
        ?.secretRef?.name;
      if (
        error instanceof CapstanError &&
        REFUSED_CREDENTIALS.has(error.code) &&
        typeof secretRef === 'string'
      )
        this.#deps.forgetCredentials?.(namespace, secretRef);
      if (error instanceof CapstanError && !error.retryable) {
        // Terminal: a new commit or spec is needed. Stalled, and looked at again at the interval.
        await this.#writeStatus(object, {}, [
          { type: 'Stalled', status: 'True', reason: reasonOf(error.code), message: error.message },
          { type: 'Ready', status: 'False', reason: reasonOf(error.code), message: error.message },
          {
            type: 'Reconciling',
            status: 'False',
            reason: reasonOf(error.code),
            message: 'waiting for a new commit or spec',
          },
        ]).catch(() => undefined);
        this.#deps.log?.({
          level: 'warn',
          msg: 'stalled',
          application: `${namespace}/${name}`,
          code: error.code,
          error: error.message,
        });
        return { requeueAfterMs: jitter(intervalOf(object)) };
      }
      await this.#writeStatus(object, {}, [
        { type: 'Ready', status: 'False', reason: 'Retrying', message: messageOf(error) },
        { type: 'Reconciling', status: 'True', reason: 'Retrying', message: messageOf(error) },
      ]).catch(() => undefined);
      throw error;
    }
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
    const finalizers = object.metadata.finalizers ?? [];
    if (!finalizers.includes(RESOURCES_FINALIZER)) return {};
    const namespace = object.metadata.namespace ?? 'default';
    const name = object.metadata.name ?? '';
    const validation = validateApplication(object);
    if (validation.ok) {
      const spec = resolveSpec(validation.value);
      const destination = await this.#deps.destination(spec.destination.cluster);
      const owner = applicationOwner(namespace, name);
      const result = await sync(
        [],
        { ...owner, namespace: spec.destination.namespace, prune: true, allowEmpty: true },
        {
          cluster: destination.cluster,
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
    await this.#deps.applications.setFinalizers(
      namespace,
      name,
      finalizers.filter((f) => f !== RESOURCES_FINALIZER),
      object.metadata.resourceVersion ?? '',
    );
    return {};
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

  async #writeStatus(
    object: KubeObject,
    fields: Record<string, unknown>,
    conditions: readonly ConditionInput[],
  ): Promise<void> {
    const now = this.#deps.clock.now();
    const current = (object['status'] ?? {}) as { conditions?: Condition[] };
    let next = current.conditions;
    for (const c of conditions) next = setCondition(next, c, { now, generation: object.metadata.generation });
    const patch: Record<string, unknown> = {
      ...fields,
      conditions: next,
      ...(object.metadata.generation === undefined ? {} : { observedGeneration: object.metadata.generation }),
    };
    // Nothing new: no write (a write per interval per application is load on etcd and on every watcher).
    if (unchanged(object['status'] as Record<string, unknown> | undefined, patch)) return;
    await this.#deps.applications.patchStatus(
      object.metadata.namespace ?? 'default',
      object.metadata.name ?? '',
      patch,
    );
  }
}

/** Whether a merge patch would leave the status as it is (`null` removes a field). */
function unchanged(status: Record<string, unknown> | undefined, patch: Record<string, unknown>): boolean {
  for (const [key, value] of Object.entries(patch)) {
    const current = status?.[key];
    if (value === null ? current !== undefined : canonicalJson(current) !== canonicalJson(value))
      return false;
  }
  return true;
}

/** Requests (annotations) whose id differs from the last one handled. */
function pendingRequests(object: KubeObject): Partial<Record<RequestKind, string>> {
  const annotations = object.metadata.annotations ?? {};
  const handled = ((object['status'] ?? {}) as ApplicationStatus).handledRequests ?? {};
  const pending: Partial<Record<RequestKind, string>> = {};
  for (const [kind, annotation] of Object.entries(REQUEST_ANNOTATIONS) as [RequestKind, string][]) {
    const value = annotations[annotation];
    if (value !== undefined && value !== '' && value !== handled[kind]) pending[kind] = value;
  }
  return pending;
}

/** `<request id>:<history id or revision>`, or just the request id: the last successful sync before the current one. */
function rollbackTarget(status: ApplicationStatus, request: string): string | undefined {
  const colon = request.indexOf(':');
  const wanted = colon >= 0 ? request.slice(colon + 1) : '';
  const history = status.history ?? [];
  if (wanted !== '') {
    const byId = /^\d+$/.test(wanted) ? history.find((h) => String(h.id) === wanted) : undefined;
    if (byId) return byId.result === 'Succeeded' ? byId.revision : undefined;
    return history.find((h) => h.result === 'Succeeded' && h.revision.startsWith(wanted))?.revision;
  }
  const current = status.sync?.revision;
  return [...history].reverse().find((h) => h.result === 'Succeeded' && h.revision !== current)?.revision;
}

interface ResourceHealth extends Health {
  readonly id: { group: string; kind: string; namespace: string; name: string };
  readonly version?: string;
  readonly type?: ResourceType;
  readonly subject: string;
}

/** The cluster, with the objects its (non-dry-run) applies return kept in `applied` by resource id. */
function recordingApplies(cluster: Cluster, applied: Map<string, KubeObject>): Cluster {
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
async function liveHealth(
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
    const health = assess(live);
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
async function typesOf(
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

function reasonOf(code: string): string {
  return code
    .toLowerCase()
    .split('_')
    .map((w) => (w[0] ?? '').toUpperCase() + w.slice(1))
    .join('');
}

function intervalOf(object: KubeObject): number {
  const validation = validateApplication(object);
  return validation.ok ? resolveSpec(validation.value).intervalMs : 180_000;
}

/** ±10 % so that many applications with one interval do not all poll at once. */
function jitter(ms: number): number {
  return Math.round(ms * (0.9 + Math.random() * 0.2));
}
