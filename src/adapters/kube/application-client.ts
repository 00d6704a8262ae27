// Applications of one namespace through the Kubernetes API, with the user's kubeconfig (their RBAC):
// apply, get, list, requests by annotation, delete with or without the resources (conflict retries),
// and a watch of one Application. The adapter behind `capstan app`.
import type { KubeConfig } from '@kubernetes/client-node';
import { CapstanError } from '../../core/errors.ts';
import { rememberSuccess } from '../../core/remember.ts';
import { applyActionOf, type ApplyAction } from '../../core/sync-result.ts';
import type { KubeObject } from '../../core/resource.ts';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  APPLICATION_PLURAL,
  REQUEST_ANNOTATIONS,
  RESOURCES_FINALIZER,
  type Application,
  type RequestKind,
} from '../../contracts/application.ts';
import type { ResourceType } from '../../ports/cluster.ts';
import { apiError } from './errors.ts';
import { KubeCluster, loadKubeConfig } from './kube-cluster.ts';
import { RestClient } from './rest-client.ts';
import { KubeWatcher } from './watch.ts';

/** The field manager of everything `capstan app` writes: the spec it applies, annotations, finalizers. */
export const CLI_FIELD_MANAGER = 'capstan-cli';

export interface ApplicationClientOptions {
  /** Path of a kubeconfig; default: KUBECONFIG, then ~/.kube/config. */
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  /** Default: the namespace of the kubeconfig's context, else `default` (as kubectl does). */
  readonly namespace?: string | undefined;
}

/** What `apply` did, in kubectl's words. */
export type { ApplyAction };

export interface DeleteOutcome {
  /** The Application as it was when the delete was sent (finalizers already adjusted). */
  readonly application: Application;
  /** True: the finalizer is on, the agent deletes the resources first. False: they stay (orphaned). */
  readonly cascade: boolean;
}

/** The end of a watch: the value `decide` returned, or why there is none. */
export type WatchOutcome<R> =
  | { readonly done: true; readonly value: R; readonly last: Application | undefined }
  | { readonly done: false; readonly last: Application | undefined };

const MERGE_PATCH = 'application/merge-patch+json';
/** Retries of a read-modify-write that met a concurrent change (HTTP 409). */
const CONFLICT_RETRIES = 5;

/**
 * Applications of one namespace, through the Kubernetes API with the user's kubeconfig (their RBAC).
 * Requests to the agent are annotations (REQUEST_ANNOTATIONS); deletion with or without the resources
 * is RESOURCES_FINALIZER.
 */
export class ApplicationClient {
  readonly namespace: string;
  readonly cluster: KubeCluster;
  readonly #config: KubeConfig;

  constructor(options: ApplicationClientOptions = {}) {
    const config = loadKubeConfig({ kubeconfig: options.kubeconfig, context: options.context });
    this.namespace =
      options.namespace ?? config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
    this.cluster = new KubeCluster(config);
    this.#config = config;
  }

  close(): void {
    this.cluster.close();
  }

  /** The served Application type; APPLICATION_CRD_MISSING when the cluster has no Capstan CRD (asked again next time). */
  readonly resourceType: () => Promise<ResourceType> = rememberSuccess(async () => {
    const type = await this.cluster.resourceType(APPLICATION_API_VERSION, APPLICATION_KIND);
    if (type) return type;
    throw new CapstanError(
      'APPLICATION_CRD_MISSING',
      `the cluster does not serve ${APPLICATION_API_VERSION} ${APPLICATION_KIND}: install Capstan first ` +
        `(kubectl apply --server-side -f deploy/install.yaml), or check --kubeconfig and --context`,
    );
  });

  /**
   * Server-side apply of the Application's metadata and spec (field manager `capstan-cli`): creates it,
   * or updates the fields this manager set before. Applying the same object again changes nothing.
   */
  async apply(application: Application): Promise<{ application: Application; action: ApplyAction }> {
    const type = await this.resourceType();
    const namespace = application.metadata.namespace ?? this.namespace;
    const body: KubeObject = {
      apiVersion: APPLICATION_API_VERSION,
      kind: APPLICATION_KIND,
      metadata: appliedMetadata(application, namespace),
      spec: application.spec,
    };
    const before = await this.cluster.get(type, namespace, application.metadata.name);
    const { object, created } = await this.cluster.apply(type, body, { fieldManager: CLI_FIELD_MANAGER });
    const action = applyActionOf({ created, before, after: object });
    return { application: object as Application, action };
  }

  async get(name: string): Promise<Application | undefined> {
    const type = await this.resourceType();
    return (await this.cluster.get(type, this.namespace, name)) as Application | undefined;
  }

  /** The Application, or APPLICATION_NOT_FOUND naming the namespace. */
  async require(name: string): Promise<Application> {
    const found = await this.get(name);
    if (!found) throw notFound(name, this.namespace);
    return found;
  }

  /** This namespace's Applications, or every namespace's, sorted by namespace and name. */
  async list(options: { allNamespaces?: boolean } = {}): Promise<Application[]> {
    const type = await this.resourceType();
    let items: KubeObject[];
    if (options.allNamespaces === true) {
      const path = `/apis/${type.group}/${type.version}/${type.plural}`;
      const res = await this.cluster.client.call('GET', path, { subject: `list ${type.plural}` });
      if (res.status !== 200) throw apiError(res.status, res.body, `list ${type.plural}`, 'list');
      items = ((res.body as { items?: KubeObject[] }).items ?? []).map((item) => ({
        ...item,
        apiVersion: APPLICATION_API_VERSION,
        kind: APPLICATION_KIND,
      }));
    } else {
      items = await this.cluster.list(type, this.namespace);
    }
    return (items as Application[]).sort(
      (a, b) =>
        (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
        a.metadata.name.localeCompare(b.metadata.name),
    );
  }

  /**
   * Asks the agent for something: sets the request annotation of `kind` to `value` (a merge patch on
   * metadata.annotations). A value the agent has not handled yet is a new request.
   */
  async request(kind: RequestKind, name: string, value: string): Promise<Application> {
    return this.#patch(name, { metadata: { annotations: { [REQUEST_ANNOTATIONS[kind]]: value } } });
  }

  /**
   * Deletes the Application. With `cascade` it carries RESOURCES_FINALIZER (added when missing), so the
   * agent deletes every resource it owns before the object goes; without, the finalizer is removed
   * first and the resources stay. The delete is conditional on the resourceVersion the finalizers were
   * set at: if anyone (the agent adding its finalizer back) changed the object in between, it starts
   * again, so a delete without cascade never lets the agent prune. Returns undefined when there was no
   * such Application.
   */
  async delete(name: string, options: { cascade: boolean }): Promise<DeleteOutcome | undefined> {
    for (let attempt = 0; ; attempt++) {
      let live = await this.get(name);
      if (!live) return undefined;
      try {
        const finalizers = live.metadata.finalizers ?? [];
        const has = finalizers.includes(RESOURCES_FINALIZER);
        // No finalizer can be added to an object already being deleted: it goes as it is.
        const terminating = live.metadata.deletionTimestamp !== undefined;
        const wanted =
          options.cascade && !has && !terminating
            ? [...finalizers, RESOURCES_FINALIZER]
            : !options.cascade && has
              ? finalizers.filter((f) => f !== RESOURCES_FINALIZER)
              : undefined;
        // The resourceVersion makes the merge patch of the whole list safe against concurrent changes.
        if (wanted !== undefined)
          live = await this.#patch(name, {
            metadata: { resourceVersion: live.metadata.resourceVersion, finalizers: wanted },
          });
        if (!(await this.#deleteAt(live))) return undefined;
        return {
          application: live,
          cascade: (live.metadata.finalizers ?? []).includes(RESOURCES_FINALIZER),
        };
      } catch (error) {
        if ((error as CapstanError).code !== 'KUBE_CONFLICT' || attempt >= CONFLICT_RETRIES) throw error;
      }
    }
  }

  /**
   * Watches one Application until `decide` returns a value (called with the Application, or undefined
   * while it does not exist), the time runs out, or `signal` stops it. Starts with a list, so a state
   * reached before the call counts. A watch the API server refuses (RBAC, a missing CRD) fails at once;
   * lost connections are retried until the time runs out. The watch has a connection of its own, closed
   * when this returns.
   */
  async watch<R>(
    name: string,
    decide: (application: Application | undefined) => R | undefined,
    options: {
      timeoutMs: number;
      signal?: AbortSignal;
      onChange?: (application: Application | undefined) => void;
    },
  ): Promise<WatchOutcome<R>> {
    const type = await this.resourceType();
    // A client of its own, closed at the end: that ends the watch's stream at once, whatever it is doing.
    const watchClient = new RestClient(this.#config);
    const stop = new AbortController();
    let settle = () => {};
    const settled = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const onAbort = () => {
      stop.abort();
      settle();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted === true) onAbort(); // stopped while the type was looked up
    const timer = setTimeout(onAbort, options.timeoutMs);
    let current: Application | undefined;
    let listed = false;
    let result: { value: R } | undefined;
    let failure: Error | undefined;
    const evaluate = () => {
      if (result !== undefined || stop.signal.aborted) return;
      try {
        options.onChange?.(current);
        const value = decide(current);
        if (value === undefined) return;
        result = { value };
      } catch (error) {
        failure = error instanceof Error ? error : new Error(String(error));
      }
      onAbort();
    };
    const watching = new KubeWatcher(watchClient, { initialBackoffMs: 250, maxBackoffMs: 5_000 }).watch(
      type,
      this.namespace,
      (event) => {
        if (event.type === 'SYNCED') {
          listed = true;
          evaluate();
          return;
        }
        if (event.object.metadata.name !== name) return;
        current = event.type === 'DELETED' ? undefined : (event.object as Application);
        if (listed) evaluate();
      },
      {
        signal: stop.signal,
        onError: (error) => {
          if (error.retryable || stop.signal.aborted) return;
          failure = error;
          onAbort();
        },
      },
    );
    try {
      // Decided, timed out or stopped; or the watch ended by itself.
      await Promise.race([watching, settled]);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      stop.abort();
      closeWatch(watchClient);
    }
    if (failure !== undefined) throw failure;
    return result === undefined
      ? { done: false, last: current }
      : { done: true, value: result.value, last: current };
  }

  /** DELETE on the condition that the object is still at this uid and resourceVersion (else KUBE_CONFLICT). */
  async #deleteAt(live: Application): Promise<boolean> {
    const name = live.metadata.name;
    const subject = `${APPLICATION_KIND}/${this.namespace}/${name}`;
    const body = {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      propagationPolicy: 'Background',
      preconditions: { uid: live.metadata.uid, resourceVersion: live.metadata.resourceVersion },
    };
    const res = await this.cluster.client.call('DELETE', await this.#path(name), { body, subject });
    if (res.status === 404) return false;
    if (res.status !== 200 && res.status !== 202) throw apiError(res.status, res.body, subject, 'delete');
    return true;
  }

  async #path(name: string): Promise<string> {
    const type = await this.resourceType();
    return (
      `/apis/${type.group}/${type.version}/namespaces/${encodeURIComponent(this.namespace)}` +
      `/${APPLICATION_PLURAL}/${encodeURIComponent(name)}`
    );
  }

  async #patch(name: string, body: unknown): Promise<Application> {
    const subject = `${APPLICATION_KIND}/${this.namespace}/${name}`;
    const path = `${await this.#path(name)}?fieldManager=${CLI_FIELD_MANAGER}`;
    const res = await this.cluster.client.call('PATCH', path, { body, contentType: MERGE_PATCH, subject });
    if (res.status === 404) throw notFound(name, this.namespace);
    if (res.status !== 200) throw apiError(res.status, res.body, subject, 'patch');
    return res.body as Application;
  }
}

/**
 * Closes a watch's client, and again every 100 ms for 5 s: KubeWatcher can still open its next watch
 * request after an abort that came while it listed (it does not look at the signal between the list and
 * the watch), and that request would keep the process alive until the server ends it. The timer does
 * not keep the process alive by itself.
 */
function closeWatch(client: RestClient): void {
  client.close();
  let times = 0;
  const again = setInterval(() => {
    client.close();
    if (++times >= 50) clearInterval(again);
  }, 100);
  again.unref();
}

/** Only what a user sets: what the server sets (uid, resourceVersion, …) has no place in an apply. */
function appliedMetadata(application: Application, namespace: string): Application['metadata'] {
  const { labels, annotations, finalizers } = application.metadata;
  return {
    name: application.metadata.name,
    namespace,
    ...(labels === undefined ? {} : { labels }),
    ...(annotations === undefined ? {} : { annotations }),
    ...(finalizers === undefined ? {} : { finalizers }),
  };
}

function notFound(name: string, namespace: string): CapstanError {
  return new CapstanError(
    'APPLICATION_NOT_FOUND',
    `application '${name}' was not found in namespace '${namespace}' (list them with: capstan app list -n ${namespace})`,
    { subject: `${APPLICATION_KIND}/${namespace}/${name}` },
  );
}
