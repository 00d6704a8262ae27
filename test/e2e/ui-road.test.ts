// The web UI's pages beyond the application itself, in a real headless Chromium against the real
// server, agent, cluster and git: the login page offers single sign-on when the server has an OpenID
// provider (a real one, oidc-provider) and its button starts the redirect there; an application's
// Deployment shows its ReplicaSet and Pod in the tree (made by the real controllers, on a kwok node),
// and the Pod's Logs tab says why there is no log; the pipeline runs list with its filters, a run with
// its steps and images, and its log followed live to its end; a viewer sees Cancel and Re-run disabled
// with the reason and the API refuses; the clusters page shows the connection and Kubernetes version.
// The run records are written to the server's Store by the test as the pipeline controller writes
// them (a real run needs a real node: the node tier covers that).
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { SSO_CALLBACK_PATH } from '../../src/api/server/sso.ts';
import { APPLICATION_API_VERSION, APPLICATION_KIND } from '../../src/contracts/application.ts';
import { OIDC_SECRET_KEY } from '../../src/main/server-sso.ts';
import type { RunRecord, Store } from '../../src/ports/store.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { startOidcProvider, type TestOidcProvider } from '../../src/testing/oidc-provider.ts';
import { accessibilityProblems, e2eFixture, logIn, screenshot, type RunningServer } from './support.ts';

const LABEL_KEY = 'capstan.dev/test-e2e';
const VIEWER = { name: 'viewer', password: 'viewer-password-e2e-2' };
const CLIENT_SECRET = 'e2e-oidc-client-secret';
const DEPLOYMENT = [
  'apiVersion: apps/v1',
  'kind: Deployment',
  'metadata:',
  '  name: web',
  'spec:',
  '  replicas: 1',
  '  selector: {matchLabels: {app: web}}',
  '  template:',
  '    metadata: {labels: {app: web}}',
  '    spec:',
  `      containers: [{name: web, image: "registry.example/web@sha256:${'a'.repeat(64)}"}]`,
  '',
].join('\n');

const e2e = e2eFixture({ name: 'e2e road', viewer: VIEWER, labelKey: LABEL_KEY });
let server: RunningServer;
let provider: TestOidcProvider;
let store: Store;
let namespace = '';
let project = '';

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    probe.close(() => {
      resolve();
    }),
  );
  return port;
}

const run = (id: string, phase: RunRecord['phase'], queuedAt: string): RunRecord => ({
  id,
  namespace,
  pipeline: 'build-web',
  project,
  revision: 'c0ffee'.padEnd(40, '0'),
  branch: 'main',
  author: 'Ada <ada@example.com>',
  commitMessage: 'web: a faster start',
  trigger: 'push',
  triggeredBy: 'webhook',
  phase,
  queuedAt,
  startedAt: queuedAt,
  ...(phase === 'Succeeded' ? { finishedAt: queuedAt } : {}),
  steps: [
    { name: 'test', phase: 'Succeeded', exitCode: 0 },
    { name: 'image', phase: phase === 'Succeeded' ? 'Succeeded' : 'Running' },
  ],
  images:
    phase === 'Succeeded'
      ? [
          {
            step: 'image',
            reference: `registry.example/web@sha256:${'a'.repeat(64)}`,
            digest: `sha256:${'a'.repeat(64)}`,
            tags: ['main-c0ffee0'],
          },
        ]
      : [],
});

before(async () => {
  const set = await e2e.setUp();
  const { admin, git, kube, types } = set;
  ({ namespace, project } = set);
  const repo = `e2e-${namespace}`;
  await git.createRepository(repo, { files: { 'app/web.yaml': DEPLOYMENT }, message: 'web' });
  await kube.core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: 'oidc' }, stringData: { [OIDC_SECRET_KEY]: CLIENT_SECRET } },
  });
  await e2e.startAgent();
  await admin.apply(
    types.application,
    {
      apiVersion: APPLICATION_API_VERSION,
      kind: APPLICATION_KIND,
      metadata: { name: 'web', namespace, labels: { [LABEL_KEY]: e2e.label() } },
      spec: {
        project,
        source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
        interval: '1s',
      },
    },
    { fieldManager: 'capstan-test' },
  );
  e2e.later(async () => {
    await admin.delete(types.application, namespace, 'web').catch(() => undefined);
    await admin.client
      .call('PATCH', `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/web`, {
        body: { metadata: { finalizers: null } },
        contentType: 'application/merge-patch+json',
      })
      .catch(() => undefined);
  });
  const port = await freePort();
  const base = `http://127.0.0.1:${String(port)}`;
  provider = await startOidcProvider(
    {
      clientId: 'capstan',
      clientSecret: CLIENT_SECRET,
      redirectUris: [`${base}${SSO_CALLBACK_PATH}`],
      users: { wendy: { groups: [] } },
    },
    e2e.later,
  );
  server = await e2e.startServer({
    port,
    oidc: {
      issuer: provider.issuer,
      clientId: 'capstan',
      clientSecretSecret: 'oidc',
      publicUrl: base,
      allowHttpIssuer: true,
    },
  });
  // The server's own Store: the runs as the pipeline controller records them.
  store = e2e.store();
  await store.runs.create(run('r-done', 'Succeeded', '2026-03-01T10:00:00.000Z'));
  await store.runs.appendLogs('r-done', [
    { step: 'test', time: '2026-03-01T10:00:01.000Z', line: 'ok 1 - web starts' },
    { step: 'image', time: '2026-03-01T10:00:02.000Z', line: 'pushed main-c0ffee0' },
  ]);
  await store.runs.create(run('r-live', 'Running', '2026-03-01T11:00:00.000Z'));
  await store.runs.appendLogs('r-live', [
    { step: 'test', time: '2026-03-01T11:00:01.000Z', line: 'ok 1 - web starts' },
  ]);
});

const textOf = async (page: Page, selector: string) => (await page.locator(selector).textContent()) ?? '';

describe('the web UI in a real browser: single sign-on, Pods, pipeline runs, clusters', () => {
  let page: Page;

  it('offers single sign-on on the login page when the server has a provider, and starts its redirect', async () => {
    ({ page } = await e2e.newPage());
    await page.goto(`${server.url}/applications`);
    const sso = page.getByRole('link', { name: 'Log in with single sign-on' });
    await sso.waitFor();
    assert.match(await textOf(page, '.sso'), new RegExp(provider.issuer.replace(/[.]/g, '\\.')));
    assert.deepEqual(await accessibilityProblems(page), [], 'login page with single sign-on');
    const toProvider = page.waitForRequest((request) => request.url().startsWith(provider.issuer));
    await sso.click();
    const authorize = new URL((await toProvider).url());
    assert.equal(authorize.searchParams.get('client_id'), 'capstan');
    assert.equal(authorize.searchParams.get('redirect_uri'), `${server.url}${SSO_CALLBACK_PATH}`);
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
  });

  it("shows the Deployment's ReplicaSet and Pod in the tree, and why the Pod on a kwok node has no log", async () => {
    ({ page } = await e2e.newPage());
    await logIn(page, server.url, 'admin', server.adminPassword);
    await page.goto(`${server.url}/applications/${namespace}/web`);
    await page.getByRole('heading', { name: 'web', level: 1 }).waitFor();
    await eventually(
      async () =>
        (await page.locator('#sync').isEnabled()) && (await page.locator('.graph-node').count()) >= 2,
      {
        what: 'the application read with its Deployment',
        timeoutMs: 60_000,
      },
    );
    await page.locator('#sync').click();
    const syncDialog = page.getByRole('dialog');
    await syncDialog.getByRole('button', { name: 'Sync', exact: true }).click();
    await syncDialog.waitFor({ state: 'detached' });
    const podRow = page.getByRole('button', { name: new RegExp(`^Pod/${namespace}/web-`) });
    await eventually(async () => (await podRow.count()) === 1, {
      what: 'the Pod in the resource list (Deployment → ReplicaSet → Pod)',
      timeoutMs: 90_000,
    });
    const rows = (await page.locator('.resource-table tbody tr').allTextContents()).join('\n');
    assert.match(rows, new RegExp(`ReplicaSet/${namespace}/web-`));
    await eventually(async () => (await page.locator('.graph-node', { hasText: 'Pod' }).count()) >= 1, {
      what: 'the Pod in the graph (laid out after the table shows it)',
    });
    await podRow.click();
    const dialog = page.getByRole('dialog');
    assert.deepEqual(await dialog.getByRole('tab').allTextContents(), ['Logs']);
    await eventually(
      async () => {
        const text = (await dialog.textContent()) ?? '';
        if (text.includes('is not a real node')) return true;
        if (text.includes('Try again')) await dialog.getByRole('button', { name: 'Try again' }).click();
        return false;
      },
      { what: 'the Pod scheduled on a kwok node, and the log refused with the reason', timeoutMs: 60_000 },
    );
    assert.match((await dialog.getByRole('alert').textContent()) ?? '', /POD_NOT_ON_REAL_NODE/);
    assert.equal(await dialog.getByRole('button', { name: 'Follow' }).isDisabled(), true);
    await screenshot(page, 'pod-logs');
    assert.deepEqual(await accessibilityProblems(page), [], 'the Pod dialog');
    await dialog.getByRole('button', { name: 'Close' }).click();
    // The trace: the image its Pod runs, joined by digest to the run that built it and its code commit.
    await page.getByRole('tab', { name: 'Trace' }).click();
    const built = page.locator('table.trace-images tr', { hasText: 'registry.example/web@sha256:' });
    await built.getByRole('link', { name: /build-web r-done/ }).waitFor();
    assert.match((await built.textContent()) ?? '', /c0ffee000000 main/);
    assert.match((await page.locator('ol.trace-syncs').textContent()) ?? '', /Succeeded/);
    await screenshot(page, 'trace');
    assert.deepEqual(await accessibilityProblems(page), [], 'the trace tab');
  });

  it("lists the pipeline runs with the server's filters, and follows a running run's log to its end", async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Pipeline runs' }).click();
    await page.getByRole('heading', { name: 'Pipeline runs', level: 1 }).waitFor();
    const table = page.locator('table.runs');
    await table.waitFor();
    assert.deepEqual(await table.locator('tbody tr td:first-child').allTextContents(), ['r-live', 'r-done']);
    await screenshot(page, 'runs');
    await page.getByLabel('Phase').selectOption('Succeeded');
    await page.getByRole('button', { name: 'Filter' }).click();
    await eventually(async () => (await table.locator('tbody tr').count()) === 1, {
      what: 'only the run that succeeded',
    });
    assert.match(page.url(), /[?&]phase=Succeeded/);
    assert.deepEqual(await accessibilityProblems(page), [], 'runs page');

    await page.goto(`${server.url}/runs/r-live`);
    await page.getByRole('heading', { name: 'Run r-live' }).waitFor();
    const log = page.locator('pre[aria-label="Run log"]');
    await eventually(async () => ((await log.textContent()) ?? '').includes('[test] ok 1 - web starts'), {
      what: 'the log so far',
    });
    assert.match(await textOf(page, 'table.steps'), /image\s*Running/);
    // The run goes on while the page is open: its new lines and its end arrive without a reload.
    await store.runs.appendLogs('r-live', [
      { step: 'image', time: '2026-03-01T11:00:05.000Z', line: 'building layer 1/2' },
    ]);
    await eventually(async () => ((await log.textContent()) ?? '').includes('[image] building layer 1/2'), {
      what: 'a new line, live',
    });
    await store.runs.update('r-live', { phase: 'Succeeded', finishedAt: '2026-03-01T11:01:00.000Z' });
    await page.getByText('The run ended; this is its whole log.').waitFor();
    await eventually(
      async () =>
        (await page.locator('.facts [data-phase]').first().getAttribute('data-phase')) === 'Succeeded',
      {
        what: 'the run read again at its end',
      },
    );
    assert.equal(await page.locator('#cancel').isDisabled(), true, 'an ended run has nothing to cancel');
    await page.goto(`${server.url}/runs/r-done`);
    await page
      .locator('ul.images')
      .getByText(`sha256:${'a'.repeat(64)}`)
      .waitFor();
    await screenshot(page, 'run');
    assert.deepEqual(await accessibilityProblems(page), [], 'run page');
  });

  it('a viewer sees Cancel and Re-run disabled with the reason, and the API refuses a re-run', async () => {
    const { page: viewer } = await e2e.newPage();
    await logIn(viewer, server.url, VIEWER.name, VIEWER.password);
    await viewer.goto(`${server.url}/runs/r-done`);
    const rerun = viewer.locator('#rerun');
    await rerun.waitFor();
    assert.equal(await rerun.isDisabled(), true);
    assert.match(
      (await viewer.locator('#rerun-reason').textContent()) ?? '',
      /Running pipelines needs the role .*deployer.* in project .*; your role there is viewer\./,
    );
    const answer = await viewer.evaluate(async () => {
      const session = (await (await fetch('/api/v1/session')).json()) as { csrfToken: string };
      const response = await fetch('/api/v1/runs/r-done/rerun', {
        method: 'POST',
        headers: { 'x-csrf-token': session.csrfToken },
      });
      return { status: response.status, body: (await response.json()) as { permission?: string } };
    });
    assert.equal(answer.status, 403);
    assert.equal(answer.body.permission, 'pipelines.run');
  });

  it('shows each cluster with its connection and Kubernetes version', async () => {
    await page.goto(`${server.url}/clusters`);
    const own = page.locator('table.clusters tr', { hasText: 'in-cluster' });
    await own.locator('[data-connection="connected"]').waitFor();
    assert.match((await own.locator('.version').textContent()) ?? '', /^v1\.\d+\.\d+/);
    await screenshot(page, 'clusters-versions');
  });

  it('raised no Content-Security-Policy violation', () => {
    assert.deepEqual(e2e.cspViolations, []);
  });
});
