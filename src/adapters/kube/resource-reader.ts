/**
 * The ResourceReader port on the Kubernetes API: live objects, Events and container logs from an
 * Application's destination cluster (in-cluster, or a cluster registered as a Secret), and its desired
 * state from the function given (src/server/desired-state.ts over git and the renderers). Also the
 * Events of an Application, and a destination's Kubernetes version, for the server's other routes.
 */
import { CapstanError } from '../../core/errors.ts';
import { formatId, parseKey, type KubeObject, type ResourceId } from '../../core/resource.ts';
import {
  APPLICATION_KIND,
  applicationOwnerName,
  resolveSpec,
  type Application,
} from '../../contracts/application.ts';
import type { EventInfo } from '../../contracts/server-api.ts';
import type { Cluster } from '../../ports/cluster.ts';
import type { InventoryStore } from '../../ports/inventory.ts';
import type { LogFollow, LogTarget, ResourceReader } from '../../ports/resource-reader.ts';
import { apiError } from './errors.ts';
import { KubeCluster } from './kube-cluster.ts';

export interface KubeResourceReaderOptions {
  /** The destination cluster of this name: `in-cluster`, or a registered one (the ClusterRegistry). */
  readonly destination: (name: string) => Promise<Cluster>;
  /** The desired state of an Application at a revision (src/server/desired-state.ts). */
  readonly desired: ResourceReader['desired'];
  /** Where the agent keeps the inventories of the destination cluster of this name (the ClusterRegistry's). */
  readonly inventories: (name: string) => Promise<InventoryStore>;
}

export class KubeResourceReader implements ResourceReader {
  readonly #options: KubeResourceReaderOptions;

  constructor(options: KubeResourceReaderOptions) {
    this.#options = options;
  }

  async live(app: Application, id: ResourceId): Promise<KubeObject | undefined> {
    const target = await this.#destination(app);
    const type = await target.preferredType(id.group, id.kind);
    if (!type) return undefined;
    return target.get(type, type.namespaced ? id.namespace : '', id.name);
  }

  desired(app: Application, revision: string | undefined): ReturnType<ResourceReader['desired']> {
    return this.#options.desired(app, revision);
  }

  async events(app: Application, id: ResourceId): Promise<readonly EventInfo[]> {
    return resourceEvents(await this.#kubeDestination(app, 'Events'), id);
  }

  async list(
    app: Application,
    kind: { readonly group: string; readonly kind: string },
    namespace: string,
  ): Promise<readonly KubeObject[]> {
    const target = await this.#destination(app);
    const type = await target.preferredType(kind.group, kind.kind);
    return type ? target.list(type, namespace) : [];
  }

  async logs(app: Application, target: LogTarget, follow?: LogFollow): Promise<readonly string[]> {
    return containerLog(await this.#kubeDestination(app, 'logs'), target, follow);
  }

  async inventory(app: Application): Promise<readonly ResourceId[]> {
    const store = await this.#options.inventories(resolveSpec(app).destination.cluster);
    const { namespace = '', name } = app.metadata;
    const inventory = await store.read(applicationOwnerName(namespace, name));
    return (inventory?.entries ?? []).map(parseKey);
  }

  /** The Kubernetes version of a destination cluster (GET /version), with its registered credentials. */
  async version(cluster: string): Promise<string> {
    return kubernetesVersion(await this.#kubeCluster(cluster, 'a version'));
  }

  #destination(app: Application): Promise<Cluster> {
    return this.#options.destination(resolveSpec(app).destination.cluster);
  }

  #kubeDestination(app: Application, what: string): Promise<KubeCluster> {
    return this.#kubeCluster(resolveSpec(app).destination.cluster, what);
  }

  async #kubeCluster(name: string, what: string): Promise<KubeCluster> {
    const target = await this.#options.destination(name);
    if (!(target instanceof KubeCluster))
      throw new CapstanError('KUBE_TYPE_MISSING', `the destination does not serve ${what}`);
    return target;
  }
}

/** The gitVersion the API server reports. */
async function kubernetesVersion(cluster: KubeCluster): Promise<string> {
  const res = await cluster.client.call('GET', '/version', { subject: 'GET /version' });
  if (res.status !== 200) throw apiError(res.status, res.body, 'GET /version', 'get');
  const version = (res.body as { gitVersion?: unknown }).gitVersion;
  return typeof version === 'string' ? version : 'unknown';
}

/** A followed log stays open while lines come; silent this long, it ends (the UI resumes it). */
const LOG_IDLE_MS = 10 * 60_000;

/** The container's log from the API server (`pods/log`), line by line; a refusal is POD_LOGS_UNAVAILABLE. */
async function containerLog(cluster: KubeCluster, target: LogTarget, follow?: LogFollow): Promise<string[]> {
  const { pod } = target;
  const query = new URLSearchParams({
    container: target.container,
    tailLines: String(target.tailLines),
    ...(follow ? { follow: 'true' } : {}),
  });
  const path = `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}/log?${query.toString()}`;
  const subject = `the log of ${formatId(pod)} (container ${target.container})`;
  const lines: string[] = [];
  const res = await cluster.client.stream(path, {
    onLine: follow ? follow.onLine : (line) => lines.push(line),
    ...(follow ? { signal: follow.signal } : {}),
    idleTimeoutMs: LOG_IDLE_MS,
    subject,
  });
  if (res.status === 0 || (res.status >= 200 && res.status < 300)) return lines;
  const refused = apiError(res.status, res.body, subject, 'get');
  throw new CapstanError('POD_LOGS_UNAVAILABLE', refused.message, {
    subject: formatId(pod),
    retryable: refused.retryable,
    cause: refused,
  });
}

/** The Events matching a field selector on involvedObject, in `namespace` ('' for every namespace). */
async function listEvents(
  cluster: KubeCluster,
  namespace: string,
  selector: string,
  subject: string,
): Promise<Record<string, unknown>[]> {
  const scope = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const path = `/api/v1${scope}/events?fieldSelector=${encodeURIComponent(selector)}`;
  const res = await cluster.client.call('GET', path, { subject });
  if (res.status !== 200) throw apiError(res.status, res.body, subject, 'list');
  return (res.body as { items?: Record<string, unknown>[] }).items ?? [];
}

const oldestFirst = (events: EventInfo[]): EventInfo[] =>
  events.sort((a, b) => (a.lastTime ?? '').localeCompare(b.lastTime ?? ''));

/** Events whose involvedObject is the resource, oldest first. */
async function resourceEvents(cluster: KubeCluster, id: ResourceId): Promise<EventInfo[]> {
  const selector = [
    `involvedObject.kind=${id.kind}`,
    `involvedObject.name=${id.name}`,
    ...(id.namespace ? [`involvedObject.namespace=${id.namespace}`] : []),
  ].join(',');
  const items = (await listEvents(cluster, id.namespace, selector, `events of ${formatId(id)}`)).filter(
    (e) => {
      const involved = (e as { involvedObject?: { apiVersion?: string } }).involvedObject;
      const group = (involved?.apiVersion ?? '').includes('/')
        ? (involved?.apiVersion ?? '').split('/')[0]
        : '';
      return group === id.group;
    },
  );
  return oldestFirst(items.map(eventInfo));
}

/** Kubernetes Events about one Application, oldest first. */
export async function applicationEvents(
  cluster: KubeCluster,
  namespace: string,
  name: string,
): Promise<EventInfo[]> {
  const selector = `involvedObject.kind=${APPLICATION_KIND},involvedObject.name=${name}`;
  const subject = `events of ${APPLICATION_KIND}/${namespace}/${name}`;
  return oldestFirst((await listEvents(cluster, namespace, selector, subject)).map(eventInfo));
}

export function eventInfo(e: Record<string, unknown>): EventInfo {
  const text = (value: unknown, fallback: string) => (typeof value === 'string' ? value : fallback);
  return {
    type: text(e['type'], 'Normal'),
    reason: text(e['reason'], ''),
    message: text(e['message'], ''),
    count: typeof e['count'] === 'number' ? e['count'] : 1,
    ...(typeof e['firstTimestamp'] === 'string' ? { firstTime: e['firstTimestamp'] } : {}),
    ...(typeof e['lastTimestamp'] === 'string' ? { lastTime: e['lastTimestamp'] } : {}),
  };
}
