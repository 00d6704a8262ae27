// The server's clusters route: the registrations in the agent's namespace (never a credential), the
// agent's own cluster first, each usable one probed for its version and connection (kept a minute).
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { IN_CLUSTER } from '../contracts/application.ts';
import type { ClusterInfo } from '../contracts/server-api.ts';
import { CLUSTER_SECRET_SELECTOR } from '../core/cluster-secret.ts';
import type { ResourceType } from '../ports/cluster.ts';
import { ClusterProbes } from '../server/cluster-probes.ts';
import { summaryOf } from '../adapters/kube/cluster-client.ts';

async function listClusters(
  cluster: KubeCluster,
  secrets: ResourceType,
  namespace: string,
): Promise<ClusterInfo[]> {
  const found = await cluster.list(secrets, namespace, { labelSelector: CLUSTER_SECRET_SELECTOR });
  return found
    .map(summaryOf)
    .map((c) => ({
      name: c.name,
      ...(c.server === undefined ? {} : { server: c.server }),
      secret: c.secret,
      ...(c.error === undefined ? {} : { problem: c.error }),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The clusters route's source: the registrations, each usable one probed (its version, kept a minute). */
export function clusterLister(
  cluster: KubeCluster,
  secrets: ResourceType,
  namespace: string,
  version: (name: string) => Promise<string>,
): () => Promise<ClusterInfo[]> {
  const probes = new ClusterProbes({ version });
  return () => clustersWithState(listClusters(cluster, secrets, namespace), probes);
}

/** The agent's own cluster first, then the registered ones; each usable one with its version and connection. */
async function clustersWithState(
  registered: Promise<ClusterInfo[]>,
  probes: ClusterProbes,
): Promise<ClusterInfo[]> {
  const all = [{ name: IN_CLUSTER }, ...(await registered)];
  probes.keepOnly(all.map((c) => c.name));
  return Promise.all(
    all.map(async (c) => ('problem' in c ? c : { ...c, ...(await probes.connection(c.name)) })),
  );
}
