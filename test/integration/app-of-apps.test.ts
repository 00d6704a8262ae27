// An app of apps of Capstan Applications, as Argo CD users build them: a parent Application whose folder
// holds child Applications, each pointing at its own folder of the same repository. The real agent syncs
// the parent, which creates the children; it then syncs each child; `capstan diff` of the parent's folder
// finds nothing to change. A commit that removes a child from the folder prunes it, and its finalizer
// (capstan.dev/resources) has the agent delete what the child deployed first, but for an object marked
// with Argo CD's Delete=false.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, type Application } from '../../src/contracts/application.ts';
import { runAgent } from '../../src/main/agent.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { runCapstan } from '../../src/testing/cli.ts';
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
import { startGitServer } from '../../src/testing/git.ts';

const git = await startGitServer(after, { anonymousFetch: true });
const AGENT_LABEL = 'capstan.dev/test-agent';
const AGENT = `app-of-apps-${process.pid}`;
let admin: KubeCluster;
let adminKubeconfig: string;
let kube: KubeClients;
let applications: ResourceType;
const stop = new AbortController();
let agent: Promise<void> | undefined;

before(async () => {
  const cluster = await testCluster();
  adminKubeconfig = cluster.adminKubeconfig;
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: adminKubeconfig }));
  kube = kubeClients(adminKubeconfig);
  applications = await installApplicationCrd(admin);
  agent = runAgent(
    {
      kubeconfig: await agentKubeconfig(cluster),
      leaderElection: false,
      http: false, // no listener: ports 8080/8081 may be taken by another test file or program
      labelSelector: `${AGENT_LABEL}=${AGENT}`,
      repositoryHosts: ['127.0.0.1'],
      log: () => undefined,
    },
    stop.signal,
  );
});

after(async () => {
  // Its Applications carry the agent's finalizer: the agent stays until they are gone.
  await untilApplicationsGone(admin, applications, `${AGENT_LABEL}=${AGENT}`);
  stop.abort();
  await agent;
  admin.close();
});

/** A child Application as a user commits it: its own folder of the same repository, automated sync. */
function child(name: string, repoURL: string, finalizer: boolean): string {
  return `apiVersion: ${APPLICATION_API_VERSION}
kind: Application
metadata:
  name: ${name}
  labels:
    ${AGENT_LABEL}: ${AGENT}
${finalizer ? '  finalizers:\n    - capstan.dev/resources\n' : ''}spec:
  source:
    repoURL: ${repoURL}
    insecureHttp: true
    path: ${name}
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
`;
}

const configMap = (name: string, colour: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  colour: ${colour}\n`;

async function application(namespace: string, name: string): Promise<Application | undefined> {
  return (await admin.get(applications, namespace, name)) as unknown as Application | undefined;
}

/** Until the agent reports the Application Synced at `head` and Healthy. */
function syncedAt(namespace: string, name: string, head: string): Promise<Application> {
  return eventually(
    async () => {
      const app = await application(namespace, name);
      if (app === undefined) return false;
      const { sync, health } = app.status ?? {};
      return sync?.status === 'Synced' && sync.revision === head && health?.status === 'Healthy' && app;
    },
    {
      what: `Application ${namespace}/${name} Synced at ${head.slice(0, 12)} and Healthy`,
      timeoutMs: 180_000,
    },
  );
}

describe('an app of apps of Capstan Applications', () => {
  it('the parent creates the children, the agent syncs each, a child removed from Git is pruned with what it deployed (Delete=false kept)', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `app-of-apps-${namespace}`;
    const url = git.url(repo);
    const head = await git.createRepository(repo, {
      files: {
        'apps/frontend.yaml': child('frontend', url, false),
        'apps/settings.yaml': child('settings', url, true),
        'frontend/config.yaml': configMap('frontend', 'blue'),
        'settings/config.yaml': configMap('settings', 'green'),
        // Argo CD's Delete=false: kept when its Application is deleted (pruned while it stays).
        'settings/kept.yaml': configMap('kept', 'grey').replace(
          'metadata:\n',
          'metadata:\n  annotations:\n    argocd.argoproj.io/sync-options: Delete=false\n',
        ),
      },
    });
    await admin.apply(
      applications,
      {
        apiVersion: APPLICATION_API_VERSION,
        kind: 'Application',
        metadata: { name: 'apps', namespace, labels: { [AGENT_LABEL]: AGENT } },
        spec: {
          source: { repoURL: url, insecureHttp: true, path: 'apps' },
          syncPolicy: { automated: { prune: true, selfHeal: true } },
        },
      },
      { fieldManager: 'kubectl' },
    );

    // The parent Synced (its children are its resources), then each child at the same commit.
    const parent = await syncedAt(namespace, 'apps', head);
    assert.deepEqual((parent.status?.resources ?? []).map((r) => `${r.kind}/${r.name}`).sort(), [
      'Application/frontend',
      'Application/settings',
    ]);
    for (const name of ['frontend', 'settings']) await syncedAt(namespace, name, head);
    const colour = async (name: string) =>
      (await kube.core.readNamespacedConfigMap({ namespace, name })).data?.['colour'];
    assert.equal(await colour('frontend'), 'blue');
    assert.equal(await colour('settings'), 'green');

    // Push mode agrees with the agent about the parent's folder: nothing to change.
    const diff = await runCapstan([
      'diff',
      ...['--repo', url, '--insecure-http', '--path', 'apps'],
      ...['--app', `${namespace}/apps`, '--namespace', namespace, '--kubeconfig', adminKubeconfig],
    ]);
    assert.equal(diff.code, 0, diff.stdout + diff.stderr);

    // A commit that changes one child's folder and removes the other child from the parent's.
    const next = await git.commit(repo, {
      files: { 'frontend/config.yaml': configMap('frontend', 'red'), 'apps/settings.yaml': null },
      message: 'frontend red; settings retired',
    });
    const refresh = (name: string) =>
      admin.client.call('PATCH', `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/${name}`, {
        body: { metadata: { annotations: { 'capstan.dev/refresh': `${Date.now()}-${name}` } } },
        contentType: 'application/merge-patch+json',
      });
    await refresh('apps');
    await refresh('frontend');
    await syncedAt(namespace, 'frontend', next);
    assert.equal(await colour('frontend'), 'red');
    await syncedAt(namespace, 'apps', next);
    await eventually(async () => (await application(namespace, 'settings')) === undefined, {
      what: 'the child Application settings pruned',
      timeoutMs: 120_000,
    });
    // Its finalizer let the agent delete what it had deployed before it went, but for Delete=false.
    await assert.rejects(
      kube.core.readNamespacedConfigMap({ namespace, name: 'settings' }),
      /404|not ?found/i,
    );
    assert.equal(await colour('kept'), 'grey');
  });
});
