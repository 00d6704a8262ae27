import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  authorize,
  mayGrant,
  projectsWith,
  type Permission,
  type Principal,
  type ProjectAccess,
  type ProjectDirectory,
} from '../../../src/server/access.ts';

const PROJECTS: ProjectAccess[] = [
  {
    name: 'shop',
    roles: [
      { name: 'viewer', groups: ['everyone'] },
      { name: 'releaser', actions: ['view', 'sync'], users: ['rita'] },
      { name: 'admin', groups: ['shop-admins'] },
    ],
  },
  { name: 'blog', roles: [{ name: 'deployer', users: ['rita'] }] },
];
const directory: ProjectDirectory = { get: (n) => PROJECTS.find((p) => p.name === n), list: () => PROJECTS };
const user = (name: string, groups: string[] = []): Principal => ({
  kind: 'user',
  name,
  groups,
  admin: false,
});

describe('authorize', () => {
  const table: [string, Principal, Permission, string, boolean][] = [
    ['a group member views', user('x', ['everyone']), 'applications.read', 'shop', true],
    ['a viewer cannot sync', user('x', ['everyone']), 'applications.sync', 'shop', false],
    ['a custom role syncs', user('rita'), 'applications.sync', 'shop', true],
    ['a custom role without refresh', user('rita'), 'applications.refresh', 'shop', false],
    ['a deployer of blog refreshes there', user('rita'), 'applications.refresh', 'blog', true],
    ['a deployer releases a hold (rollback)', user('rita'), 'applications.release-hold', 'blog', true],
    ['a deployer cannot delete', user('rita'), 'applications.delete', 'blog', false],
    ['an admin group deletes', user('y', ['shop-admins']), 'applications.delete', 'shop', true],
    ['an admin reads the audit trail', user('y', ['shop-admins']), 'audit.read', 'shop', true],
    ['a custom role does not read the audit trail', user('rita'), 'audit.read', 'shop', false],
    ['nobody in an unknown project', user('rita'), 'applications.read', 'nope', false],
    ['a global admin anywhere', { ...user('root'), admin: true }, 'applications.delete', 'nope', true],
    [
      'a token in its scope',
      {
        kind: 'token',
        name: 'token:1',
        groups: [],
        admin: false,
        scope: { project: 'blog', role: 'deployer' },
      },
      'applications.sync',
      'blog',
      true,
    ],
    [
      'a token out of its scope',
      { kind: 'token', name: 'token:1', groups: [], admin: false, scope: { project: 'blog', role: 'admin' } },
      'applications.read',
      'shop',
      false,
    ],
  ];
  for (const [what, principal, permission, project, allowed] of table)
    it(what, () => {
      assert.equal(authorize(principal, permission, project, directory).allowed, allowed);
    });

  it('names the missing permission, the roles that give it and the roles held', () => {
    const decision = authorize(user('x', ['everyone']), 'applications.sync', 'shop', directory);
    assert.deepEqual(decision, {
      allowed: false,
      permission: 'applications.sync',
      project: 'shop',
      message:
        "missing permission applications.sync in project 'shop' (given by the role deployer or admin); you have the role viewer there",
    });
  });

  it('lists the projects a principal may read, and caps the tokens one may grant', () => {
    assert.deepEqual(
      [...(projectsWith(user('rita'), 'applications.read', directory) as Set<string>)],
      ['shop', 'blog'],
    );
    assert.equal(projectsWith({ ...user('root'), admin: true }, 'applications.read', directory), 'all');
    assert.equal(mayGrant(new Set(['view', 'sync']), 'viewer'), true);
    assert.equal(mayGrant(new Set(['view', 'sync']), 'deployer'), false);
  });
});
