// The web UI in a real headless Chromium against the real server, agent, cluster and git: a person logs
// in, sees the application, its tree and health; a commit pushed to its repository shows OutOfSync and,
// after a sync from the dialog, Synced, without a reload; a rollback from the history; a viewer sees
// sync disabled with the reason and the API refuses it; a javascript: link annotation stays inert text;
// the project and cluster pages of the application, reached by keyboard and on a narrow screen; a
// resource that left Git listed in the sync dialog after the agent compared, and pruned selected;
// axe-core finds no serious or critical violation on the main pages; no CSP violation on any page.
// Screenshots of the main pages are saved (see SCREENSHOTS in support.ts).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { KubeCluster } from '../../src/adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, APPLICATION_KIND } from '../../src/contracts/application.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import type { GitServer } from '../../src/testing/git.ts';
import {
  accessibilityProblems,
  assertFitsTheScreen,
  e2eFixture,
  logIn,
  screenshot,
  tabTo,
  type RunningServer,
} from './support.ts';

const LABEL_KEY = 'capstan.dev/test-e2e';
const VIEWER = { name: 'viewer', password: 'viewer-password-e2e-1' };
const UNSAFE_LINK = 'javascript:alert(1)';

const manifests = (value: string) => ({
  'app/settings.yaml': [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: settings',
    '  annotations:',
    `    link.capstan.dev/runbook: "${UNSAFE_LINK}"`,
    'data:',
    `  greeting: "${value}"`,
    '',
  ].join('\n'),
  'app/web.yaml': [
    'apiVersion: v1',
    'kind: Service',
    'metadata:',
    '  name: web',
    'spec:',
    '  ports: [{port: 80}]',
    '  selector: {app: web}',
    '',
  ].join('\n'),
});

const e2e = e2eFixture({ name: 'e2e ui', viewer: VIEWER, labelKey: LABEL_KEY });
const { cspViolations, alerts } = e2e;
let git: GitServer;
let server: RunningServer;
let admin: KubeCluster;
let appType: ResourceType;
let namespace = '';
let repo = '';
let firstRevision = '';
let secondRevision = '';
let project = '';

before(async () => {
  const set = await e2e.setUp();
  ({ git, admin, namespace, project } = set);
  appType = set.types.application;
  repo = `e2e-${namespace}`;
  firstRevision = await git.createRepository(repo, { files: manifests('hello'), message: 'first: hello' });
  await e2e.startAgent();
  // A manual sync policy: OutOfSync stays visible until someone syncs (from the UI).
  await admin.apply(
    appType,
    {
      apiVersion: APPLICATION_API_VERSION,
      kind: APPLICATION_KIND,
      metadata: {
        name: 'web',
        namespace,
        labels: { [LABEL_KEY]: e2e.label() },
        annotations: {
          'link.capstan.dev/runbook': UNSAFE_LINK,
          'link.capstan.dev/dashboard': 'https://grafana.example/d/web',
        },
      },
      spec: {
        project,
        source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
        interval: '1s',
      },
    },
    { fieldManager: 'capstan-test' },
  );
  e2e.later(() => removeApplication('web'));
  server = await e2e.startServer();
});

async function removeApplication(name: string): Promise<void> {
  await admin.delete(appType, namespace, name).catch(() => undefined);
  await eventually(async () => (await admin.list(appType, namespace)).length === 0, {
    what: 'the Application deleted',
    timeoutMs: 30_000,
  }).catch(() =>
    admin.client
      .call('PATCH', `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/${name}`, {
        body: { metadata: { finalizers: null } },
        contentType: 'application/merge-patch+json',
      })
      .catch(() => undefined),
  );
}

const appUrl = () => `${server.url}/applications/${namespace}/web`;
const summarySync = (page: Page) =>
  page.locator('.app-head .state-line [data-sync]').getAttribute('data-sync');

async function syncFromDialog(page: Page): Promise<void> {
  await page.locator('#sync').click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Sync', exact: true }).click();
  await dialog.waitFor({ state: 'detached' });
}

/** The ConfigMap's diff (the pending change) and its live manifest, whose javascript: annotation stays text. */
async function showDiffAndManifest(page: Page): Promise<void> {
  await page.getByRole('button', { name: `ConfigMap/${namespace}/settings` }).click();
  const dialog = page.getByRole('dialog');
  const diff = dialog.locator('pre[aria-label="Diff"]');
  await eventually(
    async () => {
      const text = (await dialog.textContent()) ?? '';
      if (!text.includes('hello again')) throw new Error(`the dialog says: ${text.slice(0, 500)}`);
      return true;
    },
    { what: 'the diff of the pending change' },
  );
  assert.match((await diff.locator('.del').allTextContents()).join(''), /greeting: .?hello.?$/m);
  assert.match((await diff.locator('.add').allTextContents()).join(''), /greeting: .?hello again/);
  await screenshot(page, 'diff');
  assert.deepEqual(await accessibilityProblems(page), [], 'diff dialog');
  await dialog.getByRole('tab', { name: 'Live manifest' }).click();
  const manifest = dialog.locator('pre[aria-label="Manifest"]');
  await eventually(async () => ((await manifest.textContent()) ?? '').includes(UNSAFE_LINK), {
    what: 'the live manifest with its annotation',
  });
  assert.equal(await dialog.locator('a').count(), 0, 'no link in a manifest');
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'detached' });
}

describe('the web UI in a real browser', () => {
  let page: Page;

  it('logs in as the admin and lists the application with its counts', async () => {
    ({ page } = await e2e.newPage());
    await page.goto(`${server.url}/`);
    await page.getByLabel('Password').waitFor();
    await screenshot(page, 'login');
    assert.deepEqual(await accessibilityProblems(page), [], 'login page');
    await logIn(page, server.url, 'admin', server.adminPassword);
    const row = page.getByRole('listitem').filter({ hasText: namespace });
    await row.getByRole('link', { name: /web/ }).waitFor();
    await page
      .getByRole('button', { name: /^OutOfSync|^Synced/ })
      .first()
      .waitFor();
    await screenshot(page, 'applications');
    assert.deepEqual(await accessibilityProblems(page), [], 'applications page');
  });

  it('opens the application: its tree as a graph and a list, with sync and health on each node', async () => {
    await page.getByRole('listitem').filter({ hasText: namespace }).getByRole('link').click();
    await page.getByRole('heading', { name: 'web', level: 1 }).waitFor();
    // Not synced yet (manual policy): sync from the dialog, then every resource is Synced.
    await eventually(async () => (await summarySync(page)) === 'OutOfSync', {
      what: 'web OutOfSync before its first sync',
      timeoutMs: 60_000,
    });
    await syncFromDialog(page);
    await eventually(async () => (await summarySync(page)) === 'Synced', {
      what: 'web Synced after the sync from the dialog',
      timeoutMs: 60_000,
    });
    const nodes = page.locator('.graph-node');
    await eventually(async () => (await nodes.count()) === 3, {
      what: 'the Application and its 2 resources',
    });
    const configMap = page.locator('.graph-node', { hasText: 'settings' });
    await eventually(async () => (await configMap.getAttribute('data-health')) === 'Healthy', {
      what: 'the ConfigMap Healthy in the graph',
    });
    assert.equal(await configMap.getAttribute('data-sync'), 'Synced');
    // Laid out inside the graph's frame (fitted), not only in the DOM.
    await eventually(
      async () => {
        const frame = await page.locator('.graph').boundingBox();
        const box = await configMap.boundingBox();
        return (
          frame !== null &&
          box !== null &&
          box.x >= frame.x &&
          box.y >= frame.y &&
          box.x + box.width <= frame.x + frame.width &&
          box.y + box.height <= frame.y + frame.height
        );
      },
      { what: 'the ConfigMap node inside the graph frame' },
    );
    const rows = page.locator('.resource-table tbody tr');
    assert.equal(await rows.count(), 2);
    assert.match((await rows.allTextContents()).join('\n'), /ConfigMap\/.*\/settings/);
    await screenshot(page, 'application');
    assert.deepEqual(await accessibilityProblems(page), [], 'application page');
  });

  it('shows a javascript: link annotation as inert text and links only the https one', async () => {
    const inert = page.locator('.annotation-link', { hasText: UNSAFE_LINK });
    await inert.waitFor();
    assert.equal(await inert.locator('a').count(), 0);
    assert.equal(await page.locator('a[href^="javascript:" i], a[href^="data:" i]').count(), 0);
    const dashboard = page.getByRole('link', { name: 'https://grafana.example/d/web' });
    assert.equal(await dashboard.getAttribute('href'), 'https://grafana.example/d/web');
    assert.equal(await dashboard.getAttribute('rel'), 'noopener noreferrer nofollow');
    assert.deepEqual(alerts, []);
  });

  it('follows a push to the repository: OutOfSync, its diff, then Synced after a sync, without a reload', async () => {
    await page.evaluate(() => {
      (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    secondRevision = await git.commit(repo, {
      files: manifests('hello again'),
      message: 'second: hello again',
    });
    await eventually(async () => (await summarySync(page)) === 'OutOfSync', {
      what: 'OutOfSync shown after the push',
      timeoutMs: 60_000,
    });
    await showDiffAndManifest(page);
    await syncFromDialog(page);
    await eventually(
      async () =>
        (await summarySync(page)) === 'Synced' &&
        ((await page.locator('.facts').textContent()) ?? '').includes(secondRevision.slice(0, 12)),
      { what: 'Synced at the new revision', timeoutMs: 60_000 },
    );
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded),
      true,
      'the page was not reloaded',
    );
  });

  it('syncs a selection from the dialog: only the checked resource, prune off, the history naming it', async () => {
    await page.locator('#sync').click();
    const dialog = page.getByRole('dialog');
    const all = dialog.getByLabel(/All \(2\): the whole application/);
    assert.equal(await all.isChecked(), true, 'every resource checked by default');
    await all.uncheck();
    await dialog.getByLabel(`ConfigMap/${namespace}/settings`).check();
    // Prune stays off (with it on, the selected resources that left Git would be pruned, nothing else).
    assert.equal(await dialog.getByLabel(/Prune resources/).isChecked(), false, 'prune off');
    assert.match(
      (await dialog.textContent()) ?? '',
      /Prune resources no longer in Git \(only selected ones\)/,
    );
    assert.match((await dialog.textContent()) ?? '', /1 of 2 selected: only these are applied/);
    await dialog.getByRole('button', { name: 'Sync', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('tab', { name: 'History' }).click();
    await eventually(
      async () =>
        (await page.locator('tr', { hasText: 'partial sync' }).allTextContents())
          .join('\n')
          .includes(`ConfigMap/${namespace}/settings`),
      { what: 'the partial sync in the history, naming its resource', timeoutMs: 60_000 },
    );
  });

  it('rolls back from the history, the confirmation showing what will change', async () => {
    await page.getByRole('tab', { name: 'History' }).click();
    const first = page.locator('tr', { hasText: firstRevision.slice(0, 12) });
    await first.getByRole('button', { name: 'Roll back…' }).click();
    const dialog = page.getByRole('dialog');
    const text = (await dialog.textContent()) ?? '';
    assert.match(text, new RegExp(secondRevision.slice(0, 12)));
    assert.match(text, new RegExp(firstRevision.slice(0, 12)));
    assert.match(text, /first: hello/);
    assert.match(text, /second: hello again/);
    await screenshot(page, 'rollback');
    assert.deepEqual(await accessibilityProblems(page), [], 'rollback dialog');
    await dialog.getByRole('button', { name: /^Roll back to #/ }).click();
    await dialog.waitFor({ state: 'detached' });
    await eventually(
      async () =>
        ((await page.locator('.app-head').textContent()) ?? '').includes(
          `held at ${firstRevision.slice(0, 7)}`,
        ),
      { what: 'the rollback done and its hold shown', timeoutMs: 60_000 },
    );
    // The history with the rollback on top (the tab is still open).
    await eventually(
      async () => (await page.locator('tr', { hasText: firstRevision.slice(0, 12) }).count()) >= 2,
      {
        what: 'the rollback in the history',
        timeoutMs: 60_000,
      },
    );
    await screenshot(page, 'history');
  });

  it('shows the audit trail and the API tokens pages', async () => {
    // The list again, its row updated by the event stream: synced, held by the rollback.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Applications' }).click();
    const row = page.getByRole('listitem').filter({ hasText: namespace });
    await eventually(async () => (await row.locator('[data-sync]').getAttribute('data-sync')) === 'Synced', {
      what: 'the row Synced in the list',
    });
    await row.getByText('held').waitFor();
    await screenshot(page, 'applications');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit trail' }).click();
    await page.locator('table.audit').waitFor();
    assert.match((await page.locator('table.audit').textContent()) ?? '', /application\.rollback/);
    await screenshot(page, 'audit');
    assert.deepEqual(await accessibilityProblems(page), [], 'audit page');
    await page.getByRole('link', { name: 'API tokens' }).click();
    await page.getByLabel('Name').fill('ci-e2e');
    await page.getByRole('button', { name: 'Create' }).click();
    const token = await page.getByLabel('The new token').inputValue();
    assert.match(token, /^capstan_/);
    await page.locator('table td', { hasText: 'ci-e2e' }).waitFor();
    await screenshot(page, 'tokens');
    assert.deepEqual(await accessibilityProblems(page), [], 'tokens page');
  });

  it('shows the project and the cluster of the application, reached by keyboard, on a narrow screen too', async () => {
    await page.goto(appUrl());
    const facts = page.locator('.app-head .facts');
    await facts.getByRole('link', { name: project, exact: true }).click();
    await page.getByRole('heading', { name: project, level: 1 }).waitFor();
    const roles = page.locator('table.roles');
    await roles.waitFor();
    assert.match((await roles.textContent()) ?? '', new RegExp(`viewer.*view.*${VIEWER.name}`));
    const destinations = (await page.locator('table.destinations').textContent()) ?? '';
    assert.match(destinations, new RegExp(`\\*${namespace}`));
    assert.match((await page.locator('dl.facts').textContent()) ?? '', /Source repositories\*\*/);
    const apps = page.locator('table.applications-of');
    await apps.getByRole('link', { name: /web/ }).waitFor();
    await screenshot(page, 'project');
    assert.deepEqual(await accessibilityProblems(page), [], 'project page');
    // From the project's Applications back to the application by keyboard, then its cluster.
    await apps.getByRole('link', { name: /web/ }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'web', level: 1 }).waitFor();
    await page.locator('.app-head .facts').getByRole('link', { name: 'in-cluster' }).click();
    await page.getByRole('heading', { name: 'in-cluster', level: 1 }).waitFor();
    await page.locator('.facts [data-state="usable"]').waitFor();
    // Every Application on in-cluster is listed (other files' too, in a shared cluster): this one's.
    await page.locator(`table.applications-of a[href="/applications/${namespace}/web"]`).waitFor();
    await screenshot(page, 'cluster');
    assert.deepEqual(await accessibilityProblems(page), [], 'cluster page');
    // The lists, each reached from the main navigation with Tab and Enter.
    for (const [name, table, row] of [
      ['Clusters', 'table.clusters', 'in-cluster'],
      ['Projects', 'table.projects', project],
    ] as const) {
      await tabTo(page, page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }));
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name, level: 1 }).waitFor();
      const link = page.locator(table).getByRole('link', { name: row, exact: true });
      await link.waitFor();
      await screenshot(page, name.toLowerCase());
      assert.deepEqual(await accessibilityProblems(page), [], `${name} page`);
      await tabTo(page, link);
    }
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: project, level: 1 }).waitFor();
    await page.setViewportSize({ width: 390, height: 844 });
    await assertFitsTheScreen(page, 'the project page');
    await page.goto(`${server.url}/clusters/in-cluster`);
    await page.locator(`table.applications-of a[href="/applications/${namespace}/web"]`).waitFor();
    await assertFitsTheScreen(page, 'the cluster page');
    await page.goto(`${server.url}/projects`);
    await page.locator('table.projects').waitFor();
    await assertFitsTheScreen(page, 'the projects page');
    await screenshot(page, 'narrow-projects');
    await page.setViewportSize({ width: 1360, height: 860 });
  });

  it('a viewer sees sync disabled with the reason, and the API refuses it', async () => {
    const { page: viewer } = await e2e.newPage();
    await logIn(viewer, server.url, VIEWER.name, VIEWER.password);
    await viewer.goto(appUrl());
    const sync = viewer.locator('#sync');
    await sync.waitFor();
    assert.equal(await sync.isDisabled(), true);
    const reason = (await viewer.locator('#sync-reason').textContent()) ?? '';
    assert.match(reason, /Sync needs the role .*deployer.* in project/);
    assert.match(reason, /your role there is viewer/);
    const answer = await viewer.evaluate(async (path) => {
      const session = (await (await fetch('/api/v1/session')).json()) as { csrfToken: string };
      const response = await fetch(`/api/v1${path}/sync`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken },
        body: '{}',
      });
      return {
        status: response.status,
        body: (await response.json()) as { error: string; permission: string },
      };
    }, new URL(appUrl()).pathname);
    assert.equal(answer.status, 403);
    assert.equal(answer.body.error, 'FORBIDDEN');
    assert.equal(answer.body.permission, 'applications.sync');
    // On a phone's width: nothing wider than the screen, the disabled Sync and its reason still there.
    await viewer.setViewportSize({ width: 390, height: 844 });
    await viewer.locator('#sync-reason').waitFor();
    await assertFitsTheScreen(viewer, 'the application page for a viewer');
    await screenshot(viewer, 'narrow-viewer');
    assert.deepEqual(await accessibilityProblems(viewer), [], 'application page for a viewer, narrow');
  });

  it('lists in the sync dialog a resource that left Git after the agent compared, selectable with prune, and prunes it alone', async () => {
    ({ page } = await e2e.newPage());
    await logIn(page, server.url, 'admin', server.adminPassword);
    await page.goto(appUrl());
    await page.getByRole('heading', { name: 'web', level: 1 }).waitFor();
    await git.commit(repo, { files: { 'app/web.yaml': null }, message: 'third: the Service leaves Git' });
    // The agent compared the new commit: its resources (the tree) no longer list the Service.
    const rows = page.locator('.resource-table tbody tr');
    await eventually(
      async () =>
        (await rows.count()) === 1 && !(await rows.allTextContents()).join('\n').includes('Service'),
      { what: 'the resources without the Service, after the agent compared', timeoutMs: 60_000 },
    );
    await page.locator('#sync').click();
    const dialog = page.getByRole('dialog');
    const service = dialog.locator('label[data-state="departed"]', { hasText: `Service/${namespace}/web` });
    await service.waitFor();
    assert.match((await service.textContent()) ?? '', /left Git: select with prune/);
    const box = service.getByRole('checkbox');
    assert.equal(await box.isDisabled(), true, 'selectable with prune only');
    assert.equal(await box.isChecked(), false, 'not selected by default');
    assert.equal(await dialog.getByLabel(/All \(1\): the whole application/).isChecked(), true);
    await dialog.getByLabel(/Prune resources/).check();
    await box.check();
    await dialog.getByLabel(`ConfigMap/${namespace}/settings`).uncheck();
    assert.match(
      (await dialog.textContent()) ?? '',
      /1 of 2 selected: only these are applied \(those that left Git: deleted\)/,
    );
    await dialog.getByRole('button', { name: 'Sync', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    const services = await admin.resourceType('v1', 'Service');
    assert.ok(services);
    await eventually(async () => (await admin.get(services, namespace, 'web')) === undefined, {
      what: 'the Service pruned by the sync of the selection',
      timeoutMs: 60_000,
    });
    const settings = await admin.resourceType('v1', 'ConfigMap');
    assert.ok(settings);
    assert.ok(await admin.get(settings, namespace, 'settings'), 'the ConfigMap, not selected, stays');
  });

  it('raised no Content-Security-Policy violation and no JavaScript dialog on any page', () => {
    assert.deepEqual(cspViolations, []);
    assert.deepEqual(alerts, []);
  });
});
