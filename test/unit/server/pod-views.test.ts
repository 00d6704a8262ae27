// The Pods of an Application (by owner references) and the checks before a log is read, on the
// in-memory reader; test/integration/server-pod-logs.test.ts runs them against a real cluster.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  type Application,
} from '../../../src/contracts/application.ts';
import type { KubeObject } from '../../../src/core/resource.ts';
import { childrenOf, logTargetOf, MAX_TAIL_LINES } from '../../../src/server/pod-views.ts';
import { FakeResourceReader } from '../../../src/testing/fake-resource-reader.ts';

const NS = 'shop';
const app = {
  apiVersion: APPLICATION_API_VERSION,
  kind: APPLICATION_KIND,
  metadata: { name: 'shop', namespace: NS },
  spec: { source: { repoURL: 'https://git.example/shop.git', path: '.' } },
  status: {
    resources: [
      { group: 'apps', kind: 'Deployment', namespace: NS, name: 'web' },
      { group: 'batch', kind: 'CronJob', namespace: NS, name: 'nightly' },
    ],
  },
} as unknown as Application;

const owned = (
  apiVersion: string,
  kind: string,
  name: string,
  owner?: [string, string, string],
): KubeObject => ({
  apiVersion,
  kind,
  metadata: {
    name,
    namespace: NS,
    ...(owner
      ? {
          ownerReferences: [
            {
              apiVersion: owner[0],
              kind: owner[1],
              name: owner[2],
              uid: `uid-${owner[2]}`,
              controller: true,
            },
          ],
        }
      : {}),
  },
});
const pod = (
  name: string,
  owner: [string, string, string] | undefined,
  spec: Record<string, unknown>,
): KubeObject => ({
  ...owned('v1', 'Pod', name, owner),
  spec,
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
});
const node = (name: string, kwok: boolean): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, ...(kwok ? { annotations: { 'kwok.x-k8s.io/node': 'fake' } } : {}) },
});

function cluster(): FakeResourceReader {
  const reader = new FakeResourceReader();
  reader.setLive(owned('apps/v1', 'ReplicaSet', 'web-1', ['apps/v1', 'Deployment', 'web']));
  reader.setLive(
    pod('web-1-a', ['apps/v1', 'ReplicaSet', 'web-1'], { nodeName: 'real', containers: [{ name: 'web' }] }),
  );
  reader.setLive(
    pod('web-1-b', ['apps/v1', 'ReplicaSet', 'web-1'], { nodeName: 'kwok-0', containers: [{ name: 'web' }] }),
  );
  reader.setLive(pod('web-1-c', ['apps/v1', 'ReplicaSet', 'web-1'], { containers: [{ name: 'web' }] }));
  reader.setLive(
    pod('two', ['apps/v1', 'ReplicaSet', 'web-1'], {
      nodeName: 'real',
      containers: [{ name: 'app' }, { name: 'proxy' }],
    }),
  );
  reader.setLive(owned('batch/v1', 'Job', 'nightly-1', ['batch/v1', 'CronJob', 'nightly']));
  reader.setLive(
    pod('nightly-1-x', ['batch/v1', 'Job', 'nightly-1'], { nodeName: 'real', containers: [{ name: 'run' }] }),
  );
  reader.setLive(owned('apps/v1', 'ReplicaSet', 'other-1', ['apps/v1', 'Deployment', 'other']));
  reader.setLive(pod('stray', undefined, { nodeName: 'real', containers: [{ name: 'main' }] }));
  reader.setLive(node('real', false));
  reader.setLive(node('kwok-0', true));
  return reader;
}

describe('childrenOf', () => {
  it('follows owner references down from the managed workloads only, each with its owner and health', async () => {
    const nodes = await childrenOf(cluster(), app);
    const byId = Object.fromEntries(nodes.map((n) => [n.id, n.parents]));
    assert.deepEqual(byId, {
      [`ReplicaSet/${NS}/web-1`]: [`Deployment/${NS}/web`],
      [`Job/${NS}/nightly-1`]: [`CronJob/${NS}/nightly`],
      [`Pod/${NS}/web-1-a`]: [`ReplicaSet/${NS}/web-1`],
      [`Pod/${NS}/web-1-b`]: [`ReplicaSet/${NS}/web-1`],
      [`Pod/${NS}/web-1-c`]: [`ReplicaSet/${NS}/web-1`],
      [`Pod/${NS}/two`]: [`ReplicaSet/${NS}/web-1`],
      [`Pod/${NS}/nightly-1-x`]: [`Job/${NS}/nightly-1`],
    });
    assert.equal(nodes.find((n) => n.name === 'web-1-a')?.health, 'Healthy');
  });
});

describe('logTargetOf', () => {
  const query = (name: string, extra: Record<string, string> = {}) => ({ namespace: NS, name, ...extra });

  it('reads the only container of a Pod its workloads own, on a real node, with a bounded tail', async () => {
    const reader = cluster();
    assert.deepEqual(await logTargetOf(reader, app, query('web-1-a')), {
      pod: { group: '', kind: 'Pod', namespace: NS, name: 'web-1-a' },
      container: 'web',
      tailLines: 500,
    });
    const long = await logTargetOf(reader, app, query('nightly-1-x', { tailLines: '99999' }));
    assert.equal(long.tailLines, MAX_TAIL_LINES);
  });

  it('refuses with a stable code and says why', async () => {
    const reader = cluster();
    const refused = async (name: string, extra: Record<string, string> = {}) =>
      logTargetOf(reader, app, query(name, extra)).then(
        () => assert.fail(`${name} was accepted`),
        (error: unknown) => error as { code: string; message: string },
      );
    const kwok = await refused('web-1-b');
    assert.equal(kwok.code, 'POD_NOT_ON_REAL_NODE');
    assert.match(kwok.message, /node 'kwok-0' is not a real node/);
    assert.match((await refused('web-1-c')).message, /not scheduled on a node yet/);
    assert.equal((await refused('stray')).code, 'RESOURCE_NOT_MANAGED');
    assert.equal((await refused('gone')).code, 'KUBE_NOT_FOUND');
    const several = await refused('two');
    assert.equal(several.code, 'POD_CONTAINER_INVALID');
    assert.match(several.message, /has several containers: name one \(container=app \| proxy\)/);
    assert.match((await refused('two', { container: 'db' })).message, /has no container 'db'/);
    assert.equal((await logTargetOf(reader, app, query('two', { container: 'proxy' }))).container, 'proxy');
  });
});
