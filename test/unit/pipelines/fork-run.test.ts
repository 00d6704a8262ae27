// A pull request from a fork runs without secrets: its steps that name a Secret, its image steps and
// its caches are left out of the run Pod and recorded Skipped (SecretsWithheld), the other steps run.
// runPipeline with a HeldRunExecutor (the Pod is looked at, not run) and a real SQLite Store.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openSqliteStore } from '../../../src/adapters/store/sqlite-store.ts';
import { parsePipelineFile } from '../../../src/contracts/pipeline-file.ts';
import { resolvePipelineSpec } from '../../../src/contracts/pipeline.ts';
import { forkPlan, SECRETS_WITHHELD } from '../../../src/pipelines/fork-run.ts';
import { runPipeline, type PipelineRunRequest } from '../../../src/pipelines/run-pipeline.ts';
import { eventually } from '../../../src/testing/eventually.ts';
import { HeldRunExecutor } from '../../../src/testing/held-run-executor.ts';

const FILE = `caches:
  - { name: npm, key: package-lock.json, paths: [node_modules] }
steps:
  - name: test
    image: node:24
    commands: [npm test]
    caches: [npm]
  - name: publish
    image: node:24
    commands: [npm publish]
    secrets:
      - { env: NPM_TOKEN, secret: npm, key: token }
  - name: image
    build: { registry: registry.example.com, repository: team/web }
  - name: after
    image: busybox
    commands: [echo done]
`;

describe('pull requests from forks run without secrets', () => {
  it('forkPlan keeps the steps that need no secret, drops caches, and says why each other is skipped', () => {
    const plan = forkPlan(parsePipelineFile(FILE, '.capstan/pipeline.yaml'));
    assert.deepEqual(
      plan.file.steps.map((s) => s.name),
      ['test', 'after'],
    );
    assert.equal(plan.file.caches, undefined);
    assert.ok(plan.file.steps.every((s) => s.caches === undefined));
    assert.deepEqual(
      plan.withheld.map((s) => [s.name, s.phase, s.reason]),
      [
        ['publish', 'Skipped', SECRETS_WITHHELD],
        ['image', 'Skipped', SECRETS_WITHHELD],
      ],
    );
    assert.match(
      plan.withheld[0]?.message ?? '',
      /a fork runs without secrets, and it names the Secret npm\/token/,
    );
    assert.match(plan.withheld[1]?.message ?? '', /registry credentials/);
  });

  for (const fromFork of [true, false]) {
    it(`a run of a pull request ${fromFork ? 'from a fork has no Secret in its Pod' : 'from the repository has its secrets'}`, async () => {
      const store = openSqliteStore({ path: ':memory:' });
      const executor = new HeldRunExecutor();
      const secretsRead: string[] = [];
      const request: PipelineRunRequest = {
        namespace: 'team-a',
        pipeline: 'web',
        spec: resolvePipelineSpec({
          repoURL: 'https://git.example.com/team-a/web.git',
          registrySecretRef: { name: 'registry' },
          credentials: { secretRef: { name: 'repo' } },
        }),
        fileText: FILE,
        runId: fromFork ? 'fork1' : 'same1',
        revision: 'a'.repeat(40),
        branch: 'feature',
        trigger: 'pullRequest',
        triggeredBy: 'webhook:github',
        pullRequest: {
          number: 7,
          sourceBranch: 'feature',
          targetBranch: 'main',
          ...(fromFork ? { fromFork } : {}),
        },
      };
      const running = runPipeline(request, {
        store: store.runs,
        executor,
        readSecret: (_namespace, name, key) => {
          secretsRead.push(`${name}/${key}`);
          return Promise.resolve('s3cr3t-value');
        },
        now: () => new Date(),
        pod: {
          capstanImage: 'capstan@sha256:' + '0'.repeat(64),
          buildkit: {
            image: 'buildkit',
            address: 'tcp://buildkitd:1234',
            serverName: 'buildkitd',
            clientSecret: 'buildkit-client',
          },
        },
      });
      await eventually(() => executor.runs.has(request.runId), { what: 'the run Pod made' });
      const pod = JSON.stringify(executor.runs.get(request.runId)?.pod);
      const spec = executor.runs.get(request.runId)?.pod['spec'] as {
        initContainers: { name: string }[];
        containers: { name: string }[];
      };
      const names = [...spec.initContainers, ...spec.containers].map((c) => c.name);
      if (fromFork) {
        assert.deepEqual(names, ['checkout', 'test', 'after']);
        // The checkout (Capstan's own code, before any of the fork's) alone has the repository's credentials.
        const steps = JSON.stringify([...spec.initContainers, ...spec.containers].slice(1));
        assert.ok(
          !steps.includes('secretKeyRef') && !steps.includes('secretName'),
          'no Secret reaches a step',
        );
        assert.ok(!pod.includes('"registry"'), 'no registry credentials');
        assert.ok(!pod.includes('persistentVolumeClaim'), 'no cache');
        assert.deepEqual(secretsRead, [], 'no Secret was read for the run');
      } else {
        assert.deepEqual(names, ['checkout', 'test', 'publish', 'image', 'after', 'capstan']);
        assert.ok(pod.includes('secretKeyRef'));
        assert.deepEqual(secretsRead, ['npm/token']);
      }
      executor.succeed(request.runId);
      const record = await running;
      assert.equal(record.phase, 'Succeeded');
      assert.equal(record.pullRequest?.fromFork, fromFork ? true : undefined);
      if (fromFork)
        assert.deepEqual(
          record.steps.map((s) => [s.name, s.phase, s.reason]),
          [
            ['checkout', 'Succeeded', undefined],
            ['test', 'Succeeded', undefined],
            ['publish', 'Skipped', SECRETS_WITHHELD],
            ['image', 'Skipped', SECRETS_WITHHELD],
            ['after', 'Succeeded', undefined],
          ],
        );
      await store.close();
    });
  }
});
