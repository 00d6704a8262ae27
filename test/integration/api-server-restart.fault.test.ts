// The API server goes away in the middle of a test and comes back; the harness and clients carry on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { freshNamespace, kubeClients, testCluster } from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';

describe('API server restart', () => {
  it('keeps the data, answers again, and a watch can be re-established', async (t) => {
    const cluster = await testCluster();
    const kube = kubeClients(cluster.adminKubeconfig);
    const namespace = await freshNamespace(t, kube);
    await kube.core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'before' }, data: { a: '1' } },
    });

    let watchEnded = false;
    const watch = new k8s.Watch(kube.config);
    const controller = await watch.watch(
      `/api/v1/namespaces/${namespace}/configmaps`,
      {},
      () => undefined,
      () => {
        watchEnded = true;
      },
    );

    await cluster.stopApiServer({ kill: true });
    await assert.rejects(kube.core.readNamespacedConfigMap({ namespace, name: 'before' }), (error: Error) => {
      const cause = error.cause as { code?: string } | undefined;
      // A kept-alive connection is reset; a new one is refused.
      assert.ok(
        ['ECONNREFUSED', 'ECONNRESET'].includes(cause?.code ?? ''),
        `expected a refused or reset connection, got ${error.message} (${cause?.code ?? 'no code'})`,
      );
      return true;
    });
    await eventually(() => watchEnded, { what: 'the open watch to end when the API server dies' });

    await cluster.startApiServer();
    const read = await eventually(() => kube.core.readNamespacedConfigMap({ namespace, name: 'before' }), {
      what: 'the API server to answer again',
    });
    assert.equal(read.data?.['a'], '1', 'etcd kept the data across the restart');

    const seen: string[] = [];
    const again = await watch.watch(
      `/api/v1/namespaces/${namespace}/configmaps`,
      {},
      (phase, obj: k8s.V1ConfigMap) => {
        seen.push(`${phase}:${obj.metadata?.name ?? ''}`);
      },
      () => undefined,
    );
    try {
      await kube.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'after' } } });
      await eventually(() => seen.includes('ADDED:after'), { what: 'a watch event after the restart' });
    } finally {
      controller.abort();
      again.abort();
    }
  });

  it('a graceful restart (SIGTERM) works the same way', async () => {
    const cluster = await testCluster();
    const kube = kubeClients(cluster.adminKubeconfig);
    await cluster.restartApiServer();
    const nodes = await kube.core.listNode();
    assert.ok(nodes.items.length >= 1);
  });
});
