import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateApplication } from '../../../src/contracts/application.ts';
import type { KubeObject } from '../../../src/core/resource.ts';
import { ValidatedApplications } from '../../../src/controller/validated-applications.ts';

function application(version: string | undefined, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Application',
    metadata: {
      name: 'web',
      namespace: 'team-a',
      ...(version === undefined ? {} : { resourceVersion: version }),
    },
    spec,
  };
}

const valid = { source: { repoURL: 'https://git.example.com/team/config.git' } };
const invalid = { source: { repoURL: 'https://git.example.com/team/config.git' }, interval: 'soon' };

describe('ValidatedApplications', () => {
  it('answers as validateApplication does, for valid and invalid objects', () => {
    const validated = new ValidatedApplications();
    for (const object of [application('1', valid), application('2', invalid), application(undefined, valid)])
      assert.deepEqual(validated.validate(object), validateApplication(object));
  });

  it('checks a version once: the same resourceVersion is the same object, answered as it is', () => {
    const validated = new ValidatedApplications();
    const first = application('7', valid);
    assert.equal(validated.validate(first).ok, true);
    assert.equal(validated.size, 1);
    // The same version again is not checked again: even a spec that would now fail (which the API
    // server never serves under one version) is answered valid, and the value is the object itself.
    const again = application('7', invalid);
    const answer = validated.validate(again);
    assert.ok(answer.ok);
    assert.equal(answer.value, again);
    // A new version is checked.
    const changed = validated.validate(application('8', invalid));
    assert.ok(!changed.ok);
    assert.match(changed.errors.join('\n'), /spec\.interval/);
    assert.equal(validated.size, 0);
  });

  it('does not remember what validation would change, or what has no version', () => {
    const validated = new ValidatedApplications();
    // A null is dropped by validation: the value differs from the object, so the object is not kept.
    const withNull = application('3', { ...valid, destination: null });
    const answer = validated.validate(withNull);
    assert.ok(answer.ok);
    assert.notEqual(answer.value, withNull);
    assert.equal(validated.size, 0);
    assert.equal(validated.validate(application(undefined, valid)).ok, true);
    assert.equal(validated.validate(application('', valid)).ok, true);
    assert.equal(validated.size, 0);
  });

  it('forgets a deleted Application, so that a new one under its name is checked', () => {
    const validated = new ValidatedApplications();
    validated.validate(application('5', valid));
    validated.forget('team-a', 'web');
    assert.equal(validated.size, 0);
    assert.equal(validated.validate(application('5', invalid)).ok, false);
  });
});
