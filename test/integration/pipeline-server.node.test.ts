// Pipelines driven by `capstan server` as installed (issue #19), on the dev cluster's real node:
// install.yaml's server objects (scripts/generate-install.ts: the CRDs, the server's least-privilege
// RBAC with a Pipeline namespace, its Deployment with --pipeline-image and --buildkit-*) applied with
// kubectl, the server placed on the real node as an operator's overlay would (node selector,
// toleration, pull Secret, the run Pods' placement flags, the git server's private address allowed).
// A code repository on the test git server holds the sample application; a Pipeline polls it; a push
// is found by the server's controller, which runs the tests step and the image step (BuildKit in the
// cluster, pushed to the cluster's registry). Then, as a user would see it: `skopeo inspect` of the
// pushed image (source and revision labels), the run through the API with its image digest (the index
// whose attestation the server made reproducible, reaching the registry from its Pod through
// --registry-endpoint), the Pipeline's status, and `capstan pipeline logs` with the steps' output; the
// same commit re-run gives the same digest. Then the installed agent (its
// webhook port through a NodePort, its Secret capstan-webhooks): a signed GitHub push to another
// repository starts that repository's Pipeline's run, which polls nothing.
// Node tier: needs root; runs on the node tier's cluster (CAPSTAN_NODE_TEST_CLUSTER).
import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { AGENT_NAME, installManifests, WEBHOOK_PORT } from '../../src/contracts/install.ts';
import { SERVER_DATA_CLAIM, SERVER_NAME, SERVER_PORT } from '../../src/contracts/install-server.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND } from '../../src/contracts/pipeline.ts';
import { messageOf } from '../../src/core/errors.ts';
import { invocationIdOf } from '../../src/core/provenance.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import { run } from '../../src/devcluster/exec.ts';
import { NODE_NETWORK, REAL_NODE } from '../../src/devcluster/node-config.ts';
import { runCapstan } from '../../src/testing/cli.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { holdInstallLock } from '../../src/testing/install-lock.ts';
import {
  closePipelineNodeSetup,
  pipelineNodeSetup,
  provenanceWithSkopeo,
  registryPullSecret,
  type PipelineNodeSetup,
} from '../../src/testing/pipeline-node.ts';
import { sampleApp } from '../../src/testing/pipeline-sample.ts';
import { kubectl, onRealNode, realNodeCluster } from '../../src/testing/real-node.ts';
import { adminSession } from '../../src/testing/server.ts';
import {
  registryCaConfigMap,
  serverReachesRegistry,
  type PodRegistry,
} from '../../src/main/registry-overlay.ts';

const SERVER_PODS = 'app.kubernetes.io/name=capstan,app.kubernetes.io/component=server';
const namespace = `pipe-server-${randomBytes(3).toString('hex')}`;
/** The server's own namespace (install.yaml's capstan-system, named afresh so that runs do not meet). */
const serverNamespace = `capstan-${randomBytes(3).toString('hex')}`;
const repository = `samples/hello-${randomBytes(3).toString('hex')}`;
let setup: PipelineNodeSetup;
let base = '';
let headers: Record<string, string> = {};
let scratch = '';
/** The CLI's environment: its login file in the test's folder. */
const cliEnv = () => ({ CAPSTAN_CONFIG: join(scratch, 'login.json') });

const AGENT_PODS = 'app.kubernetes.io/name=capstan,app.kubernetes.io/component=agent';
const GITHUB_SECRET = `gh-${randomBytes(8).toString('hex')}`;

/** The registry's CA for the server's Pod (serverReachesRegistry). */
const REGISTRY_CA = 'registry-ca';

/** The cluster's registry as images name it and as the server's Pod reaches it (docs/real-node.md, "Registry"). */
async function podRegistry(): Promise<PodRegistry> {
  const { address, podAddress, caFile } = setup.registry;
  assert.ok(
    podAddress,
    `the registry of cluster ${setup.cluster.name} answers no Pod address (a node started before it did): down and up again`,
  );
  return { address, podAddress, ca: await readFile(caFile, 'utf8') };
}

/**
 * install.yaml's CRDs, namespace, agent and server objects, with the server and the agent (one
 * replica) on the real node as an operator's overlay would place them: the node's selector and
 * toleration, the registry's pull Secret; for the server the git server's private address allowed and
 * http checkouts (a dev git server), the run Pods' pull Secret and placement, and the registry that
 * BuildKit pushed to (127.0.0.1:<r>) reached at the node's address with its CA
 * (`--registry-endpoint`, NODE_EXTRA_CA_CERTS), to make the attestations reproducible.
 */
async function serverInstall(): Promise<KubeObject[]> {
  const { capstanImage, buildkit } = setup;
  const objects = installManifests({
    image: capstanImage,
    namespace: serverNamespace,
    pipelineNamespaces: [namespace],
    buildkit: {
      image: buildkit.image,
      address: buildkit.address,
      serverName: buildkit.serverName,
      clientSecret: buildkit.clientSecret,
    },
    replicas: 1,
  });
  const placed = objects.map((object) => {
    if (object.kind !== 'Deployment') return object;
    const spec = object['spec'] as { template: { spec: k8s.V1PodSpec } };
    const pod = onRealNode(spec.template.spec);
    pod.imagePullSecrets = [{ name: 'registry' }];
    if (object.metadata.name === AGENT_NAME)
      return { ...object, spec: { ...spec, template: { ...spec.template, spec: pod } } };
    pod.containers = pod.containers.map((c) =>
      Object.assign({}, c, {
        args: [
          ...(c.args ?? []),
          '--allow-repository-host',
          NODE_NETWORK.nodeAddress,
          '--pipeline-allow-http',
          '--run-image-pull-secret',
          'registry',
          '--run-node-selector',
          `${REAL_NODE.label}=${REAL_NODE.labelValue}`,
          '--run-toleration',
          `${REAL_NODE.taintKey}:NoSchedule`,
        ],
      }),
    );
    return { ...object, spec: { ...spec, template: { ...spec.template, spec: pod } } };
  });
  return serverReachesRegistry(placed, { registry: await podRegistry(), caConfigMap: REGISTRY_CA });
}

async function serverPods(labelSelector = SERVER_PODS): Promise<k8s.V1Pod[]> {
  const list = await setup.kube.core.listNamespacedPod({ namespace: serverNamespace, labelSelector });
  return list.items.filter((p) => p.metadata?.deletionTimestamp === undefined);
}

const isReady = (pod: k8s.V1Pod) =>
  pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/** The server pod's log, as `kubectl logs` shows it. */
const serverLog = () =>
  kubectl(setup.cluster, ['logs', '-n', serverNamespace, '-l', SERVER_PODS, '--tail', '-1']);

/** The agent pod's log, as `kubectl logs` shows it. */
const agentLog = () =>
  kubectl(setup.cluster, ['logs', '-n', serverNamespace, '-l', AGENT_PODS, '--tail', '-1']);

/** skopeo as a user would run it against the cluster's registry. */
async function skopeo(args: readonly string[]): Promise<string> {
  const { registry } = setup;
  const { stdout } = await run(
    'skopeo',
    [args[0] ?? 'inspect', '--authfile', registry.authFile, '--cert-dir', registry.certDir, ...args.slice(1)],
    { timeoutMs: 60_000 },
  );
  return stdout;
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${base}${path}`, { headers });
  assert.equal(res.status, 200, `GET ${path}: ${await res.clone().text()}`);
  return (await res.json()) as T;
}

interface RunJson {
  readonly id: string;
  readonly phase: string;
  readonly trigger: string;
  readonly triggeredBy: string;
  readonly revision: string;
  readonly branch?: string;
  readonly rerunOf?: string;
  readonly statusMessage?: string;
  readonly queuedAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly steps: readonly {
    readonly name: string;
    readonly phase: string;
    readonly startedAt?: string;
    readonly finishedAt?: string;
  }[];
  readonly images: readonly {
    readonly step: string;
    readonly reference: string;
    readonly digest: string;
    readonly tags: readonly string[];
  }[];
}

/** Where a run's time went, from the push (reported, never asserted: the machine is shared). */
function stagesOf(run: RunJson, pushedAt: string): Record<string, number> {
  const span = (from: string | undefined, to: string | undefined) =>
    from === undefined || to === undefined ? NaN : (Date.parse(to) - Date.parse(from)) / 1000;
  const step = (name: string) => run.steps.find((s) => s.name === name);
  return {
    pushToQueued: span(pushedAt, run.queuedAt),
    queue: span(run.queuedAt, run.startedAt),
    podStart: span(run.startedAt, step('checkout')?.startedAt),
    checkout: span(step('checkout')?.startedAt, step('checkout')?.finishedAt),
    test: span(step('test')?.startedAt, step('test')?.finishedAt),
    image: span(step('image')?.startedAt, step('image')?.finishedAt),
    total: span(pushedAt, run.finishedAt),
  };
}

/** The sample application, its pipeline file started by pushes to main. */
function sample(version: string): Record<string, string> {
  const files = sampleApp({
    greeting: 'hello',
    nodeBase: setup.nodeBase,
    registry: setup.registry.address,
    repository,
    version,
  });
  const file = files['.capstan/pipeline.yaml'] ?? '';
  return { ...files, '.capstan/pipeline.yaml': `triggers:\n  push: { branches: [main] }\n${file}` };
}

/** The first run of the sample (the polling test), which the re-run builds again. */
let firstRun: { id: string; revision: string; digest: string; reference: string } | undefined;

/** The commit's time (SOURCE_DATE_EPOCH of its build), from the test git server's repository. */
async function commitEpoch(name: string, revision: string): Promise<number> {
  const bare = join(setup.gitRoot, 'repos', `${name}.git`);
  return Number((await run('git', ['-C', bare, 'log', '-1', '--format=%ct', revision])).stdout.trim());
}

/**
 * Issue #19: the attestation of the recorded index, read with skopeo, is the reproducible one: the
 * invocation id derived from the image, the commit and the step, and the commit's time as start and
 * finish (docs/pipelines.md, "Reproducible"), not BuildKit's random id and clock.
 */
async function assertReproducibleAttestation(reference: string, revision: string): Promise<void> {
  const sourceDateEpoch = await commitEpoch('hello', revision);
  const metadata =
    (await provenanceWithSkopeo(setup.registry, reference)).predicate.runDetails?.metadata ?? {};
  const expected = invocationIdOf({
    image: `${setup.registry.address}/${repository}`,
    commit: revision,
    step: 'image',
    sourceDateEpoch,
  });
  assert.equal(metadata['invocationId'], expected, JSON.stringify(metadata));
  assert.equal(Date.parse(String(metadata['startedOn'])), sourceDateEpoch * 1000, JSON.stringify(metadata));
  assert.equal(Date.parse(String(metadata['finishedOn'])), sourceDateEpoch * 1000);
}

/** The cluster's install lock, released after the test (src/testing/install-lock.ts). */
let releaseInstallLock: (() => Promise<void>) | undefined;

before(async () => {
  const cluster = await realNodeCluster();
  setup = await pipelineNodeSetup(cluster, namespace);
  // Another install in this cluster meanwhile would bind the fixed-name ClusterRoleBindings to its own
  // ServiceAccounts and take this agent's and server's cluster-wide rights away: one at a time.
  releaseInstallLock = await holdInstallLock(setup.kube.config, serverNamespace, {
    onWait: (holder) => {
      console.log(`waiting for the cluster's install lock, held by ${holder}`);
    },
  });
  scratch = await mkdtemp(join(tmpdir(), 'capstan-pipeline-server-'));
  // The server's namespace and its pull Secret first, so that its pod's first pull has them.
  await setup.kube.core.createNamespace({ body: { metadata: { name: serverNamespace } } });
  await registryPullSecret(cluster, setup.kube, serverNamespace);
  await setup.kube.core.createNamespacedConfigMap({
    namespace: serverNamespace,
    body: registryCaConfigMap(
      REGISTRY_CA,
      serverNamespace,
      await podRegistry(),
    ) as unknown as k8s.V1ConfigMap,
  });
  // The agent's webhook secrets (docs/agent.md), before the agent first reads them.
  await setup.kube.core.createNamespacedSecret({
    namespace: serverNamespace,
    body: { metadata: { name: 'capstan-webhooks' }, stringData: { github: GITHUB_SECRET } },
  });
});

after(async () => {
  await setup.kube.core.deleteNamespace({ name: serverNamespace }).catch(() => undefined);
  await releaseInstallLock?.();
  await closePipelineNodeSetup(setup);
  await rm(scratch, { recursive: true, force: true });
});

describe('pipelines driven by the installed server on the real node', { timeout: 1_800_000 }, () => {
  it('runs the server from install.yaml, with the rights and flags to drive runs', async () => {
    const dir = join(setup.cluster.state.realNode?.paths.images ?? scratch, 'install');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `server-${namespace}.yaml`);
    await writeFile(file, (await serverInstall()).map((o) => stringify(o)).join('---\n'));
    await kubectl(setup.cluster, ['apply', '--server-side', '--force-conflicts', '-f', file]);
    const [pod] = await eventually(
      async () => {
        const pods = await serverPods();
        return pods.length === 1 && pods.every(isReady) ? pods : false;
      },
      { what: 'the server pod Ready on the real node', timeoutMs: 300_000, intervalMs: 1000 },
    );
    assert.equal(pod?.spec?.nodeName, REAL_NODE.name);
    assert.equal(pod.status?.containerStatuses?.[0]?.imageID, setup.capstanImage);
    // The API from the machine, as through an Ingress: a NodePort of the real node.
    const service = await setup.kube.core.createNamespacedService({
      namespace: serverNamespace,
      body: {
        metadata: { name: `${SERVER_NAME}-node-port` },
        spec: {
          type: 'NodePort',
          selector: { 'app.kubernetes.io/name': 'capstan', 'app.kubernetes.io/component': 'server' },
          ports: [{ name: 'http', port: SERVER_PORT, targetPort: 'http' }],
        },
      },
    });
    const nodePort = service.spec?.ports?.[0]?.nodePort;
    assert.ok(nodePort);
    base = `http://${await setup.cluster.exposeNodePort(nodePort)}`;
    const password = await eventually(
      async () => {
        const secret = await setup.kube.core.readNamespacedSecret({
          namespace: serverNamespace,
          name: 'capstan-initial-admin',
        });
        return Buffer.from(secret.data?.['password'] ?? '', 'base64').toString() || false;
      },
      { what: 'the initial admin password', timeoutMs: 60_000 },
    );
    const session = await eventually(() => adminSession(base, password), {
      what: 'a session with the server through the NodePort',
      timeoutMs: 60_000,
      intervalMs: 1000,
    });
    headers = { cookie: session.cookie, 'x-csrf-token': session.csrfToken };
    // The CLI, logged in as the admin.
    const login = await runCapstan(['login', base, '--password-stdin'], cliEnv(), password);
    assert.equal(login.code, 0, login.stderr);
    // The agent, beside it.
    const [agent] = await eventually(
      async () => {
        const pods = await serverPods(AGENT_PODS);
        return pods.length === 1 && pods.every(isReady) ? pods : false;
      },
      { what: 'the agent pod Ready on the real node', timeoutMs: 300_000, intervalMs: 1000 },
    );
    assert.equal(agent?.spec?.nodeName, REAL_NODE.name);
  });

  it('finds a push by polling, tests and builds the image in the cluster, pushes it, and records the run', async (t) => {
    assert.ok(base, 'the server runs');
    const { git, kube } = setup;
    await git.commit('hello', sample('1'), 'the first version');
    await kube.objects.create({
      apiVersion: PIPELINE_API_VERSION,
      kind: PIPELINE_KIND,
      metadata: { name: 'hello', namespace },
      spec: {
        repoURL: `${git.baseUrl}/hello.git`,
        registrySecretRef: { name: 'registry' },
        pollInterval: '5s',
      },
    } as k8s.KubernetesObject);
    // The controller's first look only remembers the branches: the push must come after it.
    await eventually(
      async () =>
        (await serverLog()).includes(`"msg":"pipeline polled","pipeline":"${namespace}/hello"`) || false,
      { what: 'the server’s first poll of the repository', timeoutMs: 180_000, intervalMs: 2000 },
    );
    const pushedAt = new Date().toISOString();
    const revision = await git.commit('hello', sample('2'), 'the second version');

    const runs = `/api/v1/runs?namespace=${namespace}&pipeline=hello`;
    const ended = await eventually(
      async () => {
        const { items } = await api<{ items: RunJson[] }>(runs);
        const found = items.find((r) => r.revision === revision);
        return found && !['Queued', 'Running'].includes(found.phase) ? found : false;
      },
      { what: `the run of ${revision} ended`, timeoutMs: 1_200_000, intervalMs: 3000 },
    );
    t.diagnostic(`stages (s): ${JSON.stringify(stagesOf(ended, pushedAt))}`);
    assert.equal(ended.phase, 'Succeeded', JSON.stringify(ended));
    assert.equal(ended.trigger, 'poll');
    assert.equal(ended.branch, 'main');
    assert.deepEqual(
      ended.steps.map((s) => [s.name, s.phase]),
      [
        ['checkout', 'Succeeded'],
        ['test', 'Succeeded'],
        ['image', 'Succeeded'],
      ],
    );
    const one = await api<RunJson>(`/api/v1/runs/${ended.id}`);
    const [image] = one.images;
    assert.ok(image && one.images.length === 1, JSON.stringify(one.images));
    assert.match(image.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(image.reference, `${setup.registry.address}/${repository}@${image.digest}`);
    assert.deepEqual(image.tags, [revision.slice(0, 12), 'main']);

    // The pushed image, read back independently: the tag leads to the recorded digest; its labels.
    const index = JSON.parse(await skopeo(['inspect', '--raw', `docker://${image.reference}`])) as {
      manifests: { digest: string; platform?: { os: string } }[];
    };
    const byTag = await skopeo(['inspect', '--raw', `docker://${setup.registry.address}/${repository}:main`]);
    assert.deepEqual(JSON.parse(byTag), index);
    const platform = index.manifests.find((m) => m.platform?.os === 'linux');
    assert.ok(platform, JSON.stringify(index));
    const config = JSON.parse(
      await skopeo([
        'inspect',
        '--config',
        `docker://${setup.registry.address}/${repository}@${platform.digest}`,
      ]),
    ) as { config: { Labels: Record<string, string> } };
    assert.equal(config.config.Labels['org.opencontainers.image.source'], `${git.baseUrl}/hello.git`);
    assert.equal(config.config.Labels['org.opencontainers.image.revision'], revision);
    // The recorded index is the one the installed server made reproducible, from its Pod through
    // --registry-endpoint (no "attested, not reproducible" notice).
    assert.equal(ended.statusMessage, undefined, `the run says: ${ended.statusMessage ?? ''}`);
    await assertReproducibleAttestation(image.reference, revision);
    firstRun = { id: ended.id, revision, digest: image.digest, reference: image.reference };

    // The Pipeline's status names the run; its Pod is gone (the record and logs are in the Store).
    const lastRun = await eventually(
      async () => {
        const pipeline = (await kube.objects.read({
          apiVersion: PIPELINE_API_VERSION,
          kind: PIPELINE_KIND,
          metadata: { name: 'hello', namespace },
        })) as { status?: { lastRun?: { id: string; phase: string; revision: string } } };
        const last = pipeline.status?.lastRun;
        return last?.id === ended.id && last.phase === ended.phase ? last : false;
      },
      { what: 'the Pipeline’s status naming the run', timeoutMs: 60_000 },
    ).catch(async (error: unknown) => {
      // A refused status write is in the server's log (`Pipeline status not written`), not in the test's.
      throw new Error(`${messageOf(error)}; the server's log:\n${await serverLog()}`, { cause: error });
    });
    assert.deepEqual(lastRun, { id: ended.id, phase: 'Succeeded', revision });
    await eventually(
      async () => {
        const left = await kube.core.listNamespacedPod({
          namespace,
          labelSelector: `capstan.dev/run=${ended.id}`,
        });
        return left.items.length === 0;
      },
      { what: 'the run Pod deleted', timeoutMs: 60_000 },
    );

    // `capstan pipeline logs` as a user types it: the test step's output and the push.
    const logs = await runCapstan(['pipeline', 'logs', ended.id], cliEnv());
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /^\[test\] .*pass 1/m);
    assert.match(logs.stdout, /^\[test\] .*fail 0/m);
    // The step's log names the index BuildKit pushed; the run records the rewritten one.
    const pushed = /^\[image\] capstan: pushed ([^;\s]+)/m.exec(logs.stdout)?.[1];
    assert.match(
      pushed ?? '',
      new RegExp(`^${setup.registry.address}/${repository}@sha256:[0-9a-f]{64}$`),
      `capstan pipeline logs:\n${logs.stdout}`,
    );
    assert.notEqual(pushed, image.reference, 'the recorded index is the rewritten one, not BuildKit’s');
  });

  it('builds the same commit again (capstan pipeline rerun) to the same digest: the index with the reproducible attestation', async () => {
    assert.ok(firstRun, 'the previous case recorded a run with an image');
    const first = firstRun;
    const rerun = await runCapstan(['pipeline', 'rerun', first.id], cliEnv());
    assert.equal(rerun.code, 0, rerun.stderr);
    const again = await eventually(
      async () => {
        const { items } = await api<{ items: RunJson[] }>(
          `/api/v1/runs?namespace=${namespace}&pipeline=hello`,
        );
        const found = items.find((r) => r.rerunOf === first.id);
        return found && !['Queued', 'Running'].includes(found.phase) ? found : false;
      },
      { what: `the re-run of ${first.id} ended`, timeoutMs: 1_200_000, intervalMs: 3000 },
    );
    assert.equal(again.phase, 'Succeeded', JSON.stringify(again));
    assert.equal(again.revision, first.revision);
    assert.equal(again.statusMessage, undefined, `the run says: ${again.statusMessage ?? ''}`);
    const [image] = again.images;
    assert.ok(image && again.images.length === 1, JSON.stringify(again.images));
    assert.equal(image.digest, first.digest, 'the same commit, the same index digest');
    assert.equal(image.reference, first.reference);
    // BuildKit pushed another index (its attestation names this build); the server rewrote it to the same.
    const logs = await runCapstan(['pipeline', 'logs', again.id], cliEnv());
    assert.equal(logs.code, 0, logs.stderr);
    const pushed = /^\[image\] capstan: pushed ([^;\s]+)/m.exec(logs.stdout)?.[1];
    assert.ok(pushed !== undefined && pushed !== first.reference, `capstan pipeline logs:\n${logs.stdout}`);
    const tagged = (
      await skopeo([
        'inspect',
        '--format',
        '{{.Digest}}',
        `docker://${setup.registry.address}/${repository}:main`,
      ])
    ).trim();
    assert.equal(tagged, first.digest);
    await assertReproducibleAttestation(image.reference, first.revision);
  });

  it('a signed GitHub push to the installed agent’s webhook starts the run of the repository’s Pipeline', async (t) => {
    assert.ok(base, 'the server runs');
    const { git, kube } = setup;
    const before = await git.commit('hook', sample('1'), 'the first version');
    // No pollInterval: only a webhook starts its runs.
    await kube.objects.create({
      apiVersion: PIPELINE_API_VERSION,
      kind: PIPELINE_KIND,
      metadata: { name: 'hook', namespace },
      spec: { repoURL: `${git.baseUrl}/hook.git`, registrySecretRef: { name: 'registry' } },
    } as k8s.KubernetesObject);
    // The webhook port from the machine, as a git provider reaches it: a NodePort of the real node.
    const service = await kube.core.createNamespacedService({
      namespace: serverNamespace,
      body: {
        metadata: { name: `${AGENT_NAME}-webhooks-node-port` },
        spec: {
          type: 'NodePort',
          selector: { 'app.kubernetes.io/name': 'capstan', 'app.kubernetes.io/component': 'agent' },
          ports: [{ name: 'webhooks', port: WEBHOOK_PORT, targetPort: 'webhooks' }],
        },
      },
    });
    const nodePort = service.spec?.ports?.[0]?.nodePort;
    assert.ok(nodePort);
    const hooks = `http://${await setup.cluster.exposeNodePort(nodePort)}`;
    const revision = await git.commit('hook', sample('2'), 'the second version');
    // GitHub's push delivery: its body, signed with the shared secret (X-Hub-Signature-256).
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      before,
      after: revision,
      created: false,
      deleted: false,
      forced: false,
      repository: { full_name: 'samples/hook', clone_url: `${git.baseUrl}/hook.git` },
      commits: [{ id: revision, added: [], removed: [], modified: ['src/server.js', 'package.json'] }],
      head_commit: { id: revision },
    });
    const signature = `sha256=${createHmac('sha256', GITHUB_SECRET).update(body).digest('hex')}`;
    let sentAt = '';
    const answer = await eventually(
      async () => {
        sentAt = new Date().toISOString();
        const res = await fetch(`${hooks}/api/v1/webhooks/github`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-github-event': 'push',
            'x-github-delivery': randomUUID(),
            'x-hub-signature-256': signature,
          },
          body,
        }).catch(() => undefined);
        // Until the NodePort's forward answers (a refused connection), try again; any answer counts.
        return res === undefined ? false : { status: res.status, json: await res.json() };
      },
      { what: 'the agent’s webhook answering', timeoutMs: 120_000, intervalMs: 1000 },
    );
    if (answer.status !== 200) {
      // The cause of a refused delivery is in the agent's log line (`cause`), not in the answer.
      assert.fail(
        `${String(answer.status)} ${JSON.stringify(answer.json)}; the agent's log:\n${await agentLog()}`,
      );
    }
    assert.deepEqual((answer.json as { pipelines?: string[] }).pipelines, [`${namespace}/hook`]);
    // A forged signature is refused, and starts nothing.
    const forged = await fetch(`${hooks}/api/v1/webhooks/github`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': `sha256=${'0'.repeat(64)}`,
      },
      body: body.replace(revision, before),
    });
    assert.equal(forged.status, 401, await forged.text());

    const ended = await eventually(
      async () => {
        const { items } = await api<{ items: RunJson[] }>(
          `/api/v1/runs?namespace=${namespace}&pipeline=hook`,
        );
        const found = items.find((r) => r.revision === revision);
        return found && !['Queued', 'Running'].includes(found.phase) ? found : false;
      },
      { what: `the run of ${revision} ended`, timeoutMs: 1_200_000, intervalMs: 3000 },
    );
    assert.equal(ended.phase, 'Succeeded', JSON.stringify(ended));
    // From the delivery the agent took (no poll's tick: the request is on the Pipeline at once).
    t.diagnostic(`webhook stages (s): ${JSON.stringify(stagesOf(ended, sentAt))}`);
    assert.equal(ended.trigger, 'push');
    assert.equal(ended.triggeredBy, 'unverified:webhook:github');
    assert.equal(ended.branch, 'main');
    assert.deepEqual(
      ended.steps.map((s) => [s.name, s.phase]),
      [
        ['checkout', 'Succeeded'],
        ['test', 'Succeeded'],
        ['image', 'Succeeded'],
      ],
    );
    const { items } = await api<{ items: RunJson[] }>(`/api/v1/runs?namespace=${namespace}&pipeline=hook`);
    assert.deepEqual(
      items.map((r) => r.revision),
      [revision],
      'the webhook’s push alone ran (the forged one, of the first commit, did not)',
    );
  });
  it('the server’s pod replaced while a run’s step goes: the new pod adopts the run (one run Pod, each line stored once, Succeeded), and the session and audit trail from before are there', async () => {
    assert.ok(base, 'the server runs');
    const { git, kube } = setup;
    // The Store is a file on the install's claim, bound by the cluster's default StorageClass.
    const claim = await kube.core.readNamespacedPersistentVolumeClaim({
      namespace: serverNamespace,
      name: SERVER_DATA_CLAIM,
    });
    assert.equal(claim.status?.phase, 'Bound');
    // A step that says it started, then waits for a positive signal (a repository appearing on the git
    // server), so that the server's pod is replaced while it goes.
    const signal = `${git.baseUrl}/signal-${namespace}.git`;
    await git.commit(
      'slow',
      {
        '.capstan/pipeline.yaml': [
          'steps:',
          '  - name: wait',
          `    image: ${setup.nodeBase}`,
          '    commands:',
          '      - echo step started',
          '      - i=0',
          `      - until git ls-remote --exit-code ${signal} refs/heads/main >/dev/null 2>&1; do i=$((i + 1)); echo "waited $i"; sleep 1; done`,
          '      - echo step released',
          '',
        ].join('\n'),
      },
      'a step that waits',
    );
    await kube.objects.create({
      apiVersion: PIPELINE_API_VERSION,
      kind: PIPELINE_KIND,
      metadata: { name: 'slow', namespace },
      spec: { repoURL: `${git.baseUrl}/slow.git` },
    } as k8s.KubernetesObject);
    const requested = await eventually(
      async () => {
        const res = await fetch(`${base}/api/v1/pipelines/${namespace}/slow/runs`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({ branch: 'main' }),
        });
        // The server's directory of Pipelines learns the new one from its watch.
        return res.status === 202 || (res.status === 404 ? false : assert.fail(await res.text()));
      },
      { what: 'the run by hand requested', timeoutMs: 60_000, intervalMs: 1000 },
    );
    assert.equal(requested, true);
    type Line = { seq: number; step: string; line: string };
    const linesOf = async (id: string) => (await api<{ lines: Line[] }>(`/api/v1/runs/${id}/logs`)).lines;
    const started = await eventually(
      async () => {
        const { items } = await api<{ items: RunJson[] }>(
          `/api/v1/runs?namespace=${namespace}&pipeline=slow`,
        );
        const [found] = items;
        if (found?.phase !== 'Running') return false;
        return (await linesOf(found.id)).some((l) => l.step === 'wait' && l.line === 'step started')
          ? found
          : false;
      },
      { what: 'the run’s step started', timeoutMs: 600_000, intervalMs: 2000 },
    );
    const runPods = async () =>
      (await kube.core.listNamespacedPod({ namespace, labelSelector: `capstan.dev/run=${started.id}` }))
        .items;
    const [runPod] = await runPods();
    assert.ok(runPod?.metadata?.uid);
    const audit = async () =>
      (
        await api<{ items: { id: string; action: string; target: string }[] }>(
          `/api/v1/audit?action=pipeline.run&target=${encodeURIComponent(`Pipeline/${namespace}/slow`)}`,
        )
      ).items;
    const auditBefore = await audit();
    assert.equal(auditBefore.length, 1, JSON.stringify(auditBefore));

    // The server's pod deleted as a node drain or an upgrade would: the Deployment makes another.
    const [old] = await serverPods();
    const oldName = old?.metadata?.name ?? '';
    await kubectl(setup.cluster, ['delete', 'pod', '-n', serverNamespace, oldName, '--wait=true']);
    await eventually(
      async () => {
        const pods = await serverPods();
        return pods.length === 1 && pods[0]?.metadata?.name !== oldName && pods.every(isReady);
      },
      { what: 'the new server pod Ready', timeoutMs: 300_000, intervalMs: 1000 },
    );
    // The session from before the restart still opens the API; the new pod adopts the run.
    await eventually(
      async () => (await serverLog()).includes(`"msg":"run adopted","pipeline":"${namespace}/slow"`) || false,
      { what: 'the new server adopting the run', timeoutMs: 180_000, intervalMs: 2000 },
    );
    const during = await api<RunJson>(`/api/v1/runs/${started.id}`);
    assert.equal(during.phase, 'Running', JSON.stringify(during));
    assert.deepEqual(
      (await runPods()).map((p) => p.metadata?.uid),
      [runPod.metadata.uid],
      'the same run Pod, not made again',
    );

    // Released: the step ends, followed by the new pod.
    await git.commit(`signal-${namespace}`, { README: 'go\n' }, 'release the step');
    const ended = await eventually(
      async () => {
        const run = await api<RunJson>(`/api/v1/runs/${started.id}`);
        return ['Queued', 'Running'].includes(run.phase) ? false : run;
      },
      { what: 'the adopted run ended', timeoutMs: 300_000, intervalMs: 2000 },
    );
    assert.equal(ended.phase, 'Succeeded', JSON.stringify(ended));
    assert.deepEqual(
      ended.steps.map((s) => [s.name, s.phase]),
      [
        ['checkout', 'Succeeded'],
        ['wait', 'Succeeded'],
      ],
    );
    const lines = await linesOf(started.id);
    const count = (text: string) => lines.filter((l) => l.step === 'wait' && l.line === text).length;
    assert.deepEqual([count('step started'), count('step released')], [1, 1], JSON.stringify(lines));
    // The lines the step wrote across the restart: waited 1, 2, … n, each once and in order, and the
    // Store's sequence numbers strictly increasing.
    const waited = lines.filter((l) => l.step === 'wait' && l.line.startsWith('waited '));
    assert.ok(waited.length > 0, JSON.stringify(lines));
    assert.deepEqual(
      waited.map((l) => l.line),
      waited.map((_, i) => `waited ${String(i + 1)}`),
      `no line stored twice or lost: ${JSON.stringify(lines)}`,
    );
    assert.ok(lines.every((l, i) => i === 0 || l.seq > (lines[i - 1]?.seq ?? 0)));
    // One run Pod ever: the scheduler placed one Pod of that name, once; it is gone at the end.
    const scheduled = await kube.core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.name=${runPod.metadata.name ?? ''},reason=Scheduled`,
    });
    assert.equal(scheduled.items.length, 1, JSON.stringify(scheduled.items.map((e) => e.message)));
    await eventually(async () => (await runPods()).length === 0, {
      what: 'the run Pod deleted',
      timeoutMs: 60_000,
    });
    // The audit trail kept the request from before; the CLI's login from before still works.
    assert.ok((await audit()).some((e) => e.id === auditBefore[0]?.id));
    const runs = await runCapstan(['pipeline', 'logs', started.id], cliEnv());
    assert.equal(runs.code, 0, runs.stderr);
    assert.match(runs.stdout, /^\[wait\] step released$/m);
  });
});
