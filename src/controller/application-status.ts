import {
  appendHistory,
  HISTORY_RESOURCES_LIMIT,
  REQUEST_ANNOTATIONS,
  SYNC_WARNINGS_LIMIT,
  type ApplicationStatus,
  type RequestKind,
} from '../contracts/application.ts';
import { canonicalJson } from '../core/digest.ts';
import type { Health } from '../core/health.ts';
import type { Operation, PendingRequests, RollbackHold, SyncJudgement } from '../core/reconcile-decision.ts';
import { formatId, type KubeObject } from '../core/resource.ts';
import { summarise, type SyncResult } from '../core/sync-result.ts';
import type { SourceTree } from '../ports/source.ts';
import type { ResourceHealth } from './live-health.ts';

/** The status an Application has now (empty when it has none yet). */
export function statusOf(object: KubeObject): ApplicationStatus {
  return object['status'] ?? {};
}

/** Requests (annotations) whose id differs from the last one handled. */
export function pendingRequests(object: KubeObject): PendingRequests {
  const annotations = object.metadata.annotations ?? {};
  const handled = statusOf(object).handledRequests ?? {};
  const pending: Partial<Record<RequestKind, string>> = {};
  for (const [kind, annotation] of Object.entries(REQUEST_ANNOTATIONS) as [RequestKind, string][]) {
    const value = annotations[annotation];
    if (value !== undefined && value !== '' && value !== handled[kind]) pending[kind] = value;
  }
  return pending;
}

export interface ReconciledStatusInput {
  readonly status: ApplicationStatus;
  readonly requests: PendingRequests;
  readonly tree: SourceTree;
  readonly result: SyncResult | undefined;
  readonly judgement: SyncJudgement;
  readonly operation: Operation | undefined;
  readonly hold: RollbackHold | undefined;
  readonly healths: readonly ResourceHealth[];
  readonly health: Health;
  /** What the render warned about (RenderResult.warnings, Argo CD annotations not honoured). */
  readonly warnings: readonly string[];
}

/**
 * The status fields after a reconcile, as a merge patch (`hold: null` removes a released hold): the
 * sync status and revision, health, resources, handled requests, and — only for a sync that did
 * something (or failed, or moved to a new commit) — the operation and a history entry.
 */
export function reconciledStatus(input: ReconciledStatusInput): Record<string, unknown> {
  const { status, tree, result, judgement } = input;
  const syncStatus = judgement.synced ? 'Synced' : 'OutOfSync';
  const revision = tree.revision.sha;
  // A sync of a selection that left the application out of sync did not apply this desired state whole:
  // the revision and digest stay the last ones (so automated sync still sees a new commit as new).
  const partly = result?.resources !== undefined && !judgement.synced;
  return {
    sync: {
      status: syncStatus,
      revision: partly ? (status.sync?.revision ?? revision) : revision,
      digest: (partly ? undefined : result?.digest) ?? status.sync?.digest ?? '',
      // `null` removes the warnings of an earlier render that had some.
      warnings:
        input.warnings.length > 0
          ? input.warnings
              .slice(0, SYNC_WARNINGS_LIMIT)
              .map((w) => (w.length > 1024 ? `${w.slice(0, 1023)}…` : w))
          : null,
    },
    // `message: null` removes the previous one: a merge patch keeps what it does not name, and a Healthy
    // status must not keep the message of the Progressing one before it.
    health: { status: input.health.status, message: input.health.message || null },
    resources: input.healths.map((h) => ({
      ...h.id,
      ...(h.version ? { version: h.version } : {}),
      syncStatus,
      health: { status: h.status, ...(h.message ? { message: h.message } : {}) },
    })),
    handledRequests: { ...status.handledRequests, ...input.requests },
    hold: input.hold ?? null,
    ...(result && judgement.recordHistory
      ? {
          operation: {
            phase: result.phase,
            type: input.operation ?? 'sync',
            revision,
            startedAt: result.startedAt,
            finishedAt: result.finishedAt,
            message: (result.resources && result.phase === 'Succeeded'
              ? summaryOf(result)
              : result.message
            ).slice(0, 4000),
          },
          history: appendHistory(status.history, {
            revision,
            digest: result.digest,
            author: tree.commit.author,
            message: tree.commit.subject,
            startedAt: result.startedAt,
            finishedAt: result.finishedAt,
            result: result.phase,
            summary: summaryOf(result).slice(0, 4000),
            ...(result.resources
              ? { resources: result.resources.slice(0, HISTORY_RESOURCES_LIMIT).map(formatId) }
              : {}),
          }),
        }
      : {}),
  };
}

/** What a sync did, for the history: a sync of a selection says so, and how many it selected. */
function summaryOf(result: SyncResult): string {
  const summary = summarise(result.entries);
  if (!result.resources) return summary;
  const n = result.resources.length;
  return `${summary} (a sync of ${n} selected resource${n === 1 ? '' : 's'}: nothing else applied or pruned, no hooks)`;
}

/** Whether a merge patch would leave the status as it is (`null` removes a field). */
export function statusUnchanged(
  status: Record<string, unknown> | undefined,
  patch: Record<string, unknown>,
): boolean {
  for (const [key, value] of Object.entries(patch)) {
    const current = status?.[key];
    if (value === null ? current !== undefined : canonicalJson(current) !== canonicalJson(merged(value)))
      return false;
  }
  return true;
}

/**
 * What a merge patch's value leaves in the object: a `null` inside it removes that field (health's
 * `message: null`), so it is compared as absent; otherwise every unchanged status would be written again.
 */
function merged(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).flatMap(([k, v]) => (v === null ? [] : [[k, merged(v)]])));
}
