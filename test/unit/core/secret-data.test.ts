import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clusterRegistration } from '../../../src/core/cluster-secret.ts';
import { CapstanError } from '../../../src/core/errors.ts';
import { secretBytes, secretSubject, secretText } from '../../../src/core/secret-data.ts';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const secret = (data: unknown) => ({ metadata: { name: 'git', namespace: 'team-a' }, data });

describe('secret data', () => {
  it('decodes a key as UTF-8 text or bytes; undefined without the key or without data', () => {
    const s = secret({
      password: b64('pässwörd'),
      key: Buffer.from([0, 255, 1]).toString('base64'),
      empty: '',
    });
    assert.equal(secretText(s, 'password'), 'pässwörd');
    assert.deepEqual(secretBytes(s, 'key'), Buffer.from([0, 255, 1]));
    assert.equal(secretText(s, 'empty'), '');
    assert.equal(secretText(s, 'missing'), undefined);
    assert.equal(secretText({ metadata: {} }, 'password'), undefined);
    assert.equal(secretText(undefined, 'password'), undefined);
    assert.equal(secretSubject(s), 'Secret/team-a/git');
  });

  it('refuses a value that is not base64, naming the Secret and the key', () => {
    for (const value of ['plain text!', 'abc', 42, 'YWJj\n']) {
      assert.throws(
        () => secretText(secret({ password: value }), 'password'),
        (error: unknown) =>
          error instanceof CapstanError &&
          error.code === 'SECRET_DATA_INVALID' &&
          error.subject === 'Secret/team-a/git' &&
          error.message.includes("key 'password'"),
      );
    }
    assert.throws(() => secretText(secret('nope'), 'password'), /Secret\/team-a\/git: its data is not a map/);
    assert.throws(
      () => secretText(secret({ p: '!' }), 'p', 'Secret/x/y (spec.source.secretRef)'),
      /^.*Secret\/x\/y \(spec/,
    );
  });

  it('a cluster Secret with a value that is not base64 is reported, not thrown', () => {
    const found = clusterRegistration({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'prod', namespace: 'capstan-system' },
      data: { kubeconfig: 'not base64!' },
    });
    assert.ok('problem' in found);
    assert.match(found.problem, /Secret\/capstan-system\/prod: the value of key 'kubeconfig' is not base64/);
  });
});
