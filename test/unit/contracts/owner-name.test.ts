import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applicationOwner,
  applicationOwnerName,
  legacyOwnerName,
  requestTime,
} from '../../../src/contracts/application.ts';
import { validateApplicationName } from '../../../src/adapters/kube/inventory-store.ts';

describe('the ownership name of an Application', () => {
  it('is namespace and name, readable, then a hash of namespace/name', () => {
    assert.match(applicationOwnerName('team-a', 'web'), /^team-a-web-[0-9a-f]{12}$/);
  });

  it('is one-to-one where the legacy name was not', () => {
    const pairs: [[string, string], [string, string]][] = [
      [
        ['a', 'b-c'],
        ['a-b', 'c'],
      ],
      [
        ['team-a', 'web.prod'],
        ['team-a', 'web-prod'],
      ],
    ];
    for (const [[ns1, n1], [ns2, n2]] of pairs) {
      assert.equal(legacyOwnerName(ns1, n1), legacyOwnerName(ns2, n2), 'the legacy names collide');
      assert.notEqual(applicationOwnerName(ns1, n1), applicationOwnerName(ns2, n2));
    }
  });

  it('keeps the legacy naming of the previous release, for taking its objects over', () => {
    assert.equal(legacyOwnerName('team-a', 'web'), 'team-a-web');
    assert.equal(legacyOwnerName('team-a', 'web.prod'), 'team-a-web-prod');
    assert.deepEqual(applicationOwner('team-a', 'web'), {
      application: applicationOwnerName('team-a', 'web'),
      ownerRef: { namespace: 'team-a', name: 'web' },
      legacyOwners: ['team-a-web'],
    });
  });

  it('is a valid name for names of every length', () => {
    const long = 'x'.repeat(63);
    for (const [namespace, name] of [
      [long, 'y'.repeat(253)],
      ['a', 'b'],
      [long, 'web.prod.eu'],
    ] as const) {
      const owner = applicationOwnerName(namespace, name);
      assert.ok(owner.length <= 45, owner);
      assert.doesNotThrow(() => {
        validateApplicationName(owner);
      });
    }
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
