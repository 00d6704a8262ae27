import { formatId } from './resource.ts';
import { rollbackRequestTarget, rollbackTarget, type HistoryRecord } from './rollback.ts';
import type { SyncEntry, SyncResult } from './sync-result.ts';
import { shortRevision } from './revision.ts';

export type { HistoryRecord } from './rollback.ts';

/**
 * The agent's decisions for one Application, as pure functions of what it read (DESIGN.md: "what to do
 * now" belongs in core). The reconciler gathers the inputs and carries the decisions out.
 */

/** Requests made of the agent by annotation (contracts' REQUEST_ANNOTATIONS), those not handled yet. */
export type PendingRequests = Partial<Record<'refresh' | 'sync' | 'rollback' | 'releaseHold', string>>;

/** Automated sync holds on `revision` after a rollback, until a newer commit arrives or a person releases it. */
export interface RollbackHold {
  readonly revision: string;
  /** The commit rolled back from: a source revision other than both releases the hold. */
  readonly fromRevision?: string;
  readonly reason?: string;
  readonly since?: string;
}

export type Operation = 'sync' | 'rollback';

export interface TargetInput {
  /** The commit the source resolves to now. */
  readonly latest: string;
  readonly requests: PendingRequests;
  readonly hold: RollbackHold | undefined;
  /** The commit last synced (status.sync.revision). */
  readonly syncedRevision: string | undefined;
  readonly history: readonly HistoryRecord[];
  readonly now: Date;
  /** `namespace/name`, for messages. */
  readonly application: string;
}

export type TargetDecision =
  | {
      readonly kind: 'deploy';
      /** A commit to deploy instead of the latest (a hold, or a rollback); undefined: the latest. */
      readonly pinned: string | undefined;
      /** The hold after this reconcile (undefined: none, or released). */
      readonly hold: RollbackHold | undefined;
      /** What a person asked for; undefined: automated sync (or only a comparison). */
      readonly operation: Operation | undefined;
    }
  | {
      /** A rollback was asked for and there is nothing to roll back to. */
      readonly kind: 'rollback-failed';
      readonly message: string;
      /** The revision the failed operation is reported on. */
      readonly revision: string;
    };

/**
 * Which commit to deploy, and why. A hold pins the revision until a newer commit arrives (neither the
 * held one nor the one rolled back from) or a person releases it; a rollback request pins the target
 * it names and holds there; a sync request is an operation on the latest (or held) commit.
 */
export function decideTarget(input: TargetInput): TargetDecision {
  const { latest, requests, syncedRevision } = input;
  const held = input.hold;
  const hold =
    held && requests.releaseHold === undefined && (latest === held.revision || latest === held.fromRevision)
      ? held
      : undefined;
  if (requests.rollback !== undefined) {
    const chosen = rollbackTarget(input.history, rollbackRequestTarget(requests.rollback), {
      application: input.application,
    });
    if (!chosen.found)
      return { kind: 'rollback-failed', message: chosen.message, revision: syncedRevision ?? latest };
    const to = chosen.revision;
    return {
      kind: 'deploy',
      pinned: to,
      hold: {
        revision: to,
        fromRevision: syncedRevision ?? latest,
        reason: 'rolled back',
        since: input.now.toISOString(),
      },
      operation: 'rollback',
    };
  }
  return {
    kind: 'deploy',
    pinned: hold?.revision,
    hold,
    operation: requests.sync !== undefined ? 'sync' : undefined,
  };
}

/**
 * The oldest start a shared git resolution may have to be re-used (milliseconds since the epoch). A
 * poll accepts one up to `maxAgeMs` old; a request, one that started after it was made (`requestTimes`,
 * or now for a request id that says no time); an Application, never one that started before it was
 * created — its author pushed, then created it: an older resolution may not know that commit.
 */
export function resolutionNotBefore(input: {
  readonly nowMs: number;
  readonly maxAgeMs: number;
  /** When each pending request was made (undefined: its id says no time). */
  readonly requestTimes: readonly (number | undefined)[];
  /** When the Application was created (undefined: not known). */
  readonly createdMs: number | undefined;
}): number {
  const { nowMs } = input;
  const times = input.requestTimes.map((t) => t ?? nowMs);
  const base = times.length > 0 ? Math.max(...times) : nowMs - input.maxAgeMs;
  return input.createdMs === undefined ? base : Math.max(base, input.createdMs);
}

/** What one Application was found in sync with, the last time it was (see `watchesVouch`). */
export interface CleanRecord {
  readonly generation: number | undefined;
  /** The render's cache key: its inputs by content, so equal keys mean the same objects. */
  readonly renderKey: string;
  /** The managed-resource watches' epoch (a restart of the watches changes it). */
  readonly epoch: number;
  /** Events seen on the application's objects by then. */
  readonly events: number;
  readonly at: number;
}

export interface QuietInput {
  readonly clean: CleanRecord | undefined;
  readonly operation: Operation | undefined;
  readonly requests: PendingRequests;
  readonly syncStatus: string | undefined;
  readonly generation: number | undefined;
  readonly renderKey: string;
  readonly epoch: number;
  readonly events: number;
  readonly nowMs: number;
  /** However quiet the watches are, compare with the cluster at least this often. */
  readonly fullCompareEveryMs: number;
}

/**
 * Whether the watches vouch that the Application is still in sync, so that no comparison with the
 * cluster is needed: it was found in sync with the same spec and render inputs (a commit that does not
 * touch them gives the same render), nothing asked for, no event on its objects since, and the last
 * full comparison is recent. (The caller also checks that the watches cover every kind it deploys.)
 */
export function watchesVouch(input: QuietInput): boolean {
  const { clean } = input;
  return (
    clean !== undefined &&
    input.operation === undefined &&
    Object.keys(input.requests).length === 0 &&
    input.syncStatus === 'Synced' &&
    clean.generation === input.generation &&
    clean.renderKey === input.renderKey &&
    clean.epoch === input.epoch &&
    clean.events === input.events &&
    input.nowMs - clean.at < input.fullCompareEveryMs
  );
}

export type SyncStep =
  /** In sync, and nothing moved since: no request to the API server. */
  | { readonly kind: 'skip' }
  | {
      readonly kind: 'sync';
      /** A rollback prunes whatever its spec says; otherwise the spec's automated.prune. */
      readonly forcePrune: boolean;
      /** Automated syncs run each desired state's hooks once (not at every interval, nor after a failover). */
      readonly hooks: 'once' | 'always';
    }
  /** Automated sync is off (or may not correct drift on this commit): only compare. */
  | { readonly kind: 'compare' };

/**
 * Sync when asked, or when automated and either the commit is new or selfHeal lets it correct drift
 * on the same commit; skip when the watches vouch for it; otherwise only compare.
 */
export function decideSync(input: {
  readonly quiet: boolean;
  readonly operation: Operation | undefined;
  readonly automated: boolean;
  readonly selfHeal: boolean;
  readonly newRevision: boolean;
}): SyncStep {
  if (input.quiet) return { kind: 'skip' };
  const mayCorrectDrift = input.selfHeal || input.newRevision;
  if (input.operation !== undefined || (input.automated && mayCorrectDrift))
    return {
      kind: 'sync',
      forcePrune: input.operation === 'rollback',
      hooks: input.operation === undefined ? 'once' : 'always',
    };
  return { kind: 'compare' };
}

/** What a sync (or a comparison) found, as the status and the history record it. */
export interface SyncJudgement {
  /** In sync: the sync succeeded and nothing is kept that left Git (prune off); or the comparison found nothing. */
  readonly synced: boolean;
  /** Something was written (not only unchanged or skipped entries). */
  readonly wrote: boolean;
  /** Changes on the same commit without a request: someone changed the cluster by hand, and it was put back. */
  readonly drift: readonly SyncEntry[];
  /** Only a sync that did something (or failed, or moved to a new commit, or was asked for) is recorded. */
  readonly recordHistory: boolean;
  /** Objects that left Git but stay because prune is off (they keep the application out of sync). */
  readonly pendingPrune: readonly string[];
}

export function judgeSync(input: {
  readonly result: SyncResult | undefined;
  /** From a comparison (without sync, or after a sync of a selection): whether anything differs. */
  readonly outOfSync: boolean;
  readonly newRevision: boolean;
  readonly operation: Operation | undefined;
}): SyncJudgement {
  const { result, newRevision, operation } = input;
  const entries = result?.entries ?? [];
  const wrote = entries.some((e) => e.action !== 'unchanged' && e.action !== 'skipped');
  const drift =
    result !== undefined && !newRevision && operation === undefined
      ? entries.filter((e) => e.action === 'configured' || e.action === 'created')
      : [];
  const pendingPrune = entries.filter((e) => e.prunePending === true).map((e) => formatId(e.id));
  return {
    // A sync of a selection comes with a comparison of the whole render (outOfSync), which decides.
    synced: result
      ? result.phase === 'Succeeded' && pendingPrune.length === 0 && !input.outOfSync
      : !input.outOfSync,
    wrote: result !== undefined && wrote,
    drift,
    recordHistory:
      result !== undefined && (wrote || result.phase === 'Failed' || newRevision || operation !== undefined),
    pendingPrune,
  };
}

/** The Kubernetes event a recorded sync gets. */
export function syncEvent(input: {
  readonly result: SyncResult;
  readonly operation: Operation | undefined;
  readonly drift: readonly SyncEntry[];
  readonly revision: string;
}): { readonly type: 'Normal' | 'Warning'; readonly reason: string; readonly message: string } {
  const { result, drift } = input;
  const short = shortRevision(input.revision);
  const succeeded = result.phase === 'Succeeded';
  return {
    type: succeeded ? 'Normal' : 'Warning',
    reason: !succeeded
      ? 'SyncFailed'
      : input.operation === 'rollback'
        ? 'RolledBack'
        : drift.length > 0
          ? 'DriftCorrected'
          : 'Synced',
    message:
      drift.length > 0
        ? `drift corrected at ${short}: ${drift.map((e) => formatId(e.id)).join(', ')}`
        : `${short}: ${result.message}`,
  };
}
