/**
 * An in-memory ResourceReader for the server's route tests (no cluster, no git): live objects by
 * resource id, desired states by commit (one of them the target), Events by resource id. It counts
 * renders, so a test sees the cache work. The integration test (test/integration/server-resources.test.ts)
 * runs the real reader against a real cluster and a real git server; both pass
 * src/testing/resource-reader-contract.ts.
 */
import { CapstanError } from '../core/errors.ts';
import { DEFAULT_INVENTORY_NAMESPACE } from '../adapters/kube/inventory-store.ts';
import { decodeInventory } from '../core/inventory.ts';
import { idOf, keyOf, parseKey, type KubeObject, type ResourceId } from '../core/resource.ts';
import { applicationOwnerName, type Application } from '../contracts/application.ts';
import type { EventInfo } from '../contracts/server-api.ts';
import type { DesiredState, LogFollow, LogTarget, ResourceReader } from '../ports/resource-reader.ts';

export class FakeResourceReader implements ResourceReader {
  readonly #live = new Map<string, KubeObject>();
  readonly #desired = new Map<string, readonly KubeObject[]>();
  readonly #events = new Map<string, EventInfo[]>();
  readonly #logs = new Map<string, string[]>();
  #target: string | undefined;
  /** How many times a desired state was rendered. */
  renders = 0;
  /** Where `inventory` finds the agent's inventory ConfigMaps among the live objects. */
  readonly inventoryNamespace: string;

  constructor(options: { readonly inventoryNamespace?: string } = {}) {
    this.inventoryNamespace = options.inventoryNamespace ?? DEFAULT_INVENTORY_NAMESPACE;
  }

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

  /** The lines a container's log has; a Pod without them answers as the kubelet refusing. */
  setLog(pod: ResourceId, container: string, lines: readonly string[]): void {
    this.#logs.set(`${keyOf(pod)}/${container}`, [...lines]);
  }

  /** The inventory ConfigMap `capstan-inventory-<owner>` among the live objects, in `inventoryNamespace`. */
  inventory(app: Application): Promise<readonly ResourceId[]> {
    const { namespace = '', name } = app.metadata;
    const where = { group: '', kind: 'ConfigMap', namespace: this.inventoryNamespace };
    const record = this.#live.get(
      keyOf({ ...where, name: `capstan-inventory-${applicationOwnerName(namespace, name)}` }),
    );
    const text = (record?.['data'] as Record<string, string> | undefined)?.['inventory'];
    if (text === undefined) return Promise.resolve([]);
    try {
      return Promise.resolve(decodeInventory(text, 'inventory').entries.map(parseKey));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  list(
    _app: Application,
    kind: { group: string; kind: string },
    namespace: string,
  ): Promise<readonly KubeObject[]> {
    const found = [...this.#live.values()].filter((object) => {
      const id = idOf(object);
      return id.group === kind.group && id.kind === kind.kind && id.namespace === namespace;
    });
    return Promise.resolve(structuredClone(found));
  }

  logs(_app: Application, target: LogTarget, follow?: LogFollow): Promise<readonly string[]> {
    const lines = this.#logs.get(`${keyOf(target.pod)}/${target.container}`);
    if (lines === undefined)
      return Promise.reject(
        new CapstanError('POD_LOGS_UNAVAILABLE', `the kubelet has no log of container ${target.container}`),
      );
    const tail = lines.slice(-target.tailLines);
    if (!follow) return Promise.resolve(tail);
    for (const line of tail) follow.onLine(line);
    return Promise.resolve([]);
  }

  events(_app: Application, id: ResourceId): Promise<readonly EventInfo[]> {
    return Promise.resolve(this.#events.get(keyOf(id)) ?? []);
  }
}
