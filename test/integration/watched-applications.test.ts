// The agent's reads of Applications served from its watch, against the real API server: a read
// goes to the API server until the watch shows the version the server returned (to a read, or to a
// status or finalizer patch), then costs nothing; after another write, or a change by anyone else,
// the next read goes to the server again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KubeApplicationStore } from '../../src/adapters/kube/application-store.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { KubeWatcher } from '../../src/adapters/kube/watch.ts';
import { APPLICATION_API_VERSION, RESOURCES_FINALIZER } from '../../src/contracts/application.ts';
import { WatchedApplications } from '../../src/controller/watched-applications.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import {
  freshNamespace,
  installApplicationCrd,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';

let admin: KubeCluster;
let kube: KubeClients;
let appType: ResourceType;
const stopWatch = new AbortController();
let watching: Promise<void> | undefined;
const sources: ('watch' | 'api')[] = [];
let store: KubeApplicationStore;
let watched: WatchedApplications;
/** The latest resourceVersion the watch delivered, by `namespace/name`. */
const delivered = new Map<string, string>();

before(async () => {
  const cluster = await testCluster();
  admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  kube = kubeClients(cluster.adminKubeconfig);
  appType = await installApplicationCrd(admin);
  store = new KubeApplicationStore(admin.client);
  watched = new WatchedApplications(store, (source) => sources.push(source));
  watching = new KubeWatcher(admin.client).watch(
    appType,
    '',
    (event) => {
      watched.observe(event);
      const { namespace, name, resourceVersion } = event.object.metadata;
      if (event.type !== 'SYNCED') delivered.set(`${namespace ?? ''}/${name ?? ''}`, resourceVersion ?? '');
    },
    { signal: stopWatch.signal },
  );
});

after(async () => {
  stopWatch.abort();
  await watching;
  admin.close();
});

/** An Application that nothing reconciles here (no agent runs in this file). */
async function createApp(namespace: string, name: string): Promise<void> {
  await admin.apply(
    appType,
    {
      apiVersion: APPLICATION_API_VERSION,
      kind: 'Application',
      metadata: { name, namespace },
      spec: { source: { repoURL: 'https://git.invalid/none.git', path: name }, interval: '1h' },
    },
    { fieldManager: 'capstan-test' },
  );
}

/** Reads once and says where the read was served from. */
async function read(namespace: string, name: string): Promise<{ source: string; object?: KubeObject }> {
  const count = sources.length;
  const object = await watched.get(namespace, name);
  assert.equal(sources.length, count + 1, 'one read, one source');
  return { source: sources.at(-1) ?? '', ...(object ? { object } : {}) };
}

/** Waits until the watch has delivered the object's current version (as the API server has it now). */
async function caughtUp(namespace: string, name: string): Promise<void> {
  const live = await store.get(namespace, name);
  await eventually(() => delivered.get(`${namespace}/${name}`) === live?.metadata.resourceVersion, {
    what: `the watch to deliver ${namespace}/${name} at ${live?.metadata.resourceVersion ?? '?'}`,
  });
}

describe('Applications read from the watch', () => {
  it('serves a read from the watch only when it is surely current', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await createApp(namespace, 'web');
    await caughtUp(namespace, 'web');

    // First read: nothing confirmed yet. Then the watch has that same version: no request.
    const first = await read(namespace, 'web');
    assert.equal(first.source, 'api');
    const second = await read(namespace, 'web');
    assert.equal(second.source, 'watch');
    assert.deepEqual(second.object, first.object);
    // Neither carries managedFields (the API server keeps them: the apply above wrote some).
    assert.equal(first.object?.metadata.managedFields, undefined);
    assert.ok(((await store.get(namespace, 'web'))?.metadata.managedFields ?? []).length > 0);
    // What it returns from the watch is the watch's own object, frozen: changing it throws and changes
    // nothing the store keeps.
    assert.ok(second.object);
    const served = second.object;
    assert.throws(() => {
      served.metadata.name = 'changed';
    }, TypeError);
    assert.throws(() => {
      (served.metadata.labels ??= {})['x'] = 'y';
    }, TypeError);
    assert.equal((await read(namespace, 'web')).object?.metadata.name, 'web');

    // The store's own status patch: its answer confirms the new version, so once the watch has
    // delivered it the read costs nothing, and shows the write; before that it reads the API server.
    const written = await watched.patchStatus(namespace, 'web', { observedGeneration: 1 });
    assert.ok(written !== undefined && written !== second.object.metadata.resourceVersion);
    const afterWrite = await read(namespace, 'web');
    assert.deepEqual(afterWrite.object?.['status'], { observedGeneration: 1 });
    await watched.patchStatus(namespace, 'web', { observedGeneration: 2 });
    await caughtUp(namespace, 'web');
    const settled = await read(namespace, 'web');
    assert.equal(settled.source, 'watch');
    assert.deepEqual(settled.object?.['status'], { observedGeneration: 2 });

    // A finalizer written through the store confirms its answer the same way (the agent's cold start
    // adds one to every Application and then looks at each again).
    const finalized = await watched.setFinalizers(
      namespace,
      'web',
      [RESOURCES_FINALIZER],
      settled.object.metadata.resourceVersion ?? '',
    );
    assert.ok(finalized !== undefined && finalized !== settled.object.metadata.resourceVersion);
    await caughtUp(namespace, 'web');
    const withFinalizer = await read(namespace, 'web');
    assert.equal(withFinalizer.source, 'watch');
    assert.deepEqual(withFinalizer.object?.metadata.finalizers, [RESOURCES_FINALIZER]);
    assert.equal(withFinalizer.object.metadata.resourceVersion, finalized);
    await watched.setFinalizers(namespace, 'web', [], finalized);

    // Another write through the store (an annotation) answers with no version: the next read goes to
    // the API server even once the watch has the change.
    await watched.annotate(namespace, 'web', 'capstan.dev/sync', 's1');
    await caughtUp(namespace, 'web');
    const annotated = await read(namespace, 'web');
    assert.equal(annotated.source, 'api');
    assert.equal(annotated.object?.metadata.annotations?.['capstan.dev/sync'], 's1');

    // Someone else's change (a refresh request from the CLI or the UI): the watch shows another
    // version than the one confirmed, so the read goes to the API server and sees the change.
    await store.annotate(namespace, 'web', 'capstan.dev/refresh', 'r1');
    await caughtUp(namespace, 'web');
    const changed = await read(namespace, 'web');
    assert.equal(changed.source, 'api');
    assert.equal(changed.object?.metadata.annotations?.['capstan.dev/refresh'], 'r1');
    assert.equal((await read(namespace, 'web')).source, 'watch');

    // The watch's copy as it is, current or not, for a write guarded by its version (the agent adds
    // the finalizer of a new Application so): a copy older than the object fails that write.
    const reads = sources.length;
    const copy = watched.watched(namespace, 'web');
    assert.equal(copy?.metadata.resourceVersion, delivered.get(`${namespace}/web`));
    assert.equal(sources.length, reads, 'not a read of the Application');
    await store.annotate(namespace, 'web', 'capstan.dev/refresh', 'r2');
    await assert.rejects(
      watched.setFinalizers(namespace, 'web', [RESOURCES_FINALIZER], copy?.metadata.resourceVersion ?? ''),
      (error: unknown) => (error as { code?: string }).code === 'KUBE_CONFLICT',
    );
    assert.deepEqual((await store.get(namespace, 'web'))?.metadata.finalizers, undefined);
    assert.equal(watched.watched(namespace, 'nothing-here'), undefined);

    // Deleted: the watch forgets it, and the API server says it is gone.
    await kube.objects.delete({
      apiVersion: APPLICATION_API_VERSION,
      kind: 'Application',
      metadata: { name: 'web', namespace },
    });
    await eventually(async () => (await store.get(namespace, 'web')) === undefined);
    await eventually(async () => (await read(namespace, 'web')).object === undefined);

    // After a reset (leadership lost), nothing is served from the watch until it is confirmed again.
    await createApp(namespace, 'api');
    await caughtUp(namespace, 'api');
    assert.equal((await read(namespace, 'api')).source, 'api');
    assert.equal((await read(namespace, 'api')).source, 'watch');
    watched.reset();
    assert.equal((await read(namespace, 'api')).source, 'api');
  });
});
