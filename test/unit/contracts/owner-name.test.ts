import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applicationOwnerName, requestTime } from '../../../src/contracts/application.ts';
import { validateApplicationName } from '../../../src/adapters/kube/inventory-store.ts';

describe('the ownership name of an Application', () => {
  it('is namespace and name as a DNS label', () => {
    assert.equal(applicationOwnerName('team-a', 'web'), 'team-a-web');
  });

  it('stays unique and valid for long names, which differ only at the end', () => {
    const a = applicationOwnerName('a-rather-long-namespace-name', 'application-number-one');
    const b = applicationOwnerName('a-rather-long-namespace-name', 'application-number-two');
    assert.notEqual(a, b);
    for (const name of [a, b]) {
      assert.ok(name.length <= 45, name);
      assert.doesNotThrow(() => {
        validateApplicationName(name);
      });
    }
  });
});

describe('requestTime', () => {
  it('reads milliseconds or seconds at the start of a request id, nothing else', () => {
    assert.equal(requestTime('1732812345678'), 1732812345678);
    assert.equal(requestTime('1732812345678-webhook-abc'), 1732812345678);
    assert.equal(requestTime('1732812345:3'), 1732812345000);
    assert.equal(requestTime('webhook-1732812345678'), undefined);
    assert.equal(requestTime('17328123456789'), undefined);
    assert.equal(requestTime('now'), undefined);
  });
});
