// The ConfigMap inventory store against the real API server: it creates its namespace when missing,
// reads it once rather than before every write, and when that namespace was deleted since, the next
// write creates it again (nothing is lost).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { ConfigMapInventoryStore } from '../../src/adapters/kube/inventory-store.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import type { Inventory } from '../../src/core/inventory.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { testCluster } from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';

let admin: KubeCluster;
let namespaces: ResourceType;

before(async () => {
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: (await testCluster()).adminKubeconfig }));
  const type = await admin.resourceType('v1', 'Namespace');
  assert.ok(type, 'the cluster serves v1 Namespace');
  namespaces = type;
});

const record = (entries: string[]): Inventory => ({
  application: 'web',
  entries,
  digest: 'sha256:0',
  updatedAt: new Date(0).toISOString(),
});

describe('ConfigMap inventory store', () => {
  it('creates its namespace, and creates it again on the write after it was deleted', async (t) => {
    const namespace = `t-inventory-${randomBytes(3).toString('hex')}`;
    t.after(async () => {
      await admin.delete(namespaces, '', namespace).catch(() => undefined);
    });
    const store = new ConfigMapInventoryStore(admin, namespace);
    await store.write(record(['/ConfigMap/a/one']));
    assert.deepEqual((await store.read('web'))?.entries, ['/ConfigMap/a/one']);

    // Someone deletes the inventory namespace while the store keeps running.
    await admin.delete(namespaces, '', namespace);
    await eventually(async () => (await admin.get(namespaces, '', namespace)) === undefined, {
      what: `Namespace ${namespace} gone`,
      timeoutMs: 60_000,
    });
    assert.equal(await store.read('web'), undefined);

    await store.write(record(['/ConfigMap/a/two']));
    assert.ok(await admin.get(namespaces, '', namespace), 'the namespace is there again');
    assert.deepEqual((await store.read('web'))?.entries, ['/ConfigMap/a/two']);
  });
});
