/**
 * An in-memory ResourceReader for the server's route tests (no cluster, no git): live objects by
 * resource id, desired states by commit (one of them the target), Events by resource id. It counts
 * renders, so a test sees the cache work. The integration test (test/integration/server-resources.test.ts)
 * runs the real reader against a real cluster and a real git server; both pass
 * src/testing/resource-reader-contract.ts.
 */
import { CapstanError } from '../core/errors.ts';
import { idOf, keyOf, type KubeObject, type ResourceId } from '../core/resource.ts';
import type { Application } from '../contracts/application.ts';
import type { EventInfo } from '../contracts/server-api.ts';
import type { DesiredState, ResourceReader } from '../server/resource-views.ts';

export class FakeResourceReader implements ResourceReader {
  readonly #live = new Map<string, KubeObject>();
  readonly #desired = new Map<string, readonly KubeObject[]>();
  readonly #events = new Map<string, EventInfo[]>();
  #target: string | undefined;
  /** How many times a desired state was rendered. */
  renders = 0;

  /** The object as the destination cluster has it. */
  setLive(object: KubeObject): void {
    this.#live.set(keyOf(idOf(object)), structuredClone(object));
  }

  /** The render of a commit; `target: true` makes it the target revision's. */
  setDesired(revision: string, objects: readonly KubeObject[], options: { target?: boolean } = {}): void {
    this.#desired.set(revision, structuredClone(objects));
    if (options.target === true) this.#target = revision;
  }

  /** An Event about the object, after the ones it has. */
  addEvent(id: ResourceId, event: EventInfo): void {
    this.#events.set(keyOf(id), [...(this.#events.get(keyOf(id)) ?? []), event]);
  }

  live(_app: Application, id: ResourceId): Promise<KubeObject | undefined> {
    const found = this.#live.get(keyOf(id));
    return Promise.resolve(found && structuredClone(found));
  }

  desired(app: Application, revision: string | undefined): Promise<DesiredState> {
    this.renders++;
    const sha = revision ?? this.#target;
    const objects = sha === undefined ? undefined : this.#desired.get(sha);
    if (sha === undefined || !objects)
      return Promise.reject(
        new CapstanError(
          'SOURCE_REF_NOT_FOUND',
          `revision ${sha ?? '(target)'} of ${app.spec.source.repoURL} was not found`,
        ),
      );
    return Promise.resolve({ revision: sha, objects: structuredClone(objects) });
  }

  events(_app: Application, id: ResourceId): Promise<readonly EventInfo[]> {
    return Promise.resolve(this.#events.get(keyOf(id)) ?? []);
  }
}
