// A hostile document through `capstan agent` (a process): a 5 MB file of `[[[[…` (under the 10 MiB
// file limit) is refused from its nesting, before any parser recurses into it, with a message naming
// the file, line and column; the Application is Stalled; and an Application beside it, polled every
// second by the same agent, keeps syncing new commits all along.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, type Application } from '../../src/contracts/application.ts';
import type { Condition } from '../../src/core/conditions.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { startAgentProcess } from '../../src/testing/agent-process.ts';
import {
  agentKubeconfig,
  freshNamespace,
  installApplicationCrd,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { gitSecretBody, startGitServer } from '../../src/testing/git.ts';

const git = await startGitServer(after);
let admin: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
let kubeconfig: string;

const LABEL_KEY = 'capstan.dev/test-agent';

before(async () => {
  const cluster = await testCluster();
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  kube = kubeClients(cluster.adminKubeconfig);
  appType = await installApplicationCrd(admin);
  kubeconfig = await agentKubeconfig(cluster);
});

after(() => {
  admin.close();
});

const configMap = (name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

function condition(app: Application, type: string): Condition | undefined {
  return app.status?.conditions?.find((c) => c.type === type);
}

describe('a deeply nested document through the agent', () => {
  it('is refused with the file named, while another Application keeps syncing', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const label = `hostile-${process.pid}-${namespace.slice(-6)}`;
    const repo = `hostile-${namespace}`;
    await git.createRepository(repo, {
      files: {
        'deep/deep.yaml': '['.repeat(5 * 1024 * 1024),
        'good/settings.yaml': configMap('settings', 'one'),
      },
      message: 'a 5 MB [[[[ document beside a good application',
    });
    await kube.core.createNamespacedSecret({ namespace, body: gitSecretBody(git) });
    const agent = await startAgentProcess(t.after.bind(t), { kubeconfig, selector: `${LABEL_KEY}=${label}` });
    // The waits below are for what the agent does: they start once it runs (loading it alone takes
    // tens of seconds on a loaded machine).
    await agent.started();
    const names = ['deep', 'good'];
    for (const name of names) {
      await admin.apply(
        appType,
        {
          apiVersion: APPLICATION_API_VERSION,
          kind: 'Application',
          metadata: { name, namespace, labels: { [LABEL_KEY]: label } },
          spec: {
            source: { repoURL: git.url(repo), path: name, insecureHttp: true, secretRef: { name: 'git' } },
            syncPolicy: { automated: { prune: true } },
            interval: '1s',
          },
        },
        { fieldManager: 'capstan-test' },
      );
    }
    t.after(async () => {
      for (const name of names) await admin.delete(appType, namespace, name).catch(() => undefined);
      await eventually(async () => (await admin.list(appType, namespace)).length === 0, {
        what: 'the Applications deleted',
        timeoutMs: 30_000,
      }).catch(async () => {
        // The agent stopped first and could not remove its finalizers: take them off.
        for (const name of names) {
          await admin.client
            .call('PATCH', `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/${name}`, {
              body: { metadata: { finalizers: null } },
              contentType: 'application/merge-patch+json',
            })
            .catch(() => undefined);
        }
      });
    });
    const getApp = async (name: string) =>
      (await admin.get(appType, namespace, name)) as unknown as Application;

    // The deep document: Stalled, the message names the file, line and column and says why.
    const stalled = await eventually(
      async () => {
        const c = condition(await getApp('deep'), 'Stalled');
        return c?.status === 'True' ? c : false;
      },
      { what: 'deep Stalled', timeoutMs: 60_000 },
    );
    assert.equal(stalled.reason, 'RenderTooDeep');
    assert.match(
      stalled.message,
      /^deep\/deep\.yaml:1:200: nests more than 200 levels deep; it was not parsed/,
    );
    await agent.waitForLog(
      (l) =>
        l['msg'] === 'stalled' && l['application'] === `${namespace}/deep` && l['code'] === 'RENDER_TOO_DEEP',
      { what: 'the agent to log the stall' },
    );

    // The good one beside it: synced, and it follows two new commits while the deep one stays refused.
    for (const value of ['two', 'three']) {
      const revision = await git.commit(repo, {
        files: { 'good/settings.yaml': configMap('settings', value) },
      });
      await eventually(
        async () => {
          const app = await getApp('good');
          const live = await kube.core.readNamespacedConfigMap({ name: 'settings', namespace });
          return app.status?.sync?.revision === revision && live.data?.['value'] === value;
        },
        { what: `good synced at the commit that sets ${value}`, timeoutMs: 30_000 },
      );
    }
    assert.equal(condition(await getApp('deep'), 'Stalled')?.status, 'True');
    assert.ok(agent.alive());
  });
});
