// The sync engine against the real API server: create, no-op, drift, prune of owned objects only,
// empty renders, CRDs, namespaces, waves, hooks, immutable fields, health.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { assessHealth } from '../../src/core/health-rules.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import { formatId } from '../../src/core/resource.ts';
import type { SyncEntry, SyncResult } from '../../src/core/sync-result.ts';
import { ConfigMapInventoryStore } from '../../src/adapters/kube/inventory-store.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import type { LiveCache, SyncOptions } from '../../src/engine/context.ts';
import { sync } from '../../src/engine/sync.ts';
import { systemClock } from '../../src/adapters/clock.ts';
import type { Cluster } from '../../src/ports/cluster.ts';
import type { RenderedObject } from '../../src/ports/renderer.ts';
import {
  agentKubeconfig,
  freshNamespace,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';

let cluster: KubeCluster;
let kube: KubeClients;

before(async () => {
  const path = await agentKubeconfig(await testCluster());
  cluster = new KubeCluster(loadKubeConfig({ kubeconfig: path }));
  kube = kubeClients(path);
});

const rendered = (objects: KubeObject[]): RenderedObject[] =>
  objects.map((object, i) => ({ object, source: { file: 'test.yaml', line: i + 1 } }));
const appName = () => `app-${randomBytes(4).toString('hex')}`;

async function run(
  objects: KubeObject[],
  options: Partial<SyncOptions> & { application: string; namespace: string },
  events?: SyncEntry[],
  through: Cluster = cluster,
  liveCache?: LiveCache,
): Promise<SyncResult> {
  return sync(
    rendered(objects),
    { timeoutMs: 60_000, ...options },
    {
      cluster: through,
      inventory: new ConfigMapInventoryStore(cluster),
      clock: systemClock,
      assessHealth,
      progress: (e) => {
        if (e.type === 'entry') events?.push(e.entry);
      },
      ...(liveCache ? { liveCache } : {}),
    },
  );
}

/**
 * A live cache as the agent's watches keep one: the ConfigMaps of a namespace as read now, without
 * their managedFields; `refresh` reads them again (the watch delivered their latest versions).
 */
async function configMapCache(namespace: string) {
  const objects = new Map<string, KubeObject>();
  const refresh = async () => {
    objects.clear();
    const type = await cluster.resourceType('v1', 'ConfigMap');
    for (const item of await cluster.list(type as NonNullable<typeof type>, namespace)) {
      const { managedFields: _managedFields, ...metadata } = item.metadata;
      objects.set(item.metadata.name ?? '', { ...item, metadata });
    }
  };
  await refresh();
  const read: LiveCache = (type, ns, name) =>
    type.plural === 'configmaps' && ns === namespace ? objects.get(name) : undefined;
  return { read, refresh, objects };
}

const configMap = (
  name: string,
  data: Record<string, string>,
  annotations: Record<string, string> = {},
): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, annotations },
  data,
});

const deployment = (
  name: string,
  extra: { labels?: Record<string, string>; replicas?: number; annotations?: Record<string, string> } = {},
): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
  spec: {
    replicas: extra.replicas ?? 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name, ...extra.labels } },
      spec: { containers: [{ name: 'main', image: 'registry.invalid/app:1' }] },
    },
  },
});

/** A Deployment whose pod waits on a scheduling gate: never available until the gate is lifted. */
const gatedDeployment = (): KubeObject => ({
  ...deployment('gated'),
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'gated' } },
    template: {
      metadata: { labels: { app: 'gated' } },
      spec: {
        schedulingGates: [{ name: 'capstan.dev/test-gate' }],
        containers: [{ name: 'main', image: 'registry.invalid/app:1' }],
      },
    },
  },
});

/** The real cluster, with the reads of one resource (its lists and gets) recorded. */
function recordingReads(plural: string) {
  const lists: (string | undefined)[] = [];
  const gets: string[] = [];
  const list: Cluster['list'] = (type, namespace, options) => {
    if (type.plural === plural) lists.push(options?.labelSelector);
    return cluster.list(type, namespace, options);
  };
  const get: Cluster['get'] = (type, namespace, name) => {
    if (type.plural === plural) gets.push(name);
    return cluster.get(type, namespace, name);
  };
  const through = new Proxy<Cluster>(cluster, {
    get: (target, property) => {
      if (property === 'list') return list;
      if (property === 'get') return get;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { through, lists, gets };
}

const actions = (result: SyncResult) =>
  Object.fromEntries(result.entries.map((e) => [formatId(e.id), e.action]));

describe('sync engine', () => {
  it('creates, then a second sync writes nothing, then one changed field configures exactly that object', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const application = appName();
    const objects = [configMap('a', { k: '1' }), configMap('b', { k: '1' }), deployment('web')];
    const first = await run(objects, { application, namespace });
    assert.equal(first.phase, 'Succeeded', first.message);
    assert.deepEqual(Object.values(actions(first)), ['created', 'created', 'created']);

    const before = await kube.core.listNamespacedConfigMap({ namespace });
    const inventory = { namespace: 'capstan-system', name: `capstan-inventory-${application}` };
    const inventoryBefore = await kube.core.readNamespacedConfigMap(inventory);
    const second = await run(objects, { application, namespace });
    assert.equal(second.phase, 'Succeeded');
    assert.deepEqual(Object.values(actions(second)), ['unchanged', 'unchanged', 'unchanged']);
    const after = await kube.core.listNamespacedConfigMap({ namespace });
    assert.deepEqual(
      after.items.map((c) => c.metadata?.resourceVersion),
      before.items.map((c) => c.metadata?.resourceVersion),
      'a no-op sync must not write',
    );
    assert.equal(
      (await kube.core.readNamespacedConfigMap(inventory)).metadata?.resourceVersion,
      inventoryBefore.metadata?.resourceVersion,
      'nor write the inventory again',
    );

    const third = await run([configMap('a', { k: '2' }), configMap('b', { k: '1' }), deployment('web')], {
      application,
      namespace,
    });
    assert.deepEqual(actions(third), {
      [`ConfigMap/${namespace}/a`]: 'configured',
      [`ConfigMap/${namespace}/b`]: 'unchanged',
      [`Deployment/${namespace}/web`]: 'unchanged',
    });
    assert.match(third.entries.find((e) => e.id.name === 'a')?.message ?? '', /data/);
    const a = await kube.core.readNamespacedConfigMap({ namespace, name: 'a' });
    assert.equal(a.data?.['k'], '2');
    // The desired state changed (its digest), so the inventory records it.
    const inventoryAfter = await kube.core.readNamespacedConfigMap(inventory);
    assert.notEqual(inventoryAfter.metadata?.resourceVersion, inventoryBefore.metadata?.resourceVersion);
    const digestOf = (c: typeof inventoryAfter) =>
      (JSON.parse(c.data?.['inventory'] ?? '{}') as { digest?: string }).digest;
    assert.notEqual(digestOf(inventoryAfter), digestOf(inventoryBefore));
  });

  it('prunes a removed object it owns, leaves the rest, and never prunes what someone else made', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const application = appName();
    await run(
      [configMap('keep', { k: '1' }), configMap('gone', { k: '1' }), configMap('theirs', { k: '1' })],
      { application, namespace },
    );
    // Someone replaces "theirs" with an object of their own, under the same name.
    await kube.core.deleteNamespacedConfigMap({ namespace, name: 'theirs' });
    await kube.core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'theirs' }, data: { owner: 'someone else' } },
    });
    const keepBefore = await kube.core.readNamespacedConfigMap({ namespace, name: 'keep' });

    const withoutPrune = await run([configMap('keep', { k: '1' })], { application, namespace });
    assert.equal(actions(withoutPrune)[`ConfigMap/${namespace}/gone`], 'skipped');
    const theirsEntry = withoutPrune.entries.find((e) => e.id.name === 'theirs');
    assert.equal(theirsEntry?.action, 'skipped');
    assert.match(theirsEntry.message, /not owned by this application/);
    await kube.core.readNamespacedConfigMap({ namespace, name: 'gone' }); // still there

    const pruned = await run([configMap('keep', { k: '1' })], { application, namespace, prune: true });
    assert.equal(pruned.phase, 'Succeeded', pruned.message);
    assert.equal(actions(pruned)[`ConfigMap/${namespace}/gone`], 'pruned');
    assert.equal(
      actions(pruned)[`ConfigMap/${namespace}/theirs`],
      undefined,
      'no longer in the inventory: not ours',
    );
    await assert.rejects(kube.core.readNamespacedConfigMap({ namespace, name: 'gone' }));
    const theirs = await kube.core.readNamespacedConfigMap({ namespace, name: 'theirs' });
    assert.equal(theirs.data?.['owner'], 'someone else');
    const keepAfter = await kube.core.readNamespacedConfigMap({ namespace, name: 'keep' });
    assert.equal(keepAfter.metadata?.resourceVersion, keepBefore.metadata?.resourceVersion);
  });

  it('does not take over an object another application owns, unless told to adopt it', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const first = appName();
    const second = appName();
    await run([configMap('shared', { owner: 'first' })], { application: first, namespace });
    const refused = await run([configMap('shared', { owner: 'second' })], { application: second, namespace });
    assert.equal(refused.phase, 'Failed');
    assert.match(refused.message, new RegExp(`already managed by application '${first}'`));
    const live = await kube.core.readNamespacedConfigMap({ namespace, name: 'shared' });
    assert.equal(live.data?.['owner'], 'first');
    const forced = await run([configMap('shared', { owner: 'second' })], {
      application: second,
      namespace,
      adopt: true,
    });
    assert.equal(forced.phase, 'Succeeded', forced.message);
  });

  it('reads live objects only when the dry run finds them, with one list of its own objects per kind', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const application = appName();
    const other = appName();
    // The namespace is shared: another application's objects, and one made by hand.
    await run(
      ['o1', 'o2', 'o3', 'o4'].map((n) => configMap(n, { k: '1' })),
      { application: other, namespace },
    );
    await kube.core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'by-hand' }, data: { k: 'hand' } },
    });
    const mine = ['m1', 'm2', 'm3', 'm4'];
    const cold = recordingReads('configmaps');
    const created = await run(
      mine.map((n) => configMap(n, { k: '1' })),
      { application, namespace },
      undefined,
      cold.through,
    );
    assert.equal(created.phase, 'Succeeded', created.message);
    assert.deepEqual(cold.lists, [], 'a sync that creates everything reads nothing');
    assert.deepEqual(cold.gets, []);

    const warm = recordingReads('configmaps');
    const changed = await run(
      [...mine.map((n) => configMap(n, { k: n === 'm1' ? '2' : '1' })), configMap('by-hand', { k: 'hand' })],
      { application, namespace },
      undefined,
      warm.through,
    );
    assert.equal(changed.phase, 'Succeeded', changed.message);
    assert.deepEqual(actions(changed), {
      [`ConfigMap/${namespace}/m1`]: 'configured',
      [`ConfigMap/${namespace}/m2`]: 'unchanged',
      [`ConfigMap/${namespace}/m3`]: 'unchanged',
      [`ConfigMap/${namespace}/m4`]: 'unchanged',
      [`ConfigMap/${namespace}/by-hand`]: 'configured',
    });
    assert.deepEqual(warm.lists, [`capstan.dev/application=${application}`], 'one list, of its own objects');
    assert.deepEqual(warm.gets, ['by-hand'], 'what the list cannot hold (not marked yet) is read alone');

    // Another application's object is read as well, and still refused.
    const refused = await run(
      [...mine.map((n) => configMap(n, { k: '1' })), configMap('o1', { k: 'mine' })],
      { application, namespace },
    );
    assert.equal(refused.phase, 'Failed');
    assert.match(refused.message, new RegExp(`already managed by application '${other}'`));
  });

  it('compares with the live cache where it holds the version the dry run saw, and reads the rest', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const application = appName();
    const other = appName();
    const names = ['c1', 'c2', 'c3', 'c4', 'c5'];
    const objects = names.map((n) => configMap(n, { k: '1' }));
    assert.equal((await run(objects, { application, namespace, forceConflicts: true })).phase, 'Succeeded');
    await run([configMap('theirs', { k: '1' })], { application: other, namespace });
    const cache = await configMapCache(namespace);
    // As `kubectl edit` changes an object: another field manager, a merge patch.
    const drift = async (name: string, value: string) => {
      const res = await cluster.client.call(
        'PATCH',
        `/api/v1/namespaces/${namespace}/configmaps/${name}?fieldManager=kubectl-edit`,
        { body: { data: { k: value } }, contentType: 'application/merge-patch+json' },
      );
      assert.equal(res.status, 200);
    };

    // Drift that the cache has seen (the watch delivered it): corrected without a single read.
    await drift('c1', 'drifted');
    await cache.refresh();
    const seen = recordingReads('configmaps');
    const corrected = await run(
      objects,
      { application, namespace, forceConflicts: true },
      undefined,
      seen.through,
      cache.read,
    );
    assert.equal(corrected.phase, 'Succeeded', corrected.message);
    assert.equal(actions(corrected)[`ConfigMap/${namespace}/c1`], 'configured');
    assert.deepEqual(
      names.filter((n) => n !== 'c1').map((n) => actions(corrected)[`ConfigMap/${namespace}/${n}`]),
      ['unchanged', 'unchanged', 'unchanged', 'unchanged'],
    );
    assert.deepEqual([seen.lists, seen.gets], [[], []], 'every live object came from the cache');
    assert.equal((await kube.core.readNamespacedConfigMap({ namespace, name: 'c1' })).data?.['k'], '1');

    // Drift the cache has not seen yet (its copy is of an older version): read from the API server.
    await cache.refresh();
    await drift('c2', 'drifted again');
    const stale = recordingReads('configmaps');
    const again = await run(
      objects,
      { application, namespace, forceConflicts: true },
      undefined,
      stale.through,
      cache.read,
    );
    assert.equal(actions(again)[`ConfigMap/${namespace}/c2`], 'configured', JSON.stringify(actions(again)));
    assert.equal(actions(again)[`ConfigMap/${namespace}/c1`], 'unchanged');
    assert.deepEqual(stale.lists, [`capstan.dev/application=${application}`]);
    assert.equal((await kube.core.readNamespacedConfigMap({ namespace, name: 'c2' })).data?.['k'], '1');

    // Another application's object in the cache is still refused; one made by hand (never in the
    // cache: the watches see only labelled objects) is read and adopted, as without a cache.
    await kube.core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'by-hand' }, data: { k: 'hand' } },
    });
    await cache.refresh();
    cache.objects.delete('by-hand');
    const refused = await run(
      [...objects, configMap('theirs', { k: 'mine' })],
      { application, namespace, forceConflicts: true },
      undefined,
      cluster,
      cache.read,
    );
    assert.equal(refused.phase, 'Failed');
    assert.match(refused.message, new RegExp(`already managed by application '${other}'`));
    const adopting = recordingReads('configmaps');
    const adopted = await run(
      [...objects, configMap('by-hand', { k: 'mine' })],
      { application, namespace, forceConflicts: true },
      undefined,
      adopting.through,
      cache.read,
    );
    assert.equal(adopted.phase, 'Succeeded', adopted.message);
    assert.equal(actions(adopted)[`ConfigMap/${namespace}/by-hand`], 'configured');
    assert.ok(adopting.gets.includes('by-hand') || adopting.lists.length > 0, 'read from the API server');
  });

  it("another controller's write between the dry run and the live read is no difference (both read again)", async (t) => {
    const namespace = await freshNamespace(t, kube);
    const application = appName();
    const names = ['w1', 'w2', 'w3', 'w4', 'w5'];
    const objects = names.map((n) => configMap(n, { k: '1' }));
    const created = await run(objects, { application, namespace });
    assert.equal(created.phase, 'Succeeded', created.message);
    // A controller annotates each object right after its dry run, before the plan reads it live (as
    // the Deployment controller writes a new Deployment's revision): the one list of the group and
    // each dry run are of different versions.
    const written: string[] = [];
    const apply: Cluster['apply'] = async (type, object, options) => {
      const result = await cluster.apply(type, object, options);
      const name = object.metadata.name ?? '';
      if (options.dryRun === true && type.plural === 'configmaps' && !written.includes(name)) {
        written.push(name);
        await kube.core.patchNamespacedConfigMap({
          namespace,
          name,
          body: [{ op: 'add', path: '/metadata/annotations/controller.example~1seen', value: 'yes' }],
        });
      }
      return result;
    };
    const through = new Proxy<Cluster>(cluster, {
      get: (target, property) => {
        if (property === 'apply') return apply;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const again = await run(objects, { application, namespace }, undefined, through);
    assert.equal(again.phase, 'Succeeded', again.message);
    assert.deepEqual(written.sort(), names);
    assert.deepEqual(
      Object.values(actions(again)),
      names.map(() => 'unchanged'),
      JSON.stringify(actions(again)),
    );
  });

  it('keeps an object annotated capstan.dev/prune: disabled', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const application = appName();
    await run([configMap('base', {}), configMap('precious', {}, { 'capstan.dev/prune': 'disabled' })], {
      application,
      namespace,
    });
    const result = await run([configMap('base', {})], { application, namespace, prune: true });
    assert.equal(actions(result)[`ConfigMap/${namespace}/precious`], 'skipped');
    await kube.core.readNamespacedConfigMap({ namespace, name: 'precious' });
  });

  it('refuses an empty render, and changes nothing', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const application = appName();
    await run([configMap('one', {})], { application, namespace });
    await assert.rejects(
      run([], { application, namespace, prune: true }),
      /desired state is empty.*refusing to sync/,
    );
    await kube.core.readNamespacedConfigMap({ namespace, name: 'one' });
  });

  it('applies a CRD and its custom resources in one sync, and a Namespace before what goes in it', async () => {
    const application = appName();
    const suffix = randomBytes(3).toString('hex');
    const group = `s${suffix}.test.capstan.dev`;
    const ns = `ns-${suffix}`;
    const objects: KubeObject[] = [
      {
        apiVersion: `${group}/v1`,
        kind: 'Widget',
        metadata: { name: 'w1', namespace: ns },
        spec: { size: 2 },
      },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'inside', namespace: ns }, data: {} },
      {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: `widgets.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            },
          ],
        },
      },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    ];
    try {
      const events: SyncEntry[] = [];
      const result = await run(objects, { application, namespace: 'default' }, events);
      assert.equal(result.phase, 'Succeeded', result.message);
      const order = events.map((e) => e.id.kind);
      assert.ok(order.indexOf('Namespace') < order.indexOf('ConfigMap'));
      assert.ok(order.indexOf('CustomResourceDefinition') < order.indexOf('Widget'));
      const again = await run(objects, { application, namespace: 'default' });
      assert.deepEqual(new Set(Object.values(actions(again))), new Set(['unchanged']));
    } finally {
      await run([], { application, namespace: 'default', prune: true, allowEmpty: true });
    }
  });

  it('applies waves in order and runs hooks; a failing PreSync hook stops the sync before anything else', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const application = appName();
    const job = (name: string, phase: string, fail = false): KubeObject => ({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name,
        annotations: { 'capstan.dev/hook': phase, 'capstan.dev/hook-delete-policy': 'BeforeHookCreation' },
      },
      spec: {
        backoffLimit: 0,
        template: {
          metadata: fail ? { labels: { 'pod-container-running-failed.stage.kwok.x-k8s.io': 'true' } } : {},
          spec: { restartPolicy: 'Never', containers: [{ name: 'hook', image: 'registry.invalid/hook:1' }] },
        },
      },
    });
    const events: SyncEntry[] = [];
    const result = await run(
      [
        configMap('late', {}, { 'capstan.dev/sync-wave': '2' }),
        configMap('early', {}, { 'capstan.dev/sync-wave': '-1' }),
        deployment('middle'),
        job('migrate', 'PreSync'),
        job('smoke', 'PostSync'),
      ],
      { application, namespace },
      events,
    );
    assert.equal(result.phase, 'Succeeded', result.message);
    assert.deepEqual(
      events.map((e) => `${e.hook ?? e.wave}:${e.id.name}`),
      ['PreSync:migrate', '-1:early', '0:middle', '2:late', 'PostSync:smoke'],
    );

    const failing = appName();
    const failed = await run([configMap('never', {}), job('broken-migration', 'PreSync', true)], {
      application: failing,
      namespace,
      timeoutMs: 30_000,
    });
    assert.equal(failed.phase, 'Failed');
    assert.match(failed.message, /PreSync hook failed/);
    await assert.rejects(
      kube.core.readNamespacedConfigMap({ namespace, name: 'never' }),
      'nothing is applied after a failed PreSync hook',
    );
  });

  it('runs the hooks of one desired state once when asked (the agent), every time by default', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const application = appName();
    const inventory = new ConfigMapInventoryStore(cluster);
    const objects: KubeObject[] = [
      configMap('cfg', { a: '1' }),
      {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'migrate', annotations: { 'capstan.dev/hook': 'PreSync' } },
        spec: {
          backoffLimit: 0,
          template: {
            spec: {
              restartPolicy: 'Never',
              containers: [{ name: 'hook', image: 'registry.invalid/hook:1' }],
            },
          },
        },
      },
    ];
    const jobUid = async () =>
      (
        await kube.objects.read({
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: { name: 'migrate', namespace },
        })
      ).metadata?.uid;
    const hookEntries = (r: SyncResult) =>
      r.entries.filter((e) => e.hook).map((e) => `${e.action}: ${e.message}`);

    const first = await run(objects, { application, namespace, hooks: 'once' });
    assert.equal(first.phase, 'Succeeded', first.message);
    assert.deepEqual(hookEntries(first), ['created: PreSync hook completed']);
    const uid = await jobUid();
    const job = await kube.objects.read({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'migrate', namespace },
    });
    assert.equal(job.metadata?.annotations?.['capstan.dev/hook-digest'], first.digest);

    // The same desired state again, and a drift correction: the hooks already ran for it.
    const again = await run(objects, { application, namespace, hooks: 'once' });
    assert.deepEqual(hookEntries(again), []);
    assert.equal(again.message, '1 unchanged');
    await kube.core.patchNamespacedConfigMap({
      namespace,
      name: 'cfg',
      body: [{ op: 'replace', path: '/data/a', value: 'drifted' }],
    });
    const corrected = await run(objects, { application, namespace, hooks: 'once', forceConflicts: true });
    assert.equal(corrected.message, '1 configured');
    assert.equal(await jobUid(), uid, 'the hook did not run again');

    // By default (the CLI, a requested sync) every hook runs: re-created under BeforeHookCreation.
    const always = await run(objects, { application, namespace });
    assert.deepEqual(hookEntries(always), ['created: PreSync hook completed']);
    const rerun = await jobUid();
    assert.notEqual(rerun, uid);

    // A sync cut short (no inventory written for this desired state): the completed hook is not run again.
    await inventory.delete(application);
    const resumed = await run(objects, { application, namespace, hooks: 'once' });
    assert.deepEqual(hookEntries(resumed), ['unchanged: PreSync hook already completed']);
    assert.equal(await jobUid(), rerun);
    assert.equal((await inventory.read(application))?.digest, resumed.digest);
  });

  it('a hook deleted on success does not run again when its cut-short sync resumes', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const application = appName();
    const inventory = new ConfigMapInventoryStore(cluster);
    const hookJob = (name: string, phases: string, policy?: string): KubeObject => ({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name,
        annotations: {
          'capstan.dev/hook': phases,
          ...(policy ? { 'capstan.dev/hook-delete-policy': policy } : {}),
        },
      },
      spec: {
        backoffLimit: 0,
        template: {
          spec: { restartPolicy: 'Never', containers: [{ name: 'hook', image: 'registry.invalid/hook:1' }] },
        },
      },
    });
    const hookEntries = (r: SyncResult) =>
      r.entries.filter((e) => e.hook).map((e) => `${e.hook ?? ''} ${e.action}: ${e.message}`);
    // The sync waits for the gated Deployment (before wave 1) until the gate is lifted.
    const gated = gatedDeployment();
    const objects = [
      hookJob('seed', 'PreSync', 'HookSucceeded'),
      gated,
      configMap('later', {}, { 'capstan.dev/sync-wave': '1' }),
    ];
    const stop = new AbortController();
    const first = run(objects, { application, namespace, hooks: 'once', signal: stop.signal });
    // The hook completed and was deleted, and the sync applied the gated Deployment and waits for it:
    // the replica dies then (not before the Deployment exists, or the resumed sync would wait for a pod
    // that nothing creates).
    const recorded = await eventually(
      async () => {
        const completed = (await inventory.read(application))?.hooks?.completed ?? [];
        return completed.length > 0 && completed;
      },
      { what: 'the PreSync hook recorded as completed', timeoutMs: 60_000 },
    );
    await eventually(() => kube.apps.readNamespacedDeployment({ namespace, name: 'gated' }), {
      what: 'the gated Deployment applied',
      timeoutMs: 60_000,
    });
    stop.abort();
    await assert.rejects(first, /cancelled part-way/);
    assert.deepEqual(recorded, [`PreSync:batch/Job/${namespace}/seed`]);
    const ledger = await inventory.read(application);
    assert.ok(ledger);
    assert.equal(ledger.digest, '', 'no sync of this application has succeeded yet');
    assert.deepEqual(ledger.entries, []);

    // The next leader syncs the same desired state: the hook is not run again though it is gone.
    // The ReplicaSet's pod may not exist yet when the hook completed: lift the gate once it does.
    const pods = await eventually(
      async () => {
        const list = await kube.core.listNamespacedPod({ namespace, labelSelector: 'app=gated' });
        return list.items.length > 0 && list;
      },
      { what: 'the gated pod created', timeoutMs: 60_000 },
    );
    for (const pod of pods.items) {
      await kube.core.patchNamespacedPod({
        namespace,
        name: pod.metadata?.name ?? '',
        body: [{ op: 'remove', path: '/spec/schedulingGates' }],
      });
    }
    const resumed = await run(objects, { application, namespace, hooks: 'once' });
    assert.equal(resumed.phase, 'Succeeded', resumed.message);
    assert.deepEqual(hookEntries(resumed), ['PreSync unchanged: PreSync hook already completed']);
    assert.equal(resumed.digest, ledger.hooks?.digest);
    await assert.rejects(
      kube.objects.read({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'seed', namespace } }),
      'the deleted hook was not created again',
    );
    const after = await inventory.read(application);
    assert.ok(after);
    assert.equal(after.digest, resumed.digest);
    assert.equal(after.hooks, undefined, 'the ledger ends with the sync that succeeds');

    // A hook of two phases runs in each, once per desired state.
    const twice = await run([hookJob('both', 'PreSync,PostSync')], { application, namespace, hooks: 'once' });
    assert.deepEqual(hookEntries(twice), [
      'PreSync created: PreSync hook completed',
      'PostSync created: PostSync hook completed',
    ]);
  });

  it('a cancelled sync stops between steps and records nothing', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const application = appName();
    const gated = gatedDeployment();
    const stop = new AbortController();
    const syncing = run([gated, configMap('later', {}, { 'capstan.dev/sync-wave': '1' })], {
      application,
      namespace,
      signal: stop.signal,
    });
    // Wave 0 applied, waiting for the Deployment (its pod cannot be scheduled): cancel.
    await eventually(() => kube.apps.readNamespacedDeployment({ namespace, name: 'gated' }), {
      what: 'the gated Deployment applied',
    });
    stop.abort();
    await assert.rejects(syncing, (error: Error & { code?: string; retryable?: boolean }) => {
      assert.equal(error.code, 'SYNC_CANCELLED');
      assert.equal(error.retryable, true);
      return true;
    });
    await assert.rejects(
      kube.core.readNamespacedConfigMap({ namespace, name: 'later' }),
      'wave 1 not applied',
    );
    assert.equal(await new ConfigMapInventoryStore(cluster).read(application), undefined, 'no inventory');
  });

  it('reports an immutable-field change clearly and goes through with replace', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const application = appName();
    await run([deployment('api')], { application, namespace });
    const changed = deployment('api');
    (changed['spec'] as { selector: unknown }).selector = { matchLabels: { app: 'api', tier: 'backend' } };
    (
      changed['spec'] as { template: { metadata: { labels: Record<string, string> } } }
    ).template.metadata.labels['tier'] = 'backend';
    const refused = await run([changed], { application, namespace });
    assert.equal(refused.phase, 'Failed');
    const entry = refused.entries.find((e) => e.id.kind === 'Deployment');
    assert.equal(entry?.action, 'failed');
    assert.match(entry.message, /immutable.*--replace/s);
    // The entry carries the error's code (no reader needs to parse the message) and that a retry would not help.
    assert.equal(entry.code, 'KUBE_IMMUTABLE');
    assert.equal(entry.retryable, false);
    assert.doesNotMatch(entry.message, /^Deployment\//, 'the message does not name the resource again');
    const unchanged = await kube.apps.readNamespacedDeployment({ namespace, name: 'api' });
    assert.deepEqual(unchanged.spec?.selector.matchLabels, { app: 'api' });

    const replaced = await run([changed], { application, namespace, replace: true });
    assert.equal(replaced.phase, 'Succeeded', replaced.message);
    assert.match(replaced.entries[0]?.message ?? '', /replaced/);
    const live = await kube.apps.readNamespacedDeployment({ namespace, name: 'api' });
    assert.deepEqual(live.spec?.selector.matchLabels, { app: 'api', tier: 'backend' });
  });

  it('waits for a Deployment to be Healthy, and reports a failing one Degraded before the time limit', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const healthy = await run([deployment('ok', { replicas: 2 })], {
      application: appName(),
      namespace,
      wait: true,
    });
    assert.equal(healthy.phase, 'Succeeded', healthy.message);
    assert.equal(healthy.entries[0]?.health?.status, 'Healthy');

    const failing = await run(
      // minReadySeconds: a pod must stay Ready a while to count, as a crashing one does not.
      [
        {
          ...deployment('crashing', {
            labels: { 'pod-container-running-failed.stage.kwok.x-k8s.io': 'true' },
          }),
          spec: {
            ...(deployment('crashing', {
              labels: { 'pod-container-running-failed.stage.kwok.x-k8s.io': 'true' },
            })['spec'] as object),
            minReadySeconds: 30,
          },
        },
      ],
      { application: appName(), namespace, wait: true, timeoutMs: 120_000 },
    );
    assert.equal(failing.phase, 'Failed');
    assert.equal(failing.entries[0]?.health?.status, 'Degraded', failing.message);
    // Degraded ended the wait, not the time limit (an ordering, not a stopwatch).
    assert.match(failing.message, /^applied, but degraded: /);
  });

  it('fails the whole plan on an unknown kind or a missing namespace, and changes nothing', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await assert.rejects(
      run(
        [configMap('fine', {}), { apiVersion: 'example.invalid/v1', kind: 'Gizmo', metadata: { name: 'g' } }],
        { application: appName(), namespace },
      ),
      /test\.yaml:2: Gizmo\/.*g: the cluster does not serve example\.invalid\/v1 Gizmo/,
    );
    await assert.rejects(
      run([configMap('twice', {}), { ...configMap('twice', {}), metadata: { name: 'twice', namespace } }], {
        application: appName(),
        namespace,
      }),
      /ConfigMap\/.*\/twice is defined 2 times: test\.yaml:1, test\.yaml:2/,
    );
    const missing = await run(
      [
        configMap('fine', {}),
        { ...configMap('lost', {}), metadata: { name: 'lost', namespace: 'no-such-namespace-here' } },
      ],
      { application: appName(), namespace },
    );
    assert.equal(missing.phase, 'Failed');
    assert.match(missing.message, /ConfigMap\/no-such-namespace-here\/lost: .*not found/i);
    await assert.rejects(
      kube.core.readNamespacedConfigMap({ namespace, name: 'fine' }),
      'nothing applied when the plan fails',
    );
  });
});
