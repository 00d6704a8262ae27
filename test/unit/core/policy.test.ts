import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyingServiceAccount,
  checkAdoption,
  checkApplication,
  checkObjects,
  describeViolations,
  destinationFor,
  matchesPattern,
  type ApplicationFacts,
  type ProjectRules,
} from '../../../src/core/policy.ts';
import type { ResourceId } from '../../../src/core/resource.ts';

const project: ProjectRules = {
  name: 'team-a',
  applicationNamespaces: ['team-a', 'team-a-*'],
  sourceRepos: ['https://git.example.com/team-a/**'],
  destinations: [
    { cluster: 'in-cluster', namespace: 'team-a*', serviceAccount: { name: 'deployer' } },
    {
      cluster: 'prod-*',
      namespace: 'team-a',
      serviceAccount: { name: 'prod-deployer', namespace: 'team-a' },
    },
  ],
  clusterResources: [{ group: 'rbac.authorization.k8s.io', kind: 'ClusterRole' }],
  deniedNamespacedResources: [{ group: '', kind: 'ResourceQuota' }],
  allowAdoption: false,
  allowForceConflicts: false,
};
const protect = { namespaces: ['capstan-system'] };

const app: ApplicationFacts = {
  namespace: 'team-a',
  name: 'web',
  repoURL: 'https://git.example.com/team-a/config.git',
  cluster: 'in-cluster',
  destinationNamespace: 'team-a',
  forceConflicts: false,
  createNamespace: false,
  dependsOn: [],
};

describe('matchesPattern', () => {
  for (const [pattern, value, expected] of [
    ['team-a', 'team-a', true],
    ['team-a', 'team-ab', false],
    ['team-a-*', 'team-a-dev', true],
    ['team-a-*', 'team-a-', true],
    ['team-a-*', 'team-b-dev', false],
    ['https://git.example.com/team-a/*', 'https://git.example.com/team-a/config', true],
    ['https://git.example.com/team-a/*', 'https://git.example.com/team-a/x/y', false],
    ['https://git.example.com/team-a/**', 'https://git.example.com/team-a/x/y', true],
    ['https://git.example.com/team-a/**', 'https://git.example.com/team-ab/x', false],
    ['a.b', 'axb', false],
    ['**', 'anything/at/all', true],
    ['(x)+', '(x)+', true],
  ] as const) {
    it(`'${pattern}' ${expected ? 'matches' : 'does not match'} '${value}'`, () => {
      assert.equal(matchesPattern(pattern, value), expected);
    });
  }
});

describe('checkApplication', () => {
  const cases: { what: string; facts: Partial<ApplicationFacts>; rules: string[] }[] = [
    { what: 'an Application within its project', facts: {}, rules: [] },
    {
      what: 'a namespace that may not use the project',
      facts: { namespace: 'team-b' },
      rules: ['project-namespace'],
    },
    {
      what: 'a repository outside sourceRepos',
      facts: { repoURL: 'https://git.example.com/team-b/config.git' },
      rules: ['source-repository'],
    },
    { what: 'an undeclared cluster', facts: { cluster: 'staging' }, rules: ['destination-cluster'] },
    { what: 'a declared cluster by pattern', facts: { cluster: 'prod-eu' }, rules: [] },
    {
      what: 'another namespace',
      facts: { destinationNamespace: 'team-b' },
      rules: ['destination-namespace'],
    },
    {
      what: "the agent's namespace",
      facts: { destinationNamespace: 'capstan-system' },
      rules: ['protected-namespace'],
    },
    {
      what: 'ForceConflicts without permission',
      facts: { forceConflicts: true },
      rules: ['force-conflicts'],
    },
    {
      what: 'CreateNamespace without Namespace in clusterResources',
      facts: { createNamespace: true },
      rules: ['cluster-resource'],
    },
    {
      what: 'a dependency of the same namespace (the default)',
      facts: { dependsOn: [{ namespace: 'team-a', name: 'db' }] },
      rules: [],
    },
    {
      what: 'a dependency of another namespace',
      facts: { dependsOn: [{ namespace: 'team-b', name: 'db' }] },
      rules: ['dependency'],
    },
  ];
  for (const c of cases) {
    it(`${c.rules.length === 0 ? 'allows' : 'refuses'} ${c.what}`, () => {
      const violations = checkApplication({ ...app, ...c.facts }, project, protect);
      assert.deepEqual(
        violations.map((v) => v.rule),
        c.rules,
      );
      for (const v of violations) assert.match(v.message, /project 'team-a'/);
    });
  }

  it('takes dependencies from the project when it lists them', () => {
    const open = { ...project, dependencies: [{ namespace: 'platform', name: '*' }] };
    const facts = {
      ...app,
      dependsOn: [
        { namespace: 'platform', name: 'db' },
        { namespace: 'team-a', name: 'x' },
      ],
    };
    const violations = checkApplication(facts, open, protect);
    assert.deepEqual(
      violations.map((v) => v.subject),
      ['spec.dependsOn[1]'],
    );
  });

  it('allows ForceConflicts and CreateNamespace when the project does', () => {
    const open = {
      ...project,
      allowForceConflicts: true,
      clusterResources: [{ group: '', kind: 'Namespace' }],
    };
    assert.deepEqual(
      checkApplication({ ...app, forceConflicts: true, createNamespace: true }, open, protect),
      [],
    );
  });
});

const id = (kind: string, namespace: string, name: string, group = ''): ResourceId => ({
  group,
  kind,
  namespace,
  name,
});

describe('checkObjects', () => {
  const cases: { what: string; ids: ResourceId[]; cluster?: string; rules: string[] }[] = [
    {
      what: 'objects in an allowed namespace',
      ids: [id('ConfigMap', 'team-a', 'x'), id('Deployment', 'team-a-dev', 'web', 'apps')],
      rules: [],
    },
    {
      what: 'an object in another namespace',
      ids: [id('ConfigMap', 'team-b', 'x')],
      rules: ['destination-namespace'],
    },
    {
      what: 'a ClusterRoleBinding',
      ids: [id('ClusterRoleBinding', '', 'pwn', 'rbac.authorization.k8s.io')],
      rules: ['cluster-resource'],
    },
    {
      what: 'an allowed cluster-scoped kind',
      ids: [id('ClusterRole', '', 'reader', 'rbac.authorization.k8s.io')],
      rules: [],
    },
    {
      what: 'a Namespace when Namespaces are not allowed',
      ids: [id('Namespace', '', 'team-a')],
      rules: ['cluster-resource'],
    },
    {
      what: 'a denied namespaced kind',
      ids: [id('ResourceQuota', 'team-a', 'q')],
      rules: ['denied-resource'],
    },
    {
      what: 'a cluster Secret of the agent',
      ids: [id('Secret', 'capstan-system', 'cluster-prod')],
      rules: ['protected-namespace'],
    },
    {
      what: "the agent's Namespace",
      ids: [id('Namespace', '', 'capstan-system')],
      rules: ['protected-namespace'],
    },
    {
      what: 'a namespace allowed on another cluster only',
      ids: [id('ConfigMap', 'team-a-dev', 'x')],
      cluster: 'prod-eu',
      rules: ['destination-namespace'],
    },
  ];
  for (const c of cases) {
    it(`${c.rules.length === 0 ? 'allows' : 'refuses'} ${c.what}`, () => {
      const violations = checkObjects(c.ids, { cluster: c.cluster ?? 'in-cluster' }, project, protect);
      assert.deepEqual(
        violations.map((v) => v.rule),
        c.rules,
      );
    });
  }

  it('allows a Namespace object only when it is itself a destination', () => {
    const withNamespaces = { ...project, clusterResources: [{ group: '', kind: 'Namespace' }] };
    const violations = checkObjects(
      [id('Namespace', '', 'team-a-new'), id('Namespace', '', 'team-b')],
      { cluster: 'in-cluster' },
      withNamespaces,
      protect,
    );
    assert.deepEqual(
      violations.map((v) => v.subject),
      ['Namespace/team-b'],
    );
  });

  it('names the object, the rule and the project in one message', () => {
    const violations = checkObjects(
      [id('ClusterRoleBinding', '', 'pwn', 'rbac.authorization.k8s.io'), id('ConfigMap', 'team-b', 'x')],
      { cluster: 'in-cluster' },
      project,
      protect,
    );
    const message = describeViolations(project, violations);
    assert.match(message, /^refused by project 'team-a', nothing was changed: /);
    assert.match(
      message,
      /ClusterRoleBinding\/pwn: cluster-scoped ClusterRoleBinding .*\[cluster-resource\]/,
    );
    assert.match(message, /ConfigMap\/team-b\/x: the namespace 'team-b' .*\[destination-namespace\]/);
  });
});

describe('checkAdoption and destinationFor', () => {
  it('refuses adopting unowned objects unless the project allows it', () => {
    const unowned = [id('Namespace', '', 'team-a')];
    assert.deepEqual(
      checkAdoption(unowned, project).map((v) => v.rule),
      ['adoption'],
    );
    assert.deepEqual(checkAdoption(unowned, { ...project, allowAdoption: true }), []);
  });

  it('gives the first matching destination, with its ServiceAccount', () => {
    assert.equal(destinationFor(project, 'prod-eu', 'team-a')?.serviceAccount?.name, 'prod-deployer');
    assert.equal(destinationFor(project, 'in-cluster', 'team-a')?.serviceAccount?.name, 'deployer');
    assert.equal(destinationFor(project, 'in-cluster', 'team-b'), undefined);
  });
});

describe('applyingServiceAccount', () => {
  const open: Pick<ProjectRules, 'destinations'> = {
    destinations: [{ cluster: 'in-cluster', namespace: 'team-a' }],
  };
  const target = (cluster: string, namespace: string) => ({
    cluster,
    namespace,
    applicationNamespace: 'team-a',
  });
  const cases: [string, Pick<ProjectRules, 'destinations'>, string, string, string | undefined, unknown][] = [
    [
      "the destination's, in the Application's namespace",
      project,
      'in-cluster',
      'team-a',
      'capstan-deployer',
      { namespace: 'team-a', name: 'deployer' },
    ],
    [
      "the destination's, in the namespace it names",
      project,
      'prod-eu',
      'team-a',
      undefined,
      { namespace: 'team-a', name: 'prod-deployer' },
    ],
    [
      'the default one, when the destination names none',
      open,
      'in-cluster',
      'team-a',
      'capstan-deployer',
      { namespace: 'team-a', name: 'capstan-deployer' },
    ],
    ["none (the agent's identity) without a default", open, 'in-cluster', 'team-a', undefined, undefined],
    [
      'the default one, when no destination matches (the project check refuses it before)',
      open,
      'other',
      'x',
      'capstan-deployer',
      { namespace: 'team-a', name: 'capstan-deployer' },
    ],
  ];
  for (const [name, rules, cluster, namespace, defaultServiceAccount, expected] of cases)
    it(name, () => {
      assert.deepEqual(
        applyingServiceAccount(rules, target(cluster, namespace), { defaultServiceAccount }),
        expected,
      );
    });
});
