// The web UI's pure decisions: who may do what (and the reason shown), the tree's depths and grouping,
// and the per-resource routes found in the server's OpenAPI paths; the client routes of the pages.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { permit } from '../../../ui/src/permissions.ts';
import { depths, GROUP_ABOVE, grouped } from '../../../ui/src/pages/application/tree-layout.ts';
import { resourceUrl } from '../../../ui/src/pages/application/resource-routes.ts';
import {
  clusterPath,
  pipelinePath,
  projectPath,
  promotionPath,
  routeOf,
  runPath,
} from '../../../ui/src/paths.ts';
import { startsOf, triggerLines } from '../../../ui/src/pipeline-starts.ts';
import type { ProjectInfo, ResourceNode, SessionInfo } from '../../../ui/src/types.ts';

const session = (over: Partial<SessionInfo> = {}): SessionInfo => ({
  user: 'alice',
  kind: 'user',
  admin: false,
  groups: [],
  ...over,
});
const project = (yourRoles: string[], yourActions: string[]): ProjectInfo => ({
  name: 'team-a',
  roles: [
    { name: 'viewer', actions: ['view'], users: ['alice'], groups: [] },
    { name: 'deployer', actions: ['view', 'refresh', 'sync', 'rollback'], users: [], groups: [] },
  ],
  yourRoles,
  yourActions,
});

describe('permit', () => {
  it('allows what the project lists as the caller’s actions, and everything to a global admin', () => {
    const projects = new Map([['team-a', project(['deployer'], ['view', 'refresh', 'sync', 'rollback'])]]);
    assert.deepEqual(permit({ session: session(), projects }, 'team-a', 'sync'), { allowed: true });
    assert.deepEqual(permit({ session: session({ admin: true }), projects: new Map() }, 'x', 'delete'), {
      allowed: true,
    });
  });

  it('says which role gives the action and which role the caller has', () => {
    const projects = new Map([['team-a', project(['viewer'], ['view'])]]);
    const decision = permit({ session: session(), projects }, 'team-a', 'sync');
    assert.deepEqual(decision, {
      allowed: false,
      reason: "Sync needs the role deployer in project 'team-a'; your role there is viewer.",
    });
  });

  it('names what is asked when it is not the action itself (running pipelines needs sync)', () => {
    const projects = new Map([['team-a', project(['viewer'], ['view'])]]);
    const decision = permit({ session: session(), projects }, 'team-a', 'sync', { as: 'Running pipelines' });
    assert.deepEqual(decision, {
      allowed: false,
      reason: "Running pipelines needs the role deployer in project 'team-a'; your role there is viewer.",
    });
  });

  it('says approving promotions needs admin when no role of the project lists approve', () => {
    const projects = new Map([['team-a', project(['viewer'], ['view'])]]);
    const decision = permit({ session: session(), projects }, 'team-a', 'approve', {
      as: 'Approving promotions',
    });
    assert.deepEqual(decision, {
      allowed: false,
      reason: "Approving promotions needs the role admin in project 'team-a'; your role there is viewer.",
    });
  });

  it('a token scoped to a project is no global admin; a project unknown to the caller grants nothing', () => {
    const scoped = session({ admin: true, scope: { project: 'team-a', role: 'viewer' } });
    const decision = permit({ session: scoped, projects: new Map() }, 'team-b', 'rollback');
    assert.deepEqual(decision, {
      allowed: false,
      reason: "Rollback needs the role deployer or admin in project 'team-b'; you have no role there.",
    });
  });
});

const node = (id: string, parents: string[] = [], kind = 'ConfigMap'): ResourceNode => ({
  id,
  group: '',
  kind,
  namespace: 'ns',
  name: id,
  parents,
  syncStatus: 'Synced',
  health: 'Healthy',
});

describe('the tree', () => {
  it('places each node one deeper than its deepest owner, and survives an ownership cycle', () => {
    const d = depths([
      node('a'),
      node('b', ['a']),
      node('c', ['a', 'b']),
      node('x', ['y']),
      node('y', ['x']),
    ]);
    assert.equal(d.get('a'), 1);
    assert.equal(d.get('b'), 2);
    assert.equal(d.get('c'), 3);
    assert.ok((d.get('x') ?? 0) >= 1 && (d.get('y') ?? 0) >= 1);
  });

  it('groups a large tree by kind and depth, with the worst health of each group', () => {
    const small = { nodes: [node('a'), node('b')] };
    assert.equal(grouped(small), small);
    const nodes = Array.from({ length: GROUP_ABOVE + 50 }, (_, i) =>
      node(`cm-${String(i)}`, [], i % 2 === 0 ? 'ConfigMap' : 'Service'),
    );
    nodes[3] = { ...node('cm-3', [], 'Service'), health: 'Degraded' };
    const groups = grouped({ nodes }).nodes;
    assert.deepEqual(
      groups.map((g) => [g.kind, g.name, g.health]),
      [
        ['ConfigMap', '× 100', 'Healthy'],
        ['Service', '× 100', 'Degraded'],
      ],
    );
  });
});

describe('resourceUrl', () => {
  it('names the resource in the query of the server’s resource views', () => {
    assert.equal(
      resourceUrl('/applications/a/web', node('settings'), 'diff'),
      '/applications/a/web/resource/diff?kind=ConfigMap&namespace=ns&name=settings&revision=target',
    );
    assert.equal(
      resourceUrl('/applications/a/web', { ...node('web', [], 'Deployment'), group: 'apps' }, 'live'),
      '/applications/a/web/resource/live?group=apps&kind=Deployment&namespace=ns&name=web',
    );
  });
});

describe('routeOf', () => {
  it('reads the projects and clusters pages, their names decoded, and refuses deeper paths', () => {
    assert.deepEqual(routeOf('/projects'), { page: 'projects' });
    assert.deepEqual(routeOf('/projects/team%2Fa'), { page: 'project', name: 'team/a' });
    assert.deepEqual(routeOf('/clusters/'), { page: 'clusters' });
    assert.deepEqual(routeOf('/clusters/in-cluster'), { page: 'cluster', name: 'in-cluster' });
    assert.deepEqual(routeOf('/clusters/prod/extra'), { page: 'not-found', path: '/clusters/prod/extra' });
    assert.deepEqual(routeOf('/applications/ns/web'), { page: 'application', namespace: 'ns', name: 'web' });
    assert.deepEqual(routeOf('/projects/%E0'), { page: 'not-found', path: '/projects/%E0' });
    assert.deepEqual(routeOf('/runs'), { page: 'runs' });
    assert.deepEqual(routeOf('/runs/r-42'), { page: 'run', id: 'r-42' });
    assert.deepEqual(routeOf('/runs/r-42/logs'), { page: 'not-found', path: '/runs/r-42/logs' });
    assert.deepEqual(routeOf('/pipelines'), { page: 'pipelines' });
    assert.deepEqual(routeOf('/pipelines/team-a/web'), {
      page: 'pipeline',
      namespace: 'team-a',
      name: 'web',
    });
    assert.deepEqual(routeOf('/pipelines/team-a'), { page: 'not-found', path: '/pipelines/team-a' });
    assert.deepEqual(routeOf('/environments'), { page: 'environments' });
    assert.deepEqual(routeOf(promotionPath('promo-1')), { page: 'promotion', id: 'promo-1' });
    assert.deepEqual(routeOf('/promotions'), { page: 'not-found', path: '/promotions' });
    assert.deepEqual(routeOf('/pipelines/team-a/web/runs'), {
      page: 'not-found',
      path: '/pipelines/team-a/web/runs',
    });
  });

  it('makes page addresses that it reads back', () => {
    for (const name of ['team-a', 'a b', 'x/y?z#w'])
      assert.deepEqual(routeOf(projectPath(name)), { page: 'project', name });
    assert.deepEqual(routeOf(clusterPath('prod east')), { page: 'cluster', name: 'prod east' });
    assert.deepEqual(routeOf(runPath('a/b c')), { page: 'run', id: 'a/b c' });
    assert.deepEqual(routeOf(pipelinePath('ns x', 'a/b')), {
      page: 'pipeline',
      namespace: 'ns x',
      name: 'a/b',
    });
  });
});

describe('startsOf', () => {
  it('says what may start a Pipeline’s runs: webhooks, polls when it has an interval, by hand; nothing when suspended', () => {
    assert.deepEqual(startsOf({ suspend: false }), ['webhooks', 'by hand']);
    assert.deepEqual(startsOf({ suspend: false, pollInterval: '1m' }), [
      'webhooks',
      'polls every 1m',
      'by hand',
    ]);
    assert.deepEqual(startsOf({ suspend: true, pollInterval: '1m' }), ['nothing: suspended']);
  });
});

describe('triggerLines', () => {
  const at = { file: '.capstan/pipeline.yaml', ref: 'refs/heads/main', commit: 'a'.repeat(40) } as const;
  const words = (t: Parameters<typeof triggerLines>[0]) =>
    triggerLines(t).map((l) => `${l.label}: ${l.value}`);
  it('says a pipeline file’s triggers as the driver applies them', () => {
    assert.deepEqual(
      words({
        ...at,
        state: 'ok',
        push: { branches: ['main', 'release/*'], tags: ['v*'], paths: ['src/**'], ignorePaths: ['docs/**'] },
        pullRequest: { branches: ['main'] },
        manual: true,
      }),
      [
        'Pushes: to branches main, release/*; of tags v*; only when a changed file matches src/**; not when every changed file matches docs/**',
        'Pull requests: to branches main',
        'By hand: allowed',
      ],
    );
  });
  it('says the defaults: a push trigger without branches or tags is any branch; with tags only, no branch', () => {
    assert.deepEqual(words({ ...at, state: 'ok', push: {}, pullRequest: {}, manual: false }), [
      'Pushes: to any branch (no tag)',
      'Pull requests: to any branch',
      'By hand: not allowed (triggers.manual: false)',
    ]);
    assert.deepEqual(words({ ...at, state: 'ok', push: { tags: ['v*'] }, manual: true }), [
      'Pushes: of tags v*',
      'Pull requests: none',
      'By hand: allowed',
    ]);
    assert.deepEqual(words({ ...at, state: 'ok', push: { branches: [], paths: [] } }).slice(0, 1), [
      'Pushes: to branches none (an empty list); only when a changed file matches none (an empty list)',
    ]);
  });
});
