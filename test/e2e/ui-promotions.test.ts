// The web UI's Environments and Promotion pages in a real headless Chromium against the real server
// (driving promotions, `capstan server --promotions`), the real agent (a process), a real git server
// and the cluster: `dev` follows the Pipeline `hello`, `staging` follows dev and asks for an approval.
// A Succeeded run of `hello` (its record in the server's Store and the Pipeline's status, as the
// pipeline driver writes them: its image is never built here, the node tier builds images) is promoted to dev on its own, and the
// Environments page shows dev's new image without a reload; staging waits for an approval. A viewer
// sees Approve disabled with the reason, and the API refuses it (403); the admin approves from the
// promotion's page and follows it there, live, to Verified. The promote-by-hand form: the API's
// refusal of an unknown run shown, an image by digest promoted to dev and Verified; a viewer sees it
// disabled with the reason, and the API refuses it. axe-core on both pages; a phone's width; no CSP
// violation.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { APPLICATION_API_VERSION, APPLICATION_KIND } from '../../src/contracts/application.ts';
import { ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND } from '../../src/contracts/environment.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND } from '../../src/contracts/pipeline.ts';
import type { KubeCluster } from '../../src/adapters/kube/kube-cluster.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import type { Store } from '../../src/ports/store.ts';
import { eventually } from '../../src/testing/eventually.ts';
import {
  accessibilityProblems,
  assertFitsTheScreen,
  e2eFixture,
  logIn,
  postAs,
  tabTo,
  type RunningServer,
} from './support.ts';

const VIEWER = { name: 'viewer', password: 'viewer-password-e2e-8' };
const LABEL_KEY = 'capstan.dev/test-e2e-promotions';
const IMAGE = `127.0.0.1:5000/capstan/hello@sha256:${'7'.repeat(64)}`;
/** Promoted by hand from the page. */
const OTHER_IMAGE = `127.0.0.1:5000/capstan/hello@sha256:${'8'.repeat(64)}`;
const deployment = (name: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 1
  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      containers:
        - name: web
          image: hello
`;
const kustomization = 'resources:\n  - deployment.yaml\nimages:\n  - name: hello\n    newTag: "0"\n';

const e2e = e2eFixture({ name: 'e2e promotions', viewer: VIEWER, labelKey: LABEL_KEY });
let server: RunningServer;
let store: Store;
let admin: KubeCluster;
let namespace = '';
let project = '';
let repo = '';

before(async () => {
  const set = await e2e.setUp({ crds: ['environment', 'pipeline'] });
  const { git, types } = set;
  ({ namespace, project, admin } = set);
  const envType = types.environment as ResourceType;
  const pipelineType = types.pipeline as ResourceType;
  repo = `e2e-${namespace}`;
  await git.createRepository(repo, {
    files: {
      'dev/kustomization.yaml': kustomization,
      'dev/deployment.yaml': deployment('hello-dev'),
      'staging/kustomization.yaml': kustomization,
      'staging/deployment.yaml': deployment('hello-staging'),
    },
    message: 'two environments',
  });
  await e2e.startAgent();
  for (const env of ['dev', 'staging']) {
    await admin.apply(
      types.application,
      {
        apiVersion: APPLICATION_API_VERSION,
        kind: APPLICATION_KIND,
        metadata: { name: `hello-${env}`, namespace, labels: { [LABEL_KEY]: e2e.label() } },
        spec: {
          project,
          source: { repoURL: git.url(repo), path: env, insecureHttp: true, secretRef: { name: 'git' } },
          syncPolicy: { automated: { prune: true } },
          interval: '2s',
        },
      },
      { fieldManager: 'capstan-test' },
    );
    await admin.apply(
      envType,
      {
        apiVersion: ENVIRONMENT_API_VERSION,
        kind: ENVIRONMENT_KIND,
        metadata: { name: env, namespace },
        spec: {
          project,
          application: `hello-${env}`,
          config: {
            repoURL: git.url(repo),
            file: `${env}/kustomization.yaml`,
            kustomizeImage: 'hello',
            credentials: { secretRef: { name: 'git' } },
            insecureHttp: true,
          },
          source: env === 'dev' ? { pipeline: { name: 'hello' } } : { environment: 'dev' },
          gates: { healthyFor: '1s', timeout: '5m', approval: env === 'dev' ? 'None' : 'Required' },
        },
      },
      { fieldManager: 'capstan-test' },
    );
  }
  await admin.apply(
    pipelineType,
    {
      apiVersion: PIPELINE_API_VERSION,
      kind: PIPELINE_KIND,
      metadata: { name: 'hello', namespace },
      spec: { repoURL: git.url(repo), project, credentials: { secretRef: { name: 'git' } } },
    },
    { fieldManager: 'capstan-test' },
  );
  e2e.later(async () => {
    await admin.delete(pipelineType, namespace, 'hello');
    for (const env of ['dev', 'staging']) {
      await admin.delete(envType, namespace, env);
      await admin.delete(types.application, namespace, `hello-${env}`);
    }
    // Gone while the agent still runs to take its finalizer off: an Application left Healthy in a
    // Terminating namespace counted in the next file's Healthy total (ui-screenshots, a fresh clone's run).
    for (const env of ['dev', 'staging'])
      await eventually(
        async () => (await admin.get(types.application, namespace, `hello-${env}`)) === undefined,
        {
          what: `hello-${env} deleted`,
          timeoutMs: 60_000,
        },
      );
  });
  server = await e2e.startServer({ promotions: { allowInsecureHttp: true } });
  store = e2e.store();
});

const row = (page: Page, env: string) => page.locator(`tr[data-environment="${namespace}/${env}"]`);

describe('the web UI in a real browser: Environments and a promotion', { timeout: 900_000 }, () => {
  let page: Page;
  let waiting = '';

  it('lists the Environments, reached from the main navigation with the keyboard', async () => {
    ({ page } = await e2e.newPage());
    await logIn(page, server.url, 'admin', server.adminPassword);
    const nav = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Environments' });
    await tabTo(page, nav);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Environments', level: 1 }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/environments');
    await row(page, 'staging').waitFor();
    const dev = await row(page, 'dev').innerText();
    assert.match(dev, /hello-dev/);
    assert.match(dev, /Pipeline hello/);
    assert.match(dev, /none yet/);
    assert.match(await row(page, 'staging').innerText(), /approval required[\s\S]*environment dev/);
    assert.equal(
      await row(page, 'dev').getByRole('link', { name: 'hello-dev' }).getAttribute('href'),
      `/applications/${namespace}/hello-dev`,
    );
    await page.getByText('No promotion yet.').waitFor();
    assert.deepEqual(await accessibilityProblems(page), [], 'the environments page');
  });

  it('shows an image promoted to dev without a reload; staging waits for an approval', async () => {
    const now = new Date().toISOString();
    await store.runs.create({
      id: `hello-e2e-${namespace.slice(-6)}`,
      namespace,
      pipeline: 'hello',
      project,
      revision: 'a'.repeat(40),
      branch: 'main',
      trigger: 'push',
      triggeredBy: 'webhook',
      phase: 'Succeeded',
      queuedAt: now,
      finishedAt: now,
      steps: [],
      images: [{ step: 'image', reference: IMAGE, digest: `sha256:${'7'.repeat(64)}`, tags: ['main'] }],
    });
    // The Pipeline's status names its latest run: the promotion driver hears of it there.
    const patched = await admin.client.call(
      'PATCH',
      `/apis/${PIPELINE_API_VERSION}/namespaces/${namespace}/pipelines/hello/status`,
      {
        body: {
          status: {
            lastRun: { id: `hello-e2e-${namespace.slice(-6)}`, phase: 'Succeeded', revision: 'a'.repeat(40) },
          },
        },
        contentType: 'application/merge-patch+json',
      },
    );
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const image = row(page, 'dev').locator(`[data-image="${IMAGE}"]`);
    await image.waitFor({ timeout: 240_000 });
    assert.equal(await image.getAttribute('title'), IMAGE, 'the whole reference on hover');
    assert.match(await image.innerText(), /^hello@7{12}/);
    assert.match(await row(page, 'dev').innerText(), /Verified/);
    const state = row(page, 'staging').locator('[data-state="WaitingForApproval"]');
    await state.waitFor({ timeout: 120_000 });
    const [promotion] = await store.promotions.list({ namespace, environment: 'staging', limit: 1 });
    assert.ok(promotion);
    assert.equal(promotion.state, 'WaitingForApproval');
    waiting = promotion.id;
    assert.match(await page.locator('table.promotions').innerText(), new RegExp(waiting));
    assert.deepEqual(await accessibilityProblems(page), [], 'the environments page with promotions');
  });

  it('shows a viewer Approve disabled with the reason, and the API refuses it', async () => {
    const { page: viewer } = await e2e.newPage({ width: 390, height: 844 });
    await logIn(viewer, server.url, VIEWER.name, VIEWER.password);
    await viewer.goto(`${server.url}/environments`);
    await row(viewer, 'staging').waitFor();
    await assertFitsTheScreen(viewer, 'the environments page');
    // Promoting by hand: disabled with the reason, and refused by the API.
    assert.equal(await viewer.locator('#promote').isDisabled(), true);
    assert.equal(await viewer.locator('#promote-value').isDisabled(), true);
    assert.match(
      (await viewer.locator('#promote-reason').textContent()) ?? '',
      /Promoting by hand needs the role .*deployer.* in project .*; your role there is viewer\./,
    );
    assert.deepEqual(await accessibilityProblems(viewer), [], 'the environments page for a viewer');
    const refused = await postAs(viewer, `/api/v1/environments/${namespace}/dev/promote`, {
      image: OTHER_IMAGE,
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.permission, 'promotions.promote');
    await row(viewer, 'staging')
      .getByRole('link', { name: new RegExp(waiting) })
      .click();
    await viewer.getByRole('heading', { name: `Promotion ${waiting}` }).waitFor();
    const approve = viewer.locator('#approve');
    await approve.waitFor();
    assert.equal(await approve.isDisabled(), true);
    assert.equal(await viewer.locator('#reject').isDisabled(), true);
    assert.match(
      (await viewer.locator('#approve-reason').textContent()) ?? '',
      /Approving promotions needs the role admin in project .*; your role there is viewer\./,
    );
    await assertFitsTheScreen(viewer, 'a promotion page');
    assert.deepEqual(await accessibilityProblems(viewer), [], 'a promotion page for a viewer');
    const answer = await postAs(viewer, `/api/v1/promotions/${waiting}/approve`, {});
    assert.equal(answer.status, 403);
    assert.equal(answer.body.permission, 'promotions.approve');
    assert.equal((await store.promotions.get(waiting))?.state, 'WaitingForApproval');
  });

  it('lets the admin approve from the page, and follows the promotion live to Verified', async () => {
    await row(page, 'staging')
      .getByRole('link', { name: new RegExp(waiting) })
      .click();
    await page.getByRole('heading', { name: `Promotion ${waiting}` }).waitFor();
    const facts = page.locator('dl.facts');
    assert.match(await facts.innerText(), /From\s+environment dev \(promotion [^)]+\), run hello-e2e-/);
    assert.match(await facts.innerText(), new RegExp(IMAGE.replace(/[.]/g, '\\.')));
    assert.equal(await page.locator('#reject').isDisabled(), false);
    assert.deepEqual(await accessibilityProblems(page), [], 'a promotion page');
    await page.locator('#approve').click();
    await facts.locator('[data-state="Verified"]').waitFor({ timeout: 240_000 });
    const timeline = await page.locator('ol.timeline').innerText();
    assert.match(timeline, /WaitingForApproval[\s\S]*Approved[^\n]*by admin[\s\S]*Committed[\s\S]*Verified/);
    assert.match(await facts.innerText(), /approved by admin/);
    assert.match(await facts.innerText(), /Commit\s+[0-9a-f]{40}/);
    assert.equal(await page.locator('#approve').isDisabled(), true);
    assert.match((await page.locator('#approve-reason').textContent()) ?? '', /is Verified/);
    await page.getByRole('status').getByText('The promotion ended.').waitFor();
    const record = await store.promotions.get(waiting);
    assert.equal(record?.state, 'Verified');
    assert.equal(record.approvedBy, 'admin');
    // dev's promotion names the run it came from, linked to the run's page.
    const [dev] = await store.promotions.list({ namespace, environment: 'dev', limit: 1 });
    assert.ok(dev?.fromRun);
    await page.goto(`${server.url}/promotions/${dev.id}`);
    const run = page.locator('dl.facts').getByRole('link', { name: dev.fromRun });
    await run.waitFor();
    assert.equal(await run.getAttribute('href'), `/runs/${dev.fromRun}`);
  });

  it('promotes by hand from the Environments page: the API’s refusal shown, then an image by digest to dev', async () => {
    await page.goto(`${server.url}/environments`);
    const form = page.locator('form.promote-form');
    await form.waitFor();
    await page.locator('#promote-environment').selectOption(`${namespace}/dev`);
    // A run the API does not know: its answer is shown as the server says it.
    await page.locator('#promote-from').selectOption('run');
    assert.equal(await page.locator('label[for="promote-value"]').textContent(), 'Run');
    await page.locator('#promote-value').fill('no-such-run');
    await page.locator('#promote').click();
    const alert = form.getByRole('alert');
    await alert.waitFor();
    assert.match(
      await alert.innerText(),
      new RegExp(`INVALID_REQUEST\\s+'no-such-run' is not a Succeeded run with an image in ${namespace}`),
    );
    // An image by tag: the browser refuses it before anything is sent.
    await page.locator('#promote-from').selectOption('image');
    await page.locator('#promote-value').fill('127.0.0.1:5000/capstan/hello:latest');
    assert.equal(
      await page.evaluate<boolean>("document.getElementById('promote-value').validity.patternMismatch"),
      true,
    );
    // By digest: asked, then dev shows it Verified, without a reload.
    await page.locator('#promote-value').fill(OTHER_IMAGE);
    await page.locator('#promote').click();
    const asked = form.getByRole('status');
    await asked.waitFor();
    const [promotion] = await store.promotions.list({ namespace, environment: 'dev', limit: 1 });
    assert.ok(promotion);
    assert.equal(promotion.image, OTHER_IMAGE);
    assert.equal(promotion.requestedBy, 'admin');
    assert.equal(promotion.fromRun, undefined);
    assert.match(
      await asked.innerText(),
      new RegExp(`Promotion ${promotion.id} of .* to ${namespace}/dev asked by admin`),
    );
    assert.equal(
      await asked.getByRole('link', { name: promotion.id }).getAttribute('href'),
      `/promotions/${promotion.id}`,
    );
    assert.equal(await alert.count(), 0, 'the earlier error is gone');
    assert.deepEqual(
      await accessibilityProblems(page),
      [],
      'the environments page after a promotion by hand',
    );
    await row(page, 'dev').locator(`[data-image="${OTHER_IMAGE}"]`).waitFor({ timeout: 240_000 });
    await eventually(async () => (await store.promotions.get(promotion.id))?.state === 'Verified', {
      what: 'the promotion by hand Verified',
      timeoutMs: 240_000,
    });
  });

  it('raised no Content-Security-Policy violation', () => {
    assert.deepEqual(e2e.cspViolations, []);
  });
});
