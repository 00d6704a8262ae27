// `GET …/sync-candidates` of a capstan server installed beside an agent in a namespace of its own (not
// capstan-system), as deploy/install.yaml runs them in the namespace it is applied to: the agent keeps its
// inventories there (--inventory-namespace), and the server reads them there. A resource that left Git
// and that the agent's last comparison no longer names is found only in that inventory: it is listed
// as departed, which a sync with prune then deletes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigMapInventoryStore } from '../../src/adapters/kube/inventory-store.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import {
  APPLICATION_API_VERSION,
  applicationOwner,
  type Application,
} from '../../src/contracts/application.ts';
import { runAgent } from '../../src/main/agent.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import {
  agentKubeconfig,
  freshNamespace,
  installApplicationCrd,
  kubeClients,
  testCluster,
  untilApplicationsGone,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { gitSecretBody, startGitServer } from '../../src/testing/git.ts';
import { adminHeaders, serverIdentity, startTestServer } from '../../src/testing/server.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const git = await startGitServer(after);
let admin: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
let adminKubeconfig = '';
let agentKubeconfigPath = '';
const scratch = await mkdtemp(join(tmpdir(), 'capstan-candidates-'));
const AGENT_LABEL = `capstan.dev/test-agent=${process.pid}`;
const stops: (() => Promise<void>)[] = [];

before(async () => {
  const cluster = await testCluster();
  adminKubeconfig = cluster.adminKubeconfig;
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: adminKubeconfig }));
  kube = kubeClients(adminKubeconfig);
  appType = await installApplicationCrd(admin);
  agentKubeconfigPath = await agentKubeconfig(cluster);
});

after(async () => {
  // Its Applications carry the agent's finalizer: the agent stays until they are gone.
  await untilApplicationsGone(admin, appType, AGENT_LABEL);
  for (const stop of stops) await stop();
  admin.close();
  await rm(scratch, { recursive: true, force: true });
});

const yamlOf = (name: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  level: "info"\n`;

const getApp = async (namespace: string, name: string) =>
  (await admin.get(appType, namespace, name)) as unknown as Application;

describe('sync candidates with the agent and the server in a namespace of their own', () => {
  it('lists a resource that left Git as departed from the inventory the agent keeps in its namespace', async (t) => {
    // The agent's namespace (as the install applied there), and the Applications' namespace.
    const home = await freshNamespace(t, kube);
    const apps = await freshNamespace(t, kube);
    const stop = new AbortController();
    const logs: Record<string, unknown>[] = [];
    const agent = runAgent(
      {
        kubeconfig: agentKubeconfigPath,
        leaderElection: false,
        http: { host: '127.0.0.1', ports: [0] },
        concurrency: 2,
        labelSelector: AGENT_LABEL,
        repositoryHosts: ['127.0.0.1'],
        namespace: home,
        inventoryNamespace: home,
        log: (line) => logs.push(line),
      },
      stop.signal,
    );
    agent.catch((error: unknown) => logs.push({ level: 'fatal', error: String(error) }));
    stops.push(async () => {
      stop.abort();
      await agent.catch(() => undefined);
    });

    const repo = `candidates-${apps}`;
    await git.createRepository(repo, { files: { 'app/a.yaml': yamlOf('a'), 'app/b.yaml': yamlOf('b') } });
    await kube.core.createNamespacedSecret({ namespace: apps, body: gitSecretBody(git) });
    await admin.apply(
      appType,
      {
        apiVersion: APPLICATION_API_VERSION,
        kind: 'Application',
        metadata: { name: 'web', namespace: apps, labels: { 'capstan.dev/test-agent': String(process.pid) } },
        spec: {
          source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
          interval: '1h',
        },
      },
      { fieldManager: 'capstan-test' },
    );
    t.after(async () => {
      await admin.delete(appType, apps, 'web').catch(() => undefined);
      await eventually(async () => (await admin.get(appType, apps, 'web')) === undefined, {
        what: 'the Application deleted by its agent',
        timeoutMs: 60_000,
      });
    });
    const capstan = (...args: string[]) =>
      runCapstan(['app', ...args, '-n', apps, '--kubeconfig', adminKubeconfig, '--timeout', '90s']);
    const synced = await capstan('sync', 'web');
    assert.equal(synced.code, 0, `${synced.stderr}\n${JSON.stringify(logs.slice(-5))}`);
    const owner = applicationOwner(apps, 'web').application;
    const kept = await new ConfigMapInventoryStore(admin, home).read(owner);
    assert.ok(
      kept?.entries.some((key) => key.endsWith('/b')),
      'the inventory is in the agent’s namespace',
    );
    assert.equal(await new ConfigMapInventoryStore(admin).read(owner), undefined, 'not in capstan-system');

    // b leaves Git; after the agent's next comparison its status no longer names b, which stays live.
    await git.commit(repo, { files: { 'app/b.yaml': null }, message: 'b goes' });
    const refreshed = await capstan('refresh', 'web');
    assert.equal(refreshed.code, 0, refreshed.stderr);
    await eventually(
      async () => {
        const resources = (await getApp(apps, 'web')).status?.resources ?? [];
        return resources.length > 0 && !resources.some((r) => r.name === 'b');
      },
      { what: 'the agent’s comparison without b', timeoutMs: 90_000 },
    );
    assert.ok(await kube.core.readNamespacedConfigMap({ namespace: apps, name: 'b' }), 'b is still live');

    // The server installed beside the agent: its namespace, its default inventory namespace.
    const { base } = await startTestServer(t.after.bind(t), {
      kubeconfig: await serverIdentity(admin, home),
      namespace: home,
      database: join(scratch, `${home}.db`),
      repositoryHosts: ['127.0.0.1'],
    });
    const headers = await adminHeaders(admin, base, home);
    const answer = await eventually(
      async () => {
        const response = await fetch(`${base}/api/v1/applications/${apps}/web/sync-candidates`, { headers });
        return response.status === 200 ? ((await response.json()) as { items: unknown[] }) : false;
      },
      { what: 'the sync candidates (the server’s watch cache has the Application)', timeoutMs: 60_000 },
    );
    const items = answer.items as { kind: string; namespace?: string; name: string; state: string }[];
    assert.deepEqual(
      items.map((c) => `${c.kind}/${c.namespace ?? ''}/${c.name} ${c.state}`),
      [`ConfigMap/${apps}/a desired`, `ConfigMap/${apps}/b departed`],
    );
  });
});
