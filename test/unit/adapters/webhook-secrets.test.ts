// The agent's webhook secrets (src/adapters/kube/webhook-secrets.ts) from a Secret on the FakeCluster,
// which passes the Cluster contract suite.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WebhookSecretsReader } from '../../../src/adapters/kube/webhook-secrets.ts';
import type { Cluster } from '../../../src/ports/cluster.ts';
import { FakeCluster } from '../../../src/testing/fake-cluster.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

async function writeSecret(cluster: FakeCluster, data: Record<string, string>): Promise<void> {
  const type = await cluster.resourceType('v1', 'Secret');
  assert.ok(type);
  await cluster.apply(
    type,
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'capstan-webhooks', namespace: 'capstan-system' },
      data,
    },
    { fieldManager: 'test', force: true },
  );
}

const SECRET = { namespace: 'capstan-system', name: 'capstan-webhooks' };

describe('webhook secrets', () => {
  it('reads one key per provider, trimmed; absent or empty keys leave that provider out', async () => {
    const cluster = new FakeCluster();
    assert.deepEqual(await new WebhookSecretsReader(cluster, SECRET).get(), {}, 'no Secret: none');
    await writeSecret(cluster, { github: b64('hmac-key\n'), gitlab: b64('  '), other: b64('x') });
    assert.deepEqual(await new WebhookSecretsReader(cluster, SECRET).get(), { github: 'hmac-key' });
  });

  it('reads again only after its ttl (a rotation is seen), and never keeps a failed read', async () => {
    const cluster = new FakeCluster();
    await writeSecret(cluster, { generic: b64('one') });
    let now = 0;
    let failing = false;
    const flaky: Pick<Cluster, 'resourceType' | 'get'> = {
      resourceType: (apiVersion, kind) => cluster.resourceType(apiVersion, kind),
      get: (type, namespace, name) =>
        failing ? Promise.reject(new Error('API server down')) : cluster.get(type, namespace, name),
    };
    const reader = new WebhookSecretsReader(flaky, SECRET, { ttlMs: 10_000, now: () => now });
    assert.deepEqual(await reader.get(), { generic: 'one' });
    await writeSecret(cluster, { generic: b64('two') });
    now = 9_999;
    assert.deepEqual(await reader.get(), { generic: 'one' }, 'kept within the ttl');
    now = 10_000;
    failing = true;
    await assert.rejects(reader.get(), /API server down/);
    failing = false;
    assert.deepEqual(await reader.get(), { generic: 'two' }, 'the failure was not kept');
  });

  it('refuses a value that is not base64, naming the Secret and the key', async () => {
    const cluster = new FakeCluster();
    await writeSecret(cluster, { github: 'not base64!' });
    await assert.rejects(
      new WebhookSecretsReader(cluster, SECRET).get(),
      /Secret\/capstan-system\/capstan-webhooks: the value of key 'github' is not base64/,
    );
  });
});
