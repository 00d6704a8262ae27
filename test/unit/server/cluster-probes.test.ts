import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clusterLister, ClusterProbes } from '../../../src/server/cluster-probes.ts';

describe('ClusterProbes', () => {
  it('answers the version and keeps it for a minute, sharing a probe in flight', async () => {
    let clock = Date.parse('2026-03-01T00:00:00Z');
    const asked: string[] = [];
    const probes = new ClusterProbes({
      version: (cluster) => {
        asked.push(cluster);
        return Promise.resolve(`v1.33.${String(asked.length)}`);
      },
      now: () => clock,
    });
    const [first, same] = await Promise.all([probes.connection('prod'), probes.connection('prod')]);
    assert.deepEqual(first, {
      connection: 'connected',
      version: 'v1.33.1',
      checkedAt: '2026-03-01T00:00:00.000Z',
    });
    assert.equal(same, first);
    clock += 59_000;
    assert.equal((await probes.connection('prod')).version, 'v1.33.1');
    clock += 2000;
    assert.equal((await probes.connection('prod')).version, 'v1.33.2');
    assert.deepEqual(asked, ['prod', 'prod']);
  });

  it('says unreachable with the reason when the probe fails or does not answer in time', async () => {
    const probes = new ClusterProbes({
      version: (cluster) =>
        cluster === 'down'
          ? Promise.reject(new Error('connect ECONNREFUSED 10.0.0.1:6443'))
          : new Promise<string>(() => undefined),
      timeoutMs: 20,
    });
    const down = await probes.connection('down');
    assert.equal(down.connection, 'unreachable');
    assert.equal(down.connectionError, 'connect ECONNREFUSED 10.0.0.1:6443');
    assert.equal(down.version, undefined);
    const silent = await probes.connection('silent');
    assert.equal(silent.connection, 'unreachable');
    assert.equal(silent.connectionError, 'no answer to GET /version within 20 ms');
  });

  it('forgets a cluster whose registration is gone', async () => {
    let calls = 0;
    const probes = new ClusterProbes({
      version: () => {
        calls++;
        return Promise.resolve('v1.33.0');
      },
    });
    await probes.connection('old');
    probes.keepOnly(['new']);
    await probes.connection('old');
    assert.equal(calls, 2);
  });
});

describe('clusterLister', () => {
  it('lists in-cluster first, probes each usable cluster, and leaves one with a problem unprobed', async () => {
    const asked: string[] = [];
    const list = clusterLister(
      () =>
        Promise.resolve([
          { name: 'broken', secret: 'Secret/capstan-system/broken', problem: 'no server in the kubeconfig' },
          { name: 'prod', server: 'https://10.0.0.1:6443', secret: 'Secret/capstan-system/prod' },
        ]),
      new ClusterProbes({
        version: (cluster) => {
          asked.push(cluster);
          return Promise.resolve('v1.33.1');
        },
        now: () => Date.parse('2026-03-01T00:00:00Z'),
      }),
    );
    const connected = { connection: 'connected', version: 'v1.33.1', checkedAt: '2026-03-01T00:00:00.000Z' };
    assert.deepEqual(await list(), [
      { name: 'in-cluster', ...connected },
      { name: 'broken', secret: 'Secret/capstan-system/broken', problem: 'no server in the kubeconfig' },
      { name: 'prod', server: 'https://10.0.0.1:6443', secret: 'Secret/capstan-system/prod', ...connected },
    ]);
    assert.deepEqual(asked, ['in-cluster', 'prod']);
  });

  it('probes a cluster again once its registration was gone in between', async () => {
    let registered = ['prod'];
    const asked: string[] = [];
    const list = clusterLister(
      () => Promise.resolve(registered.map((name) => ({ name, secret: `Secret/capstan-system/${name}` }))),
      new ClusterProbes({
        version: (cluster) => {
          asked.push(cluster);
          return Promise.resolve('v1.33.1');
        },
      }),
    );
    await list();
    await list();
    registered = [];
    await list();
    registered = ['prod'];
    await list();
    assert.deepEqual(asked, ['in-cluster', 'prod', 'prod']);
  });
});
