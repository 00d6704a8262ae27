/**
 * The contract of commit statuses at a git provider (DESIGN.md, "Tests": one contract per port, run
 * against the real adapter and its fake): through HttpCommitStatusSink, a run's phases become the
 * provider's states on the commit, with their context, description and link; a wrong token and an
 * unknown repository are refused with the provider's reason, not retryable, the token never in the
 * message. Run against the real Gitea (test/integration/commit-status-gitea.test.ts) and the fake
 * GitHub, Gitea and GitLab (test/unit/pipelines/commit-status.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpCommitStatusSink } from '../adapters/git/commit-status.ts';
import { commitState, type CommitStatusProvider, type CommitStatusReport } from '../core/commit-status.ts';
import { CapstanError } from '../core/errors.ts';
import type { RunPhase } from '../core/run-phase.ts';

export interface CommitStatusProviderUnderTest {
  readonly provider: CommitStatusProvider;
  readonly apiURL: string;
  readonly token: string;
  /** Makes a repository with a commit; returns its path (`owner/repo`) and the commit. */
  repository(name: string): Promise<{ readonly path: string; readonly sha: string }>;
  /** The commit's statuses, newest first. */
  statuses(
    path: string,
    sha: string,
  ): Promise<readonly { state: string; context: string; description: string; targetURL: string }[]>;
}

export function commitStatusContract(name: string, open: () => Promise<CommitStatusProviderUnderTest>): void {
  describe(`commit status contract: ${name}`, () => {
    const sink = new HttpCommitStatusSink({ hosts: { allow: ['127.0.0.1'] }, allowInsecureHttp: true });
    const report = (
      under: CommitStatusProviderUnderTest,
      repo: { path: string; sha: string },
      phase: RunPhase,
    ): CommitStatusReport => ({
      provider: under.provider,
      apiURL: under.apiURL,
      repository: repo.path,
      sha: repo.sha,
      phase,
      context: 'capstan/web',
      targetURL: 'https://capstan.example.com/runs/r1',
      description: `Capstan run r1: ${phase}`,
    });

    it("sets a run's phases as the commit's states, with the context, description and link", async () => {
      const under = await open();
      const repo = await under.repository('phases');
      for (const phase of ['Queued', 'Running', 'Succeeded'] as const)
        await sink.set(report(under, repo, phase), { token: under.token });
      const [latest] = await under.statuses(repo.path, repo.sha);
      assert.deepEqual(latest, {
        state: commitState(under.provider, 'Succeeded'),
        context: 'capstan/web',
        description: 'Capstan run r1: Succeeded',
        targetURL: 'https://capstan.example.com/runs/r1',
      });
      const states = (await under.statuses(repo.path, repo.sha)).map((s) => s.state);
      assert.ok(states.includes(commitState(under.provider, 'Queued')), states.join(', '));
    });

    it('a failed and a cancelled run are failure and error (GitLab: failed, canceled)', async () => {
      const under = await open();
      const repo = await under.repository('ends');
      await sink.set(report(under, repo, 'Failed'), { token: under.token });
      assert.equal(
        (await under.statuses(repo.path, repo.sha))[0]?.state,
        commitState(under.provider, 'Failed'),
      );
      await sink.set(report(under, repo, 'Cancelled'), { token: under.token });
      assert.equal(
        (await under.statuses(repo.path, repo.sha))[0]?.state,
        under.provider === 'GitLab' ? 'canceled' : 'error',
      );
    });

    it("a wrong token is refused with the provider's 401, not retryable, the token not in the message", async () => {
      const under = await open();
      const repo = await under.repository('token');
      const wrong = 'not-the-token-0123456789';
      const refused = await sink.set(report(under, repo, 'Running'), { token: wrong }).then(
        () => undefined,
        (error: unknown) => error,
      );
      assert.ok(refused instanceof CapstanError, String(refused));
      assert.equal(refused.code, 'PIPELINE_COMMIT_STATUS_FAILED');
      assert.equal(refused.retryable, false);
      assert.match(refused.message, /401/);
      assert.ok(!refused.message.includes(wrong));
      assert.deepEqual(await under.statuses(repo.path, repo.sha), []);
    });

    it('an unknown repository is a 404, not retryable', async () => {
      const under = await open();
      const repo = await under.repository('known');
      const refused = await sink
        .set(report(under, { path: `${repo.path.split('/')[0] ?? ''}/nowhere`, sha: repo.sha }, 'Running'), {
          token: under.token,
        })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      assert.ok(refused instanceof CapstanError, String(refused));
      assert.equal(refused.retryable, false);
      assert.match(refused.message, /404/);
    });
  });
}
