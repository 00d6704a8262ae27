// `capstan agent` (a process, leader election on) while the API server goes away and comes back, killed
// and then gracefully: the agent keeps running, leads again, and after each restart a new commit is
// applied, drift is corrected and a refresh request is answered. Restarts the API server: a fault test.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import {
  APPLICATION_API_VERSION,
  REQUEST_ANNOTATIONS,
  type Application,
} from '../../src/contracts/application.ts';
import type { LocalCluster } from '../../src/devcluster/cluster.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { startAgentProcess, type AgentProcess } from '../../src/testing/agent-process.ts';
import {
  installApplicationCrd,
  agentKubeconfig,
  freshNamespace,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { startGitServer, gitSecretBody } from '../../src/testing/git.ts';

const git = await startGitServer(after);
let cluster: LocalCluster;
let admin: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
let kubeconfig: string;

const LEASE_SECONDS = 3;
const LABEL_KEY = 'capstan.dev/test-agent';

before(async () => {
  cluster = await testCluster();
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  kube = kubeClients(cluster.adminKubeconfig);
  appType = await installApplicationCrd(admin);
  kubeconfig = await agentKubeconfig(cluster);
});

after(() => {
  admin.close();
});

const settings = (level: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: "${level}"\n`;

/** Starts the API server again, retrying while its port is still held by the stopped one. */
async function startApiServer(): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await cluster.startApiServer();
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'DEVCLUSTER_PORT_IN_USE' || attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

async function level(namespace: string): Promise<string | undefined> {
  return (await kube.core.readNamespacedConfigMap({ namespace, name: 'settings' })).data?.['level'];
}

async function getApp(namespace: string): Promise<Application> {
  return (await admin.get(appType, namespace, 'web')) as unknown as Application;
}

/** After a restart: the agent leads again, applies a new commit, corrects drift and answers a refresh. */
async function stillWorks(
  t: { diagnostic(message: string): void },
  agent: AgentProcess,
  namespace: string,
  repo: string,
  round: string,
): Promise<void> {
  const since = new Date();
  const leases = kube.config.makeApiClient(k8s.CoordinationV1Api);
  await eventually(
    async () => {
      const lease = await leases.readNamespacedLease({ namespace, name: 'capstan-restart' });
      const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime) : new Date(0);
      return lease.spec?.holderIdentity === agent.identity && renewed > since;
    },
    { what: `the agent to lead again (${round})`, timeoutMs: 60_000 },
  );
  t.diagnostic(`${round}: leading again ${Date.now() - since.getTime()} ms after the API server answered`);

  const revision = await git.commit(repo, { files: { 'app/settings.yaml': settings(round) } });
  await eventually(async () => (await level(namespace)) === round, {
    what: `the commit after the ${round} restart applied`,
    timeoutMs: 60_000,
  });
  t.diagnostic(
    `${round}: new commit applied ${Date.now() - since.getTime()} ms after the API server answered`,
  );
  await eventually(async () => (await getApp(namespace)).status?.sync?.revision === revision, {
    what: `the status at the new revision (${round})`,
    timeoutMs: 20_000,
  });

  await kube.core.patchNamespacedConfigMap({
    namespace,
    name: 'settings',
    body: [{ op: 'replace', path: '/data/level', value: 'hacked' }],
  });
  await eventually(async () => (await level(namespace)) === round, {
    what: `drift corrected after the ${round} restart`,
    timeoutMs: 30_000,
  });

  const request = `refresh-${round}`;
  await admin.client.call('PATCH', `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/web`, {
    body: { metadata: { annotations: { [REQUEST_ANNOTATIONS.refresh]: request } } },
    contentType: 'application/merge-patch+json',
  });
  await eventually(async () => (await getApp(namespace)).status?.handledRequests?.refresh === request, {
    what: `the refresh request answered after the ${round} restart`,
    timeoutMs: 30_000,
  });
  assert.ok(agent.alive(), `the agent still runs after the ${round} restart`);
}

describe('the agent across API server restarts', () => {
  it('keeps running, leads again, applies new commits, corrects drift and answers requests', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const label = `restart-${process.pid}-${namespace.slice(-6)}`;
    const repo = `restart-${namespace}`;
    await git.createRepository(repo, { files: { 'app/settings.yaml': settings('info') } });
    await kube.core.createNamespacedSecret({
      namespace,
      body: gitSecretBody(git),
    });
    const agent = await startAgentProcess(t.after.bind(t), {
      kubeconfig,
      selector: `${LABEL_KEY}=${label}`,
      lease: { namespace, name: 'capstan-restart', seconds: LEASE_SECONDS },
      // The agent's own namespace is not the test's: Applications may never deploy into the agent's.
      extraArgs: ['--namespace', 'capstan-system'],
    });
    await agent.waitForLog((l) => l['msg'] === 'leader' && l['identity'] === agent.identity, {
      what: 'the agent to lead',
    });
    await admin.apply(
      appType,
      {
        apiVersion: APPLICATION_API_VERSION,
        kind: 'Application',
        metadata: { name: 'web', namespace, labels: { [LABEL_KEY]: label } },
        spec: {
          source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
          syncPolicy: { automated: { prune: true, selfHeal: true } },
          interval: '2s',
        },
      },
      { fieldManager: 'capstan-test' },
    );
    t.after(async () => {
      // Let the namespace go even if the agent could not finalize the Application.
      await admin.client
        .call('PATCH', `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/web`, {
          body: { metadata: { finalizers: null } },
          contentType: 'application/merge-patch+json',
        })
        .catch(() => undefined);
    });
    await eventually(
      async () =>
        (await getApp(namespace)).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      { what: 'web Ready', timeoutMs: 60_000 },
    );

    // Killed: longer than the lease, so that the agent cannot renew and steps down.
    const warnings = agent.logs.length;
    await cluster.stopApiServer({ kill: true });
    try {
      await new Promise((resolve) => setTimeout(resolve, (LEASE_SECONDS + 3) * 1000));
      assert.ok(agent.alive(), 'the agent runs on while the API server is away');
      assert.ok(
        agent.logs.slice(warnings).some((l) => l['level'] === 'warn'),
        `the agent noticed: ${JSON.stringify(agent.logs.slice(warnings))}`,
      );
    } finally {
      await startApiServer();
    }
    await eventually(() => kube.core.listNode(), { what: 'the API server back', timeoutMs: 60_000 });
    await stillWorks(t, agent, namespace, repo, 'killed');

    // Graceful: the API server ends its watches as it stops.
    await cluster.stopApiServer({ kill: false });
    try {
      assert.ok(agent.alive());
    } finally {
      await startApiServer();
    }
    await eventually(() => kube.core.listNode(), { what: 'the API server back', timeoutMs: 60_000 });
    await stillWorks(t, agent, namespace, repo, 'graceful');

    // Deleting still prunes (the finalizer is handled by the running agent).
    await admin.delete(appType, namespace, 'web');
    await eventually(async () => (await admin.get(appType, namespace, 'web')) === undefined, {
      what: 'web deleted',
      timeoutMs: 30_000,
    });
    await assert.rejects(kube.core.readNamespacedConfigMap({ namespace, name: 'settings' }));
  });
});
