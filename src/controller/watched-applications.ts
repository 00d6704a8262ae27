import type { KubeObject } from '../core/resource.ts';
import type { ApplicationStore } from '../ports/applications.ts';
import type { WatchEvent } from '../ports/watch.ts';

/**
 * The agent's reads of Applications, served from its own watch of them when that is surely current,
 * so that a reconcile that finds nothing to do costs no request (1000 applications on a 60 s
 * interval would otherwise GET 1000 objects a minute).
 *
 * "Surely current": the object the watch delivered has the resourceVersion that the API server itself
 * last returned to a read of it. Any write made through this store forgets that confirmation, so the
 * next read after the agent's own write (a status patch, a finalizer) goes to the API server until the
 * watch has caught up; a change by anyone else arrives with another resourceVersion, so it is read
 * too. A read that overlapped a write of the same object confirms nothing. Between a change and its
 * watch event the agent may act on the object as the watch last showed it, as any informer-based
 * controller does; that event then queues the application again.
 */
export class WatchedApplications implements ApplicationStore {
  readonly #inner: ApplicationStore;
  /** The objects as the watch last delivered them, by `namespace/name`. */
  readonly #watched = new Map<string, KubeObject>();
  /** The resourceVersion the API server returned to the last read, by key; gone after a write. */
  readonly #confirmed = new Map<string, string>();
  /** Writes started, by key: a read that saw a write start meanwhile confirms nothing. */
  readonly #writes = new Map<string, number>();
  readonly #onRead: ((source: 'watch' | 'api') => void) | undefined;

  /** `onRead` is told where each read was served from (for capstan_application_reads_total). */
  constructor(inner: ApplicationStore, onRead?: (source: 'watch' | 'api') => void) {
    this.#inner = inner;
    this.#onRead = onRead;
  }

  /** Feeds one event of the watch of Applications. */
  observe(event: WatchEvent): void {
    if (event.type === 'SYNCED') return;
    const key = keyOf(event.object.metadata.namespace, event.object.metadata.name);
    if (event.type === 'DELETED') this.#watched.delete(key);
    else this.#watched.set(key, event.object);
  }

  /** Forgets everything: the watch stopped (leadership lost), and a new one starts from a fresh list. */
  reset(): void {
    this.#watched.clear();
    this.#confirmed.clear();
  }

  async get(namespace: string, name: string): Promise<KubeObject | undefined> {
    const key = keyOf(namespace, name);
    const watched = this.#watched.get(key);
    const version = watched?.metadata.resourceVersion;
    if (watched && version !== undefined && this.#confirmed.get(key) === version) {
      this.#onRead?.('watch');
      return structuredClone(watched);
    }
    this.#onRead?.('api');
    const writes = this.#writes.get(key) ?? 0;
    const live = await this.#inner.get(namespace, name);
    const confirmed = live?.metadata.resourceVersion;
    if (confirmed !== undefined && (this.#writes.get(key) ?? 0) === writes)
      this.#confirmed.set(key, confirmed);
    else this.#confirmed.delete(key);
    return live;
  }

  list(options?: { labelSelector?: string }): Promise<KubeObject[]> {
    return this.#inner.list(options);
  }

  async patchStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    this.#written(namespace, name);
    await this.#inner.patchStatus(namespace, name, status);
  }

  async setFinalizers(
    namespace: string,
    name: string,
    finalizers: readonly string[],
    resourceVersion: string,
  ): Promise<void> {
    this.#written(namespace, name);
    await this.#inner.setFinalizers(namespace, name, finalizers, resourceVersion);
  }

  async annotate(namespace: string, name: string, key: string, value: string): Promise<void> {
    this.#written(namespace, name);
    await this.#inner.annotate(namespace, name, key, value);
  }

  event(
    application: KubeObject,
    event: { type: 'Normal' | 'Warning'; reason: string; message: string },
  ): Promise<void> {
    return this.#inner.event(application, event);
  }

  #written(namespace: string, name: string): void {
    const key = keyOf(namespace, name);
    this.#confirmed.delete(key);
    this.#writes.set(key, (this.#writes.get(key) ?? 0) + 1);
  }
}

function keyOf(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? 'default'}/${name ?? ''}`;
}
