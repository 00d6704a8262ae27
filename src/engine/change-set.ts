import { kindRank } from '../core/ordering.ts';
import { formatId, type ResourceId } from '../core/resource.ts';
import { summarise, type SyncEntry, type SyncResult } from '../core/sync-result.ts';
import type { SyncEvent } from './context.ts';

/**
 * Everything one sync did to the objects, as entries of the one result type (DESIGN.md), reported as
 * progress the moment each is added. Each step of the sync adds its entries here; `result` makes the
 * SyncResult out of them.
 */
export class ChangeSet {
  readonly #entries: SyncEntry[] = [];
  readonly #progress: ((event: SyncEvent) => void) | undefined;

  constructor(progress?: (event: SyncEvent) => void) {
    this.#progress = progress;
  }

  /** Records one entry and reports it. */
  readonly add = (entry: SyncEntry): void => {
    this.#entries.push(entry);
    this.#progress?.({ type: 'entry', entry });
  };

  /** Reports a step (no entry): what the sync does now. */
  readonly step = (message: string): void => {
    this.#progress?.({ type: 'step', message });
  };

  get entries(): readonly SyncEntry[] {
    return this.#entries;
  }

  get failed(): boolean {
    return this.#entries.some((e) => e.action === 'failed');
  }

  /** Replaces each entry by what `update` makes of it (e.g. with its health once waited for). */
  update(update: (entry: SyncEntry) => SyncEntry): void {
    for (const [i, entry] of this.#entries.entries()) this.#entries[i] = update(entry);
  }
}

export interface SyncResultBase {
  readonly application: string;
  readonly revision?: string | undefined;
  readonly digest: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly dryRun: boolean;
  /** A sync of part of the application: the resources selected. */
  readonly resources?: readonly ResourceId[];
}

/** The result of a sync: Failed when it was stopped for a reason or an entry failed. */
export function syncResult(
  changes: ChangeSet,
  base: SyncResultBase,
  outcome: { readonly failedBecause?: string | undefined } = {},
): SyncResult {
  const failed = outcome.failedBecause !== undefined || changes.failed;
  return {
    application: base.application,
    phase: failed ? 'Failed' : 'Succeeded',
    message: outcome.failedBecause ?? summarise(changes.entries),
    ...(base.revision === undefined ? {} : { revision: base.revision }),
    digest: base.digest,
    startedAt: base.startedAt.toISOString(),
    finishedAt: base.finishedAt.toISOString(),
    dryRun: base.dryRun,
    ...(base.resources === undefined ? {} : { resources: base.resources }),
    entries: inApplyOrder(changes.entries),
  };
}

const PHASE_RANK: Record<string, number> = { PreSync: 0, Sync: 1, PostSync: 2, SyncFail: 3 };

/**
 * Entries as a person reads them: by phase, wave, kind order and name; what was pruned, or stays only
 * because prune is off, last. (Progress events keep their own order.)
 */
function inApplyOrder(entries: readonly SyncEntry[]): SyncEntry[] {
  const rank = (e: SyncEntry) =>
    e.action === 'pruned' || e.prunePending === true ? 4 : e.hook ? (PHASE_RANK[e.hook] ?? 1) : 1;
  return [...entries].sort(
    (a, b) =>
      rank(a) - rank(b) ||
      a.wave - b.wave ||
      kindRank(a.id.kind) - kindRank(b.id.kind) ||
      formatId(a.id).localeCompare(formatId(b.id)),
  );
}
