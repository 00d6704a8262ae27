// KubeCluster, the Cluster port over a real API server, passes the same contract as the FakeCluster of
// the unit tests (test/unit/testing/fake-cluster.test.ts).
import { after, before, describe } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { clusterContract } from '../../src/testing/cluster-contract.ts';
import {
  agentKubeconfig,
  freshNamespace,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';

let cluster: KubeCluster;
let kube: KubeClients;

before(async () => {
  const local = await testCluster();
  kube = kubeClients(local.adminKubeconfig);
  cluster = new KubeCluster(loadKubeConfig({ kubeconfig: await agentKubeconfig(local) }));
});

after(() => {
  cluster.close();
});

describe('KubeCluster', () => {
  clusterContract('kube', {
    open: async (t) => ({ cluster, namespace: await freshNamespace(t, kube) }),
  });
});
