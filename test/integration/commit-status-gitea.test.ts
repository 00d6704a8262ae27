// Commit statuses against a real Gitea (scripts/build-gitea.sh builds it from its Go module into the
// cache outside the repository; src/testing/gitea.ts runs it on loopback): the commit status contract
// through HttpCommitStatusSink, then the reporter the driver uses, from a Pipeline whose repoURL is on
// that Gitea (the API root derived from it) and whose Secret holds a token, to the commit's status
// linking to the run. Skipped, saying what to run, on a machine where Gitea is not built yet.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { HttpCommitStatusSink } from '../../src/adapters/git/commit-status.ts';
import { resolvePipelineSpec } from '../../src/contracts/pipeline.ts';
import { CommitStatusReporter } from '../../src/pipelines/commit-status-reporter.ts';
import type { RunRecord } from '../../src/ports/store.ts';
import { commitStatusContract } from '../../src/testing/commit-status-contract.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { giteaMissing, startGitea, type TestGitea } from '../../src/testing/gitea.ts';

const missing = giteaMissing();
if (missing !== undefined) {
  void it.skip(`commit statuses on a real Gitea: ${missing}`);
} else {
  let started: Promise<TestGitea> | undefined;
  // Started by the first test that needs it, stopped after the whole file (not after that test).
  const stops: (() => Promise<void>)[] = [];
  after(() => Promise.all(stops.map((stop) => stop())));
  const gitea = () => (started ??= startGitea((stop) => stops.push(stop)));
  const toStatus = (s: { status: string; context: string; description: string; target_url: string }) => ({
    state: s.status,
    context: s.context,
    description: s.description,
    targetURL: s.target_url,
  });

  commitStatusContract('Gitea (real)', async () => {
    const server = await gitea();
    return {
      provider: 'Gitea',
      apiURL: server.api,
      token: server.token,
      repository: async (name) => ({
        path: `${server.user}/${name}`,
        sha: await server.createRepository(name),
      }),
      statuses: async (path, sha) => (await server.statuses(path.split('/')[1] ?? '', sha)).map(toStatus),
    };
  });

  describe('the driver reports runs to a real Gitea', () => {
    it("a run's Queued, Running and end reach the commit as pending then success, linking to the run", async () => {
      const server = await gitea();
      const sha = await server.createRepository('reported');
      const lines: Record<string, unknown>[] = [];
      const reporter = new CommitStatusReporter({
        sink: new HttpCommitStatusSink({ hosts: { allow: ['127.0.0.1'] }, allowInsecureHttp: true }),
        readSecret: (namespace, name, key) =>
          Promise.resolve(
            namespace === 'team-a' && name === 'web-repo' && key === 'token' ? server.token : undefined,
          ),
        publicUrl: 'https://capstan.example.com/',
        log: (line) => lines.push(line),
      });
      const pipeline = {
        namespace: 'team-a',
        name: 'web',
        spec: resolvePipelineSpec({
          repoURL: `${server.url}/${server.user}/reported.git`,
          credentials: { secretRef: { name: 'web-repo' } },
          commitStatus: { provider: 'Gitea' },
        }),
      };
      const run: RunRecord = {
        id: 'r1a2b3c4d5',
        namespace: 'team-a',
        pipeline: 'web',
        project: 'default',
        revision: sha,
        trigger: 'push',
        triggeredBy: 'webhook',
        phase: 'Queued',
        queuedAt: new Date().toISOString(),
        steps: [],
        images: [],
      };
      reporter.report(pipeline, run);
      reporter.report(pipeline, { ...run, phase: 'Running' });
      await eventually(async () => (await server.statuses('reported', sha)).length >= 1, {
        what: 'a pending status',
      });
      assert.equal((await server.statuses('reported', sha))[0]?.status, 'pending');
      reporter.report(pipeline, { ...run, phase: 'Succeeded' });
      reporter.report(pipeline, run); // a late Queued: behind the end, not sent
      await eventually(async () => (await server.statuses('reported', sha))[0]?.status === 'success', {
        what: 'the success status',
      });
      await eventually(() => reporter.pending === 0, { what: 'nothing left to send' });
      const [latest] = await server.statuses('reported', sha);
      assert.deepEqual(toStatus(latest ?? { status: '', context: '', description: '', target_url: '' }), {
        state: 'success',
        context: 'capstan/web',
        description: 'Capstan run r1a2b3c4d5: succeeded',
        targetURL: 'https://capstan.example.com/runs/r1a2b3c4d5',
      });
      assert.ok(!(await server.statuses('reported', sha)).slice(1).some((s) => s.status === 'success'));
      assert.equal(lines.filter((l) => l['level'] !== 'info').length, 0, JSON.stringify(lines));
      await reporter.stop();
    });
  });
}
