// The server replicas' shared key (src/adapters/kube/shared-key.ts) in a Secret on the FakeCluster,
// which passes the Cluster contract suite.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SHARED_KEY, sharedKey } from '../../../src/adapters/kube/shared-key.ts';
import type { Cluster, ResourceType } from '../../../src/ports/cluster.ts';
import { FakeCluster } from '../../../src/testing/fake-cluster.ts';

const REF = { namespace: 'capstan-system', name: 'capstan-server', fieldManager: 'capstan-server' };

async function secretsOf(cluster: FakeCluster): Promise<ResourceType> {
  const type = await cluster.resourceType('v1', 'Secret');
  assert.ok(type);
  return type;
}

describe('shared key', () => {
  it('is made at random and written when absent, then read back the same by every replica', async () => {
    const cluster = new FakeCluster();
    const secrets = await secretsOf(cluster);
    const first = await sharedKey(cluster, secrets, REF);
    assert.equal(first.length, 32);
    const stored = await cluster.get(secrets, REF.namespace, REF.name);
    assert.equal((stored?.['data'] as Record<string, string>)[SHARED_KEY], first.toString('base64'));
    assert.deepEqual(await sharedKey(cluster, secrets, REF), first, 'a second replica reads the same key');
  });

  it('keeps its random key for this replica only when the Secret cannot be written', async () => {
    const cluster = new FakeCluster();
    const secrets = await secretsOf(cluster);
    const readOnly: Pick<Cluster, 'get' | 'apply'> = {
      get: (type, namespace, name) => cluster.get(type, namespace, name),
      apply: () => Promise.reject(new Error('forbidden')),
    };
    const key = await sharedKey(readOnly, secrets, REF);
    assert.equal(key.length, 32);
    assert.equal(await cluster.get(secrets, REF.namespace, REF.name), undefined);
  });

  it('refuses a stored key that is not base64, naming the Secret', async () => {
    const cluster = new FakeCluster();
    const secrets = await secretsOf(cluster);
    await cluster.apply(
      secrets,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: REF.name, namespace: REF.namespace },
        data: { [SHARED_KEY]: 'not base64!' },
      },
      { fieldManager: 'someone' },
    );
    await assert.rejects(
      sharedKey(cluster, secrets, REF),
      /Secret\/capstan-system\/capstan-server: the value of key 'cursorKey'/,
    );
  });
});
