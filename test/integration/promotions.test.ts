// Environments and promotions end to end against the real API server, a real git server, the real
// agent (`capstan agent`, a process) and a real Store (SQLite): a Succeeded run of the Pipeline `hello`
// (its record in the Store, as the pipeline driver writes it; building the image needs the real node,
// which this tier does not have) is promoted to `dev` on its own: a commit holding the digest in
// dev/kustomization.yaml, the Application synced to that commit, the gates passed, the Environment's
// status naming the image. `staging` follows dev and waits for an approval; approved, it commits with
// the approver in the message. A rejected one commits nothing. A promotion whose commit leaves the
// Application Degraded fails with the reason. The API server refuses an Environment whose file leaves
// the repository. A promotion whose Application syncs a later commit that contains it (a person's
// change on top) passes the gates, and then its check after health (a GET that must answer 2xx). The driver runs in the test process, as `capstan server` runs it,
// driven by watches only (its resync is an hour): a run reaches it through its Pipeline's status, an
// approval through the Environment's status the API writes.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { openSqliteStore } from '../../src/adapters/store/sqlite-store.ts';
import { APPLICATION_API_VERSION, type Application } from '../../src/contracts/application.ts';
import {
  ENVIRONMENT_API_VERSION,
  ENVIRONMENT_KIND,
  resolveEnvironment,
  type Environment,
} from '../../src/contracts/environment.ts';
import { writeImageReference } from '../../src/adapters/git/image-write.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND } from '../../src/contracts/pipeline.ts';
import { environmentStatusWriter, promotionDeps, runPromotionDriver } from '../../src/main/promotions.ts';
import { decide, requestPromotion } from '../../src/promotions/promotion-driver.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import type { PromotionRecord, PromotionState, Store } from '../../src/ports/store.ts';
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
  untilApplicationsGone,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { gitSecretBody, startGitServer } from '../../src/testing/git.ts';
import { adminHeaders, serverIdentity, startTestServer } from '../../src/testing/server.ts';
import { CLI } from '../../src/testing/cli.ts';

const git = await startGitServer(after);
/** qa's check after health (gates.verify): a loopback server answering `checkStatus`. */
let checkStatus = 503;
const check = createServer((_request, response) => {
  response.writeHead(checkStatus).end();
});
await new Promise<void>((resolve) => check.listen(0, '127.0.0.1', resolve));
after(
  () =>
    new Promise<void>((resolve) => {
      check.close(() => {
        resolve();
      });
    }),
);
const checkUrl = `http://127.0.0.1:${String((check.address() as AddressInfo).port)}/healthz`;
const exec = promisify(execFile);
const LABEL_KEY = 'capstan.dev/test-promotions';
const IMAGE_ONE = `127.0.0.1:5000/capstan/hello@sha256:${'1'.repeat(64)}`;
const IMAGE_TWO = `127.0.0.1:5000/capstan/hello@sha256:${'2'.repeat(64)}`;
const IMAGE_BAD = `127.0.0.1:5000/capstan/hello@sha256:${'3'.repeat(64)}`;

let admin: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
let envType: ResourceType;
let pipelineType: ResourceType;
let kubeconfig: string;
let store: Store;
let namespace = '';
let repo = '';
let base = '';
let viewer: Record<string, string> = {};
let approver: Record<string, string> = {};
const scratch = await mkdtemp(join(tmpdir(), 'capstan-promotions-'));
const stop = new AbortController();
/** Cleanups of the describe's setup, run by the file's `after` (a hook's own `after` runs too early). */
const cleanups: (() => Promise<void>)[] = [];
const driverLog: string[] = [];

const deployment = (name: string, labels: Record<string, string> = {}) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 1
  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: ${JSON.stringify({ app: name, ...labels })}
    spec:
      containers:
        - name: web
          image: hello
`;
/** A bare Pod whose container kwok fails: the Application turns Degraded. */
const failingPod = `apiVersion: v1
kind: Pod
metadata:
  name: crasher
  labels: { pod-container-running-failed.stage.kwok.x-k8s.io: "true" }
spec:
  containers:
    - name: web
      image: hello
`;
const kustomization = (resource: string) =>
  `resources:\n  - ${resource}\nimages:\n  - name: hello\n    newTag: "0"\n`;

before(async () => {
  const cluster = await testCluster();
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  kube = kubeClients(cluster.adminKubeconfig);
  appType = await installApplicationCrd(admin);
  envType = await installEnvironmentCrd(admin);
  pipelineType = await installPipelineCrd(admin);
  await installProjectCrd(admin);
  kubeconfig = await agentKubeconfig(cluster);
  store = openSqliteStore({ path: join(scratch, 'store.db') });
});

after(async () => {
  stop.abort();
  for (const cleanup of cleanups.reverse()) await cleanup();
  await store.close();
  admin.close();
  await rm(scratch, { recursive: true, force: true });
});

const environment = (name: string, spec: Record<string, unknown>, file = `${name}/kustomization.yaml`) => ({
  apiVersion: ENVIRONMENT_API_VERSION,
  kind: ENVIRONMENT_KIND,
  metadata: { name, namespace },
  spec: {
    application: `hello-${name}`,
    config: {
      repoURL: git.url(repo),
      file,
      kustomizeImage: 'hello',
      credentials: { secretRef: { name: 'git' } },
      insecureHttp: true,
    },
    gates: { healthyFor: '1s', timeout: '3m' },
    ...spec,
  },
});

/** A Succeeded run of the Pipeline hello: its record in the Store and its Pipeline's status, as the pipeline driver writes them. */
async function succeeded(id: string, image: string, revision: string): Promise<void> {
  const at = new Date().toISOString();
  await store.runs.create({
    id,
    namespace,
    pipeline: 'hello',
    project: 'default',
    revision,
    branch: 'main',
    trigger: 'push',
    triggeredBy: 'webhook',
    phase: 'Succeeded',
    queuedAt: at,
    finishedAt: at,
    steps: [],
    images: [
      { step: 'image', reference: image, digest: image.slice(image.indexOf('@') + 1), tags: ['main'] },
    ],
  });
  const res = await admin.client.call(
    'PATCH',
    `/apis/${PIPELINE_API_VERSION}/namespaces/${namespace}/pipelines/hello/status`,
    {
      body: { status: { lastRun: { id, phase: 'Succeeded', revision } } },
      contentType: 'application/merge-patch+json',
    },
  );
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

async function applyApplication(name: string, label: string, automated = true): Promise<void> {
  await admin.apply(
    appType,
    {
      apiVersion: APPLICATION_API_VERSION,
      kind: 'Application',
      metadata: { name: `hello-${name}`, namespace, labels: { [LABEL_KEY]: label } },
      spec: {
        source: { repoURL: git.url(repo), path: name, insecureHttp: true, secretRef: { name: 'git' } },
        ...(automated ? { syncPolicy: { automated: { prune: true } } } : {}),
        interval: '2s',
      },
    },
    { fieldManager: 'capstan-test' },
  );
}

/** The newest promotion of an environment once it reaches `state`. */
async function promotionIn(
  env: string,
  state: PromotionState,
  what = `${env} ${state}`,
): Promise<PromotionRecord> {
  return eventually(
    async () => {
      const [latest] = await store.promotions.list({ namespace, environment: env, limit: 1 });
      if (
        latest !== undefined &&
        latest.state !== state &&
        ['Failed', 'Rejected'].includes(latest.state) &&
        state === 'Verified'
      )
        throw new Error(`${env}: ${latest.state} ${latest.reason ?? ''}: ${latest.message ?? ''}`);
      return latest?.state === state ? latest : false;
    },
    { what, timeoutMs: 120_000 },
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}\ndriver log:\n${driverLog.slice(-20).join('\n')}`);
  });
}

const show = async (spec: string) =>
  (await exec('git', ['--git-dir', join(git.root, 'repos', `${repo}.git`), 'show', spec])).stdout;

/** A token of `role` in the default project, as headers. */
async function tokenHeaders(headers: Record<string, string>, role: 'viewer' | 'admin') {
  const created = await fetch(`${base}/api/v1/tokens`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: `promotions-${role}`, project: 'default', role, expiresInDays: 1 }),
  });
  assert.equal(created.status, 201, await created.clone().text());
  const { token } = (await created.json()) as { token: string };
  return { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
}

async function api(
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${base}${path}`, init);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The text of an event stream up to the point `done` says so. */
async function readUntil(response: Response, done: (text: string) => boolean): Promise<string> {
  const reader = response.body?.getReader();
  assert.ok(reader);
  const decoder = new TextDecoder();
  let text = '';
  while (!done(text)) {
    const chunk = await reader.read();
    if (chunk.done) break;
    text += decoder.decode(chunk.value as Uint8Array, { stream: true });
  }
  return text;
}

async function resolved(name: string) {
  const object = await admin.get(envType, namespace, name);
  assert.ok(object);
  const env = resolveEnvironment(object);
  assert.ok(env.ok);
  return env.value;
}

describe('promotions through environments', () => {
  before(async () => {
    namespace = await freshNamespace({ name: 'promotions', after: (fn) => cleanups.push(fn) }, kube);
    repo = `promotions-${namespace}`;
    await git.createRepository(repo, {
      files: {
        'dev/kustomization.yaml': kustomization('deployment.yaml'),
        'dev/deployment.yaml': deployment('hello'),
        'staging/kustomization.yaml': kustomization('deployment.yaml'),
        'staging/deployment.yaml': deployment('hello-staging'),
        'canary/kustomization.yaml': kustomization('pod.yaml'),
        'canary/pod.yaml': failingPod,
        'qa/kustomization.yaml': kustomization('deployment.yaml'),
        'qa/deployment.yaml': deployment('hello-qa'),
        'qa/notes.yaml': 'owner: qa\nreviewed: none\n',
      },
      message: 'three environments',
    });
    await kube.core.createNamespacedSecret({ namespace, body: gitSecretBody(git) });
    const label = `promotions-${String(process.pid)}`;
    const agent = await startAgentProcess((fn) => cleanups.push(fn), {
      kubeconfig,
      selector: `${LABEL_KEY}=${label}`,
    });
    // Its waits start once it runs, not while Node.js loads it (tens of seconds on a busy machine).
    await agent.started();
    // Run before the agent stops (cleanups run in reverse): its finalizers would keep the Applications,
    // Healthy in a namespace left Terminating, in the cluster the next files (the UI's counts) reuse.
    cleanups.push(() => untilApplicationsGone(admin, appType, `${LABEL_KEY}=${label}`));
    for (const name of ['dev', 'staging', 'canary']) await applyApplication(name, label);
    // qa's Application syncs only when asked: a person's commit lands on top of the promotion's first.
    await applyApplication('qa', label, false);
    await admin.apply(
      pipelineType,
      {
        apiVersion: PIPELINE_API_VERSION,
        kind: PIPELINE_KIND,
        metadata: { name: 'hello', namespace },
        spec: { repoURL: git.url(repo), credentials: { secretRef: { name: 'git' } } },
      },
      { fieldManager: 'capstan-test' },
    );
    await admin.apply(envType, environment('dev', { source: { pipeline: { name: 'hello' } } }), {
      fieldManager: 'capstan-test',
    });
    await admin.apply(
      envType,
      environment('staging', {
        source: { environment: 'dev' },
        gates: { healthyFor: '1s', timeout: '3m', approval: 'Required' },
      }),
      { fieldManager: 'capstan-test' },
    );
    await admin.apply(envType, environment('canary', {}), { fieldManager: 'capstan-test' });
    await admin.apply(
      envType,
      environment('qa', { gates: { healthyFor: '1s', timeout: '3m', verify: { url: checkUrl } } }),
      { fieldManager: 'capstan-test' },
    );
    // capstan server (in this process) with its own least-privilege identity, on the same Store.
    const home = await freshNamespace({ name: 'promotions-server', after: (fn) => cleanups.push(fn) }, kube);
    ({ base } = await startTestServer((fn) => cleanups.push(fn), {
      kubeconfig: await serverIdentity(admin, home),
      namespace: home,
      database: join(scratch, 'store.db'),
    }));
    const headers = await adminHeaders(admin, base, home);
    viewer = await tokenHeaders(headers, 'viewer');
    approver = await tokenHeaders(headers, 'admin');
    void runPromotionDriver(
      {
        cluster: admin,
        store,
        namespace,
        allowInsecureHttp: true,
        // Events only: a resync would hide a missed one.
        resyncMs: 3_600_000,
        log: (line) => driverLog.push(JSON.stringify(line)),
      },
      stop.signal,
    );
  });

  it('promotes a Succeeded run of the Pipeline to dev on its own: commit, sync, gates', async () => {
    await succeeded(`hello-run-1-${String(process.pid)}`, IMAGE_ONE, 'a'.repeat(40));
    const verified = await promotionIn('dev', 'Verified');
    assert.equal(verified.image, IMAGE_ONE);
    assert.equal(verified.fromRun, `hello-run-1-${String(process.pid)}`);
    assert.equal(verified.requestedBy, 'auto');
    assert.deepEqual(
      verified.steps.map((s) => s.state),
      ['Pending', 'Approved', 'Committed', 'Verified'],
    );
    assert.ok(verified.commit);
    // The commit in git holds the digest, and names the promotion and the run.
    assert.match(await show(`${verified.commit}:dev/kustomization.yaml`), /digest: sha256:1{64}/);
    const message = await show(`--format=%B -s ${verified.commit}`);
    assert.match(message, new RegExp(`Capstan-Promotion: ${verified.id}`));
    assert.match(message, /Capstan-From-Run: hello-run-1-/);
    // The Application runs that commit, and the Deployment the image.
    const app = (await admin.get(appType, namespace, 'hello-dev')) as unknown as Application;
    assert.equal(app.status?.sync?.revision, verified.commit);
    const live = await kube.apps.readNamespacedDeployment({ name: 'hello', namespace });
    assert.equal(live.spec?.template.spec?.containers[0]?.image, IMAGE_ONE);
    const env = (await admin.get(envType, namespace, 'dev')) as unknown as Environment;
    await eventually(
      async () =>
        ((await admin.get(envType, namespace, 'dev')) as unknown as Environment).status?.currentImage ===
        IMAGE_ONE,
      { what: 'dev status names the image' },
    );
    assert.ok(env.metadata.name === 'dev');
  });

  it('waits for an approval in staging, then commits with the approver named', async () => {
    const waiting = await promotionIn('staging', 'WaitingForApproval');
    assert.equal(waiting.image, IMAGE_ONE);
    assert.equal(waiting.fromEnvironment, 'dev');
    const before = (
      await exec('git', ['--git-dir', join(git.root, 'repos', `${repo}.git`), 'rev-parse', 'main'])
    ).stdout.trim();
    assert.doesNotMatch(
      await show(`${before}:staging/kustomization.yaml`),
      /sha256/,
      'nothing committed before the approval',
    );
    // A viewer's approval is refused (403, audited); an approver's is taken.
    const refused = await api(`/api/v1/promotions/${waiting.id}/approve`, {
      method: 'POST',
      headers: viewer,
      body: '{}',
    });
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.equal(refused.body['permission'], 'promotions.approve');
    assert.equal((await store.promotions.get(waiting.id))?.state, 'WaitingForApproval');
    const denied = await store.audit.query({ action: 'promotion.approve', result: 'denied', limit: 5 });
    assert.equal(denied[0]?.target, `Promotion/${namespace}/staging/${waiting.id}`);
    const approved = await api(`/api/v1/promotions/${waiting.id}/approve`, {
      method: 'POST',
      headers: approver,
      body: '{}',
    });
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    assert.equal(approved.body['state'], 'Approved');
    const listed = await api(`/api/v1/promotions?namespace=${namespace}&environment=staging`, {
      headers: viewer,
    });
    assert.equal(listed.status, 200);
    assert.deepEqual(
      (listed.body['items'] as { id: string }[]).map((p) => p.id),
      [waiting.id],
    );
    const verified = await promotionIn('staging', 'Verified');
    assert.match(verified.approvedBy ?? '', /^token:/);
    assert.match(await show(`--format=%B -s ${verified.commit ?? ''}`), /Capstan-Approved-By: token:/);
    const envs = await api('/api/v1/environments', { headers: viewer });
    const staging = (envs.body['items'] as { namespace: string; name: string; currentImage?: string }[]).find(
      (e) => e.namespace === namespace && e.name === 'staging',
    );
    await eventually(
      async () =>
        ((await admin.get(envType, namespace, 'staging')) as unknown as Environment).status?.currentImage ===
        IMAGE_ONE,
      { what: 'staging status names the image' },
    );
    assert.ok(staging, 'the viewer lists staging');
    assert.match(await show(`${verified.commit ?? ''}:staging/kustomization.yaml`), /digest: sha256:1{64}/);
  });

  it('commits nothing for a rejected promotion', async () => {
    await succeeded(`hello-run-2-${String(process.pid)}`, IMAGE_TWO, 'b'.repeat(40));
    const dev = await eventually(
      async () => {
        const [p] = await store.promotions.list({
          namespace,
          environment: 'dev',
          state: 'Verified',
          limit: 1,
        });
        return p?.image === IMAGE_TWO ? p : false;
      },
      { what: 'dev verified on the second image', timeoutMs: 120_000 },
    );
    assert.equal(
      dev.previousImage,
      IMAGE_ONE,
      'the promotion remembers what dev ran before (a rollback promotes it)',
    );
    const waiting = await eventually(
      async () => {
        const [p] = await store.promotions.list({ namespace, environment: 'staging', limit: 1 });
        return p?.image === IMAGE_TWO && p.state === 'WaitingForApproval' ? p : false;
      },
      { what: 'staging waiting for the second image' },
    );
    const answer = await api(`/api/v1/promotions/${waiting.id}/reject`, {
      method: 'POST',
      headers: approver,
      body: '{}',
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const rejected = await store.promotions.get(waiting.id);
    assert.ok(rejected);
    assert.equal(rejected.state, 'Rejected');
    assert.equal(rejected.reason, 'Rejected');
    const again = await api(`/api/v1/promotions/${waiting.id}/approve`, {
      method: 'POST',
      headers: approver,
      body: '{}',
    });
    assert.equal(again.status, 409);
    assert.equal(again.body['error'], 'PROMOTION_STATE');
    await assert.rejects(
      decide({ promotions: store.promotions, now: () => new Date() }, rejected, {
        type: 'approve',
        by: 'ann',
      }),
      { code: 'PROMOTION_STATE', message: /Rejected already/ },
    );
    await eventually(
      async () =>
        ((await admin.get(envType, namespace, 'staging')) as unknown as Environment).status?.lastPromotion
          ?.state === 'Rejected',
      { what: 'staging status says Rejected' },
    );
    assert.match(
      await show('main:staging/kustomization.yaml'),
      /digest: sha256:1{64}/,
      'staging keeps the first image',
    );
  });

  it('fails a promotion whose commit leaves the Application Degraded, with the reason', async () => {
    const canary = await resolved('canary');
    const deps = await promotionDeps({ cluster: admin, store, namespace, allowInsecureHttp: true });
    await requestPromotion(deps, { environment: canary, image: IMAGE_BAD, by: 'carol' });
    // As the API does after a promotion by hand: the Environment's status tells the driver.
    await environmentStatusWriter(admin, store.promotions)(namespace, 'canary');
    const failed = await eventually(
      async () => {
        const [p] = await store.promotions.list({ namespace, environment: 'canary', limit: 1 });
        return p?.state === 'Failed' ? p : false;
      },
      { what: 'canary Failed', timeoutMs: 120_000 },
    );
    assert.equal(failed.reason, 'Degraded', failed.message);
    assert.match(failed.message ?? '', /^the Application is Degraded on [0-9a-f]{12}/);
    assert.ok(failed.commit, 'it had committed');
  });

  it('passes the gates on a later commit that contains the promotion (a person’s change on top), then its check', async () => {
    const deps = await promotionDeps({ cluster: admin, store, namespace, allowInsecureHttp: true });
    const requested = await requestPromotion(deps, {
      environment: await resolved('qa'),
      image: IMAGE_ONE,
      by: 'carol',
    });
    await environmentStatusWriter(admin, store.promotions)(namespace, 'qa');
    const committed = await promotionIn('qa', 'Committed');
    assert.equal(committed.id, requested.id);
    // Someone else's commit on top, before the Application synced the promotion's.
    const later = await writeImageReference({
      repoURL: git.url(repo),
      branch: 'main',
      file: 'qa/notes.yaml',
      location: { kind: 'yamlPath', path: 'reviewed' },
      reference: IMAGE_TWO,
      message: 'a person’s change',
      author: { name: 'Pat', email: 'pat@example.invalid' },
      credentials: { kind: 'basic', username: git.username, password: git.password },
      allowInsecureHttp: true,
    });
    const tip = later.commit;
    assert.notEqual(tip, committed.commit);
    await eventually(
      async () =>
        ((await admin.get(appType, namespace, 'hello-qa')) as unknown as Application).status?.sync
          ?.revision === tip,
      { what: 'hello-qa compared at the later commit' },
    );
    assert.equal(
      (await store.promotions.get(committed.id))?.state,
      'Committed',
      'not synced yet: still waiting',
    );
    await admin.client.call(
      'PATCH',
      `/apis/${APPLICATION_API_VERSION}/namespaces/${namespace}/applications/hello-qa`,
      {
        body: { metadata: { annotations: { 'capstan.dev/sync': `qa-${String(Date.now())}` } } },
        contentType: 'application/merge-patch+json',
      },
    );
    // Healthy on the later commit, the check after health answers 503: the promotion waits, saying so.
    await eventually(
      async () =>
        /answered 503; it must answer a 2xx status/.test(
          (await store.promotions.get(committed.id))?.message ?? '',
        ),
      { what: 'qa waiting on its check', timeoutMs: 120_000 },
    );
    assert.equal((await store.promotions.get(committed.id))?.state, 'Committed');
    checkStatus = 200;
    const verified = await promotionIn('qa', 'Verified');
    assert.match(verified.message ?? '', new RegExp(`GET ${checkUrl} answered 200$`));
    assert.match(verified.steps.at(-1)?.message ?? '', /answered 200/, 'the answer is in the step too');
    const app = (await admin.get(appType, namespace, 'hello-qa')) as unknown as Application;
    assert.equal(app.status?.sync?.revision, tip, 'the Application runs the later commit');
    assert.match(
      verified.message ?? '',
      new RegExp(`which contains ${(committed.commit ?? '').slice(0, 12)}`),
    );
  });

  it('refuses an Environment whose file leaves the repository, or a request not by digest', async () => {
    await assert.rejects(
      admin.apply(envType, environment('escape', {}, '../../etc/passwd'), { fieldManager: 'capstan-test' }),
      /must be a path inside the repository/,
    );
    const deps = await promotionDeps({ cluster: admin, store, namespace, allowInsecureHttp: true });
    await assert.rejects(
      requestPromotion(deps, {
        environment: await resolved('canary'),
        image: 'capstan/hello:latest',
        by: 'carol',
      }),
      { code: 'PROMOTION_IMAGE_INVALID' },
    );
  });

  it('lists, promotes by hand and approves through the CLI, with its exit codes', async (t) => {
    const env = { ...process.env, CAPSTAN_CONFIG: join(scratch, 'login.json') };
    const capstan = (args: string[], stdin = '') =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI, ...args], { env });
        // A command that still follows when the test failed does not outlive it.
        t.after(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.stdin.end(stdin);
        child.on('close', (code) => {
          resolve({ code: code ?? -1, stdout, stderr });
        });
      });
    const token = (approver['authorization'] ?? '').replace(/^Bearer /, '');
    assert.equal((await capstan(['login', base, '--token-stdin'], token)).code, 0);
    const listed = await capstan(['env', 'list', '-n', namespace, '-o', 'json']);
    assert.equal(listed.code, 0, listed.stderr);
    const items = (JSON.parse(listed.stdout) as { items: { name: string; currentImage?: string }[] }).items;
    assert.deepEqual(items.map((e) => e.name).sort(), ['canary', 'dev', 'qa', 'staging']);
    assert.equal(items.find((e) => e.name === 'dev')?.currentImage, IMAGE_TWO);
    const table = await capstan(['env', 'list', '-n', namespace]);
    assert.match(table.stdout, /^NAMESPACE\s+NAME\s+APPLICATION\s+FROM\s+APPROVAL\s+IMAGE\s+PROMOTION/);
    // A tag is refused with the reason, exit 4; a usage error exits 2.
    const tag = await capstan(['promote', 'canary', '-n', namespace, '--image', 'capstan/hello:latest']);
    assert.equal(tag.code, 4);
    assert.match(tag.stderr, /is not an image reference by digest/);
    assert.equal((await capstan(['promote', 'canary', '-n', namespace])).code, 2);
    // Rolling staging back to what it ran before is promoting it again; it waits for an approval.
    const promoted = await capstan([
      'promote',
      'staging',
      '-n',
      namespace,
      '--image',
      IMAGE_ONE,
      '-o',
      'json',
    ]);
    assert.equal(promoted.code, 0, promoted.stderr);
    const { id } = JSON.parse(promoted.stdout) as { id: string };
    await eventually(async () => (await store.promotions.get(id))?.state === 'WaitingForApproval', {
      what: 'the promotion by hand waits for an approval',
    });
    // The promotion's events, followed until it ends; and the general stream, from now on.
    const events = fetch(`${base}/api/v1/promotions/${id}/events`, { headers: viewer }).then((r) => r.text());
    const stream = new AbortController();
    t.after(() => {
      stream.abort();
    });
    const general = await fetch(`${base}/api/v1/stream`, { headers: viewer, signal: stream.signal });
    assert.equal(general.status, 200);
    const generalText = readUntil(general, (text) =>
      new RegExp(`event: promotion\ndata: [^\n]*"id":"${id}"[^\n]*"state":"Verified"`).test(text),
    );
    // The CLI follows it too: its steps as they happen, or (-o json) the final record.
    const watching = capstan(['promotion', 'get', id, '--watch']);
    const watchingJson = capstan(['promotion', 'get', id, '-w', '-o', 'json']);
    // The record as it is after the approval: its state and message, not the wait's message before.
    const approved = await capstan(['promotion', 'approve', id]);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, new RegExp(`^promotion ${id} to ${namespace}/staging: Approved\n`));
    assert.match(approved.stdout, /^ {2}message: {3}approved by \S+; it is committed next$/m);
    assert.match(
      approved.stdout,
      /^ {2}\S+ {2}Approved {11}\S+ {2}approved by /m,
      'its step, with the message',
    );
    const again = await capstan(['promotion', 'approve', id]);
    assert.equal(again.code, 4);
    // An ID or an Environment the server does not know is named as such (not as an Application).
    for (const args of [
      ['promotion', 'get', 'promo-unknown'],
      ['promotion', 'approve', 'promo-unknown'],
      ['promotion', 'get', 'promo-unknown', '--watch'],
    ]) {
      const unknown = await capstan(args);
      assert.equal(unknown.code, 4, args.join(' '));
      assert.match(unknown.stderr, /\[PROMOTION_NOT_FOUND\]/, args.join(' '));
    }
    const noEnvironment = await capstan(['promote', 'nowhere', '-n', namespace, '--image', IMAGE_ONE]);
    assert.equal(noEnvironment.code, 4);
    assert.match(noEnvironment.stderr, /\[ENVIRONMENT_NOT_FOUND\]/);
    await eventually(async () => (await store.promotions.get(id))?.state === 'Verified', {
      what: 'the promotion by hand verified',
      timeoutMs: 120_000,
    });
    const streamed = await events;
    const watched = await watching;
    assert.equal(watched.code, 0, watched.stderr);
    assert.match(watched.stdout, new RegExp(`^promotion ${id} to ${namespace}/staging: ${IMAGE_ONE}\n`));
    const order = ['WaitingForApproval', 'Approved', 'Committed', 'Verified'].map((state) =>
      watched.stdout.search(new RegExp(`^  \\S+  ${state} `, 'm')),
    );
    assert.ok(
      order.every((at, i) => at > 0 && (i === 0 || at > (order[i - 1] ?? 0))),
      `each step once, in order:\n${watched.stdout}`,
    );
    assert.match(watched.stdout, new RegExp(`\npromotion ${id} Verified, commit [0-9a-f]{40}\n$`));
    const watchedJson = await watchingJson;
    assert.equal(watchedJson.code, 0, watchedJson.stderr);
    const final = JSON.parse(watchedJson.stdout) as { id: string; state: string; steps: unknown[] };
    assert.equal(final.state, 'Verified');
    assert.equal(final.id, id);
    // The general stream told each step of it, and of the Environment, numbered for a resume.
    const told = await generalText;
    stream.abort();
    assert.match(told, new RegExp(`event: promotion\ndata: [^\n]*"id":"${id}"[^\n]*"state":"Approved"`));
    assert.match(
      told,
      /event: environment\ndata: \{"type":"modified","environment":\{"namespace":"[^"]+","name":"staging"/,
    );
    const first = /^id: (\S+)\nevent: (?:environment|promotion)\n/m.exec(told)?.[1];
    assert.ok(first, told);
    const resumed = await fetch(`${base}/api/v1/stream?follow=false`, {
      headers: { ...viewer, 'last-event-id': first },
    }).then((r) => r.text());
    assert.match(
      resumed,
      new RegExp(`event: promotion\ndata: [^\n]*"id":"${id}"[^\n]*"state":"Verified"`),
      'a resume replays what came after',
    );
    assert.match(streamed, /event: promotion\ndata: \{[^\n]*"state":"WaitingForApproval"/);
    assert.match(streamed, /event: promotion\ndata: \{[^\n]*"state":"Verified"/);
    assert.match(streamed, /event: end\ndata: \{"state":"Verified"\}\n\n$/);
    const history = await capstan([
      'promotion',
      'list',
      '-n',
      namespace,
      '--environment',
      'staging',
      '-o',
      'json',
    ]);
    assert.equal((JSON.parse(history.stdout) as { items: { id: string }[] }).items[0]?.id, id);

    // promote --wait: a rejected promotion exits 4 with its state and reason on stderr.
    const waiting = capstan(['promote', 'staging', '-n', namespace, '--image', IMAGE_TWO, '--wait']);
    const pending = await eventually(
      async () =>
        (
          await store.promotions.list({
            namespace,
            environment: 'staging',
            state: 'WaitingForApproval',
            limit: 1,
          })
        )[0] ?? false,
      { what: 'the promotion asked with --wait waits for an approval' },
    );
    const rejected = await capstan(['promotion', 'reject', pending.id]);
    assert.equal(rejected.code, 0, rejected.stderr);
    const waited = await waiting;
    assert.equal(waited.code, 4, waited.stdout + waited.stderr);
    assert.match(waited.stdout, new RegExp(`^promotion ${pending.id} to ${namespace}/staging requested: `));
    assert.match(waited.stdout, new RegExp(`\npromotion ${pending.id} Rejected \\(Rejected\\)\n$`));
    assert.match(waited.stderr, new RegExp(`promotion ${pending.id} to ${namespace}/staging Rejected`));
    assert.equal((await capstan(['promotion', 'list', '--watch'])).code, 2, 'list takes no --watch');
  });
});
