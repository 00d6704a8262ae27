// Owner identity against the real API server: Applications whose legacy owner names collided
// (`a/b-c` and `a-b/c`, `web.prod` and `web-prod`) own nothing in common, and what the previous release
// synced (legacy owner names, legacy inventories) is taken over in place on upgrade.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { ConfigMapInventoryStore } from '../../src/adapters/kube/inventory-store.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { applicationOwner, legacyOwnerName } from '../../src/contracts/application.ts';
import { assessHealth } from '../../src/core/health-rules.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import type { SyncResult } from '../../src/core/sync-result.ts';
import type { SyncOptions } from '../../src/engine/context.ts';
import { sync } from '../../src/engine/sync.ts';
import { systemClock } from '../../src/adapters/clock.ts';
import {
  agentKubeconfig,
  freshNamespace,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';

let cluster: KubeCluster;
let kube: KubeClients;
let inventories: ConfigMapInventoryStore;

before(async () => {
  const path = await agentKubeconfig(await testCluster());
  cluster = new KubeCluster(loadKubeConfig({ kubeconfig: path }));
  kube = kubeClients(path);
  inventories = new ConfigMapInventoryStore(cluster);
});

const configMap = (name: string, value: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name },
  data: { value },
});

function run(
  objects: KubeObject[],
  options: Partial<SyncOptions> & { application: string; namespace: string },
): Promise<SyncResult> {
  return sync(
    objects.map((object, i) => ({ object, source: { file: 'test.yaml', line: i + 1 } })),
    { timeoutMs: 60_000, prune: true, ...options },
    { cluster, inventory: inventories, clock: systemClock, assessHealth },
  );
}

/** The Application's owner, as the agent and the CLI name it now. */
const ownerOf = (namespace: string, name: string) => applicationOwner(namespace, name);

/** The same sync as the release before this one made it: the legacy owner name, no Application recorded. */
const asPreviousRelease = (namespace: string, name: string) => ({
  application: legacyOwnerName(namespace, name),
});

async function liveConfigMap(namespace: string, name: string) {
  return kube.core.readNamespacedConfigMap({ namespace, name });
}

/**
 * A namespace of a short name (the legacy names of long ones end in a hash, which hides the collision
 * this file is about), deleted after the test.
 */
async function createNamespace(t: { after: (fn: () => Promise<void>) => void }, name?: string) {
  const namespace = name ?? `o-${randomBytes(3).toString('hex')}`;
  await kube.core.createNamespace({
    body: { metadata: { name: namespace, labels: { 'capstan.dev/test': 'true' } } },
  });
  t.after(async () => {
    await kube.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });
  return namespace;
}

const actions = (result: SyncResult) =>
  Object.fromEntries(result.entries.map((e) => [`${e.id.kind}/${e.id.name}`, e.action]));

describe('owner identity', () => {
  it('keeps a/b-c and a-b/c apart: both synced with prune on, neither prunes the other', async (t) => {
    const a = await createNamespace(t);
    const ab = await createNamespace(t, `${a}-b`);
    assert.equal(legacyOwnerName(a, 'b-c'), legacyOwnerName(ab, 'c'), 'the legacy names collide');

    const first = await run([configMap('of-b-c', '1')], { ...ownerOf(a, 'b-c'), namespace: a });
    assert.equal(first.phase, 'Succeeded', first.message);
    const second = await run([configMap('of-c', '1')], { ...ownerOf(ab, 'c'), namespace: ab });
    assert.equal(second.phase, 'Succeeded', second.message);
    assert.ok(!second.entries.some((e) => e.action === 'pruned'), JSON.stringify(second.entries));
    // Each again, with a change, so that each reads its inventory and prunes what it left.
    const again = await run([configMap('of-b-c', '2')], { ...ownerOf(a, 'b-c'), namespace: a });
    assert.equal(again.phase, 'Succeeded', again.message);
    assert.deepEqual(actions(again), { 'ConfigMap/of-b-c': 'configured' });

    assert.equal((await liveConfigMap(a, 'of-b-c')).data?.['value'], '2');
    assert.equal((await liveConfigMap(ab, 'of-c')).data?.['value'], '1');
    const marks = (await liveConfigMap(ab, 'of-c')).metadata?.annotations ?? {};
    assert.equal(marks['capstan.dev/owner'], `${ab}/c`);
  });

  it('keeps web.prod and web-prod of one namespace apart', async (t) => {
    const namespace = await createNamespace(t);
    assert.equal(legacyOwnerName(namespace, 'web.prod'), legacyOwnerName(namespace, 'web-prod'));
    for (const [app, object] of [
      ['web.prod', 'dotted'],
      ['web-prod', 'dashed'],
      ['web.prod', 'dotted'],
    ] as const) {
      const result = await run([configMap(object, app)], { ...ownerOf(namespace, app), namespace });
      assert.equal(result.phase, 'Succeeded', result.message);
      assert.ok(!result.entries.some((e) => e.action === 'pruned'), JSON.stringify(result.entries));
    }
    assert.equal((await liveConfigMap(namespace, 'dotted')).data?.['value'], 'web.prod');
    assert.equal((await liveConfigMap(namespace, 'dashed')).data?.['value'], 'web-prod');
  });

  it('takes over in place what the previous release synced: same objects, nothing pruned', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const legacy = asPreviousRelease(namespace, 'web');
    const before = await run([configMap('kept', '1'), configMap('changed', '1'), configMap('dropped', '1')], {
      ...legacy,
      namespace,
    });
    assert.equal(before.phase, 'Succeeded', before.message);
    const uids = new Map<string, string | undefined>();
    for (const name of ['kept', 'changed', 'dropped'])
      uids.set(name, (await liveConfigMap(namespace, name)).metadata?.uid);
    assert.ok(await inventories.read(legacy.application), 'the previous release wrote its inventory');

    // The upgrade: the same Application synced by this release, one object changed, one left out.
    const owner = ownerOf(namespace, 'web');
    const after = await run([configMap('kept', '1'), configMap('changed', '2')], { ...owner, namespace });
    assert.equal(after.phase, 'Succeeded', after.message);
    assert.ok(!after.entries.some((e) => e.action === 'pruned' || e.action === 'failed'));
    const dropped = after.entries.find((e) => e.id.name === 'dropped');
    assert.equal(dropped?.action, 'skipped');
    assert.match(dropped.message, /earlier release/);

    for (const [name, uid] of uids) {
      const live = await liveConfigMap(namespace, name);
      assert.equal(live.metadata?.uid, uid, `${name} kept its uid`);
      if (name === 'dropped') continue;
      assert.equal(
        live.metadata?.annotations?.['capstan.dev/tracking-id'],
        `${owner.application}:/ConfigMap/${namespace}/${name}`,
      );
      assert.equal(live.metadata.annotations['capstan.dev/owner'], `${namespace}/web`);
      assert.equal(live.metadata.labels?.['capstan.dev/application'], owner.application);
    }
    assert.equal((await liveConfigMap(namespace, 'changed')).data?.['value'], '2');
    const inventory = await inventories.read(owner.application);
    assert.deepEqual(inventory?.owner, { namespace, name: 'web' });
    assert.deepEqual(inventory.entries, [`/ConfigMap/${namespace}/changed`, `/ConfigMap/${namespace}/kept`]);

    // From now on the Application prunes under its own name, and only what it marked itself.
    const later = await run([configMap('kept', '1')], { ...owner, namespace });
    assert.equal(later.phase, 'Succeeded', later.message);
    assert.deepEqual(actions(later), { 'ConfigMap/kept': 'unchanged', 'ConfigMap/changed': 'pruned' });
    assert.equal((await liveConfigMap(namespace, 'dropped')).metadata?.uid, uids.get('dropped'));
  });

  it('refuses an inventory that records another Application under the same owner name', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const owner = ownerOf(namespace, 'web');
    const first = await run([configMap('mine', '1')], { ...owner, namespace });
    assert.equal(first.phase, 'Succeeded', first.message);
    await assert.rejects(
      run([configMap('theirs', '1')], { ...owner, ownerRef: { namespace, name: 'other' }, namespace }),
      (error: Error & { code?: string }) =>
        error.code === 'INVENTORY_OWNER_MISMATCH' &&
        /records Application .*\/web, not Application .*\/other/.test(error.message),
    );
    assert.equal((await liveConfigMap(namespace, 'mine')).data?.['value'], '1');
  });
});
