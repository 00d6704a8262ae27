// The agent renders a chart whose dependency comes from a real HTTP chart repository (packaged and
// indexed by the real helm, Basic auth), with the credentials of a typed repository Secret that the
// Application names in spec.source.helm.repositorySecretRefs; without it, the Application says why.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPOSITORY_CREDENTIALS_TYPE } from '../../src/adapters/git/secret-credentials.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, type Application } from '../../src/contracts/application.ts';
import { runAgent } from '../../src/main/agent.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { startChartServer } from '../../src/testing/chart-repository.ts';
import {
  agentKubeconfig,
  freshNamespace,
  installApplicationCrd,
  untilApplicationsGone,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { fixture, gitSecretBody, startGitServer } from '../../src/testing/git.ts';

const git = await startGitServer(after);
const charts = await startChartServer(after);
const database = fixture('render', 'helm', 'repository', 'database');
let admin: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
const stop = new AbortController();
let agent: Promise<void> | undefined;
const AGENT_LABEL = `capstan.dev/test-agent=${process.pid}`;

before(async () => {
  const cluster = await testCluster();
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  kube = kubeClients(cluster.adminKubeconfig);
  appType = await installApplicationCrd(admin);
  await charts.publish([
    { folder: database, version: '1.1.0' },
    { folder: database, version: '1.2.0' },
  ]);
  agent = runAgent(
    {
      kubeconfig: await agentKubeconfig(cluster),
      leaderElection: false,
      http: false, // no listener: ports 8080/8081 may be taken by another test file or program
      labelSelector: AGENT_LABEL,
      repositoryHosts: ['127.0.0.1'], // the git server and the chart repository are on loopback
      log: () => undefined,
    },
    stop.signal,
  );
});

after(async () => {
  // Its Applications carry the agent's finalizer: the agent stays until they are gone.
  await untilApplicationsGone(admin, appType, AGENT_LABEL);
  stop.abort();
  await agent;
  admin.close();
});

async function createApp(namespace: string, spec: Record<string, unknown>): Promise<void> {
  await admin.apply(
    appType,
    {
      apiVersion: APPLICATION_API_VERSION,
      kind: 'Application',
      metadata: { name: 'web', namespace, labels: { 'capstan.dev/test-agent': String(process.pid) } },
      spec,
    },
    { fieldManager: 'capstan-test' },
  );
}

/** A repository with `app/`, a chart that depends on `database` ^1.0.0 from the chart repository. */
async function chartRepository(name: string): Promise<void> {
  await git.createRepository(name, {
    files: {
      'app/Chart.yaml': `apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - name: database\n    version: ^1.0.0\n    repository: ${charts.url}\n`,
      'app/values.yaml': 'database:\n  size: medium\n',
      'app/templates/configmap.yaml': await readFile(join(database, 'templates', 'configmap.yaml'), 'utf8'),
    },
  });
}

describe('the agent with Helm repositories', () => {
  it('downloads a dependency with the credentials of the Secret the Application names', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `helm-repo-${namespace}`;
    await chartRepository(repo);
    await kube.core.createNamespacedSecret({ namespace, body: gitSecretBody(git) });
    await kube.core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 'charts' },
        type: REPOSITORY_CREDENTIALS_TYPE,
        stringData: { url: charts.url, username: charts.username, password: charts.password },
      },
    });
    await createApp(namespace, {
      source: {
        repoURL: git.url(repo),
        path: 'app',
        insecureHttp: true,
        secretRef: { name: 'git' },
        helm: { repositorySecretRefs: [{ name: 'charts' }] },
      },
      syncPolicy: { automated: {} },
      interval: '2s',
    });
    const data = await eventually(
      async () =>
        (await kube.core.readNamespacedConfigMap({ namespace, name: 'web-database' }).catch(() => undefined))
          ?.data ?? false,
      { what: 'ConfigMap web-database', timeoutMs: 90_000 },
    );
    // The newest 1.x, with the values of the chart in git.
    assert.deepEqual(data, { chartVersion: '1.2.0', size: 'medium' });
  });

  it('without the Secret, the Application is Stalled and says the repository refused it', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `helm-norepo-${namespace}`;
    await chartRepository(repo);
    await kube.core.createNamespacedSecret({ namespace, body: gitSecretBody(git) });
    await createApp(namespace, {
      source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
      syncPolicy: { automated: {} },
      interval: '2s',
    });
    const message = await eventually(
      async () => {
        const app = (await admin.get(appType, namespace, 'web')) as unknown as Application | undefined;
        const condition = app?.status?.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True');
        return condition?.message ?? false;
      },
      { what: 'Application web Stalled', timeoutMs: 90_000 },
    );
    assert.match(message, /index\.yaml refused access without credentials; give credentials bound to/);
  });
});
