import { canonicalJson } from '../core/digest.ts';
import { messageOf } from '../core/errors.ts';
import { applicationOwnerName } from '../contracts/application.ts';
import type { KubeObject } from '../core/resource.ts';
import type { ResourceType } from '../ports/cluster.ts';
import type { Clock } from '../ports/clock.ts';
import type { LeaseLock } from '../ports/lease.ts';
import type { Watcher } from '../ports/watch.ts';
import { DEFAULT_LEADER_ELECTION, LeaderElector } from './leader-election.ts';
import type { ManagedResources } from './managed-resources.ts';
import type { AgentMetrics } from './metrics.ts';
import type { ApplicationReconciler } from './reconciler.ts';
import type { WatchedApplications } from './watched-applications.ts';
import { WorkQueue } from './work-queue.ts';
import type { Logger } from '../ports/logger.ts';

export interface AgentLoopOptions {
  readonly applicationType: ResourceType;
  readonly watcher: Watcher;
  readonly reconciler: ApplicationReconciler;
  readonly clock: Clock;
  /** Leader election; without it this replica acts alone (one replica, or tests). */
  readonly election?: {
    readonly lock: LeaseLock;
    readonly identity: string;
    readonly leaseDurationSeconds?: number;
    readonly renewDeadlineMs?: number;
    readonly retryPeriodMs?: number;
  };
  /** Applications reconciled at once. Default 4. */
  readonly concurrency?: number;
  /** Only Applications with these labels (`key=value,...`): shards, or one agent per test. */
  readonly labelSelector?: string;
  readonly metrics?: AgentMetrics;
  readonly log?: Logger;
  /** Watches on managed resources: drift and health changes queue their application at once. */
  readonly managed?: ManagedResources;
  /**
   * Delay before a managed-resource event queues its application. Default 0: at once. A burst costs
   * no more for that: the queue holds a key once, and one added while its reconcile runs is queued
   * once more when it ends, so any number of events during a reconcile cost one more reconcile.
   */
  readonly resourceEventDelayMs?: number;
  /** Called with the queue while this replica leads, and with undefined when it stops leading. */
  readonly onQueue?: (queue: WorkQueue | undefined) => void;
  /** Fed with the watch of Applications while this replica leads, emptied when it starts and stops. */
  readonly applicationCache?: Pick<WatchedApplications, 'observe' | 'reset'>;
}

/** What makes an Application worth reconciling again: its spec, its requests, its deletion — not its status. */
function fingerprint(object: KubeObject): string {
  return canonicalJson([
    object.metadata.generation,
    object.metadata.annotations ?? {},
    object.metadata.deletionTimestamp ?? '',
    object.metadata.finalizers ?? [],
  ]);
}

/**
 * The agent: while it leads, watches Applications and reconciles each key through a de-duplicating
 * queue with per-key backoff and bounded concurrency. Status updates do not re-queue (the agent's
 * own writes would loop); the interval, requests and spec changes do. Returns when `signal` aborts,
 * after the reconciles in flight finished (graceful shutdown).
 */
export async function runAgentLoop(options: AgentLoopOptions, signal: AbortSignal): Promise<void> {
  const lead = (leading: AbortSignal) => leadUntil(options, { leading, stopping: signal });
  if (!options.election) {
    await lead(signal);
    return;
  }
  const { election } = options;
  const elector = new LeaderElector({
    lock: election.lock,
    identity: election.identity,
    clock: options.clock,
    ...(election.leaseDurationSeconds === undefined
      ? {}
      : { leaseDurationSeconds: election.leaseDurationSeconds }),
    ...(election.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: election.renewDeadlineMs }),
    ...(election.retryPeriodMs === undefined ? {} : { retryPeriodMs: election.retryPeriodMs }),
    onStartedLeading: lead,
    onNewLeader: (identity) => options.log?.({ level: 'info', msg: 'leader', identity }),
    onError: (error) => options.log?.({ level: 'warn', msg: 'leader election', error: messageOf(error) }),
  });
  await elector.run(signal);
}

/**
 * One term of leadership: queue what changed (Applications, their managed resources), reconcile from
 * the queue, and when the term ends shut the queue down (draining it when the agent stops).
 */
async function leadUntil(
  options: AgentLoopOptions,
  signals: { readonly leading: AbortSignal; readonly stopping: AbortSignal },
): Promise<void> {
  const { leading, stopping } = signals;
  const queue = new WorkQueue({ clock: options.clock });
  options.onQueue?.(queue);
  options.applicationCache?.reset();
  /** Application keys by their owner name (the tracking annotation of the objects they manage). */
  const owners = new Map<string, string>();
  queueManagedChanges(options, queue, owners);
  const watchDone = watchApplications(options, { queue, owners, signal: leading });
  const working = reconcileFromQueue(options, queue);
  await aborted(leading);
  // Leadership lost: another replica may lead soon, so the reconciles in flight are cancelled at once.
  // Stopping: they may finish while the lease is surely still ours (no renewals run meanwhile), then
  // are cancelled; a cancelled sync records only its completed hooks, and the next leader resumes it.
  await queue.shutDown(stopping.aborted ? { drain: true, timeoutMs: drainMs(options) } : { drain: false });
  await Promise.all([watchDone, working, options.managed?.stop()]);
  options.applicationCache?.reset();
  options.onQueue?.(undefined);
}

/**
 * A drift, deletion or health change of a managed resource queues its Application at once: the
 * event is the signal, and the queue's de-duplication coalesces a burst (see resourceEventDelayMs).
 */
function queueManagedChanges(
  options: AgentLoopOptions,
  queue: WorkQueue,
  owners: ReadonlyMap<string, string>,
): void {
  options.managed?.start((change) => {
    const key = owners.get(change.owner);
    if (key === undefined) return;
    options.log?.({
      level: change.reason === 'health' ? 'debug' : 'info',
      msg: change.reason === 'health' ? 'resource health changed' : `managed resource ${change.reason}`,
      application: key,
      resource: change.subject,
      destination: change.destination,
    });
    queue.addAfter(key, options.resourceEventDelayMs ?? 0);
  });
}

/** Watches Applications: a new spec, request or deletion queues one (its own status writes do not). */
function watchApplications(
  options: AgentLoopOptions,
  context: { readonly queue: WorkQueue; readonly owners: Map<string, string>; readonly signal: AbortSignal },
): Promise<void> {
  const { queue, owners } = context;
  const seen = new Map<string, string>();
  return options.watcher.watch(
    options.applicationType,
    '',
    (event) => {
      options.applicationCache?.observe(event);
      if (event.type === 'SYNCED') return;
      const namespace = event.object.metadata.namespace ?? 'default';
      const name = event.object.metadata.name ?? '';
      const key = `${namespace}/${name}`;
      const owner = applicationOwnerName(namespace, name);
      if (event.type === 'DELETED') {
        seen.delete(key);
        owners.delete(owner);
        return;
      }
      owners.set(owner, key);
      const print = fingerprint(event.object);
      if (seen.get(key) === print) return;
      seen.set(key, print);
      queue.add(key);
    },
    {
      signal: context.signal,
      ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
      onError: (error) => options.log?.({ level: 'warn', msg: 'watch', error: error.message }),
    },
  );
}

/** Reconciles keys from the queue, each again when its outcome asks; failures back off. */
function reconcileFromQueue(options: AgentLoopOptions, queue: WorkQueue): Promise<void> {
  return queue.run(
    async (key, keySignal) => {
      const [namespace = 'default', name = ''] = key.split('/');
      const outcome = await options.reconciler.reconcile(namespace, name, keySignal);
      queue.forget(key);
      if (outcome.requeueAfterMs !== undefined) queue.addAfter(key, outcome.requeueAfterMs);
      options.metrics?.workqueueDepth.set(queue.len());
    },
    {
      concurrency: options.concurrency ?? 4,
      onError: (key, error) =>
        options.log?.({
          level: 'error',
          msg: 'reconcile failed; retrying with backoff',
          application: key,
          error: messageOf(error),
        }),
    },
  );
}

/** Resolves when the signal aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else
      signal.addEventListener(
        'abort',
        () => {
          resolve();
        },
        { once: true },
      );
  });
}

/**
 * How long the reconciles in flight may finish on a graceful stop: 30 s acting alone; with leader
 * election, the time no other replica can take the lease (leaseDuration − renewDeadline: the last
 * renewal was at most renewDeadline ago).
 */
function drainMs(options: AgentLoopOptions): number {
  if (!options.election) return 30_000;
  const lease =
    (options.election.leaseDurationSeconds ?? DEFAULT_LEADER_ELECTION.leaseDurationSeconds) * 1000;
  return Math.min(
    30_000,
    lease - (options.election.renewDeadlineMs ?? DEFAULT_LEADER_ELECTION.renewDeadlineMs),
  );
}
