// The Pipelines of the server API against the real API server, a real git server and a real Store:
// `capstan server` with its least-privilege identity lists the cluster's Pipelines with their newest
// run, only those of projects the caller may read; reads one; runs one by hand (a request sealed with
// the server's key), refused without `pipelines.run` and audited either way; the driver (here in the
// test process, with the key the server keeps in its Secret) starts the run and records the caller,
// while a request written on the Pipeline by anyone else (a forged `by`, a copied seal) is recorded
// as `unverified:<by>`. The runs themselves are held by a HeldRunExecutor (their Pods: the node tier).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { openSqliteStore } from '../../src/adapters/store/sqlite-store.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND } from '../../src/contracts/pipeline.ts';
import { RUN_REQUEST_PREFIX, runRequestKeyOf, runRequestsOf } from '../../src/contracts/pipeline-request.ts';
import { PROJECT_API_VERSION, PROJECT_KIND } from '../../src/contracts/project.ts';
import { PipelineInfoSchema, PipelineListSchema } from '../../src/contracts/server-api.ts';
import { validate } from '../../src/contracts/validate.ts';
import { requestRun } from '../../src/adapters/kube/pipelines.ts';
import { runPipelineDriver } from '../../src/main/pipelines.ts';
import { SERVER_SECRET } from '../../src/main/server.ts';
import type { PipelineController } from '../../src/pipelines/pipeline-controller.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import type { RunRecord, Store } from '../../src/ports/store.ts';
import {
  freshNamespace,
  installApplicationCrd,
  installPipelineCrd,
  installProjectCrd,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { gitSecretBody, startGitServer, type GitServer } from '../../src/testing/git.ts';
import { HeldRunExecutor } from '../../src/testing/held-run-executor.ts';
import { adminHeaders, serverIdentity, startTestServer } from '../../src/testing/server.ts';

let kube: KubeClients;
let admin: KubeCluster;
let pipelineType: ResourceType;
let projectType: ResourceType;
let secretType: ResourceType;
const git: GitServer = await startGitServer(after);
const scratch = await mkdtemp(join(tmpdir(), 'capstan-pipeline-api-'));
let base = '';
let home = '';

const MANUAL = `triggers:
  manual: true
steps:
  - name: test
    image: busybox
    commands: [echo hi]
`;

before(async () => {
  const cluster = await testCluster();
  kube = kubeClients(cluster.adminKubeconfig);
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  await installApplicationCrd(admin);
  projectType = await installProjectCrd(admin);
  pipelineType = await installPipelineCrd(admin);
  const secrets = await admin.resourceType('v1', 'Secret');
  assert.ok(secrets);
  secretType = secrets;
});

after(async () => {
  admin.close();
  await rm(scratch, { recursive: true, force: true });
});

/** The server with its own ServiceAccount and the RBAC of the install, in namespace `home`. */
async function startServer(t: { name: string; after: (fn: () => Promise<void>) => void }): Promise<void> {
  home = await freshNamespace(t, kube);
  const kubeconfig = await serverIdentity(admin, home);
  ({ base } = await startTestServer(t.after.bind(t), {
    kubeconfig,
    namespace: home,
    database: join(scratch, 'server.db'),
  }));
}

/** The key the server seals run requests with, from its Secret (as the driver in the server has it). */
async function serverRequestKey(): Promise<Buffer> {
  const secret = await admin.get(secretType, home, SERVER_SECRET);
  const key = ((secret?.['data'] ?? {}) as Record<string, string>)['cursorKey'];
  assert.ok(key, 'the server keeps its key in its Secret');
  return runRequestKeyOf(Buffer.from(key, 'base64'));
}

async function call(path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${base}${path}`, init);
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

/** A token of `role` in `project`, as headers. */
async function tokenHeaders(
  headers: Record<string, string>,
  project: string,
  role: 'viewer' | 'deployer',
): Promise<Record<string, string>> {
  const created = await call('/api/v1/tokens', {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: `${role}-${project}`, project, role, expiresInDays: 1 }),
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const { token } = created.body as { token: string };
  return { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
}

async function project(name: string, namespace: string): Promise<void> {
  await admin.apply(
    projectType,
    {
      apiVersion: PROJECT_API_VERSION,
      kind: PROJECT_KIND,
      metadata: { name },
      spec: { applicationNamespaces: [namespace], destinations: [{ cluster: 'in-cluster', namespace }] },
    },
    { fieldManager: 'capstan-test' },
  );
}

/** A repository with the pipeline file, and a Pipeline `name` of it in `namespace` for `projectName`. */
async function pipelineOf(namespace: string, name: string, projectName: string): Promise<string> {
  const repo = `app-${randomBytes(3).toString('hex')}`;
  const first = await git.createRepository(repo, { files: { '.capstan/pipeline.yaml': MANUAL } });
  await admin.apply(
    pipelineType,
    {
      apiVersion: PIPELINE_API_VERSION,
      kind: PIPELINE_KIND,
      metadata: { name, namespace },
      spec: { repoURL: git.url(repo), project: projectName, credentials: { secretRef: { name: 'git' } } },
    },
    { fieldManager: 'capstan-test' },
  );
  return first;
}

/** The driver of runs, in this process, for `namespace`, with the server's key and its Store's file. */
async function startDriver(namespace: string, requestKey: Buffer) {
  const store: Store = openSqliteStore({ path: join(scratch, 'server.db') });
  const executor = new HeldRunExecutor();
  const stop = new AbortController();
  let controller: PipelineController | undefined;
  const driving = runPipelineDriver(
    {
      config: loadKubeConfig({ kubeconfig: (await testCluster()).adminKubeconfig }),
      cluster: admin,
      store: store.runs,
      executor,
      pod: { capstanImage: 'capstan:test', allowInsecureHttp: true },
      cacheDir: join(scratch, 'cache'),
      repositoryHosts: ['127.0.0.1'],
      leaderElection: false,
      namespace,
      requestKey,
      tickMs: 200,
      log: () => undefined,
      onController: (c) => {
        controller = c ?? controller;
      },
    },
    stop.signal,
  );
  await eventually(() => controller ?? false, { what: 'the pipeline controller' });
  return {
    store,
    executor,
    runWith: (check: (r: RunRecord) => boolean, what: string) =>
      eventually(async () => (await store.runs.list({ namespace, limit: 100 })).find(check) ?? false, {
        what,
      }),
    stop: async () => {
      stop.abort();
      await driving;
      await store.close();
    },
  };
}

describe('the Pipelines of the server API', { timeout: 180_000 }, () => {
  it('lists and reads by project role, runs by hand with pipelines.run, audited; the driver believes only the server’s seal', async (t) => {
    await startServer(t);
    const team = await freshNamespace(t, kube);
    const projectA = `pa-${team}`.slice(0, 60);
    const projectB = `pb-${team}`.slice(0, 60);
    for (const name of [projectA, projectB]) {
      await project(name, team);
      t.after(() => admin.delete(projectType, '', name).then(() => undefined));
    }
    await kube.core.createNamespacedSecret({ namespace: team, body: gitSecretBody(git) });
    const head = await pipelineOf(team, 'web', projectA);
    await pipelineOf(team, 'other', projectB);
    const headers = await adminHeaders(admin, base, home);
    // Tokens are checked against the Projects the server watches: wait until it has both.
    await eventually(async () => {
      const page = await call('/api/v1/projects', { headers });
      const names = (page.body as { items: { name: string }[] }).items.map((p) => p.name);
      return names.includes(projectA) && names.includes(projectB);
    });
    const viewer = await tokenHeaders(headers, projectA, 'viewer');
    const deployer = await tokenHeaders(headers, projectA, 'deployer');

    // The list: a global admin sees both, a viewer of project A only its Pipeline.
    const all = await call(`/api/v1/pipelines?namespace=${team}`, { headers });
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.deepEqual(validate(PipelineListSchema, all.body).ok, true);
    assert.deepEqual(
      (all.body as { items: { name: string }[] }).items.map((p) => p.name),
      ['other', 'web'],
    );
    const mine = await call(`/api/v1/pipelines?namespace=${team}`, { headers: viewer });
    const items = (mine.body as { items: { name: string; project: string; file: string }[] }).items;
    assert.deepEqual(
      items.map((p) => [p.name, p.project, p.file]),
      [['web', projectA, '.capstan/pipeline.yaml']],
    );
    const byProject = await call(`/api/v1/pipelines?project=${projectB}`, { headers });
    assert.deepEqual(
      (byProject.body as { items: { name: string }[] }).items.map((p) => p.name),
      ['other'],
    );
    // One Pipeline: readable, forbidden, missing.
    const one = await call(`/api/v1/pipelines/${team}/web`, { headers: viewer });
    assert.equal(one.status, 200);
    assert.equal(validate(PipelineInfoSchema, one.body).ok, true);
    assert.equal((await call(`/api/v1/pipelines/${team}/other`, { headers: viewer })).status, 403);
    assert.equal((await call(`/api/v1/pipelines/${team}/nope`, { headers: viewer })).status, 404);

    // A run by hand: a viewer is refused (and nothing is written), a deployer is answered 202.
    const refused = await call(`/api/v1/pipelines/${team}/web/runs`, {
      method: 'POST',
      headers: viewer,
      body: JSON.stringify({ branch: 'main' }),
    });
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.equal((refused.body as { permission: string }).permission, 'pipelines.run');
    const requests = async () =>
      runRequestsOf((await admin.get(pipelineType, team, 'web'))?.metadata.annotations).requests;
    assert.deepEqual(await requests(), []);
    const both = await call(`/api/v1/pipelines/${team}/web/runs`, {
      method: 'POST',
      headers: deployer,
      body: JSON.stringify({ branch: 'main', tag: 'v1' }),
    });
    assert.equal(both.status, 400, JSON.stringify(both.body));
    assert.match((both.body as { message: string }).message, /a branch or a tag to run, not both/);
    assert.deepEqual(await requests(), [], 'nothing written for a refused request');
    const accepted = await call(`/api/v1/pipelines/${team}/web/runs`, {
      method: 'POST',
      headers: deployer,
      body: JSON.stringify({ branch: 'main' }),
    });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const requested = accepted.body as { pipeline: string; request: string; ref: string; by: string };
    assert.equal(requested.pipeline, `${team}/web`);
    assert.equal(requested.ref, 'refs/heads/main');
    assert.match(requested.by, /^token:/);
    const [written] = await requests();
    assert.ok(written);
    assert.equal(written.by, requested.by);
    assert.match(written.seal ?? '', /^[0-9a-f]{64}$/, 'the server sealed it');

    // The driver, with the server's key: the run records the caller the server authenticated.
    const driver = await startDriver(team, await serverRequestKey());
    t.after(() => driver.stop());
    const run = await driver.runWith((r) => r.trigger === 'manual', 'the run by hand');
    assert.equal(run.triggeredBy, requested.by);
    assert.equal(run.revision, head);
    assert.equal(run.branch, 'main');

    // A forged request (kubectl annotate by anyone who may patch the Pipeline) is not believed, nor
    // the server's seal copied onto a request with another `by`.
    await requestRun(
      admin,
      { namespace: team, name: 'other' },
      { id: 'forged-1', kind: 'manual', by: 'admin', at: new Date().toISOString() },
    );
    const forged = await driver.runWith((r) => r.pipeline === 'other', 'the forged run');
    assert.equal(forged.triggeredBy, 'unverified:admin');
    await admin.client.call('PATCH', `/apis/capstan.dev/v1alpha1/namespaces/${team}/pipelines/web`, {
      body: {
        metadata: {
          annotations: {
            [`${RUN_REQUEST_PREFIX}manual`]: JSON.stringify({
              ...written,
              id: 'copied-seal',
              ref: 'refs/heads/main',
              by: 'admin',
            }),
          },
        },
      },
      contentType: 'application/merge-patch+json',
      subject: 'the Pipeline',
    });
    const copied = await driver.runWith(
      (r) => r.pipeline === 'web' && r.id !== run.id,
      'the run of the copied seal',
    );
    assert.equal(copied.triggeredBy, 'unverified:admin');

    // The list shows each Pipeline's newest run (the Store the server shares with its driver).
    const listed = await call(`/api/v1/pipelines?namespace=${team}`, { headers });
    const last = (listed.body as { items: { name: string; lastRun?: RunRecord }[] }).items;
    assert.equal(validate(PipelineListSchema, listed.body).ok, true);
    assert.deepEqual(
      last.map((p) => [p.name, p.lastRun?.id]),
      [
        ['other', forged.id],
        ['web', copied.id],
      ],
    );

    // The audit trail has the refusal and the request.
    const audit = await call(`/api/v1/audit?action=pipeline.run&target=Pipeline/${team}/web`, { headers });
    const entries = (audit.body as { items: { result: string; actor: { name: string } }[] }).items;
    assert.deepEqual(entries.map((e) => e.result).sort(), ['denied', 'success']);
  });
});
