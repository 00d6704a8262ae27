// Wiring of the server's resource views: live objects and their Events from the Application's
// destination cluster (in-cluster, or a cluster registered as a Secret), and its desired state
// fetched from Git and rendered as the agent does (same fetcher, renderers and credentials).
import { join } from 'node:path';
import { GitSourceFetcher } from '../adapters/git/git-source.ts';
import { ChartRepository } from '../adapters/render/chart-repository.ts';
import {
  ChartSourceFetcher,
  recordedChartRevision,
  withChartSources,
} from '../adapters/render/chart-source.ts';
import { ManifestRenderer } from '../adapters/render/renderer.ts';
import { ConfigMapInventoryStore } from '../adapters/kube/inventory-store.ts';
import { apiError } from '../adapters/kube/errors.ts';
import { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { KubeWatcher } from '../adapters/kube/watch.ts';
import type { RestClient } from '../adapters/kube/rest-client.ts';
import { CapstanError } from '../core/errors.ts';
import { formatId, type KubeObject, type ResourceId } from '../core/resource.ts';
import { IN_CLUSTER, resolveSpec, type Application } from '../contracts/application.ts';
import type { EventInfo } from '../contracts/server-api.ts';
import type { FetchOptions, SourceFetcher } from '../ports/source.ts';
import type { LogTarget } from '../server/pod-views.ts';
import type { DesiredState, LogFollow, ResourceReader } from '../server/resource-views.ts';
import { credentialsFrom } from '../adapters/git/secret-credentials.ts';
import { ClusterRegistry } from '../controller/cluster-registry.ts';
import { buildDestination } from './clusters.ts';
import { cacheRoot, toolPaths } from '../adapters/render/tools.ts';

export interface ServerResourceReaderOptions {
  /** The cluster the server runs in (in-cluster destination, cluster Secrets, source Secrets). */
  readonly cluster: KubeCluster;
  readonly watchClient: RestClient;
  /** Where the cluster Secrets are (the server's namespace, the agent's). */
  readonly namespace: string;
  /** Repository hosts the server may fetch from (as the agent's --allow-repository-host). */
  readonly repositoryHosts: readonly string[];
  /** The git cache. Default: the project's cache folder. */
  readonly cacheDir?: string;
}

/** The reader, and what to close when the server stops. */
export function serverResourceReader(options: ServerResourceReaderOptions): {
  reader: ResourceReader;
  /** The git adapter it renders with: also the repository connection test's. */
  fetcher: GitSourceFetcher;
  /** The Kubernetes version of a destination cluster (GET /version), with its registered credentials. */
  version: (cluster: string) => Promise<string>;
  close: () => void;
} {
  const { cluster } = options;
  const clusters = new ClusterRegistry({
    cluster,
    namespace: options.namespace,
    inCluster: {
      name: IN_CLUSTER,
      cluster,
      inventory: new ConfigMapInventoryStore(cluster),
      watcher: new KubeWatcher(options.watchClient),
    },
    build: buildDestination,
  });
  const fetcher = new GitSourceFetcher({
    cacheDir: join(options.cacheDir ?? cacheRoot(), 'git'),
    hosts: { allow: options.repositoryHosts },
  });
  // Charts of Helm repositories (spec.source.chart) from the same allowed hosts.
  const sources = withChartSources(
    fetcher,
    new ChartSourceFetcher({
      cacheDir: join(options.cacheDir ?? cacheRoot(), 'helm', 'sources'),
      charts: new ChartRepository({
        cacheDir: join(options.cacheDir ?? cacheRoot(), 'helm'),
        hosts: { allow: options.repositoryHosts },
      }),
    }),
  );
  const tools = toolPaths(() => {});
  const renderer = new ManifestRenderer({
    kustomizeBinary: tools.kustomize,
    helmBinary: tools.helm,
    jsonnetBinary: tools.jsonnet,
  });
  const destination = async (app: Application) =>
    (await clusters.resolve(resolveSpec(app).destination.cluster)).cluster;
  const kubeCluster = async (name: string, what: string) => {
    const target = (await clusters.resolve(name)).cluster;
    if (!(target instanceof KubeCluster))
      throw new CapstanError('KUBE_TYPE_MISSING', `the destination does not serve ${what}`);
    return target;
  };
  const kubeDestination = (app: Application, what: string) =>
    kubeCluster(resolveSpec(app).destination.cluster, what);
  const reader: ResourceReader = {
    live: async (app, id) => {
      const target = await destination(app);
      const type = await target.preferredType(id.group, id.kind);
      if (!type) return undefined;
      return target.get(type, type.namespaced ? id.namespace : '', id.name);
    },
    desired: (app, revision) => renderDesired(app, revision, { cluster, fetcher: sources, renderer }),
    events: async (app, id) => resourceEvents(await kubeDestination(app, 'Events'), id),
    list: async (app, kind, namespace) => {
      const target = await destination(app);
      const type = await target.preferredType(kind.group, kind.kind);
      return type ? target.list(type, namespace) : [];
    },
    logs: async (app, target, follow) => containerLog(await kubeDestination(app, 'logs'), target, follow),
  };
  return {
    reader,
    fetcher,
    version: async (name) => kubernetesVersion(await kubeCluster(name, 'a version')),
    close: () => {
      clusters.close();
    },
  };
}

/** Fetches the commit (the target resolved now when no revision is given) and renders it as the agent does. */
async function renderDesired(
  app: Application,
  revision: string | undefined,
  deps: { cluster: KubeCluster; fetcher: SourceFetcher; renderer: ManifestRenderer },
): Promise<DesiredState> {
  const spec = resolveSpec(app);
  const namespace = app.metadata.namespace ?? 'default';
  const { chart } = spec.source;
  const source = {
    repoURL: spec.source.repoURL,
    targetRevision: revision ?? spec.source.targetRevision,
    ...(chart === undefined ? {} : { chart }),
  };
  const credentials = spec.source.secretRef
    ? await credentialsFrom(deps.cluster, namespace, spec.source.secretRef.name)
    : undefined;
  const fetch: FetchOptions = {
    allowInsecureHttp: spec.source.insecureHttp,
    ...(credentials ? { credentials } : {}),
  };
  // A chart's recorded revision (a history entry's) is checked out as it is: it names version and digest.
  const recorded =
    chart === undefined || revision === undefined ? undefined : recordedChartRevision(revision);
  const resolved = recorded ?? (await deps.fetcher.resolve(source, fetch));
  const tree = await deps.fetcher.checkout(source, resolved, fetch);
  const result = await deps.renderer.render({
    root: tree.dir,
    path: spec.source.path,
    ...(spec.source.type ? { type: spec.source.type } : {}),
    ...(spec.source.directory ? { directory: spec.source.directory } : {}),
    ...(spec.source.helm
      ? {
          helm: {
            releaseName: app.metadata.name,
            namespace: spec.destination.namespace,
            ...spec.source.helm,
          },
        }
      : {}),
  });
  return { revision: resolved.sha, objects: result.objects.map((o) => o.object) };
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

/** Events whose involvedObject is the resource, oldest first. */
async function resourceEvents(cluster: KubeCluster, id: ResourceId): Promise<EventInfo[]> {
  const selector = [
    `involvedObject.kind=${id.kind}`,
    `involvedObject.name=${id.name}`,
    ...(id.namespace ? [`involvedObject.namespace=${id.namespace}`] : []),
  ].join(',');
  const scope = id.namespace ? `/namespaces/${encodeURIComponent(id.namespace)}` : '';
  const path = `/api/v1${scope}/events?fieldSelector=${encodeURIComponent(selector)}`;
  const subject = `events of ${formatId(id)}`;
  const res = await cluster.client.call('GET', path, { subject });
  if (res.status !== 200) throw apiError(res.status, res.body, subject, 'list');
  const items = ((res.body as { items?: KubeObject[] }).items ?? []).filter((e) => {
    const involved = (e as { involvedObject?: { apiVersion?: string } }).involvedObject;
    const group = (involved?.apiVersion ?? '').includes('/')
      ? (involved?.apiVersion ?? '').split('/')[0]
      : '';
    return group === id.group;
  });
  return items.map(eventInfo).sort((a, b) => (a.lastTime ?? '').localeCompare(b.lastTime ?? ''));
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
