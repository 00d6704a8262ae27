// KubeRunExecutor, the RunExecutor port over a real API server, passes the same contract as the
// HeldRunExecutor of the pipeline tests (test/unit/testing/held-run-executor.test.ts). The Pods run on
// kwok's nodes, which end them by its stages: a Pod owned by a Job completes (pod-complete), a Pod
// labelled for it fails its container with exit code 1 (pod-container-running-failed), any other keeps
// running until it is deleted.
import { before, describe } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { KubeRunExecutor } from '../../src/adapters/kube/pod-run.ts';
import { freshNamespace, kubeClients, testCluster, type KubeClients } from '../../src/testing/cluster.ts';
import { runExecutorContract } from '../../src/testing/run-executor-contract.ts';

let kube: KubeClients;
let executor: KubeRunExecutor;
let batch: k8s.BatchV1Api;

before(async () => {
  const local = await testCluster();
  kube = kubeClients(local.adminKubeconfig);
  batch = kube.config.makeApiClient(k8s.BatchV1Api);
  executor = new KubeRunExecutor(loadKubeConfig({ kubeconfig: local.adminKubeconfig }), { pollMs: 200 });
});

describe('KubeRunExecutor', () => {
  runExecutorContract('kube', {
    open: async (t) => {
      const namespace = await freshNamespace(t, kube);
      await kube.core.createNamespacedServiceAccount({
        namespace,
        body: { metadata: { name: 'capstan-run' } },
      });
      return {
        executor,
        namespace,
        prepare: async (pod, ending) => {
          const metadata = structuredClone(pod.metadata);
          if (ending === 'fails')
            metadata.labels = {
              ...metadata.labels,
              'pod-container-running-failed.stage.kwok.x-k8s.io': 'true',
            };
          if (ending === 'succeeds') {
            // A suspended Job makes no Pods of its own; owning this one, it has kwok complete it.
            const job = await batch.createNamespacedJob({
              namespace,
              body: {
                metadata: { name: `owner-${metadata.name ?? ''}` },
                spec: {
                  suspend: true,
                  template: {
                    spec: { restartPolicy: 'Never', containers: [{ name: 'x', image: 'busybox' }] },
                  },
                },
              },
            });
            metadata.ownerReferences = [
              {
                apiVersion: 'batch/v1',
                kind: 'Job',
                name: job.metadata?.name ?? '',
                uid: job.metadata?.uid ?? '',
              },
            ];
          }
          return { ...pod, metadata };
        },
      };
    },
  });
});
