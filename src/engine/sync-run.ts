import { CapstanError } from '../core/errors.ts';
import type { OrderedObject } from '../core/ordering.ts';
import { keyOf } from '../core/resource.ts';
import type { ChangeSet } from './change-set.ts';
import type { SyncDeps, SyncOptions } from './context.ts';
import type { HookContext } from './hooks.ts';
import type { PlannedChange } from './plan.ts';
import type { SyncPlan } from './plan-sync.ts';
import type { LedgerOfHooks } from './sync-inventory.ts';
import { waitForHealth, type Watched } from './wait.ts';

/** What every step of one sync reads: its inputs, its plan, and the change set it adds entries to. */
export interface SyncRun {
  readonly options: SyncOptions;
  readonly deps: SyncDeps;
  readonly planned: SyncPlan;
  /** The planned change of each object, by resource key. */
  readonly changeOf: ReadonlyMap<string, PlannedChange>;
  readonly changes: ChangeSet;
  /** The desired state's digest (renderDigest). */
  readonly digest: string;
  readonly timeoutMs: number;
  readonly concurrency: number;
  /** What hooks need to run: see runHooks. */
  readonly hooks: HookContext;
  /** False when hooks run once per desired state and the last successful sync applied this one. */
  readonly runHookPhases: boolean;
  /** The hooks completed for this desired state, when hooks run once (SyncOptions.hooks). */
  readonly completed: LedgerOfHooks | undefined;
}

/**
 * Cancelled (the agent stops, or lost its leadership): stop between steps and record nothing more —
 * no failed sync, no inventory of what was applied, no SyncFail hooks (the hooks that completed are
 * in the hook ledger already). What was applied stays; the next sync resumes it.
 */
export function stopIfCancelled(options: SyncOptions): void {
  if (options.signal?.aborted === true) {
    throw new CapstanError(
      'SYNC_CANCELLED',
      `the sync of ${options.application} was cancelled part-way; nothing was recorded and the next sync carries on`,
      { retryable: true, cause: options.signal.reason },
    );
  }
}

/** The planned changes of these objects, in their order. */
export function changesOf(run: SyncRun, objects: readonly OrderedObject[]): PlannedChange[] {
  return objects.map((o) => run.changeOf.get(keyOf(o.id))).filter((c): c is PlannedChange => c !== undefined);
}

/** The served types of the objects to watch (objects of a type the cluster does not serve are left out). */
export async function watchedOf(objects: readonly OrderedObject[], deps: SyncDeps): Promise<Watched[]> {
  const watched: Watched[] = [];
  for (const o of objects) {
    const type = await deps.cluster.resourceType(o.object.apiVersion, o.object.kind);
    if (type) watched.push({ id: o.id, type });
  }
  return watched;
}

/** Waits until the objects are healthy; undefined when they are, else why not (for the failed sync's message). */
export async function untilHealthy(
  run: SyncRun,
  objects: readonly OrderedObject[],
  what: string,
): Promise<string | undefined> {
  const watched = await watchedOf(objects, run.deps);
  if (watched.length === 0) return undefined;
  run.changes.step(`waiting for ${what} to be healthy`);
  const outcome = await waitForHealth(watched, {
    cluster: run.deps.cluster,
    clock: run.deps.clock,
    assessHealth: run.deps.assessHealth,
    timeoutMs: run.timeoutMs,
    ...(run.options.signal ? { signal: run.options.signal } : {}),
  });
  stopIfCancelled(run.options);
  if (outcome.healthy) return undefined;
  return `${what} ${outcome.timedOut ? `not healthy within ${Math.round(run.timeoutMs / 1000)} s` : 'degraded'}: ${outcome.pending.join('; ')}`;
}
