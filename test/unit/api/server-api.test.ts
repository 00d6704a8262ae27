/**
 * Route tests of the server API without sockets (fastify.inject): authentication on every route,
 * roles per project on every action, cursors, CSRF, tokens, bad input, the audit trail, the event
 * stream, and a sweep for secrets in every answer and log line. The cluster side is the in-memory
 * writer of src/testing; test/integration/server.test.ts runs the real one.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { openSqliteStore } from '../../../src/adapters/store/sqlite-store.ts';
import {
  buildServerApi,
  OPENAPI_PATH,
  routeDocsOf,
  type ServerApiOptions,
} from '../../../src/api/server/app.ts';
import { validate } from '../../../src/contracts/validate.ts';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  applicationOwnerName,
  parseSyncRequest,
  REQUEST_ANNOTATIONS,
  RESOURCES_FINALIZER,
} from '../../../src/contracts/application.ts';
import type { KubeObject } from '../../../src/core/resource.ts';
import { withOwnershipMarks } from '../../../src/core/ownership.ts';
import { encodeInventory, makeInventory } from '../../../src/core/inventory.ts';
import type { RunRecord, Store } from '../../../src/ports/store.ts';
import type { PromotionState } from '../../../src/core/promotion.ts';
import type { ProjectAccess, ProjectDirectory } from '../../../src/server/access.ts';
import { ApplicationIndex, projectOf } from '../../../src/server/application-index.ts';
import { Authenticator } from '../../../src/server/auth.ts';
import { CursorCodec } from '../../../src/server/cursor.ts';
import { FakeApplicationWriter } from '../../../src/testing/fake-application-writer.ts';
import { FakeResourceReader } from '../../../src/testing/fake-resource-reader.ts';
import { startGitServer } from '../../../src/testing/git.ts';
import { GitSourceFetcher } from '../../../src/adapters/git/git-source.ts';
import { ResourceViews } from '../../../src/server/resource-views.ts';
import {
  credentialsFromSecret,
  REPOSITORY_CREDENTIALS_TYPE,
  type CredentialSecret,
} from '../../../src/adapters/git/secret-credentials.ts';
import { CapstanError } from '../../../src/core/errors.ts';
import type { GitCredentials } from '../../../src/ports/source.ts';

const git = await startGitServer(after);
const scratch = await mkdtemp(join(tmpdir(), 'capstan-server-api-'));
after(() => rm(scratch, { recursive: true, force: true }));

const PROJECTS: ProjectAccess[] = [
  {
    name: 'team-a',
    roles: [
      { name: 'viewer', users: ['alice'] },
      { name: 'deployer', users: ['dana'] },
      { name: 'admin', users: ['ada'] },
    ],
    rules: {
      applicationNamespaces: ['a'],
      sourceRepos: ['**'],
      destinations: [{ cluster: 'in-cluster', namespace: 'a' }],
    },
  },
  { name: 'team-b', roles: [{ name: 'deployer', users: ['bob'] }] },
  { name: 'default', roles: [{ name: 'admin', users: ['ada'] }] },
];
const directory: ProjectDirectory = {
  get: (name) => PROJECTS.find((p) => p.name === name),
  list: () => [...PROJECTS].sort((a, b) => a.name.localeCompare(b.name)),
};
const USERS = ['alice', 'dana', 'ada', 'bob'] as const;
/** Unique values that must never appear in an answer or a log line. */
const PASSWORDS = Object.fromEntries(
  USERS.map((u) => [u, `sentinel-pw-${u}-${randomBytes(6).toString('hex')}`]),
);

function application(
  namespace: string,
  name: string,
  project: string | undefined,
  extra: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: APPLICATION_API_VERSION,
    kind: APPLICATION_KIND,
    metadata: { name, namespace, labels: { tier: name.startsWith('web') ? 'front' : 'back' } },
    spec: {
      ...(project === undefined ? {} : { project }),
      source: { repoURL: `https://github.com/Org/${namespace}-config.git`, path: `apps/${name}` },
      destination: { cluster: namespace === 'b' ? 'prod' : 'in-cluster' },
    },
    status: {
      sync: { status: name.includes('drift') ? 'OutOfSync' : 'Synced', revision: 'a'.repeat(40) },
      health: { status: name.includes('drift') ? 'Degraded' : 'Healthy' },
      history: [
        { id: 1, revision: 'b'.repeat(40), startedAt: '2026-01-01T00:00:00Z', result: 'Succeeded' },
        { id: 2, revision: 'a'.repeat(40), startedAt: '2026-01-02T00:00:00Z', result: 'Succeeded' },
      ],
      resources: [
        {
          group: 'apps',
          kind: 'Deployment',
          namespace,
          name,
          syncStatus: 'Synced',
          health: { status: 'Healthy' },
        },
      ],
      ...extra,
    },
  };
}

/** Secrets by namespace/name, read as the agent reads an Application's secretRef (credentialsFromSecret). */
const SECRETS = new Map<string, CredentialSecret>();
async function secretCredentials(namespace: string, name: string): Promise<GitCredentials> {
  await Promise.resolve();
  const subject = `Secret/${namespace}/${name}`;
  const secret = SECRETS.get(`${namespace}/${name}`);
  if (!secret) throw new CapstanError('SOURCE_SECRET_NOT_FOUND', `${subject} does not exist`);
  return credentialsFromSecret(secret, subject);
}
const base64 = (text: string) => Buffer.from(text).toString('base64');

interface Harness {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly writer: FakeApplicationWriter;
  readonly index: ApplicationIndex;
  readonly reader: FakeResourceReader;
  readonly logs: string[];
  readonly answers: string[];
  clock: number;
  call(options: InjectOptions): Promise<LightMyRequestResponse>;
}

async function harness(
  options: {
    secureCookies?: boolean;
    pipelineRuns?: ServerApiOptions['pipelineRuns'];
    pipelines?: ServerApiOptions['pipelines'];
    pipelineFiles?: ServerApiOptions['pipelineFiles'];
  } = {},
): Promise<Harness> {
  const store = openSqliteStore({ path: ':memory:' });
  const index = new ApplicationIndex({ epoch: 'e1' });
  const writer = new FakeApplicationWriter(index.handle);
  const reader = new FakeResourceReader();
  const logs: string[] = [];
  const answers: string[] = [];
  const h = { clock: Date.parse('2026-03-01T00:00:00Z') };
  const now = () => h.clock;
  const auth = new Authenticator({ store, now });
  await auth.ensureAdmin();
  for (const user of USERS) await auth.setPassword(user, PASSWORDS[user] ?? '', { admin: false });
  writer.seed(application('a', 'web', 'team-a'));
  writer.seed(application('a', 'api', 'team-a'));
  writer.seed(application('a', 'worker-drift', 'team-a'));
  writer.seed(application('b', 'web', 'team-b'));
  writer.seed(application('b', 'api-drift', 'team-b'));
  writer.seed(application('c', 'lonely', undefined));
  index.handle({ type: 'SYNCED', object: { apiVersion: 'v1', kind: 'List', metadata: {} } });
  const app = buildServerApi({
    applications: index,
    writer,
    projects: directory,
    clusters: () =>
      Promise.resolve([
        { name: 'prod', server: 'https://10.0.0.1:6443', secret: 'Secret/capstan-system/cluster-prod' },
      ]),
    events: (namespace, name) =>
      Promise.resolve([
        { type: 'Normal', reason: 'Synced', message: `${namespace}/${name} synced`, count: 1 },
      ]),
    resources: new ResourceViews({ reader }),
    // The agent's git adapter, against the real git server of this file (loopback allowed by name).
    repositories: new GitSourceFetcher({ cacheDir: join(scratch, 'git'), hosts: { allow: ['127.0.0.1'] } }),
    repositorySecrets: secretCredentials,
    auth,
    store,
    cursors: new CursorCodec({ key: randomBytes(32), now }),
    now,
    secureCookies: options.secureCookies ?? false,
    logger: (line) => logs.push(JSON.stringify(line)),
    maxBodyBytes: 64 * 1024,
    ...(options.pipelineRuns ? { pipelineRuns: options.pipelineRuns } : {}),
    ...(options.pipelines ? { pipelines: options.pipelines } : {}),
    ...(options.pipelineFiles ? { pipelineFiles: options.pipelineFiles } : {}),
  });
  await app.ready();
  return Object.assign(h, {
    app,
    store,
    writer,
    index,
    reader,
    logs,
    answers,
    async call(request: InjectOptions) {
      const response = await app.inject(request);
      answers.push(JSON.stringify(response.headers), response.body);
      checkAgainstSchema(app, request, response);
      return response;
    },
  });
}

interface Login {
  readonly cookie: string;
  readonly csrf: string;
}

async function login(h: Harness, username: string, password = PASSWORDS[username] ?? ''): Promise<Login> {
  const response = await h.call({ method: 'POST', url: '/api/v1/session', payload: { username, password } });
  assert.equal(response.statusCode, 200, response.body);
  const setCookie = String(response.headers['set-cookie']);
  return { cookie: setCookie.split(';')[0] ?? '', csrf: response.json<{ csrfToken: string }>().csrfToken };
}

const as = (session: Login, unsafe = true) => ({
  cookie: session.cookie,
  ...(unsafe ? { 'x-csrf-token': session.csrf } : {}),
});

describe('server API: authentication on every route', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => {
    await h.app.close();
  });

  it('serves an OpenAPI 3.1 document listing every route, and answers 401 on each secured one without credentials', async () => {
    const doc = (await h.call({ method: 'GET', url: OPENAPI_PATH })).json<{
      openapi: string;
      paths: Record<string, Record<string, { security: unknown[] }>>;
    }>();
    assert.equal(doc.openapi, '3.1.0');
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        path,
        method: method.toUpperCase(),
        secured: op.security.length > 0,
      })),
    );
    assert.ok(operations.length >= 20, `${operations.length} operations`);
    for (const { path, method, secured } of operations) {
      if (!secured) continue;
      const url = path.replace('{namespace}', 'a').replace('{name}', 'web').replace('{id}', '0123456789ab');
      const response = await h.call({
        method: method,
        url,
        ...(method === 'GET' || method === 'DELETE' ? {} : { payload: {} }),
      });
      assert.equal(response.statusCode, 401, `${method} ${url}: ${response.body}`);
      assert.equal(response.json<{ error: string }>().error, 'UNAUTHENTICATED');
    }
  });

  it('answers 401 for a garbage token and an unknown session cookie', async () => {
    for (const headers of [{ authorization: 'Bearer capstan_nope' }, { cookie: 'capstan_session=forged' }]) {
      const response = await h.call({ method: 'GET', url: '/api/v1/applications', headers });
      assert.equal(response.statusCode, 401);
    }
  });

  it('logs in with HttpOnly, SameSite=Strict cookies, audits wrong passwords and limits attempts (429 with Retry-After)', async () => {
    const ok = await h.call({
      method: 'POST',
      url: '/api/v1/session',
      payload: { username: 'alice', password: PASSWORDS['alice'] },
    });
    const cookie = String(ok.headers['set-cookie']);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.doesNotMatch(cookie, /Secure/);
    for (let i = 0; i < 5; i++) {
      const wrong = await h.call({
        method: 'POST',
        url: '/api/v1/session',
        payload: { username: 'bob', password: `nope-${i}` },
      });
      assert.equal(wrong.statusCode, 401);
    }
    const limited = await h.call({
      method: 'POST',
      url: '/api/v1/session',
      payload: { username: 'bob', password: PASSWORDS['bob'] },
    });
    assert.equal(limited.statusCode, 429);
    assert.ok(Number(limited.headers['retry-after']) > 0);
    const failures = await h.store.audit.query({ action: 'login', result: 'failure', limit: 10 });
    assert.equal(failures.length, 5);
    assert.deepEqual(failures[0]?.actor, { kind: 'anonymous', name: 'bob' });
    h.clock += 16 * 60 * 1000;
    await login(h, 'bob');
  });

  it('marks the cookie Secure when the server is behind TLS', async () => {
    const tls = await harness({ secureCookies: true });
    const response = await tls.call({
      method: 'POST',
      url: '/api/v1/session',
      payload: { username: 'ada', password: PASSWORDS['ada'] },
    });
    assert.match(String(response.headers['set-cookie']), /; Secure/);
    await tls.app.close();
  });

  it('refuses an unsafe request of a session without its CSRF token, or with another one', async () => {
    const dana = await login(h, 'dana');
    const url = '/api/v1/applications/a/web/refresh';
    for (const headers of [
      { cookie: dana.cookie },
      { cookie: dana.cookie, 'x-csrf-token': 'stolen-cookie-only' },
    ]) {
      const refused = await h.call({ method: 'POST', url, headers, payload: {} });
      assert.equal(refused.statusCode, 403);
      assert.equal(refused.json<{ error: string }>().error, 'CSRF_TOKEN_MISSING');
    }
    const accepted = await h.call({ method: 'POST', url, headers: as(dana), payload: {} });
    assert.equal(accepted.statusCode, 202, accepted.body);
  });

  it('ends a session at logout', async () => {
    const alice = await login(h, 'alice');
    assert.equal(
      (await h.call({ method: 'DELETE', url: '/api/v1/session', headers: as(alice) })).statusCode,
      204,
    );
    assert.equal(
      (await h.call({ method: 'GET', url: '/api/v1/session', headers: as(alice, false) })).statusCode,
      401,
    );
  });
});

describe('server API: roles per project', () => {
  let h: Harness;
  let sessions: Record<string, Login>;
  before(async () => {
    h = await harness();
    sessions = {};
    for (const user of USERS) sessions[user] = await login(h, user);
  });
  after(async () => {
    await h.app.close();
  });
  const session = (user: string) => {
    const found = sessions[user];
    assert.ok(found);
    return found;
  };

  const ACTIONS = [
    { path: 'sync', permission: 'applications.sync', payload: {} },
    { path: 'refresh', permission: 'applications.refresh', payload: {} },
    { path: 'rollback', permission: 'applications.rollback', payload: {} },
    { path: 'release-hold', permission: 'applications.release-hold', payload: {} },
  ] as const;

  it('refuses every action to a viewer with 403 naming the missing permission, and audits the refusal', async () => {
    for (const action of ACTIONS) {
      const response = await h.call({
        method: 'POST',
        url: `/api/v1/applications/a/web/${action.path}`,
        headers: as(session('alice')),
        payload: action.payload,
      });
      assert.equal(response.statusCode, 403, response.body);
      const body = response.json<{ error: string; permission: string; project: string; message: string }>();
      assert.equal(body.permission, action.permission);
      assert.equal(body.project, 'team-a');
      assert.match(
        body.message,
        new RegExp(`missing permission ${action.permission} in project 'team-a'.*you have the role viewer`),
      );
    }
    const del = await h.call({
      method: 'DELETE',
      url: '/api/v1/applications/a/web',
      headers: as(session('alice')),
    });
    assert.equal(del.json<{ permission: string }>().permission, 'applications.delete');
    const denied = await h.store.audit.query({ actor: 'alice', result: 'denied', limit: 20 });
    assert.equal(denied.length, 5);
  });

  it('refuses a deployer of team-a every action on an Application of team-b', async () => {
    for (const action of ACTIONS) {
      const response = await h.call({
        method: 'POST',
        url: `/api/v1/applications/b/web/${action.path}`,
        headers: as(session('dana')),
        payload: action.payload,
      });
      assert.equal(response.statusCode, 403);
      assert.match(response.json<{ message: string }>().message, /in project 'team-b'.*no role there/);
    }
  });

  it('lets a deployer sync through the annotation the agent reads, audited with actor, target and change', async () => {
    const response = await h.call({
      method: 'POST',
      url: '/api/v1/applications/a/api/sync',
      headers: as(session('dana')),
      payload: {},
    });
    assert.equal(response.statusCode, 202, response.body);
    const body = response.json<{ annotation: string; value: string; resourceVersion: string }>();
    assert.equal(body.annotation, REQUEST_ANNOTATIONS.sync);
    assert.equal(h.writer.objects.get('a/api')?.metadata.annotations?.[REQUEST_ANNOTATIONS.sync], body.value);
    const [entry] = await h.store.audit.query({ action: 'application.sync', result: 'success', limit: 1 });
    assert.ok(entry);
    assert.equal(entry.actor.name, 'dana');
    assert.equal(entry.target, 'Application/a/api');
    assert.equal(entry.project, 'team-a');
    assert.deepEqual(entry.changes, { annotation: REQUEST_ANNOTATIONS.sync, value: body.value });
  });

  it('refuses an action on an Application that changed since the resourceVersion given (409), and takes the current one', async () => {
    const current = h.index.get('a', 'web')?.metadata.resourceVersion ?? '';
    await h.writer.patchMetadata('a', 'web', { annotations: { touched: 'yes' } });
    const stale = await h.call({
      method: 'POST',
      url: '/api/v1/applications/a/web/refresh',
      headers: as(session('dana')),
      payload: { resourceVersion: current },
    });
    assert.equal(stale.statusCode, 409);
    assert.equal(stale.json<{ error: string }>().error, 'CONFLICT');
    const fresh = h.index.get('a', 'web')?.metadata.resourceVersion ?? '';
    const ok = await h.call({
      method: 'POST',
      url: '/api/v1/applications/a/web/refresh',
      headers: as(session('dana')),
      payload: { resourceVersion: fresh },
    });
    assert.equal(ok.statusCode, 202);
  });

  it('writes a rollback target checked against the history, and refuses one that is not there (422)', async () => {
    const ok = await h.call({
      method: 'POST',
      url: '/api/v1/applications/a/api/rollback',
      headers: as(session('dana')),
      payload: { target: '1' },
    });
    assert.equal(ok.statusCode, 202, ok.body);
    assert.match(ok.json<{ value: string }>().value, /^\d+:1$/);
    const missing = await h.call({
      method: 'POST',
      url: '/api/v1/applications/a/api/rollback',
      headers: as(session('dana')),
      payload: { target: '7' },
    });
    assert.equal(missing.statusCode, 422);
    assert.equal(missing.json<{ error: string }>().error, 'ROLLBACK_NO_TARGET');
  });

  it('carries prune to the agent in the sync annotation, answers a dry run with what a sync would do, and carries a selection of resources', async () => {
    const sync = (payload: Record<string, unknown>) =>
      h.call({
        method: 'POST',
        url: '/api/v1/applications/a/api/sync',
        headers: as(session('dana')),
        payload,
      });
    const pruning = await sync({ prune: true });
    assert.equal(pruning.statusCode, 202, pruning.body);
    const value = pruning.json<{ value: string }>().value;
    assert.match(value, /^\d+;prune$/);
    assert.equal(h.index.get('a', 'api')?.metadata.annotations?.[REQUEST_ANNOTATIONS.sync], value);
    const keeping = await sync({ prune: false });
    assert.match(keeping.json<{ value: string }>().value, /^\d+;prune=false$/);

    // The dry run: the target renders a changed Deployment and a new ConfigMap; nothing is written.
    h.reader.setDesired(
      'c'.repeat(40),
      [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'new' }, data: { a: 'b' } },
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'other' }, spec: { replicas: 2 } },
      ],
      { target: true },
    );
    h.reader.setLive({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'other', namespace: 'a' },
      spec: { replicas: 1 },
    });
    const before = h.index.get('a', 'api')?.metadata.resourceVersion;
    for (const [prune, last] of [
      [false, 'skipped'],
      [true, 'pruned'],
    ] as const) {
      const preview = await sync({ dryRun: true, prune });
      assert.equal(preview.statusCode, 200, preview.body);
      const body = preview.json<{ revision: string; entries: { id: string; action: string }[] }>();
      assert.equal(body.revision, 'c'.repeat(40));
      assert.deepEqual(
        body.entries.map((e) => `${e.id} ${e.action}`),
        ['ConfigMap/a/new created', 'Deployment/a/other configured', `Deployment/a/api ${last}`],
      );
    }
    assert.equal(
      h.index.get('a', 'api')?.metadata.resourceVersion,
      before,
      'a dry run changed the Application',
    );

    // A selection: carried in the annotation, sorted, a left-out namespace as ''; its dry run only those.
    const selection = await sync({
      prune: false,
      resources: [
        { group: 'apps', kind: 'Deployment', namespace: 'a', name: 'other' },
        { group: '', kind: 'ConfigMap', name: 'new' },
      ],
    });
    assert.equal(selection.statusCode, 202, selection.body);
    const selected = selection.json<{ value: string }>().value;
    assert.match(selected, /^\d+;prune=false;resources=\/ConfigMap\/\/new,apps\/Deployment\/a\/other$/);
    assert.equal(h.index.get('a', 'api')?.metadata.annotations?.[REQUEST_ANNOTATIONS.sync], selected);
    assert.deepEqual(parseSyncRequest(selected).resources, [
      { group: '', kind: 'ConfigMap', namespace: '', name: 'new' },
      { group: 'apps', kind: 'Deployment', namespace: 'a', name: 'other' },
    ]);
    const previewed = await sync({
      dryRun: true,
      resources: [{ group: 'apps', kind: 'Deployment', namespace: 'a', name: 'other' }],
    });
    assert.equal(previewed.statusCode, 200, previewed.body);
    assert.deepEqual(
      previewed
        .json<{ entries: { id: string; action: string }[] }>()
        .entries.map((e) => `${e.id} ${e.action}`),
      ['Deployment/a/other configured'],
      'a dry run of a selection shows only the selection, and nothing pruned',
    );
    const notThere = await sync({
      dryRun: true,
      resources: [{ group: 'apps', kind: 'Deployment', namespace: 'a', name: 'gone' }],
    });
    assert.equal(notThere.statusCode, 422);
    assert.equal(notThere.json<{ error: string }>().error, 'SYNC_SELECTION_NOT_FOUND');
    assert.match(notThere.json<{ message: string }>().message, /Deployment\/a\/gone/);
    for (const resources of [[], [{ group: 'apps', kind: 'Deployment', namespace: 'a', name: 'x,y' }]]) {
      const refused = await sync({ resources });
      assert.equal(refused.statusCode, 400, refused.body);
    }

    // Asked of the agent: checked against the render of the target first; 422 naming what it cannot sync.
    const asked = () => h.index.get('a', 'api')?.metadata.annotations?.[REQUEST_ANNOTATIONS.sync];
    const unchanged = asked();
    const gone = await sync({
      resources: [
        { group: '', kind: 'ConfigMap', name: 'new' },
        { group: 'apps', kind: 'Deployment', namespace: 'a', name: 'gone' },
      ],
    });
    assert.equal(gone.statusCode, 422, gone.body);
    assert.equal(gone.json<{ error: string }>().error, 'SYNC_SELECTION_NOT_FOUND');
    assert.match(gone.json<{ message: string }>().message, /Deployment\/a\/gone is not in the desired state/);
    assert.doesNotMatch(gone.json<{ message: string }>().message, /ConfigMap/, 'only the one at fault named');
    assert.equal(asked(), unchanged, 'nothing asked of the agent');
    const denied = await h.call({
      method: 'GET',
      url: '/api/v1/audit?action=application.sync&result=failure&project=team-a&limit=1',
      headers: as(session('ada')),
    });
    assert.equal(
      denied.json<{ items: { reason?: string }[] }>().items[0]?.reason,
      'SYNC_SELECTION_NOT_FOUND',
      'the refusal is audited',
    );

    // A managed resource that left the desired state: only with prune, and then pruned alone.
    const api = { group: 'apps', kind: 'Deployment', namespace: 'a', name: 'api' };
    const withoutPrune = await sync({ resources: [api] });
    assert.equal(withoutPrune.statusCode, 422, withoutPrune.body);
    assert.match(withoutPrune.json<{ message: string }>().message, /select it with prune to delete it/);
    const pruneSelected = await sync({ prune: true, resources: [api] });
    assert.equal(pruneSelected.statusCode, 202, pruneSelected.body);
    assert.match(
      pruneSelected.json<{ value: string }>().value,
      /^\d+;prune;resources=apps\/Deployment\/a\/api$/,
    );
    const prunePreview = await sync({
      dryRun: true,
      prune: true,
      resources: [api, { group: '', kind: 'ConfigMap', name: 'new' }],
    });
    assert.equal(prunePreview.statusCode, 200, prunePreview.body);
    assert.deepEqual(
      prunePreview
        .json<{ entries: { id: string; action: string }[] }>()
        .entries.map((e) => `${e.id} ${e.action}`),
      ['ConfigMap/a/new created', 'Deployment/a/api pruned'],
    );

    // A hook of the render: a sync of a selection runs none.
    h.reader.setDesired(
      'd'.repeat(40),
      [
        {
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: { name: 'migrate', annotations: { 'capstan.dev/hook': 'PreSync' } },
        },
      ],
      { target: true },
    );
    const hook = await sync({ resources: [{ group: 'batch', kind: 'Job', name: 'migrate' }] });
    assert.equal(hook.statusCode, 422, hook.body);
    assert.match(hook.json<{ message: string }>().message, /Job\/a\/migrate is a hook/);

    // With prune, a selected resource neither rendered nor listed as managed is prunable only when its
    // live object carries this Application's ownership marks.
    const leftover = { group: '', kind: 'ConfigMap', namespace: 'a', name: 'leftover' };
    const owner = { name: applicationOwnerName('a', 'api'), ref: { namespace: 'a', name: 'api' } };
    h.reader.setLive(
      withOwnershipMarks(
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'leftover', namespace: 'a' } },
        owner,
        leftover,
      ),
    );
    h.reader.setLive({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'foreign', namespace: 'a' } });
    const owned = await sync({
      prune: true,
      resources: [{ group: '', kind: 'ConfigMap', name: 'leftover' }],
    });
    assert.equal(owned.statusCode, 202, owned.body);
    const foreign = await sync({
      prune: true,
      resources: [{ group: '', kind: 'ConfigMap', name: 'foreign' }],
    });
    assert.equal(foreign.statusCode, 422, foreign.body);
    assert.match(
      foreign.json<{ message: string }>().message,
      /ConfigMap\/foreign is not in the desired state/,
    );
  });

  it('lets only a project admin create, change and delete its Applications (with and without cascade)', async () => {
    // spec.project comes with the tenancy issue's contract: created here in the project 'default'.
    const created = application('a', 'new-app', undefined);
    delete created['status'];
    const asDeployer = await h.call({
      method: 'POST',
      url: '/api/v1/applications',
      headers: as(session('dana')),
      payload: created,
    });
    assert.equal(asDeployer.statusCode, 403);
    assert.equal(asDeployer.json<{ permission: string }>().permission, 'applications.create');
    const ok = await h.call({
      method: 'POST',
      url: '/api/v1/applications',
      headers: as(session('ada')),
      payload: created,
    });
    assert.equal(ok.statusCode, 201, ok.body);
    assert.ok(h.index.get('a', 'new-app'));
    const again = await h.call({
      method: 'POST',
      url: '/api/v1/applications',
      headers: as(session('ada')),
      payload: created,
    });
    assert.equal(again.statusCode, 409);
    const changed = { ...created, spec: { ...(created['spec'] as object), suspend: true } };
    const byBob = await h.call({
      method: 'PUT',
      url: '/api/v1/applications/a/new-app',
      headers: as(session('bob')),
      payload: changed,
    });
    assert.equal(byBob.statusCode, 403);
    assert.equal(byBob.json<{ permission: string }>().permission, 'applications.update');
    const put = await h.call({
      method: 'PUT',
      url: '/api/v1/applications/a/new-app',
      headers: as(session('ada')),
      payload: changed,
    });
    assert.equal(put.statusCode, 200, put.body);
    assert.equal((h.index.get('a', 'new-app')?.spec as { suspend?: boolean }).suspend, true);
    const stale = { ...changed, metadata: { ...changed.metadata, resourceVersion: '1' } };
    const conflict = await h.call({
      method: 'PUT',
      url: '/api/v1/applications/a/new-app',
      headers: as(session('ada')),
      payload: stale,
    });
    assert.equal(conflict.statusCode, 409);
    const keep = await h.call({
      method: 'DELETE',
      url: '/api/v1/applications/a/new-app?cascade=false',
      headers: as(session('ada')),
    });
    assert.equal(keep.statusCode, 202, keep.body);
    assert.equal(h.index.get('a', 'new-app'), undefined, 'without cascade and no finalizer it goes at once');
    const deployer = await h.call({
      method: 'DELETE',
      url: '/api/v1/applications/a/api',
      headers: as(session('dana')),
    });
    assert.equal(deployer.statusCode, 403);
    const cascade = await h.call({
      method: 'DELETE',
      url: '/api/v1/applications/a/api',
      headers: as(session('ada')),
    });
    assert.equal(cascade.statusCode, 202);
    assert.deepEqual(h.index.get('a', 'api')?.metadata.finalizers, [RESOURCES_FINALIZER]);
    assert.ok(
      h.index.get('a', 'api')?.metadata.deletionTimestamp,
      'the agent prunes, then the finalizer goes',
    );
  });

  it('refuses an invalid Application with the fields named (400)', async () => {
    const bad = application('a', 'bad', undefined);
    (bad['spec'] as { source: { repoURL: string } }).source.repoURL = '';
    const response = await h.call({
      method: 'POST',
      url: '/api/v1/applications',
      headers: as(session('ada')),
      payload: bad,
    });
    assert.equal(response.statusCode, 400);
    assert.match(response.json<{ message: string }>().message, /spec\.source\.repoURL/);
  });

  it('lets a global admin do anything; a viewer reads only its project', async () => {
    const admin = await login(h, 'admin', await initialPassword(h));
    const sync = await h.call({
      method: 'POST',
      url: '/api/v1/applications/b/web/sync',
      headers: as(admin),
      payload: {},
    });
    assert.equal(sync.statusCode, 202);
    const list = await h.call({
      method: 'GET',
      url: '/api/v1/applications',
      headers: as(session('alice'), false),
    });
    const names = list
      .json<{ items: { namespace: string; name: string }[] }>()
      .items.map((i) => `${i.namespace}/${i.name}`);
    assert.ok(names.length > 0 && names.every((n) => n.startsWith('a/')), names.join(','));
    const other = await h.call({
      method: 'GET',
      url: '/api/v1/applications/b/web',
      headers: as(session('alice'), false),
    });
    assert.equal(other.statusCode, 403);
  });
});

/** The admin's generated password is shown once: the test resets it to one it knows. */
async function initialPassword(h: Harness): Promise<string> {
  const password = `sentinel-admin-${randomBytes(6).toString('hex')}`;
  await new Authenticator({ store: h.store, now: () => h.clock }).setPassword('admin', password, {
    admin: true,
  });
  return password;
}

describe('server API: lists, cursors, reads', () => {
  let h: Harness;
  let admin: Login;
  before(async () => {
    h = await harness();
    admin = await login(h, 'admin', await initialPassword(h));
  });
  after(async () => {
    await h.app.close();
  });
  const get = (url: string, headers: Record<string, string> = {}) =>
    h.call({ method: 'GET', url, headers: { ...as(admin, false), ...headers } });
  const names = (response: LightMyRequestResponse) =>
    response
      .json<{ items: { namespace: string; name: string }[] }>()
      .items.map((i) => `${i.namespace}/${i.name}`);

  it('pages through every Application with signed cursors, in namespace and name order', async () => {
    const seen: string[] = [];
    let url = '/api/v1/applications?limit=2';
    for (let pages = 0; pages < 10; pages++) {
      const page = await get(url);
      assert.equal(page.statusCode, 200, page.body);
      const body = page.json<{ next?: string; total: number }>();
      assert.equal(body.total, 6);
      seen.push(...names(page));
      if (body.next === undefined) break;
      url = `/api/v1/applications?limit=2&cursor=${encodeURIComponent(body.next)}`;
    }
    assert.deepEqual(seen, ['a/api', 'a/web', 'a/worker-drift', 'b/api-drift', 'b/web', 'c/lonely']);
  });

  it('refuses a forged, altered, foreign or expired cursor with 400 and a stable code', async () => {
    const first = (await get('/api/v1/applications?limit=2')).json<{ next: string }>().next;
    const [body = '', signature = ''] = first.split('.');
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString()) as { k: string[] };
    payload.k = ['z', 'z'];
    const altered = `${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`;
    for (const [cursor, code] of [
      ['garbage', 'CURSOR_INVALID'],
      [altered, 'CURSOR_INVALID'],
      [`${body}.${'A'.repeat(signature.length)}`, 'CURSOR_INVALID'],
    ] as const) {
      const response = await get(`/api/v1/applications?limit=2&cursor=${encodeURIComponent(cursor)}`);
      assert.equal(response.statusCode, 400);
      assert.equal(response.json<{ error: string }>().error, code);
    }
    const foreign = await get(`/api/v1/applications?limit=2&sync=Synced&cursor=${encodeURIComponent(first)}`);
    assert.equal(foreign.json<{ error: string }>().error, 'CURSOR_MISMATCH');
    h.clock += 2 * 60 * 60 * 1000;
    const expired = await get(`/api/v1/applications?limit=2&cursor=${encodeURIComponent(first)}`);
    assert.equal(expired.json<{ error: string }>().error, 'CURSOR_EXPIRED');
  });

  it('filters by project, namespace, cluster, repository (any URL form), sync, health, labels and text', async () => {
    assert.deepEqual(names(await get('/api/v1/applications?project=team-b')), ['b/api-drift', 'b/web']);
    assert.deepEqual(names(await get('/api/v1/applications?project=default')), ['c/lonely']);
    assert.deepEqual(names(await get('/api/v1/applications?namespace=a&sync=OutOfSync')), ['a/worker-drift']);
    assert.deepEqual(names(await get('/api/v1/applications?health=Degraded')), [
      'a/worker-drift',
      'b/api-drift',
    ]);
    assert.deepEqual(names(await get('/api/v1/applications?cluster=prod')), ['b/api-drift', 'b/web']);
    assert.deepEqual(
      names(
        await get(`/api/v1/applications?repository=${encodeURIComponent('git@github.com:org/b-config')}`),
      ),
      ['b/api-drift', 'b/web'],
    );
    assert.deepEqual(names(await get('/api/v1/applications?labels=tier%3Dfront')), ['a/web', 'b/web']);
    assert.deepEqual(names(await get('/api/v1/applications?labels=tier!%3Dfront,tier&namespace=b')), [
      'b/api-drift',
    ]);
    assert.deepEqual(names(await get('/api/v1/applications?search=WORKER')), ['a/worker-drift']);
    const bad = await get('/api/v1/applications?labels=tier%20in%20(a)');
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json<{ error: string }>().error, 'LABEL_SELECTOR_INVALID');
    const unknown = await get('/api/v1/applications?colour=red');
    assert.equal(unknown.statusCode, 400);
  });

  it('answers 304 to If-None-Match on lists and objects, and a new tag after a change', async () => {
    const list = await get('/api/v1/applications?namespace=a');
    const tag = String(list.headers.etag);
    assert.equal((await get('/api/v1/applications?namespace=a', { 'if-none-match': tag })).statusCode, 304);
    const one = await get('/api/v1/applications/a/web');
    assert.equal(
      (await get('/api/v1/applications/a/web', { 'if-none-match': String(one.headers.etag) })).statusCode,
      304,
    );
    await h.writer.patchMetadata('a', 'web', { annotations: { touched: 'again' } });
    assert.equal((await get('/api/v1/applications?namespace=a', { 'if-none-match': tag })).statusCode, 200);
    assert.equal(
      (await get('/api/v1/applications/a/web', { 'if-none-match': String(one.headers.etag) })).statusCode,
      200,
    );
  });

  it('serves history (newest first), the resource tree, events, projects and clusters', async () => {
    const history = (await get('/api/v1/applications/a/web/history')).json<{ items: { id: number }[] }>();
    assert.deepEqual(
      history.items.map((e) => e.id),
      [2, 1],
    );
    const tree = (await get('/api/v1/applications/a/web/resources')).json<{
      nodes: { id: string; health: string; parents: string[] }[];
    }>();
    assert.deepEqual(tree.nodes, [
      {
        id: 'Deployment/a/web',
        group: 'apps',
        kind: 'Deployment',
        namespace: 'a',
        name: 'web',
        syncStatus: 'Synced',
        health: 'Healthy',
        parents: ['Application/a/web'],
      },
    ]);
    const events = (await get('/api/v1/applications/a/web/events')).json<{ items: { reason: string }[] }>();
    assert.equal(events.items[0]?.reason, 'Synced');
    const projects = (await get('/api/v1/projects')).json<{ items: { name: string }[] }>();
    assert.deepEqual(
      projects.items.map((p) => p.name),
      ['default', 'team-a', 'team-b'],
    );
    const teamA = (await get('/api/v1/projects/team-a')).json<Record<string, unknown>>();
    assert.deepEqual(
      [teamA['applicationNamespaces'], teamA['sourceRepos'], teamA['destinations']],
      [['a'], ['**'], [{ cluster: 'in-cluster', namespace: 'a' }]],
    );
    const teamB = (await get('/api/v1/projects/team-b')).json<Record<string, unknown>>();
    assert.equal(teamB['destinations'], undefined, 'a directory without rules shows none');
    const clusters = (await get('/api/v1/clusters')).json<{ items: { name: string }[] }>();
    assert.deepEqual(
      clusters.items.map((c) => c.name),
      ['prod'],
    );
    assert.equal((await get('/api/v1/applications/a/nope')).statusCode, 404);
  });
});

describe('server API: one resource (live, desired, diff, events)', () => {
  let h: Harness;
  let alice: Login;
  let bob: Login;
  const SYNCED = 'a'.repeat(40);
  const TARGET = 'c'.repeat(40);
  const SENTINEL = `sentinel-app-secret-${randomBytes(6).toString('hex')}`;
  const deployment = (replicas: number, extra: Record<string, unknown> = {}): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas,
      template: { spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } },
      ...extra,
    },
  });
  const secret = (value: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db', namespace: 'a' },
    data: { password: Buffer.from(value).toString('base64') },
  });
  const url = (what: string, query: string, app = 'a/web') =>
    `/api/v1/applications/${app}/resource/${what}?${query}`;
  const WEB = 'group=apps&kind=Deployment&namespace=a&name=web';
  before(async () => {
    h = await harness();
    alice = await login(h, 'alice');
    bob = await login(h, 'bob');
    h.writer.seed(
      application('a', 'db', 'team-a', {
        resources: [{ group: '', kind: 'Secret', namespace: 'a', name: 'db', syncStatus: 'OutOfSync' }],
      }),
    );
    // Live: what the API server filled in (defaults, server-set metadata, another container field).
    const live = deployment(1, { progressDeadlineSeconds: 600 });
    h.reader.setLive({
      ...live,
      metadata: {
        name: 'web',
        namespace: 'a',
        uid: 'u1',
        resourceVersion: '7',
        managedFields: [{ manager: 'capstan-agent' }],
        labels: { 'capstan.dev/owner': 'a.web' },
      },
      spec: {
        ...(live['spec'] as Record<string, unknown>),
        template: {
          spec: {
            containers: [{ name: 'web', image: 'nginx:1.27', imagePullPolicy: 'IfNotPresent' }],
          },
        },
      },
      status: { readyReplicas: 1 },
    });
    h.reader.setLive(secret(`${SENTINEL}-live`));
    h.reader.setDesired(SYNCED, [deployment(3), secret(`${SENTINEL}-desired`)]);
    h.reader.setDesired(TARGET, [deployment(5)], { target: true });
    h.reader.addEvent(
      { group: 'apps', kind: 'Deployment', namespace: 'a', name: 'web' },
      { type: 'Normal', reason: 'ScalingReplicaSet', message: 'Scaled up to 3', count: 1 },
    );
  });
  after(async () => {
    await h.app.close();
  });
  const get = (path: string, who: Login) => h.call({ method: 'GET', url: path, headers: as(who, false) });

  it('serves the live manifest without managedFields, and the desired one from the synced revision with its namespace', async () => {
    const live = await get(url('live', WEB), alice);
    assert.equal(live.statusCode, 200, live.body);
    const body = live.json<{ id: string; object: KubeObject }>();
    assert.equal(body.id, 'Deployment/a/web');
    assert.equal(body.object.metadata.managedFields, undefined);
    assert.equal((body.object['spec'] as { replicas: number }).replicas, 1);
    const desired = (await get(url('desired', WEB), alice)).json<{ revision: string; object: KubeObject }>();
    assert.equal(desired.revision, SYNCED);
    assert.equal(desired.object.metadata.namespace, 'a');
    assert.equal((desired.object['spec'] as { replicas: number }).replicas, 3);
    const target = (await get(url('desired', `${WEB}&revision=target`), alice)).json<{
      revision: string;
      object: KubeObject;
    }>();
    assert.equal(target.revision, TARGET);
    assert.equal((target.object['spec'] as { replicas: number }).replicas, 5);
  });

  it('diffs live against live with the desired fields applied: a changed field shows, defaults and merged containers do not', async () => {
    const answer = await get(url('diff', WEB), alice);
    assert.equal(answer.statusCode, 200, answer.body);
    const diff = answer.json<{ changed: boolean; unified: string; revision: string }>();
    assert.equal(diff.changed, true);
    assert.equal(diff.revision, SYNCED);
    const changedLines = diff.unified
      .split('\n')
      .filter((l) => /^[-+] /.test(l))
      .map((l) => l.replace(/\s+/g, ' '));
    assert.deepEqual(changedLines, ['- replicas: 1', '+ replicas: 3']);
    assert.match(diff.unified, /^--- live\/Deployment\/a\/web/m);
  });

  it('renders a revision once for every view of it', async () => {
    const before = h.reader.renders;
    await get(url('desired', WEB), alice);
    await get(url('diff', WEB), alice);
    assert.equal(h.reader.renders, before);
  });

  it('never lets a Secret’s values out: live, desired and diff show *** for each', async () => {
    const query = 'kind=Secret&namespace=a&name=db';
    const answers = await Promise.all(
      ['live', 'desired', 'diff'].map((what) => get(url(what, query, 'a/db'), alice)),
    );
    for (const answer of answers) {
      assert.equal(answer.statusCode, 200, answer.body);
      assert.ok(!answer.body.includes(SENTINEL), answer.body);
      assert.ok(!answer.body.includes(Buffer.from(SENTINEL).toString('base64').slice(0, 16)), answer.body);
    }
    const live = answers[0]?.json<{ object: { data: Record<string, string> } }>();
    assert.deepEqual(live?.object.data, { password: '***' });
    const diff = answers[2]?.json<{ changed: boolean; unified: string }>();
    assert.ok(diff);
    assert.equal(diff.changed, true);
    assert.match(diff.unified, /\*\*\* \(new value\)/);
  });

  it('serves the events of a managed resource', async () => {
    const events = (await get(url('events', WEB), alice)).json<{ id: string; items: { reason: string }[] }>();
    assert.equal(events.id, 'Deployment/a/web');
    assert.deepEqual(
      events.items.map((e) => e.reason),
      ['ScalingReplicaSet'],
    );
  });

  it('refuses a reader of another project (403), a resource the Application neither manages nor renders (404), and says why a render failed (502)', async () => {
    const refused = await get(url('live', WEB), bob);
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json<{ permission: string }>().permission, 'applications.read');
    for (const what of ['live', 'desired', 'diff', 'events']) {
      const other = await get(url(what, 'kind=Secret&namespace=kube-system&name=admin-token'), alice);
      assert.equal(other.statusCode, 404, `${what}: ${other.body}`);
      assert.equal(other.json<{ error: string }>().error, 'RESOURCE_NOT_MANAGED');
    }
    h.writer.seed(
      application('a', 'broken', 'team-a', { sync: { status: 'Synced', revision: 'd'.repeat(40) } }),
    );
    const failed = await get(
      url('diff', 'group=apps&kind=Deployment&namespace=a&name=broken', 'a/broken'),
      alice,
    );
    assert.equal(failed.statusCode, 502, failed.body);
    assert.equal(failed.json<{ error: string }>().error, 'DESIRED_STATE_UNAVAILABLE');
    assert.match(failed.json<{ message: string }>().message, /dddddddddddd.* was not found/);
  });

  it('refuses a query without a kind or with an unknown parameter (400)', async () => {
    assert.equal((await get(url('live', 'name=web'), alice)).statusCode, 400);
    assert.equal((await get(url('live', `${WEB}&secret=1`), alice)).statusCode, 400);
  });
});

describe('server API: what a sync may select', () => {
  let h: Harness;
  let alice: Login;
  let bob: Login;
  let dana: Login;
  const TARGET = 'e'.repeat(40);
  const owner = { name: applicationOwnerName('a', 'shop'), ref: { namespace: 'a', name: 'shop' } };
  const configMap = (name: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'a' },
  });
  const id = (name: string) => ({ group: '', kind: 'ConfigMap', namespace: 'a', name });
  const owned = (name: string) => withOwnershipMarks(configMap(name), owner, id(name));
  before(async () => {
    h = await harness();
    alice = await login(h, 'alice');
    bob = await login(h, 'bob');
    dana = await login(h, 'dana');
    // The agent's last comparison still lists `old`; the inventory has `old`, `gone` (deleted since),
    // `foreign` (live, without this Application's marks) and `older` (which left Git earlier: no longer
    // in status.resources, still live and owned).
    h.writer.seed(
      application('a', 'shop', 'team-a', {
        resources: [
          { group: 'apps', kind: 'Deployment', namespace: 'a', name: 'shop', syncStatus: 'Synced' },
          { ...id('old'), syncStatus: 'Synced' },
        ],
      }),
    );
    const inventory = makeInventory(
      owner.name,
      [
        { group: 'apps', kind: 'Deployment', namespace: 'a', name: 'shop' },
        ...['old', 'gone', 'foreign', 'older'].map(id),
      ],
      { digest: 'd', now: new Date(0), owner: owner.ref },
    );
    h.reader.setLive({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `capstan-inventory-${owner.name}`, namespace: 'capstan-system' },
      data: { inventory: encodeInventory(inventory) },
    });
    for (const name of ['old', 'older']) h.reader.setLive(owned(name));
    h.reader.setLive(configMap('foreign'));
    h.reader.setDesired(
      TARGET,
      [
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'shop' } },
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' } },
        {
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: { name: 'migrate', annotations: { 'capstan.dev/hook': 'PreSync' } },
        },
      ],
      { target: true },
    );
  });
  after(async () => {
    await h.app.close();
  });
  const candidates = (who: Login) =>
    h.call({ method: 'GET', url: '/api/v1/applications/a/shop/sync-candidates', headers: as(who, false) });

  it('lists the desired resources at the target (no hook) and the owned ones that left it, each marked; a prune of one is accepted', async () => {
    const answer = await candidates(alice);
    assert.equal(answer.statusCode, 200, answer.body);
    const body = answer.json<{
      revision: string;
      items: { kind: string; name: string; namespace?: string; state: string }[];
    }>();
    assert.equal(body.revision, TARGET);
    assert.deepEqual(
      body.items.map((c) => `${c.kind}/${c.namespace ?? ''}/${c.name} ${c.state}`),
      [
        'Deployment/a/shop desired',
        'ConfigMap/a/settings desired',
        'ConfigMap/a/old departed',
        'ConfigMap/a/older departed',
      ],
    );
    // What the dialog offers, the selection check accepts: a departed one with prune.
    const sync = await h.call({
      method: 'POST',
      url: '/api/v1/applications/a/shop/sync',
      headers: as(dana),
      payload: { prune: true, resources: [id('older')] },
    });
    assert.equal(sync.statusCode, 202, sync.body);
    assert.match(sync.json<{ value: string }>().value, /;prune;resources=\/ConfigMap\/a\/older$/);
  });

  it('needs applications.read in the Application’s project', async () => {
    const refused = await candidates(bob);
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json<{ permission: string }>().permission, 'applications.read');
  });
});

describe('server API: 10,000 Applications', () => {
  const COUNT = 10_000;
  let h: Harness;
  let admin: Login;
  const nameOf = (i: number) => `app-${String(i).padStart(5, '0')}`;
  before(async () => {
    h = await harness();
    admin = await login(h, 'admin', await initialPassword(h));
    for (let i = 0; i < COUNT; i++) h.writer.seed(application('scale', nameOf(i), 'team-a'));
  });
  after(async () => {
    await h.app.close();
  });
  const get = (url: string, headers: Record<string, string> = {}) =>
    h.call({ method: 'GET', url, headers: { ...as(admin, false), ...headers } });
  const page = (url: string) =>
    get(url).then((r) => {
      assert.equal(r.statusCode, 200, r.body);
      return r.json<{ items: { namespace: string; name: string }[]; total: number; next?: string }>();
    });
  const next = (cursor: string) => `/api/v1/applications?limit=500&cursor=${encodeURIComponent(cursor)}`;

  it('pages through all of them (pages of 500) in order, each once, even when one is added behind the cursor', async () => {
    const seen: string[] = [];
    let body = await page('/api/v1/applications?limit=500');
    let pages = 1;
    // Added behind the cursor after the first page: not in this walk, and nothing repeated or skipped.
    h.writer.seed(application('scale', 'app-00000-added', 'team-a'));
    for (;;) {
      seen.push(...body.items.map((i) => `${i.namespace}/${i.name}`));
      if (body.next === undefined) break;
      body = await page(next(body.next));
      pages++;
    }
    assert.equal(body.total, COUNT + 7, 'the total counts the one added');
    assert.equal(pages, Math.ceil((COUNT + 6) / 500));
    assert.equal(new Set(seen).size, seen.length, 'none twice');
    assert.equal(seen.length, COUNT + 6);
    assert.deepEqual(seen, [...seen].sort(), 'namespace and name order');
    assert.ok(!seen.includes('scale/app-00000-added'));
    for (const i of [0, 4999, COUNT - 1]) assert.ok(seen.includes(`scale/${nameOf(i)}`));
  });

  it('answers 304 to If-None-Match on a page, a filtered search and one of them, and a new tag only where a change shows', async () => {
    const first = await get('/api/v1/applications?limit=500');
    const firstNext = first.json<{ next: string }>().next;
    const second = await get(next(firstNext));
    const search = await get('/api/v1/applications?namespace=scale&search=app-0999');
    assert.equal(search.json<{ total: number }>().total, 10);
    const one = await get(`/api/v1/applications/scale/${nameOf(COUNT - 1)}`);
    const tags = [first, second, search, one].map((r) => String(r.headers.etag));
    const urls = [
      '/api/v1/applications?limit=500',
      next(firstNext),
      '/api/v1/applications?namespace=scale&search=app-0999',
      `/api/v1/applications/scale/${nameOf(COUNT - 1)}`,
    ];
    const statuses = () =>
      Promise.all(
        urls.map(async (url, i) => (await get(url, { 'if-none-match': tags[i] ?? '' })).statusCode),
      );
    assert.deepEqual(await statuses(), [304, 304, 304, 304]);
    // The last one changes: the search and the object show it; the first two pages do not.
    await h.writer.patchMetadata('scale', nameOf(COUNT - 1), { annotations: { touched: 'yes' } });
    assert.deepEqual(await statuses(), [304, 304, 200, 200]);
  });
});

describe('server API: repository connection test', () => {
  let h: Harness;
  let repoURL = '';
  before(async () => {
    h = await harness();
    await git.createRepository('connection', { files: { 'README.md': 'hello\n' } });
    repoURL = git.url('connection');
  });
  after(async () => {
    await h.app.close();
  });
  const test = (who: Login, payload: Record<string, unknown>) =>
    h.call({ method: 'POST', url: '/api/v1/repositories/test', headers: as(who), payload });

  it('reaches a repository with the right credentials, and says why not with wrong or none, never echoing them', async () => {
    const ada = await login(h, 'ada');
    const good = await test(ada, {
      repoURL,
      insecureHttp: true,
      username: git.username,
      password: git.password,
    });
    assert.equal(good.statusCode, 200, good.body);
    const ok = good.json<{ ok: boolean; revision: string; ref: string }>();
    assert.equal(ok.ok, true);
    assert.match(ok.revision, /^[0-9a-f]{40}$/);
    assert.equal(ok.ref, 'refs/heads/main');

    const wrongPassword = `sentinel-wrong-${randomBytes(6).toString('hex')}`;
    const wrong = await test(ada, {
      repoURL,
      insecureHttp: true,
      username: git.username,
      password: wrongPassword,
    });
    assert.equal(wrong.statusCode, 200);
    const refused = wrong.json<{ ok: boolean; error: string; reason: string }>();
    assert.equal(refused.ok, false);
    assert.equal(refused.error, 'SOURCE_AUTH_FAILED');
    const none = (await test(ada, { repoURL, insecureHttp: true })).json<{ ok: boolean; error: string }>();
    assert.deepEqual([none.ok, none.error], [false, 'SOURCE_AUTH_FAILED']);
    const plain = (await test(ada, { repoURL, username: git.username, password: git.password })).json<{
      ok: boolean;
      error: string;
    }>();
    assert.deepEqual([plain.ok, plain.error], [false, 'SOURCE_BAD_URL'], 'http:// without insecureHttp');
    for (const secret of [wrongPassword, git.password])
      assert.ok(!h.answers.join('\n').includes(secret) && !h.logs.join('\n').includes(secret));
    const entries = await h.store.audit.query({ action: 'repository.test', limit: 10 });
    assert.deepEqual(
      entries.map((e) => e.result),
      ['failure', 'failure', 'failure', 'success'],
    );
    assert.ok(!JSON.stringify(entries).includes(wrongPassword));
  });

  it('tests with the credentials of a Secret named by secretRef, in the project’s namespaces only, never echoing them', async () => {
    const password = git.password;
    SECRETS.set('a/git', {
      type: REPOSITORY_CREDENTIALS_TYPE,
      data: { url: base64(git.baseUrl), username: base64(git.username), password: base64(password) },
    });
    SECRETS.set('a/plain', { type: 'Opaque', data: { password: base64(password) } });
    SECRETS.set('b/git', SECRETS.get('a/git') ?? {});
    const ada = await login(h, 'ada');
    const good = await test(ada, {
      repoURL,
      project: 'team-a',
      insecureHttp: true,
      secretRef: { namespace: 'a', name: 'git' },
    });
    assert.equal(good.statusCode, 200, good.body);
    assert.equal(good.json<{ ok: boolean }>().ok, true);
    const missing = await test(ada, {
      repoURL,
      project: 'team-a',
      insecureHttp: true,
      secretRef: { namespace: 'a', name: 'nope' },
    });
    assert.deepEqual(
      [missing.statusCode, missing.json<{ ok: boolean; error: string }>().error],
      [200, 'SOURCE_SECRET_NOT_FOUND'],
    );
    const unmarked = await test(ada, {
      repoURL,
      project: 'team-a',
      insecureHttp: true,
      secretRef: { namespace: 'a', name: 'plain' },
    });
    assert.equal(unmarked.json<{ error: string }>().error, 'SOURCE_BAD_CREDENTIALS');
    // Namespace b is not team-a's: an admin of team-a may not have the server read its Secrets.
    const outside = await test(ada, {
      repoURL,
      project: 'team-a',
      insecureHttp: true,
      secretRef: { namespace: 'b', name: 'git' },
    });
    assert.equal(outside.statusCode, 403, outside.body);
    const both = await test(ada, {
      repoURL,
      project: 'team-a',
      token: 't',
      secretRef: { namespace: 'a', name: 'git' },
    });
    assert.equal(both.statusCode, 400);
    const admin = await login(h, 'admin', await initialPassword(h));
    const global = await test(admin, {
      repoURL,
      project: 'team-a',
      insecureHttp: true,
      secretRef: { namespace: 'b', name: 'git' },
    });
    assert.equal(global.json<{ ok: boolean }>().ok, true, global.body);
    assert.ok(!h.answers.join('\n').includes(password) && !h.logs.join('\n').includes(password));
    assert.ok(!JSON.stringify(await h.store.audit.query({ limit: 100 })).includes(password));
  });

  it('refuses mixed or half credentials (400) and anyone but a project admin (403)', async () => {
    const ada = await login(h, 'ada');
    const mixed = await test(ada, { repoURL, token: 't', username: 'u', password: 'p' });
    assert.equal(mixed.statusCode, 400);
    assert.equal(mixed.json<{ error: string }>().error, 'SOURCE_BAD_CREDENTIALS');
    assert.equal((await test(ada, { repoURL, username: 'u' })).statusCode, 400);
    const dana = await login(h, 'dana');
    const denied = await test(dana, { repoURL, project: 'team-a' });
    assert.equal(denied.statusCode, 403);
    assert.equal(denied.json<{ permission: string }>().permission, 'applications.create');
    assert.equal((await test(ada, { repoURL, project: 'team-a', insecureHttp: true })).statusCode, 200);
  });

  it('lists the repositories of the Applications the caller may read, counted per repository, with an ETag', async () => {
    const list = async (who: Login, headers: Record<string, string> = {}) =>
      h.call({ method: 'GET', url: '/api/v1/repositories', headers: { ...as(who, false), ...headers } });
    const everything = await list(await login(h, 'admin', await initialPassword(h)));
    assert.equal(everything.statusCode, 200, everything.body);
    assert.deepEqual(everything.json(), {
      items: [
        { repoURL: 'https://github.com/Org/a-config.git', applications: 3, projects: ['team-a'] },
        { repoURL: 'https://github.com/Org/b-config.git', applications: 2, projects: ['team-b'] },
        { repoURL: 'https://github.com/Org/c-config.git', applications: 1, projects: ['default'] },
      ],
    });
    const alice = await login(h, 'alice');
    const mine = await list(alice);
    assert.deepEqual(
      mine.json<{ items: { repoURL: string }[] }>().items.map((r) => r.repoURL),
      ['https://github.com/Org/a-config.git'],
      'a viewer of team-a sees only the repositories of team-a',
    );
    const etag = mine.headers['etag'];
    assert.ok(typeof etag === 'string' && etag.length > 2);
    assert.equal((await list(alice, { 'if-none-match': etag })).statusCode, 304);
    assert.equal((await h.call({ method: 'GET', url: '/api/v1/repositories' })).statusCode, 401);
  });

  it('takes a null field as absent, as the contract validated it (schemathesis found a 500 here)', async () => {
    const ada = await login(h, 'ada');
    const everything = await test(ada, {
      repoURL: '0',
      insecureHttp: false,
      username: '',
      password: 'p',
      token: 't',
      sshPrivateKey: 'k',
      knownHosts: '',
      secretRef: null,
    });
    assert.equal(everything.statusCode, 400, everything.body);
    assert.equal(everything.json<{ error: string }>().error, 'SOURCE_BAD_CREDENTIALS');
    const nullRef = await test(ada, { repoURL, insecureHttp: true, secretRef: null });
    assert.equal(nullRef.statusCode, 200, nullRef.body);
    assert.equal(nullRef.json<{ error: string }>().error, 'SOURCE_AUTH_FAILED');
  });
});

describe('server API: bad input', () => {
  let h: Harness;
  let admin: Login;
  before(async () => {
    h = await harness();
    admin = await login(h, 'admin', await initialPassword(h));
  });
  after(async () => {
    await h.app.close();
  });
  const post = (payload: string, headers: Record<string, string> = {}) =>
    h.call({
      method: 'POST',
      url: '/api/v1/applications/a/web/sync',
      headers: { ...as(admin), 'content-type': 'application/json', ...headers },
      payload,
    });

  it('answers malformed JSON, unknown fields, oversized bodies and other media types clearly, changing nothing', async () => {
    const before = h.index.get('a', 'web')?.metadata.resourceVersion;
    const malformed = await post('{"resourceVersion": ');
    assert.equal(malformed.statusCode, 400);
    assert.equal(malformed.json<{ error: string }>().error, 'MALFORMED_JSON');
    const unknown = await post('{"force": true}');
    assert.equal(unknown.statusCode, 400);
    assert.match(unknown.json<{ message: string }>().message, /force/);
    const huge = await post(JSON.stringify({ resourceVersion: 'x'.repeat(70 * 1024) }));
    assert.equal(huge.statusCode, 413);
    assert.equal(huge.json<{ error: string }>().error, 'BODY_TOO_LARGE');
    // The API server answers a resourceVersion that is not a number with a 500 of its own: refused here.
    const notANumber = await post(JSON.stringify({ resourceVersion: '\u00e2\u001ex' }));
    assert.equal(notANumber.statusCode, 400);
    assert.match(notANumber.json<{ message: string }>().message, /resourceVersion/);
    const longName = await h.call({
      method: 'GET',
      url: `/api/v1/applications/a/${'x'.repeat(300)}`,
      headers: as(admin, false),
    });
    assert.equal(longName.statusCode, 400, 'a name past 253 characters is refused by the contract, not 414');
    const text = await post('sync please', { 'content-type': 'text/plain' });
    assert.equal(text.statusCode, 415);
    const poisoned = await post('{"__proto__": {"admin": true}}');
    assert.equal(poisoned.statusCode, 400);
    assert.equal(h.index.get('a', 'web')?.metadata.resourceVersion, before);
  });
});

describe('server API: tokens', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => {
    await h.app.close();
  });

  it('creates a scoped token shown once, lists it without its secret, and refuses it at once after revocation', async () => {
    const ada = await login(h, 'ada');
    const created = await h.call({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: as(ada),
      payload: { name: 'ci', project: 'team-a', role: 'deployer', expiresInDays: 7 },
    });
    assert.equal(created.statusCode, 201, created.body);
    const { token, info } = created.json<{ token: string; info: { id: string } }>();
    const bearer = { authorization: `Bearer ${token}` };
    const sync = await h.call({
      method: 'POST',
      url: '/api/v1/applications/a/web/sync',
      headers: bearer,
      payload: {},
    });
    assert.equal(sync.statusCode, 202, 'a token needs no CSRF token');
    const other = await h.call({
      method: 'POST',
      url: '/api/v1/applications/b/web/sync',
      headers: bearer,
      payload: {},
    });
    assert.equal(other.statusCode, 403, 'the token is scoped to team-a');
    const listed = await h.call({ method: 'GET', url: '/api/v1/tokens', headers: as(ada, false) });
    assert.equal(listed.json<{ items: { id: string }[] }>().items[0]?.id, info.id);
    assert.ok(!listed.body.includes(secretOf(token)), 'no secret in the list');
    assert.ok(!listed.body.includes('digest'));
    const revoked = await h.call({ method: 'DELETE', url: `/api/v1/tokens/${info.id}`, headers: as(ada) });
    assert.equal(revoked.statusCode, 204);
    const after = await h.call({ method: 'GET', url: '/api/v1/applications', headers: bearer });
    assert.equal(after.statusCode, 401);
    const actions = (await h.store.audit.query({ action: 'token.', limit: 10 })).map(
      (e) => `${e.action}:${e.result}`,
    );
    assert.deepEqual(actions, ['token.revoke:success', 'token.create:success']);
  });

  it('refuses a token above the creator’s role, for every project unless global admin, and an expired one', async () => {
    const dana = await login(h, 'dana');
    const refused = await h.call({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: as(dana),
      payload: { name: 'x', project: 'team-a', role: 'deployer' },
    });
    assert.equal(refused.statusCode, 403, 'tokens.create is an admin permission');
    const ada = await login(h, 'ada');
    const everywhere = await h.call({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: as(ada),
      payload: { name: 'x', project: '*', role: 'viewer' },
    });
    assert.equal(everywhere.statusCode, 403);
    const viewer = await h.call({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: as(ada),
      payload: { name: 'v', project: 'team-a', role: 'viewer', expiresInDays: 1 },
    });
    const { token } = viewer.json<{ token: string }>();
    const sync = await h.call({
      method: 'POST',
      url: '/api/v1/applications/a/web/sync',
      headers: { authorization: `Bearer ${token}` },
      payload: {},
    });
    assert.equal(sync.statusCode, 403, 'a viewer token cannot sync');
    h.clock += 2 * 86_400_000;
    const expired = await h.call({
      method: 'GET',
      url: '/api/v1/applications',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(expired.statusCode, 401);
  });
});

describe('server API: audit trail and event stream', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => {
    await h.app.close();
  });

  it('answers the audit trail with filters and pages to a global admin, and a project’s to its admin only', async () => {
    const dana = await login(h, 'dana');
    for (let i = 0; i < 3; i++)
      await h.call({
        method: 'POST',
        url: '/api/v1/applications/a/web/refresh',
        headers: as(dana),
        payload: {},
      });
    const admin = await login(h, 'admin', await initialPassword(h));
    const first = await h.call({
      method: 'GET',
      url: '/api/v1/audit?action=application.&limit=2',
      headers: as(admin, false),
    });
    const page = first.json<{ items: { action: string; actor: { name: string } }[]; next: string }>();
    assert.equal(page.items.length, 2);
    assert.ok(page.items.every((e) => e.action === 'application.refresh' && e.actor.name === 'dana'));
    const second = await h.call({
      method: 'GET',
      url: `/api/v1/audit?action=application.&limit=2&cursor=${encodeURIComponent(page.next)}`,
      headers: as(admin, false),
    });
    assert.equal(second.json<{ items: unknown[]; next?: string }>().items.length, 1);
    const ada = await login(h, 'ada');
    assert.equal(
      (await h.call({ method: 'GET', url: '/api/v1/audit', headers: as(ada, false) })).statusCode,
      403,
    );
    assert.equal(
      (await h.call({ method: 'GET', url: '/api/v1/audit?project=team-a', headers: as(ada, false) }))
        .statusCode,
      200,
    );
    assert.equal(
      (await h.call({ method: 'GET', url: '/api/v1/audit?project=team-b', headers: as(ada, false) }))
        .statusCode,
      403,
    );
  });

  it('replays the changes after Last-Event-ID that the caller may read, and says reset when they are gone', async () => {
    const alice = await login(h, 'alice');
    const start = h.index.currentId();
    await h.writer.patchMetadata('a', 'web', { annotations: { one: '1' } });
    await h.writer.patchMetadata('b', 'web', { annotations: { two: '2' } });
    await h.writer.patchMetadata('a', 'api', { annotations: { three: '3' } });
    const replay = await h.call({
      method: 'GET',
      url: '/api/v1/stream?follow=false',
      headers: { ...as(alice, false), 'last-event-id': start },
    });
    assert.equal(replay.statusCode, 200);
    assert.match(String(replay.headers['content-type']), /text\/event-stream/);
    const events = replay.body.split('\n\n').filter((block) => block.startsWith('id:'));
    assert.equal(events.length, 2, replay.body);
    assert.ok(events.every((e) => e.includes('event: modified') && e.includes('"namespace":"a"')));
    const stale = await h.call({
      method: 'GET',
      url: '/api/v1/stream?follow=false',
      headers: { ...as(alice, false), 'last-event-id': 'other-3' },
    });
    assert.match(stale.body, /event: reset/);
  });

  it('carries Environments and promotions in the same sequence, to those who may read their project', async () => {
    const alice = await login(h, 'alice');
    const start = h.index.currentId();
    const app = (ns: string) => {
      const found = h.index.get(ns, 'web');
      assert.ok(found);
      return projectOf(found);
    };
    const mine = app('a');
    const theirs = app('b');
    h.index.recordOther({ kind: 'environment', type: 'modified', project: mine, data: { name: 'dev' } });
    h.index.recordOther({ kind: 'promotion', type: 'added', project: mine, data: { id: 'p-1' } });
    h.index.recordOther({ kind: 'promotion', type: 'added', project: theirs, data: { id: 'p-2' } });
    await h.writer.patchMetadata('a', 'web', { annotations: { four: '4' } });
    const replay = await h.call({
      method: 'GET',
      url: '/api/v1/stream?follow=false',
      headers: { ...as(alice, false), 'last-event-id': start },
    });
    const events = replay.body.split('\n\n').filter((block) => block.startsWith('id:'));
    assert.deepEqual(
      events.map((e) => /^event: (.*)$/m.exec(e)?.[1]),
      ['environment', 'promotion', 'modified'],
      replay.body,
    );
    assert.match(events[0] ?? '', /\ndata: \{"type":"modified","environment":\{"name":"dev"\}\}$/);
    assert.match(events[1] ?? '', /\ndata: \{"id":"p-1"\}$/);
    const seqs = events.map((e) => Number(/^id: [0-9a-f]+-(\d+)/.exec(e)?.[1]));
    assert.deepEqual(
      seqs,
      [...seqs].sort((x, y) => x - y),
      'one sequence, in order',
    );
  });
});

describe('server API: a promotion followed', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => {
    await h.app.close();
  });

  it('sends the promotion at once, then at each change of it or its Environment, until it ends; resumable', async () => {
    const alice = await login(h, 'alice');
    const found = h.index.get('a', 'web');
    assert.ok(found);
    const project = projectOf(found);
    const at = (second: number) => `2026-03-01T00:00:0${String(second)}.000Z`;
    const step = (state: PromotionState, second: number) => ({ state, at: at(second), by: 'alice' });
    const image = `registry.invalid/hello@sha256:${'a'.repeat(64)}`;
    const record = {
      id: 'p-follow',
      namespace: 'a',
      environment: 'dev',
      project,
      image,
      requestedBy: 'alice',
    };
    await h.store.promotions.create({
      ...record,
      state: 'Pending',
      createdAt: at(0),
      updatedAt: at(0),
      steps: [step('Pending', 0)],
    });
    const move = async (from: PromotionState, state: PromotionState, second: number) => {
      const current = await h.store.promotions.get(record.id);
      assert.ok(current);
      const moved = await h.store.promotions.update(record.id, from, {
        state,
        updatedAt: at(second),
        steps: [...current.steps, step(state, second)],
      });
      assert.ok(moved);
      return moved;
    };
    const environmentChanged = (namespace: string, name: string) => {
      h.index.recordOther({ kind: 'environment', type: 'modified', project, data: { namespace, name } });
    };

    const address = await h.app.listen({ port: 0, host: '127.0.0.1' });
    const response = await fetch(`${address}/api/v1/promotions/${record.id}/events`, {
      headers: as(alice, false),
    });
    assert.equal(response.status, 200);
    assert.ok(response.body);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const events = () => text.split('\n\n').filter((block) => block.includes('event: '));
    const until = async (count: number) => {
      while (events().length < count) {
        const chunk = await reader.read();
        if (chunk.done) break;
        text += chunk.value;
      }
      return events();
    };
    assert.equal((await until(1))[0]?.includes('"state":"Pending"'), true, text);

    // Its Environment changed: read from the Store. Another Environment's, or another promotion: not.
    await move('Pending', 'Approved', 1);
    environmentChanged('a', 'other');
    h.index.recordOther({
      kind: 'promotion',
      type: 'added',
      project,
      data: { id: 'p-other', state: 'Failed' },
    });
    environmentChanged('a', 'dev');
    await until(2);
    // A promotion change carries the record as the stream read it; the Store may be further on.
    const committed = await move('Approved', 'Committed', 2);
    await move('Committed', 'Verified', 3);
    h.index.recordOther({ kind: 'promotion', type: 'modified', project, data: committed });
    environmentChanged('a', 'dev');
    const all = await until(6);
    assert.equal((await reader.read()).done, true, 'the stream ends with the promotion');
    const named = all.map((e) => [/^event: (.*)$/m.exec(e)?.[1], /"state":"(\w+)"/.exec(e)?.[1]]);
    assert.deepEqual(named, [
      ['promotion', 'Pending'],
      ['promotion', 'Approved'],
      ['promotion', 'Committed'],
      ['promotion', 'Verified'],
      ['end', 'Verified'],
    ]);
    const ids = all.map((e) => /^id: (.*)$/m.exec(e)?.[1]);
    assert.deepEqual(ids.slice(0, 4), [`${at(0)}#0001`, `${at(1)}#0002`, `${at(2)}#0003`, `${at(3)}#0004`]);

    // Reconnected after Committed: Verified, then end; after Verified: end alone.
    const resumed = async (lastId: string) =>
      (
        await h.call({
          method: 'GET',
          url: `/api/v1/promotions/${record.id}/events`,
          headers: { ...as(alice, false), 'last-event-id': lastId },
        })
      ).body;
    const afterCommitted = await resumed(`${at(2)}#0003`);
    assert.deepEqual(
      afterCommitted
        .split('\n\n')
        .filter((b) => b.includes('event: '))
        .map((b) => /^event: (.*)$/m.exec(b)?.[1]),
      ['promotion', 'end'],
    );
    assert.match(afterCommitted, /"state":"Verified"/);
    assert.equal(await resumed(`${at(3)}#0004`), 'event: end\ndata: {"state":"Verified"}\n\n');
    // An id that is not one of its keys is ignored: the whole record again.
    assert.match(await resumed('e1-3'), /^id: .*\nevent: promotion\n/);
  });
});

describe('server API: a store that is down', () => {
  it('says so with 503 STORE_UNAVAILABLE and acts on nothing; reads of the probes still answer', async () => {
    const h = await harness();
    const ada = await login(h, 'ada');
    const before = h.index.get('a', 'web')?.metadata.resourceVersion;
    await h.store.close();
    const sync = await h.call({
      method: 'POST',
      url: '/api/v1/applications/a/web/sync',
      headers: as(ada),
      payload: {},
    });
    assert.equal(sync.statusCode, 503);
    assert.equal(sync.json<{ error: string }>().error, 'STORE_UNAVAILABLE');
    assert.equal(h.index.get('a', 'web')?.metadata.resourceVersion, before);
    const attempt = await h.call({
      method: 'POST',
      url: '/api/v1/session',
      payload: { username: 'ada', password: 'x' },
    });
    assert.equal(attempt.statusCode, 503);
    assert.equal((await h.call({ method: 'GET', url: '/healthz' })).statusCode, 200);
    await h.app.close();
  });
});

describe('server API: secrets sweep', () => {
  it('never puts a password, a session secret or a token in an answer or a log line', async () => {
    const h = await harness();
    const ada = await login(h, 'ada');
    const created = await h.call({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: as(ada),
      payload: { name: 'ci', project: 'team-a', role: 'viewer' },
    });
    const token = created.json<{ token: string }>().token;
    // Exercise the API: every kind of answer, with each credential.
    await h.call({
      method: 'GET',
      url: '/api/v1/applications',
      headers: { authorization: `Bearer ${token}` },
    });
    await h.call({ method: 'GET', url: '/api/v1/session', headers: as(ada, false) });
    await h.call({
      method: 'POST',
      url: '/api/v1/session',
      payload: { username: 'ada', password: `${PASSWORDS['ada'] ?? ''}-wrong` },
    });
    await h.call({ method: 'GET', url: '/api/v1/audit?project=team-a', headers: as(ada, false) });
    await h.call({ method: 'GET', url: '/api/v1/tokens', headers: as(ada, false) });
    await h.app.close();
    const sessionSecret = ada.cookie.split('=')[1] ?? '';
    const tokenSecret = secretOf(token);
    const answers = h.answers.filter((a) => !a.includes('set-cookie')).join('\n');
    const audit = JSON.stringify(await h.store.audit.query({ limit: 1000 }));
    for (const secret of [...Object.values(PASSWORDS), sessionSecret, tokenSecret]) {
      assert.ok(secret.length > 10);
      assert.ok(!h.logs.join('\n').includes(secret), 'a log line holds a secret');
      assert.ok(!audit.includes(secret), 'the audit trail holds a secret');
    }
    for (const secret of [...Object.values(PASSWORDS), tokenSecret])
      assert.ok(!answers.replace(token, '').includes(secret), 'an answer holds a secret');
    assert.ok(h.logs.length > 0);
  });
});

/** The secret part of a token's text, `capstan_<id>_<secret>` (the secret may hold `_` itself). */
function secretOf(token: string): string {
  return token.slice('capstan_'.length + 13);
}

/** Every answer of a documented route matches the schema its documentation gives for that status. */
function checkAgainstSchema(
  app: FastifyInstance,
  request: InjectOptions,
  response: LightMyRequestResponse,
): void {
  const method = (request.method ?? 'GET').toUpperCase();
  const path = (typeof request.url === 'string' ? request.url : '').split('?')[0] ?? '';
  const doc = routeDocsOf(app).find(
    (d) => d.method === method && new RegExp(`^${d.url.replace(/:[A-Za-z]+/g, '[^/]+')}$`).test(path),
  );
  if (!doc) return;
  const answer = doc.responses[response.statusCode];
  assert.ok(
    answer,
    `${method} ${path} answered ${response.statusCode}, which its documentation does not list`,
  );
  if (!answer.schema) return;
  const checked = validate(answer.schema, response.json());
  assert.ok(
    checked.ok,
    `${method} ${path} ${response.statusCode}: ${checked.ok ? '' : checked.errors.join('; ')}`,
  );
}

describe('server API: pipeline runs', () => {
  let h: Harness;
  const cancelled: string[] = [];
  const reran: string[] = [];
  const run = (id: string, project: string, extra: Partial<RunRecord> = {}): RunRecord => ({
    id,
    namespace: project === 'team-a' ? 'a' : 'b',
    pipeline: 'web',
    project,
    revision: 'c'.repeat(40),
    branch: 'main',
    trigger: 'push',
    triggeredBy: 'webhook:github',
    phase: 'Succeeded',
    queuedAt: `2026-03-01T00:00:0${id.slice(-1)}Z`,
    steps: [{ name: 'checkout', phase: 'Succeeded' }],
    images: [],
    ...extra,
  });
  before(async () => {
    h = await harness({
      pipelineRuns: {
        cancel: async (id, by) => {
          cancelled.push(`${id} by ${by}`);
          const found = await h.store.runs.get(id);
          return found && { ...found, phase: 'Cancelled', cancelledBy: by };
        },
        rerun: (r, by) => {
          reran.push(`${r.id} by ${by}`);
          return Promise.resolve();
        },
        approve: async (id, by) => {
          const found = await h.store.runs.get(id);
          if (found?.phase !== 'WaitingForApproval') return found && 'not-waiting';
          return h.store.runs.update(id, { phase: 'Queued', approvedBy: by });
        },
        revoke: () => Promise.resolve(false),
      },
    });
    await h.store.runs.create(run('run1', 'team-a'));
    await h.store.runs.create(run('run2', 'team-b'));
    await h.store.runs.create(run('run3', 'team-a', { phase: 'Running' }));
    await h.store.runs.appendLogs('run1', [
      { step: 'test', time: '2026-03-01T00:00:01Z', line: 'one' },
      { step: 'test', time: '2026-03-01T00:00:02Z', line: 'two' },
      { step: 'test', time: '2026-03-01T00:00:03Z', line: 'three' },
    ]);
  });
  after(async () => {
    await h.app.close();
  });

  it('lists the runs of the projects the caller may read, newest first, paged', async () => {
    const alice = await login(h, 'alice');
    const all = await h.call({ method: 'GET', url: '/api/v1/runs', headers: as(alice, false) });
    assert.equal(all.statusCode, 200, all.body);
    assert.deepEqual(
      all.json<{ items: RunRecord[] }>().items.map((r) => r.id),
      ['run3', 'run1'],
    );
    const page = await h.call({
      method: 'GET',
      url: '/api/v1/runs?limit=1&namespace=a',
      headers: as(alice, false),
    });
    assert.deepEqual(page.json(), {
      items: [{ ...run('run3', 'team-a', { phase: 'Running' }) }],
      nextCursor: 'run3',
    });
    const next = await h.call({
      method: 'GET',
      url: '/api/v1/runs?limit=1&namespace=a&before=run3',
      headers: as(alice, false),
    });
    assert.deepEqual(
      next.json<{ items: RunRecord[] }>().items.map((r) => r.id),
      ['run1'],
    );
    const other = await h.call({ method: 'GET', url: '/api/v1/runs/run2', headers: as(alice, false) });
    assert.equal(other.statusCode, 403);
    const missing = await h.call({ method: 'GET', url: '/api/v1/runs/nope', headers: as(alice, false) });
    assert.equal(missing.statusCode, 404);
  });

  it('gives the log lines after a seq, and streams them as server-sent events resuming from Last-Event-ID', async () => {
    const alice = await login(h, 'alice');
    const json = await h.call({
      method: 'GET',
      url: '/api/v1/runs/run1/logs?after=1',
      headers: as(alice, false),
    });
    assert.deepEqual(
      json.json<{ lines: { line: string }[] }>().lines.map((l) => l.line),
      ['two', 'three'],
    );
    const events = await h.app.inject({
      method: 'GET',
      url: '/api/v1/runs/run1/logs?follow=true',
      headers: { ...as(alice, false), 'last-event-id': '2' },
    });
    assert.equal(events.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.match(
      events.body,
      /^id: 3\nevent: line\ndata: \{"seq":3,"step":"test","time":"2026-03-01T00:00:03Z","line":"three"\}\n\n/,
    );
    assert.match(events.body, /event: end\ndata: \{"phase":"Succeeded"\}/);
    assert.doesNotMatch(events.body, /"line":"two"/);
  });

  it('cancels and re-runs with pipelines.run in the run’s project, audited; a viewer is refused', async () => {
    const alice = await login(h, 'alice');
    const refused = await h.call({ method: 'POST', url: '/api/v1/runs/run3/cancel', headers: as(alice) });
    assert.equal(refused.statusCode, 403);
    const dana = await login(h, 'dana');
    const cancel = await h.call({ method: 'POST', url: '/api/v1/runs/run3/cancel', headers: as(dana) });
    assert.equal(cancel.statusCode, 202, cancel.body);
    assert.equal(cancel.json<RunRecord>().cancelledBy, 'dana');
    const rerun = await h.call({ method: 'POST', url: '/api/v1/runs/run1/rerun', headers: as(dana) });
    assert.equal(rerun.statusCode, 202, rerun.body);
    assert.deepEqual([cancelled, reran], [['run3 by dana'], ['run1 by dana']]);
    const entries = await h.store.audit.query({ action: 'pipeline.', limit: 10 });
    assert.deepEqual(entries.map((e) => [e.action, e.actor.name, e.result]).reverse(), [
      ['pipeline.cancel', 'alice', 'denied'],
      ['pipeline.cancel', 'dana', 'success'],
      ['pipeline.rerun', 'dana', 'success'],
    ]);
  });

  it('approves a run of a fork’s pull request that waits, with pipelines.run, audited; a run that does not wait is 409', async () => {
    await h.store.runs.create(
      run('run4', 'team-a', {
        phase: 'WaitingForApproval',
        trigger: 'pullRequest',
        reason: 'WaitingForApproval',
        pullRequest: {
          number: 7,
          sourceBranch: 'fix',
          targetBranch: 'main',
          fromFork: true,
          author: 'mallory',
        },
      }),
    );
    const alice = await login(h, 'alice');
    const refused = await h.call({ method: 'POST', url: '/api/v1/runs/run4/approve', headers: as(alice) });
    assert.equal(refused.statusCode, 403);
    const dana = await login(h, 'dana');
    const approved = await h.call({ method: 'POST', url: '/api/v1/runs/run4/approve', headers: as(dana) });
    assert.equal(approved.statusCode, 202, approved.body);
    assert.deepEqual(
      [approved.json<RunRecord>().phase, approved.json<RunRecord>().approvedBy],
      ['Queued', 'dana'],
    );
    const again = await h.call({ method: 'POST', url: '/api/v1/runs/run4/approve', headers: as(dana) });
    assert.equal(again.statusCode, 409, again.body);
    assert.equal(again.json<{ error: string }>().error, 'PIPELINE_RUN_NOT_WAITING');
    const entries = await h.store.audit.query({ action: 'pipeline.approve', limit: 10 });
    assert.deepEqual(entries.map((e) => [e.action, e.actor.name, e.result, e.target]).reverse(), [
      ['pipeline.approve', 'alice', 'denied', 'Run/a/web/run4'],
      ['pipeline.approve', 'dana', 'success', 'Run/a/web/run4'],
      ['pipeline.approve', 'dana', 'failure', 'Run/a/web/run4'],
    ]);
  });
});

describe('server API: a Pipeline’s triggers', () => {
  let h: Harness;
  const reads: string[] = [];
  const HEAD = 'a'.repeat(40);
  /** The pipeline file on each branch (absent: no such file; a branch not here: no such branch). */
  const files: Record<string, string | undefined> = {
    main: [
      'triggers:',
      '  push:',
      '    branches: [main, release/*]',
      "    tags: ['v*']",
      '    paths: [src/**]',
      '  pullRequest:',
      '    branches: [main]',
      '    ignorePaths: [docs/**]',
      'steps:',
      '  - name: test',
      '    image: busybox',
      '    commands: [echo ok]',
      '',
    ].join('\n'),
    'hand-only': 'triggers:\n  manual: false\nsteps:\n  - name: t\n    image: busybox\n    commands: [x]\n',
    broken: 'triggers:\n  push:\n    branches: main\nsteps: []\n',
    empty: undefined,
  };
  const pipeline = (namespace: string, name: string, project: string) => ({
    namespace,
    name,
    spec: {
      repoURL: `https://git.example.com/${name}.git`,
      project,
      file: '.capstan/pipeline.yaml',
      serviceAccountName: 'default',
      suspend: false,
    },
  });
  const APPROVED = [{ login: 'mallory', by: 'alice', at: '2026-03-01T00:00:00.000Z', run: 'r7' }];
  const PIPELINES = [
    { ...pipeline('a', 'web', 'team-a'), approvedForkAuthors: APPROVED },
    pipeline('b', 'api', 'team-b'),
  ];
  before(async () => {
    h = await harness({
      pipelines: {
        list: () => Promise.resolve(PIPELINES as never),
        get: (namespace, name) =>
          Promise.resolve(PIPELINES.find((p) => p.namespace === namespace && p.name === name) as never),
        requestRun: () => Promise.resolve(),
        writeStatus: () => Promise.resolve(),
      },
      pipelineFiles: {
        read: (entry, branch) => {
          reads.push(`${entry.namespace}/${entry.name}@${branch ?? '(default)'}`);
          const name = branch ?? 'main';
          if (name === 'offline')
            return Promise.reject(
              new CapstanError('SOURCE_UNREACHABLE', 'cannot reach git.example.com', { retryable: true }),
            );
          if (!(name in files))
            return Promise.reject(new CapstanError('SOURCE_REF_NOT_FOUND', `no ref ${name}`));
          return Promise.resolve({ text: files[name], ref: `refs/heads/${name}`, commit: HEAD });
        },
      },
    });
  });
  after(async () => {
    await h.app.close();
  });
  const triggers = async (session: Login, path: string) =>
    h.call({ method: 'GET', url: `/api/v1/pipelines/${path}`, headers: as(session, false) });

  it('answers the file’s triggers at the default branch’s head, with the defaults it applies', async () => {
    const alice = await login(h, 'alice');
    const answer = await triggers(alice, 'a/web/triggers');
    assert.equal(answer.statusCode, 200, answer.body);
    assert.deepEqual(answer.json(), {
      file: '.capstan/pipeline.yaml',
      ref: 'refs/heads/main',
      commit: HEAD,
      state: 'ok',
      push: { branches: ['main', 'release/*'], tags: ['v*'], paths: ['src/**'] },
      pullRequest: { branches: ['main'], ignorePaths: ['docs/**'] },
      manual: true,
    });
    const handOnly = await triggers(alice, 'a/web/triggers?branch=hand-only');
    assert.deepEqual(handOnly.json(), {
      file: '.capstan/pipeline.yaml',
      ref: 'refs/heads/hand-only',
      commit: HEAD,
      state: 'ok',
      manual: false,
    });
  });

  it('says when the file is missing or invalid (with its line), and which branch or repository failed', async () => {
    const alice = await login(h, 'alice');
    const missing = await triggers(alice, 'a/web/triggers?branch=empty');
    assert.equal(missing.statusCode, 200);
    assert.equal(missing.json<{ state: string }>().state, 'missing');
    const broken = await triggers(alice, 'a/web/triggers?branch=broken');
    assert.equal(broken.statusCode, 200);
    const invalid = broken.json<{ state: string; problem: string }>();
    assert.equal(invalid.state, 'invalid');
    assert.match(invalid.problem, /\.capstan\/pipeline\.yaml:3/);
    const nope = await triggers(alice, 'a/web/triggers?branch=nope');
    assert.equal(nope.statusCode, 404);
    assert.match(
      nope.json<{ message: string }>().message,
      /no branch nope in https:\/\/git\.example\.com\/web\.git/,
    );
    const offline = await triggers(alice, 'a/web/triggers?branch=offline');
    assert.equal(offline.statusCode, 502);
    assert.equal(offline.json<{ error: string }>().error, 'SOURCE_UNREACHABLE');
    assert.match(
      offline.json<{ message: string }>().message,
      /branch offline.*cannot reach git\.example\.com/,
    );
    const bad = await triggers(alice, 'a/web/triggers?branch=a%20b');
    assert.equal(bad.statusCode, 400);
  });

  it('answers a Pipeline with the fork authors its status approves, alone and in the list', async () => {
    const alice = await login(h, 'alice');
    const one = await h.call({ method: 'GET', url: '/api/v1/pipelines/a/web', headers: as(alice, false) });
    assert.equal(one.statusCode, 200, one.body);
    assert.deepEqual(one.json<{ approvedForkAuthors?: unknown }>().approvedForkAuthors, APPROVED);
    const list = await h.call({ method: 'GET', url: '/api/v1/pipelines', headers: as(alice, false) });
    const items = list.json<{ items: { name: string; approvedForkAuthors?: unknown }[] }>().items;
    assert.deepEqual(items.find((p) => p.name === 'web')?.approvedForkAuthors, APPROVED);
  });

  it('needs pipelines.read in the Pipeline’s project; no read for a refused caller', async () => {
    const alice = await login(h, 'alice');
    const before = reads.length;
    const refused = await triggers(alice, 'b/api/triggers');
    assert.equal(refused.statusCode, 403);
    assert.equal((await triggers(alice, 'a/none/triggers')).statusCode, 404);
    assert.equal(reads.length, before, 'git is not read for a refused or missing Pipeline');
    const anonymous = await h.call({ method: 'GET', url: '/api/v1/pipelines/a/web/triggers' });
    assert.equal(anonymous.statusCode, 401);
    const doc = await h.call({ method: 'GET', url: OPENAPI_PATH });
    const paths = doc.json<{ paths: Record<string, unknown> }>().paths;
    assert.ok(paths['/api/v1/pipelines/{namespace}/{name}/triggers'], 'the route is documented');
  });
});

describe('server API: requests Node refuses before any route', () => {
  it('answers headers past Node’s limit with 431 HEADERS_TOO_LARGE in the API’s error shape, as documented', async () => {
    const h = await harness();
    try {
      const address = await h.app.listen({ host: '127.0.0.1', port: 0 });
      const answer = await fetch(`${address}/api/v1/applications?search=${'x'.repeat(20_000)}`);
      assert.equal(answer.status, 431);
      assert.equal(answer.headers.get('content-type'), 'application/json');
      const body = (await answer.json()) as { error: string; message: string };
      assert.equal(body.error, 'HEADERS_TOO_LARGE');
      assert.match(body.message, /16 KiB: send a shorter query/);
      const document = (await h.call({ method: 'GET', url: '/api/v1/openapi.json' })).json<{
        paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      }>();
      for (const [path, operations] of Object.entries(document.paths))
        for (const [method, op] of Object.entries(operations))
          assert.ok(op.responses['431'], `${method.toUpperCase()} ${path} documents 431`);
    } finally {
      await h.app.close();
    }
  });
});
