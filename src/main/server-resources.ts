// Wiring of the server's resource views: the ResourceReader on the Kubernetes API
// (src/adapters/kube/resource-reader.ts) over the Application's destination cluster (in-cluster, or a
// cluster registered as a Secret), and its desired state (src/server/desired-state.ts) fetched from
// Git and rendered as the agent does (same fetcher, renderers and credentials).
import { join } from 'node:path';
import { GitSourceFetcher } from '../adapters/git/git-source.ts';
import { ChartRepository } from '../adapters/render/chart-repository.ts';
import {
  ChartSourceFetcher,
  recordedChartRevision,
  withChartSources,
} from '../adapters/render/chart-source.ts';
import { credentialsFrom } from '../adapters/git/secret-credentials.ts';
import { ConfigMapInventoryStore } from '../adapters/kube/inventory-store.ts';
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { KubeResourceReader } from '../adapters/kube/resource-reader.ts';
import type { RestClient } from '../adapters/kube/rest-client.ts';
import { KubeWatcher } from '../adapters/kube/watch.ts';
import { ManifestRenderer } from '../adapters/render/renderer.ts';
import { cacheRoot, toolPaths } from '../adapters/render/tools.ts';
import { IN_CLUSTER } from '../contracts/application.ts';
import { CapabilitiesCache } from '../controller/capabilities-cache.ts';
import { ClusterRegistry } from '../controller/cluster-registry.ts';
import type { ResourceReader } from '../ports/resource-reader.ts';
import { renderDesired } from '../server/desired-state.ts';
import { buildDestination } from './clusters.ts';

export interface ServerResourceReaderOptions {
  /** The cluster the server runs in (in-cluster destination, cluster Secrets, source Secrets). */
  readonly cluster: KubeCluster;
  readonly watchClient: RestClient;
  /** Where the cluster Secrets are (the server's namespace, the agent's). */
  readonly namespace: string;
  /**
   * Where the in-cluster agent keeps its inventories (its `--inventory-namespace`: the install sets it
   * to the agent's namespace). Registered clusters say theirs in their Secret.
   */
  readonly inventoryNamespace: string;
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
      inventory: new ConfigMapInventoryStore(cluster, options.inventoryNamespace),
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
  const capabilities = new CapabilitiesCache();
  const reader = new KubeResourceReader({
    destination: async (name) => (await clusters.resolve(name)).cluster,
    inventories: async (name) => (await clusters.resolve(name)).inventory,
    desired: (app, revision) =>
      renderDesired(app, revision, {
        fetcher: sources,
        renderer,
        credentials: (namespace, name) => credentialsFrom(cluster, namespace, name),
        recorded: recordedChartRevision,
        capabilities: async (name) => capabilities.get(name, (await clusters.resolve(name)).cluster),
      }),
  });
  return {
    reader,
    fetcher,
    version: (name) => reader.version(name),
    close: () => {
      clusters.close();
    },
  };
}
