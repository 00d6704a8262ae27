/**
 * A Watcher over objects the test holds (`put`, `remove`), for pure unit tests of what watches (the
 * agent's managed resources). It passes the Watcher contract (watch-contract.ts) as the real watch
 * (adapters/kube/watch.ts) does against an API server: the list first (ADDED each, then SYNCED), then
 * each change in order, filtered by namespace and labels; it resolves when the signal aborts.
 *
 * With `{ list: 'by-hand' }` it sends nothing by itself: the test takes each watch's handler from
 * `watches` and scripts every event, SYNCED included (to test what a handler does while still listing).
 */
import type { KubeObject } from '../core/resource.ts';
import type { ResourceType } from '../ports/cluster.ts';
import type { WatchEventType, WatchHandler, Watcher, WatchOptions } from '../ports/watch.ts';

export interface ScriptedWatch {
  readonly type: ResourceType;
  readonly namespace: string;
  readonly handler: WatchHandler;
  readonly options: WatchOptions;
}

export interface ScriptedWatcherOptions {
  /** 'by-hand': the test sends every event itself. Default 'automatic'. */
  readonly list?: 'automatic' | 'by-hand';
}

const typeKey = (type: ResourceType) => `${type.group}/${type.plural}`;
const objectKey = (object: KubeObject) => `${object.metadata.namespace ?? ''}/${object.metadata.name ?? ''}`;

/** Whether `labels` match a selector of `a=b` and `a!=b` terms, comma-separated. */
function selects(selector: string | undefined, labels: Record<string, string> | undefined): boolean {
  if (selector === undefined || selector === '') return true;
  return selector.split(',').every((term) => {
    const [key = '', value = ''] = term.split(/!?=/);
    const actual = labels?.[key.trim()];
    return term.includes('!=') ? actual !== value.trim() : actual === value.trim();
  });
}

export class ScriptedWatcher implements Watcher {
  /** Every watch started and not yet stopped, in order. */
  readonly watches: ScriptedWatch[] = [];
  readonly #byHand: boolean;
  readonly #objects = new Map<string, Map<string, KubeObject>>();
  #version = 0;

  constructor(options: ScriptedWatcherOptions = {}) {
    this.#byHand = options.list === 'by-hand';
  }

  watch(type: ResourceType, namespace: string, handler: WatchHandler, options: WatchOptions): Promise<void> {
    const watch = { type, namespace, handler, options };
    if (options.signal.aborted) return Promise.resolve();
    this.watches.push(watch);
    if (!this.#byHand) {
      for (const object of this.#stored(type).values())
        if (this.#matches(watch, object)) handler({ type: 'ADDED', object });
      const list = { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: String(this.#version) } };
      handler({ type: 'SYNCED', object: list });
    }
    return new Promise((resolve) => {
      options.signal.addEventListener('abort', () => {
        this.watches.splice(this.watches.indexOf(watch), 1);
        resolve();
      });
    });
  }

  /** Creates or changes an object of `type`: ADDED or MODIFIED to each watch that selects it. */
  put(type: ResourceType, object: KubeObject): KubeObject {
    const stored = this.#stored(type);
    const key = objectKey(object);
    const kind: WatchEventType = stored.has(key) ? 'MODIFIED' : 'ADDED';
    this.#version += 1;
    const versioned = { ...object, metadata: { ...object.metadata, resourceVersion: String(this.#version) } };
    stored.set(key, versioned);
    this.#send(type, kind, versioned);
    return versioned;
  }

  /** Deletes an object of `type`: DELETED, with its last state, to each watch that selects it. */
  remove(type: ResourceType, namespace: string, name: string): void {
    const stored = this.#stored(type);
    const last = stored.get(`${namespace}/${name}`);
    if (last === undefined) return;
    stored.delete(`${namespace}/${name}`);
    this.#version += 1;
    this.#send(type, 'DELETED', last);
  }

  #send(type: ResourceType, kind: WatchEventType, object: KubeObject): void {
    if (this.#byHand) return;
    for (const watch of [...this.watches])
      if (typeKey(watch.type) === typeKey(type) && this.#matches(watch, object))
        watch.handler({ type: kind, object });
  }

  #matches(watch: ScriptedWatch, object: KubeObject): boolean {
    if (watch.namespace !== '' && (object.metadata.namespace ?? '') !== watch.namespace) return false;
    return selects(watch.options.labelSelector, object.metadata.labels);
  }

  #stored(type: ResourceType): Map<string, KubeObject> {
    const key = typeKey(type);
    let stored = this.#objects.get(key);
    if (stored === undefined) {
      stored = new Map();
      this.#objects.set(key, stored);
    }
    return stored;
  }
}
