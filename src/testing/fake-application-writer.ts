/**
 * An in-memory ApplicationWriter for the server's route tests (no sockets, no cluster): it keeps the
 * objects as the API server would (resourceVersion bumped on each change, KUBE_CONFLICT on a stale
 * one, KUBE_NOT_FOUND, deletion held by finalizers) and tells a watch handler, as a watch would.
 * The integration test (test/integration/server.test.ts) runs the real adapter against a real cluster.
 */
import { CapstanError } from '../core/errors.ts';
import type { KubeObject } from '../core/resource.ts';
import type { ApplicationWriter } from '../ports/application-writer.ts';
import type { WatchHandler } from '../ports/watch.ts';

export class FakeApplicationWriter implements ApplicationWriter {
  readonly objects = new Map<string, KubeObject>();
  readonly #handler: WatchHandler;
  #version = 1000;

  constructor(handler: WatchHandler) {
    this.#handler = handler;
  }

  /** Adds an object as if someone created it in the cluster. */
  seed(object: KubeObject): KubeObject {
    const stored = this.#stamp(structuredClone(object));
    this.objects.set(keyOf(stored), stored);
    this.#handler({ type: 'ADDED', object: stored });
    return stored;
  }

  patchMetadata(
    namespace: string,
    name: string,
    patch: {
      readonly annotations?: Readonly<Record<string, string | null>>;
      readonly finalizers?: readonly string[];
      readonly resourceVersion?: string;
    },
  ): Promise<KubeObject> {
    const live = this.objects.get(`${namespace}/${name}`);
    if (!live)
      return Promise.reject(
        new CapstanError('KUBE_NOT_FOUND', `Application/${namespace}/${name}: not found`),
      );
    if (patch.resourceVersion !== undefined && patch.resourceVersion !== live.metadata.resourceVersion)
      return Promise.reject(conflict(namespace, name));
    const next = structuredClone(live);
    if (patch.annotations) {
      const merged = { ...(next.metadata.annotations ?? {}), ...patch.annotations };
      next.metadata.annotations = Object.fromEntries(
        Object.entries(merged).filter((entry): entry is [string, string] => entry[1] !== null),
      );
    }
    if (patch.finalizers) next.metadata.finalizers = [...patch.finalizers];
    // As the API server does: an object marked for deletion goes when its last finalizer does.
    if (next.metadata.deletionTimestamp !== undefined && (next.metadata.finalizers ?? []).length === 0) {
      this.objects.delete(`${namespace}/${name}`);
      this.#handler({ type: 'DELETED', object: structuredClone(next) });
      return Promise.resolve(next);
    }
    return Promise.resolve(this.#store(next, 'MODIFIED'));
  }

  apply(object: KubeObject): Promise<{ object: KubeObject; created: boolean }> {
    const existing = this.objects.get(keyOf(object));
    const wanted = object.metadata.resourceVersion;
    if (existing && wanted !== undefined && wanted !== existing.metadata.resourceVersion)
      return Promise.reject(conflict(object.metadata.namespace ?? '', object.metadata.name ?? ''));
    const next: KubeObject = {
      ...structuredClone(object),
      metadata: {
        ...(existing?.metadata ?? { uid: `uid-${this.#version}` }),
        ...structuredClone(object.metadata),
      },
      ...(existing?.['status'] === undefined ? {} : { status: existing['status'] }),
    };
    return Promise.resolve({
      object: this.#store(next, existing ? 'MODIFIED' : 'ADDED'),
      created: !existing,
    });
  }

  delete(
    namespace: string,
    name: string,
    preconditions: { readonly uid: string; readonly resourceVersion: string },
  ): Promise<boolean> {
    const live = this.objects.get(`${namespace}/${name}`);
    if (!live) return Promise.resolve(false);
    if (
      live.metadata.uid !== preconditions.uid ||
      live.metadata.resourceVersion !== preconditions.resourceVersion
    )
      return Promise.reject(conflict(namespace, name));
    if ((live.metadata.finalizers ?? []).length > 0) {
      this.#store(
        { ...live, metadata: { ...live.metadata, deletionTimestamp: new Date(0).toISOString() } },
        'MODIFIED',
      );
      return Promise.resolve(true);
    }
    this.objects.delete(`${namespace}/${name}`);
    this.#handler({ type: 'DELETED', object: live });
    return Promise.resolve(true);
  }

  #stamp(object: KubeObject): KubeObject {
    object.metadata.resourceVersion = String(++this.#version);
    object.metadata.uid ??= `uid-${object.metadata.name ?? ''}`;
    return object;
  }

  #store(object: KubeObject, type: 'ADDED' | 'MODIFIED'): KubeObject {
    const stored = this.#stamp(object);
    this.objects.set(keyOf(stored), stored);
    this.#handler({ type, object: structuredClone(stored) });
    return structuredClone(stored);
  }
}

const keyOf = (object: KubeObject) => `${object.metadata.namespace ?? ''}/${object.metadata.name ?? ''}`;
const conflict = (namespace: string, name: string) =>
  new CapstanError('KUBE_CONFLICT', `Application/${namespace}/${name}: the object has been modified`);
