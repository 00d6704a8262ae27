import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderImageTags } from '../../../src/core/pipeline-tags.ts';
import { eventStartsRun, type PipelineEvent, type TriggerRules } from '../../../src/core/pipeline-trigger.ts';

const push = (branch: string, changedFiles?: string[]): PipelineEvent => ({
  kind: 'push',
  branch,
  ...(changedFiles === undefined ? {} : { changedFiles }),
});

describe('eventStartsRun', () => {
  const rules: TriggerRules = {
    push: { branches: ['main', 'release/*'], tags: ['v*'], paths: ['src/**'], ignorePaths: ['src/**/*.md'] },
    pullRequest: { branches: ['main'] },
    manual: false,
  };
  const table: [string, TriggerRules | undefined, PipelineEvent, boolean][] = [
    ['a push to a listed branch', rules, push('main'), true],
    ['a push to a branch matching a pattern', rules, push('release/1.2'), true],
    ['a push to a branch two levels down (* stays in a segment)', rules, push('release/1/2'), false],
    ['a push to another branch', rules, push('feature'), false],
    ['a push changing a file under paths', rules, push('main', ['src/a/b.ts']), true],
    ['a push changing only files outside paths', rules, push('main', ['README.md']), false],
    ['a push changing only ignored files', rules, push('main', ['src/a/notes.md']), false],
    ['a push changing an ignored and a watched file', rules, push('main', ['src/x.md', 'src/x.ts']), true],
    ['a matching tag', rules, { kind: 'tag', tag: 'v1.0.0' }, true],
    ['another tag', rules, { kind: 'tag', tag: 'nightly' }, false],
    ['a pull request to main', rules, { kind: 'pullRequest', targetBranch: 'main' }, true],
    ['a pull request to another branch', rules, { kind: 'pullRequest', targetBranch: 'dev' }, false],
    ['a manual run when manual is false', rules, { kind: 'manual' }, false],
    ['a manual run without triggers', undefined, { kind: 'manual' }, true],
    ['a push without triggers', undefined, push('main'), false],
    ['a push to any branch when push names none', { push: {} }, push('x/y'), true],
    ['a push when push names only tags', { push: { tags: ['v*'] } }, push('main'), false],
    [
      'a tag when push names only branches',
      { push: { branches: ['main'] } },
      { kind: 'tag', tag: 'v1' },
      false,
    ],
    [
      'a pull request without a pullRequest trigger',
      { push: {} },
      { kind: 'pullRequest', targetBranch: 'main' },
      false,
    ],
  ];
  for (const [what, triggers, event, expected] of table) {
    it(`${expected ? 'starts' : 'does not start'} a run on ${what}`, () => {
      assert.equal(eventStartsRun(triggers, event), expected);
    });
  }
});

describe('renderImageTags', () => {
  const commit = '0123456789abcdef0123456789abcdef01234567';
  it('fills commit, short commit and branch; a branch`s / becomes -', () => {
    assert.deepEqual(
      renderImageTags(['{commit}', 'sha-{shortCommit}', '{branch}'], { commit, branch: 'feature/x' }),
      [commit, 'sha-0123456789ab', 'feature-x'],
    );
  });
  it('leaves out a tag naming what the revision lacks', () => {
    assert.deepEqual(renderImageTags(['{tag}', 'latest'], { commit, branch: 'main' }), ['latest']);
  });
  it('fills the version tag of a tag push', () => {
    assert.deepEqual(renderImageTags(['{tag}'], { commit, tag: 'v1.2.3' }), ['v1.2.3']);
  });
  it('repeats no tag and drops one that is not a valid OCI tag', () => {
    assert.deepEqual(renderImageTags(['{branch}', 'main', '-{branch}'], { commit, branch: 'main' }), [
      'main',
    ]);
  });
});
