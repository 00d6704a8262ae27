// `capstan server` finds the Pods of an Application's Deployment by owner references (Deployment →
// ReplicaSet → Pod, made by the real controller-manager and placed by the scheduler on a kwok node),
// and answers a Pod's log route with a clear refusal where there is no log to read: a kwok node runs
// no containers, a Pod the Application does not own is not shown, a container it lacks is named.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, APPLICATION_KIND } from '../../src/contracts/application.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import {
  freshNamespace,
  installApplicationCrd,
  installProjectCrd,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import {
  adminSession,
  initialAdminPassword,
  serverIdentity,
  startTestServer,
} from '../../src/testing/server.ts';

let kube: KubeClients;
let admin: KubeCluster;
let appType: ResourceType;
const scratch = await mkdtemp(join(tmpdir(), 'capstan-server-pods-'));

before(async () => {
  const cluster = await testCluster();
  kube = kubeClients(cluster.adminKubeconfig);
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  appType = await installApplicationCrd(admin);
  await installProjectCrd(admin);
});

after(async () => {
  admin.close();
  await rm(scratch, { recursive: true, force: true });
});

async function applyAll(objects: readonly KubeObject[]): Promise<void> {
  for (const object of objects) {
    const type = await admin.resourceType(object.apiVersion, object.kind);
    assert.ok(type, `${object.kind} is served`);
    await admin.apply(type, object, { fieldManager: 'capstan-test', force: true });
  }
}

/** Starts the server with its install RBAC (its own identity) in `home`; its base URL and an admin session. */
async function startServer(
  t: { after: (fn: () => Promise<void>) => void },
  home: string,
): Promise<{ base: string; headers: Record<string, string> }> {
  const { base } = await startTestServer(t.after.bind(t), {
    kubeconfig: await serverIdentity(admin, home),
    namespace: home,
    database: join(scratch, 'server.db'),
    repositoryHosts: ['127.0.0.1'],
  });
  const { cookie } = await adminSession(base, await initialAdminPassword(admin, home));
  return { base, headers: { cookie } };
}

const deployment = (namespace: string): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'web', image: 'example.invalid/web:1' }] },
    },
  },
});
const strayPod = (namespace: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'stray', namespace },
  spec: { containers: [{ name: 'main', image: 'example.invalid/stray:1' }] },
});

interface Node {
  id: string;
  kind: string;
  name: string;
  health?: string;
  parents: string[];
}

describe('capstan server: the Pods of an Application and their logs, against a real cluster', () => {
  it('finds the Pods by owner references and refuses logs clearly where there are none', async (t) => {
    const apps = await freshNamespace(t, kube);
    const home = await freshNamespace(t, kube);
    await applyAll([deployment(apps), strayPod(apps)]);
    await applyAll([
      {
        apiVersion: APPLICATION_API_VERSION,
        kind: APPLICATION_KIND,
        metadata: { name: 'web', namespace: apps },
        spec: {
          source: { repoURL: 'https://git.example.invalid/none.git', path: 'app' },
          destination: { namespace: apps },
        },
      },
    ]);
    await setStatus(apps, 'web', {
      resources: [{ group: 'apps', kind: 'Deployment', namespace: apps, name: 'web', syncStatus: 'Synced' }],
    });
    const { base, headers } = await startServer(t, home);
    const get = async (path: string) => {
      const response = await fetch(`${base}/api/v1/applications/${apps}/web/${path}`, { headers });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };

    // Deployment → ReplicaSet → Pod, once the controllers and the scheduler did their part.
    let seen = '';
    const nodes = await eventually(async () => {
      const answer = await get('children');
      seen = JSON.stringify(answer);
      const found = (answer.body['nodes'] ?? []) as Node[];
      const pod = found.find((n) => n.kind === 'Pod');
      return pod?.parents.length === 1 && found.some((n) => n.kind === 'ReplicaSet') ? found : false;
    }).catch((error: unknown) => {
      throw new Error(`children never had the ReplicaSet and its Pod; last answer: ${seen}`, {
        cause: error,
      });
    });
    const replicaSet = nodes.find((n) => n.kind === 'ReplicaSet');
    const pod = nodes.find((n) => n.kind === 'Pod');
    assert.ok(replicaSet && pod);
    assert.deepEqual(replicaSet.parents, [`Deployment/${apps}/web`]);
    assert.deepEqual(pod.parents, [replicaSet.id]);
    assert.ok(pod.health, 'each Pod has a health');
    assert.equal(
      nodes.some((n) => n.name === 'stray'),
      false,
      'a Pod the Application does not own is not among them',
    );

    // The Pod is on a kwok node once scheduled: no log, and the answer says why.
    const logs = `resource/logs?namespace=${apps}&name=${pod.name}`;
    const onKwok = await eventually(async () => {
      const answer = await get(logs);
      return answer.status === 409 ? answer : false;
    });
    assert.equal(onKwok.body['error'], 'POD_NOT_ON_REAL_NODE');
    assert.match(String(onKwok.body['message']), /is not a real node/);

    const unknownContainer = await get(`${logs}&container=sidecar`);
    assert.equal(unknownContainer.status, 400);
    assert.equal(unknownContainer.body['error'], 'POD_CONTAINER_INVALID');
    assert.match(String(unknownContainer.body['message']), /has no container 'sidecar' \(container=web\)/);

    const stray = await get(`resource/logs?namespace=${apps}&name=stray`);
    assert.equal(stray.status, 404);
    assert.equal(stray.body['error'], 'RESOURCE_NOT_MANAGED');

    const gone = await get(`resource/logs?namespace=${apps}&name=web-none`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body['error'], 'KUBE_NOT_FOUND');

    const bad = await get(`resource/logs?namespace=${apps}&name=${pod.name}&tailLines=many`);
    assert.equal(bad.status, 400);
  });
});

async function setStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
  const path = `/apis/${appType.group}/${appType.version}/namespaces/${namespace}/${appType.plural}/${name}/status`;
  const res = await admin.client.call('PATCH', path, {
    body: { status },
    contentType: 'application/merge-patch+json',
    subject: `status of ${namespace}/${name}`,
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
}
