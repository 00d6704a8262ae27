import { deepFreeze } from '../core/freeze.ts';
import { withoutManagedFields, type KubeObject } from '../core/resource.ts';
import type { ApplicationStore } from '../ports/applications.ts';
import type { WatchEvent } from '../ports/watch.ts';

/**
 * The agent's reads of Applications, served from its own watch of them when that is surely current,
 * so that a reconcile that finds nothing to do costs no request (1000 applications on a 60 s
 * interval would otherwise GET 1000 objects a minute).
 *
 * "Surely current": the object the watch delivered has the resourceVersion that the API server itself
 * last returned for it to this store — to a read, or to a status or finalizer patch (its answer is the
 * object after the write). Any other write made through this store (an annotation) forgets that
 * confirmation; until the watch has delivered the confirmed version, reads go to the API server. A
 * change by anyone else arrives with another resourceVersion, so it is read too. A read or write that
 * overlapped another write of the same object confirms nothing. Between a change and its watch event
 * the agent may act on the object as the watch last showed it, as any informer-based controller does;
 * that event then queues the application again.
 *
 * A read served from the watch answers the watch's own object, frozen when it arrived, not a copy: a
 * poll that finds nothing changed used to clone it, a tenth of the agent's CPU in the steady state
 * (docs/benchmarks.md, tenth sitting). Nothing the agent does changes the object it read (it writes
 * through patches), and a path that tried would throw rather than change what the next poll reads.
 * Reads, from the watch or the API server, answer the object without its managedFields: nothing the
 * agent does reads them, and an Application's status entry there lists every field of its status.
 */
export class WatchedApplications implements ApplicationStore {
  readonly #inner: ApplicationStore;
  /** The objects as the watch last delivered them, by `namespace/name`. */
  readonly #watched = new Map<string, KubeObject>();
  /** The resourceVersion the API server last returned to this store, by key; gone after a write. */
  readonly #confirmed = new Map<string, string>();
  /** Writes started or finished, by key: a read or write that saw another meanwhile confirms nothing. */
  readonly #writeEvents = new Map<string, number>();
  /** Writes in flight, by key. */
  readonly #writing = new Map<string, number>();
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
    else this.#watched.set(key, deepFreeze(withoutManagedFields(event.object)));
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
      return watched;
    }
    this.#onRead?.('api');
    const events = this.#writeEvents.get(key) ?? 0;
    const live = await this.#inner.get(namespace, name);
    this.#confirm(key, live?.metadata.resourceVersion, events);
    return live && withoutManagedFields(live);
  }

  /**
   * The watch's copy, current or not (ApplicationStore.watched), for a write guarded by its version:
   * the object kept here, not a copy (read it, never change it), and not counted as a read.
   */
  watched(namespace: string, name: string): Readonly<KubeObject> | undefined {
    return this.#watched.get(keyOf(namespace, name));
  }

  list(options?: { labelSelector?: string }): Promise<KubeObject[]> {
    return this.#inner.list(options);
  }

  async patchStatus(
    namespace: string,
    name: string,
    status: Record<string, unknown>,
  ): Promise<string | undefined> {
    return this.#versionedWrite(namespace, name, () => this.#inner.patchStatus(namespace, name, status));
  }

  /**
   * A cold start adds the finalizer to every Application, then reconciles each again: confirming the
   * patch's answer lets that second look be served from the watch (one GET per application, not two).
   */
  setFinalizers(
    namespace: string,
    name: string,
    finalizers: readonly string[],
    resourceVersion: string,
  ): Promise<string | undefined> {
    return this.#versionedWrite(namespace, name, () =>
      this.#inner.setFinalizers(namespace, name, finalizers, resourceVersion),
    );
  }

  async annotate(namespace: string, name: string, key: string, value: string): Promise<void> {
    await this.#write(namespace, name, () => this.#inner.annotate(namespace, name, key, value));
  }

  event(
    application: KubeObject,
    event: { type: 'Normal' | 'Warning'; reason: string; message: string },
  ): Promise<void> {
    return this.#inner.event(application, event);
  }

  /** A write whose answer is the object after it: that version is confirmed. */
  async #versionedWrite(
    namespace: string,
    name: string,
    write: () => Promise<string | undefined>,
  ): Promise<string | undefined> {
    const key = keyOf(namespace, name);
    const events = this.#writeStarted(key);
    let version: string | undefined;
    try {
      version = await write();
      return version;
    } finally {
      this.#writeFinished(key);
      // Only this write happened meanwhile (its start and its end): its answer is the current state.
      this.#confirm(key, version, events + 1);
    }
  }

  /** A write whose answer carries no version: it only forgets the confirmation. */
  async #write(namespace: string, name: string, write: () => Promise<void>): Promise<void> {
    const key = keyOf(namespace, name);
    this.#writeStarted(key);
    try {
      await write();
    } finally {
      this.#writeFinished(key);
    }
  }

  /** Records a write's start; returns the count of write events of the key with it. */
  #writeStarted(key: string): number {
    this.#confirmed.delete(key);
    this.#writing.set(key, (this.#writing.get(key) ?? 0) + 1);
    const events = (this.#writeEvents.get(key) ?? 0) + 1;
    this.#writeEvents.set(key, events);
    return events;
  }

  #writeFinished(key: string): void {
    this.#confirmed.delete(key);
    this.#writing.set(key, (this.#writing.get(key) ?? 1) - 1);
    this.#writeEvents.set(key, (this.#writeEvents.get(key) ?? 0) + 1);
  }

  /**
   * Keeps the version the API server answered as confirmed when the key's write events are those the
   * caller expects (none but its own) and no write is in flight; forgets the confirmation otherwise.
   */
  #confirm(key: string, version: string | undefined, expectedEvents: number): void {
    if (
      version !== undefined &&
      (this.#writeEvents.get(key) ?? 0) === expectedEvents &&
      (this.#writing.get(key) ?? 0) === 0
    )
      this.#confirmed.set(key, version);
    else this.#confirmed.delete(key);
  }
}

function keyOf(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? 'default'}/${name ?? ''}`;
}
