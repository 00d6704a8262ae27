// The dev cluster's default StorageClass on kwok nodes (src/devcluster/local-volumes.ts): every dev
// cluster has it, so install.yaml's server, whose SQLite store is on the claim capstan-server-data,
// is scheduled on a kwok-only cluster too. The provisioner watches claims: a volume is made for the
// claim once the scheduler has chosen the pod's node, on that node, without a folder (kwok runs no
// container to use one), and removed with its claim. On the real node (folders, a pod's file kept
// between pods): test/integration/real-node.node.test.ts.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { installManifests } from '../../src/contracts/install.ts';
import { SERVER_DATA_CLAIM, SERVER_NAME } from '../../src/contracts/install-server.ts';
import { LOCAL_VOLUMES } from '../../src/devcluster/local-volumes.ts';
import { freshNamespace, kubeClients, testCluster, type KubeClients } from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';

let kube: KubeClients;
let admin: KubeCluster;

before(async () => {
  const cluster = await testCluster();
  kube = kubeClients(cluster.adminKubeconfig);
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
});

describe('the default StorageClass on kwok nodes', () => {
  it('is the cluster default, of the provisioner', async () => {
    const classes = await kube.config
      .makeApiClient((await import('@kubernetes/client-node')).StorageV1Api)
      .listStorageClass();
    const defaults = classes.items.filter(
      (c) => c.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true',
    );
    assert.deepEqual(
      defaults.map((c) => [c.metadata?.name, c.provisioner, c.volumeBindingMode]),
      [[LOCAL_VOLUMES.storageClass, LOCAL_VOLUMES.provisioner, 'WaitForFirstConsumer']],
    );
  });

  it("binds install.yaml's server claim on the kwok node its pod is scheduled to, and removes the volume with the claim", async (t) => {
    const namespace = await freshNamespace(t, kube);
    // install.yaml's server as it is (its ServiceAccount, claim and Deployment) in this test's namespace.
    const objects = installManifests({ image: 'registry.invalid/capstan:test', namespace }).filter(
      (o) =>
        o.metadata.namespace === namespace &&
        ((o.kind === 'ServiceAccount' && o.metadata.name === SERVER_NAME) ||
          o.kind === 'PersistentVolumeClaim' ||
          (o.kind === 'Deployment' && o.metadata.name === SERVER_NAME)),
    );
    assert.deepEqual(
      objects.map((o) => o.kind),
      ['ServiceAccount', 'PersistentVolumeClaim', 'Deployment'],
    );
    for (const object of objects) {
      const type = await admin.resourceType(object.apiVersion, object.kind);
      assert.ok(type);
      await admin.apply(type, object, { fieldManager: 'capstan-local-volumes-test' });
    }
    const bound = await eventually(
      async () => {
        const claim = await kube.core.readNamespacedPersistentVolumeClaim({
          namespace,
          name: SERVER_DATA_CLAIM,
        });
        return claim.status?.phase === 'Bound' ? claim : false;
      },
      { what: `PersistentVolumeClaim/${namespace}/${SERVER_DATA_CLAIM} Bound`, timeoutMs: 60_000 },
    );
    assert.equal(bound.spec?.storageClassName, LOCAL_VOLUMES.storageClass, 'no class named: the default');
    const node = bound.metadata?.annotations?.['volume.kubernetes.io/selected-node'] ?? '';
    assert.match(node, /^kwok-node-\d+$/);
    const volumeName = bound.spec.volumeName ?? '';
    const volume = await kube.core.readPersistentVolume({ name: volumeName });
    assert.equal(
      volume.metadata?.annotations?.['pv.kubernetes.io/provisioned-by'],
      LOCAL_VOLUMES.provisioner,
    );
    assert.deepEqual(
      volume.spec?.nodeAffinity?.required?.nodeSelectorTerms[0]?.matchExpressions?.[0]?.values,
      [node],
    );
    const path = volume.spec.local?.path ?? '';
    assert.ok(path.endsWith(`/${volumeName}`), path);
    assert.equal(existsSync(path), false, 'a kwok node’s volume has no folder');
    // The server's pod is then scheduled there (kwok reports it Running).
    await eventually(
      async () => {
        const pods = await kube.core.listNamespacedPod({ namespace });
        return pods.items.some((p) => p.spec?.nodeName === node && p.status?.phase === 'Running');
      },
      { what: `the server's pod Running on ${node}`, timeoutMs: 60_000 },
    );
    await kube.apps.deleteNamespacedDeployment({ namespace, name: SERVER_NAME });
    await eventually(async () => (await kube.core.listNamespacedPod({ namespace })).items.length === 0, {
      what: "the server's pod gone",
      timeoutMs: 60_000,
    });
    await kube.core.deleteNamespacedPersistentVolumeClaim({ namespace, name: SERVER_DATA_CLAIM });
    await eventually(
      async () =>
        !(await kube.core.listPersistentVolume()).items.some((v) => v.metadata?.name === volumeName),
      { what: `PersistentVolume/${volumeName} removed with its claim`, timeoutMs: 60_000 },
    );
  });
});
