import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BUILT_IN_ROLES,
  PROJECT_DEFAULTS,
  actionsOf,
  defaultProject,
  projectCrd,
  resolveProject,
  roleActions,
  validateProject,
} from '../../../src/contracts/project.ts';

function project(spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'capstan.dev/v1alpha1', kind: 'Project', metadata: { name: 'team-a' }, spec };
}

const full = {
  description: 'Team A',
  applicationNamespaces: ['team-a', 'team-a-*'],
  sourceRepos: ['https://git.example.com/team-a/**'],
  destinations: [
    { cluster: 'in-cluster', namespace: 'team-a-*', serviceAccount: { name: 'deployer' } },
    { cluster: 'prod-*', namespace: 'team-a', serviceAccount: { name: 'deployer', namespace: 'team-a' } },
  ],
  clusterResources: [{ group: 'rbac.authorization.k8s.io', kind: 'ClusterRole' }],
  deniedNamespacedResources: [
    { group: '', kind: 'ResourceQuota' },
    { group: '*', kind: '*' },
  ],
  allowAdoption: true,
  allowForceConflicts: false,
  dependencies: [{ namespace: 'platform', name: '*' }],
  roles: [
    { name: 'viewer', groups: ['team-a-readers'] },
    { name: 'deployer', users: ['alice'], groups: ['team-a'] },
    { name: 'admin', users: ['bob'] },
    { name: 'releaser', actions: ['view', 'sync'], users: ['carol'] },
  ],
};

describe('validateProject', () => {
  it('takes every field', () => {
    const result = validateProject(project(full));
    assert.ok(result.ok, result.ok ? '' : result.errors.join('; '));
  });

  it('takes the smallest Project: namespaces and destinations', () => {
    assert.ok(validateProject(project({ applicationNamespaces: ['a'], destinations: [] })).ok);
  });

  for (const [what, spec, error] of [
    ['no applicationNamespaces', { destinations: [] }, /spec.applicationNamespaces: required/],
    [
      'a destination without namespace',
      { applicationNamespaces: ['a'], destinations: [{ cluster: 'x' }] },
      /spec.destinations\[0\].namespace: required/,
    ],
    [
      'an upper-case namespace pattern',
      { applicationNamespaces: ['Team'], destinations: [] },
      /spec.applicationNamespaces\[0\]/,
    ],
    ['a misspelt field', { applicationNamespaces: ['a'], destinations: [], allowAdopt: true }, /allowAdopt/],
    [
      'a kind by version',
      {
        applicationNamespaces: ['a'],
        destinations: [],
        clusterResources: [{ group: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole' }],
      },
      /clusterResources\[0\].group/,
    ],
    [
      'a custom role without actions',
      { applicationNamespaces: ['a'], destinations: [], roles: [{ name: 'releaser', users: ['x'] }] },
      /lists its actions/,
    ],
    [
      'a built-in role with actions',
      { applicationNamespaces: ['a'], destinations: [], roles: [{ name: 'viewer', actions: ['sync'] }] },
      /lists its actions/,
    ],
    [
      'an unknown action',
      { applicationNamespaces: ['a'], destinations: [], roles: [{ name: 'x', actions: ['exec'] }] },
      /actions\[0\]/,
    ],
  ] as const) {
    it(`refuses ${what}, naming the field`, () => {
      const result = validateProject(project(spec));
      assert.ok(!result.ok, 'refused');
      assert.match(result.errors.join('; '), error);
    });
  }
});

describe('resolveProject and defaultProject', () => {
  it('fills in the documented defaults: nothing granted that was not written', () => {
    const result = validateProject(project({ applicationNamespaces: ['a'], destinations: [] }));
    assert.ok(result.ok);
    const resolved = resolveProject(result.value);
    assert.deepEqual(resolved.sourceRepos, PROJECT_DEFAULTS.sourceRepos);
    assert.deepEqual(resolved.clusterResources, []);
    assert.equal(resolved.allowAdoption, false);
    assert.equal(resolved.allowForceConflicts, false);
    assert.equal(resolved.dependencies, undefined);
  });

  it('gives an Application without a Project its own namespace on in-cluster, and nothing more', () => {
    const fallback = defaultProject('team-a');
    assert.equal(fallback.name, 'default');
    assert.deepEqual(fallback.destinations, [{ cluster: 'in-cluster', namespace: 'team-a' }]);
    assert.deepEqual(fallback.applicationNamespaces, ['team-a']);
    assert.deepEqual(fallback.clusterResources, []);
    assert.equal(fallback.allowAdoption, false);
    assert.equal(fallback.allowForceConflicts, false);
  });
});

describe('roles', () => {
  it('gives the built-in roles fixed actions, and custom roles theirs', () => {
    assert.deepEqual(roleActions({ name: 'viewer' }), ['view']);
    assert.deepEqual(roleActions({ name: 'deployer' }), BUILT_IN_ROLES.deployer);
    assert.deepEqual(roleActions({ name: 'releaser', actions: ['view', 'sync'] }), ['view', 'sync']);
    assert.deepEqual(roleActions({ name: 'toString' }), []);
  });

  it('unites the actions of every role naming the user or a group', () => {
    const result = validateProject(project(full));
    assert.ok(result.ok);
    const resolved = resolveProject(result.value);
    assert.deepEqual([...actionsOf(resolved, { user: 'carol', groups: ['team-a-readers'] })].sort(), [
      'sync',
      'view',
    ]);
    assert.deepEqual([...actionsOf(resolved, { user: 'alice', groups: [] })].sort(), [
      'refresh',
      'rollback',
      'sync',
      'view',
    ]);
    assert.equal(actionsOf(resolved, { user: 'bob', groups: [] }).has('delete'), true);
    assert.equal(actionsOf(resolved, { user: 'mallory', groups: ['team-b'] }).size, 0);
  });
});

describe('projectCrd', () => {
  it('is cluster-scoped, in capstan.dev, with the rule of roles in CEL', () => {
    const crd = projectCrd();
    const spec = crd['spec'] as { group: string; scope: string; names: { kind: string; plural: string } };
    assert.equal(spec.group, 'capstan.dev');
    assert.equal(spec.scope, 'Cluster');
    assert.equal(spec.names.kind, 'Project');
    assert.equal(crd.metadata.name, 'projects.capstan.dev');
    assert.match(JSON.stringify(crd), /x-kubernetes-validations/);
  });
});
