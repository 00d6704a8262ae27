// Issue #4's acceptance: a monorepo of 50 Applications in one repository, one agent. A commit that touches
// one application's folder, refreshed for all 50 (as a push webhook that names no changed paths does),
// costs one git fetch and one render; the other 49 renders come from the cache. Read from /metrics.
// The refresh is the annotation the webhook receiver sets on each Application it matches, set here by the
// test: what is measured is the agent's work after it, not the receiver's.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, type Application } from '../../src/contracts/application.ts';
import { runAgent } from '../../src/main/agent.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import {
  installApplicationCrd,
  untilApplicationsGone,
  agentKubeconfig,
  freshNamespace,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { startGitServer, gitSecretBody } from '../../src/testing/git.ts';

const APPS = 50;
const CHANGED = 'app-07';
const names = Array.from({ length: APPS }, (_, i) => `app-${String(i + 1).padStart(2, '0')}`);
// This file's agent reconciles only this file's Applications.
const AGENT_LABEL = `capstan.dev/test-agent=monorepo-${process.pid}`;

const git = await startGitServer(after);
const cacheDir = await mkdtemp(join(tmpdir(), 'capstan-monorepo-cache-'));
after(() => rm(cacheDir, { recursive: true, force: true }));
let admin: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
const stop = new AbortController();
let agent: Promise<void> | undefined;
const logs: Record<string, unknown>[] = [];
let address = '';

const configMap = (name: string, version: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  version: "${version}"\n`;

before(async () => {
  const cluster = await testCluster();
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  kube = kubeClients(cluster.adminKubeconfig);
  appType = await installApplicationCrd(admin);
  const kubeconfig = await agentKubeconfig(cluster);
  agent = runAgent(
    {
      kubeconfig,
      leaderElection: false,
      // Eight at a time over 50 Applications: the shared fetch and renders are what is measured.
      concurrency: 8,
      labelSelector: AGENT_LABEL,
      repositoryHosts: ['127.0.0.1'], // the test git server is on loopback
      cacheDir,
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
  // Its Applications carry the agent's finalizer: the agent stays until they are gone.
  await untilApplicationsGone(admin, appType, AGENT_LABEL);
  stop.abort();
  await agent;
  admin.close();
});

/**
 * A GET to the agent on a connection of its own: the agent closes connections silent for 10 s (its
 * connectionTimeout), so a pooled connection is not reused across the waits of this test.
 */
function get(path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${address}${path}`, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of one sample of the agent's /metrics (0 when absent). */
async function metrics(): Promise<(name: string, labels?: string) => number> {
  const { status, text } = await get('/metrics');
  assert.equal(status, 200);
  return (name, labels) => {
    const prefix = labels === undefined ? `${name} ` : `${name}{${labels}} `;
    const line = text.split('\n').find((l) => l.startsWith(prefix));
    return line === undefined ? 0 : Number(line.slice(prefix.length));
  };
}

async function listApps(namespace: string): Promise<Application[]> {
  const res = await admin.client.call(
    'GET',
    `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications`,
  );
  assert.equal(res.status, 200);
  return (res.body as { items: Application[] }).items;
}

/** Fails with what is still missing: the Applications not yet at the revision, and the agent's last errors. */
async function allAt(
  namespace: string,
  revision: string,
  requestId?: string,
): Promise<Application[] | false> {
  const apps = await listApps(namespace);
  const behind = apps.filter(
    (app) =>
      app.status?.sync?.status !== 'Synced' ||
      app.status.sync.revision !== revision ||
      (requestId !== undefined && app.status.handledRequests?.refresh !== requestId),
  );
  if (apps.length === APPS && behind.length === 0) return apps;
  const errors = logs.filter((l) => l['level'] === 'error' || l['level'] === 'warn').slice(-3);
  throw new Error(
    `${APPS - behind.length}/${APPS} at ${revision.slice(0, 12)}; behind: ${behind
      .slice(0, 5)
      .map((a) => `${a.metadata.name} (${a.status?.sync?.status ?? 'no status'})`)
      .join(', ')}; last agent errors: ${JSON.stringify(errors)}`,
  );
}

describe('a monorepo of 50 Applications', () => {
  it('re-fetches once and re-renders only the Application whose folder a commit changed', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `monorepo-${namespace}`;

    // 1. One repository, a folder per Application, one ConfigMap each.
    const first = await git.createRepository(repo, {
      files: Object.fromEntries(names.map((name) => [`apps/${name}/configmap.yaml`, configMap(name, '1')])),
    });
    await kube.core.createNamespacedSecret({
      namespace,
      body: gitSecretBody(git),
    });
    const started = performance.now();
    await Promise.all(
      names.map((name) =>
        admin.apply(
          appType,
          {
            apiVersion: APPLICATION_API_VERSION,
            kind: 'Application',
            metadata: { name, namespace, labels: { 'capstan.dev/test-agent': `monorepo-${process.pid}` } },
            spec: {
              source: {
                repoURL: git.url(repo),
                path: `apps/${name}`,
                insecureHttp: true,
                secretRef: { name: 'git' },
              },
              syncPolicy: { automated: { prune: true } },
              // Long: nothing in this test comes from polling.
              interval: '1h',
            },
          },
          { fieldManager: 'capstan-test' },
        ),
      ),
    );

    // 2. All 50 Synced at the first commit.
    await eventually(() => allAt(namespace, first), {
      what: `all ${APPS} Applications Synced`,
      timeoutMs: 120_000,
      intervalMs: 250,
    });
    const initialMs = performance.now() - started;
    const before = await metrics();
    assert.ok(before('capstan_git_fetches_total', 'result="success"') >= 1, 'the first commit was fetched');
    assert.ok(before('capstan_render_cache_misses_total') >= APPS, 'each Application rendered once at first');

    // 3. A commit that changes one Application's folder, and a refresh of every Application of the
    //    repository, as a push webhook that names no changed paths asks.
    const second = await git.commit(repo, {
      files: { [`apps/${CHANGED}/configmap.yaml`]: configMap(CHANGED, '2') },
      message: `bump ${CHANGED}`,
    });
    const pushed = performance.now();
    const logsBefore = logs.length;
    const requestId = `${String(Date.now())}-push-${process.pid}`;
    await Promise.all(
      names.map(async (name) => {
        const res = await admin.client.call(
          'PATCH',
          `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/${name}`,
          {
            body: { metadata: { annotations: { 'capstan.dev/refresh': requestId } } },
            contentType: 'application/merge-patch+json',
          },
        );
        assert.equal(res.status, 200);
      }),
    );
    const refreshMs = performance.now() - pushed;

    // 4. The change applied, and every Application reconciled at the new commit.
    await eventually(
      async () =>
        (await kube.core.readNamespacedConfigMap({ namespace, name: CHANGED })).data?.['version'] === '2',
      { what: `${CHANGED}'s ConfigMap changed`, timeoutMs: 60_000, intervalMs: 100 },
    );
    await eventually(() => allAt(namespace, second, requestId), {
      what: `all ${APPS} Applications reconciled at the new commit`,
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    const convergedMs = performance.now() - pushed;
    const after = await metrics();
    const delta = (name: string, labels?: string) => after(name, labels) - before(name, labels);
    const reconcileMs = logs
      .slice(logsBefore)
      .filter((l) => l['msg'] === 'reconciled' && typeof l['ms'] === 'number')
      .map((l) => l['ms'] as number)
      .sort((a, b) => a - b);

    // 5. One fetch, one render, 49 renders from the cache.
    const measured = {
      fetches: delta('capstan_git_fetches_total', 'result="success"'),
      fetchErrors: delta('capstan_git_fetches_total', 'result="error"'),
      lsRemote: delta('capstan_git_ls_remote_total'),
      renderMisses: delta('capstan_render_cache_misses_total'),
      renderHits: delta('capstan_render_cache_hits_total'),
      initialSyncMs: Math.round(initialMs),
      refreshMs: Math.round(refreshMs),
      commitToAllReconciledMs: Math.round(convergedMs),
      reconcileMsMedian: reconcileMs[Math.floor(reconcileMs.length / 2)] ?? 0,
      reconcileMsMax: reconcileMs.at(-1) ?? 0,
    };
    t.diagnostic(JSON.stringify(measured));
    assert.equal(measured.fetches, 1, 'one git fetch for the new commit');
    assert.equal(measured.fetchErrors, 0);
    assert.equal(measured.renderMisses, 1, `one render: ${CHANGED}`);
    assert.equal(measured.renderHits, APPS - 1, 'the other 49 from the cache');
    // The other Applications' objects are untouched.
    const other = await kube.core.readNamespacedConfigMap({ namespace, name: 'app-08' });
    assert.equal(other.data?.['version'], '1');
  });
});
