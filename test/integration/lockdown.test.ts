// The lockdown install's RBAC on the real API server: the agent's identity may read, keep its own state
// and impersonate the ServiceAccounts of the Application namespaces, and can no longer write anything
// else (asked of the API server's authorizer with SubjectAccessReviews).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { AGENT_NAME, installManifests } from '../../src/contracts/install.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import { freshNamespace, kubeClients, testCluster, type KubeClients } from '../../src/testing/cluster.ts';

let admin: KubeCluster;
let kube: KubeClients;
const clusterScoped: KubeObject[] = [];

before(async () => {
  const cluster = await testCluster();
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  kube = kubeClients(cluster.adminKubeconfig);
});

after(async () => {
  for (const object of clusterScoped) {
    const type = await admin.resourceType(object.apiVersion, object.kind);
    if (type) await admin.delete(type, '', object.metadata.name ?? '').catch(() => undefined);
  }
  admin.close();
});

interface Question {
  verb: string;
  resource: string;
  group?: string;
  namespace?: string;
  subresource?: string;
}

async function allowed(user: { name: string; namespace: string }, q: Question): Promise<boolean> {
  const res = await admin.client.call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${user.namespace}:${user.name}`,
        groups: [
          'system:serviceaccounts',
          `system:serviceaccounts:${user.namespace}`,
          'system:authenticated',
        ],
        resourceAttributes: {
          verb: q.verb,
          resource: q.resource,
          group: q.group ?? '',
          ...(q.namespace ? { namespace: q.namespace } : {}),
          ...(q.subresource ? { subresource: q.subresource } : {}),
        },
      },
    },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return (res.body as { status: { allowed: boolean } }).status.allowed;
}

describe('the lockdown install', () => {
  it('leaves the agent reading, keeping its state and impersonating, and writing nothing else', async (t) => {
    const agentNamespace = await freshNamespace(t, kube);
    const apps = await freshNamespace(t, kube);
    const objects = installManifests({
      image: 'registry.invalid/capstan:test',
      namespace: agentNamespace,
      applicationNamespaces: [apps],
      lockdown: true,
    });
    assert.ok(!objects.some((o) => o.metadata.name === 'capstan-deployer'));
    for (const object of objects) {
      if (
        !['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(object.kind)
      )
        continue;
      const type = await admin.resourceType(object.apiVersion, object.kind);
      assert.ok(type);
      await admin.apply(type, object, { fieldManager: 'capstan-test', force: true });
      if (!type.namespaced) clusterScoped.push(object);
    }
    const agent = { name: AGENT_NAME, namespace: agentNamespace };
    const may = async (q: Question) => allowed(agent, q);
    const rbac = 'rbac.authorization.k8s.io';
    // What it still may do.
    for (const q of [
      { verb: 'list', resource: 'pods' },
      { verb: 'watch', resource: 'deployments', group: 'apps', namespace: apps },
      {
        verb: 'patch',
        resource: 'applications',
        group: 'capstan.dev',
        subresource: 'status',
        namespace: apps,
      },
      { verb: 'list', resource: 'projects', group: 'capstan.dev' },
      { verb: 'create', resource: 'configmaps', namespace: agentNamespace },
      { verb: 'update', resource: 'leases', group: 'coordination.k8s.io', namespace: agentNamespace },
      { verb: 'get', resource: 'secrets', namespace: apps },
      { verb: 'impersonate', resource: 'serviceaccounts', namespace: apps },
    ])
      assert.equal(await may(q), true, `may ${JSON.stringify(q)}`);
    // What it no longer may do.
    for (const q of [
      { verb: 'create', resource: 'clusterrolebindings', group: rbac },
      { verb: 'create', resource: 'namespaces' },
      { verb: 'create', resource: 'secrets', namespace: apps },
      { verb: 'delete', resource: 'configmaps', namespace: apps },
      { verb: 'patch', resource: 'deployments', group: 'apps', namespace: apps },
      { verb: 'create', resource: 'pods', subresource: 'exec', namespace: apps },
      { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: apps },
      { verb: 'impersonate', resource: 'serviceaccounts', namespace: 'kube-system' },
      { verb: 'impersonate', resource: 'users' },
      { verb: 'escalate', resource: 'clusterroles', group: rbac },
      { verb: 'bind', resource: 'clusterroles', group: rbac },
    ])
      assert.equal(await may(q), false, `may not ${JSON.stringify(q)}`);
  });
});
