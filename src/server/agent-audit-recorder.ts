/**
 * Records the agent's syncs and rollbacks in the audit trail from the server's watch of Applications:
 * a new history entry seen in an update (agentActivity: who asked is known then), and at start and after
 * every re-list of the watch, every history entry not recorded yet (historyActivity): the syncs the
 * agent finished while no server ran, or while this one was cut off from the API server.
 *
 * Written once: every entry carries the key `agent:<uid>:<history id>`, so a restart, or several
 * replicas on one database, never record one twice. Before writing a batch the recorder asks the
 * Store which keys it holds already (one query per batch, not one write per history entry at every
 * start). It remembers, per Application, the last history id known recorded. Entries the Store could
 * not take are kept and tried again (`retryMs`); entries older than the retention are not recorded
 * (the daily tidy would delete them again).
 */
import type { Application } from '../contracts/application.ts';
import { messageOf } from '../core/errors.ts';
import type { Logger } from '../ports/logger.ts';
import type { AuditEntryInput, AuditLog } from '../ports/store.ts';
import { agentActivity, historyActivity } from './agent-audit.ts';

/** Keys asked of the Store, and entries written, per batch. */
export const AGENT_AUDIT_BATCH = 500;

export interface AgentAuditRecorderOptions {
  readonly audit: Pick<AuditLog, 'append' | 'recordedKeys'>;
  readonly log: Logger;
  /** Entries that finished longer ago than this are not recorded late (the retention). */
  readonly retentionDays: number;
  readonly now: () => number;
  /** After a failed write, the next try. Default 30 s. */
  readonly retryMs?: number;
}

interface Pending {
  readonly entry: AuditEntryInput;
  /** The Application (uid, or namespace/name) and the history id: the watermark it raises. */
  readonly application: string;
  readonly historyId: number;
}

export class AgentAuditRecorder {
  readonly #options: AgentAuditRecorderOptions;
  /** Per Application: every history entry up to this id is recorded. */
  readonly #recorded = new Map<string, number>();
  readonly #pending = new Map<string, Pending>();
  #flushing: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: AgentAuditRecorderOptions) {
    this.#options = options;
  }

  /** The ApplicationIndex's observer: an update's new history entries; a new Application's whole history. */
  readonly observe = (before: Application | undefined, after: Application | undefined): void => {
    if (!after) {
      if (before) this.#recorded.delete(applicationKey(before));
      return;
    }
    if (before) this.#add(after, agentActivity(before, after));
    this.catchUp([after]);
  };

  /** Every history entry of these Applications not recorded yet (at start, and after each re-list). */
  catchUp(applications: Iterable<Application>): void {
    const since = new Date(this.#options.now() - this.#options.retentionDays * 86_400_000).toISOString();
    for (const application of applications)
      this.#add(
        application,
        historyActivity(application, this.#recorded.get(applicationKey(application)) ?? 0, since),
      );
  }

  /** Resolves when what was handed over so far is written (or has failed and waits for its retry). */
  async idle(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  /** Stops the retries; what is pending is not written. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
  }

  #add(application: Application, entries: readonly AuditEntryInput[]): void {
    const app = applicationKey(application);
    const watermark = this.#recorded.get(app) ?? 0;
    for (const entry of entries) {
      const historyId = Number(entry.changes?.['historyId']);
      if (entry.key === undefined || historyId <= watermark) continue;
      // The entry seen in an update (who asked known) wins over the same one caught up from the history.
      const waiting = this.#pending.get(entry.key);
      if (waiting && !(isLate(waiting.entry) && !isLate(entry))) continue;
      this.#pending.set(entry.key, { entry, application: app, historyId });
    }
    if (this.#pending.size > 0) this.#flush();
  }

  #flush(): void {
    if (this.#flushing || this.#closed) return;
    this.#flushing = this.#writeAll().finally(() => {
      this.#flushing = undefined;
    });
  }

  async #writeAll(): Promise<void> {
    while (this.#pending.size > 0 && !this.#closed) {
      const batch = [...this.#pending.values()].slice(0, AGENT_AUDIT_BATCH);
      try {
        await this.#write(batch);
      } catch (error) {
        this.#options.log({
          level: 'warn',
          msg: 'audit entries of the agent not written; trying again',
          entries: this.#pending.size,
          error: messageOf(error),
        });
        clearTimeout(this.#retry);
        this.#retry = setTimeout(() => {
          this.#flush();
        }, this.#options.retryMs ?? 30_000);
        this.#retry.unref();
        return;
      }
    }
  }

  async #write(batch: readonly Pending[]): Promise<void> {
    const keys = batch.map((p) => p.entry.key ?? '');
    const there = await this.#options.audit.recordedKeys(keys);
    for (const pending of batch) {
      const key = pending.entry.key ?? '';
      if (!there.has(key)) await this.#options.audit.append(pending.entry);
      this.#pending.delete(key);
      // History ids of one Application are handed over in order: recorded up to this one.
      const watermark = this.#recorded.get(pending.application) ?? 0;
      if (pending.historyId > watermark) this.#recorded.set(pending.application, pending.historyId);
    }
  }
}

const applicationKey = (application: Application): string =>
  application.metadata.uid ?? `${application.metadata.namespace ?? ''}/${application.metadata.name}`;

const isLate = (entry: AuditEntryInput): boolean => entry.changes?.['recordedLate'] === true;
