import { setTimeout as delay } from 'node:timers/promises';
import { CapstanError, messageOf } from '../../core/errors.ts';
import { withoutManagedFields, type KubeObject } from '../../core/resource.ts';
import type { ResourceType } from '../../ports/cluster.ts';
import type { WatchHandler, WatchOptions, Watcher, WatchEventType } from '../../ports/watch.ts';
import { apiError, type ApiStatus } from './errors.ts';
import type { RestClient } from './rest-client.ts';

export interface KubeWatcherOptions {
  /** First pause before trying again after a failure; doubles on each failure in a row. Default 500 ms. */
  readonly initialBackoffMs?: number;
  /** Longest pause between tries. Default 30 s. */
  readonly maxBackoffMs?: number;
  /**
   * The server ends each watch request after a random time between this and twice this (as client-go
   * does), and the watch carries on with a new request from where it was. Default 300 s.
   */
  readonly watchTimeoutSeconds?: number;
  /** Objects per page when listing. Default 500. */
  readonly pageSize?: number;
}

export const DEFAULT_WATCH = {
  initialBackoffMs: 500,
  maxBackoffMs: 30_000,
  watchTimeoutSeconds: 300,
  pageSize: 500,
} as const;

interface RawWatchEvent {
  type?: string;
  object?: KubeObject;
}

/** What ended one watch request. */
type WatchEnd = 'ended' | 'expired';

/** One watch's state: what the handler knows of, and where the watch resumes. */
interface Reflection {
  readonly type: ResourceType;
  readonly collection: string;
  readonly labelSelector: string | undefined;
  readonly handler: WatchHandler;
  readonly options: WatchOptions;
  /**
   * Last known state of each object, by namespace/name, without its managedFields: for DELETED events
   * after a re-list. managedFields are often as large as the rest of an object and no handler of a
   * deletion reads them; kept, they were a second copy beside every cache that slims its own (an agent
   * watching 100 000 managed objects holds each here and in its managed-resource cache).
   */
  readonly known: Map<string, KubeObject>;
  /** Where the next watch request starts; undefined: list first. */
  resourceVersion: string | undefined;
}

/**
 * The Watcher port over the Kubernetes API: a reflector. It lists (in pages), emits ADDED for each object
 * and SYNCED, then watches from the list's resourceVersion with bookmarks, so that a reconnect resumes
 * where it was. It reconnects with exponential backoff after a lost connection (an API server restart),
 * and re-lists when the server says the resourceVersion is too old (410 Gone), emitting then only what
 * changed in between (ADDED, MODIFIED, DELETED) and SYNCED. It keeps the last state of every watched
 * object in memory, as an informer's cache does.
 */
export class KubeWatcher implements Watcher {
  readonly #client: RestClient;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #watchTimeoutSeconds: number;
  readonly #pageSize: number;

  constructor(client: RestClient, options: KubeWatcherOptions = {}) {
    this.#client = client;
    this.#initialBackoffMs = options.initialBackoffMs ?? DEFAULT_WATCH.initialBackoffMs;
    this.#maxBackoffMs = options.maxBackoffMs ?? DEFAULT_WATCH.maxBackoffMs;
    this.#watchTimeoutSeconds = options.watchTimeoutSeconds ?? DEFAULT_WATCH.watchTimeoutSeconds;
    this.#pageSize = options.pageSize ?? DEFAULT_WATCH.pageSize;
  }

  async watch(
    type: ResourceType,
    namespace: string,
    handler: WatchHandler,
    options: WatchOptions,
  ): Promise<void> {
    const reflection: Reflection = {
      type,
      collection: collectionPath(type, namespace),
      labelSelector: options.labelSelector,
      handler,
      options,
      known: new Map(),
      resourceVersion: undefined,
    };
    const signal = options.signal;
    const stopped = () => signal.aborted;
    let backoffMs = this.#initialBackoffMs;
    while (!signal.aborted) {
      try {
        // List when there is nothing to resume from.
        if (reflection.resourceVersion === undefined) await this.#list(reflection);
        // Watch from there until the request ends, the resourceVersion expires, or the connection fails.
        const { end, connected } = await this.#watchOnce(reflection);
        if (end === 'expired') reflection.resourceVersion = undefined;
        if (connected) {
          backoffMs = this.#initialBackoffMs;
        } else {
          // Ended at once without an event: do not hammer the server.
          await this.#pause(backoffMs, signal);
          backoffMs = Math.min(this.#maxBackoffMs, backoffMs * 2);
        }
      } catch (error) {
        if (stopped()) break;
        options.onError?.(asCapstanError(error, `watch ${reflection.collection}`));
        await this.#pause(backoffMs, signal);
        backoffMs = Math.min(this.#maxBackoffMs, backoffMs * 2);
      }
    }
  }

  /** Lists every object (in pages), tells the handler what changed since it last knew, then SYNCED. */
  async #list(reflection: Reflection): Promise<void> {
    const { type, collection } = reflection;
    const subject = `list ${type.plural}`;
    const items: KubeObject[] = [];
    let resourceVersion = '';
    let cont: string | undefined;
    do {
      const query = new URLSearchParams({ limit: String(this.#pageSize) });
      if (reflection.labelSelector) query.set('labelSelector', reflection.labelSelector);
      if (cont) query.set('continue', cont);
      const res = await this.#client.call('GET', `${collection}?${query.toString()}`, { subject });
      if (res.status === 410 && cont !== undefined) {
        // The continue token expired between pages: start the list again.
        items.length = 0;
        cont = undefined;
        continue;
      }
      if (res.status !== 200) throw apiError(res.status, res.body, subject, 'list');
      const page = res.body as {
        metadata?: { resourceVersion?: string; continue?: string };
        items?: KubeObject[];
      };
      for (const item of page.items ?? [])
        items.push({ ...item, apiVersion: apiVersionOf(type), kind: type.kind });
      resourceVersion = page.metadata?.resourceVersion ?? '';
      cont = page.metadata?.continue || undefined;
    } while (cont !== undefined && !reflection.options.signal.aborted);
    if (reflection.options.signal.aborted) return;

    const seen = new Set<string>();
    for (const object of items) {
      const key = keyOf(object);
      seen.add(key);
      const before = reflection.known.get(key);
      reflection.known.set(key, withoutManagedFields(object));
      if (!before) this.#emit(reflection, 'ADDED', object);
      else if (before.metadata.resourceVersion !== object.metadata.resourceVersion) {
        this.#emit(reflection, 'MODIFIED', object);
      }
    }
    for (const [key, object] of [...reflection.known]) {
      if (seen.has(key)) continue;
      reflection.known.delete(key);
      this.#emit(reflection, 'DELETED', object);
    }
    reflection.resourceVersion = resourceVersion;
    this.#emit(reflection, 'SYNCED', {
      apiVersion: apiVersionOf(type),
      kind: `${type.kind}List`,
      metadata: { resourceVersion },
    });
  }

  /** One watch request from the current resourceVersion, its events passed on as they arrive. */
  async #watchOnce(reflection: Reflection): Promise<{ end: WatchEnd; connected: boolean }> {
    const { collection, options } = reflection;
    // Stopped meanwhile (e.g. from the handler of the list's events): open nothing.
    if (isAborted(options.signal)) return { end: 'ended', connected: false };
    const subject = `watch ${reflection.type.plural}`;
    const timeoutSeconds = Math.round(this.#watchTimeoutSeconds * (1 + Math.random()));
    const query = new URLSearchParams({
      watch: '1',
      allowWatchBookmarks: 'true',
      resourceVersion: reflection.resourceVersion ?? '',
      timeoutSeconds: String(timeoutSeconds),
    });
    if (reflection.labelSelector) query.set('labelSelector', reflection.labelSelector);
    // Stopped by the caller, or by us on an ERROR event.
    const stop = new AbortController();
    const onAbort = () => {
      stop.abort();
    };
    options.signal.addEventListener('abort', onAbort, { once: true });
    // Set by the event handler below: a 410 in an ERROR event, another ERROR, the events seen.
    const seen: { expired: boolean; failure: CapstanError | undefined; events: number } = {
      expired: false,
      failure: undefined,
      events: 0,
    };
    const started = Date.now();
    try {
      const res = await this.#client.stream(`${collection}?${query.toString()}`, {
        signal: stop.signal,
        subject,
        idleTimeoutMs: (timeoutSeconds + 30) * 1000,
        onLine: (line) => {
          if (stop.signal.aborted) return;
          const event = parseEvent(line, subject);
          seen.events++;
          if (event.type === 'ERROR') {
            const status = event.object as unknown as ApiStatus;
            if (status.code === 410) seen.expired = true;
            else seen.failure = apiError(status.code ?? 500, status, subject, 'watch');
            stop.abort();
            return;
          }
          this.#apply(reflection, event);
        },
      });
      if (res.status === 410) return { end: 'expired', connected: true };
      if (res.status !== 200 && !options.signal.aborted)
        throw apiError(res.status, res.body, subject, 'watch');
      if (seen.failure) throw seen.failure;
      // A request that ended at once without a single event does not count as a good connection.
      const connected = seen.expired || seen.events > 0 || Date.now() - started >= 1_000;
      return { end: seen.expired ? 'expired' : 'ended', connected };
    } finally {
      options.signal.removeEventListener('abort', onAbort);
    }
  }

  /** Passes one watch event on and remembers where it leaves the watch. */
  #apply(reflection: Reflection, event: RawWatchEvent): void {
    const object = event.object;
    if (!object) return;
    const resourceVersion = object.metadata.resourceVersion;
    if (resourceVersion) reflection.resourceVersion = resourceVersion;
    const key = keyOf(object);
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
        reflection.known.set(key, withoutManagedFields(object));
        this.#emit(reflection, event.type, object);
        return;
      case 'DELETED':
        reflection.known.delete(key);
        this.#emit(reflection, 'DELETED', object);
        return;
      default:
        // BOOKMARK: only the resourceVersion, already taken above.
        return;
    }
  }

  #emit(reflection: Reflection, type: WatchEventType, object: KubeObject): void {
    try {
      reflection.handler({ type, object });
    } catch (error) {
      reflection.options.onError?.(
        new CapstanError(
          'WATCH_HANDLER_FAILED',
          `a watch handler for ${reflection.type.plural} threw: ${messageOf(error)}`,
          {
            cause: error,
          },
        ),
      );
    }
  }

  async #pause(baseMs: number, signal: AbortSignal): Promise<void> {
    const ms = baseMs * (1 + Math.random() * 0.2);
    try {
      await delay(ms, undefined, { signal });
    } catch {
      /* aborted: the loop checks the signal */
    }
  }
}

function apiVersionOf(type: ResourceType): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

/** `/api/v1/namespaces/ns/configmaps`, or every namespace when `namespace` is '' or the type is cluster-scoped. */
function collectionPath(type: ResourceType, namespace: string): string {
  const base = type.group === '' ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  const ns = type.namespaced && namespace !== '' ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${type.plural}`;
}

function keyOf(object: KubeObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name ?? ''}`;
}

function parseEvent(line: string, subject: string): RawWatchEvent {
  try {
    return JSON.parse(line) as RawWatchEvent;
  } catch (error) {
    throw new CapstanError(
      'KUBE_BAD_RESPONSE',
      `${subject}: a watch event is not JSON: ${line.slice(0, 200)}`,
      {
        subject,
        retryable: true,
        cause: error,
      },
    );
  }
}

function asCapstanError(error: unknown, subject: string): CapstanError {
  if (error instanceof CapstanError) return error;
  return new CapstanError('KUBE_UNAVAILABLE', `${subject}: ${messageOf(error)}`, {
    subject,
    retryable: true,
    cause: error,
  });
}

/** Read through a function: the signal changes under us, and TypeScript would otherwise narrow it once. */
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}
