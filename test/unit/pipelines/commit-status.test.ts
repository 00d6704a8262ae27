// Commit statuses (issue #19): the requests each provider takes (core/commit-status.ts), the commit
// status contract against the fake GitHub, Gitea and GitLab (the same contract the real Gitea passes in
// test/integration/commit-status-gitea.test.ts), and the reporter the driver uses: a provider that
// answers 503 is retried with backoff until it takes the status, a 401 is logged and not retried,
// a late Queued never follows the end, and the run is never in its way.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { HttpCommitStatusSink } from '../../../src/adapters/git/commit-status.ts';
import {
  PIPELINE_API_VERSION,
  PIPELINE_KIND,
  resolvePipelineSpec,
  validatePipeline,
} from '../../../src/contracts/pipeline.ts';
import {
  commitStatusDescription,
  commitStatusRequest,
  commitStatusTarget,
  type CommitStatusProvider,
} from '../../../src/core/commit-status.ts';
import { openSqliteStore } from '../../../src/adapters/store/sqlite-store.ts';
import { CommitStatusReporter } from '../../../src/pipelines/commit-status-reporter.ts';
import { PipelineController } from '../../../src/pipelines/pipeline-controller.ts';
import type { PipelineSourceReader } from '../../../src/ports/pipelines.ts';
import { HeldRunExecutor } from '../../../src/testing/held-run-executor.ts';
import type { RunRecord } from '../../../src/ports/store.ts';
import { commitStatusContract } from '../../../src/testing/commit-status-contract.ts';
import { eventually } from '../../../src/testing/eventually.ts';
import { FakeClock } from '../../../src/testing/fake-clock.ts';
import { FakeCommitStatusServer } from '../../../src/testing/fake-commit-status-server.ts';

const SHA = 'c'.repeat(40);
const fakes: FakeCommitStatusServer[] = [];
after(() => Promise.all(fakes.map((f) => f.close())));

async function fake(
  provider: CommitStatusProvider,
  token = 'tok-0123456789',
): Promise<FakeCommitStatusServer> {
  const server = await FakeCommitStatusServer.start(provider, token);
  fakes.push(server);
  return server;
}

for (const provider of ['GitHub', 'Gitea', 'GitLab'] as const) {
  commitStatusContract(`${provider} (fake)`, async () => {
    const server = await fake(provider);
    return {
      provider,
      apiURL: server.apiURL,
      token: server.token,
      repository: (name) => {
        const path = provider === 'GitLab' ? `group/sub/${name}` : `team/${name}`;
        server.addRepository(path, SHA);
        return Promise.resolve({ path, sha: SHA });
      },
      statuses: (path, sha) => Promise.resolve(server.statuses(path, sha)),
    };
  });
}

describe('commit status requests', () => {
  const base = {
    sha: SHA,
    phase: 'Running' as const,
    context: 'capstan/web',
    description: 'Capstan run r1: running',
  };

  it('GitHub, Gitea and Forgejo: POST /repos/{owner}/{repo}/statuses/{sha}, with context', () => {
    const github = commitStatusRequest({
      ...base,
      provider: 'GitHub',
      apiURL: 'https://api.github.com',
      repository: 'team/web',
      targetURL: 'https://capstan.example.com/runs/r1',
    });
    assert.equal(github.url, `https://api.github.com/repos/team/web/statuses/${SHA}`);
    assert.deepEqual(github.body, {
      state: 'pending',
      context: 'capstan/web',
      description: 'Capstan run r1: running',
      target_url: 'https://capstan.example.com/runs/r1',
    });
    const forgejo = commitStatusRequest({
      ...base,
      provider: 'Forgejo',
      apiURL: 'https://f.example/api/v1',
      repository: 'a/b',
    });
    assert.equal(forgejo.url, `https://f.example/api/v1/repos/a/b/statuses/${SHA}`);
    assert.equal(forgejo.body['target_url'], undefined, 'no link without --public-url');
  });

  it("GitLab: POST /projects/{url-encoded path}/statuses/{sha}, with name; Running is GitLab's running", () => {
    const gitlab = commitStatusRequest({
      ...base,
      provider: 'GitLab',
      apiURL: 'https://gl.example/api/v4',
      repository: 'g/s/web',
    });
    assert.equal(gitlab.url, `https://gl.example/api/v4/projects/g%2Fs%2Fweb/statuses/${SHA}`);
    assert.deepEqual(gitlab.body, {
      state: 'running',
      name: 'capstan/web',
      description: 'Capstan run r1: running',
    });
  });

  it("a description longer than GitHub's 140 characters is cut", () => {
    const long = commitStatusRequest({
      ...base,
      provider: 'GitHub',
      apiURL: 'https://api.github.com',
      repository: 'a/b',
      description: 'x'.repeat(300),
    });
    assert.equal(long.body['description']?.length, 140);
    assert.equal(
      commitStatusDescription({ id: 'r1', phase: 'Failed', reason: 'StepTimeout' }),
      'Capstan run r1: failed (StepTimeout)',
    );
  });

  it("the API root from the repository URL: api.github.com, /api/v3, /api/v1, /api/v4; an ssh URL's port is not the web's", () => {
    assert.deepEqual(commitStatusTarget('GitHub', 'https://github.com/Team/Web.git'), {
      apiURL: 'https://api.github.com',
      repository: 'team/web',
    });
    assert.deepEqual(commitStatusTarget('GitHub', 'git@ghe.example.com:team/web.git'), {
      apiURL: 'https://ghe.example.com/api/v3',
      repository: 'team/web',
    });
    assert.deepEqual(commitStatusTarget('Gitea', 'http://127.0.0.1:3000/capstan/web.git'), {
      apiURL: 'http://127.0.0.1:3000/api/v1',
      repository: 'capstan/web',
    });
    assert.deepEqual(commitStatusTarget('GitLab', 'ssh://git@gl.example.com:2222/group/sub/web.git'), {
      apiURL: 'https://gl.example.com/api/v4',
      repository: 'group/sub/web',
    });
    assert.equal(
      commitStatusTarget('Gitea', 'https://git.example.com/web'),
      undefined,
      'no owner/repository',
    );
  });

  it('the Pipeline field: provider required, apiURL without credentials, the Secret defaulting to the credentials one', () => {
    const object = (commitStatus: unknown) => ({
      apiVersion: 'capstan.dev/v1alpha1',
      kind: 'Pipeline',
      metadata: { name: 'web', namespace: 'team-a' },
      spec: { repoURL: 'https://git.example.com/a/web.git', commitStatus },
    });
    assert.ok(validatePipeline(object({ provider: 'Forgejo' })).ok);
    const noProvider = validatePipeline(object({}));
    assert.ok(
      !noProvider.ok && noProvider.errors.join('\n').includes('spec.commitStatus.provider'),
      JSON.stringify(noProvider),
    );
    assert.ok(!validatePipeline(object({ provider: 'Bitbucket' })).ok);
    assert.ok(
      !validatePipeline(object({ provider: 'Gitea', apiURL: 'https://user:pw@git.example.com/api/v1' })).ok,
    );
    const resolved = resolvePipelineSpec({
      repoURL: 'https://git.example.com/a/web.git',
      credentials: { secretRef: { name: 'repo' } },
      commitStatus: { provider: 'Gitea', apiURL: 'https://git.example.com/api/v1/' },
    });
    assert.deepEqual(resolved.commitStatus, {
      provider: 'Gitea',
      apiURL: 'https://git.example.com/api/v1',
      secret: 'repo',
    });
  });

  it('refuses an http:// API unless allowed, and a loopback host unless named', async () => {
    const report = { ...base, provider: 'Gitea' as const, repository: 'a/b' };
    const sink = new HttpCommitStatusSink();
    await assert.rejects(sink.set({ ...report, apiURL: 'http://git.example.com/api/v1' }, {}), /only https/);
    await assert.rejects(
      new HttpCommitStatusSink({ allowInsecureHttp: true }).set(
        { ...report, apiURL: 'http://127.0.0.1:1/api/v1' },
        {},
      ),
      (error: Error & { code?: string }) => error.code === 'SOURCE_HOST_NOT_ALLOWED',
    );
  });
});

describe('the commit status reporter', () => {
  const run: RunRecord = {
    id: 'r1',
    namespace: 'team-a',
    pipeline: 'web',
    project: 'default',
    revision: SHA,
    trigger: 'push',
    triggeredBy: 'webhook',
    phase: 'Queued',
    queuedAt: '2026-01-01T00:00:00.000Z',
    steps: [],
    images: [],
  };

  async function setup(provider: CommitStatusProvider = 'GitHub') {
    const server = await fake(provider, 'secret-token-123');
    const path = provider === 'GitLab' ? 'g/web' : 'team/web';
    server.addRepository(path, SHA);
    const clock = new FakeClock();
    const lines: Record<string, unknown>[] = [];
    const reporter = new CommitStatusReporter({
      sink: new HttpCommitStatusSink({ hosts: { allow: ['127.0.0.1'] }, allowInsecureHttp: true }),
      readSecret: (_namespace, name, key) =>
        Promise.resolve(name === 'repo' && key === 'token' ? 'secret-token-123' : undefined),
      publicUrl: 'https://capstan.example.com',
      sleep: (ms, signal) => clock.sleep(ms, signal),
      log: (line) => lines.push(line),
    });
    const pipeline = {
      namespace: 'team-a',
      name: 'web',
      spec: resolvePipelineSpec({
        repoURL: `https://git.example.com/${path}.git`,
        credentials: { secretRef: { name: 'repo' } },
        commitStatus: { provider, apiURL: server.apiURL },
      }),
    };
    return { server, path, clock, lines, reporter, pipeline };
  }

  it('a provider answering 503 is retried after 1 s, then 2 s, until it takes the status', async () => {
    const { server, path, clock, lines, reporter, pipeline } = await setup();
    server.failNext(2);
    reporter.report(pipeline, { ...run, phase: 'Succeeded' });
    await eventually(() => clock.pending === 1, { what: 'the first retry waiting' });
    await clock.advance(1_000);
    await eventually(() => server.writes === 2 && clock.pending === 1, { what: 'the second retry waiting' });
    await clock.advance(2_000);
    await eventually(() => server.statuses(path, SHA)[0]?.state === 'success', { what: 'the status taken' });
    assert.equal(server.statuses(path, SHA)[0]?.targetURL, 'https://capstan.example.com/runs/r1');
    assert.deepEqual(
      lines.filter((l) => l['level'] === 'warn').map((l) => l['retry']),
      [1, 2],
    );
    await reporter.stop();
  });

  it('a 401 is logged once as an error and not retried; nothing waits', async () => {
    const { server, clock, lines, reporter, pipeline } = await setup('GitLab');
    const config = pipeline.spec.commitStatus;
    assert.ok(config);
    const wrong = { ...pipeline, spec: { ...pipeline.spec, commitStatus: { ...config, secret: 'other' } } };
    reporter.report(wrong, run);
    await eventually(() => reporter.pending === 0 && server.writes === 0 && lines.length > 0, {
      what: 'the refusal logged',
    });
    assert.equal(clock.pending, 0);
    const refusal = lines.find((l) => l['msg'] === 'commit status refused; not retried');
    assert.match(String(refusal?.['error']), /401/);
    assert.ok(!JSON.stringify(lines).includes('secret-token-123'));
    await reporter.stop();
  });

  it('reports in the phases order: a Queued after the Running or the end is not sent', async () => {
    const { server, path, reporter, pipeline } = await setup('GitLab');
    reporter.report(pipeline, { ...run, phase: 'Running' });
    reporter.report(pipeline, run);
    await eventually(() => reporter.pending === 0, { what: 'sent' });
    reporter.report(pipeline, { ...run, phase: 'Failed', reason: 'Error' });
    reporter.report(pipeline, run);
    await eventually(() => reporter.pending === 0, { what: 'sent' });
    assert.deepEqual(
      server.statuses(path, SHA).map((s) => s.state),
      ['failed', 'running'],
    );
    await reporter.stop();
  });

  it('a Pipeline without commitStatus reports nothing', async () => {
    const { server, reporter, pipeline } = await setup();
    const { commitStatus: _unused, ...spec } = pipeline.spec;
    reporter.report({ ...pipeline, spec }, run);
    assert.equal(reporter.pending, 0);
    assert.equal(server.writes, 0);
    await reporter.stop();
  });
});

describe('the pipeline controller reports its runs', () => {
  it('a run of a Pipeline with commitStatus: pending when queued and running, success at its end, on its commit', async () => {
    const server = await fake('Gitea', 'tok-controller');
    server.addRepository('team-a/web', SHA);
    const source: PipelineSourceReader = {
      readFile: () =>
        Promise.resolve({
          text: "steps:\n  - { name: test, image: busybox, commands: ['true'] }\n",
          commit: {
            sha: SHA,
            author: 'Ann',
            email: 'ann@example.com',
            date: '2026-01-01T00:00:00Z',
            subject: 'x',
          },
        }),
      resolve: () => Promise.resolve({ sha: SHA, ref: 'refs/heads/main' }),
      refs: () => Promise.resolve(new Map([['refs/heads/main', SHA]])),
    };
    const store = openSqliteStore({ path: ':memory:' });
    const executor = new HeldRunExecutor();
    const reporter = new CommitStatusReporter({
      sink: new HttpCommitStatusSink({ hosts: { allow: ['127.0.0.1'] }, allowInsecureHttp: true }),
      readSecret: (_namespace, name, key) =>
        Promise.resolve(name === 'status' && key === 'token' ? 'tok-controller' : undefined),
    });
    const controller = new PipelineController({
      store: store.runs,
      source,
      run: {
        executor,
        readSecret: () => Promise.resolve(undefined),
        now: () => new Date(),
        pod: { capstanImage: 'capstan:test' },
      },
      writeStatus: () => Promise.resolve(),
      deletePod: () => Promise.resolve(),
      commitStatus: reporter,
    });
    controller.observe({
      type: 'ADDED',
      object: {
        apiVersion: PIPELINE_API_VERSION,
        kind: PIPELINE_KIND,
        metadata: { name: 'web', namespace: 'team-a' },
        spec: {
          repoURL: 'https://git.example.com/team-a/web.git',
          commitStatus: { provider: 'Gitea', apiURL: server.apiURL, secretRef: { name: 'status' } },
        },
      },
    });
    const outcome = await controller.request('team-a', 'web', {
      id: 'manual-1',
      kind: 'manual',
      ref: 'refs/heads/main',
      by: 'ann',
      at: new Date().toISOString(),
    });
    assert.ok('run' in outcome, JSON.stringify(outcome));
    const id = outcome.run.id;
    await eventually(() => executor.runs.get(id)?.followed === true, { what: 'the run Pod followed' });
    await eventually(() => server.statuses('team-a/web', SHA).length > 0 && reporter.pending === 0, {
      what: 'a pending status',
    });
    assert.ok(server.statuses('team-a/web', SHA).every((st) => st.state === 'pending'));
    executor.succeed(id);
    await eventually(() => server.statuses('team-a/web', SHA)[0]?.state === 'success', {
      what: 'the success status',
    });
    const latest = server.statuses('team-a/web', SHA)[0];
    assert.deepEqual([latest?.context, latest?.description], ['capstan/web', `Capstan run ${id}: succeeded`]);
    await controller.stop();
    await reporter.stop();
  });
});
