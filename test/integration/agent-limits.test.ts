// The render limits, through `capstan agent` (processes): a repository that renders more than 10,000
// objects is Stalled with a message naming the limit and the path, and recovers with a new commit; a
// render slower than --render-timeout is killed and reported with the time limit, and retried; the
// Applications beside them are synced and healthy all along.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, type Application } from '../../src/contracts/application.ts';
import type { Condition } from '../../src/core/conditions.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { startAgentProcess } from '../../src/testing/agent-process.ts';
import {
  installApplicationCrd,
  agentKubeconfig,
  freshNamespace,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { fixture, startGitServer, gitSecretBody } from '../../src/testing/git.ts';

const git = await startGitServer(after);
let admin: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
let kubeconfig: string;

const LABEL_KEY = 'capstan.dev/test-agent';
const FILES = 11;
const PER_FILE = 1_000;

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

const configMaps = (file: number, count: number) =>
  Array.from(
    { length: count },
    (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${file}-${i}\ndata:\n  i: "${i}"\n`,
  ).join('---\n');

async function getApp(namespace: string, name: string): Promise<Application> {
  return (await admin.get(appType, namespace, name)) as unknown as Application;
}

function condition(app: Application, type: string): Condition | undefined {
  return app.status?.conditions?.find((c) => c.type === type);
}

describe('render limits through the agent', () => {
  it('stalls a render of more than 10,000 objects, kills a slow render, and leaves the others alone', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const label = `limits-${process.pid}-${namespace.slice(-6)}`;
    const repo = `limits-${namespace}`;
    const slowChart = fixture('render', 'helm', 'slow');
    const files: Record<string, string> = {
      'small/settings.yaml': configMaps(0, 1),
      'quick/settings.yaml': configMaps(1, 1),
      'slow/Chart.yaml': await readFile(`${slowChart}/Chart.yaml`, 'utf8'),
      'slow/templates/configmap.yaml': await readFile(`${slowChart}/templates/configmap.yaml`, 'utf8'),
      // loops² iterations of an empty template: minutes of work, far beyond the time limit.
      'slow/values.yaml': 'loops: 50000\n',
    };
    for (let f = 0; f < FILES; f++)
      files[`huge/part-${String(f).padStart(2, '0')}.yaml`] = configMaps(f, PER_FILE);
    await git.createRepository(repo, {
      files,
      message: `${FILES * PER_FILE} objects, a slow chart, a small app`,
    });
    await kube.core.createNamespacedSecret({
      namespace,
      body: gitSecretBody(git),
    });
    // Two agents: one with the default limits (60 s, 5000 objects), one with a 2 s render time limit.
    const [agent, hasty] = await Promise.all([
      startAgentProcess(t.after.bind(t), { kubeconfig, selector: `${LABEL_KEY}=${label}-default` }),
      startAgentProcess(t.after.bind(t), {
        kubeconfig,
        selector: `${LABEL_KEY}=${label}-hasty`,
        extraArgs: ['--render-timeout', '2s'],
      }),
    ]);
    // The waits below are for what the agents do: they start once both agents run (loading them
    // alone takes tens of seconds on a loaded machine).
    await Promise.all([agent.started(), hasty.started()]);
    const apps = { small: 'default', huge: 'default', slow: 'hasty', quick: 'hasty' } as const;
    const names = Object.keys(apps) as (keyof typeof apps)[];
    for (const name of names) {
      await admin.apply(
        appType,
        {
          apiVersion: APPLICATION_API_VERSION,
          kind: 'Application',
          metadata: { name, namespace, labels: { [LABEL_KEY]: `${label}-${apps[name]}` } },
          spec: {
            source: { repoURL: git.url(repo), path: name, insecureHttp: true, secretRef: { name: 'git' } },
            syncPolicy: { automated: { prune: true } },
            interval: '2s',
          },
        },
        { fieldManager: 'capstan-test' },
      );
    }
    t.after(async () => {
      // Delete while the agent runs (it removes the finalizers); force them off if it could not.
      for (const name of names) await admin.delete(appType, namespace, name).catch(() => undefined);
      await eventually(async () => (await admin.list(appType, namespace)).length === 0, {
        what: 'the Applications deleted',
        timeoutMs: 30_000,
      }).catch(async () => {
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

    // Too many objects: terminal, Stalled, with the limit, the folder and the file where it was passed.
    const stalled = await eventually(
      async () => {
        const app = await getApp(namespace, 'huge');
        const c = condition(app, 'Stalled');
        if (c?.status !== 'True')
          throw new Error(`conditions: ${JSON.stringify(app.status?.conditions ?? [])}`);
        return { app, stalled: c };
      },
      { what: 'huge Stalled', timeoutMs: 60_000 },
    );
    assert.equal(stalled.stalled.reason, 'RenderTooManyObjects');
    assert.match(
      stalled.stalled.message,
      /^huge\/part-\d\d\.yaml: huge has more than 5000 objects; split the application or raise the limit$/,
    );
    assert.equal(condition(stalled.app, 'Ready')?.status, 'False');
    assert.equal(condition(stalled.app, 'Ready')?.message, stalled.stalled.message);
    assert.equal(
      condition(stalled.app, 'Reconciling')?.status,
      'False',
      'not retried until something changes',
    );
    assert.equal(stalled.app.status?.sync, undefined, 'nothing was synced');
    await agent.waitForLog(
      (l) =>
        l['msg'] === 'stalled' &&
        l['application'] === `${namespace}/huge` &&
        l['code'] === 'RENDER_TOO_MANY_OBJECTS',
      { what: 'the agent to log the stall' },
    );

    // Too slow: helm is killed at the render time limit (or the time ran out before it started, on a
    // loaded machine: the same message); the message names it; retried with backoff.
    const slow = await eventually(
      async () => {
        const c = condition(await getApp(namespace, 'slow'), 'Ready');
        return c?.status === 'False' && c.reason === 'Retrying' ? c : false;
      },
      { what: 'slow reported', timeoutMs: 60_000 },
    );
    assert.match(
      slow.message,
      /^rendering slow did not finish within 2000 ms( \(helm template slow was killed\))?; it may succeed on a retry, or raise the render time limit$/,
    );
    // Logged after the status is written: the status may be read before the line arrives.
    await hasty.waitForLog(
      (l) =>
        l['msg'] === 'reconcile failed; retrying with backoff' &&
        l['application'] === `${namespace}/slow` &&
        l['error'] === slow.message,
      { what: 'the hasty agent to log the failure of slow' },
    );

    // The small ones beside them, one on each agent: synced and healthy.
    for (const name of ['small', 'quick']) {
      await eventually(async () => condition(await getApp(namespace, name), 'Ready')?.status === 'True', {
        what: `${name} Ready`,
        timeoutMs: 60_000,
      });
    }
    const configMapNames = (await kube.core.listNamespacedConfigMap({ namespace })).items
      .map((c) => c.metadata?.name)
      .filter((n) => n !== 'kube-root-ca.crt');
    assert.deepEqual(configMapNames.sort(), ['cm-0-0', 'cm-1-0'], 'only the small ones applied anything');

    // A new commit that splits the huge application down to size: no longer Stalled, synced.
    const fixed: Record<string, string | null> = {};
    for (let f = 0; f < FILES; f++) fixed[`huge/part-${String(f).padStart(2, '0')}.yaml`] = null;
    fixed['huge/part-00.yaml'] = configMaps(100, 3);
    const revision = await git.commit(repo, { files: fixed, message: 'split the huge application' });
    const recovered = await eventually(
      async () => {
        const app = await getApp(namespace, 'huge');
        return condition(app, 'Ready')?.status === 'True' ? app : false;
      },
      { what: 'huge Ready after the new commit', timeoutMs: 60_000 },
    );
    assert.equal(recovered.status?.sync?.revision, revision);
    assert.equal(condition(recovered, 'Stalled')?.status, 'False');
    assert.equal(
      condition(await getApp(namespace, 'small'), 'Ready')?.status,
      'True',
      'small is still Ready',
    );
    assert.ok(agent.alive() && hasty.alive());
  });
});
