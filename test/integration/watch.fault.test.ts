// The reflector against the real API server: initial list then SYNCED, live ADDED/MODIFIED/DELETED,
// label selectors, every namespace, resuming after each watch request ends, and carrying on across API
// server restarts (killed and graceful). Restarts the API server: a fault test, run on its own.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { KubeObject } from '../../src/core/resource.ts';
import type { CapstanError } from '../../src/core/errors.ts';
import { loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { RestClient } from '../../src/adapters/kube/rest-client.ts';
import { KubeWatcher, type KubeWatcherOptions } from '../../src/adapters/kube/watch.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import type { WatchEvent } from '../../src/ports/watch.ts';
import {
  agentKubeconfig,
  freshNamespace,
  kubeClients,
  testCluster,
  type KubeClients,
} from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import type { LocalCluster } from '../../src/devcluster/cluster.ts';

const CONFIG_MAPS: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  namespaced: true,
};

let cluster: LocalCluster;
let kube: KubeClients;
let kubeconfig: string;

before(async () => {
  cluster = await testCluster();
  kubeconfig = await agentKubeconfig(cluster);
  kube = kubeClients(kubeconfig);
});

/**
 * A client whose next watch request can be held back, then sent with a resourceVersion the server has
 * long compacted away: as if the watch had been disconnected while the objects changed.
 */
class StalingClient extends RestClient {
  #held: { promise: Promise<void>; release: () => void } | undefined;
  #stale = false;
  /** Watch requests sent, and open now. */
  streams = 0;
  open = 0;

  /** Holds the next watch request until `releaseStale`. */
  hold(): void {
    let release!: () => void;
    const promise = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#held = { promise, release };
  }

  /** Sends the held request, from resourceVersion 1. */
  releaseStale(): void {
    this.#stale = true;
    this.#held?.release();
    this.#held = undefined;
  }

  override async stream(
    path: string,
    options: Parameters<RestClient['stream']>[1],
  ): ReturnType<RestClient['stream']> {
    if (this.#held) await this.#held.promise;
    let sent = path;
    if (this.#stale) {
      sent = path.replace(/resourceVersion=\d+/, 'resourceVersion=1');
      this.#stale = false;
    }
    this.streams++;
    this.open++;
    try {
      return await super.stream(sent, options);
    } finally {
      this.open--;
    }
  }
}

/** A running watch and what it saw, as `TYPE:name` lines. */
interface Recording {
  readonly seen: string[];
  readonly events: WatchEvent[];
  readonly errors: CapstanError[];
  readonly done: Promise<void>;
  stop(): Promise<void>;
  count(line: string): number;
}

function record(
  t: { after(fn: () => Promise<void>): void },
  namespace: string,
  options: {
    labelSelector?: string;
    onlyNamespace?: string;
    watcher?: KubeWatcherOptions;
    client?: RestClient;
  } = {},
): Recording {
  const client = options.client ?? new RestClient(loadKubeConfig({ kubeconfig }), { timeoutMs: 10_000 });
  const watcher = new KubeWatcher(client, { maxBackoffMs: 2_000, ...options.watcher });
  const controller = new AbortController();
  const seen: string[] = [];
  const events: WatchEvent[] = [];
  const errors: CapstanError[] = [];
  const done = watcher.watch(
    CONFIG_MAPS,
    namespace,
    (event) => {
      if (event.type !== 'SYNCED') {
        // The namespace's own CA bundle comes and goes with the controller-manager; not ours.
        if (event.object.metadata.name === 'kube-root-ca.crt') return;
        if (options.onlyNamespace && event.object.metadata.namespace !== options.onlyNamespace) return;
      }
      events.push(event);
      seen.push(event.type === 'SYNCED' ? 'SYNCED' : `${event.type}:${event.object.metadata.name ?? ''}`);
    },
    {
      signal: controller.signal,
      ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
      onError: (error) => errors.push(error),
    },
  );
  const stop = async () => {
    controller.abort();
    await done;
    client.close();
  };
  t.after(stop);
  return { seen, events, errors, done, stop, count: (line) => seen.filter((s) => s === line).length };
}

/** Starts the API server again, retrying while its port is still held by the stopped one. */
async function startApiServer(): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await cluster.startApiServer();
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'DEVCLUSTER_PORT_IN_USE' || attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

/** Stops the API server (SIGKILL or SIGTERM), runs `whileDown`, and always starts it again. */
async function restartApiServer(options: { kill: boolean }, whileDown: () => Promise<void>): Promise<void> {
  try {
    await cluster.stopApiServer(options);
    await whileDown();
  } finally {
    await startApiServer();
  }
}

const noticed = (probe: () => boolean) => () =>
  eventually(probe, { what: 'the watch to notice the API server is gone', timeoutMs: 30_000 }).then(
    () => undefined,
  );

const configMap = (name: string, data: Record<string, string>, labels: Record<string, string> = {}) => ({
  metadata: { name, labels },
  data,
});

describe('KubeWatcher', () => {
  it('lists, says SYNCED, then delivers ADDED, MODIFIED and DELETED as they happen', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await kube.core.createNamespacedConfigMap({ namespace, body: configMap('one', { a: '1' }) });
    await kube.core.createNamespacedConfigMap({ namespace, body: configMap('two', { a: '1' }) });
    const watch = record(t, namespace);
    await eventually(() => watch.seen.includes('SYNCED'), { what: 'SYNCED' });
    assert.deepEqual(watch.seen.slice().sort(), ['ADDED:one', 'ADDED:two', 'SYNCED']);
    assert.equal(watch.seen.at(-1), 'SYNCED', 'SYNCED comes after the listed objects');
    const listed = watch.events.find((e) => e.object.metadata.name === 'one')?.object;
    assert.equal(listed?.apiVersion, 'v1', 'listed objects carry apiVersion and kind');
    assert.equal(listed.kind, 'ConfigMap');
    const synced = watch.events.find((e) => e.type === 'SYNCED')?.object;
    assert.equal(synced?.kind, 'ConfigMapList');
    assert.ok(synced.metadata.resourceVersion);

    await kube.core.createNamespacedConfigMap({ namespace, body: configMap('three', { a: '1' }) });
    await kube.core.patchNamespacedConfigMap({
      namespace,
      name: 'one',
      body: [{ op: 'replace', path: '/data/a', value: '2' }],
    });
    await kube.core.deleteNamespacedConfigMap({ namespace, name: 'two' });
    await eventually(() => watch.seen.includes('DELETED:two'), { what: 'DELETED:two' });
    assert.deepEqual(watch.seen.slice(3), ['ADDED:three', 'MODIFIED:one', 'DELETED:two']);
    const modified = watch.events.find((e) => e.type === 'MODIFIED')?.object as KubeObject & {
      data?: Record<string, string>;
    };
    assert.equal(modified.data?.['a'], '2');
    assert.equal(watch.events.find((e) => e.type === 'DELETED')?.object.metadata.name, 'two');
    assert.deepEqual(watch.errors, []);
  });

  it('filters by label, and watches every namespace with namespace ""', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const labelled = record(t, namespace, { labelSelector: 'app=shop' });
    const everywhere = record(t, '', { onlyNamespace: namespace });
    await eventually(() => labelled.seen.includes('SYNCED') && everywhere.seen.includes('SYNCED'), {
      what: 'both SYNCED',
    });
    await kube.core.createNamespacedConfigMap({ namespace, body: configMap('mine', {}, { app: 'shop' }) });
    await kube.core.createNamespacedConfigMap({ namespace, body: configMap('other', {}, { app: 'blog' }) });
    await eventually(() => everywhere.seen.includes('ADDED:other'), { what: 'ADDED:other everywhere' });
    await eventually(() => labelled.seen.includes('ADDED:mine'), { what: 'ADDED:mine with the selector' });
    assert.equal(labelled.count('ADDED:other'), 0, 'the selector keeps other objects out');
    assert.ok(everywhere.seen.includes('ADDED:mine'));
  });

  it('resumes from its resourceVersion when a watch request ends: nothing missed, nothing twice', async (t) => {
    const namespace = await freshNamespace(t, kube);
    // The server ends each watch request after 1 to 2 s.
    const watch = record(t, namespace, { watcher: { watchTimeoutSeconds: 1 } });
    await eventually(() => watch.seen.includes('SYNCED'), { what: 'SYNCED' });
    for (let i = 0; i < 6; i++) {
      await kube.core.createNamespacedConfigMap({ namespace, body: configMap(`cm-${i}`, {}) });
      await new Promise((resolve) => setTimeout(resolve, 700));
    }
    await eventually(() => watch.seen.includes('ADDED:cm-5'), { what: 'ADDED:cm-5' });
    for (let i = 0; i < 6; i++) assert.equal(watch.count(`ADDED:cm-${i}`), 1, `cm-${i} once`);
    assert.equal(watch.count('SYNCED'), 1, 'resumed, not re-listed');
    assert.deepEqual(watch.errors, []);
  });

  it('re-lists when its resourceVersion is too old (410 Gone), reporting only what changed', async (t) => {
    const namespace = await freshNamespace(t, kube);
    for (const name of ['keep', 'change', 'remove']) {
      await kube.core.createNamespacedConfigMap({ namespace, body: configMap(name, { a: '1' }) });
    }
    const client = new StalingClient(loadKubeConfig({ kubeconfig }), { timeoutMs: 10_000 });
    const watch = record(t, namespace, { client, watcher: { watchTimeoutSeconds: 1 } });
    await eventually(() => watch.seen.includes('SYNCED'), { what: 'SYNCED' });
    assert.deepEqual(watch.seen.slice().sort(), ['ADDED:change', 'ADDED:keep', 'ADDED:remove', 'SYNCED']);

    // The next watch request waits, once the current one has ended (within 2 s), while the objects change.
    client.hold();
    await eventually(() => client.open === 0, { what: 'the open watch request to end' });
    const streamsBefore = client.streams;
    const live = watch.seen.length;
    await kube.core.patchNamespacedConfigMap({
      namespace,
      name: 'change',
      body: [{ op: 'replace', path: '/data/a', value: '2' }],
    });
    await kube.core.deleteNamespacedConfigMap({ namespace, name: 'remove' });
    await kube.core.createNamespacedConfigMap({ namespace, body: configMap('new', {}) });
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(watch.seen.length, live, 'nothing is delivered while disconnected');
    // resourceVersion 1 is "too old" only once the API server's watch cache starts after it: on a young
    // cluster (this file run alone) the cache still holds every event since 1 and replays them instead
    // of answering 410. A restart starts the cache at the current version, on any cluster.
    await restartApiServer({ kill: false }, () => Promise.resolve());
    client.releaseStale();
    await eventually(() => watch.count('SYNCED') === 2, { what: 'a second SYNCED, after the re-list' });
    assert.ok(client.streams > streamsBefore);
    // The re-list tells only what changed meanwhile: `keep` is not added again.
    assert.deepEqual(watch.seen.slice(live), ['MODIFIED:change', 'ADDED:new', 'DELETED:remove', 'SYNCED']);
    const deleted = watch.events.find((e) => e.type === 'DELETED')?.object as KubeObject & {
      data?: Record<string, string>;
    };
    assert.equal(deleted.metadata.name, 'remove');
    assert.equal(deleted.data?.['a'], '1', 'a DELETED from a re-list carries the last known state');
    // What the reflector kept of it: all but managedFields (the API server wrote some: it was created).
    assert.equal(deleted.metadata.managedFields, undefined);
    // Live events again after the re-list.
    await kube.core.deleteNamespacedConfigMap({ namespace, name: 'keep' });
    await eventually(() => watch.seen.includes('DELETED:keep'), { what: 'DELETED:keep after the re-list' });
    assert.deepEqual(watch.errors, []);
  });

  it('carries on across API server restarts, killed and graceful', async (t) => {
    const namespace = await freshNamespace(t, kube);
    await kube.core.createNamespacedConfigMap({ namespace, body: configMap('before', { a: '1' }) });
    const watch = record(t, namespace);
    await eventually(() => watch.seen.includes('SYNCED'), { what: 'SYNCED' });

    // Killed: open connections are reset, new ones refused until it is back.
    await restartApiServer(
      { kill: true },
      noticed(() => watch.errors.some((e) => e.code === 'KUBE_UNAVAILABLE')),
    );
    await kube.core.createNamespacedConfigMap({ namespace, body: configMap('after-kill', {}) });
    await eventually(() => watch.seen.includes('ADDED:after-kill'), {
      what: 'an event after the API server was killed and started',
      timeoutMs: 60_000,
    });
    assert.ok(
      watch.errors.some((e) => e.code === 'KUBE_UNAVAILABLE'),
      `the lost connection was reported: ${watch.errors.map((e) => e.message).join('; ')}`,
    );

    // Graceful: the API server closes its watches as it stops.
    const errorsBefore = watch.errors.length;
    await restartApiServer(
      { kill: false },
      noticed(() => watch.errors.length > errorsBefore),
    );
    await kube.core.patchNamespacedConfigMap({
      namespace,
      name: 'before',
      body: [{ op: 'replace', path: '/data/a', value: '2' }],
    });
    await kube.core.deleteNamespacedConfigMap({ namespace, name: 'after-kill' });
    await eventually(
      () => watch.seen.includes('MODIFIED:before') && watch.seen.includes('DELETED:after-kill'),
      {
        what: 'events after a graceful restart',
        timeoutMs: 60_000,
      },
    );
    // A re-list (if the server forgot our resourceVersion) reports only changes: nothing is added twice.
    assert.equal(watch.count('ADDED:before'), 1);
    assert.equal(watch.count('ADDED:after-kill'), 1);
    assert.equal(watch.count('MODIFIED:before'), 1);
  });

  it('stops when its signal is aborted, even while the API server is away', async (t) => {
    const namespace = await freshNamespace(t, kube);
    const watch = record(t, namespace);
    await eventually(() => watch.seen.includes('SYNCED'), { what: 'SYNCED' });
    // Stopped inside the outage: restartApiServer starts the API server again only after this returns.
    let stoppedWhileAway = false;
    await restartApiServer({ kill: true }, async () => {
      await noticed(() => watch.errors.length > 0)();
      await watch.stop();
      stoppedWhileAway = true;
    });
    assert.equal(stoppedWhileAway, true, 'stopped while the API server was away');
  });
});
