import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResolvedSpec } from '../../../src/contracts/application.ts';
import { pushAffects } from '../../../src/controller/refresh-match.ts';

const spec = (source: Partial<ResolvedSpec['source']>): ResolvedSpec =>
  ({
    source: {
      repoURL: 'https://git.example.com/team/config.git',
      targetRevision: 'main',
      path: 'apps/web',
      insecureHttp: false,
      ...source,
    },
  }) as ResolvedSpec;
const repo = 'git.example.com/team/config';

describe('which Applications a push refreshes', () => {
  for (const [name, s, event, expected] of [
    [
      'a change in its folder on its branch',
      spec({}),
      { repoURLs: [repo], ref: 'refs/heads/main', changedPaths: ['apps/web/deploy.yaml'] },
      true,
    ],
    [
      'the ssh form of the same repository',
      spec({ repoURL: 'git@git.example.com:team/config.git' }),
      { repoURLs: [repo], ref: 'refs/heads/main' },
      true,
    ],
    [
      'a change in another folder only',
      spec({}),
      { repoURLs: [repo], ref: 'refs/heads/main', changedPaths: ['apps/api/deploy.yaml', 'apps/webby/x'] },
      false,
    ],
    ['another branch', spec({}), { repoURLs: [repo], ref: 'refs/heads/feature' }, false],
    [
      'the default branch when it follows HEAD',
      spec({ targetRevision: 'HEAD' }),
      { repoURLs: [repo], ref: 'refs/heads/trunk' },
      true,
    ],
    [
      'a tag push for a semver range',
      spec({ targetRevision: '>=1.2 <2' }),
      { repoURLs: [repo], ref: 'refs/tags/v1.3.0' },
      true,
    ],
    [
      'an application pinned to a commit',
      spec({ targetRevision: 'a'.repeat(40) }),
      { repoURLs: [repo] },
      false,
    ],
    ['another repository', spec({}), { repoURLs: ['git.example.com/team/other'] }, false],
    ['unknown paths (a truncated push)', spec({}), { repoURLs: [repo], ref: 'refs/heads/main' }, true],
    [
      'the repository root as its folder',
      spec({ path: '.' }),
      { repoURLs: [repo], changedPaths: ['README.md'] },
      true,
    ],
  ] as const) {
    it(`${expected ? 'refreshes' : 'leaves'} ${name}`, () => {
      assert.equal(pushAffects(s, event), expected);
    });
  }
});
