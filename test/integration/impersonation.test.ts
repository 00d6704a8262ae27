// Impersonation against the real API server: a KubeCluster made to act as a ServiceAccount has that
// ServiceAccount's rights and no more, while sharing the agent's connections; the sync engine applies
// through it and keeps its inventory with the agent's own identity.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ConfigMapInventoryStore } from '../../src/adapters/kube/inventory-store.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { applicationOwner } from '../../src/contracts/application.ts';
import { CapstanError } from '../../src/core/errors.ts';
import { assessHealth } from '../../src/core/health-rules.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import { sync } from '../../src/engine/sync.ts';
import { systemClock } from '../../src/adapters/clock.ts';
import { serviceAccountUser } from '../../src/core/policy.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import {
  agentKubeconfig,
  freshNamespace,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';

let cluster: KubeCluster;
let kube: KubeClients;
let configMaps: ResourceType;

before(async () => {
  const path = await agentKubeconfig(await testCluster());
  cluster = new KubeCluster(loadKubeConfig({ kubeconfig: path }));
  kube = kubeClients(path);
  const type = await cluster.resourceType('v1', 'ConfigMap');
  assert.ok(type);
  configMaps = type;
});

const configMap = (name: string, namespace?: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, ...(namespace ? { namespace } : {}) },
  data: { a: '1' },
});

/** A ServiceAccount `deployer` of `namespace` that may edit that namespace only (ClusterRole edit). */
async function deployer(namespace: string): Promise<{ namespace: string; name: string }> {
  await kube.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'deployer' } } });
  const rbac = await cluster.resourceType('rbac.authorization.k8s.io/v1', 'RoleBinding');
  assert.ok(rbac);
  await cluster.apply(
    rbac,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'deployer-edit', namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects: [{ kind: 'ServiceAccount', name: 'deployer', namespace }],
    },
    { fieldManager: 'capstan-test' },
  );
  return { namespace, name: 'deployer' };
}

async function forbidden(action: Promise<unknown>): Promise<string> {
  const error = await action.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof CapstanError, `refused: ${String(error)}`);
  assert.equal(error.code, 'KUBE_FORBIDDEN', error.message);
  return error.message;
}

describe('impersonation', () => {
  it("has the ServiceAccount's rights and no more", async (t) => {
    const mine = await freshNamespace(t, kube);
    const other = await freshNamespace(t, kube);
    const as = cluster.impersonating(serviceAccountUser(await deployer(mine)));
    await as.apply(configMaps, configMap('allowed', mine), { fieldManager: 'capstan' });
    assert.ok(await cluster.get(configMaps, mine, 'allowed'));
    const message = await forbidden(
      as.apply(configMaps, configMap('refused', other), { fieldManager: 'capstan' }),
    );
    assert.match(message, new RegExp(`system:serviceaccount:${mine}:deployer`));
    assert.equal(await cluster.get(configMaps, other, 'refused'), undefined);
    const bindings = await cluster.resourceType('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding');
    assert.ok(bindings);
    await forbidden(as.list(bindings, ''));
    as.close();
    // Closing the impersonating copy leaves the agent's connections open.
    assert.ok(await cluster.get(configMaps, mine, 'allowed'));
  });

  it('syncs through the ServiceAccount, nothing of the refused set applied', async (t) => {
    const mine = await freshNamespace(t, kube);
    const other = await freshNamespace(t, kube);
    const as = cluster.impersonating(serviceAccountUser(await deployer(mine)));
    const deps = {
      cluster: as,
      inventory: new ConfigMapInventoryStore(cluster),
      clock: systemClock,
      assessHealth,
    };
    const options = { ...applicationOwner(mine, 'web'), namespace: mine, timeoutMs: 30_000, prune: true };
    const ok = await sync([{ object: configMap('a'), source: { file: 'a.yaml', line: 1 } }], options, deps);
    assert.equal(ok.phase, 'Succeeded', ok.message);
    const refused = await sync(
      [
        { object: configMap('b'), source: { file: 'a.yaml', line: 1 } },
        { object: configMap('c', other), source: { file: 'a.yaml', line: 2 } },
      ],
      options,
      deps,
    );
    assert.equal(refused.phase, 'Failed');
    assert.match(refused.message, /nothing was changed/);
    assert.equal(await cluster.get(configMaps, mine, 'b'), undefined);
    assert.equal(await cluster.get(configMaps, other, 'c'), undefined);
    assert.ok(await cluster.get(configMaps, mine, 'a'), 'not pruned');
  });
});
