/**
 * The agent's syncs and rollbacks in the audit trail, as the server sees them: a new entry in an
 * Application's `status.history` (watched) is one sync or rollback the agent performed. Who asked is
 * read from the same status: a request whose id the agent just recorded in `handledRequests` (the
 * person's own audit entry carries that id), else a new commit, else drift correction on the same one.
 * Pure: the Application before and after in, the entries out.
 */
import type { Application, HistoryEntry } from '../contracts/application.ts';
import type { AuditEntryInput } from '../ports/store.ts';
import { projectOf } from './application-index.ts';

/** `unknown`: recorded later, from the history alone (historyActivity). */
export type SyncTrigger = 'request' | 'commit' | 'drift' | 'unknown';

/** The audit entries of the syncs recorded between `before` and `after` (none for a new or deleted Application). */
export function agentActivity(
  before: Application | undefined,
  after: Application | undefined,
): AuditEntryInput[] {
  if (!before || !after) return [];
  const seen = Math.max(0, ...(before.status?.history ?? []).map((e) => e.id));
  const added = (after.status?.history ?? []).filter((e) => e.id > seen);
  if (added.length === 0) return [];
  const namespace = after.metadata.namespace ?? '';
  const requested = newRequest(before, after);
  const rollback = after.status?.operation?.type === 'rollback';
  return added.map((entry) => ({
    time: entry.finishedAt ?? entry.startedAt,
    actor: { kind: 'agent', name: 'agent' },
    action: rollback ? 'application.rollback' : 'application.sync',
    target: `Application/${namespace}/${after.metadata.name}`,
    project: projectOf(after),
    result: entry.result === 'Succeeded' ? 'success' : 'failure',
    changes: changesOf(entry, requested ?? triggerOf(before, entry)),
    // Every server replica watches the same history: the entry is written once.
    key: agentAuditKey(after, entry.id),
  }));
}

/** The key of a history entry's audit entry: one per Application (by uid) and history id. */
export function agentAuditKey(application: Application, historyId: number): string {
  const { uid, namespace, name } = application.metadata;
  return `agent:${uid ?? `${namespace ?? ''}/${name}`}:${String(historyId)}`;
}

/**
 * The audit entries of every history entry of `application` after `afterId` that finished at or after
 * `since`: the syncs the agent finished while no server watched (a catch-up at start and after a
 * re-list). Who asked is no longer known then (`trigger: unknown`), nor whether it was a rollback
 * (recorded as a sync); `recordedLate: true` says so.
 */
export function historyActivity(application: Application, afterId: number, since: string): AuditEntryInput[] {
  const namespace = application.metadata.namespace ?? '';
  return (application.status?.history ?? [])
    .filter((entry) => entry.id > afterId && (entry.finishedAt ?? entry.startedAt) >= since)
    .map((entry) => ({
      time: entry.finishedAt ?? entry.startedAt,
      actor: { kind: 'agent', name: 'agent' },
      action: 'application.sync',
      target: `Application/${namespace}/${application.metadata.name}`,
      project: projectOf(application),
      result: entry.result === 'Succeeded' ? 'success' : 'failure',
      changes: { ...changesOf(entry, 'unknown'), recordedLate: true },
      key: agentAuditKey(application, entry.id),
    }));
}

/** The request the agent recorded as handled in this update, if any (`sync:<id>`, `rollback:<id>`). */
function newRequest(before: Application, after: Application): { kind: string; id: string } | undefined {
  const was = before.status?.handledRequests ?? {};
  const now = after.status?.handledRequests ?? {};
  for (const kind of ['rollback', 'sync', 'refresh'] as const) {
    const id = now[kind];
    if (id !== undefined && id !== was[kind]) return { kind, id };
  }
  return undefined;
}

function triggerOf(before: Application, entry: HistoryEntry): SyncTrigger {
  return before.status?.sync?.revision === entry.revision ? 'drift' : 'commit';
}

function changesOf(
  entry: HistoryEntry,
  trigger: SyncTrigger | { kind: string; id: string },
): Record<string, string | number | boolean> {
  return {
    revision: entry.revision,
    historyId: entry.id,
    ...(typeof trigger === 'string'
      ? { trigger }
      : { trigger: 'request', request: `${trigger.kind}:${trigger.id}` }),
    ...(entry.summary === undefined ? {} : { summary: entry.summary.slice(0, 500) }),
  };
}
