// What starts pipeline runs, on the real API server with a real git server and a real Store: a push
// reported by a webhook (through the agent's receiver) starts a run of the Pipelines of that
// repository; a push touching only ignored paths does not; a newer push cancels the older run
// (cancelOlder) and records by whom; maxRuns queues; manual runs, re-runs and polls; the Pipeline's
// status; a restart fails the runs that were going and starts the queued ones; metrics; retention.
// The runs themselves are held by a HeldRunExecutor (their Pods on the real node are the subject of
// pipeline-run.node.test.ts and pipeline-triggers.node.test.ts).
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildAgentApi } from '../../src/api/agent-api.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { runPodName } from '../../src/core/run-pod.ts';
import { openSqliteStore } from '../../src/adapters/store/sqlite-store.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND } from '../../src/contracts/pipeline.ts';
import { sealRunRequest } from '../../src/contracts/pipeline-request.ts';
import { Registry } from '../../src/controller/metrics.ts';
import { KubePipelineDirectory, pipelinePath, requestRun } from '../../src/adapters/kube/pipelines.ts';
import { requestPipelineRuns, requestPullRequestRuns } from '../../src/pipelines/webhook-requests.ts';
import { pipelineMetrics } from '../../src/controller/pipeline-metrics.ts';
import { pruneOld, runPipelineDriver } from '../../src/main/pipelines.ts';
import type { PipelineController } from '../../src/pipelines/pipeline-controller.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import type { RunRecord, Store } from '../../src/ports/store.ts';
import { installPipelineCrd, kubeClients, testCluster, type KubeClients } from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { gitSecretBody, startGitServer, type GitServer } from '../../src/testing/git.ts';
import { HeldRunExecutor } from '../../src/testing/held-run-executor.ts';

let admin: KubeCluster;
let clients: KubeClients;
let pipelineType: ResourceType;
const git: GitServer = await startGitServer(after);
let storeDir: string;
/** The key the driver believes sealed requests with (the server derives it from its Secret). */
const REQUEST_KEY = randomBytes(32);

before(async () => {
  const cluster = await testCluster();
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  clients = kubeClients(cluster.adminKubeconfig);
  pipelineType = await installPipelineCrd(admin);
  storeDir = await mkdtemp(join(tmpdir(), 'capstan-pipeline-store-'));
});

after(async () => {
  await rm(storeDir, { recursive: true, force: true });
  admin.close();
});

/** A namespace with the git credentials Secret, a repository with `pipelineYaml`, and a Pipeline of it. */
async function setUp(
  t: { after: (fn: () => Promise<void>) => void },
  pipelineYaml: string,
  spec: Record<string, unknown> = {},
): Promise<{ namespace: string; repo: string; name: string; first: string }> {
  const namespace = `pl-${randomBytes(4).toString('hex')}`;
  await clients.core.createNamespace({ body: { metadata: { name: namespace } } });
  t.after(async () => {
    await clients.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });
  await clients.core.createNamespacedSecret({ namespace, body: gitSecretBody(git) });
  const repo = `app-${randomBytes(3).toString('hex')}`;
  const first = await git.createRepository(repo, {
    files: { '.capstan/pipeline.yaml': pipelineYaml, 'src/main.js': 'console.log(1)\n' },
  });
  await admin.apply(
    pipelineType,
    {
      apiVersion: PIPELINE_API_VERSION,
      kind: PIPELINE_KIND,
      metadata: { name: 'web', namespace },
      spec: { repoURL: git.url(repo), credentials: { secretRef: { name: 'git' } }, ...spec },
    },
    { fieldManager: 'capstan-test' },
  );
  return { namespace, repo, name: 'web', first };
}

interface Driver {
  readonly controller: PipelineController;
  readonly executor: HeldRunExecutor;
  readonly store: Store;
  readonly registry: Registry;
  stop(): Promise<void>;
}

/** The pipeline driver of this process for `namespace` (no leader election), with a Store in `file`. */
async function startDriver(
  namespace: string,
  file = `${randomBytes(4).toString('hex')}.db`,
  executor = new HeldRunExecutor(),
): Promise<Driver> {
  const store = openSqliteStore({ path: join(storeDir, file) });
  const registry = new Registry();
  const stop = new AbortController();
  let controller: PipelineController | undefined;
  const driving = runPipelineDriver(
    {
      config: loadKubeConfig({ kubeconfig: (await testCluster()).adminKubeconfig }),
      cluster: admin,
      store: store.runs,
      executor,
      pod: { capstanImage: 'capstan:test', allowInsecureHttp: true },
      cacheDir: join(storeDir, 'cache'),
      repositoryHosts: ['127.0.0.1'], // the test git server is on loopback
      leaderElection: false,
      namespace,
      requestKey: REQUEST_KEY,
      metrics: pipelineMetrics(registry),
      tickMs: 200,
      log: (line) => {
        if (process.env['CAPSTAN_TEST_LOG'] === '1') process.stderr.write(`${JSON.stringify(line)}\n`);
      },
      onController: (c) => {
        controller = c ?? controller;
      },
    },
    stop.signal,
  );
  const ready = await eventually(() => controller ?? false, { what: 'the pipeline controller' });
  return {
    controller: ready,
    executor,
    store,
    registry,
    stop: async () => {
      stop.abort();
      await driving;
      await store.close();
    },
  };
}

/** Ends a run as succeeded once the executor holds it (its record may say Queued a moment before). */
async function succeed(driver: Driver, id: string): Promise<void> {
  await eventually(() => driver.executor.runs.has(id), { what: `run ${id} held by the executor` });
  driver.executor.succeed(id);
}

const runsOf = (driver: Driver, namespace: string) => driver.store.runs.list({ namespace, limit: 100 });

async function runWith(driver: Driver, namespace: string, check: (r: RunRecord) => boolean, what: string) {
  return eventually(async () => (await runsOf(driver, namespace)).find(check) ?? false, { what });
}

const PUSH_MAIN = `triggers:
  push:
    branches: [main]
    ignorePaths: ['docs/**']
steps:
  - name: test
    image: busybox
    commands: [echo hi]
`;

/** A generic webhook for a push, signed with the generic token, through the agent's receiver. */
async function webhook(repoURL: string, ref: string, after: string, changed: readonly string[]) {
  const app = buildAgentApi({
    metrics: () => '',
    ready: () => ({ ready: true }),
    webhookSecrets: () => Promise.resolve({ generic: 'token-1234' }),
    refresh: async (event) => ({
      applications: [],
      pipelines: await requestPipelineRuns(new KubePipelineDirectory(admin), event),
    }),
    serve: { webhooks: true, probes: false, metrics: false },
  });
  const body = JSON.stringify({ repoURL, ref, revision: after, paths: changed });
  const answer = await app.inject({
    method: 'POST',
    url: '/api/v1/webhooks/generic',
    headers: { 'content-type': 'application/json', authorization: 'Bearer token-1234' },
    payload: body,
  });
  await app.close();
  return { status: answer.statusCode, body: answer.json<Record<string, unknown>>() };
}

const PULL_REQUESTS = `triggers:
  push:
    branches: [main]
  pullRequest:
    branches: [main]
    ignorePaths: ['docs/**']
steps:
  - name: test
    image: busybox
    commands: [echo hi]
`;

const GITHUB_SECRET = 'gh-pr-5ecret';

/** A GitHub pull_request delivery, signed, through the agent's receiver. */
async function pullRequestWebhook(
  repoURL: string,
  pr: {
    number: number;
    action: string;
    sha: string;
    source: string;
    target: string;
    signature?: string;
    /** From another repository (a fork). */
    fork?: boolean;
    /** The pull request's author (pull_request.user.login). */
    author?: string;
  },
) {
  const app = buildAgentApi({
    metrics: () => '',
    ready: () => ({ ready: true }),
    webhookSecrets: () => Promise.resolve({ github: GITHUB_SECRET }),
    refresh: () => Promise.reject(new Error('a pull request refreshes no Application')),
    pullRequest: (event) => requestPullRequestRuns(new KubePipelineDirectory(admin), event),
    serve: { webhooks: true, probes: false, metrics: false },
  });
  const repo = { id: 1, full_name: 'team-a/web', clone_url: repoURL };
  const body = JSON.stringify({
    action: pr.action,
    number: pr.number,
    pull_request: {
      number: pr.number,
      ...(pr.author === undefined ? {} : { user: { login: pr.author } }),
      head: {
        ref: pr.source,
        sha: pr.sha,
        repo: pr.fork === true ? { id: 2, full_name: 'someone/web', clone_url: `${repoURL}-fork` } : repo,
      },
      base: { ref: pr.target, sha: '0'.repeat(40), repo },
    },
    repository: repo,
  });
  const answer = await app.inject({
    method: 'POST',
    url: '/api/v1/webhooks/github',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'pull_request',
      'x-github-delivery': randomBytes(8).toString('hex'),
      'x-hub-signature-256': `sha256=${pr.signature ?? createHmac('sha256', GITHUB_SECRET).update(body).digest('hex')}`,
    },
    payload: body,
  });
  await app.close();
  return { status: answer.statusCode, body: answer.json<Record<string, unknown>>() };
}

describe('pipeline triggers', { timeout: 180_000 }, () => {
  it('with forkPullRequests RequireApproval, a fork’s run waits for approval; approved, it runs without secrets and its author’s next runs do not wait, until revoked', async (t) => {
    const yaml = `${PULL_REQUESTS}  - name: publish
    image: busybox
    commands: [echo publish]
    secrets:
      - { env: TOKEN, secret: deploy-token, key: token }
`;
    const { namespace, repo, name } = await setUp(t, yaml, { forkPullRequests: 'RequireApproval' });
    const driver = await startDriver(namespace);
    t.after(() => driver.stop());
    const head = await git.commit(repo, { branch: 'forked', files: { 'src/main.js': 'fork()\n' } });
    const pr = { number: 11, action: 'opened', sha: head, source: 'forked', target: 'main', fork: true };
    const asked = await pullRequestWebhook(git.url(repo), { ...pr, author: 'mallory' });
    assert.deepEqual(asked.body['pipelines'], [`${namespace}/${name}`], JSON.stringify(asked.body));
    // 1. Mallory is not approved: the run waits, recorded, with no Pod.
    const waiting = await runWith(driver, namespace, (r) => r.revision === head, 'the run');
    assert.equal(waiting.phase, 'WaitingForApproval');
    assert.equal(waiting.reason, 'WaitingForApproval');
    assert.match(waiting.statusMessage ?? '', /by mallory, who is not approved .*capstan pipeline approve/);
    assert.deepEqual(waiting.pullRequest, {
      number: 11,
      sourceBranch: 'forked',
      targetBranch: 'main',
      fromFork: true,
      author: 'mallory',
    });
    const status = async () =>
      ((await admin.get(pipelineType, namespace, name))?.['status'] ?? {}) as {
        lastRun?: { id: string; phase: string };
        approvedForkAuthors?: { login: string; by: string; run?: string }[];
      };
    await eventually(async () => (await status()).lastRun?.phase === 'WaitingForApproval', {
      what: 'the status names the waiting run',
    });
    assert.equal(driver.executor.runs.has(waiting.id), false, 'no Pod for a run that waits');
    // 2. Approved: it runs without the step that names a Secret; mallory is remembered.
    const approved = await driver.controller.approve(waiting.id, 'dana');
    assert.ok(typeof approved === 'object', 'approve answers the run it queued');
    assert.equal(approved.approvedBy, 'dana');
    await eventually(() => driver.executor.runs.has(waiting.id), { what: 'its Pod' });
    const spec = driver.executor.runs.get(waiting.id)?.pod['spec'] as { initContainers: { name: string }[] };
    assert.deepEqual(
      spec.initContainers.map((c) => c.name),
      ['checkout'],
      'the checkout, then the test step alone (the main container)',
    );
    driver.executor.succeed(waiting.id);
    await runWith(driver, namespace, (r) => r.id === waiting.id && r.phase === 'Succeeded', 'it ends');
    assert.equal(await driver.controller.approve(waiting.id, 'dana'), 'not-waiting');
    const remembered = (await status()).approvedForkAuthors ?? [];
    assert.deepEqual(
      remembered.map((a) => [a.login, a.by, a.run]),
      [['mallory', 'dana', waiting.id]],
    );
    // 3. Mallory's next push runs at once.
    const second = await git.commit(repo, { branch: 'forked', files: { 'src/main.js': 'fork(2)\n' } });
    await pullRequestWebhook(git.url(repo), { ...pr, action: 'synchronize', sha: second, author: 'mallory' });
    const next = await runWith(driver, namespace, (r) => r.revision === second, 'the second run');
    assert.notEqual(next.phase, 'WaitingForApproval');
    await succeed(driver, next.id);
    await runWith(driver, namespace, (r) => r.id === next.id && r.phase === 'Succeeded', 'it ends');
    // 4. Revoked: the next push waits again; a newer push replaces the waiting run.
    assert.equal(await driver.controller.revoke(namespace, name, 'Mallory', 'dana'), true);
    assert.deepEqual((await status()).approvedForkAuthors, []);
    assert.equal(await driver.controller.revoke(namespace, name, 'mallory', 'dana'), false);
    const third = await git.commit(repo, { branch: 'forked', files: { 'src/main.js': 'fork(3)\n' } });
    await pullRequestWebhook(git.url(repo), { ...pr, action: 'synchronize', sha: third, author: 'mallory' });
    const again = await runWith(driver, namespace, (r) => r.revision === third, 'the third run');
    assert.equal(again.phase, 'WaitingForApproval');
    const fourth = await git.commit(repo, { branch: 'forked', files: { 'src/main.js': 'fork(4)\n' } });
    await pullRequestWebhook(git.url(repo), { ...pr, action: 'synchronize', sha: fourth, author: 'mallory' });
    await runWith(
      driver,
      namespace,
      (r) => r.revision === fourth && r.phase === 'WaitingForApproval',
      'the fourth run',
    );
    const replaced = await runWith(
      driver,
      namespace,
      (r) => r.id === again.id && r.phase === 'Cancelled',
      'the third run replaced',
    );
    assert.equal(replaced.reason, 'Superseded');
    assert.equal(driver.executor.runs.has(again.id), false);
  });

  it('a signed pull request event requests a run of its head on the Pipeline; a newer push to it cancels the older run', async (t) => {
    const { namespace, repo } = await setUp(t, PULL_REQUESTS);
    const first = await git.commit(repo, { branch: 'faster', files: { 'src/main.js': 'fast()\n' } });
    // A forged signature asks for nothing.
    const forged = await pullRequestWebhook(git.url(repo), {
      number: 7,
      action: 'opened',
      sha: first,
      source: 'faster',
      target: 'main',
      signature: 'ab'.repeat(32),
    });
    assert.equal(forged.status, 401);
    const opened = await pullRequestWebhook(git.url(repo), {
      number: 7,
      action: 'opened',
      sha: first,
      source: 'faster',
      target: 'main',
    });
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    assert.deepEqual(opened.body['pipelines'], [`${namespace}/web`]);
    // The request is on the Pipeline, for the driver (whichever replica leads) to see.
    const live = await admin.get(pipelineType, namespace, 'web');
    const requests = Object.entries(live?.metadata.annotations ?? {})
      .filter(([key]) => key.startsWith('run-request.capstan.dev/'))
      .map(([, value]) => JSON.parse(value) as Record<string, unknown>);
    const [request] = requests;
    assert.equal(requests.length, 1);
    assert.equal(request?.['kind'], 'pullRequest');
    assert.equal(request['ref'], 'refs/pull/7/head');
    assert.equal(request['revision'], first);
    assert.deepEqual(request['pullRequest'], {
      number: 7,
      sourceBranch: 'faster',
      targetBranch: 'main',
    });

    // The driver runs it: trigger pullRequest, the source branch, the pull request recorded.
    const driver = await startDriver(namespace);
    t.after(() => driver.stop());
    const run = await runWith(
      driver,
      namespace,
      (r) => r.revision === first && r.phase === 'Running',
      'the pull request run',
    );
    assert.equal(run.trigger, 'pullRequest');
    assert.equal(run.branch, 'faster');
    assert.deepEqual(run.pullRequest, { number: 7, sourceBranch: 'faster', targetBranch: 'main' });
    assert.equal(run.triggeredBy, 'unverified:webhook:github');

    // A newer push to the pull request cancels the older run; a push to main (another lane) does not.
    const second = await git.commit(repo, { branch: 'faster', files: { 'src/main.js': 'faster()\n' } });
    const synced = await pullRequestWebhook(git.url(repo), {
      number: 7,
      action: 'synchronize',
      sha: second,
      source: 'faster',
      target: 'main',
    });
    assert.equal(synced.status, 200, JSON.stringify(synced.body));
    const newer = await runWith(
      driver,
      namespace,
      (r) => r.revision === second && r.phase === 'Running',
      'the newer run',
    );
    const older = await driver.store.runs.get(run.id);
    assert.equal(older?.phase, 'Cancelled');
    assert.equal(older.reason, 'Superseded');
    assert.match(
      older.cancelledBy ?? '',
      new RegExp(`run ${newer.id} \\(pull request 7 at ${second.slice(0, 12)}, faster into main\\)`),
    );
    const main = await git.commit(repo, { branch: 'main', files: { 'src/other.js': '1\n' } });
    await webhook(git.url(repo), 'refs/heads/main', main, ['src/other.js']);
    // maxRuns 1: it waits for the pull request's run, which it does not cancel.
    const mainRun = await runWith(driver, namespace, (r) => r.revision === main, 'the push to main');
    assert.equal(mainRun.phase, 'Queued');
    assert.equal(
      (await driver.store.runs.get(newer.id))?.phase,
      'Running',
      'a push to main leaves the pull request run',
    );

    // A pull request into another branch, or of documentation only, starts nothing; nor does the same event again.
    const other = await git.commit(repo, { branch: 'to-dev', files: { 'src/x.js': 'x\n' } });
    await pullRequestWebhook(git.url(repo), {
      number: 8,
      action: 'opened',
      sha: other,
      source: 'to-dev',
      target: 'dev',
    });
    await pullRequestWebhook(git.url(repo), {
      number: 7,
      action: 'reopened',
      sha: second,
      source: 'faster',
      target: 'main',
    });
    await eventually(async () => {
      const pipeline = await admin.get(pipelineType, namespace, 'web');
      return Object.values(pipeline?.metadata.annotations ?? {}).some((v) => v.includes(other));
    });
    await succeed(driver, newer.id);
    await succeed(driver, mainRun.id);
    await driver.controller.idle();
    const runs = await runsOf(driver, namespace);
    assert.deepEqual(
      runs.map((r) => r.revision).sort(),
      [first, second, main].sort(),
      'no run for the pull request into dev, nor a second one for the reopened pull request',
    );
  });

  it('a pull request from a fork starts nothing by default, with the reason; with forkPullRequests RunWithoutSecrets it runs without the steps that name a Secret', async (t) => {
    const yaml = `${PULL_REQUESTS}  - name: publish
    image: busybox
    commands: [echo publish]
    secrets:
      - { env: TOKEN, secret: deploy-token, key: token }
`;
    const { namespace, repo, name } = await setUp(t, yaml);
    const head = await git.commit(repo, { branch: 'forked', files: { 'src/main.js': 'fork()\n' } });
    const pr = { number: 9, action: 'opened', sha: head, source: 'forked', target: 'main', fork: true };
    const ignored = await pullRequestWebhook(git.url(repo), pr);
    assert.equal(ignored.status, 200, JSON.stringify(ignored.body));
    assert.deepEqual(ignored.body['pipelines'], []);
    assert.match(String(ignored.body['reason']), /a fork.*spec\.forkPullRequests: Ignore/);
    const patched = await admin.client.call('PATCH', pipelinePath(namespace, name), {
      body: { spec: { forkPullRequests: 'RunWithoutSecrets' } },
      contentType: 'application/merge-patch+json',
    });
    assert.equal(patched.status, 200, 'the CRD takes spec.forkPullRequests');
    const driver = await startDriver(namespace);
    t.after(() => driver.stop());
    const asked = await pullRequestWebhook(git.url(repo), { ...pr, action: 'synchronize' });
    assert.deepEqual(asked.body['pipelines'], [`${namespace}/${name}`], JSON.stringify(asked.body));
    const run = await runWith(
      driver,
      namespace,
      (r) => r.revision === head && r.phase === 'Running',
      'the run',
    );
    assert.deepEqual(run.pullRequest, {
      number: 9,
      sourceBranch: 'forked',
      targetBranch: 'main',
      fromFork: true,
    });
    await eventually(() => driver.executor.runs.has(run.id), { what: 'its Pod' });
    const pod = driver.executor.runs.get(run.id)?.pod;
    const spec = pod?.['spec'] as { initContainers: { name: string }[]; containers: { name: string }[] };
    assert.deepEqual(
      [...spec.initContainers, ...spec.containers].map((c) => c.name),
      ['checkout', 'test'],
      'the step that names a Secret is not in the Pod',
    );
    driver.executor.succeed(run.id);
    const ended = await runWith(
      driver,
      namespace,
      (r) => r.id === run.id && r.phase === 'Succeeded',
      'it ends',
    );
    assert.deepEqual(
      ended.steps.map((s) => [s.name, s.phase, s.reason]),
      [
        ['checkout', 'Succeeded', undefined],
        ['test', 'Succeeded', undefined],
        ['publish', 'Skipped', 'SecretsWithheld'],
      ],
    );
  });

  it('a pushed commit starts a run through the webhook; ignored paths do not; the status names the run', async (t) => {
    const { namespace, repo } = await setUp(t, PUSH_MAIN);
    const driver = await startDriver(namespace);
    t.after(() => driver.stop());
    const sha = await git.commit(repo, {
      files: { 'src/main.js': 'console.log(2)\n' },
      message: 'change code',
    });
    const answer = await webhook(git.url(repo), 'refs/heads/main', sha, ['src/main.js']);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body['pipelines'], [`${namespace}/web`]);
    const run = await runWith(driver, namespace, (r) => r.revision === sha && r.phase === 'Running', 'a run');
    assert.equal(run.trigger, 'push');
    assert.equal(run.branch, 'main');
    // The agent's receiver holds no seal: its `by` is recorded as a claim (docs/pipelines.md, "Who asked").
    assert.equal(run.triggeredBy, 'unverified:webhook:generic');
    assert.equal(run.commitMessage, 'change code');
    // The run is recorded Running before its Pod is asked for: wait for the Pod (a fresh clone's run
    // once read it too early, under the whole suite's load).
    await eventually(() => driver.executor.runs.has(run.id), { what: 'its Pod' });
    const pod = driver.executor.runs.get(run.id)?.pod;
    assert.equal(pod?.metadata.namespace, namespace);
    await succeed(driver, run.id);
    await runWith(driver, namespace, (r) => r.id === run.id && r.phase === 'Succeeded', 'the run ended');
    const status = await eventually(async () => {
      const live = await admin.get(pipelineType, namespace, 'web');
      const lastRun = (live?.['status'] as { lastRun?: { id: string; phase: string } } | undefined)?.lastRun;
      return lastRun?.phase === 'Succeeded' ? lastRun : false;
    });
    assert.equal(status.id, run.id);

    // The same delivery again is a replay for the receiver; the same push reported anew makes no second run.
    await requestPipelineRuns(new KubePipelineDirectory(admin), {
      provider: 'gitea',
      repoURLs: [git.url(repo).toLowerCase()],
      ref: 'refs/heads/main',
      after: sha,
      changedPaths: ['src/main.js'],
    });
    // A push of documentation only: the request is handled and skipped.
    const docs = await git.commit(repo, { files: { 'docs/a.md': '# a\n' }, message: 'docs' });
    await webhook(git.url(repo), 'refs/heads/main', docs, ['docs/a.md']);
    await eventually(async () => {
      const live = await admin.get(pipelineType, namespace, 'web');
      return Object.values(live?.metadata.annotations ?? {}).some((v) => v.includes(docs));
    });
    await driver.controller.idle();
    const runs = await runsOf(driver, namespace);
    assert.deepEqual(
      runs.map((r) => r.revision),
      [sha],
      'one run: the replayed push and the documentation push started none',
    );
  });

  it('a newer push to the branch cancels the older run and records who did', async (t) => {
    const { namespace, repo, name } = await setUp(t, PUSH_MAIN);
    const driver = await startDriver(namespace);
    t.after(() => driver.stop());
    const first = await git.commit(repo, { files: { 'src/a.js': '1\n' } });
    await requestRun(admin, { namespace, name }, push('1', first, ['src/a.js']));
    const older = await runWith(
      driver,
      namespace,
      (r) => r.revision === first && r.phase === 'Running',
      'first',
    );
    const second = await git.commit(repo, { files: { 'src/a.js': '2\n' } });
    await requestRun(admin, { namespace, name }, push('2', second, ['src/a.js']));
    const newer = await runWith(
      driver,
      namespace,
      (r) => r.revision === second && r.phase === 'Running',
      'second',
    );
    const cancelled = await driver.store.runs.get(older.id);
    assert.equal(cancelled?.phase, 'Cancelled');
    assert.equal(cancelled.reason, 'Superseded');
    assert.match(
      cancelled.cancelledBy ?? '',
      new RegExp(`run ${newer.id} \\(push of ${second.slice(0, 12)} to main\\)`),
    );
    assert.equal(
      driver.executor.runs.get(older.id)?.cancelled,
      true,
      'the older run was aborted (its Pod deleted)',
    );
    await succeed(driver, newer.id);
    await runWith(
      driver,
      namespace,
      (r) => r.id === newer.id && r.phase === 'Succeeded',
      'the newer run ended',
    );
  });

  it('at most maxRuns go at once; the others wait Queued and start in order', async (t) => {
    const yaml = PUSH_MAIN.replace('steps:', 'concurrency: { maxRuns: 1, cancelOlder: false }\nsteps:');
    const { namespace, repo, name } = await setUp(t, yaml);
    const driver = await startDriver(namespace);
    t.after(() => driver.stop());
    const shas: string[] = [];
    for (const n of ['1', '2', '3']) {
      const sha = await git.commit(repo, { files: { 'src/a.js': `${n}\n` } });
      shas.push(sha);
      await requestRun(admin, { namespace, name }, push(n, sha, ['src/a.js']));
      await runWith(driver, namespace, (r) => r.revision === sha, `run ${n} recorded`);
    }
    const [one = '', two = '', three = ''] = shas;
    const phases = async () =>
      Object.fromEntries((await runsOf(driver, namespace)).map((r) => [r.revision, r.phase]));
    assert.deepEqual(await phases(), { [one]: 'Running', [two]: 'Queued', [three]: 'Queued' });
    const first = await runWith(driver, namespace, (r) => r.revision === one, 'first');
    await succeed(driver, first.id);
    const secondRun = await runWith(
      driver,
      namespace,
      (r) => r.revision === two && r.phase === 'Running',
      'second starts',
    );
    assert.equal((await phases())[three], 'Queued');
    await succeed(driver, secondRun.id);
    const third = await runWith(
      driver,
      namespace,
      (r) => r.revision === three && r.phase === 'Running',
      'third starts',
    );
    await succeed(driver, third.id);
    await runWith(driver, namespace, (r) => r.id === third.id && r.phase === 'Succeeded', 'third ends');
    const metrics = driver.registry.expose();
    assert.match(metrics, /^capstan_pipeline_runs_total\{result="Succeeded"\} 3$/m);
    assert.match(metrics, /^capstan_pipeline_run_queue_seconds_count 3$/m);
  });

  it('manual runs and re-runs go by request; a cancel by a person is recorded; a tag push runs only when tags are triggers', async (t) => {
    const { namespace, name, first } = await setUp(t, PUSH_MAIN);
    const driver = await startDriver(namespace);
    t.after(() => driver.stop());
    // Written as the server writes it: sealed with its key, so `by` is believed.
    await requestRun(
      admin,
      { namespace, name },
      sealRunRequest(
        { namespace, name },
        { id: 'manual-1', kind: 'manual', ref: 'refs/heads/main', by: 'alice', at: new Date().toISOString() },
        REQUEST_KEY,
      ),
    );
    const manual = await runWith(driver, namespace, (r) => r.trigger === 'manual', 'the manual run');
    assert.equal(manual.revision, first, 'the head of main, found with ls-remote');
    assert.equal(manual.triggeredBy, 'alice');
    await driver.controller.cancel(manual.id, 'bob');
    const cancelled = await driver.store.runs.get(manual.id);
    assert.equal(cancelled?.phase, 'Cancelled');
    assert.equal(cancelled.cancelledBy, 'bob');
    await requestRun(
      admin,
      { namespace, name },
      {
        id: 'rerun-1',
        kind: 'rerun',
        ref: 'refs/heads/main',
        revision: first,
        rerunOf: manual.id,
        by: 'alice',
        at: new Date().toISOString(),
      },
    );
    const rerun = await runWith(driver, namespace, (r) => r.trigger === 'rerun', 'the re-run');
    assert.equal(rerun.rerunOf, manual.id);
    await succeed(driver, rerun.id);
    const tag = await driver.controller.request(namespace, name, {
      id: 'tag-1',
      kind: 'push',
      ref: 'refs/tags/v1.0.0',
      revision: first,
      by: 'webhook:generic',
      at: new Date().toISOString(),
    });
    assert.deepEqual(tag, {
      skipped: 'the triggers of .capstan/pipeline.yaml do not match refs/tags/v1.0.0',
    });
  });

  it('an invalid pipeline file fails its run with the line, and nothing runs', async (t) => {
    const { namespace, repo, name } = await setUp(t, PUSH_MAIN);
    const driver = await startDriver(namespace);
    t.after(() => driver.stop());
    const bad = await git.commit(repo, {
      files: { '.capstan/pipeline.yaml': `${PUSH_MAIN}  - name: x\n    image: busybox\n    comands: [x]\n` },
    });
    await requestRun(admin, { namespace, name }, push('bad', bad, ['.capstan/pipeline.yaml']));
    const failed = await runWith(
      driver,
      namespace,
      (r) => r.revision === bad && r.phase === 'Failed',
      'failed run',
    );
    assert.equal(failed.reason, 'PipelineFileInvalid');
    assert.match(
      failed.statusMessage ?? '',
      /\.capstan\/pipeline\.yaml:\d+:\d+: steps\[1\]\.comands: unknown field/,
    );
    assert.equal(driver.executor.runs.has(failed.id), false, 'no Pod was asked for');
  });

  it('polls find new commits on every branch and tag the triggers name, and no other', async (t) => {
    const file = PUSH_MAIN.replace('branches: [main]', "branches: [main, 'release/*']\n    tags: ['v*']");
    const { namespace, repo } = await setUp(t, file, { pollInterval: '1s' });
    const driver = await startDriver(namespace);
    t.after(() => driver.stop());
    // The first poll only remembers the refs: wait for it, through the ls-remote it makes.
    const before = git.requests.length;
    await eventually(() => git.requests.slice(before).some((r) => r.service === 'git-upload-pack'));
    const sha = await git.commit(repo, { files: { 'src/b.js': 'b\n' } });
    const polled = await runWith(driver, namespace, (r) => r.revision === sha, 'a run for the polled commit');
    assert.equal(polled.trigger, 'poll');
    assert.equal(polled.triggeredBy, 'poll');
    assert.equal(polled.branch, 'main');
    await succeed(driver, polled.id);
    // A new branch the triggers name runs; one they do not name does not; a new tag runs.
    const release = await git.commit(repo, { branch: 'release/1', files: { 'src/c.js': 'c\n' } });
    const onRelease = await runWith(driver, namespace, (r) => r.revision === release, 'release/1');
    assert.deepEqual([onRelease.trigger, onRelease.branch], ['poll', 'release/1']);
    await succeed(driver, onRelease.id);
    const feature = await git.commit(repo, { branch: 'feature-x', files: { 'src/d.js': 'd\n' } });
    await git.tag(repo, 'v1.0.0', release);
    const tagged = await runWith(driver, namespace, (r) => r.tag === 'v1.0.0', 'the tag v1.0.0');
    assert.equal(tagged.revision, release);
    assert.equal(tagged.trigger, 'poll');
    await succeed(driver, tagged.id);
    const all = await runsOf(driver, namespace);
    assert.equal(
      all.filter((r) => r.revision === feature).length,
      0,
      'feature-x is not in the triggers: its commit (seen before the tag) did not run',
    );
  });

  it('after a restart, the run that was going is adopted (no second Pod) and ends; a run whose Pod went meanwhile fails PodGone; a run Pod of no known run is deleted; queued runs start; retention prunes', async (t) => {
    const file = `${randomBytes(4).toString('hex')}.db`;
    const yaml = PUSH_MAIN.replace('steps:', 'concurrency: { maxRuns: 1, cancelOlder: false }\nsteps:');
    const { namespace, repo, name } = await setUp(t, yaml);
    const executor = new HeldRunExecutor();
    const first = await startDriver(namespace, file, executor);
    const a = await git.commit(repo, { files: { 'src/a.js': 'a\n' } });
    await requestRun(admin, { namespace, name }, push('a', a, ['src/a.js']));
    const going = await runWith(first, namespace, (r) => r.revision === a && r.phase === 'Running', 'a runs');
    await eventually(() => executor.runs.has(going.id), { what: 'its Pod made' });
    executor.runs.get(going.id)?.options.onLog('test', 'a line before the restart');
    const b = await git.commit(repo, { files: { 'src/a.js': 'b\n' } });
    await requestRun(admin, { namespace, name }, push('b', b, ['src/a.js']));
    const waiting = await runWith(first, namespace, (r) => r.revision === b, 'b queued');
    assert.equal(waiting.phase, 'Queued');
    // The driver stops while the run goes: the Pod is left going, the record Running.
    await first.stop();
    assert.equal(executor.runs.get(going.id)?.followed, false, 'no one follows the run');
    assert.equal(executor.runs.get(going.id)?.cancelled, false, 'the run was not cancelled');
    // A run left Running whose Pod went while no driver ran.
    const left = openSqliteStore({ path: join(storeDir, file) });
    assert.equal((await left.runs.get(going.id))?.phase, 'Running');
    const orphan = leftRun({ id: 'orphan1', namespace, pipeline: name, revision: a, phase: 'Running' });
    await left.runs.create(orphan);
    await left.close();
    // A run Pod the Store knows no run of (a Store lost with the server's Pod).
    await clients.core.createNamespacedPod({
      namespace,
      body: {
        metadata: {
          name: runPodName(name, 'ghost1'),
          labels: { 'capstan.dev/run': 'ghost1', 'capstan.dev/pipeline': name },
        },
        spec: { containers: [{ name: 'step', image: 'busybox' }] },
      },
    });
    const driver = await startDriver(namespace, file, executor);
    t.after(() => driver.stop());
    const failed = await runWith(
      driver,
      namespace,
      (r) => r.id === orphan.id && r.phase === 'Failed',
      'orphan failed',
    );
    assert.equal(failed.reason, 'PodGone');
    assert.match(failed.statusMessage ?? '', /gone/);
    await eventually(
      async () => {
        const pods = await clients.core.listNamespacedPod({ namespace });
        return pods.items.every((p) => p.metadata?.deletionTimestamp !== undefined);
      },
      { what: 'the run Pod of no known run deleted' },
    );
    await eventually(() => executor.runs.get(going.id)?.followed === true, { what: 'the run adopted' });
    assert.equal(executor.runs.get(going.id)?.adoptions, 1);
    executor.runs.get(going.id)?.options.onLog('test', 'a line after the restart');
    assert.equal((await driver.store.runs.get(waiting.id))?.phase, 'Queued', 'maxRuns 1: b still waits');
    executor.succeed(going.id);
    const ended = await runWith(
      driver,
      namespace,
      (r) => r.id === going.id && r.phase === 'Succeeded',
      'the adopted run ends',
    );
    assert.ok(ended.steps.every((s) => s.phase === 'Succeeded'));
    assert.deepEqual(
      (await driver.store.runs.logs(going.id, { limit: 100 })).map((l) => l.line),
      ['a line before the restart', 'a line after the restart'],
    );
    await runWith(driver, namespace, (r) => r.id === waiting.id && r.phase === 'Running', 'b starts');
    await succeed(driver, waiting.id);
    await runWith(driver, namespace, (r) => r.id === waiting.id && r.phase === 'Succeeded', 'b ends');
    assert.deepEqual(executor.started, [going.id, waiting.id], 'one Pod each, none made again');
    await pruneOld(driver.controller, { retentionDays: 0 });
    assert.deepEqual(await runsOf(driver, namespace), [], 'every finished run was pruned');
  });
});

function leftRun(run: Pick<RunRecord, 'id' | 'namespace' | 'pipeline' | 'revision' | 'phase'>): RunRecord {
  return {
    ...run,
    project: 'default',
    branch: 'main',
    trigger: 'push',
    triggeredBy: 'webhook:generic',
    queuedAt: new Date().toISOString(),
    steps: [],
    images: [],
  };
}

function push(id: string, revision: string, changedPaths: string[]) {
  return {
    id: `push-${id}-${revision}`,
    kind: 'push' as const,
    ref: 'refs/heads/main',
    revision,
    changedPaths,
    by: 'webhook:generic',
    at: new Date().toISOString(),
  };
}
