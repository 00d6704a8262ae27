// Pipeline caches on the dev cluster's real node: a first run starts cold and its step makes a file in
// the cached folder; the run Pod's last container saves it on the Pipeline's claim; a second run (a new
// commit, the same key file) finds the file the first run made, restored by the checkout.
// The claim Capstan creates names no StorageClass: the dev cluster's default (capstan-local, its real
// node's provisioner) gives it a volume, a folder of the node, when the first run Pod is scheduled.
// Node tier: needs root; runs on CAPSTAN_NODE_TEST_CLUSTER.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runPod } from '../../src/adapters/kube/pod-run.ts';
import { parsePipelineFile } from '../../src/contracts/pipeline-file.ts';
import { cacheClaimName } from '../../src/core/pipeline-cache.ts';
import { runPodManifest } from '../../src/core/run-pod.ts';
import type { LocalCluster } from '../../src/devcluster/cluster.ts';
import { LOCAL_VOLUMES } from '../../src/devcluster/local-volumes.ts';
import { LOCAL_IMAGES, REAL_NODE } from '../../src/devcluster/node-config.ts';
import { kubeClients, type KubeClients } from '../../src/testing/cluster.ts';
import {
  capstanImageOnNode,
  nodeGitServer,
  registryPullSecret,
  type NodeGitServer,
} from '../../src/testing/pipeline-node.ts';
import { realNodeCluster } from '../../src/testing/real-node.ts';

let cluster: LocalCluster;
let kube: KubeClients;
let git: NodeGitServer | undefined;
let gitRoot: string;
let capstanImage: string;
let pullSecret: string;
const namespace = `pipeline-cache-${randomBytes(3).toString('hex')}`;
const pipeline = 'web';

before(async () => {
  cluster = await realNodeCluster();
  kube = kubeClients(cluster.adminKubeconfig);
  capstanImage = await capstanImageOnNode(cluster);
  await kube.core.createNamespace({ body: { metadata: { name: namespace } } });
  pullSecret = await registryPullSecret(cluster, kube, namespace);
  gitRoot = await mkdtemp(join(tmpdir(), 'capstan-cache-git-'));
  git = await nodeGitServer(cluster, gitRoot);
});

after(async () => {
  git?.stop();
  await kube.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  await rm(gitRoot, { recursive: true, force: true });
});

const PIPELINE = `caches:
  - name: deps
    key: deps.lock
    paths: [deps]
steps:
  - name: build
    image: ${LOCAL_IMAGES.busybox}
    caches: [deps]
    commands:
      - 'if [ -f deps/made-by ]; then echo "warm: made by $(cat deps/made-by)"; else echo cold; mkdir -p deps; echo "$CAPSTAN_REVISION" > deps/made-by; fi'
`;

/** Runs the pipeline at a new commit; returns the commit and the log lines by step. */
async function runAt(
  message: string,
): Promise<{ revision: string; logs: Map<string, string[]>; outcome: string }> {
  if (git === undefined) throw new Error('no git server');
  const revision = await git.commit(
    pipeline,
    { '.capstan/pipeline.yaml': PIPELINE, 'deps.lock': 'left-pad@1.3.0\n', 'README.md': `${message}\n` },
    message,
  );
  const file = parsePipelineFile(PIPELINE, '.capstan/pipeline.yaml');
  const pod = runPodManifest({
    namespace,
    pipeline,
    runId: randomBytes(4).toString('hex'),
    repoURL: `${git.baseUrl}/${pipeline}.git`,
    revision,
    capstanImage,
    steps: file.steps,
    caches: { owner: { project: 'default', namespace, pipeline }, definitions: file.caches ?? [] },
    timeoutSeconds: 600,
    serviceAccountName: 'default',
    imagePullSecrets: [pullSecret],
    allowInsecureHttp: true,
    placement: {
      nodeSelector: { [REAL_NODE.label]: REAL_NODE.labelValue },
      tolerations: [{ key: REAL_NODE.taintKey, operator: 'Exists', effect: 'NoSchedule' }],
    },
  });
  const logs = new Map<string, string[]>();
  const result = await runPod({
    config: kube.config,
    pod,
    stepTimeoutsMs: {},
    masked: [],
    onLog: (step, line) => {
      logs.set(step, [...(logs.get(step) ?? []), line]);
    },
    pollMs: 250,
  });
  return { revision, logs, outcome: `${result.outcome} ${result.reason ?? ''} ${result.message ?? ''}` };
}

describe('pipeline caches on the real node', () => {
  it('the second run restores what the first run’s step made', async () => {
    const first = await runAt('first');
    assert.equal(first.outcome.trim(), 'Succeeded', JSON.stringify([...first.logs]));
    assert.ok(
      first.logs.get('build')?.some((l) => l.includes('cold')),
      JSON.stringify([...first.logs]),
    );
    assert.ok(first.logs.get('checkout')?.some((l) => l.includes('the steps start cold')));
    assert.ok(first.logs.get('capstan')?.some((l) => /capstan: cache deps: saved deps/.test(l)));
    const claim = await kube.core.readNamespacedPersistentVolumeClaim({
      namespace,
      name: cacheClaimName(pipeline),
    });
    assert.equal(claim.status?.phase, 'Bound');
    assert.equal(claim.spec?.storageClassName, LOCAL_VOLUMES.storageClass, 'the default StorageClass');
    const volume = await kube.core.readPersistentVolume({ name: claim.spec.volumeName ?? '' });
    const folder = volume.spec?.local?.path ?? '';
    assert.equal(dirname(folder), cluster.state.realNode?.paths.volumes);
    assert.ok(existsSync(folder) && readdirSync(folder).length > 0, `the saved cache in ${folder}`);

    const second = await runAt('second');
    assert.equal(second.outcome.trim(), 'Succeeded', JSON.stringify([...second.logs]));
    assert.ok(second.logs.get('checkout')?.some((l) => l.includes('capstan: cache deps: restored deps')));
    assert.ok(
      second.logs.get('build')?.some((l) => l.includes(`warm: made by ${first.revision}`)),
      JSON.stringify([...second.logs]),
    );
  });
});
