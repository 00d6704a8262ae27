// The real ApplicationWriter (the server's writes of Applications) against a real API server, through
// the same contract suite as the fake the server's route tests use (test/unit/testing/).
import { after, before } from 'node:test';
import { KubeApplicationWriter } from '../../src/adapters/kube/application-writer.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { applicationWriterContract } from '../../src/testing/application-writer-contract.ts';
import {
  freshNamespace,
  installApplicationCrd,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';

let cluster: KubeCluster;
let kube: KubeClients;
let applications: ResourceType;

before(async () => {
  const local = await testCluster();
  cluster = new KubeCluster(loadKubeConfig({ kubeconfig: local.adminKubeconfig }));
  kube = kubeClients(local.adminKubeconfig);
  applications = await installApplicationCrd(cluster);
});

after(() => {
  cluster.close();
});

applicationWriterContract('Kubernetes API', {
  open: async (t) => {
    const namespace = await freshNamespace(t, kube);
    t.after(async () => {
      // Finalizers a failed test left would hold the namespace's deletion.
      for (const object of await cluster.list(applications, namespace))
        await cluster.client
          .call(
            'PATCH',
            `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/${object.metadata.name ?? ''}`,
            {
              body: { metadata: { finalizers: null } },
              contentType: 'application/merge-patch+json',
            },
          )
          .catch(() => undefined);
    });
    return {
      writer: new KubeApplicationWriter(cluster.client, { fieldManager: 'capstan-contract' }),
      namespace,
      read: (ns, name) => cluster.get(applications, ns, name),
    };
  },
});
