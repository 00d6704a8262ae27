// KubePipelineDirectory (the server's and the webhook receivers' view of Pipelines) against a real API
// server, through the same contract suite as the fake of the unit tests (test/unit/testing/).
import { after, before } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { KubePipelineDirectory } from '../../src/adapters/kube/pipelines.ts';
import { runRequestsOf } from '../../src/contracts/pipeline-request.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import {
  freshNamespace,
  installPipelineCrd,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { pipelineDirectoryContract } from '../../src/testing/pipeline-directory-contract.ts';

let cluster: KubeCluster;
let kube: KubeClients;
let pipelines: ResourceType;

before(async () => {
  const local = await testCluster();
  cluster = new KubeCluster(loadKubeConfig({ kubeconfig: local.adminKubeconfig }));
  kube = kubeClients(local.adminKubeconfig);
  pipelines = await installPipelineCrd(cluster);
});

after(() => {
  cluster.close();
});

pipelineDirectoryContract('Kubernetes API', {
  open: async (t) => {
    const namespaces = [await freshNamespace(t, kube), await freshNamespace(t, kube)] as const;
    const read = (namespace: string, name: string) => cluster.get(pipelines, namespace, name);
    return {
      directory: (requestKey) =>
        new KubePipelineDirectory(cluster, requestKey === undefined ? {} : { requestKey }),
      namespaces,
      create: async (object) => {
        await cluster.apply(pipelines, object, { fieldManager: 'capstan-test' });
      },
      requests: async (namespace, name) =>
        runRequestsOf((await read(namespace, name))?.metadata.annotations).requests,
      status: async (namespace, name) => (await read(namespace, name))?.['status'],
    };
  },
});
