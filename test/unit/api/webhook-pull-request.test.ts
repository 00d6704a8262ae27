// The pull (merge) request payload parser (src/api/webhook-pull-request.ts) on payloads shaped as the
// providers document them (test/fixtures/webhooks/), and on crafted ones.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MAX_PULL_REQUEST_NUMBER, pullRequestEventOf } from '../../../src/api/webhook-pull-request.ts';

const FIXTURES = join(import.meta.dirname, '../../fixtures/webhooks');
type Body = Record<string, unknown>;
const fixture = (name: string): Body => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as Body;
const github = () => fixture('github-pull-request.json');
const gitlab = () => fixture('gitlab-merge-request.json');
const gitea = () => fixture('gitea-pull-request.json');
const pr = (body: Body) => body['pull_request'] as Body;
const head = (body: Body) => pr(body)['head'] as Body;
const attributes = (body: Body) => body['object_attributes'] as Body;

describe('pull request events', () => {
  it('GitHub pull_request synchronize: the head commit, refs/pull/N/head, both branches', () => {
    assert.deepEqual(pullRequestEventOf('github', github(), 'd-1'), {
      ok: true,
      event: {
        provider: 'github',
        repoURLs: ['github.com/capstan-demo/web'],
        number: 42,
        action: 'synchronize',
        headSha: '3f1c2b4a5d6e7f8091a2b3c4d5e6f708192a3b4c',
        ref: 'refs/pull/42/head',
        sourceBranch: 'faster-start',
        targetBranch: 'main',
        fromFork: false,
        author: 'dev-one',
        deliveryId: 'd-1',
      },
    });
  });

  it('GitLab Merge Request Hook update with oldrev: refs/merge-requests/N/head', () => {
    const result = pullRequestEventOf('gitlab', gitlab(), undefined);
    assert.ok(result.ok && 'event' in result, JSON.stringify(result));
    assert.deepEqual(result.event, {
      provider: 'gitlab',
      repoURLs: ['gitlab.example.com/Platform/Payments/Billing'],
      number: 7,
      action: 'synchronize',
      headSha: 'c2d4e6f8a0b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9',
      ref: 'refs/merge-requests/7/head',
      sourceBranch: 'feature/retry-refunds',
      targetBranch: 'main',
      fromFork: false,
      author: 'dev-two',
    });
  });

  it("Gitea's 'synchronized' is GitHub's 'synchronize'; its URL forms all kept", () => {
    const result = pullRequestEventOf('gitea', gitea(), undefined);
    assert.ok(result.ok && 'event' in result, JSON.stringify(result));
    assert.equal(result.event.action, 'synchronize');
    assert.equal(result.event.ref, 'refs/pull/3/head');
    assert.deepEqual(result.event.repoURLs, [
      'gitea.example.com/ops/deploy',
      'gitea.example.com:2222/ops/deploy',
    ]);
  });

  it('opened and reopened start runs; other actions are ignored with the reason', () => {
    for (const action of ['opened', 'reopened']) {
      const result = pullRequestEventOf('github', { ...github(), action }, undefined);
      assert.ok(result.ok && 'event' in result && result.event.action === action);
    }
    for (const action of ['closed', 'labeled', 'edited', 'synchronized']) {
      assert.deepEqual(pullRequestEventOf('github', { ...github(), action }, undefined), {
        ok: true,
        ignored: `pull request action '${action}' does not change its code; nothing to run`,
      });
    }
    const opened = pullRequestEventOf(
      'gitlab',
      { ...gitlab(), object_attributes: { ...attributes(gitlab()), action: 'open' } },
      undefined,
    );
    assert.ok(opened.ok && 'event' in opened && opened.event.action === 'opened');
    const { oldrev: _oldrev, ...titleOnly } = attributes(gitlab());
    assert.deepEqual(pullRequestEventOf('gitlab', { ...gitlab(), object_attributes: titleOnly }, undefined), {
      ok: true,
      ignored: "merge request action 'update' changed no commit (no oldrev); nothing to run",
    });
    const merged = pullRequestEventOf(
      'gitlab',
      { ...gitlab(), object_attributes: { ...attributes(gitlab()), action: 'merge' } },
      undefined,
    );
    assert.ok(merged.ok && 'ignored' in merged);
  });

  it('a pull request from another repository is marked fromFork (GitHub, Gitea, GitLab), as is one whose fork was deleted', () => {
    const fork = github();
    head(fork)['repo'] = { id: 9, full_name: 'someone/web', clone_url: 'https://github.com/someone/web.git' };
    const forked = pullRequestEventOf('github', fork, undefined);
    assert.ok(forked.ok && 'event' in forked && forked.event.fromFork);
    const deleted = github();
    head(deleted)['repo'] = null;
    const gone = pullRequestEventOf('github', deleted, undefined);
    assert.ok(gone.ok && 'event' in gone && gone.event.fromFork);
    const giteaFork = gitea();
    head(giteaFork)['repo'] = { id: 99, full_name: 'other/deploy' };
    const g = pullRequestEventOf('gitea', giteaFork, undefined);
    assert.ok(g.ok && 'event' in g && g.event.fromFork);
    const mr = gitlab();
    attributes(mr)['source_project_id'] = 9999;
    const m = pullRequestEventOf('gitlab', mr, undefined);
    assert.ok(m.ok && 'event' in m && m.event.fromFork);
  });

  it('the author is the pull request’s user (GitHub, Gitea) or the event’s user (GitLab); none is none; another shape is refused, named', () => {
    const gitea1 = gitea();
    pr(gitea1)['user'] = { login: 'ops.bot_2' };
    const g = pullRequestEventOf('gitea', gitea1, undefined);
    assert.ok(g.ok && 'event' in g && g.event.author === 'ops.bot_2', JSON.stringify(g));
    const anonymous = github();
    delete pr(anonymous)['user'];
    const a = pullRequestEventOf('github', anonymous, undefined);
    assert.ok(a.ok && 'event' in a && !('author' in a.event), JSON.stringify(a));
    for (const login of ['', '-x', 'a b', 'x'.repeat(101), 42, 'évé']) {
      const body = github();
      pr(body)['user'] = { login };
      assert.deepEqual(pullRequestEventOf('github', body, undefined), {
        ok: false,
        message: 'pull_request.user.login must be a login (letters, digits, . _ -; at most 100 characters)',
      });
    }
    const lab = gitlab();
    lab['user'] = { username: 'a/b' };
    const l = pullRequestEventOf('gitlab', lab, undefined);
    assert.ok(!l.ok && /^user\.username must be a login/.test(l.message), JSON.stringify(l));
  });

  it('crafted payloads are refused with the field named, never quoted', () => {
    const cases: [string, 'github' | 'gitlab' | 'gitea', Body, string][] = [
      [
        'no pull_request',
        'github',
        { ...github(), pull_request: undefined },
        'the payload has no pull_request object',
      ],
      [
        'pull_request an array',
        'github',
        { ...github(), pull_request: [] },
        'the payload has no pull_request object',
      ],
      [
        'action a number',
        'github',
        { ...github(), action: 7 },
        'action must be a non-empty string of at most 64 characters',
      ],
      [
        'no head',
        'github',
        { ...github(), pull_request: { ...pr(github()), head: 'x' } },
        'pull_request.head and pull_request.base must be objects',
      ],
      [
        'huge number',
        'github',
        { ...github(), pull_request: { ...pr(github()), number: 1e300 } },
        `pull_request.number must be a whole number from 1 to ${MAX_PULL_REQUEST_NUMBER}`,
      ],
      [
        'number past 2^31',
        'github',
        { ...github(), pull_request: { ...pr(github()), number: MAX_PULL_REQUEST_NUMBER + 1 } },
        `pull_request.number must be a whole number from 1 to ${MAX_PULL_REQUEST_NUMBER}`,
      ],
      [
        'number a string',
        'gitea',
        { ...gitea(), number: '3', pull_request: { ...pr(gitea()), number: '3' } },
        `pull_request.number must be a whole number from 1 to ${MAX_PULL_REQUEST_NUMBER}`,
      ],
      [
        'negative number',
        'github',
        { ...github(), pull_request: { ...pr(github()), number: -1 } },
        `pull_request.number must be a whole number from 1 to ${MAX_PULL_REQUEST_NUMBER}`,
      ],
      [
        'short sha',
        'github',
        { ...github(), pull_request: { ...pr(github()), head: { ...head(github()), sha: 'abc1234' } } },
        'pull_request.head.sha must be a full commit id (40 hex digits)',
      ],
      [
        'branch with ..',
        'github',
        { ...github(), pull_request: { ...pr(github()), head: { ...head(github()), ref: 'a/../b' } } },
        'pull_request.head.ref must be a branch name (git refuses this one)',
      ],
      [
        'branch an option',
        'github',
        {
          ...github(),
          pull_request: { ...pr(github()), head: { ...head(github()), ref: '--upload-pack=x' } },
        },
        'pull_request.head.ref must be a branch name (git refuses this one)',
      ],
      [
        'no repository',
        'github',
        { ...github(), repository: 5, pull_request: { ...pr(github()), base: { ref: 'main' } } },
        'the payload names no repository (repository.clone_url, ssh_url, html_url)',
      ],
      [
        'gitlab wrong kind',
        'gitlab',
        { ...gitlab(), object_kind: 'push' },
        "object_kind must be 'merge_request' for a Merge Request Hook",
      ],
      [
        'gitlab no attributes',
        'gitlab',
        { ...gitlab(), object_attributes: null },
        'the payload has no object_attributes object',
      ],
      [
        'gitlab iid a float',
        'gitlab',
        { ...gitlab(), object_attributes: { ...attributes(gitlab()), iid: 7.5 } },
        `object_attributes.iid must be a whole number from 1 to ${MAX_PULL_REQUEST_NUMBER}`,
      ],
      [
        'gitlab no last commit',
        'gitlab',
        { ...gitlab(), object_attributes: { ...attributes(gitlab()), last_commit: {} } },
        'object_attributes.last_commit.id must be a full commit id (40 hex digits)',
      ],
      [
        'gitlab long branch',
        'gitlab',
        { ...gitlab(), object_attributes: { ...attributes(gitlab()), target_branch: 'b'.repeat(256) } },
        'object_attributes.target_branch must be a non-empty string of at most 255 characters',
      ],
    ];
    for (const [name, provider, body, message] of cases) {
      assert.deepEqual(pullRequestEventOf(provider, body, undefined), { ok: false, message }, name);
    }
    assert.deepEqual(pullRequestEventOf('github', [], undefined), {
      ok: false,
      message: 'the JSON body is not an object',
    });
  });
});
