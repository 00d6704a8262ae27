// The agent deploys a chart straight from a Helm repository (spec.source.chart, as Argo CD's): a real HTTP
// chart repository (packaged and indexed by the real helm, Basic auth from the Secret the Application
// names). A new version in the range is picked up, the revision is `<version>@sha256:<digest>`, a
// rollback puts the earlier version back, and an archive that no longer matches its index is refused.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPOSITORY_CREDENTIALS_TYPE } from '../../src/adapters/git/secret-credentials.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, type Application } from '../../src/contracts/application.ts';
import { runAgent } from '../../src/main/agent.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { startChartServer, type ChartServer } from '../../src/testing/chart-repository.ts';
import {
  agentKubeconfig,
  freshNamespace,
  installApplicationCrd,
  untilApplicationsGone,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { fixture } from '../../src/testing/git.ts';

const charts = await startChartServer(after);
const tampered = await startChartServer(after);
const database = fixture('render', 'helm', 'repository', 'database');
let admin: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
const stop = new AbortController();
let agent: Promise<void> | undefined;
const AGENT_LABEL = `capstan.dev/test-agent=${process.pid}`;
const scratch = await mkdtemp(join(tmpdir(), 'capstan-chart-import-'));
after(() => rm(scratch, { recursive: true, force: true }));

before(async () => {
  const cluster = await testCluster();
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  kube = kubeClients(cluster.adminKubeconfig);
  appType = await installApplicationCrd(admin);
  await charts.publish([{ folder: database, version: '1.1.0' }]);
  agent = runAgent(
    {
      kubeconfig: await agentKubeconfig(cluster),
      leaderElection: false,
      labelSelector: AGENT_LABEL,
      repositoryHosts: ['127.0.0.1'], // the chart repositories are on loopback
      http: false,
      log: () => undefined,
    },
    stop.signal,
  );
});

after(async () => {
  await untilApplicationsGone(admin, appType, AGENT_LABEL);
  stop.abort();
  await agent;
  admin.close();
});

/** Application web of the chart 'database' in `repository` at `targetRevision`, synced automatically. */
async function createChartApp(
  namespace: string,
  repository: { readonly url: string },
  targetRevision: string,
  helm?: Record<string, unknown>,
): Promise<void> {
  await createApp(namespace, {
    source: {
      repoURL: repository.url,
      chart: 'database',
      targetRevision,
      insecureHttp: true,
      secretRef: { name: 'charts' },
      ...(helm === undefined ? {} : { helm }),
    },
    syncPolicy: { automated: {} },
    interval: '2s',
  });
}

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

async function credentialsSecret(namespace: string, server: ChartServer): Promise<void> {
  await kube.core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: 'charts' },
      type: REPOSITORY_CREDENTIALS_TYPE,
      stringData: { url: server.url, username: server.username, password: server.password },
    },
  });
}

async function getApp(namespace: string): Promise<Application> {
  return (await admin.get(appType, namespace, 'web')) as unknown as Application;
}

async function configMap(namespace: string): Promise<Record<string, string> | undefined> {
  return (await kube.core.readNamespacedConfigMap({ namespace, name: 'web-database' }).catch(() => undefined))
    ?.data;
}

describe('the agent with a chart of a Helm repository as its source', () => {
  it('syncs the newest version in the range, follows a new one, and rolls back to the earlier one', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await credentialsSecret(namespace, charts);
    await createChartApp(namespace, charts, '^1.0.0', { values: 'size: large\n' });
    const first = await eventually(
      async () => {
        const app = await getApp(namespace);
        return (await configMap(namespace)) && app.status?.sync?.revision?.startsWith('1.1.0@') ? app : false;
      },
      { what: 'version 1.1.0 synced', timeoutMs: 90_000 },
    );
    assert.deepEqual(await configMap(namespace), { chartVersion: '1.1.0', size: 'large' });
    assert.match(first.status?.sync?.revision ?? '', /^1\.1\.0@sha256:[0-9a-f]{64}$/);

    // 2. A new version is published: the range picks it up.
    await charts.publish([{ folder: database, version: '1.2.0' }]);
    const second = await eventually(
      async () => {
        const app = await getApp(namespace);
        return (await configMap(namespace))?.['chartVersion'] === '1.2.0' &&
          app.status?.sync?.revision?.startsWith('1.2.0@')
          ? app
          : false;
      },
      { what: 'version 1.2.0 synced', timeoutMs: 90_000 },
    );
    const revisions = (second.status?.history ?? []).map((h) => h.revision);
    assert.ok(revisions.some((r) => r.startsWith('1.1.0@')) && revisions.some((r) => r.startsWith('1.2.0@')));

    // 3. A rollback puts the earlier recorded version back, and holds it.
    const res = await admin.client.call(
      'PATCH',
      `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/web`,
      {
        body: { metadata: { annotations: { 'capstan.dev/rollback': 'r1' } } },
        contentType: 'application/merge-patch+json',
      },
    );
    assert.equal(res.status, 200);
    const held = await eventually(
      async () => {
        const app = await getApp(namespace);
        return app.status?.handledRequests?.rollback === 'r1' && app.status.hold ? app : false;
      },
      { what: 'rollback handled', timeoutMs: 60_000 },
    );
    assert.equal((await configMap(namespace))?.['chartVersion'], '1.1.0');
    assert.equal(held.status?.sync?.revision, first.status?.sync?.revision);
  });

  it("renders a chart without spec.source.helm under the Application's name, as the CLI and the server do", async (t) => {
    // Before one rule served all three, the agent released such a chart under the chart's name
    // (database-database) while `capstan app diff` and the server used the Application's (web-database).
    const namespace = await freshNamespace(t, kube);
    await credentialsSecret(namespace, charts);
    await createChartApp(namespace, charts, '1.1.0');
    const synced = await eventually(
      async () => {
        const app = await getApp(namespace);
        return app.status?.sync?.status === 'Synced' ? app : false;
      },
      { what: 'the chart synced', timeoutMs: 90_000 },
    );
    assert.deepEqual(
      (synced.status?.resources ?? []).map((r) => `${r.kind}/${r.name}`),
      ['ConfigMap/web-database'],
    );
    assert.equal((await configMap(namespace))?.['chartVersion'], '1.1.0');
  });

  it('refuses an archive whose digest is not the one its index gives, naming the chart', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await tampered.publish([{ folder: database, version: '2.0.0' }]);
    await tampered.tamper('database-2.0.0.tgz');
    await credentialsSecret(namespace, tampered);
    await createChartApp(namespace, tampered, '2.0.0');
    const message = await eventually(
      async () => {
        const app = await getApp(namespace);
        const condition = app.status?.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True');
        return condition?.message ?? false;
      },
      { what: 'Application web Stalled', timeoutMs: 90_000 },
    );
    assert.match(message, /chart database 2\.0\.0 from .* has the digest sha256:[0-9a-f]{64}, not sha256:/);
    assert.equal(await configMap(namespace), undefined);
  });

  it('syncs the Applications that capstan import made of an Argo CD chart Application and a Flux HelmRelease', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await credentialsSecret(namespace, charts);
    const argocd = join(scratch, `argocd-${namespace}.yaml`);
    await writeFile(
      argocd,
      [
        'apiVersion: argoproj.io/v1alpha1',
        'kind: Application',
        'metadata: {name: from-argocd, namespace: argocd}',
        'spec:',
        '  project: default',
        `  source: {repoURL: "${charts.url}", chart: database, targetRevision: 1.1.0, helm: {valuesObject: {size: medium}}}`,
        `  destination: {server: https://kubernetes.default.svc, namespace: ${namespace}}`,
        '  syncPolicy: {automated: {}}',
        '',
      ].join('\n'),
    );
    const flux = join(scratch, `flux-${namespace}.yaml`);
    await writeFile(
      flux,
      [
        'apiVersion: source.toolkit.fluxcd.io/v1',
        'kind: HelmRepository',
        'metadata: {name: charts, namespace: flux-system}',
        `spec: {url: "${charts.url}", interval: 2s, secretRef: {name: charts}}`,
        '---',
        'apiVersion: helm.toolkit.fluxcd.io/v2',
        'kind: HelmRelease',
        'metadata: {name: from-flux, namespace: flux-system}',
        'spec:',
        '  interval: 2s',
        '  chart: {spec: {chart: database, version: "1.x", sourceRef: {kind: HelmRepository, name: charts}}}',
        '  values: {size: tiny}',
        '',
      ].join('\n'),
    );
    const imported: Application[] = [];
    for (const [peer, file] of [
      ['argocd', argocd],
      ['flux', flux],
    ] as const) {
      const run = await runCapstan(['import', peer, file, '--namespace', namespace, '-o', 'json']);
      assert.equal(run.code, 0, run.stderr);
      imported.push(...(JSON.parse(run.stdout) as { items: Application[] }).items);
    }
    for (const app of imported) {
      // Argo CD keeps repository credentials in its own Secrets: the user names theirs (docs/import.md).
      const source = { ...app.spec.source, secretRef: { name: 'charts' } };
      await admin.apply(
        appType,
        {
          ...app,
          metadata: { ...app.metadata, labels: { 'capstan.dev/test-agent': String(process.pid) } },
          spec: { ...app.spec, source, interval: '2s' },
        },
        { fieldManager: 'capstan-test' },
      );
    }
    const versions = await eventually(
      async () => {
        const read = async (name: string) =>
          (await kube.core.readNamespacedConfigMap({ namespace, name }).catch(() => undefined))?.data;
        const argo = await read('from-argocd-database');
        const fluxData = await read(`${namespace}-from-flux-database`).then(
          async (data) => data ?? (await read('from-flux-database')),
        );
        return argo && fluxData ? { argo, flux: fluxData } : false;
      },
      { what: 'both imported Applications synced', timeoutMs: 90_000 },
    );
    assert.deepEqual(versions.argo, { chartVersion: '1.1.0', size: 'medium' });
    assert.equal(versions.flux['size'], 'tiny');
  });
});
