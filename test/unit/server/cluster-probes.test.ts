import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClusterProbes } from '../../../src/server/cluster-probes.ts';

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
