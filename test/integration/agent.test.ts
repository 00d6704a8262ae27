// The agent against the real API server and git server: an Application synced and healthy, commits
// applied through a refresh request and by polling, drift corrected, manifests pruned, rollback with a
// hold, dependsOn, and an invalid spec Stalled without affecting the others.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, type Application } from '../../src/contracts/application.ts';
import { runAgent } from '../../src/main/agent.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import {
  installApplicationCrd,
  agentKubeconfig,
  freshNamespace,
  untilApplicationsGone,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import { startGitServer, gitSecretBody } from '../../src/testing/git.ts';

const git = await startGitServer(after);
let admin: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
const stop = new AbortController();
let agent: Promise<void> | undefined;
const logs: Record<string, unknown>[] = [];
let address = '';
let adminKubeconfig = '';
const WEBHOOK_TOKEN = 'test-webhook-token';
// This file's agent reconciles only this file's Applications: other test files run beside it.
const AGENT_LABEL = `capstan.dev/test-agent=${process.pid}`;

const configMap = (name: string, data: Record<string, string>) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n${Object.entries(data)
    .map(([k, v]) => `  ${k}: "${v}"`)
    .join('\n')}\n`;

before(async () => {
  const cluster = await testCluster();
  adminKubeconfig = cluster.adminKubeconfig;
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  kube = kubeClients(cluster.adminKubeconfig);
  appType = await installApplicationCrd(admin);
  const kubeconfig = await agentKubeconfig(cluster);
  // The generic webhook's token, where the agent reads webhook secrets (its namespace).
  await kube.core
    .createNamespacedSecret({
      namespace: 'capstan-system',
      body: { metadata: { name: 'capstan-webhooks' }, stringData: { generic: WEBHOOK_TOKEN } },
    })
    .catch(() => undefined);
  agent = runAgent(
    {
      kubeconfig,
      leaderElection: false,
      concurrency: 4,
      labelSelector: AGENT_LABEL,
      repositoryHosts: ['127.0.0.1'], // the test git server is on loopback
      log: (line) => logs.push(line),
      http: { host: '127.0.0.1', ports: [0] },
      onListening: (addresses) => {
        address = addresses[0] ?? '';
      },
    },
    stop.signal,
  );
  agent.catch((error: unknown) => {
    logs.push({ level: 'fatal', error: String(error) });
  });
});

after(async () => {
  // The last test's namespace is being deleted: the agent stays until its Applications are gone.
  await untilApplicationsGone(admin, appType, `capstan.dev/test-agent=${String(process.pid)}`);
  stop.abort();
  await agent;
  admin.close();
});

async function createApp(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await admin.apply(
    appType,
    {
      apiVersion: APPLICATION_API_VERSION,
      kind: 'Application',
      metadata: { name, namespace, labels: { 'capstan.dev/test-agent': String(process.pid) } },
      spec,
    },
    { fieldManager: 'capstan-test' },
  );
}

async function getApp(namespace: string, name: string): Promise<Application> {
  return (await admin.get(appType, namespace, name)) as unknown as Application;
}

async function annotate(namespace: string, name: string, key: string, value: string): Promise<void> {
  const res = await admin.client.call(
    'PATCH',
    `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/${name}`,
    {
      body: { metadata: { annotations: { [key]: value } } },
      contentType: 'application/merge-patch+json',
    },
  );
  assert.equal(res.status, 200);
}

/** The Secret `git` an Application's secretRef names: the git server's user and password (or another). */
async function createGitSecret(namespace: string, password = git.password): Promise<void> {
  await kube.core.createNamespacedSecret({
    namespace,
    body: gitSecretBody(git, { password }),
  });
}

const ready = (app: Application) => app.status?.conditions?.find((c) => c.type === 'Ready');

/** Where the first null in a value is (a JSON path), or undefined when it holds none. */
function nullPath(value: unknown, path = '$'): string | undefined {
  if (value === null) return path;
  if (typeof value !== 'object') return undefined;
  for (const [key, item] of Object.entries(value)) {
    const found = nullPath(item, `${path}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

describe('the agent', () => {
  it('syncs an Application, follows commits (refresh request and polling), corrects drift and prunes', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `agent-${namespace}`;
    await git.createRepository(repo, {
      files: {
        'app/settings.yaml': configMap('settings', { level: 'info' }),
        'app/extra.yaml': configMap('extra', { a: '1' }),
      },
    });
    await createGitSecret(namespace);
    await createApp(namespace, 'web', {
      source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
      syncPolicy: { automated: { prune: true, selfHeal: true } },
      interval: '2s',
    });
    const synced = await eventually(
      async () => {
        const app = await getApp(namespace, 'web');
        return ready(app)?.status === 'True' ? app : false;
      },
      { what: 'Application web Ready', timeoutMs: 60_000 },
    );
    assert.equal(synced.status?.sync?.status, 'Synced');
    assert.equal(synced.status.health?.status, 'Healthy');
    assert.equal(synced.status.resources?.length, 2);
    assert.ok(synced.metadata.finalizers?.includes('capstan.dev/resources'));
    // No null in what the agent wrote: it remembers a version it validated only for an object without
    // one (ValidatedApplications), so a null here would have every poll validate the spec again.
    assert.equal(nullPath(synced), undefined);
    assert.equal(
      (await kube.core.readNamespacedConfigMap({ namespace, name: 'settings' })).data?.['level'],
      'info',
    );

    // A commit, then the webhook entrypoint: applied at once.
    await git.commit(repo, {
      files: { 'app/settings.yaml': configMap('settings', { level: 'debug' }) },
      message: 'debug logs',
    });
    const hook = await fetch(`${address}/api/v1/webhooks/generic`, {
      method: 'POST',
      headers: { authorization: `Bearer ${WEBHOOK_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ repoURL: git.url(repo), ref: 'refs/heads/main', paths: ['app/settings.yaml'] }),
    });
    assert.equal(hook.status, 200, await hook.clone().text());
    assert.deepEqual(((await hook.json()) as { applications: string[] }).applications, [`${namespace}/web`]);
    await eventually(
      async () =>
        (await kube.core.readNamespacedConfigMap({ namespace, name: 'settings' })).data?.['level'] ===
        'debug',
      { what: 'the refreshed commit applied', timeoutMs: 20_000 },
    );

    // Polling alone, within the interval.
    await git.commit(repo, {
      files: { 'app/settings.yaml': configMap('settings', { level: 'warn' }) },
      message: 'warn logs',
    });
    await eventually(
      async () =>
        (await kube.core.readNamespacedConfigMap({ namespace, name: 'settings' })).data?.['level'] === 'warn',
      { what: 'the polled commit applied', timeoutMs: 20_000 },
    );

    // Drift: an edit with kubectl is put back (selfHeal).
    await kube.core.patchNamespacedConfigMap({
      namespace,
      name: 'settings',
      body: [{ op: 'replace', path: '/data/level', value: 'hacked' }],
    });
    await eventually(
      async () =>
        (await kube.core.readNamespacedConfigMap({ namespace, name: 'settings' })).data?.['level'] === 'warn',
      { what: 'drift corrected', timeoutMs: 20_000 },
    );

    // A manifest removed: pruned.
    await git.commit(repo, { files: { 'app/extra.yaml': null }, message: 'drop extra' });
    await eventually(
      async () =>
        (await kube.core.listNamespacedConfigMap({ namespace })).items.every(
          (c) => c.metadata?.name !== 'extra',
        ),
      { what: 'extra pruned', timeoutMs: 20_000 },
    );

    const app = await getApp(namespace, 'web');
    assert.ok((app.status?.history?.length ?? 0) >= 3, 'each applied commit is in the history');
    const metrics = await (await fetch(`${address}/metrics`)).text();
    assert.match(metrics, /^capstan_sync_total\{result="Succeeded"\} [1-9]/m);
    assert.match(metrics, /^capstan_drift_corrections_total [1-9]/m);
    // A reconcile that finds nothing to do (every 2 s here) reads the Application from the agent's
    // watch, not from the API server.
    await eventually(
      async () =>
        /^capstan_application_reads_total\{source="watch"\} [1-9]/m.test(
          await (await fetch(`${address}/metrics`)).text(),
        ),
      { what: 'a read of the Application served from the watch', timeoutMs: 20_000 },
    );
    // And finds it valid without the schema: the version it polls is one it validated, or the one its
    // own status write made from it (ValidatedApplications). Nobody else writes the Application now, so
    // a commit found by polling, synced, and the polls after its status writes check nothing against
    // the schema.
    const validations = async () => {
      const text = await (await fetch(`${address}/metrics`)).text();
      const count = (by: string) =>
        Number(
          new RegExp(`^capstan_application_validations_total\\{by="${by}"\\} (\\d+)`, 'm').exec(text)?.[1],
        );
      return { schema: count('schema'), remembered: count('remembered') };
    };
    const idle = await validations();
    const quiet = await git.commit(repo, {
      files: { 'app/settings.yaml': configMap('settings', { level: 'warn' }) },
      message: 'quieter logs',
    });
    await eventually(async () => (await getApp(namespace, 'web')).status?.sync?.revision === quiet, {
      what: 'the commit synced by polling',
      timeoutMs: 30_000,
    });
    const synced2 = await validations();
    await eventually(async () => (await validations()).remembered >= synced2.remembered + 2, {
      what: 'two polls after the sync answered from a version remembered',
      timeoutMs: 30_000,
    });
    assert.equal((await validations()).schema, idle.schema);
    assert.equal((await fetch(`${address}/healthz`)).status, 200);
    assert.ok(
      app.status?.history?.every((h) => /^[0-9a-f]{40}$/.test(h.revision) && h.author === 'Capstan Test'),
    );
  });

  it('sees drift through watches, not the interval: corrected with selfHeal, OutOfSync without', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `drift-${namespace}`;
    const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 1
  selector:
    matchLabels: { app: api }
  template:
    metadata:
      labels: { app: api }
    spec:
      containers:
        - name: api
          image: registry.invalid/api:1.0.0
`;
    await git.createRepository(repo, {
      files: {
        'heal/settings.yaml': configMap('healed', { level: 'info' }),
        'heal/api.yaml': deployment,
        'watch/settings.yaml': configMap('watched', { level: 'info' }),
      },
    });
    await createGitSecret(namespace);
    const source = (path: string) => ({
      repoURL: git.url(repo),
      path,
      insecureHttp: true,
      secretRef: { name: 'git' },
    });
    // An hour: anything this test sees within seconds came from the watches, not from polling.
    await createApp(namespace, 'heal', {
      source: source('heal'),
      syncPolicy: { automated: { prune: true, selfHeal: true } },
      interval: '1h',
    });
    await createApp(namespace, 'watch', {
      source: source('watch'),
      syncPolicy: { automated: { prune: true } },
      interval: '1h',
    });
    for (const name of ['heal', 'watch']) {
      await eventually(async () => ready(await getApp(namespace, name))?.status === 'True', {
        what: `Application ${name} Ready`,
        timeoutMs: 60_000,
      });
    }

    // An edit with kubectl: put back at once and recorded as drift.
    await kube.core.patchNamespacedConfigMap({
      namespace,
      name: 'healed',
      body: [{ op: 'replace', path: '/data/level', value: 'hacked' }],
    });
    await eventually(
      async () =>
        (await kube.core.readNamespacedConfigMap({ namespace, name: 'healed' })).data?.['level'] === 'info',
      { what: 'the edited ConfigMap put back', timeoutMs: 15_000 },
    );
    // kubectl scale: the replicas put back.
    await kube.apps.patchNamespacedDeploymentScale({
      namespace,
      name: 'api',
      body: [{ op: 'replace', path: '/spec/replicas', value: 3 }],
    });
    await eventually(
      async () => (await kube.apps.readNamespacedDeployment({ namespace, name: 'api' })).spec?.replicas === 1,
      { what: 'the scaled Deployment put back', timeoutMs: 15_000 },
    );
    // Deleted by hand: created again.
    await kube.core.deleteNamespacedConfigMap({ namespace, name: 'healed' });
    await eventually(
      async () =>
        (await kube.core.readNamespacedConfigMap({ namespace, name: 'healed' }).catch(() => undefined))
          ?.data?.['level'] === 'info',
      { what: 'the deleted ConfigMap re-created', timeoutMs: 15_000 },
    );
    const events = await eventually(
      async () => {
        const list = await kube.core.listNamespacedEvent({ namespace });
        const drift = list.items.filter(
          (e) => e.reason === 'DriftCorrected' && e.involvedObject.name === 'heal',
        );
        return drift.length > 0 ? drift : false;
      },
      { what: 'a DriftCorrected event', timeoutMs: 10_000 },
    );
    assert.match(events.map((e) => e.message).join('\n'), /ConfigMap\/.*healed|Deployment\/.*api/);

    // Without selfHeal: left as it is, and reported OutOfSync at once.
    await kube.core.patchNamespacedConfigMap({
      namespace,
      name: 'watched',
      body: [{ op: 'replace', path: '/data/level', value: 'hacked' }],
    });
    await eventually(async () => (await getApp(namespace, 'watch')).status?.sync?.status === 'OutOfSync', {
      what: 'the unhealed drift reported OutOfSync',
      timeoutMs: 15_000,
    });
    assert.equal(
      (await kube.core.readNamespacedConfigMap({ namespace, name: 'watched' })).data?.['level'],
      'hacked',
    );

    const metrics = await (await fetch(`${address}/metrics`)).text();
    assert.match(metrics, /^capstan_resource_events_total\{reaction="changed"\} [1-9]/m);
    assert.match(metrics, /^capstan_resource_events_total\{reaction="deleted"\} [1-9]/m);
    assert.match(metrics, /^capstan_resource_watches [1-9]/m);
  });

  it('with prune off, keeps a manifest removed from Git and reports the Application OutOfSync', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `noprune-${namespace}`;
    await git.createRepository(repo, {
      files: { 'app/a.yaml': configMap('kept-a', { x: '1' }), 'app/b.yaml': configMap('kept-b', { x: '1' }) },
    });
    await createGitSecret(namespace);
    await createApp(namespace, 'noprune', {
      source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
      syncPolicy: { automated: { prune: false, selfHeal: true } },
      interval: '1h',
    });
    await eventually(async () => ready(await getApp(namespace, 'noprune'))?.status === 'True', {
      what: 'Application noprune Ready',
      timeoutMs: 60_000,
    });
    await git.commit(repo, { files: { 'app/b.yaml': null }, message: 'drop b' });
    await annotate(namespace, 'noprune', 'capstan.dev/refresh', String(Date.now()));
    const app = await eventually(
      async () => {
        const a = await getApp(namespace, 'noprune');
        return a.status?.sync?.status === 'OutOfSync' ? a : false;
      },
      { what: 'OutOfSync after a manifest left Git', timeoutMs: 20_000 },
    );
    assert.match(ready(app)?.message ?? '', /kept because prune is off: ConfigMap\/.*kept-b/);
    assert.equal(
      (await kube.core.readNamespacedConfigMap({ namespace, name: 'kept-b' })).data?.['x'],
      '1',
      'not pruned',
    );
  });

  it("keeps kustomize's warnings in the status, and an extraneous object marked IgnoreExtraneous keeps the Application Synced", async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `extraneous-${namespace}`;
    const kustomization = (files: string[]) =>
      `resources:\n${files.map((f) => `  - ${f}\n`).join('')}commonLabels:\n  team: shop\n`;
    await git.createRepository(repo, {
      files: {
        'app/kustomization.yaml': kustomization(['a.yaml', 'b.yaml']),
        'app/a.yaml': configMap('kept-a', { x: '1' }),
        'app/b.yaml': configMap('generated', { x: '1' }),
      },
    });
    await createGitSecret(namespace);
    await createApp(namespace, 'extraneous', {
      source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
      syncPolicy: { automated: { prune: false, selfHeal: true } },
      interval: '1h',
    });
    const first = await eventually(
      async () => {
        const a = await getApp(namespace, 'extraneous');
        return ready(a)?.status === 'True' ? a : false;
      },
      { what: 'Application extraneous Ready', timeoutMs: 60_000 },
    );
    assert.ok(
      first.status?.sync?.warnings?.some((w) =>
        /^kustomize build app: .*'commonLabels' is deprecated/.test(w),
      ),
      JSON.stringify(first.status?.sync),
    );
    // Marked on the live object, then left out of Git: kept (prune is off), and no difference.
    await kube.core.patchNamespacedConfigMap(
      {
        name: 'generated',
        namespace,
        body: { metadata: { annotations: { 'argocd.argoproj.io/compare-options': 'IgnoreExtraneous' } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await git.commit(repo, {
      files: { 'app/kustomization.yaml': kustomization(['a.yaml']), 'app/b.yaml': null },
      message: 'drop b',
    });
    await annotate(namespace, 'extraneous', 'capstan.dev/refresh', String(Date.now()));
    const app = await eventually(
      async () => {
        const a = await getApp(namespace, 'extraneous');
        return a.status?.sync?.revision !== first.status?.sync?.revision && ready(a)?.status === 'True'
          ? a
          : false;
      },
      { what: 'the new commit reconciled', timeoutMs: 30_000 },
    );
    assert.equal(app.status?.sync?.status, 'Synced', JSON.stringify(app.status));
    assert.equal(
      (await kube.core.readNamespacedConfigMap({ namespace, name: 'generated' })).data?.['x'],
      '1',
      'kept: prune is off',
    );
  });

  it('keeps everything when the git server is down, shows the source error, and recovers', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `outage-${namespace}`;
    await git.createRepository(repo, {
      files: { 'app/settings.yaml': configMap('settings', { up: 'yes' }) },
    });
    await createGitSecret(namespace);
    await createApp(namespace, 'outage', {
      source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
      syncPolicy: { automated: { prune: true, selfHeal: true } },
      interval: '2s',
    });
    await eventually(async () => ready(await getApp(namespace, 'outage'))?.status === 'True', {
      what: 'outage Ready',
      timeoutMs: 30_000,
    });
    await git.stop();
    try {
      const down = await eventually(
        async () => {
          const r = ready(await getApp(namespace, 'outage'));
          return r?.status === 'False' ? r : false;
        },
        { what: 'the source error shown', timeoutMs: 30_000 },
      );
      assert.match(down.message, /cannot reach the git server|connect/i);
      // Nothing was pruned while the source could not be read.
      assert.equal(
        (await kube.core.readNamespacedConfigMap({ namespace, name: 'settings' })).data?.['up'],
        'yes',
      );
    } finally {
      await git.listen();
    }
    await eventually(async () => ready(await getApp(namespace, 'outage'))?.status === 'True', {
      what: 'recovered after the git server came back',
      timeoutMs: 60_000,
    });
  });

  it('reads the credentials Secret again once the git server refused them', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `rotation-${namespace}`;
    await git.createRepository(repo, { files: { 'app/settings.yaml': configMap('rotated', { ok: 'yes' }) } });
    await createGitSecret(namespace, 'not-the-password');
    await createApp(namespace, 'rotation', {
      source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
      syncPolicy: { automated: { prune: true } },
      // Long: the fixed Secret is used because the refused one was forgotten, not because time passed.
      interval: '1h',
    });
    const refused = await eventually(
      async () => {
        const r = ready(await getApp(namespace, 'rotation'));
        return r?.status === 'False' ? r : false;
      },
      { what: 'the refused credentials shown', timeoutMs: 30_000 },
    );
    assert.match(refused.message, /refused access/);
    assert.doesNotMatch(refused.message, /not-the-password/);
    await kube.core.replaceNamespacedSecret({
      namespace,
      name: 'git',
      body: gitSecretBody(git),
    });
    await annotate(namespace, 'rotation', 'capstan.dev/refresh', String(Date.now()));
    await eventually(async () => ready(await getApp(namespace, 'rotation'))?.status === 'True', {
      what: 'synced with the new password, within seconds (the credentials cache keeps a Secret 60 s)',
      timeoutMs: 20_000,
    });
    assert.equal(
      (await kube.core.readNamespacedConfigMap({ namespace, name: 'rotated' })).data?.['ok'],
      'yes',
    );
  });

  it('rolls back to an earlier sync and holds there until a newer commit', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `rollback-${namespace}`;
    await git.createRepository(repo, {
      files: { 'app/settings.yaml': configMap('settings', { version: '1' }) },
    });
    await createApp(namespace, 'api', {
      source: {
        repoURL: `http://${git.username}@x`.length > 0 ? git.url(repo) : '',
        path: 'app',
        insecureHttp: true,
      },
      syncPolicy: { automated: { prune: true } },
      interval: '2s',
    });
    // No credentials given: the git server wants them, so this first attempt is Stalled with a clear reason.
    const stalled = await eventually(
      async () => {
        const app = await getApp(namespace, 'api');
        return app.status?.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True') ?? false;
      },
      { what: 'Stalled on authentication', timeoutMs: 30_000 },
    );
    assert.match(stalled.message, /auth|credential|401/i);
    await createGitSecret(namespace);
    await createApp(namespace, 'api', {
      source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
      syncPolicy: { automated: { prune: true } },
      interval: '2s',
    });
    await eventually(
      async () =>
        (await kube.core.readNamespacedConfigMap({ namespace, name: 'settings' })).data?.['version'] === '1',
      { what: 'version 1', timeoutMs: 30_000 },
    );
    const bad = await git.commit(repo, {
      files: { 'app/settings.yaml': configMap('settings', { version: '2-bad' }) },
    });
    await eventually(async () => (await getApp(namespace, 'api')).status?.sync?.revision === bad, {
      what: 'the bad commit synced',
      timeoutMs: 20_000,
    });

    await annotate(namespace, 'api', 'capstan.dev/rollback', `r1`);
    const held = await eventually(
      async () => {
        const app = await getApp(namespace, 'api');
        return app.status?.handledRequests?.rollback === 'r1' && app.status.hold ? app : false;
      },
      { what: 'rollback handled', timeoutMs: 20_000 },
    );
    assert.equal(
      (await kube.core.readNamespacedConfigMap({ namespace, name: 'settings' })).data?.['version'],
      '1',
    );
    assert.equal(held.status?.hold?.fromRevision, bad);
    // Polling does not undo the rollback while the bad commit is still the newest: the agent looks
    // (two more reconciles of it, each resolving the source) and leaves it.
    const looks = () =>
      logs.filter((l) => l['msg'] === 'reconciled' && l['application'] === `${namespace}/api`).length;
    const before = looks();
    await eventually(() => looks() >= before + 2, {
      what: 'two more looks at the held application',
      timeoutMs: 20_000,
    });
    assert.equal(
      (await kube.core.readNamespacedConfigMap({ namespace, name: 'settings' })).data?.['version'],
      '1',
    );

    await git.commit(repo, { files: { 'app/settings.yaml': configMap('settings', { version: '3' }) } });
    await eventually(
      async () =>
        (await kube.core.readNamespacedConfigMap({ namespace, name: 'settings' })).data?.['version'] === '3',
      { what: 'a newer commit releases the hold', timeoutMs: 20_000 },
    );
    // The status is written after the apply: wait for it.
    await eventually(async () => (await getApp(namespace, 'api')).status?.hold === undefined, {
      what: 'the hold released in the status',
      timeoutMs: 10_000,
    });
  });

  it('capstan app sync, rollback and release-hold: the CLI asks, this agent answers', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `cli-${namespace}`;
    const capstan = (...args: string[]) =>
      runCapstan(['app', ...args, '-n', namespace, '--kubeconfig', adminKubeconfig, '--timeout', '60s']);
    const level = async () =>
      (await kube.core.readNamespacedConfigMap({ namespace, name: 'settings' })).data?.['version'];
    await git.createRepository(repo, {
      files: { 'app/settings.yaml': configMap('settings', { version: '1' }) },
    });
    await createGitSecret(namespace);
    // Not automated: only the CLI's requests sync it.
    await createApp(namespace, 'cli', {
      source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
      interval: '2s',
    });

    const first = await capstan('sync', 'cli');
    assert.equal(first.code, 0, first.stderr);
    assert.equal(await level(), '1');
    await git.commit(repo, { files: { 'app/settings.yaml': configMap('settings', { version: '2' }) } });
    const second = await capstan('sync', 'cli');
    assert.equal(second.code, 0, second.stderr);
    assert.equal(await level(), '2');

    // The default target, chosen by the CLI and carried out by the agent with one rule: the last
    // successful sync of another revision than the current one.
    const back = await capstan('rollback', 'cli');
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /Rolled back application 'cli' to [0-9a-f]{12} \(history 1\)/);
    assert.equal(await level(), '1');
    assert.ok((await getApp(namespace, 'cli')).status?.hold, 'held on the rolled-back revision');

    const released = await capstan('release-hold', 'cli');
    assert.equal(released.code, 0, released.stderr);
    await eventually(async () => (await getApp(namespace, 'cli')).status?.hold === undefined, {
      what: 'the hold released in the status',
      timeoutMs: 20_000,
    });
    const none = await capstan('release-hold', 'cli');
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /holds no rollback: nothing to release/);
  });

  it('capstan app sync --prune: prunes in that one sync, though the spec does not; a plain sync keeps', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `prune-once-${namespace}`;
    const capstan = (...args: string[]) =>
      runCapstan(['app', ...args, '-n', namespace, '--kubeconfig', adminKubeconfig, '--timeout', '60s']);
    const exists = (name: string) =>
      kube.core.readNamespacedConfigMap({ namespace, name }).then(
        () => true,
        () => false,
      );
    await git.createRepository(repo, {
      files: { 'app/a.yaml': configMap('once-a', { x: '1' }), 'app/b.yaml': configMap('once-b', { x: '1' }) },
    });
    await createGitSecret(namespace);
    // Not automated, so no prune by the spec: only the request decides.
    await createApp(namespace, 'once', {
      source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
      interval: '1h',
    });
    const first = await capstan('sync', 'once');
    assert.equal(first.code, 0, first.stderr);
    assert.ok(await exists('once-b'));
    await git.commit(repo, { files: { 'app/b.yaml': null }, message: 'drop b' });
    const plain = await capstan('sync', 'once');
    assert.equal(plain.code, 0, plain.stderr);
    assert.ok(await exists('once-b'), 'a plain sync without automated prune keeps it');
    const pruning = await capstan('sync', 'once', '--prune');
    assert.equal(pruning.code, 0, pruning.stderr);
    assert.equal(await exists('once-b'), false, 'the sync asked to prune deleted it');
    assert.ok(await exists('once-a'));
    const handled = (await getApp(namespace, 'once')).status?.handledRequests?.sync ?? '';
    assert.match(handled, /^\d+;prune$/);
  });

  it('orders applications with dependsOn, and marks an invalid one Stalled without affecting others', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `deps-${namespace}`;
    await git.createRepository(repo, {
      files: { 'base/a.yaml': configMap('base', {}), 'top/b.yaml': configMap('top', {}) },
    });
    await createGitSecret(namespace);
    const source = (path: string) => ({
      repoURL: git.url(repo),
      path,
      insecureHttp: true,
      secretRef: { name: 'git' },
    });
    await createApp(namespace, 'self', {
      source: source('top'),
      dependsOn: [{ name: 'self' }],
      syncPolicy: { automated: {} },
    });
    await createApp(namespace, 'top', {
      source: source('top'),
      dependsOn: [{ name: 'base' }],
      syncPolicy: { automated: {} },
      interval: '2s',
    });
    const waiting = await eventually(
      async () => {
        const app = await getApp(namespace, 'top');
        const r = ready(app);
        return r?.reason === 'DependencyNotReady' ? r : false;
      },
      { what: 'top waits for base', timeoutMs: 30_000 },
    );
    assert.match(waiting.message, /Application\/.*\/base \(not found\)/);
    await createApp(namespace, 'base', {
      source: source('base'),
      syncPolicy: { automated: {} },
      interval: '2s',
    });
    await eventually(async () => ready(await getApp(namespace, 'top'))?.status === 'True', {
      what: 'top Ready after base',
      timeoutMs: 40_000,
    });
    const self = await getApp(namespace, 'self');
    const stalled = self.status?.conditions?.find((c) => c.type === 'Stalled');
    assert.equal(stalled?.status, 'True');
    assert.match(stalled.message, /itself/);
  });
});
