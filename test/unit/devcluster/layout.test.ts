import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clusterPaths, clustersRoot, validateClusterName } from '../../../src/devcluster/layout.ts';

describe('cluster folders', () => {
  it('puts every cluster in its own folder under the state root', () => {
    const root = clustersRoot({ CAPSTAN_STATE_DIR: '/var/tmp/capstan' });
    assert.equal(root, '/var/tmp/capstan/clusters');
    const paths = clusterPaths('dev', root);
    assert.equal(paths.root, '/var/tmp/capstan/clusters/dev');
    assert.equal(paths.state, '/var/tmp/capstan/clusters/dev/state.json');
    assert.equal(paths.adminKubeconfig, '/var/tmp/capstan/clusters/dev/kubeconfig/admin.kubeconfig');
    assert.notEqual(clusterPaths('other', root).root, paths.root);
  });

  it('follows XDG_STATE_HOME when CAPSTAN_STATE_DIR is not set', () => {
    assert.equal(clustersRoot({ XDG_STATE_HOME: '/s' }), '/s/capstan/clusters');
  });

  for (const [name, ok] of [
    ['dev', true],
    ['capstan-test-2', true],
    ['a', true],
    ['Dev', false],
    ['-dev', false],
    ['dev-', false],
    ['../etc', false],
    ['a/b', false],
    ['x'.repeat(41), false],
  ] as const) {
    it(`${ok ? 'accepts' : 'refuses'} the cluster name '${name.slice(0, 12)}'`, () => {
      const problem = validateClusterName(name);
      if (ok) assert.equal(problem, undefined);
      else assert.match(problem ?? '', /is not valid/);
    });
  }
});
