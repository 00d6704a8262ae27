// `capstan server` against the real API server: it lists the cluster's Applications from its watch,
// a sync through the API sets the annotation the agent reads, a stale resourceVersion is refused by
// the API server (409), the event stream delivers a change made with kubectl's API, and sentinel
// secrets (a cluster Secret's token, an application Secret, the admin password) appear in no answer
// and no log line.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeCluster } from '../../src/adapters/kube/kube-cluster.ts';
import { clusterSecret } from '../../src/core/cluster-secret.ts';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  REQUEST_ANNOTATIONS,
} from '../../src/contracts/application.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { freshNamespace, testCluster, type KubeClients } from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import {
  deployerProject,
  initialAdminPassword,
  serverIdentity,
  serverTestKube,
  startTestServer,
} from '../../src/testing/server.ts';

const SENTINEL_TOKEN = `sentinel-cluster-token-${randomBytes(8).toString('hex')}`;
const SENTINEL_APP_SECRET = `sentinel-app-secret-${randomBytes(8).toString('hex')}`;

let kube: KubeClients;
let admin: KubeCluster;
let appType: ResourceType;
let projectType: ResourceType;
let secretType: ResourceType;
const scratch = await mkdtemp(join(tmpdir(), 'capstan-server-'));
const logs: string[] = [];
const answers: string[] = [];
let base = '';

before(async () => {
  ({ kube, admin, appType, projectType, secretType } = await serverTestKube());
  clusterKubeconfig = (await testCluster()).adminKubeconfig;
});

after(async () => {
  admin.close();
  await rm(scratch, { recursive: true, force: true });
});

const CLI = join(import.meta.dirname, '..', '..', 'bin', 'capstan.js');
let clusterKubeconfig = '';

/** Runs `capstan …` as a user does; resolves with its exit code and output. */
function capstan(
  args: string[],
  options: { env: NodeJS.ProcessEnv; stdin?: string },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: options.env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(options.stdin ?? '');
  return new Promise((resolve) => {
    child.on('close', (code) => {
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** A request to the server, its answer kept for the sweep. */
async function call(
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(`${base}${path}`, init);
  const body = await response.text();
  answers.push(body, JSON.stringify([...response.headers]));
  return { status: response.status, body, headers: response.headers };
}

describe('capstan server against a real cluster', () => {
  it('with its least-privilege identity: lists the cluster’s Applications, and a sync through the API sets the annotation the agent reads', async (t) => {
    const apps = await freshNamespace(t, kube);
    const home = await freshNamespace(t, kube);
    // A Project (cluster-scoped) that holds 'web'; 'api' stays in the default project.
    const project = await deployerProject(
      t,
      { admin, projectType },
      { apps, holders: { users: ['someone'] } },
    );
    for (const name of ['web', 'api'])
      await admin.apply(
        appType,
        {
          apiVersion: APPLICATION_API_VERSION,
          kind: APPLICATION_KIND,
          metadata: { name, namespace: apps },
          spec: {
            ...(name === 'web' ? { project } : {}),
            source: { repoURL: 'https://git.example.com/team/config.git', path: `apps/${name}` },
          },
        },
        { fieldManager: 'capstan-test' },
      );
    // Secrets with sentinel values: a registered cluster's token, and an application's own Secret.
    const kubeconfig = [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: prod, cluster: {server: "https://10.9.8.7:6443", insecure-skip-tls-verify: true}}]',
      `users: [{name: capstan, user: {token: "${SENTINEL_TOKEN}"}}]`,
      'contexts: [{name: prod, context: {cluster: prod, user: capstan}}]',
      'current-context: prod',
    ].join('\n');
    await admin.apply(secretType, clusterSecret({ name: 'prod', namespace: home, kubeconfig }), {
      fieldManager: 'capstan-test',
    });
    await admin.apply(
      secretType,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'app-creds', namespace: apps },
        stringData: { password: SENTINEL_APP_SECRET },
      },
      { fieldManager: 'capstan-test' },
    );

    // The server runs with its own identity and the least-privilege RBAC of the install.
    const serverKubeconfig = await serverIdentity(admin, home);
    ({ base } = await startTestServer(t.after.bind(t), {
      kubeconfig: serverKubeconfig,
      namespace: home,
      database: join(scratch, 'server.db'),
      log: (line) => logs.push(JSON.stringify(line)),
    }));

    // The password is in the Secret, once; a user reads it with kubectl.
    const password = await initialAdminPassword(admin, home);
    assert.ok(password.length >= 20);
    const login = await call('/api/v1/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password }),
    });
    assert.equal(login.status, 200, login.body);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const csrf = (JSON.parse(login.body) as { csrfToken: string }).csrfToken;
    const headers = { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' };

    const listed = await eventually(
      async () => {
        const page = await call(`/api/v1/applications?namespace=${apps}`, { headers: { cookie } });
        const items = (JSON.parse(page.body) as { items: { name: string; resourceVersion: string }[] }).items;
        return items.length === 2 ? items : false;
      },
      { what: 'the server to list both Applications from its watch' },
    );
    assert.deepEqual(
      listed.map((i) => i.name),
      ['api', 'web'],
    );

    // A change made straight in the cluster reaches the event stream.
    const stream = new AbortController();
    const events = await fetch(`${base}/api/v1/stream`, { headers: { cookie }, signal: stream.signal });
    assert.equal(events.status, 200);
    const reader = events.body?.getReader();
    assert.ok(reader);

    const web = listed.find((i) => i.name === 'web');
    const sync = await call(`/api/v1/applications/${apps}/web/sync`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ resourceVersion: web?.resourceVersion }),
    });
    assert.equal(sync.status, 202, sync.body);
    const { value } = JSON.parse(sync.body) as { value: string };
    const live = await admin.get(appType, apps, 'web');
    assert.equal(live?.metadata.annotations?.[REQUEST_ANNOTATIONS.sync], value);

    let seen = '';
    const decoder = new TextDecoder();
    while (!seen.includes(`"name":"web"`) || !seen.includes('event: modified')) {
      const chunk = await reader.read();
      if (chunk.done) break;
      seen += decoder.decode(chunk.value as Uint8Array);
    }
    stream.abort();
    assert.match(seen, /event: modified/);

    // The resourceVersion read before the sync is stale now: the API server refuses, the API says 409.
    const stale = await call(`/api/v1/applications/${apps}/web/refresh`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ resourceVersion: web?.resourceVersion }),
    });
    assert.equal(stale.status, 409, stale.body);

    // The Project reached the server through its watch; a deployer token of it acts there only.
    const projects = await eventually(
      async () => {
        const body = JSON.parse((await call('/api/v1/projects', { headers: { cookie } })).body) as {
          items: { name: string; roles: { name: string; users: string[] }[] }[];
        };
        return body.items.find((p) => p.name === project) ?? false;
      },
      { what: 'the server to see the Project' },
    );
    assert.deepEqual(
      projects.roles.map((r) => [r.name, r.users]),
      [['deployer', ['someone']]],
    );
    const created = await call('/api/v1/tokens', {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'ci', project, role: 'deployer', expiresInDays: 1 }),
    });
    assert.equal(created.status, 201, created.body);
    const bearer = {
      authorization: `Bearer ${(JSON.parse(created.body) as { token: string }).token}`,
      'content-type': 'application/json',
    };
    assert.equal(
      (
        await call(`/api/v1/applications/${apps}/web/refresh`, {
          method: 'POST',
          headers: bearer,
          body: '{}',
        })
      ).status,
      202,
    );
    const other = await call(`/api/v1/applications/${apps}/api/refresh`, {
      method: 'POST',
      headers: bearer,
      body: '{}',
    });
    assert.equal(other.status, 403, other.body);
    assert.match(other.body, /applications\.refresh in project 'default'/);

    const appEvents = await call(`/api/v1/applications/${apps}/web/events`, { headers: { cookie } });
    assert.equal(appEvents.status, 200, appEvents.body);
    assert.ok(Array.isArray((JSON.parse(appEvents.body) as { items: unknown }).items));
    const clusters = await call('/api/v1/clusters', { headers: { cookie } });
    assert.equal(clusters.status, 200);
    // The agent's own cluster answers its version; the registered one at a made-up address does not.
    const [own, prod, ...others] = (JSON.parse(clusters.body) as { items: Record<string, unknown>[] }).items;
    assert.deepEqual(others, []);
    assert.equal(own?.['name'], 'in-cluster');
    assert.equal(own['connection'], 'connected');
    assert.match(String(own['version']), /^v1\.\d+\.\d+/);
    assert.deepEqual(
      { ...prod, connectionError: undefined, checkedAt: undefined },
      {
        name: 'prod',
        server: 'https://10.9.8.7:6443',
        secret: `Secret/${home}/cluster-prod`,
        connection: 'unreachable',
        connectionError: undefined,
        checkedAt: undefined,
      },
    );
    assert.ok(prod?.['connectionError'], 'the reason it is unreachable');
    assert.doesNotMatch(clusters.body, /token|password|certificate-authority-data|BEGIN/i);
    // This test's Applications only: the server also records the syncs that agents of other tests
    // running at the same time finish in their own namespaces (the audit catch-up).
    const audit = await call('/api/v1/audit?action=application.', { headers: { cookie } });
    const actions = (
      JSON.parse(audit.body) as { items: { action: string; result: string; target: string }[] }
    ).items
      .filter((e) => e.target.startsWith(`Application/${apps}/`))
      .map((e) => `${e.action}:${e.result}`);
    assert.deepEqual(actions, [
      'application.refresh:denied',
      'application.refresh:success',
      'application.refresh:failure',
      'application.sync:success',
    ]);

    // The agent's sync, as the watch sees it in status.history, is in the trail (played here as the agent writes it).
    const statusPath = `/apis/${APPLICATION_API_VERSION}/namespaces/${apps}/applications/web/status`;
    const written = await admin.client.call('PATCH', statusPath, {
      contentType: 'application/merge-patch+json',
      body: {
        status: {
          sync: { status: 'Synced', revision: 'c'.repeat(40) },
          handledRequests: { sync: value },
          history: [
            {
              id: 1,
              revision: 'c'.repeat(40),
              startedAt: '2026-01-01T00:00:00Z',
              finishedAt: '2026-01-01T00:00:05Z',
              result: 'Succeeded',
              summary: '2 created',
            },
          ],
        },
      },
    });
    assert.equal(written.status, 200, JSON.stringify(written.body));
    const byAgent = await eventually(
      async () => {
        const page = JSON.parse((await call('/api/v1/audit?actor=agent', { headers: { cookie } })).body) as {
          items: { action: string; changes: Record<string, unknown> }[];
        };
        return page.items[0] ?? false;
      },
      { what: "the agent's sync in the audit trail" },
    );
    assert.equal(byAgent.action, 'application.sync');
    assert.equal(byAgent.changes['request'], `sync:${value}`);
    assert.equal(byAgent.changes['summary'], '2 created');

    // The CLI through the server: login (the password on stdin), the same list as with a kubeconfig, audit.
    const config = join(scratch, 'login.json');
    const env = { ...process.env, CAPSTAN_CONFIG: config, NO_COLOR: '1' };
    const loggedIn = await capstan(['login', base, '--password-stdin'], { env, stdin: password });
    assert.equal(loggedIn.code, 0, loggedIn.stderr);
    assert.equal((await stat(config)).mode & 0o777, 0o600);
    const viaServer = await capstan(['app', 'list', '-n', apps, '-o', 'json'], { env });
    const viaCluster = await capstan(
      ['app', 'list', '-n', apps, '-o', 'json', '--kubeconfig', clusterKubeconfig],
      { env },
    );
    assert.equal(viaServer.code, 0, viaServer.stderr);
    assert.deepEqual(JSON.parse(viaServer.stdout), JSON.parse(viaCluster.stdout));
    const got = await capstan(['app', 'get', 'web', '-n', apps], { env });
    assert.equal(got.code, 0, got.stderr);
    const gotCluster = await capstan(['app', 'get', 'web', '-n', apps, '--kubeconfig', clusterKubeconfig], {
      env,
    });
    // Ages differ between the two runs (119s, then 2m): compare without them.
    const ageless = (text: string) => text.replace(/\(\S* ago\)/g, '(ago)').replace(/\d+s\b/g, '');
    assert.equal(ageless(got.stdout), ageless(gotCluster.stdout));
    const refreshed = await capstan(['app', 'refresh', 'web', '-n', apps, '--no-wait'], { env });
    assert.equal(refreshed.code, 0, refreshed.stderr);
    assert.match(refreshed.stdout, /refresh requested \(capstan\.dev\/refresh=\d+\)/);
    const trail = await capstan(['audit', '--action', 'application.', '-o', 'json'], { env });
    assert.equal(trail.code, 0, trail.stderr);
    const entries = JSON.parse(trail.stdout) as { action: string; actor: { name: string } }[];
    const [newest] = entries;
    assert.ok(newest);
    assert.equal(newest.action, 'application.refresh');
    assert.equal(newest.actor.name, 'admin');
    answers.push(viaServer.stdout, got.stdout, trail.stdout, loggedIn.stderr, refreshed.stdout);

    // The sweep: no sentinel and no password in any answer (but the login's own) or log line.
    const everything = [...answers, ...logs].join('\n');
    for (const secret of [SENTINEL_TOKEN, SENTINEL_APP_SECRET, password])
      assert.ok(!everything.includes(secret), 'a secret leaked');
  });
});
