/**
 * The server's watch cache of Applications: fed by a watch (the Watcher port), it answers every read
 * of the API (list with filters, search and pages; get) without a request to the API server, and keeps
 * the recent changes for the event stream, numbered, so a client that reconnects resumes where it was.
 */
import { randomBytes } from 'node:crypto';
import { normalizeRepoUrl } from '../core/repo-url.ts';
import type { KubeObject } from '../core/resource.ts';
import type { Application } from '../contracts/application.ts';
import { APPLICATION_DEFAULTS } from '../contracts/application.ts';
import type { WatchEvent } from '../ports/watch.ts';
import { DEFAULT_PROJECT } from './access.ts';
import { matchesLabels, type LabelRequirement } from './label-selector.ts';

/** Changes kept for resuming streams. */
export const DEFAULT_CHANGE_BUFFER = 10_000;

/** One row of a list: what a table of Applications shows, without the whole object. */
export interface ApplicationSummary {
  readonly namespace: string;
  readonly name: string;
  readonly project: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly repoURL: string;
  readonly path: string;
  readonly targetRevision: string;
  readonly cluster: string;
  readonly destinationNamespace: string;
  readonly sync: string;
  readonly health: string;
  readonly revision?: string;
  readonly operation?: { readonly type: string; readonly phase: string };
  readonly ready?: { readonly status: string; readonly reason: string; readonly message: string };
  readonly held: boolean;
  readonly suspended: boolean;
  readonly resourceVersion: string;
  readonly createdAt?: string;
}

export interface ApplicationFilter {
  /** Only these projects (`all`: no bound); the caller passes what the principal may read. */
  readonly visible: 'all' | ReadonlySet<string>;
  readonly project?: string;
  readonly namespace?: string;
  readonly cluster?: string;
  /** Compared in normal form (src/core/repo-url.ts): any URL form of the repository matches. */
  readonly repository?: string;
  readonly sync?: string;
  readonly health?: string;
  readonly labels?: readonly LabelRequirement[];
  /** Case-insensitive text in name, namespace, project, repository or path. */
  readonly search?: string;
}

export interface Page {
  readonly items: readonly Application[];
  /** Items matching the filter, over every page. */
  readonly total: number;
  /** The key of the last item, when more follow. */
  readonly nextKey?: readonly [string, string];
}

export type ChangeType = 'added' | 'modified' | 'deleted';

export interface ApplicationChange {
  /** `<epoch>-<seq>`: the epoch changes when the server restarts, so a stale id is never mistaken. */
  readonly id: string;
  readonly seq: number;
  readonly kind: 'application';
  readonly type: ChangeType;
  readonly application: ApplicationSummary;
}

/**
 * A change of another kind the event stream carries, numbered in the same sequence (docs/promotions.md):
 * an Environment (`data` is what GET /environments shows of it) or a promotion (`data` is its record).
 */
export interface OtherChange {
  readonly id: string;
  readonly seq: number;
  readonly kind: 'environment' | 'promotion';
  readonly type: ChangeType;
  /** Whose roles decide who sees it. */
  readonly project: string;
  readonly data: unknown;
}

export type Change = ApplicationChange | OtherChange;

/** The project an Application belongs to: `spec.project`, else `default`. */
export function projectOf(application: KubeObject): string {
  const project = (application['spec'] as { project?: unknown } | undefined)?.project;
  return typeof project === 'string' && project !== '' ? project : DEFAULT_PROJECT;
}

export function summaryOf(app: Application): ApplicationSummary {
  const status = app.status;
  const ready = status?.conditions?.find((c) => c.type === 'Ready');
  const namespace = app.metadata.namespace ?? '';
  return {
    namespace,
    name: app.metadata.name,
    project: projectOf(app),
    labels: app.metadata.labels ?? {},
    repoURL: app.spec.source.repoURL,
    path: app.spec.source.path ?? APPLICATION_DEFAULTS.path,
    targetRevision: app.spec.source.targetRevision ?? APPLICATION_DEFAULTS.targetRevision,
    cluster: app.spec.destination?.cluster ?? APPLICATION_DEFAULTS.cluster,
    destinationNamespace: app.spec.destination?.namespace ?? namespace,
    sync: status?.sync?.status ?? 'Unknown',
    health: status?.health?.status ?? 'Unknown',
    ...(status?.sync?.revision === undefined ? {} : { revision: status.sync.revision }),
    ...(status?.operation === undefined
      ? {}
      : { operation: { type: status.operation.type, phase: status.operation.phase } }),
    ...(ready === undefined
      ? {}
      : { ready: { status: ready.status, reason: ready.reason, message: ready.message } }),
    held: status?.hold !== undefined,
    suspended: app.spec.suspend === true,
    resourceVersion: app.metadata.resourceVersion ?? '',
    ...(app.metadata.creationTimestamp === undefined ? {} : { createdAt: app.metadata.creationTimestamp }),
  };
}

interface Entry {
  readonly app: Application;
  readonly summary: ApplicationSummary;
  /** Lower-cased text the search looks in. */
  readonly text: string;
  /** Normal form of the repository URL. */
  readonly repository: string;
}

const keyOf = (namespace: string, name: string) => `${namespace}\u0000${name}`;
const safeRepo = (url: string) => {
  try {
    return normalizeRepoUrl(url);
  } catch {
    return url.toLowerCase();
  }
};

export interface ApplicationIndexOptions {
  /** Changes kept for resuming streams. Default DEFAULT_CHANGE_BUFFER. */
  readonly changeBuffer?: number;
  /** The epoch of change ids. Default: random. */
  readonly epoch?: string;
}

export class ApplicationIndex {
  readonly epoch: string;
  readonly #entries = new Map<string, Entry>();
  readonly #changes: Change[] = [];
  readonly #changeBuffer: number;
  readonly #listeners = new Set<(change: Change) => void>();
  readonly #observers = new Set<(before: Application | undefined, after: Application | undefined) => void>();
  #sorted: string[] | undefined;
  #seq = 0;
  #synced = false;

  constructor(options: ApplicationIndexOptions = {}) {
    this.epoch = options.epoch ?? randomBytes(4).toString('hex');
    this.#changeBuffer = options.changeBuffer ?? DEFAULT_CHANGE_BUFFER;
  }

  /** Whether the first complete list has been seen (before it, reads would be partial). */
  get synced(): boolean {
    return this.#synced;
  }

  /** The number of the last change; changes with every add, update and delete. */
  get sequence(): number {
    return this.#seq;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The Watcher's handler. */
  readonly handle = (event: WatchEvent): void => {
    if (event.type === 'SYNCED') {
      this.#synced = true;
      return;
    }
    const app = event.object as Application;
    const key = keyOf(app.metadata.namespace ?? '', app.metadata.name);
    const before = this.#entries.get(key);
    if (event.type === 'DELETED') {
      if (!before) return;
      this.#entries.delete(key);
      this.#sorted = undefined;
      this.#record('deleted', before.summary);
      this.#observe(before.app, undefined);
      return;
    }
    if (before && before.app.metadata.resourceVersion === app.metadata.resourceVersion) return;
    const summary = summaryOf(app);
    this.#entries.set(key, {
      app,
      summary,
      repository: safeRepo(summary.repoURL),
      text: [summary.name, summary.namespace, summary.project, summary.repoURL, summary.path]
        .join('\n')
        .toLowerCase(),
    });
    if (!before) this.#sorted = undefined;
    this.#record(before ? 'modified' : 'added', summary);
    this.#observe(before?.app, app);
  };

  /** Calls `observer` with the object before and after every change from now on (for the agent's audit). */
  observe(observer: (before: Application | undefined, after: Application | undefined) => void): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  #observe(before: Application | undefined, after: Application | undefined): void {
    for (const observer of this.#observers) observer(before, after);
  }

  /** Every Application the index holds now. */
  applications(): Application[] {
    return [...this.#entries.values()].map((entry) => entry.app);
  }

  get(namespace: string, name: string): Application | undefined {
    return this.#entries.get(keyOf(namespace, name))?.app;
  }

  /** Items after `after` (namespace, name) in order, matching `filter`, at most `limit`. */
  page(filter: ApplicationFilter, options: { after?: readonly string[]; limit: number }): Page {
    const matching = this.#keys().filter((key) => this.#matches(this.#entries.get(key), filter));
    const start =
      options.after === undefined
        ? 0
        : firstAfter(matching, keyOf(options.after[0] ?? '', options.after[1] ?? ''));
    const slice = matching.slice(start, start + options.limit);
    const items = slice.map((key) => this.#entries.get(key)?.app).filter((a) => a !== undefined);
    const last = items.at(-1);
    const more = start + options.limit < matching.length;
    return {
      items,
      total: matching.length,
      ...(more && last ? { nextKey: [last.metadata.namespace ?? '', last.metadata.name] as const } : {}),
    };
  }

  /**
   * Changes after the one with this id, oldest first; `gone` when they are no longer all kept (or the id
   * is of another epoch): the client lists again.
   */
  changesSince(id: string): readonly Change[] | 'gone' {
    const match = /^([0-9a-f]+)-(\d+)$/.exec(id);
    if (!match || match[1] !== this.epoch) return 'gone';
    const seq = Number(match[2]);
    if (seq > this.#seq) return 'gone';
    if (seq === this.#seq) return [];
    const oldest = this.#changes[0]?.seq ?? this.#seq + 1;
    if (seq + 1 < oldest) return 'gone';
    return this.#changes.filter((c) => c.seq > seq);
  }

  /** The id a stream starts from now (the last change). */
  currentId(): string {
    return `${this.epoch}-${this.#seq}`;
  }

  /** Calls `listener` with every change from now on; returns the function that stops it. */
  subscribe(listener: (change: Change) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Records a change of another kind (an Environment, a promotion) in the sequence of the stream. */
  recordOther(change: Omit<OtherChange, 'id' | 'seq'>): void {
    this.#push((seq) => ({ ...change, id: `${this.epoch}-${String(seq)}`, seq }));
  }

  #record(type: ChangeType, application: ApplicationSummary): void {
    this.#push((seq) => ({
      id: `${this.epoch}-${String(seq)}`,
      seq,
      kind: 'application',
      type,
      application,
    }));
  }

  #push(make: (seq: number) => Change): void {
    const seq = ++this.#seq;
    const change = make(seq);
    this.#changes.push(change);
    if (this.#changes.length > this.#changeBuffer)
      this.#changes.splice(0, this.#changes.length - this.#changeBuffer);
    for (const listener of this.#listeners) listener(change);
  }

  #keys(): string[] {
    this.#sorted ??= [...this.#entries.keys()].sort();
    return this.#sorted;
  }

  #matches(entry: Entry | undefined, f: ApplicationFilter): entry is Entry {
    if (!entry) return false;
    const s = entry.summary;
    if (f.visible !== 'all' && !f.visible.has(s.project)) return false;
    if (f.project !== undefined && s.project !== f.project) return false;
    if (f.namespace !== undefined && s.namespace !== f.namespace) return false;
    if (f.cluster !== undefined && s.cluster !== f.cluster) return false;
    if (f.repository !== undefined && entry.repository !== safeRepo(f.repository)) return false;
    if (f.sync !== undefined && s.sync !== f.sync) return false;
    if (f.health !== undefined && s.health !== f.health) return false;
    if (f.labels !== undefined && !matchesLabels(s.labels, f.labels)) return false;
    if (f.search !== undefined && !entry.text.includes(f.search.toLowerCase())) return false;
    return true;
  }
}

/** The index of the first key greater than `key` in a sorted list (binary search). */
function firstAfter(sorted: readonly string[], key: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((sorted[mid] ?? '') <= key) low = mid + 1;
    else high = mid;
  }
  return low;
}
