import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffObjects, normalizeForCompare, sameState } from '../../../src/core/diff.ts';
import { canonicalJson, renderDigest } from '../../../src/core/digest.ts';
import type { KubeObject } from '../../../src/core/resource.ts';
import { summarise } from '../../../src/core/sync-result.ts';

const live: KubeObject = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: {
    name: 'c',
    namespace: 'n',
    uid: 'u',
    resourceVersion: '7',
    generation: 1,
    creationTimestamp: 't',
    managedFields: [{}],
  },
  data: { a: '1' },
  status: { anything: true },
};

describe('comparison and diff', () => {
  it('ignores status and server-set metadata', () => {
    const desired: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'n' },
      data: { a: '1' },
    };
    assert.equal(sameState(live, desired), true);
    assert.deepEqual(Object.keys(normalizeForCompare(live).metadata), ['name', 'namespace']);
    assert.deepEqual(
      diffObjects({ group: '', kind: 'ConfigMap', namespace: 'n', name: 'c' }, live, desired),
      { changed: false, unified: '' },
    );
  });

  it('shows a change as a unified diff named Kind/namespace/name', () => {
    const desired: KubeObject = { ...live, data: { a: '2' } };
    const diff = diffObjects({ group: '', kind: 'ConfigMap', namespace: 'n', name: 'c' }, live, desired);
    assert.equal(diff.changed, true);
    assert.match(diff.unified, /--- live\/ConfigMap\/n\/c\n\+\+\+ desired\/ConfigMap\/n\/c/);
    assert.match(diff.unified, /^- {2}a: "1"$/m);
    assert.match(diff.unified, /^\+ {2}a: "2"$/m);
  });

  it('never shows the values of a Secret', () => {
    const secret = (data: Record<string, string>): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      data,
    });
    const diff = diffObjects(
      { group: '', kind: 'Secret', namespace: '', name: 's' },
      secret({ user: 'YWRtaW4=', pass: 'aHVudGVyMg==' }),
      secret({ user: 'YWRtaW4=', pass: 'c2VjcmV0' }),
    );
    assert.equal(diff.changed, true);
    assert.doesNotMatch(diff.unified, /aHVudGVyMg|c2VjcmV0|YWRtaW4/);
    assert.match(diff.unified, /pass: "\*\*\* \(old value\)"/);
    assert.match(diff.unified, /pass: "\*\*\* \(new value\)"/);
    assert.match(diff.unified, / {2}user: "\*\*\* \(unchanged\)"/);
  });

  it("never shows a Secret's last-applied-configuration annotation (kubectl apply copies the values there)", () => {
    const lastApplied = 'kubectl.kubernetes.io/last-applied-configuration';
    const secret = (password: string, annotations: Record<string, string>): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 's',
        annotations: {
          owner: 'team-a',
          [lastApplied]: JSON.stringify({ kind: 'Secret', stringData: { password } }),
          ...annotations,
        },
      },
      data: { password: Buffer.from(password).toString('base64') },
    });
    const id = { group: '', kind: 'Secret', namespace: 'a', name: 's' };
    const diff = diffObjects(id, secret('hunter2', {}), secret('s3cret', { owner: 'team-b' }));
    assert.doesNotMatch(diff.unified, /hunter2|s3cret|aHVudGVyMg|czNjcmV0/);
    assert.match(
      diff.unified,
      /^- {4}kubectl\.kubernetes\.io\/last-applied-configuration: "\*\*\* \(old value\)"$/m,
    );
    assert.match(
      diff.unified,
      /^\+ {4}kubectl\.kubernetes\.io\/last-applied-configuration: "\*\*\* \(new value\)"$/m,
    );
    assert.match(diff.unified, /^\+ {4}owner: team-b$/m, 'other annotations are shown');
    // Unchanged, it is still hidden; on other kinds it is shown.
    const same = diffObjects(id, secret('hunter2', {}), secret('hunter2', { owner: 'team-b' }));
    assert.match(
      same.unified,
      /^ {5}kubectl\.kubernetes\.io\/last-applied-configuration: "\*\*\* \(unchanged\)"$/m,
    );
    assert.doesNotMatch(same.unified, /hunter2/);
  });
});

describe('render digest', () => {
  it('does not depend on the order of objects or keys', () => {
    const a: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'a' },
      data: { x: '1', y: '2' },
    };
    const b: KubeObject = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'b' } };
    const aReordered: KubeObject = {
      metadata: { name: 'a' },
      data: { y: '2', x: '1' },
      kind: 'ConfigMap',
      apiVersion: 'v1',
    };
    assert.equal(renderDigest([a, b]), renderDigest([b, aReordered]));
    assert.notEqual(renderDigest([a, b]), renderDigest([a]));
    assert.match(renderDigest([]), /^sha256:[0-9a-f]{64}$/);
    assert.equal(canonicalJson({ b: 1, a: [2, { d: undefined, c: null }] }), '{"a":[2,{"c":null}],"b":1}');
  });
});

describe('sync summary', () => {
  it('counts actions, leaving out zeros', () => {
    const id = { group: '', kind: 'ConfigMap', namespace: 'n', name: 'c' };
    assert.equal(summarise([]), 'nothing to do');
    assert.equal(
      summarise([
        { id, wave: 0, action: 'created', message: '' },
        { id, wave: 0, action: 'unchanged', message: '' },
        { id, wave: 0, action: 'unchanged', message: '' },
      ]),
      '1 created, 2 unchanged',
    );
  });
});
