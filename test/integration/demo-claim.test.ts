// What the real-node demo says about install.yaml's server claim (src/main/demo-claim.ts), against the
// real API server with kwok nodes: a claim bound to a volume of another node (left by an earlier
// install) is refused before the install, naming the claim, the volume, its node and what to do; a
// claim that stays Pending is explained by the provisioner's Event and the scheduler's message.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { SERVER_DATA_CLAIM, SERVER_SELECTOR } from '../../src/contracts/install-server.ts';
import { CapstanError } from '../../src/core/errors.ts';
import { REAL_NODE } from '../../src/devcluster/node-config.ts';
import type { LocalCluster } from '../../src/devcluster/cluster.ts';
import { assertServerClaimUsable, serverClaimPending } from '../../src/main/demo-claim.ts';
import { freshNamespace, kubeClients, testCluster, type KubeClients } from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';

let cluster: LocalCluster;
let kube: KubeClients;
let admin: KubeCluster;

before(async () => {
  cluster = await testCluster();
  kube = kubeClients(cluster.adminKubeconfig);
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
});

/** The server's claim and a pod of the server's labels that uses it (on a kwok node: nothing runs). */
async function claimAndPod(namespace: string, storageClassName?: string): Promise<void> {
  await kube.core.createNamespacedPersistentVolumeClaim({
    namespace,
    body: {
      metadata: { name: SERVER_DATA_CLAIM },
      spec: {
        accessModes: ['ReadWriteOnce'],
        ...(storageClassName === undefined ? {} : { storageClassName }),
        resources: { requests: { storage: '1Gi' } },
      },
    },
  });
  const pod: k8s.V1Pod = {
    metadata: { name: 'server', labels: SERVER_SELECTOR },
    spec: {
      containers: [{ name: 'server', image: 'registry.invalid/capstan:test' }],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: SERVER_DATA_CLAIM } }],
    },
  };
  // The namespace's default ServiceAccount comes a moment after the namespace.
  await eventually(
    async () => {
      await kube.core.createNamespacedPod({ namespace, body: pod });
      return true;
    },
    { what: 'the pod created' },
  );
}

describe("the demo and install.yaml's server claim", () => {
  it('refuses a claim bound to a volume of another node, naming the claim, its volume and node, and what to do', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await claimAndPod(namespace);
    const claim = await eventually(
      async () => {
        const c = await kube.core.readNamespacedPersistentVolumeClaim({ namespace, name: SERVER_DATA_CLAIM });
        return c.status?.phase === 'Bound' ? c : false;
      },
      { what: 'the claim Bound on a kwok node', timeoutMs: 60_000 },
    );
    const node = claim.metadata?.annotations?.['volume.kubernetes.io/selected-node'] ?? '';
    const volume = claim.spec?.volumeName ?? '';
    const options = { kubeconfig: cluster.adminKubeconfig, demoName: 'demo', namespace };
    const refused = await assertServerClaimUsable(admin, { ...options, node: REAL_NODE.name }).then(
      () => assert.fail('accepted a claim whose volume is on another node'),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof CapstanError);
    assert.equal(refused.code, 'DEMO_CLAIM_ON_OTHER_NODE');
    for (const part of [
      `PersistentVolumeClaim/${namespace}/${SERVER_DATA_CLAIM}`,
      `PersistentVolume/${volume} on node ${node}`,
      `runs on ${REAL_NODE.name}`,
      `-n ${namespace} delete deployment/capstan-server pvc/${SERVER_DATA_CLAIM}`,
      'demo down --purge',
    ])
      assert.ok(refused.message.includes(part), `${refused.message}\nnames: ${part}`);
    // On its own node, and where there is no claim, nothing is said.
    await assertServerClaimUsable(admin, { ...options, node });
    await assertServerClaimUsable(admin, { ...options, node: REAL_NODE.name, namespace: 'default' });
    assert.equal(await serverClaimPending(admin, namespace), undefined, 'a bound claim is not pending');
  });

  it('explains a claim that stays Pending with the provisioner’s Event and the scheduler’s message', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await claimAndPod(namespace, 'no-such-class');
    const said = await eventually(
      async () => {
        const pending = await serverClaimPending(admin, namespace);
        return pending?.includes('its last Event') === true && pending.includes('not scheduled')
          ? pending
          : false;
      },
      { what: 'the Pending claim explained', timeoutMs: 60_000 },
    );
    assert.match(said, new RegExp(`^PersistentVolumeClaim/${namespace}/${SERVER_DATA_CLAIM} is Pending; `));
    assert.match(said, /its last Event: ProvisioningFailed: .*"no-such-class" not found/);
    assert.match(said, /the server's pod is not scheduled: .*unbound .*PersistentVolumeClaims/);
  });
});
