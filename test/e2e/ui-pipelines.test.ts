// The web UI's Pipelines pages in a real headless Chromium against the real server, cluster and git:
// the list (project, repository, last run, what starts runs) reached from the main navigation by
// keyboard; a Pipeline's page; "Run" on a branch and on a tag, each request written on the Pipeline by
// the server and taken by the server's own pipeline driver, which reads the pipeline file from the real
// git server at that commit and records the run: the run appears in the page's runs without a reload,
// and its page follows its log. The cluster's nodes are kwok's (no real node here), so the run Pod is
// never really run: the test checks what is real on this cluster — the request, the run recorded with
// its commit, trigger and caller, shown queued or running — and not a log line (the node tier runs
// real Pods: test/integration/pipeline-run.node.test.ts). A viewer sees Run disabled with the reason
// and the API refuses it. A run of a fork's pull request waiting for an approval: a viewer sees Approve
// disabled with the reason and the API refuses it; the admin approves it from the run's page (the run
// queued, its author approved in the Pipeline's status); the Pipeline's page then lists her, a viewer
// sees no Revoke (with the reason) and the API refuses one, the admin revokes her approval from the
// page, and her next pull request from a fork (written onto the Pipeline as the agent's webhook
// receiver writes it) waits for an approval again. axe-core on each page; no CSP violation.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { KubePipelineDirectory } from '../../src/adapters/kube/pipelines.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND } from '../../src/contracts/pipeline.ts';
import { normalizeRepoUrl } from '../../src/core/repo-url.ts';
import { requestPullRequestRuns } from '../../src/pipelines/webhook-requests.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import type { RunRecord, Store } from '../../src/ports/store.ts';
import { eventually } from '../../src/testing/eventually.ts';
import type { GitServer } from '../../src/testing/git.ts';
import {
  accessibilityProblems,
  assertFitsTheScreen,
  e2eFixture,
  logIn,
  postAs,
  screenshot,
  sendAs,
  tabTo,
  type RunningServer,
} from './support.ts';

const VIEWER = { name: 'viewer', password: 'viewer-password-e2e-3' };
const PIPELINE_FILE = [
  'triggers:',
  '  push:',
  '    branches: [main]',
  "    tags: ['v*']",
  '  manual: true',
  'steps:',
  '  - name: test',
  '    image: busybox',
  '    commands: [echo testing, echo ok]',
  '',
].join('\n');

/** The pipeline file of a fork's branch: its pull requests into main start runs. */
const FORK_PIPELINE_FILE = [
  'triggers:',
  '  pullRequest:',
  '    branches: [main]',
  'steps:',
  '  - name: test',
  '    image: busybox',
  '    commands: [echo testing]',
  '',
].join('\n');

const e2e = e2eFixture({ name: 'e2e pipelines', viewer: VIEWER });
let git: GitServer;
let server: RunningServer;
let store: Store;
let namespace = '';
let project = '';
let head = '';
let repo = '';

before(async () => {
  const { admin, types, ...set } = await e2e.setUp({ crds: ['pipeline'] });
  ({ git, namespace, project } = set);
  repo = `e2e-${namespace}`;
  head = await git.createRepository(repo, {
    files: { '.capstan/pipeline.yaml': PIPELINE_FILE, 'README.md': 'web\n' },
    message: 'web: test on every push',
  });
  await git.tag(repo, 'v1.0.0');
  for (const [name, extra] of [
    // Pull requests from forks run once approved (spec.forkPullRequests: RequireApproval).
    ['web', { pollInterval: '10m', forkPullRequests: 'RequireApproval' }],
    ['nightly', { suspend: true }],
  ] as const)
    await admin.apply(
      types.pipeline as ResourceType,
      {
        apiVersion: PIPELINE_API_VERSION,
        kind: PIPELINE_KIND,
        metadata: { name, namespace },
        spec: { repoURL: git.url(repo), project, credentials: { secretRef: { name: 'git' } }, ...extra },
      },
      { fieldManager: 'capstan-test' },
    );
  // The server drives runs: it reads the pipeline file from the git server (http, on loopback).
  server = await e2e.startServer({ pipelines: { capstanImage: 'capstan:e2e', allowInsecureHttp: true } });
  store = e2e.store();
  // An earlier run of `nightly`, from before it was suspended (as the pipeline controller records one);
  // a day old (the driver deletes runs past their retention, 90 days).
  await store.runs.create(finished('r-nightly', 'nightly', new Date(Date.now() - 86_400_000).toISOString()));
});

function finished(id: string, pipeline: string, queuedAt: string): RunRecord {
  return {
    id,
    namespace,
    pipeline,
    project,
    revision: head,
    branch: 'main',
    trigger: 'push',
    triggeredBy: 'unverified:webhook:github',
    phase: 'Succeeded',
    queuedAt,
    startedAt: queuedAt,
    finishedAt: queuedAt,
    steps: [{ name: 'test', phase: 'Succeeded', exitCode: 0 }],
    images: [],
  };
}

/** The runs of `pipeline` the driver recorded, newest first. */
const runsOf = (pipeline: string) => store.runs.list({ namespace, pipeline, limit: 10 });

/** The authors `web`'s status approves (status.approvedForkAuthors), as `login by approver`. */
async function approvedAuthors(): Promise<string[]> {
  const { admin, types } = e2e.parts;
  const web = (await admin.get(types.pipeline as ResourceType, namespace, 'web')) as
    { status?: { approvedForkAuthors?: { login: string; by: string }[] } } | undefined;
  return (web?.status?.approvedForkAuthors ?? []).map((a) => `${a.login} by ${a.by}`);
}

describe('the web UI in a real browser: Pipelines, a run by hand', { timeout: 600_000 }, () => {
  let page: Page;

  it('lists the Pipelines, reached from the main navigation with the keyboard', async () => {
    ({ page } = await e2e.newPage());
    await logIn(page, server.url, 'admin', server.adminPassword);
    const nav = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Pipelines' });
    await nav.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Pipelines', level: 1 }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/pipelines');
    const table = page.locator('table.pipelines');
    await table.waitFor();
    const rows = table.locator('tbody tr');
    assert.equal(await rows.count(), 2);
    const nightly = rows.filter({ hasText: /^nightly\s/ });
    const web = rows.filter({ hasText: /^web\s/ });
    assert.match((await nightly.textContent()) ?? '', /Succeeded\s*r-nightly/);
    assert.match((await nightly.textContent()) ?? '', /nothing: suspended/);
    assert.match((await web.textContent()) ?? '', /none yet/);
    assert.match((await web.textContent()) ?? '', /webhooks, polls every 10m, by hand/);
    assert.match((await web.textContent()) ?? '', new RegExp(project));
    // The arrow keys move between the rows' links; Enter opens one.
    await nightly.getByRole('link', { name: /^nightly / }).focus();
    await page.keyboard.press('ArrowDown');
    assert.match((await page.locator(':focus').textContent()) ?? '', /^web/);
    assert.deepEqual(await accessibilityProblems(page), [], 'the pipelines page');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'web', level: 1 }).waitFor();
    assert.equal(new URL(page.url()).pathname, `/pipelines/${namespace}/web`);
  });

  it('shows the pipeline file’s triggers at the default branch, or at another branch', async () => {
    const facts = page.locator('dl.facts').first();
    assert.match(await facts.innerText(), /\.capstan\/pipeline\.yaml/);
    // Read by the server from the git server at main's head, as the driver reads it.
    const triggers = page.locator('section.triggers');
    await triggers.locator('dl.facts').waitFor();
    const text = await triggers.innerText();
    assert.match(text, new RegExp(`\\.capstan/pipeline\\.yaml at main \\(commit ${head.slice(0, 12)}\\)`));
    assert.match(text, /Pushes\s+to branches main; of tags v\*/);
    assert.match(text, /Pull requests\s+none/);
    assert.match(text, /By hand\s+allowed/);
    // A branch that does not exist: the server's answer, said.
    await page.locator('#triggers-branch').fill('no-such-branch');
    await page.locator('#triggers-branch').press('Enter');
    await triggers.getByText(/no branch no-such-branch/).waitFor();
    await page.locator('#triggers-branch').fill('main');
    await page.locator('#triggers-branch').press('Enter');
    await triggers.locator('dl.facts').waitFor();
  });

  it('runs a branch by hand: the run the driver records appears without a reload, and its page follows it', async () => {
    await page.getByText('No run yet.').waitFor();
    assert.deepEqual(await accessibilityProblems(page), [], 'a pipeline page');
    await page.locator('#run-ref').fill('main');
    await page.locator('#run').click();
    // The request, then the run the driver queued for it (read again until it appears).
    const state = page.locator('.request-state');
    await state.waitFor();
    assert.match((await state.textContent()) ?? '', /admin/);
    const row = page.locator('table.runs tbody tr').first();
    await eventually(async () => /manual by admin/.test((await row.textContent()) ?? ''), {
      what: 'the run by hand in the Pipeline’s runs',
      timeoutMs: 120_000,
    });
    const [run] = await runsOf('web');
    assert.ok(run, 'the driver recorded the run');
    assert.equal(run.trigger, 'manual');
    assert.equal(run.triggeredBy, 'admin', 'the server sealed the request: the caller is believed');
    assert.equal(run.branch, 'main');
    assert.equal(run.revision, head);
    assert.match((await row.textContent()) ?? '', new RegExp(`${run.id}.*${head.slice(0, 12)} main`));
    assert.match((await state.textContent()) ?? '', new RegExp(`is ${run.id}`));
    assert.match(
      await page.locator('dl.facts').first().innerText(),
      new RegExp(`Last run\\s+\\w+\\s+${run.id}`),
    );
    // Its run page: the facts, and its log followed (lines come only from a real node's Pod).
    await row.getByRole('link', { name: run.id }).click();
    await page.getByRole('heading', { name: `Run ${run.id}` }).waitFor();
    assert.match(await page.locator('.facts').innerText(), /manual by admin/);
    await page
      .getByRole('status')
      .filter({ hasText: /Following the run|The run ended/ })
      .waitFor();
  });

  it('runs a tag by hand: the run records the tag and its commit', async () => {
    await page.goto(`${server.url}/pipelines/${namespace}/web`);
    await page.getByRole('heading', { name: 'web', level: 1 }).waitFor();
    await page.locator('#run-ref-kind').selectOption('tag');
    assert.equal(await page.locator('label[for="run-ref"]').textContent(), 'Tag');
    await page.locator('#run-ref').fill('v1.0.0');
    await page.locator('#run').click();
    const tagged = page.locator('table.runs tbody tr', { hasText: 'v1.0.0' });
    await eventually(async () => (await tagged.count()) === 1, {
      what: 'the run of the tag in the Pipeline’s runs',
      timeoutMs: 120_000,
    });
    const run = (await runsOf('web')).find((r) => r.tag === 'v1.0.0');
    assert.ok(run);
    assert.equal(run.revision, head);
    assert.equal(run.trigger, 'manual');
    await screenshot(page, 'pipeline');
    // The list shows its newest run.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Pipelines' }).click();
    const web = page.locator('table.pipelines tbody tr', { hasText: /^web\s/ });
    await eventually(async () => ((await web.textContent()) ?? '').includes(run.id), {
      what: 'the newest run in the list',
    });
    await screenshot(page, 'pipelines');
  });

  it('runs a given commit by hand: the run records that commit, not the branch’s newer head', async () => {
    const newer = await git.commit(repo, { files: { 'README.md': 'web, again\n' }, message: 'web: readme' });
    await page.goto(`${server.url}/pipelines/${namespace}/web`);
    await page.getByRole('heading', { name: 'web', level: 1 }).waitFor();
    // The triggers are read at main's new head.
    await page
      .locator('section.triggers')
      .getByText(`commit ${newer.slice(0, 12)}`)
      .waitFor();
    // The field takes a full commit id only (the browser refuses anything else before it is sent).
    const commit = page.locator('#run-commit');
    await commit.fill('abc');
    assert.equal(
      await page.evaluate<boolean>("document.getElementById('run-commit').validity.patternMismatch"),
      true,
    );
    const before = (await runsOf('web')).length;
    await page.locator('#run-ref').fill('main');
    await commit.fill(head);
    await page.locator('#run').click();
    const state = page.locator('.request-state');
    await state
      .getByText(`main at commit ${head.slice(0, 12)}`)
      .first()
      .waitFor();
    const run = await eventually(
      async () => {
        const runs = await runsOf('web');
        return runs.length > before ? runs[0] : false;
      },
      { what: 'the run of the commit', timeoutMs: 120_000 },
    );
    assert.ok(run);
    assert.equal(run.revision, head, 'the commit asked for, not main’s head');
    assert.notEqual(run.revision, newer);
    assert.equal(run.branch, 'main');
    assert.equal(run.triggeredBy, 'admin');
    await eventually(async () => new RegExp(`is ${run.id}`).test((await state.textContent()) ?? ''), {
      what: 'the request’s run named on the page',
    });
  });

  it('reaches the runs, a run, the audit trail and the tokens with the keyboard; axe finds nothing serious; each fits a 390 px screen', async () => {
    const nav = page.getByRole('navigation', { name: 'Main' });
    // The runs: from the main navigation with Tab and Enter, the rows' links with the arrow keys.
    await tabTo(page, nav.getByRole('link', { name: 'Runs' }));
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Pipeline runs', level: 1 }).waitFor();
    const links = page.locator('table.runs tbody tr td:first-child a');
    await eventually(async () => (await links.count()) >= 3, { what: 'the runs listed' });
    const [first, second] = [await links.nth(0).textContent(), await links.nth(1).textContent()];
    await tabTo(page, links.nth(0));
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.locator(':focus').textContent(), second);
    await page.keyboard.press('Home');
    assert.equal(await page.locator(':focus').textContent(), first);
    assert.deepEqual(await accessibilityProblems(page), [], 'the runs page');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: `Run ${first ?? ''}` }).waitFor();
    assert.deepEqual(await accessibilityProblems(page), [], 'a run page');
    // The audit trail and the tokens, each from the main navigation.
    for (const [name, heading, ready] of [
      ['Audit trail', 'Audit trail', 'table.audit'],
      ['API tokens', 'API tokens', 'form'],
    ] as const) {
      await tabTo(page, nav.getByRole('link', { name }));
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      await page.locator(ready).first().waitFor();
      assert.deepEqual(await accessibilityProblems(page), [], `the ${name} page`);
    }
    assert.match((await page.locator('body').textContent()) ?? '', /API tokens/);
    // On a phone's width.
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [path, ready, what] of [
      ['/runs', 'table.runs', 'the runs page'],
      [`/runs/${first ?? ''}`, 'dl.facts', 'a run page'],
      ['/audit', 'table.audit', 'the audit trail'],
      ['/tokens', 'form', 'the tokens page'],
      [`/pipelines/${namespace}/web`, 'section.triggers dl.facts', 'a pipeline page (admin)'],
    ] as const) {
      await page.goto(`${server.url}${path}`);
      await page.locator(ready).first().waitFor();
      await assertFitsTheScreen(page, what);
      assert.deepEqual(await accessibilityProblems(page), [], `${what} on a narrow screen`);
    }
    await page.setViewportSize({ width: 1360, height: 860 });
  });

  it('a viewer sees Run disabled with the reason, and the API refuses a run', async () => {
    const { page: viewer } = await e2e.newPage();
    await logIn(viewer, server.url, VIEWER.name, VIEWER.password);
    await viewer.goto(`${server.url}/pipelines/${namespace}/web`);
    const run = viewer.locator('#run');
    await run.waitFor();
    assert.equal(await run.isDisabled(), true);
    assert.equal(await viewer.locator('#run-commit').isDisabled(), true);
    assert.match(
      (await viewer.locator('#run-reason').textContent()) ?? '',
      /Running pipelines needs the role .*deployer.* in project .*; your role there is viewer\./,
    );
    assert.deepEqual(await accessibilityProblems(viewer), [], 'a pipeline page for a viewer');
    // On a phone's width: nothing wider than the screen, the disabled Run and its reason still there.
    await viewer.setViewportSize({ width: 390, height: 844 });
    await assertFitsTheScreen(viewer, 'a pipeline page');
    assert.equal(await viewer.locator('#run-reason').isVisible(), true);
    await viewer.goto(`${server.url}/pipelines`);
    await viewer.locator('table.pipelines').waitFor();
    await assertFitsTheScreen(viewer, 'the pipelines page');
    const answer = await postAs(viewer, `/api/v1/pipelines/${namespace}/web/runs`, { branch: 'main' });
    assert.equal(answer.status, 403);
    assert.equal(answer.body.permission, 'pipelines.run');
    // A suspended Pipeline: Run is disabled for anyone, with the reason.
    await page.goto(`${server.url}/pipelines/${namespace}/nightly`);
    await page.locator('#run').waitFor();
    assert.equal(await page.locator('#run').isDisabled(), true);
    assert.match((await page.locator('#run-reason').textContent()) ?? '', /suspended/);
  });

  it('a fork’s pull request run waits for an approval: a viewer sees Approve disabled and the API refuses; the admin approves it', async () => {
    const id = `r-fork-${namespace.slice(-6)}`;
    await store.runs.create({
      id,
      namespace,
      pipeline: 'web',
      project,
      revision: head,
      branch: 'feature',
      trigger: 'pullRequest',
      triggeredBy: 'webhook:github',
      phase: 'WaitingForApproval',
      reason: 'WaitingForApproval',
      queuedAt: new Date().toISOString(),
      steps: [],
      images: [],
      pullRequest: {
        number: 7,
        sourceBranch: 'feature',
        targetBranch: 'main',
        fromFork: true,
        author: 'mallory',
      },
    });
    // A viewer: Approve disabled with the reason; the API refuses it (403) and the run still waits.
    const { page: viewer } = await e2e.newPage();
    await logIn(viewer, server.url, VIEWER.name, VIEWER.password);
    await viewer.goto(`${server.url}/runs/${id}`);
    const approve = viewer.locator('#approve');
    await approve.waitFor();
    assert.equal(await approve.isDisabled(), true);
    assert.match(
      (await viewer.locator('#approve-reason').textContent()) ?? '',
      /Approving runs needs the role .*deployer.* in project .*; your role there is viewer\./,
    );
    assert.match(
      (await viewer.locator('#approve-note').textContent()) ?? '',
      /pull request #7 by mallory, from a fork, waits for an approval/,
    );
    assert.deepEqual(await accessibilityProblems(viewer), [], 'a run waiting for approval, for a viewer');
    const answer = await postAs(viewer, `/api/v1/runs/${id}/approve`, {});
    assert.equal(answer.status, 403);
    assert.equal(answer.body.permission, 'pipelines.run');
    assert.equal((await store.runs.get(id))?.phase, 'WaitingForApproval');
    // The admin: Approve on the run's page; the run is queued, approved by admin, and Approve goes.
    await page.goto(`${server.url}/runs/${id}`);
    await page.locator('#approve').waitFor();
    assert.equal(await page.locator('#approve').isDisabled(), false);
    assert.deepEqual(await accessibilityProblems(page), [], 'a run waiting for approval');
    await page.locator('#approve').click();
    const facts = page.locator('dl.facts');
    await facts.getByText('by admin', { exact: true }).waitFor();
    assert.equal(await page.locator('#approve').count(), 0, 'nothing left to approve');
    const approved = await store.runs.get(id);
    assert.equal(approved?.approvedBy, 'admin');
    assert.notEqual(approved.phase, 'WaitingForApproval');
    // Its author is approved for the Pipeline's next runs (its status), as `capstan pipeline approve` does.
    await eventually(async () => (await approvedAuthors()).includes('mallory by admin'), {
      what: 'mallory approved in the Pipeline’s status',
    });
  });

  it('lists the approved author on the Pipeline’s page; a viewer sees no Revoke, with the reason, and the API refuses; the admin revokes, and the author’s next run from a fork waits again', async () => {
    const approved = `r-fork-${namespace.slice(-6)}`;
    // The admin: mallory listed, approved by admin for the run approved above, with Revoke.
    await page.goto(`${server.url}/pipelines/${namespace}/web`);
    const mallory = page.locator('table.fork-authors tbody tr', { hasText: 'mallory' });
    await mallory.waitFor();
    assert.match(await mallory.innerText(), new RegExp(`^mallory\\s+admin\\s+.+\\s+${approved}`));
    const revoke = page.getByRole('button', { name: 'Revoke mallory’s approval' });
    assert.equal(await revoke.isDisabled(), false);
    assert.deepEqual(await accessibilityProblems(page), [], 'a pipeline page with an approved fork author');
    await mallory.scrollIntoViewIfNeeded();
    await screenshot(page, 'pipeline-fork-authors');
    // A viewer: the list without Revoke, and why; the API refuses a revoke (403) and mallory stays.
    const { page: viewer } = await e2e.newPage();
    await logIn(viewer, server.url, VIEWER.name, VIEWER.password);
    await viewer.goto(`${server.url}/pipelines/${namespace}/web`);
    await viewer.locator('table.fork-authors tbody tr', { hasText: 'mallory' }).waitFor();
    assert.equal(await viewer.getByRole('button', { name: /Revoke/ }).count(), 0, 'no Revoke for a viewer');
    assert.match(
      (await viewer.locator('#revoke-reason').textContent()) ?? '',
      /Revoking an approval needs the role .*deployer.* in project .*; your role there is viewer\./,
    );
    assert.deepEqual(await accessibilityProblems(viewer), [], 'approved fork authors, for a viewer');
    await viewer.setViewportSize({ width: 390, height: 844 });
    await assertFitsTheScreen(viewer, 'a pipeline page with an approved fork author');
    const refused = await sendAs(
      viewer,
      'DELETE',
      `/api/v1/pipelines/${namespace}/web/approved-authors/mallory`,
    );
    assert.equal(refused.status, 403);
    assert.equal(refused.body.permission, 'pipelines.run');
    assert.deepEqual(await approvedAuthors(), ['mallory by admin'], 'the refused revoke changed nothing');
    // The admin revokes: said on the page, mallory gone from it and from the Pipeline's status.
    await revoke.click();
    await page
      .getByRole('status')
      .filter({ hasText: /mallory’s approval is revoked/ })
      .waitFor();
    await page.getByText('No author approved yet').waitFor();
    assert.equal(await mallory.count(), 0);
    assert.deepEqual(await approvedAuthors(), []);
    // Her next pull request from a fork, as the agent's webhook receiver writes it onto the Pipeline:
    // the server's driver records its run waiting for an approval again.
    const forked = await git.commit(repo, {
      branch: 'forked',
      files: { '.capstan/pipeline.yaml': FORK_PIPELINE_FILE },
      message: 'a change from a fork',
    });
    const asked = await requestPullRequestRuns(new KubePipelineDirectory(e2e.parts.admin), {
      provider: 'github',
      repoURLs: [normalizeRepoUrl(git.url(repo))],
      number: 8,
      headSha: forked,
      ref: 'refs/pull/8/head',
      sourceBranch: 'forked',
      targetBranch: 'main',
      fromFork: true,
      author: 'mallory',
    });
    assert.deepEqual(asked.pipelines, [`${namespace}/web`]);
    const next = await eventually(
      async () => (await runsOf('web')).find((r) => r.revision === forked) ?? false,
      { what: 'the run of mallory’s next pull request', timeoutMs: 120_000 },
    );
    assert.equal(next.phase, 'WaitingForApproval');
    assert.equal(next.pullRequest?.author, 'mallory');
    await page.reload();
    await page
      .locator('table.runs tbody tr', { hasText: next.id })
      .locator('[data-phase="WaitingForApproval"]')
      .waitFor();
  });

  it('raised no Content-Security-Policy violation', () => {
    assert.deepEqual(e2e.cspViolations, []);
  });
});
