import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateApplication } from '../../../src/contracts/application.ts';
import type { KubeObject } from '../../../src/core/resource.ts';
import { ValidatedApplications } from '../../../src/controller/validated-applications.ts';

function application(
  version: string | undefined,
  spec: Record<string, unknown>,
  meta: { uid?: string; generation?: number } = {},
): KubeObject {
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Application',
    metadata: {
      name: 'web',
      namespace: 'team-a',
      ...(version === undefined ? {} : { resourceVersion: version }),
      ...meta,
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

  it('answers the version its own status write made without the schema, while uid and generation hold', () => {
    const told: string[] = [];
    const validated = new ValidatedApplications((by) => told.push(by));
    const meta = { uid: 'u-1', generation: 3 };
    assert.equal(validated.validate(application('10', valid, meta)).ok, true);
    validated.wrote('team-a', 'web', '10', '11');
    // Version 11 is not checked against the schema: a spec that would fail (which the API server never
    // serves under an unchanged generation) is answered valid, as the object itself.
    const written = application('11', invalid, meta);
    const answer = validated.validate(written);
    assert.ok(answer.ok);
    assert.equal(answer.value, written);
    // And it is now the version remembered.
    assert.equal(validated.validate(application('11', invalid, meta)).ok, true);
    // The next version nobody announced is checked.
    assert.equal(validated.validate(application('12', invalid, meta)).ok, false);
    assert.deepEqual(told, ['schema', 'remembered', 'remembered', 'schema']);
  });

  it('checks a written version whose spec moved, or that is another object, or holds a null', () => {
    const meta = { uid: 'u-1', generation: 3 };
    const cases: [string, KubeObject][] = [
      // Someone changed the spec between the read and the status write: the generation moved.
      ['generation moved', application('11', invalid, { uid: 'u-1', generation: 4 })],
      // Deleted and created again under the name: another uid.
      ['another uid', application('11', invalid, { uid: 'u-2', generation: 3 })],
      // No generation to compare.
      ['no generation', application('11', invalid, { uid: 'u-1' })],
    ];
    for (const [what, object] of cases) {
      const validated = new ValidatedApplications();
      validated.validate(application('10', valid, meta));
      validated.wrote('team-a', 'web', '10', '11');
      assert.equal(validated.validate(object).ok, false, what);
    }
    const validated = new ValidatedApplications();
    validated.validate(application('10', valid, meta));
    validated.wrote('team-a', 'web', '10', '11');
    const withNull = application('11', { ...valid, destination: null }, meta);
    const answer = validated.validate(withNull);
    assert.ok(answer.ok);
    assert.notEqual(answer.value, withNull, 'validated: the null is dropped from the value');
  });

  it('ignores a write from a version it did not find valid, or that answered no version', () => {
    const meta = { uid: 'u-1', generation: 3 };
    const validated = new ValidatedApplications();
    validated.wrote('team-a', 'web', '10', '11');
    assert.equal(validated.size, 0);
    validated.validate(application('10', valid, meta));
    validated.wrote('team-a', 'web', '9', '11');
    assert.equal(validated.validate(application('11', invalid, meta)).ok, false);
    validated.validate(application('12', valid, meta));
    validated.wrote('team-a', 'web', '12', undefined);
    assert.equal(validated.validate(application('13', invalid, meta)).ok, false);
  });
});
