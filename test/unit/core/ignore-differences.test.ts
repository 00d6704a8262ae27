import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pointerSegments, ruleMatches, withoutIgnoredFields } from '../../../src/core/ignore-differences.ts';
import type { KubeObject, ResourceId } from '../../../src/core/resource.ts';

const id: ResourceId = { group: 'apps', kind: 'Deployment', namespace: 'web', name: 'api' };
const deployment: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'api', namespace: 'web', annotations: { 'a/b': 'x' } },
  spec: { replicas: 3, template: { spec: { containers: [{ name: 'api', image: 'api:1' }] } } },
};

describe('ignoreDifferences (JSON pointers)', () => {
  it('matches by group, kind, and name and namespace when given', () => {
    assert.equal(ruleMatches({ group: 'apps', kind: 'Deployment' }, id), true);
    assert.equal(ruleMatches({ kind: 'Deployment' }, id), false, "no group is the core group ''");
    assert.equal(ruleMatches({ group: 'apps', kind: 'Deployment', name: 'other' }, id), false);
    assert.equal(ruleMatches({ group: 'apps', kind: 'Deployment', namespace: 'web', name: 'api' }, id), true);
  });

  it('leaves the named fields out of a copy; the input, other objects and missing paths are untouched', () => {
    const rules = [
      {
        group: 'apps',
        kind: 'Deployment',
        jsonPointers: ['/spec/replicas', '/spec/template/spec/containers/0/image'],
      },
      {
        group: 'apps',
        kind: 'Deployment',
        jsonPointers: ['/metadata/annotations/a~1b', '/spec/nothing/here'],
      },
    ];
    const applied = withoutIgnoredFields(deployment, id, rules);
    assert.deepEqual(applied, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'api', namespace: 'web', annotations: {} },
      spec: { template: { spec: { containers: [{ name: 'api' }] } } },
    });
    assert.equal((deployment['spec'] as { replicas: number }).replicas, 3, 'the input is not changed');
    const onlyApi = [{ group: 'apps', kind: 'Deployment', name: 'api', jsonPointers: ['/spec/replicas'] }];
    assert.equal(withoutIgnoredFields(deployment, { ...id, name: 'other' }, onlyApi), deployment);
    assert.deepEqual(pointerSegments('/a~1b/c~0d'), ['a/b', 'c~d']);
  });

  it("never removes an object's name or namespace", () => {
    const rules = [
      { group: 'apps', kind: 'Deployment', jsonPointers: ['/metadata/name', '/metadata/namespace'] },
    ];
    assert.deepEqual(withoutIgnoredFields(deployment, id, rules).metadata, deployment.metadata);
  });
});
