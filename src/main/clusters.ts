// Wiring for the agent's registered destination clusters: the adapters (Kubernetes clients, an
// inventory store, a watcher) for a cluster Secret's kubeconfig, which the ClusterRegistry
// (src/controller/cluster-registry.ts) builds and rebuilds.
import { ConfigMapInventoryStore, DEFAULT_INVENTORY_NAMESPACE } from '../adapters/kube/inventory-store.ts';
import { KubeCluster, kubeConfigOf } from '../adapters/kube/kube-cluster.ts';
import { RestClient } from '../adapters/kube/rest-client.ts';
import { KubeWatcher } from '../adapters/kube/watch.ts';
import type { ClusterRegistration } from '../core/cluster-secret.ts';
import type { FlatKubeconfig } from '../core/kubeconfig.ts';
import { serviceAccountUser } from '../core/policy.ts';
import type { BuiltDestination } from '../controller/cluster-registry.ts';

/** The default build: a KubeCluster, an inventory store and a watcher over the cluster's kubeconfig. */
export function buildDestination(
  name: string,
  kubeconfig: FlatKubeconfig,
  registration: Pick<ClusterRegistration, 'inventoryNamespace'>,
): BuiltDestination {
  const config = kubeConfigOf(kubeconfig);
  const cluster = new KubeCluster(config);
  const watchClient = new RestClient(config);
  return {
    destination: {
      name,
      cluster,
      inventory: new ConfigMapInventoryStore(
        cluster,
        registration.inventoryNamespace ?? DEFAULT_INVENTORY_NAMESPACE,
      ),
      watcher: new KubeWatcher(watchClient),
      as: (serviceAccount) => cluster.impersonating(serviceAccountUser(serviceAccount)),
    },
    close: () => {
      cluster.close();
      watchClient.close();
    },
  };
}
