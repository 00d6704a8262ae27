import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CapabilitiesCache } from '../../../src/controller/capabilities-cache.ts';
import type { ClusterInfo } from '../../../src/ports/cluster.ts';

/** A cluster's info() as discovery answers it; records whether each read asked for a refresh. */
function cluster(info: () => ClusterInfo) {
  const reads: boolean[] = [];
  let failing = false;
  return {
    reads,
    fail(on: boolean) {
      failing = on;
    },
    info(options: { refresh?: boolean } = {}): Promise<ClusterInfo> {
      reads.push(options.refresh === true);
      return failing ? Promise.reject(new Error('discovery refused')) : Promise.resolve(info());
    },
  };
}

describe('capabilities cache', () => {
  it('reads a destination once per ttl, then again with discovery refreshed (an upgrade is seen)', async () => {
    let now = 0;
    let gitVersion = 'v1.36.3';
    const served = cluster(() => ({ gitVersion, apiVersions: ['v1', 'apps/v1'] }));
    const cache = new CapabilitiesCache({ ttlMs: 1000, now: () => now });
    assert.deepEqual(await cache.get('in-cluster', served), {
      kubeVersion: 'v1.36.3',
      apiVersions: ['v1', 'apps/v1'],
    });
    now = 999;
    await cache.get('in-cluster', served);
    assert.deepEqual(served.reads, [false]);
    gitVersion = 'v1.37.0';
    now = 1000;
    assert.equal((await cache.get('in-cluster', served)).kubeVersion, 'v1.37.0');
    assert.deepEqual(served.reads, [false, true]);
  });

  it('keeps each destination apart and never keeps a failed read', async () => {
    const a = cluster(() => ({ gitVersion: 'v1.36.3', apiVersions: [] }));
    const b = cluster(() => ({ gitVersion: 'v1.35.0', apiVersions: [] }));
    const cache = new CapabilitiesCache();
    b.fail(true);
    await assert.rejects(cache.get('b', b), /discovery refused/);
    b.fail(false);
    assert.equal((await cache.get('b', b)).kubeVersion, 'v1.35.0');
    assert.equal((await cache.get('a', a)).kubeVersion, 'v1.36.3');
    assert.equal(b.reads.length, 2);
  });
});
