import type { ErrorCode } from './errors.ts';
import type { Health } from './health.ts';
import type { KubeObject, ResourceId } from './resource.ts';

/** What happened to one resource in a sync. The one result type that logs, history, API, CLI and UI render. */
export const SYNC_ACTIONS = ['created', 'configured', 'unchanged', 'pruned', 'skipped', 'failed'] as const;
export type SyncAction = (typeof SYNC_ACTIONS)[number];

/** What one server-side apply did. */
export type ApplyAction = Extract<SyncAction, 'created' | 'configured' | 'unchanged'>;

/**
 * What a server-side apply did, from its answer and the object read before it: created, configured
 * (the server wrote a new resourceVersion), or unchanged (an apply that changes nothing writes nothing).
 */
export function applyActionOf(outcome: {
  readonly created: boolean;
  readonly before: KubeObject | undefined;
  readonly after: KubeObject;
}): ApplyAction {
  if (outcome.created) return 'created';
  return outcome.before?.metadata.resourceVersion === outcome.after.metadata.resourceVersion
    ? 'unchanged'
    : 'configured';
}

export interface SyncEntry {
  readonly id: ResourceId;
  readonly action: SyncAction;
  /** Why, for people: the field that changed, the error, why it was skipped. */
  readonly message: string;
  /** Sync wave (annotation capstan.dev/sync-wave), 0 by default. */
  readonly wave: number;
  /** Set for hooks: PreSync, Sync, PostSync or SyncFail. */
  readonly hook?: HookPhase;
  readonly health?: Health;
  /** True when the apply was a dry run (nothing was written). */
  readonly dryRun?: boolean;
  /** True for an object that left the desired state and stays because prune is off: out of sync. */
  readonly prunePending?: boolean;
  /** For a failed entry: the error's stable code, when it had one. */
  readonly code?: ErrorCode;
  /** For a failed entry: whether the same sync may succeed later (transient), when known. */
  readonly retryable?: boolean;
}

export type HookPhase = 'PreSync' | 'Sync' | 'PostSync' | 'SyncFail';

export type SyncPhase = 'Succeeded' | 'Failed';

export interface SyncResult {
  /** Application name: whose inventory this sync used. */
  readonly application: string;
  readonly phase: SyncPhase;
  /** A one-line summary: `3 created, 1 configured, 12 unchanged, 1 pruned`, or what failed. */
  readonly message: string;
  /** Commit the desired state came from, when it came from git. */
  readonly revision?: string;
  /** Digest of the rendered desired state (see renderDigest). */
  readonly digest: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly dryRun: boolean;
  /**
   * A sync of part of the application (Argo CD's selective sync): the resources selected. Nothing else
   * was applied or pruned and no hook ran; whether the application is in sync is for a comparison to say.
   */
  readonly resources?: readonly ResourceId[];
  readonly entries: readonly SyncEntry[];
}

export function countActions(entries: readonly SyncEntry[]): Record<SyncAction, number> {
  const counts: Record<SyncAction, number> = {
    created: 0,
    configured: 0,
    unchanged: 0,
    pruned: 0,
    skipped: 0,
    failed: 0,
  };
  for (const entry of entries) counts[entry.action] += 1;
  return counts;
}

/** `2 created, 1 configured, 5 unchanged` — zero counts left out; `nothing to do` when empty. */
export function summarise(entries: readonly SyncEntry[]): string {
  const counts = countActions(entries);
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([action, n]) => `${n} ${action}`);
  return parts.length > 0 ? parts.join(', ') : 'nothing to do';
}
