// `capstan server` shows one resource of an Application against real parts: its live manifest from the
// cluster (read with the server's own least-privilege identity), its desired manifest rendered from a
// real git server at the synced and at the target commit (credentials from the Application's
// secretRef), the diff of the two, and its Events; a chart rendered as the agent renders it (its
// release name, plain http allowed, a dependency downloaded with the credentials of the Secret its
// helm.repositorySecretRefs names). Sentinel values in the live and desired Secrets, the git password
// and the chart repository's password appear in no answer and no log line.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPOSITORY_CREDENTIALS_TYPE } from '../../src/adapters/git/secret-credentials.ts';
import type { KubeCluster } from '../../src/adapters/kube/kube-cluster.ts';
import { APPLICATION_API_VERSION, APPLICATION_KIND } from '../../src/contracts/application.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { startChartServer } from '../../src/testing/chart-repository.ts';
import { freshNamespace, type KubeClients } from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { fixture, gitSecretBody, startGitServer } from '../../src/testing/git.ts';
import {
  adminSession,
  initialAdminPassword,
  serverIdentity,
  serverTestKube,
  startTestServer,
} from '../../src/testing/server.ts';

const SENTINEL_LIVE = `sentinel-live-${randomBytes(8).toString('hex')}`;
const SENTINEL_DESIRED = `sentinel-desired-${randomBytes(8).toString('hex')}`;
const git = await startGitServer(after);
const charts = await startChartServer(after);
let kube: KubeClients;
let admin: KubeCluster;
let appType: ResourceType;
let secretType: ResourceType;
let configMapType: ResourceType;
const scratch = await mkdtemp(join(tmpdir(), 'capstan-server-res-'));
const logs: string[] = [];
const answers: string[] = [];

before(async () => {
  ({ kube, admin, appType, secretType } = await serverTestKube());
  const configMaps = await admin.resourceType('v1', 'ConfigMap');
  assert.ok(configMaps);
  configMapType = configMaps;
  await charts.publish([{ folder: fixture('render', 'helm', 'repository', 'database'), version: '1.1.0' }]);
});

after(async () => {
  admin.close();
  await rm(scratch, { recursive: true, force: true });
});

const settings = (level: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: "${level}"\n`;
const dbSecret = (value: string) =>
  `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: ${value}\n`;

/** Starts the server with its install RBAC in `home`; resolves with its base URL and a session. */
async function startServer(
  t: { after: (fn: () => Promise<void>) => void },
  home: string,
): Promise<{ base: string; headers: Record<string, string> }> {
  const { base } = await startTestServer(t.after.bind(t), {
    kubeconfig: await serverIdentity(admin, home),
    namespace: home,
    database: join(scratch, `server-${home}.db`),
    repositoryHosts: ['127.0.0.1'],
    log: (line) => logs.push(JSON.stringify(line)),
  });
  const { cookie } = await adminSession(base, await initialAdminPassword(admin, home));
  return { base, headers: { cookie } };
}

describe('capstan server: one resource of an Application, against a real cluster and git server', () => {
  it('serves live and desired manifests, the diff and the Events, and never a Secret’s value', async (t) => {
    const apps = await freshNamespace(t, kube);
    const home = await freshNamespace(t, kube);
    const repo = `resources-${apps}`;
    const synced = await git.createRepository(repo, {
      files: { 'app/settings.yaml': settings('1'), 'app/db.yaml': dbSecret(SENTINEL_DESIRED) },
    });
    const target = await git.commit(repo, { files: { 'app/settings.yaml': settings('2') } });
    // What the agent would have deployed at `synced` (with a label of its own), and the Secret changed by hand.
    await admin.apply(
      configMapType,
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'settings', namespace: apps, labels: { 'capstan.dev/owner': 'web' } },
        data: { level: '1' },
      },
      { fieldManager: 'capstan-test' },
    );
    await admin.apply(
      secretType,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'db', namespace: apps },
        stringData: { password: SENTINEL_LIVE },
      },
      { fieldManager: 'capstan-test' },
    );
    await admin.apply(
      secretType,
      { apiVersion: 'v1', kind: 'Secret', ...gitSecretBody(git), metadata: { name: 'git', namespace: apps } },
      { fieldManager: 'capstan-test' },
    );
    await admin.apply(
      appType,
      {
        apiVersion: APPLICATION_API_VERSION,
        kind: APPLICATION_KIND,
        metadata: { name: 'web', namespace: apps },
        spec: {
          source: {
            repoURL: git.url(repo),
            path: 'app',
            targetRevision: 'main',
            secretRef: { name: 'git' },
            insecureHttp: true,
          },
          destination: { namespace: apps },
        },
      },
      { fieldManager: 'capstan-test' },
    );
    await setStatus(apps, 'web', {
      sync: { status: 'OutOfSync', revision: synced },
      resources: [
        { group: '', kind: 'ConfigMap', namespace: apps, name: 'settings', syncStatus: 'Synced' },
        { group: '', kind: 'Secret', namespace: apps, name: 'db', syncStatus: 'OutOfSync' },
      ],
    });
    await kube.core.createNamespacedEvent({
      namespace: apps,
      body: {
        metadata: { name: `settings.${randomBytes(4).toString('hex')}`, namespace: apps },
        involvedObject: { apiVersion: 'v1', kind: 'ConfigMap', name: 'settings', namespace: apps },
        reason: 'Checked',
        message: 'settings were checked',
        type: 'Normal',
        count: 1,
        firstTimestamp: new Date(),
        lastTimestamp: new Date(),
      },
    });
    const { base, headers } = await startServer(t, home);
    const get = async <T>(what: string, query: string, status = 200): Promise<T> => {
      const response = await fetch(`${base}/api/v1/applications/${apps}/web/resource/${what}?${query}`, {
        headers,
      });
      const body = await response.text();
      answers.push(body);
      assert.equal(response.status, status, `${what}?${query}: ${body}`);
      return JSON.parse(body) as T;
    };
    const SETTINGS = `kind=ConfigMap&namespace=${apps}&name=settings`;
    const DB = `kind=Secret&namespace=${apps}&name=db`;
    type Manifest = {
      revision?: string;
      object?: { data?: Record<string, string>; metadata: { labels?: object } };
    };

    // The watch cache has to see the Application first.
    const live = await eventually(() => get<Manifest>('live', SETTINGS).catch(() => false as const));
    assert.ok(live.object);
    assert.deepEqual(live.object.data, { level: '1' });
    assert.deepEqual(live.object.metadata.labels, { 'capstan.dev/owner': 'web' });

    const desired = await get<Manifest>('desired', SETTINGS);
    assert.equal(desired.revision, synced);
    assert.deepEqual(desired.object?.data, { level: '1' });
    const atTarget = await get<Manifest>('desired', `${SETTINGS}&revision=target`);
    assert.equal(atTarget.revision, target);
    assert.deepEqual(atTarget.object?.data, { level: '2' });

    // At the synced commit nothing differs (the agent's own label is not a difference); at the target, the level.
    const same = await get<{ changed: boolean }>('diff', SETTINGS);
    assert.equal(same.changed, false);
    const ahead = await get<{ changed: boolean; unified: string }>('diff', `${SETTINGS}&revision=target`);
    assert.equal(ahead.changed, true);
    assert.deepEqual(
      ahead.unified
        .split('\n')
        .filter((l) => /^[-+] /.test(l))
        .map((l) => l.replace(/\s+/g, ' ')),
      ['- level: "1"', '+ level: "2"'],
    );

    // The Secret: shown with its keys, every value hidden, the diff saying only that it differs.
    const secretLive = await get<Manifest>('live', DB);
    assert.deepEqual(secretLive.object?.data, { password: '***' });
    const secretDesired = await get<Manifest>('desired', DB);
    assert.equal(secretDesired.object?.data, undefined);
    const secretDiff = await get<{ changed: boolean; unified: string }>('diff', DB);
    assert.equal(secretDiff.changed, true);

    const events = await get<{ items: { reason: string }[] }>('events', SETTINGS);
    assert.deepEqual(
      events.items.map((e) => e.reason),
      ['Checked'],
    );
    // A Secret the Application does not manage is not shown, though the server may read it.
    const refused = await get<{ error: string }>('live', `kind=Secret&namespace=${apps}&name=git`, 404);
    assert.equal(refused.error, 'RESOURCE_NOT_MANAGED');

    const seen = [...answers, ...logs].join('\n');
    for (const secret of [SENTINEL_LIVE, SENTINEL_DESIRED, git.password]) {
      assert.ok(!seen.includes(secret), 'a secret value left the server');
      assert.ok(!seen.includes(Buffer.from(secret).toString('base64')), 'a secret value left the server');
    }
  });

  it('renders a chart as the agent does: its release name, plain http allowed, the chart repository credentials of its Secrets', async (t) => {
    const apps = await freshNamespace(t, kube);
    const home = await freshNamespace(t, kube);
    const repo = `chart-${apps}`;
    const template = fixture('render', 'helm', 'repository', 'database', 'templates', 'configmap.yaml');
    // A chart whose dependency comes from a chart repository that asks for a password, over http.
    const commit = await git.createRepository(repo, {
      files: {
        'app/Chart.yaml': `apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - name: database\n    version: ^1.0.0\n    repository: ${charts.url}\n`,
        'app/values.yaml': 'database:\n  size: medium\n',
        'app/templates/configmap.yaml': await readFile(template, 'utf8'),
      },
    });
    await admin.apply(
      secretType,
      { apiVersion: 'v1', kind: 'Secret', ...gitSecretBody(git), metadata: { name: 'git', namespace: apps } },
      { fieldManager: 'capstan-test' },
    );
    await admin.apply(
      secretType,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'charts', namespace: apps },
        type: REPOSITORY_CREDENTIALS_TYPE,
        stringData: { url: charts.url, username: charts.username, password: charts.password },
      },
      { fieldManager: 'capstan-test' },
    );
    await admin.apply(
      appType,
      {
        apiVersion: APPLICATION_API_VERSION,
        kind: APPLICATION_KIND,
        metadata: { name: 'web', namespace: apps },
        spec: {
          source: {
            repoURL: git.url(repo),
            path: 'app',
            secretRef: { name: 'git' },
            insecureHttp: true,
            helm: { repositorySecretRefs: [{ name: 'charts' }] },
          },
          destination: { namespace: apps },
        },
      },
      { fieldManager: 'capstan-test' },
    );
    await setStatus(apps, 'web', { sync: { status: 'OutOfSync', revision: commit } });
    const { base, headers } = await startServer(t, home);
    const desired = async () => {
      const response = await fetch(
        `${base}/api/v1/applications/${apps}/web/resource/desired?kind=ConfigMap&namespace=${apps}&name=web-database`,
        { headers },
      );
      const body = await response.text();
      answers.push(body);
      return { status: response.status, body };
    };
    // The watch cache has to see the Application first.
    const answer = await eventually(async () => {
      const got = await desired();
      return got.status === 404 && got.body.includes('has not seen it yet') ? false : got;
    });
    assert.equal(answer.status, 200, answer.body);
    const manifest = JSON.parse(answer.body) as {
      revision?: string;
      object?: { data?: Record<string, string> };
    };
    assert.equal(manifest.revision, commit);
    assert.deepEqual(manifest.object?.data, { chartVersion: '1.1.0', size: 'medium' });
    const seen = [...answers, ...logs].join('\n');
    assert.ok(!seen.includes(charts.password), 'a chart repository password left the server');
  });
});

async function setStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
  const path = `/apis/${appType.group}/${appType.version}/namespaces/${namespace}/${appType.plural}/${name}/status`;
  const res = await admin.client.call('PATCH', path, {
    body: { status },
    contentType: 'application/merge-patch+json',
    subject: `status of ${namespace}/${name}`,
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
}
