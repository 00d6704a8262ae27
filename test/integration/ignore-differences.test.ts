// ignoreDifferences on a real API server: a field the Application ignores (replicas, set by an autoscaler
// or kubectl scale) stays whoever's it is, while every other field Git declares is still taken back.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { assessHealth } from '../../src/core/health-rules.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import type { SyncResult } from '../../src/core/sync-result.ts';
import { ConfigMapInventoryStore } from '../../src/adapters/kube/inventory-store.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import type { SyncOptions } from '../../src/engine/context.ts';
import { planSync, sync } from '../../src/engine/sync.ts';
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

before(async () => {
  const path = await agentKubeconfig(await testCluster());
  cluster = new KubeCluster(loadKubeConfig({ kubeconfig: path }));
  kube = kubeClients(path);
});

const deployment = (image: string): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web' },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image }] } },
  },
});

describe('ignoreDifferences', () => {
  it('keeps an ignored field (replicas) as others set it, and still takes back the rest', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const deps = {
      cluster,
      inventory: new ConfigMapInventoryStore(cluster),
      clock: systemClock,
      assessHealth,
    };
    const options: SyncOptions = {
      application: `ignore-${randomBytes(3).toString('hex')}`,
      namespace,
      forceConflicts: true,
      ignoreDifferences: [{ group: 'apps', kind: 'Deployment', jsonPointers: ['/spec/replicas'] }],
    };
    const rendered = (image: string) => [
      { object: deployment(image), source: { file: 'web.yaml', line: 1 } },
    ];
    const first: SyncResult = await sync(rendered('registry.example/web:1'), options, deps);
    assert.equal(first.phase, 'Succeeded', first.message);

    // Someone scales it and changes its image, as kubectl scale and kubectl set image would.
    await kube.apps.patchNamespacedDeploymentScale({
      namespace,
      name: 'web',
      body: [{ op: 'replace', path: '/spec/replicas', value: 5 }],
    });
    await kube.apps.patchNamespacedDeployment({
      namespace,
      name: 'web',
      body: [
        { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'registry.example/web:2' },
      ],
    });

    // The plan shows the image only; the sync takes the image back and leaves replicas at 5.
    const planned = await planSync(rendered('registry.example/web:1'), options, deps);
    const change = planned.plan.changes.find((c) => c.prepared.id.name === 'web');
    assert.ok(change);
    assert.equal(change.action, 'configure');
    assert.match(change.diff.unified, /^-\s+- image: registry\.example\/web:2$/m);
    assert.doesNotMatch(change.diff.unified, /^[-+]\s+replicas:/m);
    const second = await sync(rendered('registry.example/web:1'), options, deps);
    assert.equal(second.phase, 'Succeeded', second.message);
    const after = await kube.apps.readNamespacedDeployment({ namespace, name: 'web' });
    assert.equal(after.spec?.replicas, 5);
    assert.equal(after.spec.template.spec?.containers.at(0)?.image, 'registry.example/web:1');
  });
});
