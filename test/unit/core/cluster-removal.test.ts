import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applicationsDeployingTo, clusterRemovalRefusal } from '../../../src/core/cluster-secret.ts';
import type { KubeObject } from '../../../src/core/resource.ts';

const app = (namespace: string, name: string, cluster?: string): KubeObject => ({
  apiVersion: 'capstan.dev/v1alpha1',
  kind: 'Application',
  metadata: { namespace, name },
  spec: { destination: cluster === undefined ? {} : { cluster } },
});

describe('applicationsDeployingTo', () => {
  it('names the Applications whose destination is the cluster, sorted', () => {
    const apps = [app('b', 'web', 'prod'), app('a', 'api', 'prod'), app('a', 'x', 'staging'), app('a', 'y')];
    assert.deepEqual(applicationsDeployingTo(apps, 'prod'), ['a/api', 'b/web']);
    assert.deepEqual(applicationsDeployingTo(apps, 'other'), []);
  });
});

describe('clusterRemovalRefusal (the cluster-in-use rule)', () => {
  const cases: [
    string,
    Parameters<typeof clusterRemovalRefusal>[1],
    string | undefined,
    RegExp | undefined,
  ][] = [
    ['no Application deploys there: it may go', { users: [] }, undefined, undefined],
    [
      'Applications deploy there',
      { users: ['a/api', 'b/web'] },
      'CLUSTER_IN_USE',
      /2 Application\(s\): a\/api, b\/web; /,
    ],
    [
      'more than five: five named and a count',
      { users: ['a/1', 'a/2', 'a/3', 'a/4', 'a/5', 'a/6', 'a/7'] },
      'CLUSTER_IN_USE',
      /a\/1, a\/2, a\/3, a\/4, a\/5, and 2 more;/,
    ],
    [
      'unknown (the list was refused)',
      { unknown: 'GET /apis/capstan.dev/v1alpha1/applications answered HTTP 403' },
      'CLUSTER_USERS_UNKNOWN',
      /cannot tell .* HTTP 403; .*--force/,
    ],
  ];
  for (const [name, found, code, message] of cases)
    it(name, () => {
      const refusal = clusterRemovalRefusal('prod', found);
      assert.equal(refusal?.code, code);
      if (message) assert.match(refusal?.message ?? '', message);
      if (refusal) assert.equal(refusal.subject, 'cluster/prod');
    });
});
