// Destination clusters registered as Secrets: the test API server registered a second time through a
// ServiceAccount token kubeconfig whose RBAC allows one namespace. An Application deploying there is
// Synced and Healthy; one outside that namespace shows the ServiceAccount's identity forbidden; the
// Secret updated to another identity takes effect; an unknown name or a refused kubeconfig stalls
// with a clear message; credentials never show in status, output or logs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import {
  applicationOwnerName,
  APPLICATION_API_VERSION,
  type Application,
} from '../../src/contracts/application.ts';
import type { LocalCluster } from '../../src/devcluster/cluster.ts';
import { runAgent } from '../../src/main/agent.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import {
  installApplicationCrd,
  untilApplicationsGone,
  openProject,
  agentKubeconfig,
  freshNamespace,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { startGitServer, gitSecretBody } from '../../src/testing/git.ts';

const git = await startGitServer(after);
let cluster: LocalCluster;
let admin: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
let dir = '';
const stop = new AbortController();
let agent: Promise<void> | undefined;
const logs: Record<string, unknown>[] = [];
const tokens: string[] = [];
// The agent's namespace (cluster Secrets) is this file's own; the agent reconciles only its Applications.
const AGENT_NAMESPACE = `t-clusters-agent-${randomBytes(3).toString('hex')}`;
const AGENT_LABEL = `capstan.dev/test-agent=${process.pid}-clusters`;

const configMap = (name: string, data: Record<string, string>) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n${Object.entries(data)
    .map(([k, v]) => `  ${k}: "${v}"`)
    .join('\n')}\n`;

before(async () => {
  cluster = await testCluster();
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  kube = kubeClients(cluster.adminKubeconfig);
  dir = await mkdtemp(join(tmpdir(), 'capstan-clusters-'));
  appType = await installApplicationCrd(admin);
  await kube.core.createNamespace({
    body: { metadata: { name: AGENT_NAMESPACE, labels: { 'capstan.dev/test': 'true' } } },
  });
  agent = runAgent(
    {
      kubeconfig: await agentKubeconfig(cluster),
      namespace: AGENT_NAMESPACE,
      leaderElection: false,
      labelSelector: AGENT_LABEL,
      repositoryHosts: ['127.0.0.1'], // the test git server is on loopback
      http: false,
      log: (line) => logs.push(line),
    },
    stop.signal,
  );
  agent.catch((error: unknown) => {
    logs.push({ level: 'fatal', error: String(error) });
  });
});

after(async () => {
  // Its Applications carry the agent's finalizer: the agent stays until they are gone.
  await untilApplicationsGone(admin, appType, AGENT_LABEL);
  stop.abort();
  await agent;
  admin.close();
  await kube.core.deleteNamespace({ name: AGENT_NAMESPACE }).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

/**
 * A kubeconfig of the test API server for a new ServiceAccount that may do anything in `namespace`
 * and nothing elsewhere (ClusterRole admin through a RoleBinding), with an inline token.
 */
async function namespacedKubeconfig(namespace: string, name: string): Promise<string> {
  await kube.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  await kube.objects.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: `${name}-admin`, namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
    subjects: [{ kind: 'ServiceAccount', name, namespace }],
  });
  const token = await kube.core.createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { expirationSeconds: 3600 } },
  });
  const value = token.status?.token ?? '';
  assert.ok(value !== '');
  tokens.push(value);
  const adminConfig = parse(await readFile(cluster.adminKubeconfig, 'utf8')) as {
    clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
  };
  const server = adminConfig.clusters[0]?.cluster;
  assert.ok(server);
  const path = join(dir, `${namespace}-${name}.kubeconfig`);
  await writeFile(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: server }],
      users: [{ name, user: { token: value } }],
      contexts: [{ name, context: { cluster: 'test', user: name, namespace } }],
      'current-context': name,
    }),
    { mode: 0o600 },
  );
  return path;
}

/** The git server's credentials, as the Secret `git` the Applications of `namespace` name. */
async function gitSecret(namespace: string): Promise<void> {
  await kube.core.createNamespacedSecret({
    namespace,
    body: gitSecretBody(git),
  });
}

/** An Application in a project that lets it reach the other clusters and namespaces these tests use. */
async function createApp(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const project = await openProject(admin, namespace);
  await admin.apply(
    appType,
    {
      apiVersion: APPLICATION_API_VERSION,
      kind: 'Application',
      metadata: { name, namespace, labels: { 'capstan.dev/test-agent': `${process.pid}-clusters` } },
      spec: { project, ...spec },
    },
    { fieldManager: 'capstan-test' },
  );
}

async function getApp(namespace: string, name: string): Promise<Application | undefined> {
  return (await admin.get(appType, namespace, name)) as Application | undefined;
}

const condition = (app: Application | undefined, type: string) =>
  app?.status?.conditions?.find((c) => c.type === type);

/** Waits until the Application's `type` condition has `status` and a message matching `message`. */
function conditionOf(
  namespace: string,
  name: string,
  type: string,
  status: string,
  message: RegExp,
): Promise<Application> {
  return eventually(
    async () => {
      const app = await getApp(namespace, name);
      const c = condition(app, type);
      if (!app || c?.status !== status || !message.test(c.message))
        throw new Error(`conditions: ${JSON.stringify(app?.status?.conditions ?? [])}`);
      return app;
    },
    { what: `Application ${namespace}/${name} ${type}=${status} matching ${message}`, timeoutMs: 60_000 },
  );
}

/** Removes the finalizer and deletes the Application (its destination may not allow pruning any more). */
async function forget(namespace: string, name: string): Promise<void> {
  await admin.client.call(
    'PATCH',
    `/apis/capstan.dev/v1alpha1/namespaces/${namespace}/applications/${name}`,
    {
      body: { metadata: { finalizers: null } },
      contentType: 'application/merge-patch+json',
    },
  );
  await admin.delete(appType, namespace, name);
}

/** Nothing the agent wrote or logged, nor what the CLI printed, carries a token. */
function assertNoCredentials(...texts: string[]): void {
  const all = [...texts, JSON.stringify(logs)].join('\n');
  for (const token of tokens) assert.ok(!all.includes(token), 'a token appears in output, status or logs');
}

const capstan = (...args: string[]) => runCapstan(args);

describe('destination clusters', () => {
  it('deploys with the registered identity: Synced where it may, forbidden elsewhere, and follows Secret updates', async (t) => {
    const apps = await freshNamespace(t, kube);
    const allowed = await freshNamespace(t, kube);
    const other = await freshNamespace(t, kube);
    const name = `remote-${randomBytes(3).toString('hex')}`;
    const repo = `clusters-${apps}`;
    await git.createRepository(repo, { files: { 'app/settings.yaml': configMap('settings', { a: '1' }) } });
    const source = { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } };
    await gitSecret(apps);

    // 1. Register the test API server again, as a ServiceAccount limited to `allowed`.
    const first = await namespacedKubeconfig(allowed, 'deployer');
    const added = await capstan(
      'cluster',
      'add',
      name,
      '--kubeconfig',
      first,
      '--inventory-namespace',
      allowed,
      '--namespace',
      AGENT_NAMESPACE,
      '--agent-kubeconfig',
      cluster.adminKubeconfig,
    );
    assert.equal(added.code, 0, added.stderr);
    assert.match(
      added.stdout,
      new RegExp(`^cluster/${name} created \\(Secret ${AGENT_NAMESPACE}/cluster-${name}, `),
    );
    assert.match(added.stderr, /answers \(v1\.\d+/);
    const listed = await capstan(
      'cluster',
      'list',
      '-o',
      'json',
      '-n',
      AGENT_NAMESPACE,
      '--kubeconfig',
      cluster.adminKubeconfig,
    );
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout), [
      {
        name,
        server: cluster.server,
        auth: 'token',
        namespace: allowed,
        secret: `Secret/${AGENT_NAMESPACE}/cluster-${name}`,
        inventoryNamespace: allowed,
      },
    ]);
    const table = await capstan(
      'cluster',
      'list',
      '-n',
      AGENT_NAMESPACE,
      '--kubeconfig',
      cluster.adminKubeconfig,
    );
    assert.match(table.stdout, /^NAME\s+SERVER\s+AUTH\s+SECRET/);
    assertNoCredentials(added.stdout, added.stderr, listed.stdout, table.stdout);

    // 2. Inside its namespace: Synced and Healthy, the inventory kept there too.
    await createApp(apps, 'inside', {
      source,
      destination: { cluster: name, namespace: allowed },
      syncPolicy: { automated: { prune: true } },
      interval: '2s',
    });
    const inside = await conditionOf(apps, 'inside', 'Ready', 'True', /.*/);
    assert.equal(inside.status?.sync?.status, 'Synced');
    assert.equal(inside.status.health?.status, 'Healthy');
    assert.equal(
      (await kube.core.readNamespacedConfigMap({ namespace: allowed, name: 'settings' })).data?.['a'],
      '1',
    );
    const inventories = await kube.core.listNamespacedConfigMap({
      namespace: allowed,
      labelSelector: `capstan.dev/inventory-of=${applicationOwnerName(apps, 'inside')}`,
    });
    assert.equal(inventories.items.length, 1, 'the inventory is in the namespace the identity may write');

    // 3. Outside it: the ServiceAccount's identity is refused by the API server, and the Application says so.
    await createApp(apps, 'outside', {
      source,
      destination: { cluster: name, namespace: other },
      syncPolicy: { automated: { prune: true } },
      interval: '2s',
    });
    const outside = await conditionOf(
      apps,
      'outside',
      'Ready',
      'False',
      new RegExp(`forbidden.*system:serviceaccount:${allowed}:deployer`),
    );
    await assert.rejects(kube.core.readNamespacedConfigMap({ namespace: other, name: 'settings' }));
    assertNoCredentials(JSON.stringify(inside), JSON.stringify(outside));

    // 4. The Secret updated (the same name, another identity): the agent uses the new one.
    const second = await namespacedKubeconfig(other, 'deployer');
    const updated = await capstan(
      'cluster',
      'add',
      name,
      '--kubeconfig',
      second,
      '--inventory-namespace',
      other,
      '--namespace',
      AGENT_NAMESPACE,
      '--agent-kubeconfig',
      cluster.adminKubeconfig,
      '-o',
      'json',
    );
    assert.equal(updated.code, 0, updated.stderr);
    assert.equal((JSON.parse(updated.stdout) as { action: string }).action, 'configured');
    await conditionOf(apps, 'outside', 'Ready', 'True', /.*/);
    assert.equal(
      (await kube.core.readNamespacedConfigMap({ namespace: other, name: 'settings' })).data?.['a'],
      '1',
    );
    await conditionOf(
      apps,
      'inside',
      'Ready',
      'False',
      new RegExp(`system:serviceaccount:${other}:deployer`),
    );
    assert.ok(logs.some((l) => l['msg'] === 'destination cluster updated' && l['cluster'] === name));

    // 5. Removing a cluster an Application deploys to is refused, naming it; deleting the Application
    //    prunes through the registered cluster; then the cluster is removed.
    /** `capstan cluster remove NAME` against the agent's cluster. */
    const removeCluster = () =>
      capstan('cluster', 'remove', name, '-n', AGENT_NAMESPACE, '--kubeconfig', cluster.adminKubeconfig);
    const inUse = await removeCluster();
    assert.equal(inUse.code, 4, inUse.stderr);
    assert.match(
      inUse.stderr,
      new RegExp(
        `cluster '${name}' is the destination of 2 Application\\(s\\): ${apps}/inside, ${apps}/outside;.*--force`,
      ),
    );
    await admin.delete(appType, apps, 'outside');
    await eventually(async () => (await getApp(apps, 'outside')) === undefined, {
      what: 'Application outside deleted after pruning',
      timeoutMs: 60_000,
    });
    await assert.rejects(kube.core.readNamespacedConfigMap({ namespace: other, name: 'settings' }));
    await forget(apps, 'inside');
    // A user who may manage the agent's Secrets but not list Applications in every namespace cannot
    // tell whether any deploy there: refused, naming the HTTP status; --force removes it anyway.
    const operator = await namespacedKubeconfig(AGENT_NAMESPACE, 'operator');
    const asOperator = (...more: string[]) =>
      capstan('cluster', 'remove', name, '-n', AGENT_NAMESPACE, '--kubeconfig', operator, ...more);
    const unknown = await asOperator();
    assert.equal(unknown.code, 4, unknown.stderr);
    assert.match(
      unknown.stderr,
      new RegExp(
        `cannot tell whether Applications deploy to cluster '${name}': GET /apis/\\S+/applications answered HTTP 403 \\(.*forbidden.*--force`,
      ),
    );
    await kube.core.readNamespacedSecret({ namespace: AGENT_NAMESPACE, name: `cluster-${name}` }); // still there
    const removed = await asOperator('--force');
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, new RegExp(`cluster/${name} removed`));
    const again = await removeCluster();
    assert.equal(again.code, 4);
    assert.match(
      again.stderr,
      new RegExp(`cluster '${name}' is not registered in namespace ${AGENT_NAMESPACE}`),
    );
    assertNoCredentials(updated.stdout, updated.stderr);
  });

  it('stalls on an unknown cluster and on a refused kubeconfig, saying what to do, then recovers', async (t) => {
    const apps = await freshNamespace(t, kube);
    const target = await freshNamespace(t, kube);
    const name = `nowhere-${randomBytes(3).toString('hex')}`;
    const repo = `clusters-unknown-${apps}`;
    await git.createRepository(repo, { files: { 'app/settings.yaml': configMap('settings', { b: '2' }) } });
    await gitSecret(apps);
    await createApp(apps, 'web', {
      source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
      destination: { cluster: name, namespace: target },
      syncPolicy: { automated: {} },
      interval: '2s',
    });

    // 1. Not registered: Stalled, with how to register it.
    await conditionOf(
      apps,
      'web',
      'Stalled',
      'True',
      new RegExp(
        `destination cluster '${name}' is not registered: .*capstan cluster add ${name} --kubeconfig FILE --namespace ${AGENT_NAMESPACE}`,
      ),
    );

    // 2. Registered by hand with an exec plugin (and a token beside it): refused, naming the Secret and the field.
    const good = parse(await readFile(await namespacedKubeconfig(target, 'deployer'), 'utf8')) as {
      users: { user: Record<string, unknown> }[];
    };
    const hostile = structuredClone(good);
    const user = hostile.users[0]?.user;
    assert.ok(user);
    user['exec'] = {
      apiVersion: 'client.authentication.k8s.io/v1',
      command: 'touch',
      args: [join(dir, 'pwned')],
    };
    await kube.core.createNamespacedSecret({
      namespace: AGENT_NAMESPACE,
      body: {
        metadata: { name, labels: { 'capstan.dev/secret-type': 'cluster' } },
        stringData: { kubeconfig: stringify(hostile) },
      },
    });
    const stalled = await conditionOf(
      apps,
      'web',
      'Stalled',
      'True',
      new RegExp(
        `the kubeconfig of Secret/${AGENT_NAMESPACE}/${name} \\(key kubeconfig\\) is not usable: users\\[0\\]\\.user\\.exec is refused`,
      ),
    );
    await assert.rejects(readFile(join(dir, 'pwned')), 'the exec command never ran');
    const listed = await capstan(
      'cluster',
      'list',
      '-n',
      AGENT_NAMESPACE,
      '--kubeconfig',
      cluster.adminKubeconfig,
    );
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(
      listed.stdout,
      new RegExp(`${name}\\s+-\\s+-\\s+${AGENT_NAMESPACE}/${name}\\s+the kubeconfig of`),
    );

    // 3. The Secret fixed: the agent picks it up and syncs.
    await kube.core.replaceNamespacedSecret({
      namespace: AGENT_NAMESPACE,
      name,
      body: {
        metadata: { name, labels: { 'capstan.dev/secret-type': 'cluster' } },
        stringData: { kubeconfig: stringify(good), inventoryNamespace: target },
      },
    });
    const synced = await conditionOf(apps, 'web', 'Ready', 'True', /.*/);
    assert.equal(synced.status?.sync?.status, 'Synced');
    assert.equal(
      (await kube.core.readNamespacedConfigMap({ namespace: target, name: 'settings' })).data?.['b'],
      '2',
    );
    assertNoCredentials(JSON.stringify(stalled), JSON.stringify(synced), listed.stdout);
    await kube.core.deleteNamespacedSecret({ namespace: AGENT_NAMESPACE, name });
    await forget(apps, 'web');
  });
});
