import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { leaseExpired } from '../../../src/testing/install-lock.ts';

const lease = (renewed: string | undefined, seconds: number): k8s.V1Lease => ({
  metadata: { name: 'capstan-install-test', namespace: 'default' },
  spec: {
    holderIdentity: 'capstan-abc123',
    leaseDurationSeconds: seconds,
    ...(renewed === undefined ? {} : { renewTime: new k8s.V1MicroTime(renewed) }),
  },
});

describe('the install lock of node tests', () => {
  it('holds while its holder renews it within its duration', () => {
    const now = new Date('2026-12-06T23:00:00Z');
    assert.equal(leaseExpired(lease('2026-12-06T22:59:00Z', 90), now), false);
    assert.equal(leaseExpired(lease('2026-12-06T22:58:30Z', 90), now), false);
  });

  it('expires when its holder did not renew it (a run that died), or never said when', () => {
    const now = new Date('2026-12-06T23:00:00Z');
    assert.equal(leaseExpired(lease('2026-12-06T22:58:29Z', 90), now), true);
    assert.equal(leaseExpired(lease(undefined, 90), now), true);
  });
});
