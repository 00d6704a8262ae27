import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applicationOwnerName } from '../../../src/contracts/application.ts';
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
