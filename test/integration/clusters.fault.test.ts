// One agent, two real clusters: a second local control plane started with `capstan dev-cluster up`,
// registered with `capstan cluster add`; one Application deploys in-cluster, the other to the second
// cluster, each object only where it belongs. The second cluster is stopped at the end.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, type Application } from '../../src/contracts/application.ts';
import { runAgent } from '../../src/main/agent.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import {
  installApplicationCrd,
  openProject,
  agentKubeconfig,
  freshNamespace,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { startGitServer } from '../../src/testing/git.ts';

const git = await startGitServer(after);
const SECOND = `mc-${randomBytes(3).toString('hex')}`;
const AGENT_LABEL = `capstan.dev/test-agent=${process.pid}-multicluster`;
const stop = new AbortController();
const logs: Record<string, unknown>[] = [];
let agent: Promise<void> | undefined;
let admin: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
let stateDir = '';
let agentNamespace = '';

const capstan = (...args: string[]) => runCapstan(args, { CAPSTAN_STATE_DIR: stateDir });
const configMap = (name: string, where: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  where: "${where}"\n`;

before(async () => {
  const cluster = await testCluster();
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  kube = kubeClients(cluster.adminKubeconfig);
  stateDir = await mkdtemp(join(tmpdir(), 'capstan-mc-state-'));
  appType = await installApplicationCrd(admin);
  agentNamespace = `t-mc-agent-${randomBytes(3).toString('hex')}`;
  await kube.core.createNamespace({ body: { metadata: { name: agentNamespace } } });
  agent = runAgent(
    {
      kubeconfig: await agentKubeconfig(cluster),
      namespace: agentNamespace,
      leaderElection: false,
      labelSelector: AGENT_LABEL,
      http: false,
      log: (line) => logs.push(line),
    },
    stop.signal,
  );
  agent.catch((error: unknown) => {
    logs.push({ level: 'fatal', error: String(error) });
  });
});

after(async () => {
  stop.abort();
  await agent;
  const down = await capstan('dev-cluster', 'down', '--name', SECOND);
  assert.equal(down.code, 0, down.stderr);
  admin.close();
  await kube.core.deleteNamespace({ name: agentNamespace }).catch(() => undefined);
  await rm(stateDir, { recursive: true, force: true });
});

/** An Application in a project that lets it reach the other clusters and namespaces these tests use. */
async function createApp(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const project = await openProject(admin, namespace);
  await admin.apply(
    appType,
    {
      apiVersion: APPLICATION_API_VERSION,
      kind: 'Application',
      metadata: { name, namespace, labels: { 'capstan.dev/test-agent': `${process.pid}-multicluster` } },
      spec: { project, ...spec },
    },
    { fieldManager: 'capstan-test' },
  );
}

function synced(namespace: string, name: string): Promise<Application> {
  return eventually(
    async () => {
      const app = (await admin.get(appType, namespace, name)) as Application | undefined;
      const ready = app?.status?.conditions?.find((c) => c.type === 'Ready');
      if (!app || ready?.status !== 'True')
        throw new Error(`conditions: ${JSON.stringify(app?.status?.conditions ?? [])}`);
      return app;
    },
    { what: `Application ${namespace}/${name} Ready`, timeoutMs: 90_000 },
  );
}

describe('one agent, two clusters', () => {
  it('syncs one Application into each cluster, registered with capstan cluster add', async (t) => {
    // 1. A second, real control plane.
    const up = await capstan('dev-cluster', 'up', '--name', SECOND, '-o', 'json');
    assert.equal(up.code, 0, up.stderr);
    const second = JSON.parse(up.stdout) as { server: string; kubeconfig: string };
    const first = await testCluster();
    assert.notEqual(second.server, first.server);
    const remote = kubeClients(second.kubeconfig);

    // 2. Registered in the agent's namespace (its admin kubeconfig: client certificates, inlined).
    const added = await capstan(
      'cluster',
      'add',
      SECOND,
      '--kubeconfig',
      second.kubeconfig,
      '--namespace',
      agentNamespace,
      '--agent-kubeconfig',
      first.adminKubeconfig,
    );
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, new RegExp(`^cluster/${SECOND} created`));
    const listed = await capstan(
      'cluster',
      'list',
      '-n',
      agentNamespace,
      '--kubeconfig',
      first.adminKubeconfig,
    );
    assert.match(
      listed.stdout,
      new RegExp(`${SECOND}\\s+${second.server.replace(/\./g, '\\.')}\\s+client-certificate`),
    );

    // 3. The same source, one Application per cluster.
    const apps = await freshNamespace(t, kube);
    const target = `mc-${randomBytes(3).toString('hex')}`;
    await kube.core.createNamespacedSecret({
      namespace: apps,
      body: { metadata: { name: 'git' }, stringData: { username: git.username, password: git.password } },
    });
    for (const where of ['home', 'away']) {
      await git.createRepository(`mc-${where}-${apps}`, {
        files: { 'app/cm.yaml': configMap(`cm-${where}`, where) },
      });
    }
    const spec = (where: string, cluster: string) => ({
      source: {
        repoURL: git.url(`mc-${where}-${apps}`),
        path: 'app',
        insecureHttp: true,
        secretRef: { name: 'git' },
      },
      destination: { cluster, namespace: target },
      syncPolicy: { automated: { prune: true }, syncOptions: ['CreateNamespace=true'] },
      interval: '2s',
    });
    await createApp(apps, 'home', spec('home', 'in-cluster'));
    await createApp(apps, 'away', spec('away', SECOND));
    const [home, away] = await Promise.all([synced(apps, 'home'), synced(apps, 'away')]);
    assert.equal(home.status?.health?.status, 'Healthy');
    assert.equal(away.status?.health?.status, 'Healthy');

    // 4. Each object only in its own cluster.
    const where = async (clients: KubeClients, name: string) =>
      (await clients.core.readNamespacedConfigMap({ namespace: target, name }).catch(() => undefined))
        ?.data?.['where'];
    assert.equal(await where(kube, 'cm-home'), 'home');
    assert.equal(await where(kube, 'cm-away'), undefined);
    assert.equal(await where(remote, 'cm-away'), 'away');
    assert.equal(await where(remote, 'cm-home'), undefined);

    // 5. Deleting the remote Application prunes in the second cluster.
    await admin.delete(appType, apps, 'away');
    await eventually(async () => (await where(remote, 'cm-away')) === undefined, {
      what: 'cm-away pruned in the second cluster',
      timeoutMs: 60_000,
    });
    await admin.delete(appType, apps, 'home');
    await eventually(async () => (await admin.get(appType, apps, 'home')) === undefined, {
      what: 'Application home deleted',
      timeoutMs: 60_000,
    });
    await kube.core.deleteNamespace({ name: target }).catch(() => undefined);
  });
});
