// The screenshots of docs/ and the README, taken from data shaped like `capstan demo up`'s: the demo
// repository (examples/demo, as demo-config on a real git server), the project `demo`, and the
// Applications guestbook, hello-kustomize and hello-helm in the namespace capstan-demo, synced by a real
// `capstan agent` into demo-guestbook, demo-kustomize and demo-helm with the demo's sync policy; a
// Pipeline hello-http of the sample HTTP server's repository, its pipeline file read by the server from
// git, and its runs (written to the server's Store as the pipeline driver writes them: the e2e cluster
// has kwok nodes only, so no run Pod really runs here); the demo's Environments dev and staging, the
// built image promoted by hand to dev, and staging's promotion waiting for an approval.
// `CAPSTAN_E2E_SCREENSHOTS=docs/ui` saves them over the documentation's (default:
// .cache/e2e-screenshots/docs); each page is also checked (the list
// shows the three, each Synced and Healthy; a pushed change shown as a diff; the history and its
// rollback confirmation; the triggers), and axe-core finds no serious or critical violation on any.
// The demo's names are fixed, so this file removes what an interrupted run of it left, before and after.
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { openSqliteStore } from '../../src/adapters/store/sqlite-store.ts';
import { APPLICATION_API_VERSION, APPLICATION_KIND } from '../../src/contracts/application.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND } from '../../src/contracts/pipeline.ts';
import { PROJECT_API_VERSION, PROJECT_KIND } from '../../src/contracts/project.ts';
import { DEMO_APPLICATIONS } from '../../src/main/demo.ts';
import { DEMO_ENVIRONMENTS, demoEnvironment } from '../../src/main/demo-environments.ts';
import { HELLO_APPLICATION, withImage } from '../../src/main/demo-hello.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import type { RunRecord, Store } from '../../src/ports/store.ts';
import { startAgentProcess } from '../../src/testing/agent-process.ts';
import {
  agentKubeconfig,
  freshNamespace,
  installApplicationCrd,
  installEnvironmentCrd,
  installPipelineCrd,
  installProjectCrd,
  kubeClients,
  testCluster,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { gitSecretBody, startGitServer } from '../../src/testing/git.ts';
import {
  accessibilityProblems,
  assertFitsTheScreen,
  buildUi,
  launchBrowser,
  logIn,
  REPOSITORY_ROOT,
  startServer,
  type RunningServer,
} from './support.ts';

/** The documentation's screenshots: CAPSTAN_E2E_SCREENSHOTS (docs/ui), or a folder of the cache. */
const FOLDER = join(
  REPOSITORY_ROOT,
  process.env['CAPSTAN_E2E_SCREENSHOTS'] ?? join('.cache', 'e2e-screenshots', 'docs'),
);
/** As `capstan demo up` names them (src/main/demo.ts). */
const NAMESPACE = 'capstan-demo';
const PROJECT = 'demo';
const LABEL_KEY = 'capstan.dev/test-e2e';
const LABEL = 'docs-screenshots';
const CODE_REPOSITORY = 'hello-http';
const VIEWER = { name: 'viewer', password: 'viewer-password-docs-1' };
const DIGEST = `sha256:${'4d'.repeat(32)}`;

const PIPELINE_FILE = [
  'triggers:',
  '  push:',
  '    branches: [main]',
  "    tags: ['v*']",
  '  pullRequest:',
  '    branches: [main]',
  'steps:',
  '  - name: test',
  '    image: node:24-alpine',
  '    commands: ["node --test"]',
  '  - name: image',
  '    build:',
  '      registry: 127.0.0.1:5000',
  '      repository: demo/hello-http',
  "      tags: ['{shortCommit}', '{branch}']",
  '',
].join('\n');

const git = await startGitServer(after);
let server: RunningServer;
let browser: Browser;
let store: Store;
let admin: KubeCluster;
let appType: ResourceType;
let codeHead = '';

const cleanups: (() => Promise<void> | void)[] = [];
const later = (fn: () => Promise<void> | void) => {
  cleanups.push(fn);
};
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

/** Removes the demo's Applications (their resources pruned by the agent, or their finalizers cleared) and namespaces. */
async function removeDemo(kube: ReturnType<typeof kubeClients>): Promise<void> {
  const left = await admin.list(appType, NAMESPACE).catch(() => []);
  for (const app of left)
    await admin.delete(appType, NAMESPACE, app.metadata.name ?? '').catch(() => undefined);
  await eventually(async () => (await admin.list(appType, NAMESPACE)).length === 0, {
    what: 'the demo Applications deleted',
    timeoutMs: 30_000,
  }).catch(async () => {
    for (const app of await admin.list(appType, NAMESPACE))
      await admin.client
        .call(
          'PATCH',
          `/apis/capstan.dev/v1alpha1/namespaces/${NAMESPACE}/applications/${app.metadata.name ?? ''}`,
          {
            body: { metadata: { finalizers: null } },
            contentType: 'application/merge-patch+json',
          },
        )
        .catch(() => undefined);
  });
  const names = [NAMESPACE, HELLO_APPLICATION.namespace, ...DEMO_APPLICATIONS.map((a) => a.namespace)];
  for (const name of names) await kube.core.deleteNamespace({ name }).catch(() => undefined);
  await eventually(
    async () => {
      const all = await kube.core.listNamespace();
      return !all.items.some((n) => names.includes(n.metadata?.name ?? ''));
    },
    { what: 'the demo namespaces gone', timeoutMs: 120_000 },
  );
}

before(async () => {
  buildUi();
  await mkdir(FOLDER, { recursive: true });
  const cluster = await testCluster();
  const kube = kubeClients(cluster.adminKubeconfig);
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  later(() => {
    admin.close();
  });
  appType = await installApplicationCrd(admin);
  const projectType = await installProjectCrd(admin);
  const pipelineType = await installPipelineCrd(admin);
  const environmentType = await installEnvironmentCrd(admin);
  await removeDemo(kube);
  await kube.core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  later(() => removeDemo(kube));
  await kube.core.createNamespacedSecret({ namespace: NAMESPACE, body: gitSecretBody(git) });
  // The demo repository, as `capstan demo up` serves it, and the sample HTTP server's code.
  await git.createRepository('demo-config', {
    fromDir: join(REPOSITORY_ROOT, 'examples', 'demo'),
    message: 'The demo configuration',
  });
  codeHead = await git.createRepository(CODE_REPOSITORY, {
    fromDir: join(REPOSITORY_ROOT, 'examples', 'hello-http'),
    message: 'hello-http: a tiny HTTP server',
  });
  codeHead = await git.commit(CODE_REPOSITORY, {
    files: { '.capstan/pipeline.yaml': PIPELINE_FILE },
    message: 'Test and build the image on every push to main',
    author: { name: 'Ada Lovelace', email: 'ada@example.com' },
  });
  await admin.apply(
    projectType,
    {
      apiVersion: PROJECT_API_VERSION,
      kind: PROJECT_KIND,
      metadata: { name: PROJECT },
      spec: {
        description: 'The demo Applications',
        applicationNamespaces: [NAMESPACE],
        destinations: [{ cluster: 'in-cluster', namespace: 'demo-*' }],
        clusterResources: [{ group: '', kind: 'Namespace' }],
        // Not in the demo's project: a viewer, for the narrow screenshot of what a viewer sees.
        roles: [{ name: 'viewer', users: [VIEWER.name] }],
      },
    },
    { fieldManager: 'capstan-test', force: true },
  );
  later(() => admin.delete(projectType, '', PROJECT).then(() => undefined));
  const agent = await startAgentProcess(later, {
    kubeconfig: await agentKubeconfig(cluster),
    selector: `${LABEL_KEY}=${LABEL}`,
  });
  // Its waits start once it runs, not while Node.js loads it (tens of seconds on a busy machine).
  await agent.started();
  for (const app of DEMO_APPLICATIONS) await applyDemoApplication(app);
  await admin.apply(
    pipelineType,
    {
      apiVersion: PIPELINE_API_VERSION,
      kind: PIPELINE_KIND,
      metadata: { name: CODE_REPOSITORY, namespace: NAMESPACE },
      spec: {
        repoURL: git.url(CODE_REPOSITORY),
        project: PROJECT,
        credentials: { secretRef: { name: 'git' } },
      },
    },
    { fieldManager: 'capstan-test' },
  );
  // The demo's Environments of the hello image: dev, then staging (approval required).
  for (const env of DEMO_ENVIRONMENTS)
    await admin.apply(
      environmentType,
      demoEnvironment(env, {
        namespace: NAMESPACE,
        project: PROJECT,
        repoURL: git.url('demo-config'),
        secretRef: 'git',
      }),
      { fieldManager: 'capstan-test' },
    );
  // The server's own Secrets in a namespace of their own (the demo's is capstan-system); it drives the
  // pipeline runs and the promotions, as the demo's does.
  const home = await freshNamespace({ name: 'docs screenshots', after: later }, kube);
  server = await startServer(later, {
    kubeconfig: cluster.adminKubeconfig,
    namespace: home,
    pipelines: { capstanImage: 'capstan:e2e', allowInsecureHttp: true },
    promotions: { allowInsecureHttp: true },
  });
  await server.addUser(VIEWER.name, VIEWER.password);
  store = openSqliteStore({ path: server.database });
  later(() => store.close());
  await writeRuns();
  browser = await launchBrowser(later);
});

/** One Application as `capstan demo up` creates it (src/main/demo.ts), from the demo repository. */
async function applyDemoApplication(app: { name: string; path: string; namespace: string }): Promise<void> {
  await admin.apply(
    appType,
    {
      apiVersion: APPLICATION_API_VERSION,
      kind: APPLICATION_KIND,
      metadata: { name: app.name, namespace: NAMESPACE, labels: { [LABEL_KEY]: LABEL } },
      spec: {
        project: PROJECT,
        source: {
          repoURL: git.url('demo-config'),
          path: app.path,
          insecureHttp: true,
          secretRef: { name: 'git' },
        },
        destination: { namespace: app.namespace },
        syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ['CreateNamespace=true'] },
        interval: '30s',
      },
    },
    { fieldManager: 'capstan-test' },
  );
}

/** Two runs of hello-http as the driver records them: a failed test, then its fix built and pushed. */
async function writeRuns(): Promise<void> {
  const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
  const base = {
    namespace: NAMESPACE,
    pipeline: CODE_REPOSITORY,
    project: PROJECT,
    branch: 'main',
    trigger: 'push',
    triggeredBy: 'webhook:github',
  } as const;
  const failed: RunRecord = {
    ...base,
    id: '7f3a9c21d0',
    revision: 'e1'.repeat(20),
    author: 'Ada Lovelace <ada@example.com>',
    commitMessage: 'Greet in the language of the request',
    phase: 'Failed',
    reason: 'step test exited with code 1',
    queuedAt: at(42),
    startedAt: at(42),
    finishedAt: at(41),
    steps: [
      { name: 'checkout', phase: 'Succeeded', exitCode: 0 },
      { name: 'test', phase: 'Failed', exitCode: 1 },
      { name: 'image', phase: 'Skipped' },
    ],
    images: [],
  };
  const built: RunRecord = {
    ...base,
    id: 'b81e04f5c2',
    revision: codeHead,
    author: 'Ada Lovelace <ada@example.com>',
    commitMessage: 'Test and build the image on every push to main',
    phase: 'Succeeded',
    queuedAt: at(12),
    startedAt: at(12),
    finishedAt: at(10),
    steps: [
      { name: 'checkout', phase: 'Succeeded', exitCode: 0 },
      { name: 'test', phase: 'Succeeded', exitCode: 0 },
      { name: 'image', phase: 'Succeeded', exitCode: 0 },
    ],
    images: [
      {
        step: 'image',
        reference: `127.0.0.1:5000/demo/hello-http@${DIGEST}`,
        digest: DIGEST,
        tags: [codeHead.slice(0, 7), 'main'],
      },
    ],
  };
  for (const run of [failed, built]) await store.runs.create(run);
  const line = (step: string, minutesAgo: number, text: string) => ({
    step,
    time: at(minutesAgo),
    line: text,
  });
  await store.runs.appendLogs(failed.id, [
    line('checkout', 42, `checked out ${failed.revision.slice(0, 12)} (main)`),
    line('test', 41.5, '✖ greets (1.2ms)'),
    line('test', 41.5, "  AssertionError: expected 'hello', got 'bonjour'"),
    line('test', 41.4, 'ℹ tests 1 · pass 0 · fail 1'),
  ]);
  await store.runs.appendLogs(built.id, [
    line('checkout', 12, `checked out ${codeHead.slice(0, 12)} (main)`),
    line('test', 11.8, '✔ greets (0.9ms)'),
    line('test', 11.8, 'ℹ tests 1 · pass 1 · fail 0'),
    line('image', 11.5, '#1 [internal] load build definition from Dockerfile'),
    line('image', 11, '#5 [2/3] COPY server.mjs /app/'),
    line('image', 10.5, `#8 exporting to image: pushed 127.0.0.1:5000/demo/hello-http@${DIGEST}`),
  ]);
}

async function shoot(page: Page, name: string): Promise<void> {
  assert.deepEqual(await accessibilityProblems(page), [], `the ${name} page`);
  await page.screenshot({ path: join(FOLDER, `${name}.png`), fullPage: false });
}

const appPath = (name: string) => `/applications/${NAMESPACE}/${name}`;

describe('the documentation’s screenshots, from data shaped like the demo', { timeout: 600_000 }, () => {
  let page: Page;

  it('the login page, then the three demo Applications, each Synced and Healthy', async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
    page = await context.newPage();
    await page.goto(`${server.url}/applications`);
    await page.getByLabel('User name').waitFor();
    await shoot(page, 'login');
    await logIn(page, server.url, 'admin', server.adminPassword);
    for (const app of DEMO_APPLICATIONS) {
      const row = page.getByRole('listitem').filter({ hasText: app.name });
      await eventually(
        async () =>
          (await row
            .locator('[data-sync]')
            .getAttribute('data-sync')
            .catch(() => '')) === 'Synced' &&
          (await row
            .locator('[data-health]')
            .getAttribute('data-health')
            .catch(() => '')) === 'Healthy',
        { what: `${app.name} Synced and Healthy in the list`, timeoutMs: 240_000 },
      );
    }
    // The counts follow the rows a debounce (1 s) later: shoot once they agree.
    const healthy = page.getByRole('list', { name: 'By health' }).locator('.chip.health-healthy strong');
    await eventually(async () => (await healthy.innerText()) === String(DEMO_APPLICATIONS.length), {
      what: 'the Healthy count to match the three rows',
      timeoutMs: 60_000,
    });
    await shoot(page, 'applications');
  });

  it('guestbook: its tree; a pushed change as a diff; its history and a rollback’s confirmation', async () => {
    await page.goto(`${server.url}${appPath('guestbook')}`);
    await page.getByRole('heading', { name: 'guestbook', level: 1 }).waitFor();
    await page.locator('.react-flow__node').first().waitFor();
    await shoot(page, 'application');
    // Automated sync off (as a person does to look before syncing), then a change pushed.
    await admin.client.call(
      'PATCH',
      `/apis/capstan.dev/v1alpha1/namespaces/${NAMESPACE}/applications/guestbook`,
      {
        body: { spec: { syncPolicy: { automated: null } } },
        contentType: 'application/merge-patch+json',
      },
    );
    const frontend = await readFile(
      join(REPOSITORY_ROOT, 'examples', 'demo', 'guestbook', 'frontend.yaml'),
      'utf8',
    );
    await git.commit('demo-config', {
      files: {
        'guestbook/frontend.yaml': frontend
          .replace('GREETING: Welcome to the guestbook', 'GREETING: Welcome back to the guestbook')
          .replace('replicas: 2', 'replicas: 3'),
      },
      message: 'guestbook: three frontends, a warmer welcome',
      author: { name: 'Ada Lovelace', email: 'ada@example.com' },
    });
    await page.getByRole('button', { name: 'Refresh' }).click();
    await eventually(
      async () =>
        (await page.locator('.app-head .state-line [data-sync]').getAttribute('data-sync')) === 'OutOfSync',
      { what: 'guestbook OutOfSync after the push', timeoutMs: 120_000 },
    );
    await page.getByRole('button', { name: `Deployment/demo-guestbook/frontend` }).click();
    const dialog = page.getByRole('dialog');
    await eventually(async () => ((await dialog.textContent()) ?? '').includes('replicas: 3'), {
      what: 'the diff of the pushed change',
    });
    await shoot(page, 'diff');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.locator('#sync').click();
    await page.getByRole('dialog').getByRole('button', { name: 'Sync', exact: true }).click();
    await eventually(
      async () =>
        (await page.locator('.app-head .state-line [data-sync]').getAttribute('data-sync')) === 'Synced',
      { what: 'guestbook Synced again', timeoutMs: 120_000 },
    );
    await page.getByRole('tab', { name: 'History' }).click();
    const rollBack = page.getByRole('button', { name: /Roll back/ }).first();
    await rollBack.waitFor();
    await shoot(page, 'history');
    await rollBack.click();
    await page.getByRole('dialog').waitFor();
    await shoot(page, 'rollback');
    await page.keyboard.press('Escape');
  });

  it('the project, the clusters', async () => {
    await page.goto(`${server.url}/projects/${PROJECT}`);
    await page
      .locator('table.applications-of')
      .getByRole('link', { name: /guestbook/ })
      .waitFor();
    await shoot(page, 'project');
    await page.goto(`${server.url}/projects`);
    await page.locator('table.projects').getByRole('link', { name: PROJECT, exact: true }).waitFor();
    await shoot(page, 'projects');
    await page.goto(`${server.url}/clusters`);
    await page.locator('table.clusters').getByRole('link', { name: 'in-cluster' }).waitFor();
    await shoot(page, 'clusters');
    await page.goto(`${server.url}/clusters/in-cluster`);
    await page.locator(`table.applications-of a[href="${appPath('hello-helm')}"]`).waitFor();
    await shoot(page, 'cluster');
  });

  it('the hello-http Pipeline with its file’s triggers, its runs, a run', async () => {
    await page.goto(`${server.url}/pipelines`);
    await page.locator('table.pipelines').getByText('b81e04f5c2').waitFor();
    await shoot(page, 'pipelines');
    await page.goto(`${server.url}/pipelines/${NAMESPACE}/${CODE_REPOSITORY}`);
    const triggers = page.locator('section.triggers');
    await triggers.locator('dl.facts').waitFor();
    assert.match(await triggers.innerText(), /Pushes\s+to branches main; of tags v\*/);
    assert.match(await triggers.innerText(), /Pull requests\s+to branches main/);
    await page.locator('table.runs').getByText('7f3a9c21d0').waitFor();
    await shoot(page, 'pipeline');
    await page.goto(`${server.url}/runs`);
    await page.locator('table.runs').getByText('7f3a9c21d0').waitFor();
    await shoot(page, 'runs');
    await page.goto(`${server.url}/runs/b81e04f5c2`);
    await page.getByText('The run ended; this is its whole log.').waitFor();
    await page.locator('ul.images').getByText(DIGEST).waitFor();
    await shoot(page, 'run');
  });

  it('hello-http: the image built by the run, committed by digest (as demo up --real-node does), in its trace', async () => {
    const file = `${HELLO_APPLICATION.path}/kustomization.yaml`;
    const text = await readFile(join(REPOSITORY_ROOT, 'examples', 'demo', file), 'utf8');
    await git.commit('demo-config', {
      files: { [file]: withImage(text, { file, reference: `127.0.0.1:5000/demo/hello-http@${DIGEST}` }) },
      message: `hello-http: image ${DIGEST.slice(0, 19)} built by run b81e04f5c2`,
    });
    await applyDemoApplication(HELLO_APPLICATION);
    // Its Pod waits for the real node (none in the e2e cluster); its image is in its spec all the same.
    // The tab reads the trace once: opened again until the synced Deployment's Pod is there.
    const built = page
      .locator('table.trace-images tr', { hasText: `hello-http@${DIGEST}` })
      .getByRole('link', { name: 'b81e04f5c2' });
    await eventually(
      async () => {
        await page.goto(`${server.url}${appPath(HELLO_APPLICATION.name)}`);
        await page.getByRole('tab', { name: 'Trace' }).click();
        await page.locator('table.trace-images, .trace .state, p.state').first().waitFor();
        return (await built.count()) === 1;
      },
      { what: 'the image of hello-http’s Pod joined to its run', timeoutMs: 180_000 },
    );
    await shoot(page, 'trace');
  });

  it('on a phone’s width: the projects, and guestbook for a viewer', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${server.url}/projects`);
    await page.locator('table.projects').getByRole('link', { name: PROJECT, exact: true }).waitFor();
    await assertFitsTheScreen(page, 'the projects page');
    await shoot(page, 'narrow-projects');
    const viewer = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
    await logIn(viewer, server.url, VIEWER.name, VIEWER.password);
    await viewer.goto(`${server.url}${appPath('guestbook')}`);
    await viewer.locator('#sync-reason').waitFor();
    await assertFitsTheScreen(viewer, 'the application page for a viewer');
    await shoot(viewer, 'narrow-viewer');
    await page.setViewportSize({ width: 1360, height: 860 });
  });

  it('the audit trail and the API tokens', async () => {
    await page.goto(`${server.url}/audit`);
    await page.locator('table.audit').getByText('application.sync').first().waitFor();
    await shoot(page, 'audit');
    await page.goto(`${server.url}/tokens`);
    await page.getByLabel('Name').fill('ci-deploy');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.locator('table td', { hasText: 'ci-deploy' }).waitFor();
    await shoot(page, 'tokens');
  });

  it('the Environments: the built image promoted by hand to dev, staging waiting for an approval', async () => {
    await page.goto(`${server.url}/environments`);
    const row = (env: string) => page.locator(`tr[data-environment="${NAMESPACE}/${env}"]`);
    await row('staging').waitFor();
    await page.locator('#promote-environment').selectOption(`${NAMESPACE}/dev`);
    await page.locator('#promote-from').selectOption('run');
    await page.locator('#promote-value').fill('b81e04f5c2');
    await page.locator('#promote').click();
    await page.locator('form.promote-form').getByRole('status').waitFor();
    const image = `127.0.0.1:5000/demo/hello-http@${DIGEST}`;
    await row('dev').locator(`[data-image="${image}"]`).waitFor({ timeout: 240_000 });
    await row('staging').locator('[data-state="WaitingForApproval"]').waitFor({ timeout: 120_000 });
    const [waiting] = await store.promotions.list({ namespace: NAMESPACE, environment: 'staging', limit: 1 });
    assert.ok(waiting);
    assert.equal(waiting.image, image);
    await page.locator('table.promotions').getByText(waiting.id).waitFor();
    await shoot(page, 'environments');
    await row('staging')
      .getByRole('link', { name: new RegExp(waiting.id) })
      .click();
    await page.getByRole('heading', { name: `Promotion ${waiting.id}` }).waitFor();
    await page.locator('dl.facts').getByText('environment dev').waitFor();
    await shoot(page, 'promotion');
  });
});
