// A sync of a selection of resources (Argo CD's selective sync) against the real API server: the engine
// applies only the selected objects, prunes nothing and runs no hooks, keeps the inventory of the rest;
// and the agent, asked by `capstan app sync --resource` through the cluster and through the server,
// puts back only the selected resource and leaves the Application OutOfSync until a full sync.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigMapInventoryStore } from '../../src/adapters/kube/inventory-store.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import {
  APPLICATION_API_VERSION,
  applicationOwner,
  type Application,
} from '../../src/contracts/application.ts';
import { assessHealth } from '../../src/core/health-rules.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import { formatId } from '../../src/core/resource.ts';
import type { SyncResult } from '../../src/core/sync-result.ts';
import type { SyncOptions } from '../../src/engine/context.ts';
import { sync } from '../../src/engine/sync.ts';
import { runAgent } from '../../src/main/agent.ts';
import { systemClock } from '../../src/adapters/clock.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import {
  agentKubeconfig,
  freshNamespace,
  installApplicationCrd,
  untilApplicationsGone,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { CLI, runCapstan } from '../../src/testing/cli.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { gitSecretBody, startGitServer } from '../../src/testing/git.ts';
import { initialAdminPassword, serverIdentity, startTestServer } from '../../src/testing/server.ts';

const git = await startGitServer(after);
let admin: KubeCluster;
let agentCluster: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
let adminKubeconfig = '';
const stop = new AbortController();
let agent: Promise<void> | undefined;
const logs: Record<string, unknown>[] = [];
const scratch = await mkdtemp(join(tmpdir(), 'capstan-selective-'));
// This file's agent reconciles only this file's Applications: other test files run beside it.
const AGENT_LABEL = `capstan.dev/test-agent=${process.pid}`;

before(async () => {
  const cluster = await testCluster();
  adminKubeconfig = cluster.adminKubeconfig;
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: adminKubeconfig }));
  kube = kubeClients(adminKubeconfig);
  appType = await installApplicationCrd(admin);
  const kubeconfig = await agentKubeconfig(cluster);
  agentCluster = new KubeCluster(loadKubeConfig({ kubeconfig }));
  agent = runAgent(
    {
      kubeconfig,
      leaderElection: false,
      // Health and metrics on a free port: 8080 may be another process's (the default failed the agent).
      http: { host: '127.0.0.1', ports: [0] },
      concurrency: 2,
      labelSelector: AGENT_LABEL,
      repositoryHosts: ['127.0.0.1'],
      log: (line) => logs.push(line),
    },
    stop.signal,
  );
  agent.catch((error: unknown) => logs.push({ level: 'fatal', error: String(error) }));
});

after(async () => {
  // Its Applications carry the agent's finalizer: the agent stays until they are gone.
  await untilApplicationsGone(admin, appType, AGENT_LABEL);
  stop.abort();
  await agent;
  admin.close();
  agentCluster.close();
  await rm(scratch, { recursive: true, force: true });
});

const configMap = (name: string, data: Record<string, string>, annotations: Record<string, string> = {}) =>
  ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, annotations },
    data,
  }) satisfies KubeObject;

const yamlOf = (name: string, level: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  level: "${level}"\n`;

const levelOf = async (namespace: string, name: string) =>
  (await kube.core.readNamespacedConfigMap({ namespace, name }).catch(() => undefined))?.data?.['level'];

async function edit(namespace: string, name: string, level: string): Promise<void> {
  await kube.core.patchNamespacedConfigMap({
    namespace,
    name,
    body: [{ op: 'replace', path: '/data/level', value: level }],
  });
}

describe('the engine: a sync of a selection', () => {
  const inventory = () => new ConfigMapInventoryStore(agentCluster);
  const run = (
    objects: KubeObject[],
    options: Partial<SyncOptions> & { application: string; namespace: string },
  ) =>
    sync(
      objects.map((object, i) => ({ object, source: { file: 'test.yaml', line: i + 1 } })),
      { timeoutMs: 60_000, forceConflicts: true, ...options },
      { cluster: agentCluster, inventory: inventory(), clock: systemClock, assessHealth },
    );
  const lines = (result: SyncResult) => result.entries.map((e) => `${e.action} ${formatId(e.id)}`);

  it('applies only the selected objects: nothing pruned, no hook run, the inventory of the rest kept', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const application = `app-${randomBytes(4).toString('hex')}`;
    const marker = configMap(
      'marker',
      { ran: 'yes' },
      { 'capstan.dev/hook': 'PostSync', 'capstan.dev/hook-delete-policy': 'BeforeHookCreation' },
    );
    const full = [
      configMap('a', { level: 'info' }),
      configMap('b', { level: 'info' }),
      configMap('c', { level: 'info' }),
      marker,
    ];
    const first = await run(full, { application, namespace, prune: true });
    assert.equal(first.phase, 'Succeeded', first.message);
    const before = await inventory().read(application);
    assert.ok(before);

    // Drift on a and b; the hook's object removed (so a hook that runs shows); c leaves the render.
    await edit(namespace, 'a', 'hacked');
    await edit(namespace, 'b', 'hacked');
    await kube.core.deleteNamespacedConfigMap({ namespace, name: 'marker' });
    const selected = await run(
      [configMap('a', { level: 'info' }), configMap('b', { level: 'info' }), marker],
      {
        application,
        namespace,
        prune: true,
        resources: [{ group: '', kind: 'ConfigMap', namespace: '', name: 'a' }],
      },
    );
    assert.equal(selected.phase, 'Succeeded', selected.message);
    assert.deepEqual(lines(selected), [`configured ConfigMap/${namespace}/a`]);
    assert.deepEqual(selected.resources, [{ group: '', kind: 'ConfigMap', namespace: '', name: 'a' }]);
    assert.equal(await levelOf(namespace, 'a'), 'info', 'the selected one put back');
    assert.equal(await levelOf(namespace, 'b'), 'hacked', 'the other one left as it is');
    assert.equal(await levelOf(namespace, 'c'), 'info', 'nothing pruned, though prune is on and c left');
    assert.equal(await levelOf(namespace, 'marker'), undefined, 'no hook ran');
    const kept = await inventory().read(application);
    assert.deepEqual(kept?.entries, before.entries, 'the inventory still owns b and c');
    assert.equal(kept.digest, before.digest, 'the digest stays the last full sync’s');

    // A selector that names nothing of the render, or a hook: the sync fails naming it, nothing applied.
    for (const [resource, why] of [
      [
        { group: '', kind: 'ConfigMap', namespace, name: 'nope' },
        `ConfigMap/${namespace}/nope is not in the desired state`,
      ],
      [
        { group: 'apps', kind: 'ConfigMap', namespace: '', name: 'b' },
        'ConfigMap/b is not in the desired state',
      ],
      [
        { group: '', kind: 'ConfigMap', namespace: '', name: 'marker' },
        `ConfigMap/${namespace}/marker is a hook`,
      ],
    ] as const) {
      const refused = await run(full, {
        application,
        namespace,
        resources: [{ group: '', kind: 'ConfigMap', namespace: '', name: 'b' }, resource],
      });
      assert.equal(refused.phase, 'Failed');
      assert.ok(refused.message.includes(why), refused.message);
      assert.match(refused.message, /nothing was applied/);
      assert.equal(await levelOf(namespace, 'b'), 'hacked', 'nothing applied, the valid selector neither');
      assert.ok(refused.entries.some((e) => e.action === 'failed'));
    }
    assert.deepEqual((await inventory().read(application))?.entries, before.entries);

    // c left the render. Selected without prune: the sync fails naming it, nothing applied or deleted.
    const left = [configMap('a', { level: 'info' }), configMap('b', { level: 'info' }), marker];
    const cSelected = [{ group: '', kind: 'ConfigMap', namespace: '', name: 'c' }];
    const unpruned = await run(left, { application, namespace, resources: cSelected });
    assert.equal(unpruned.phase, 'Failed');
    assert.match(unpruned.message, /ConfigMap\/c .*select it with prune to delete it/);
    assert.equal(await levelOf(namespace, 'c'), 'info');
    // With prune: c alone is pruned (b, drifted, and the hook stay as they are), and leaves the inventory.
    const pruned = await run(left, {
      application,
      namespace,
      prune: true,
      resources: [...cSelected, { group: '', kind: 'ConfigMap', namespace: '', name: 'a' }],
    });
    assert.equal(pruned.phase, 'Succeeded', pruned.message);
    assert.deepEqual(lines(pruned).sort(), [
      `pruned ConfigMap/${namespace}/c`,
      `unchanged ConfigMap/${namespace}/a`,
    ]);
    assert.equal(await levelOf(namespace, 'c'), undefined, 'the selected resource that left Git is gone');
    assert.equal(await levelOf(namespace, 'b'), 'hacked', 'nothing else applied');
    assert.equal(await levelOf(namespace, 'marker'), undefined, 'no hook ran');
    const afterPrune = await inventory().read(application);
    assert.deepEqual(
      afterPrune?.entries,
      before.entries.filter((key) => !key.endsWith('/c')),
      'the inventory lost c only',
    );
    assert.equal(afterPrune.digest, before.digest);
    // A resource the application does not own is never pruned: not in its inventory, the sync fails.
    await kube.core.createNamespacedConfigMap({ namespace, body: configMap('stranger', { level: 'x' }) });
    const stranger = await run(left, {
      application,
      namespace,
      prune: true,
      resources: [{ group: '', kind: 'ConfigMap', namespace: '', name: 'stranger' }],
    });
    assert.equal(stranger.phase, 'Failed');
    assert.match(stranger.message, /ConfigMap\/stranger is not in the desired state/);
    assert.equal(await levelOf(namespace, 'stranger'), 'x');
  });
});

async function createApp(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await admin.apply(
    appType,
    {
      apiVersion: APPLICATION_API_VERSION,
      kind: 'Application',
      metadata: { name, namespace, labels: { 'capstan.dev/test-agent': String(process.pid) } },
      spec,
    },
    { fieldManager: 'capstan-test' },
  );
}

const getApp = async (namespace: string, name: string) =>
  (await admin.get(appType, namespace, name)) as unknown as Application;

describe('the agent: capstan app sync --resource', () => {
  it('puts back only the selected resource, prunes nothing, and leaves the Application OutOfSync until a full sync', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const repo = `selective-${namespace}`;
    await git.createRepository(repo, {
      files: { 'app/a.yaml': yamlOf('a', 'info'), 'app/b.yaml': yamlOf('b', 'info') },
    });
    await kube.core.createNamespacedSecret({ namespace, body: gitSecretBody(git) });
    // Not automated: only requests sync it.
    await createApp(namespace, 'web', {
      source: { repoURL: git.url(repo), path: 'app', insecureHttp: true, secretRef: { name: 'git' } },
      interval: '1h',
    });
    // Deleted while this file's agent still runs, so that its finalizer is handled and the namespace goes.
    t.after(async () => {
      await admin.delete(appType, namespace, 'web').catch(() => undefined);
      await eventually(async () => (await admin.get(appType, namespace, 'web')) === undefined, {
        what: 'the Application deleted by its agent',
        timeoutMs: 60_000,
      });
    });
    const capstan = (...args: string[]) =>
      runCapstan(['app', ...args, '-n', namespace, '--kubeconfig', adminKubeconfig, '--timeout', '90s']);
    const full = await capstan('sync', 'web');
    assert.equal(full.code, 0, full.stderr);
    assert.equal((await getApp(namespace, 'web')).status?.sync?.status, 'Synced');
    const owner = applicationOwner(namespace, 'web').application;
    const inventoryBefore = await new ConfigMapInventoryStore(agentCluster).read(owner);
    assert.ok(inventoryBefore);

    // Two objects drifted: the agent (no selfHeal) reports OutOfSync and leaves them.
    await edit(namespace, 'a', 'hacked');
    await edit(namespace, 'b', 'hacked');
    await eventually(async () => (await getApp(namespace, 'web')).status?.sync?.status === 'OutOfSync', {
      what: 'the drift reported OutOfSync',
      timeoutMs: 60_000,
    });

    const selective = await capstan('sync', 'web', '--resource', 'ConfigMap/a');
    assert.equal(selective.code, 0, selective.stderr);
    assert.match(
      selective.stdout,
      /Synced 1 selected resource\(s\) of application 'web' at [0-9a-f]{12}: 1 configured \(a sync of 1 selected resource: nothing else applied or pruned, no hooks\).*; the application is OutOfSync/,
    );
    assert.equal(await levelOf(namespace, 'a'), 'info');
    assert.equal(await levelOf(namespace, 'b'), 'hacked', 'the other drifted object is left');
    const after = await getApp(namespace, 'web');
    assert.equal(after.status?.sync?.status, 'OutOfSync', 'left to the comparison: b still differs');
    assert.match(after.status.handledRequests?.sync ?? '', /^\d+;resources=\/ConfigMap\/\/a$/);
    const last = after.status.history?.at(-1);
    assert.deepEqual(last?.resources, ['ConfigMap/a']);
    assert.equal(last.result, 'Succeeded');
    const inventoryAfter = await new ConfigMapInventoryStore(agentCluster).read(owner);
    assert.deepEqual(inventoryAfter?.entries, inventoryBefore.entries, 'the inventory still owns b');
    assert.equal(inventoryAfter.digest, inventoryBefore.digest);

    // A resource not in the render: the sync fails naming it; nothing applied.
    const missing = await capstan(
      'sync',
      'web',
      '--resource',
      '/ConfigMap/nope',
      '--resource',
      'ConfigMap/b',
    );
    assert.equal(missing.code, 4, missing.stdout);
    assert.match(
      missing.stdout,
      /Sync of 2 selected resource\(s\) of application 'web' failed.*ConfigMap\/nope is not in the desired state/,
    );
    assert.equal(await levelOf(namespace, 'b'), 'hacked', 'nothing applied');
    // A kind and name the application does not have, group left out: refused before anything is asked.
    const unknown = await capstan('sync', 'web', '--resource', 'Deployment/a');
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /no Deployment named 'a' among the resources of application 'web'/);

    // The whole application: b put back, Synced.
    const whole = await capstan('sync', 'web');
    assert.equal(whole.code, 0, whole.stderr);
    assert.equal(await levelOf(namespace, 'b'), 'info');
    assert.equal((await getApp(namespace, 'web')).status?.sync?.status, 'Synced');

    // Through the server (capstan login): the same request and the same output.
    await edit(namespace, 'a', 'hacked');
    await edit(namespace, 'b', 'hacked');
    await eventually(async () => (await getApp(namespace, 'web')).status?.sync?.status === 'OutOfSync', {
      what: 'the drift reported OutOfSync again',
      timeoutMs: 60_000,
    });
    const viaServer = await throughServer(t, namespace, [
      'sync',
      'web',
      '--resource',
      'ConfigMap/b',
      '--timeout',
      '90s',
    ]);
    assert.equal(viaServer.code, 0, viaServer.stderr);
    assert.match(
      viaServer.stdout,
      /Synced 1 selected resource\(s\) of application 'web'.*the application is OutOfSync/,
    );
    assert.equal(await levelOf(namespace, 'b'), 'info');
    assert.equal(await levelOf(namespace, 'a'), 'hacked');
    const viaCluster = await capstan('sync', 'web', '--resource', 'ConfigMap/a');
    assert.equal(viaCluster.code, 0, viaCluster.stderr);
    // Equal but for the sync statuses (Synced now that both were put back), the column widths and how long it took.
    const same = (text: string) =>
      text
        .replace(/ \([\d.hms]+\)/g, '')
        .replace(/OutOfSync|Synced/g, 'S')
        .replace(/ +/g, ' ');
    assert.equal(same(viaServer.stdout), same(viaCluster.stdout), 'the same output either way');
    assert.match(viaCluster.stdout, /the application is Synced/);

    // b leaves Git. The server renders the target when asked: b selected without prune, or a resource
    // of neither the render nor the application, is refused at once (422, naming it); nothing is asked.
    await git.commit(repo, { files: { 'app/b.yaml': null }, message: 'b goes' });
    const handled = (await getApp(namespace, 'web')).status?.handledRequests?.sync;
    const refused = await throughServer(t, namespace, [
      'sync',
      'web',
      '--resource',
      '/ConfigMap/b',
      '--resource',
      '/ConfigMap/nope',
    ]);
    assert.notEqual(refused.code, 0, refused.stdout);
    assert.match(refused.stderr, /SYNC_SELECTION_NOT_FOUND|selection cannot be synced/);
    assert.match(
      refused.stderr,
      /ConfigMap\/b is not in the desired state \(it left it.*select it with prune/,
    );
    assert.match(refused.stderr, /ConfigMap\/nope is not in the desired state/);
    assert.equal(
      (await getApp(namespace, 'web')).metadata.annotations?.['capstan.dev/sync']?.includes('nope') ?? false,
      false,
      'nothing asked of the agent',
    );
    assert.equal((await getApp(namespace, 'web')).status?.handledRequests?.sync, handled);
    // With prune: the agent deletes b, the selected resource that left Git, and nothing else.
    await edit(namespace, 'a', 'hacked');
    const pruning = await throughServer(t, namespace, [
      'sync',
      'web',
      '--resource',
      '/ConfigMap/b',
      '--prune',
      '--timeout',
      '90s',
    ]);
    assert.equal(pruning.code, 0, pruning.stderr);
    assert.match(pruning.stdout, /Synced 1 selected resource\(s\) of application 'web'.*1 pruned/);
    assert.equal(await levelOf(namespace, 'b'), undefined, 'b pruned');
    assert.equal(await levelOf(namespace, 'a'), 'hacked', 'a, drifted, not applied');
    const inventoryPruned = await new ConfigMapInventoryStore(agentCluster).read(owner);
    assert.deepEqual(
      inventoryPruned?.entries,
      inventoryBefore.entries.filter((key) => !key.endsWith('/b')),
    );
  });
});

/** `capstan app …` through a capstan server the user logged in to; the server stops when the test ends. */
async function throughServer(
  t: { after: (fn: () => Promise<void>) => void },
  namespace: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const home = `capstan-sel-${randomBytes(3).toString('hex')}`;
  await kube.core.createNamespace({ body: { metadata: { name: home } } });
  t.after(async () => {
    await kube.core.deleteNamespace({ name: home }).catch(() => undefined);
  });
  const { base } = await startTestServer(t.after.bind(t), {
    kubeconfig: await serverIdentity(admin, home),
    namespace: home,
    database: join(scratch, `${home}.db`),
    // It renders the target from this file's git server (to check a selection) as the agent does.
    repositoryHosts: ['127.0.0.1'],
  });
  const env = { CAPSTAN_CONFIG: join(scratch, `${home}.json`) };
  const password = await initialAdminPassword(admin, home);
  const login = await withStdin(['login', base, '--password-stdin'], env, password);
  assert.equal(login.code, 0, login.stderr);
  return runCapstan(['app', ...args, '-n', namespace], env);
}

/** `capstan ARGS` with `input` on its standard input. */
function withStdin(
  args: string[],
  env: NodeJS.ProcessEnv,
  input: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(input);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
