// The agent's cluster registry over a fake API: in-cluster, Secrets resolved by name, built once,
// rebuilt when the Secret changes (the old clients closed after a grace period), re-read at most every
// refreshMs, unknown names and malformed kubeconfigs as clear non-retryable errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { CLUSTER_SECRET_TYPE, SECRET_TYPE_LABEL } from '../../../src/core/cluster-secret.ts';
import { CapstanError } from '../../../src/core/errors.ts';
import type { Destination } from '../../../src/controller/reconciler.ts';
import { ClusterRegistry, type BuiltDestination } from '../../../src/controller/cluster-registry.ts';
import type { Cluster, ResourceType } from '../../../src/ports/cluster.ts';
import { FakeCluster } from '../../../src/testing/fake-cluster.ts';

const SECRET_TYPE: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'Secret',
  plural: 'secrets',
  namespaced: true,
};
const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');

const kubeconfig = (server: string, token: string, extra: Record<string, unknown> = {}) =>
  stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server, 'certificate-authority-data': CA } }],
    users: [{ name: 'u', user: { token, ...extra } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** Cluster Secrets in one namespace of a FakeCluster (which counts lists). */
class FakeApi {
  readonly fake = new FakeCluster();

  get lists(): number {
    return this.fake.lists.length;
  }

  get selectors(): readonly string[] {
    return this.fake.lists;
  }

  put(name: string, data: Record<string, string>): void {
    this.fake.put(SECRET_TYPE, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name,
        namespace: 'capstan-system',
        labels: { [SECRET_TYPE_LABEL]: CLUSTER_SECRET_TYPE },
      },
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
    });
  }

  removeAll(): void {
    this.fake.clear(SECRET_TYPE, 'capstan-system');
  }

  cluster(): Cluster {
    return this.fake;
  }
}

function setup(api: FakeApi) {
  let now = 0;
  const built: { name: string; server: string; token: string | undefined; closed: boolean }[] = [];
  const replaced: string[] = [];
  const inCluster = { name: 'in-cluster' } as unknown as Destination;
  const registry = new ClusterRegistry({
    cluster: api.cluster(),
    namespace: 'capstan-system',
    inCluster,
    now: () => now,
    closeGraceMs: 5,
    onReplaced: (name) => replaced.push(name),
    build: (name, flat): BuiltDestination => {
      const record = { name, server: flat.cluster.server, token: flat.user.token, closed: false };
      built.push(record);
      return {
        destination: { name, server: flat.cluster.server } as unknown as Destination,
        close: () => {
          record.closed = true;
        },
      };
    },
  });
  return {
    registry,
    built,
    replaced,
    inCluster,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const rejects = async (promise: Promise<unknown>, code: string, message: RegExp) => {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof CapstanError);
    assert.equal(error.code, code);
    assert.equal(error.retryable, false);
    assert.match(error.message, message);
    return true;
  });
};

describe('the cluster registry', () => {
  it('resolves in-cluster without reading Secrets, and registered clusters by their name key', async () => {
    const api = new FakeApi();
    api.put('cluster-prod', { name: 'prod', kubeconfig: kubeconfig('https://prod:6443', 'token-1') });
    api.put('staging', { kubeconfig: kubeconfig('https://staging:6443', 'token-2') });
    const { registry, built, inCluster } = setup(api);
    assert.equal(await registry.resolve('in-cluster'), inCluster);
    assert.equal(api.lists, 0);
    const prod = await registry.resolve('prod');
    assert.equal(prod.name, 'prod');
    assert.equal(await registry.resolve('prod'), prod, 'built once');
    assert.equal((await registry.resolve('staging')).name, 'staging', 'the name defaults to the Secret name');
    assert.deepEqual(
      built.map((b) => `${b.name} ${b.server} ${b.token ?? ''}`),
      ['prod https://prod:6443 token-1', 'staging https://staging:6443 token-2'],
    );
    assert.equal(api.lists, 1, 'one list serves every lookup within refreshMs');
    assert.deepEqual(api.selectors, ['capstan-system:capstan.dev/secret-type=cluster']);
    registry.close();
    assert.ok(built.every((b) => b.closed));
  });

  it('rebuilds a destination when its Secret changes, closing the old clients after the grace period', async () => {
    const api = new FakeApi();
    api.put('cluster-prod', { name: 'prod', kubeconfig: kubeconfig('https://prod:6443', 'old') });
    const { registry, built, replaced, advance } = setup(api);
    const first = await registry.resolve('prod');
    api.put('cluster-prod', { name: 'prod', kubeconfig: kubeconfig('https://prod:6443', 'new') });
    assert.equal(await registry.resolve('prod'), first, 'not re-read before refreshMs');
    advance(10_000);
    const second = await registry.resolve('prod');
    assert.notEqual(second, first);
    assert.deepEqual(
      built.map((b) => b.token),
      ['old', 'new'],
    );
    assert.deepEqual(replaced, ['prod']);
    const closed = () => built.map((b) => b.closed);
    assert.deepEqual(closed(), [false, false], 'reconciles in flight keep the old clients a while');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(closed(), [true, false]);
    registry.close();
  });

  it('says how to register an unknown name, and finds a new Secret within a second', async () => {
    const api = new FakeApi();
    const { registry, advance } = setup(api);
    await rejects(
      registry.resolve('edge'),
      'DESTINATION_UNKNOWN',
      /destination cluster 'edge' is not registered: no Secret labelled capstan\.dev\/secret-type=cluster in namespace capstan-system has the name 'edge'; register it with 'capstan cluster add edge --kubeconfig FILE --namespace capstan-system'/,
    );
    const lists = api.lists;
    await rejects(registry.resolve('edge'), 'DESTINATION_UNKNOWN', /edge/);
    assert.equal(api.lists, lists, 'unknown names do not list more than once a second');
    api.put('cluster-edge', { name: 'edge', kubeconfig: kubeconfig('https://edge:6443', 't') });
    advance(1_000);
    assert.equal((await registry.resolve('edge')).name, 'edge');
    registry.close();
  });

  it('forgets a removed cluster and closes its clients', async () => {
    const api = new FakeApi();
    api.put('cluster-prod', { name: 'prod', kubeconfig: kubeconfig('https://prod:6443', 't') });
    const { registry, built, advance } = setup(api);
    await registry.resolve('prod');
    api.removeAll();
    advance(10_000);
    await rejects(registry.resolve('prod'), 'DESTINATION_UNKNOWN', /'prod' is not registered/);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(built[0]?.closed, true);
    registry.close();
  });

  it('names the Secret and the problem of a malformed kubeconfig, and tries again when the Secret changes', async () => {
    const api = new FakeApi();
    api.put('cluster-prod', {
      name: 'prod',
      kubeconfig: kubeconfig('https://prod:6443', 'secret-token', { exec: { command: 'sh' } }),
    });
    const { registry, built, advance } = setup(api);
    const problem =
      /the kubeconfig of Secret\/capstan-system\/cluster-prod \(key kubeconfig\) is not usable: users\[0\]\.user\.exec is refused/;
    await rejects(registry.resolve('prod'), 'CLUSTER_KUBECONFIG_INVALID', problem);
    await rejects(registry.resolve('prod'), 'CLUSTER_KUBECONFIG_INVALID', problem);
    assert.equal(built.length, 0);
    api.put('cluster-prod', { name: 'prod', kubeconfig: kubeconfig('https://prod:6443', 'fixed') });
    advance(10_000);
    assert.equal((await registry.resolve('prod')).name, 'prod');
    registry.close();
  });

  it('refuses a name registered twice, naming both Secrets', async () => {
    const api = new FakeApi();
    api.put('a', { name: 'prod', kubeconfig: kubeconfig('https://a:6443', 't') });
    api.put('b', { name: 'prod', kubeconfig: kubeconfig('https://b:6443', 't') });
    const { registry } = setup(api);
    await rejects(
      registry.resolve('prod'),
      'CLUSTER_SECRET_DUPLICATE',
      /cluster 'prod' is registered by several Secrets \(Secret\/capstan-system\/a, Secret\/capstan-system\/b\)/,
    );
    registry.close();
  });

  it('re-lists after a failed list', async () => {
    const api = new FakeApi();
    const { registry } = setup(api);
    const cluster = api.cluster();
    api.fake.failLists = new Error('down');
    const failing = new ClusterRegistry({
      cluster,
      namespace: 'capstan-system',
      inCluster: {} as Destination,
      build: () => ({ destination: { name: 'prod' } as Destination, close: () => undefined }),
    });
    await assert.rejects(failing.resolve('prod'), /down/);
    api.fake.failLists = undefined;
    api.put('cluster-prod', { name: 'prod', kubeconfig: kubeconfig('https://prod:6443', 't') });
    assert.equal((await failing.resolve('prod')).name, 'prod');
    failing.close();
    registry.close();
  });
});
