// Pipeline runs as Pods on the dev cluster's real node: the checkout by Capstan's own image, steps in
// order over the shared workspace, logs per step, a failing step ending the run, a hanging step killed
// at its limit, a cancel that leaves no Pod, and a secret seen by its step only and masked in its log.
// Node tier: needs root; runs on CAPSTAN_NODE_TEST_CLUSTER (default capstan-node-test).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { KubeRunExecutor, runPod, type PodRunResult } from '../../src/adapters/kube/pod-run.ts';
import { openSqliteStore } from '../../src/adapters/store/sqlite-store.ts';
import { resolvePipelineSpec } from '../../src/contracts/pipeline.ts';
import {
  adoptPipelineRun,
  runPipeline as runAndRecord,
  type PipelineRunRequest,
} from '../../src/pipelines/run-pipeline.ts';
import { parsePipelineFile } from '../../src/contracts/pipeline-file.ts';
import { parseDuration } from '../../src/core/duration.ts';
import { maskableValues } from '../../src/core/log-mask.ts';
import { runPodManifest, runPodName } from '../../src/core/run-pod.ts';
import type { LocalCluster } from '../../src/devcluster/cluster.ts';
import { LOCAL_IMAGES, REAL_NODE } from '../../src/devcluster/node-config.ts';
import { kubeClients, type KubeClients } from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import {
  capstanImageOnNode,
  nodeGitServer,
  registryPullSecret,
  type NodeGitServer,
} from '../../src/testing/pipeline-node.ts';
import { realNodeCluster } from '../../src/testing/real-node.ts';

let cluster: LocalCluster;
let kube: KubeClients;
let git: NodeGitServer;
let gitRoot: string;
let capstanImage: string;
let pullSecret: string;
const namespace = `pipeline-${randomBytes(3).toString('hex')}`;
const SECRET_VALUE = `s3cr3t-${randomBytes(6).toString('hex')}`;

before(async () => {
  cluster = await realNodeCluster();
  kube = kubeClients(cluster.adminKubeconfig);
  capstanImage = await capstanImageOnNode(cluster);
  await kube.core.createNamespace({ body: { metadata: { name: namespace } } });
  pullSecret = await registryPullSecret(cluster, kube, namespace);
  await kube.core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: 'deploy-token' }, stringData: { token: SECRET_VALUE } },
  });
  gitRoot = await mkdtemp(join(tmpdir(), 'capstan-pipeline-git-'));
  git = await nodeGitServer(cluster, gitRoot);
});

after(async () => {
  git.stop();
  await kube.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  await rm(gitRoot, { recursive: true, force: true });
});

interface Ran {
  readonly result: PodRunResult;
  readonly logs: Map<string, string[]>;
  readonly podName: string;
}

/** Runs `pipelineYaml` (its steps on busybox) at a new commit of repository `repo`, as the agent will. */
async function runPipeline(
  repo: string,
  pipelineYaml: string,
  options: { signal?: AbortSignal; onStep?: (step: string) => void } = {},
): Promise<Ran> {
  const revision = await git.commit(
    repo,
    { 'README.md': `hello from ${repo}\n`, '.capstan/pipeline.yaml': pipelineYaml },
    'a change',
  );
  const file = parsePipelineFile(pipelineYaml, '.capstan/pipeline.yaml');
  const runId = randomBytes(4).toString('hex');
  const pod = runPodManifest({
    namespace,
    pipeline: repo,
    runId,
    repoURL: `${git.baseUrl}/${repo}.git`,
    revision,
    capstanImage,
    steps: file.steps,
    timeoutSeconds: parseDuration(file.timeout ?? '10m') / 1000,
    serviceAccountName: 'default',
    imagePullSecrets: [pullSecret],
    allowInsecureHttp: true,
    placement: {
      nodeSelector: { [REAL_NODE.label]: REAL_NODE.labelValue },
      tolerations: [{ key: REAL_NODE.taintKey, operator: 'Exists', effect: 'NoSchedule' }],
    },
  });
  const logs = new Map<string, string[]>();
  const stepTimeoutsMs = Object.fromEntries(
    file.steps.flatMap((s) => (s.timeout === undefined ? [] : [[s.name, parseDuration(s.timeout)]])),
  );
  const result = await runPod({
    config: kube.config,
    pod,
    stepTimeoutsMs,
    masked: maskableValues([SECRET_VALUE]),
    onLog: (step, line) => {
      logs.set(step, [...(logs.get(step) ?? []), line]);
    },
    onState: (state) => {
      const running = state.steps.find((s) => s.phase === 'Running');
      if (running) options.onStep?.(running.name);
    },
    ...(options.signal ? { signal: options.signal } : {}),
    pollMs: 250,
  });
  return { result, logs, podName: runPodName(repo, runId) };
}

const step = (name: string, commands: string[], extra = '') =>
  `  - name: ${name}\n    image: ${LOCAL_IMAGES.busybox}\n    commands:\n${commands.map((c) => `      - ${JSON.stringify(c)}\n`).join('')}${extra}`;

async function podGone(name: string): Promise<boolean> {
  return kube.core.readNamespacedPod({ namespace, name }).then(
    () => false,
    (error: unknown) => (error as { code?: unknown }).code === 404,
  );
}

describe('pipeline runs on the real node', () => {
  it('checks out the commit with Capstan’s image, runs the steps in order over one workspace, and shows a secret to its step only, masked', async () => {
    const yaml = [
      'steps:',
      step('build', ['cat README.md', 'echo built > out.txt']),
      step(
        'publish',
        ['cat out.txt', 'echo "token is $TOKEN"', 'echo "$TOKEN" | wc -c'],
        '    secrets:\n      - {env: TOKEN, secret: deploy-token, key: token}\n',
      ),
      step('after', ['echo "after sees [${TOKEN:-nothing}]"']),
    ].join('\n');
    const { result, logs, podName } = await runPipeline('app', yaml);
    assert.equal(
      result.outcome,
      'Succeeded',
      `${result.message ?? ''}\n${[...logs.entries()].map(([s, l]) => `[${s}] ${l.join('\n')}`).join('\n')}`,
    );
    assert.deepEqual(
      result.steps.map((s) => [s.name, s.phase, s.exitCode]),
      [
        ['checkout', 'Succeeded', 0],
        ['build', 'Succeeded', 0],
        ['publish', 'Succeeded', 0],
        ['after', 'Succeeded', 0],
      ],
    );
    assert.match(logs.get('checkout')?.join('\n') ?? '', /checked out [0-9a-f]{40}/);
    assert.ok(logs.get('build')?.includes('hello from app'), logs.get('build')?.join('\n'));
    const publish = logs.get('publish') ?? [];
    assert.ok(publish.includes('built'), 'the workspace carries files from step to step');
    assert.ok(publish.includes('token is ***'), publish.join('\n'));
    assert.ok(publish.includes(String(SECRET_VALUE.length + 1)), 'the step had the whole value');
    assert.ok(logs.get('after')?.includes('after sees [nothing]'), 'another step never sees it');
    const everything = [...logs.values()].flat().join('\n');
    assert.ok(!everything.includes(SECRET_VALUE), 'no line shows the value');
    assert.ok(await podGone(podName), 'the Pod is removed when the run ends');
  });

  it('stops at a failing step: its exit code is recorded and the later steps never run', async () => {
    const yaml = [
      'steps:',
      step('first', ['echo one']),
      step('broken', ['echo failing', 'exit 3']),
      step('never', ['echo never']),
    ].join('\n');
    const { result, logs } = await runPipeline('failing', yaml);
    assert.equal(result.outcome, 'Failed');
    assert.deepEqual(
      result.steps.map((s) => [s.name, s.phase, s.exitCode]),
      [
        ['checkout', 'Succeeded', 0],
        ['first', 'Succeeded', 0],
        ['broken', 'Failed', 3],
        ['never', 'Skipped', undefined],
      ],
    );
    assert.match(result.message ?? '', /step broken failed \(exit code 3\)/);
    assert.equal(logs.get('never'), undefined);
  });

  it('kills a hanging step at its time limit', async () => {
    const yaml = [
      'steps:',
      step('hangs', ['echo started', 'sleep 600'], '    timeout: 3s\n'),
      step('never', ['true']),
    ].join('\n');
    const { result, logs, podName } = await runPipeline('hanging', yaml);
    assert.equal(result.outcome, 'Failed');
    assert.equal(result.reason, 'StepTimeout');
    assert.match(result.message ?? '', /step hangs ran past its time limit of 3 s/);
    assert.deepEqual(
      result.steps.map((s) => [s.name, s.phase]),
      [
        ['checkout', 'Succeeded'],
        ['hangs', 'Failed'],
        ['never', 'Skipped'],
      ],
    );
    assert.ok(logs.get('hangs')?.includes('started'));
    assert.ok(await podGone(podName));
  });

  it('cancels a run in the middle: the Pod goes at once', async () => {
    const controller = new AbortController();
    const yaml = ['steps:', step('long', ['echo working', 'sleep 600'])].join('\n');
    const { result, podName } = await runPipeline('cancelled', yaml, {
      signal: controller.signal,
      onStep: (name) => {
        if (name === 'long') controller.abort();
      },
    });
    assert.equal(result.outcome, 'Cancelled');
    assert.ok(await podGone(podName), 'no Pod is left');
  });

  describe('pipeline runs recorded in the Store', () => {
    const placement = {
      nodeSelector: { [REAL_NODE.label]: REAL_NODE.labelValue },
      tolerations: [{ key: REAL_NODE.taintKey, operator: 'Exists', effect: 'NoSchedule' }],
    };
    const deps = (store: ReturnType<typeof openSqliteStore>) => ({
      store: store.runs,
      executor: new KubeRunExecutor(kube.config, { pollMs: 250 }),
      readSecret: async (ns: string, name: string, key: string) => {
        const secret = await kube.core.readNamespacedSecret({ namespace: ns, name });
        const data = secret.data?.[key];
        return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
      },
      now: () => new Date(),
      pod: { capstanImage, imagePullSecrets: [pullSecret], placement, allowInsecureHttp: true },
    });

    it('records the commit, each step with its exit code, and the masked log lines; a failing step fails the run', async () => {
      const yaml = [
        'steps:',
        step(
          'show',
          ['echo "deploying with $TOKEN"'],
          '    secrets:\n      - {env: TOKEN, secret: deploy-token, key: token}\n',
        ),
        step('test', ['echo "1 test failed"', 'exit 2']),
        step('image', ['echo never']),
      ].join('\n');
      const revision = await git.commit('recorded', { '.capstan/pipeline.yaml': yaml }, 'break the test');
      const store = openSqliteStore({ path: ':memory:' });
      const record = await runAndRecord(
        {
          namespace,
          pipeline: 'recorded',
          spec: resolvePipelineSpec({ repoURL: `${git.baseUrl}/recorded.git` }),
          fileText: yaml,
          runId: randomBytes(4).toString('hex'),
          revision,
          branch: 'main',
          author: 'Capstan Test <test@capstan.invalid>',
          commitMessage: 'break the test',
          trigger: 'push',
          triggeredBy: 'webhook',
        },
        deps(store),
      );
      assert.equal(record.phase, 'Failed');
      assert.equal(record.revision, revision);
      assert.deepEqual(
        record.steps.map((s) => [s.name, s.phase, s.exitCode]),
        [
          ['checkout', 'Succeeded', 0],
          ['show', 'Succeeded', 0],
          ['test', 'Failed', 2],
          ['image', 'Skipped', undefined],
        ],
      );
      assert.match(record.statusMessage ?? '', /step test failed \(exit code 2\)/);
      assert.ok(record.startedAt !== undefined && record.finishedAt !== undefined);
      const lines = await store.runs.logs(record.id, { limit: 1000 });
      assert.ok(
        lines.some((l) => l.step === 'show' && l.line === 'deploying with ***'),
        JSON.stringify(lines),
      );
      assert.ok(lines.some((l) => l.step === 'test' && l.line === '1 test failed'));
      assert.ok(!lines.some((l) => l.line.includes(SECRET_VALUE)), 'the Store holds no secret');
      assert.deepEqual(
        (await store.runs.list({ pipeline: 'recorded', limit: 10 })).map((r) => r.id),
        [record.id],
      );
      await store.close();
    });

    it('a driver that stops mid-step leaves the Pod going; the next adopts it (one Pod ever), stores each line once, and records the end', async () => {
      const yaml = [
        'steps:',
        step('work', ['echo "before 1"', 'echo "before 2"', 'sleep 15', 'echo "after 1"', 'echo "after 2"']),
        step('last', ['echo "last step"']),
      ].join('\n');
      const revision = await git.commit('adopted', { '.capstan/pipeline.yaml': yaml }, 'a long step');
      const store = openSqliteStore({ path: ':memory:' });
      const runId = randomBytes(4).toString('hex');
      // Every Pod of the run the API server ever had, by uid.
      const uids = new Set<string>();
      const watching = await new k8s.Watch(kube.config).watch(
        `/api/v1/namespaces/${namespace}/pods`,
        { labelSelector: `capstan.dev/run=${runId}` },
        (_type: string, pod: k8s.V1Pod) => {
          if (pod.metadata?.uid !== undefined) uids.add(pod.metadata.uid);
        },
        () => undefined,
      );
      const request: PipelineRunRequest = {
        namespace,
        pipeline: 'adopted',
        spec: resolvePipelineSpec({ repoURL: `${git.baseUrl}/adopted.git` }),
        fileText: yaml,
        runId,
        revision,
        branch: 'main',
        trigger: 'push',
        triggeredBy: 'webhook',
      };
      const detach = new AbortController();
      const first = runAndRecord(request, { ...deps(store), detach: detach.signal });
      await eventually(
        async () =>
          (await store.runs.logs(runId, { step: 'work', limit: 100 })).some((l) => l.line === 'before 2'),
        { what: 'the step writing its first lines' },
      );
      detach.abort();
      const left = await first;
      assert.equal(left.phase, 'Running', 'the stopped driver leaves the run going');
      const pod = await kube.core.readNamespacedPod({ namespace, name: runPodName('adopted', runId) });
      assert.equal(pod.metadata?.deletionTimestamp, undefined, 'its Pod goes on');
      // The next driver (another executor, as a restarted process has) adopts it.
      const record = await adoptPipelineRun(request, deps(store));
      watching.abort();
      assert.equal(record.phase, 'Succeeded', record.statusMessage);
      assert.deepEqual(
        record.steps.map((s) => [s.name, s.phase, s.exitCode]),
        [
          ['checkout', 'Succeeded', 0],
          ['work', 'Succeeded', 0],
          ['last', 'Succeeded', 0],
        ],
      );
      const lines = await store.runs.logs(runId, { limit: 1000 });
      const of = (name: string) => lines.filter((l) => l.step === name).map((l) => l.line);
      const printed = ['before 1', 'before 2', 'after 1', 'after 2'];
      assert.deepEqual(
        of('work').filter((l) => printed.includes(l)),
        printed,
        `each line once, in order:\n${of('work').join('\n')}`,
      );
      assert.equal(of('checkout').filter((l) => /checked out [0-9a-f]{40}/.test(l)).length, 1);
      assert.ok(of('last').includes('last step'));
      assert.equal(uids.size, 1, 'one Pod was ever made for the run');
      assert.ok(await podGone(runPodName('adopted', runId)), 'the adopting driver deletes it at the end');
      await store.close();
    });

    it('refuses an invalid pipeline file with its line, and runs nothing', async () => {
      const yaml = 'steps:\n  - name: t\n    image: busybox\n    comands: [x]\n';
      const store = openSqliteStore({ path: ':memory:' });
      const runId = randomBytes(4).toString('hex');
      const record = await runAndRecord(
        {
          namespace,
          pipeline: 'invalid',
          spec: resolvePipelineSpec({ repoURL: `${git.baseUrl}/invalid.git` }),
          fileText: yaml,
          runId,
          revision: 'b'.repeat(40),
          trigger: 'manual',
          triggeredBy: 'alice',
        },
        deps(store),
      );
      assert.equal(record.phase, 'Failed');
      assert.equal(record.reason, 'PipelineFileInvalid');
      assert.match(
        record.statusMessage ?? '',
        /\.capstan\/pipeline\.yaml:4:5: steps\[0\]\.comands: unknown field/,
      );
      assert.ok(await podGone(runPodName('invalid', runId)), 'no Pod was made');
      await store.close();
    });
  });
});
