// Which Pipelines a webhook's push or pull request asks to run, and the request written onto each: on
// the fake PipelineDirectory (which passes the same contract as the real one).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestPipelineRuns, requestPullRequestRuns } from '../../../src/pipelines/webhook-requests.ts';
import { FakePipelineDirectory } from '../../../src/testing/fake-pipeline-directory.ts';
import { contractPipeline } from '../../../src/testing/pipeline-directory-contract.ts';

const REPO = 'https://git.example.com/team/app.git';
/** As the webhook parsers report a repository: normalised (src/core/repo-url.ts). */
const REPORTED = 'git.example.com/team/app';
const SHA = 'c'.repeat(40);
const now = () => new Date('2026-03-01T12:00:00Z');

function directory(): FakePipelineDirectory {
  const fake = new FakePipelineDirectory();
  fake.pipelines.add(contractPipeline('team-b', 'web', { repoURL: `${REPO}/` }));
  fake.pipelines.add(contractPipeline('team-a', 'web', { repoURL: 'https://GIT.example.com/team/app' }));
  fake.pipelines.add(
    contractPipeline('team-a', 'other', { repoURL: 'https://git.example.com/team/other.git' }),
  );
  fake.pipelines.add(contractPipeline('team-a', 'odd', { repoURL: 'not a url' }));
  return fake;
}

describe('requestPipelineRuns', () => {
  it('asks each Pipeline of the pushed repository (its URL normalised) for a run, named in order', async () => {
    const fake = directory();
    const matched = await requestPipelineRuns(
      fake,
      {
        provider: 'github',
        repoURLs: [REPORTED],
        ref: 'refs/heads/main',
        after: SHA,
        changedPaths: ['src/a.ts'],
        deliveryId: 'd-1',
      },
      { now },
    );
    assert.deepEqual(matched, ['team-a/web', 'team-b/web']);
    assert.deepEqual(fake.pipelines.requests('team-a', 'web'), [
      {
        id: 'webhook-github-d-1-refs/heads/main',
        kind: 'push',
        ref: 'refs/heads/main',
        revision: SHA,
        changedPaths: ['src/a.ts'],
        by: 'webhook:github',
        at: '2026-03-01T12:00:00.000Z',
      },
    ]);
    assert.deepEqual(fake.pipelines.requests('team-a', 'other'), []);
    assert.deepEqual(fake.pipelines.requests('team-a', 'odd'), []);
  });

  it('asks nothing for a push without its ref or commit, or one that deleted the ref', async () => {
    const fake = directory();
    const base = { provider: 'gitlab' as const, repoURLs: [REPORTED] };
    assert.deepEqual(await requestPipelineRuns(fake, { ...base, after: SHA }), []);
    assert.deepEqual(await requestPipelineRuns(fake, { ...base, ref: 'refs/heads/main' }), []);
    assert.deepEqual(
      await requestPipelineRuns(fake, { ...base, ref: 'refs/heads/main', after: '0'.repeat(40) }),
      [],
    );
    assert.deepEqual(fake.pipelines.requests('team-a', 'web'), []);
  });
});

describe('requestPullRequestRuns', () => {
  const pr = {
    provider: 'github' as const,
    repoURLs: [REPORTED],
    number: 7,
    headSha: SHA,
    ref: 'refs/pull/7/head',
    sourceBranch: 'feature',
    targetBranch: 'main',
    fromFork: false,
  };

  it('asks the target repository’s Pipelines for a run of the head commit', async () => {
    const fake = directory();
    assert.deepEqual(await requestPullRequestRuns(fake, pr, { now }), {
      pipelines: ['team-a/web', 'team-b/web'],
    });
    assert.deepEqual(fake.pipelines.requests('team-b', 'web'), [
      {
        id: `webhook-github-${SHA}-pr7`,
        kind: 'pullRequest',
        ref: 'refs/pull/7/head',
        revision: SHA,
        pullRequest: { number: 7, sourceBranch: 'feature', targetBranch: 'main' },
        by: 'webhook:github',
        at: '2026-03-01T12:00:00.000Z',
      },
    ]);
  });

  it('asks nothing for a pull request from a fork, and says why', async () => {
    const fake = directory();
    const answer = await requestPullRequestRuns(fake, { ...pr, fromFork: true });
    assert.deepEqual(answer.pipelines, []);
    assert.match(answer.reason ?? '', /pull request 7 comes from another repository \(a fork\)/);
    assert.deepEqual(fake.pipelines.requests('team-a', 'web'), []);
  });
});
