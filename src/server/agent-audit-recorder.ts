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

export class AgentAuditRecorder {
  readonly #options: AgentAuditRecorderOptions;
  /** Per Application: every history entry up to this id is recorded. */
  readonly #recorded = new Map<string, number>();
  /**
   * Applications whose history may hold entries not recorded yet, as last seen. Entries are made from
   * them when a batch is written (not kept for every Application at start: 10,000 of them hold up to
   * 20 each).
   */
  readonly #due = new Map<string, Application>();
  /** Entries seen in an update, by key: who asked is known; they replace the same entries caught up. */
  readonly #seen = new Map<string, AuditEntryInput>();
  #flushing: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: AgentAuditRecorderOptions) {
    this.#options = options;
  }

  /** The ApplicationIndex's observer: an update's new history entries; a new Application's whole history. */
  readonly observe = (before: Application | undefined, after: Application | undefined): void => {
    if (!after) {
      // What is due of it is still written; then only its watermark stays (a number per Application).
      if (before && !this.#due.has(applicationKey(before))) this.#recorded.delete(applicationKey(before));
      return;
    }
    const watermark = this.#recorded.get(applicationKey(after)) ?? 0;
    if (before)
      for (const entry of agentActivity(before, after))
        if (entry.key && Number(entry.changes?.['historyId']) > watermark) this.#seen.set(entry.key, entry);
    this.catchUp([after]);
  };

  /** Every history entry of these Applications not recorded yet (at start, and after each re-list). */
  catchUp(applications: Iterable<Application>): void {
    for (const application of applications) {
      const last = application.status?.history?.at(-1)?.id ?? 0;
      const key = applicationKey(application);
      if (last > (this.#recorded.get(key) ?? 0)) this.#due.set(key, application);
    }
    if (this.#due.size > 0) this.#flush();
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

  #flush(): void {
    if (this.#flushing || this.#closed) return;
    this.#flushing = this.#writeAll().finally(() => {
      this.#flushing = undefined;
    });
  }

  async #writeAll(): Promise<void> {
    while (this.#due.size > 0 && !this.#closed) {
      const batch = this.#nextBatch();
      try {
        await this.#write(batch.entries);
      } catch (error) {
        // Due again, unless a newer state of the Application arrived meanwhile.
        for (const [key, application] of batch.applications)
          if (!this.#due.has(key)) this.#due.set(key, application);
        this.#options.log({
          level: 'warn',
          msg: 'audit entries of the agent not written; trying again',
          applications: this.#due.size,
          error: messageOf(error),
        });
        clearTimeout(this.#retry);
        this.#retry = setTimeout(() => {
          this.#flush();
        }, this.#options.retryMs ?? 30_000);
        this.#retry.unref();
        return;
      }
      for (const [key, application] of batch.applications) {
        const last = application.status?.history?.at(-1)?.id ?? 0;
        if (last > (this.#recorded.get(key) ?? 0)) this.#recorded.set(key, last);
      }
      for (const entry of batch.entries) if (entry.key) this.#seen.delete(entry.key);
    }
  }

  /** The entries of the next Applications due, whole Applications up to AGENT_AUDIT_BATCH entries. */
  #nextBatch(): { applications: Map<string, Application>; entries: AuditEntryInput[] } {
    const since = new Date(this.#options.now() - this.#options.retentionDays * 86_400_000).toISOString();
    const applications = new Map<string, Application>();
    const entries: AuditEntryInput[] = [];
    for (const [key, application] of this.#due) {
      if (entries.length >= AGENT_AUDIT_BATCH) break;
      this.#due.delete(key);
      applications.set(key, application);
      for (const late of historyActivity(application, this.#recorded.get(key) ?? 0, '')) {
        // Seen in an update: recorded as seen. Caught up: only within the retention.
        const seen = late.key === undefined ? undefined : this.#seen.get(late.key);
        if (seen) entries.push(seen);
        else if (late.time >= since) entries.push(late);
      }
    }
    return { applications, entries };
  }

  async #write(entries: readonly AuditEntryInput[]): Promise<void> {
    if (entries.length === 0) return;
    const there = await this.#options.audit.recordedKeys(entries.map((e) => e.key ?? ''));
    for (const entry of entries) if (!there.has(entry.key ?? '')) await this.#options.audit.append(entry);
  }
}

const applicationKey = (application: Application): string =>
  application.metadata.uid ?? `${application.metadata.namespace ?? ''}/${application.metadata.name}`;
