// Capstan as users install it, on the dev cluster's real node: the project's Dockerfile built by the
// cluster's BuildKit on the Debian-based runtime image and pushed to the cluster registry; install.yaml
// (scripts/generate-install.ts, with that image by digest) applied with kubectl, its agent Deployment
// placed on the real node as a kustomize patch would; two real pods, one leads. The agent syncs an
// Application from the dev git server, which the pods reach through a forwarder inside the node
// namespace; the leader pod frozen, then deleted with grace 0, the other replica takes the Lease and
// syncs the next commit. The install is the default one (RuntimeDefault seccomp profile): bubblewrap
// cannot make its namespaces there, so the agent renders Kustomize and Helm in the Landlock sandbox.
// Node tier: needs root; runs on the node tier's cluster (CAPSTAN_NODE_TEST_CLUSTER).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { APPLICATION_API_VERSION, APPLICATION_KIND } from '../../src/contracts/application.ts';
import { AGENT_NAME, DEFAULT_NAMESPACE, installManifests } from '../../src/contracts/install.ts';
import { SERVER_DATA_CLAIM, SERVER_NAME } from '../../src/contracts/install-server.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import { publishBaseImages } from '../../src/devcluster/base-images.ts';
import { buildkitPaths } from '../../src/devcluster/buildkit.ts';
import { findTool } from '../../src/adapters/render/tools.ts';
import { buildCapstanImage } from '../../src/devcluster/capstan-image.ts';
import type { LocalCluster } from '../../src/devcluster/cluster.ts';
import { cgroupRoot, LOCAL_IMAGES } from '../../src/devcluster/node-config.ts';
import { registryPassword, type RegistryState } from '../../src/devcluster/registry.ts';
import { kubeClients, type KubeClients } from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { holdInstallLock } from '../../src/testing/install-lock.ts';
import { startGitServer } from '../../src/testing/git.ts';
import { kubectl, onRealNode, realNodeCluster } from '../../src/testing/real-node.ts';
import { placeAgentOnRealNode } from '../../src/main/demo-agent-pod.ts';

/** The Deployment's label that selects the agent's pods (install.ts). */
const AGENT_PODS = 'app.kubernetes.io/name=capstan,app.kubernetes.io/component=agent';
const PULL_SECRET = 'capstan-registry';

const git = await startGitServer(after, { anonymousFetch: true });
let cluster: LocalCluster;
let kube: KubeClients;
let leases: k8s.CoordinationV1Api;
let releaseInstallLock: (() => Promise<void>) | undefined;
let registry: RegistryState;
let gitAddress = '';
const appNamespace = `agent-pod-${randomBytes(3).toString('hex')}`;

/** Base images from Debian packages, then the project's Dockerfile on them: the agent's image by digest. */
async function buildAgentImage(): Promise<string> {
  const node = cluster.state.realNode;
  assert.ok(node);
  const say = (line: string) => process.stderr.write(`[agent-image] ${line}\n`);
  const images = await publishBaseImages({
    registry,
    workDir: join(node.paths.images, 'base'),
    nodeBinary: process.execPath,
    progress: say,
  });
  const built = await buildCapstanImage({
    registry,
    buildctl: join(node.buildkitBinDir, 'buildctl'),
    socket: buildkitPaths(node.paths).socket,
    runtimeBase: images.nodeRuntime,
    toolsBinDir: cluster.state.binDir,
    jsonnetBinary: await findTool('jsonnet', { progress: say }),
    confineBinary: await findTool('confine', { progress: say }),
    workDir: join(node.paths.images, 'capstan'),
    progress: say,
  });
  return built.reference;
}

/**
 * install.yaml's objects with the agent placed on the real node, as an operator's overlay would: the
 * node's selector and toleration, the registry's pull Secret, and the git server's address allowed
 * (a private address, refused unless named).
 */
function realNodeInstall(image: string): KubeObject[] {
  return placeAgentOnRealNode(installManifests({ image, applicationNamespaces: [appNamespace] }), {
    pullSecret: PULL_SECRET,
    allowRepositoryHost: gitAddress.split(':')[0] ?? '',
  });
}

/** The cgroup of a pod on the real node in the v1 `hierarchy` (the cluster's cgroup root). */
function podCgroup(uid: string, hierarchy = 'freezer'): string {
  const kubepods = join('/sys/fs/cgroup', hierarchy, cgroupRoot(cluster.name), 'kubepods');
  const candidates = [
    join(kubepods, `pod${uid}`),
    ...['burstable', 'besteffort'].map((q) => join(kubepods, q, `pod${uid}`)),
  ];
  const found = candidates.find((dir) => existsSync(dir));
  assert.ok(found, `the pod's cgroup is one of ${candidates.join(', ')}`);
  return found;
}

/** The freezer.state file of a pod on the real node. */
const podFreezer = (uid: string) => join(podCgroup(uid), 'freezer.state');

async function agentPods(): Promise<k8s.V1Pod[]> {
  const list = await kube.core.listNamespacedPod({
    namespace: DEFAULT_NAMESPACE,
    labelSelector: AGENT_PODS,
  });
  return list.items.filter((p) => p.metadata?.deletionTimestamp === undefined);
}

const isReady = (pod: k8s.V1Pod) =>
  pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

async function leaseHolder(): Promise<string> {
  const lease = await leases.readNamespacedLease({ namespace: DEFAULT_NAMESPACE, name: AGENT_NAME });
  return lease.spec?.holderIdentity ?? '';
}

/** An Application of the test's git repository: its folder `path`, deployed into the test's namespace. */
async function createApplication(name: string, path: string): Promise<void> {
  await kube.objects.create({
    apiVersion: APPLICATION_API_VERSION,
    kind: APPLICATION_KIND,
    metadata: { name, namespace: appNamespace },
    spec: {
      source: { repoURL: `http://${gitAddress}/agent-pod.git`, path, insecureHttp: true },
      destination: { namespace: appNamespace },
      syncPolicy: { automated: { prune: true, selfHeal: true } },
      interval: '3s',
    },
  } as k8s.KubernetesObject);
}

/** True once the ConfigMap `name` holds `greeting`; else throws with the Application's status (the failure's message). */
async function synced(greeting: string, name = 'greeting', application = 'greeting'): Promise<true> {
  const live = await kube.core
    .readNamespacedConfigMap({ namespace: appNamespace, name })
    .catch(() => undefined);
  if (live?.data?.['greeting'] === greeting) return true;
  const app = await kube.objects
    .read({
      apiVersion: APPLICATION_API_VERSION,
      kind: APPLICATION_KIND,
      metadata: { name: application, namespace: appNamespace },
    })
    .catch((error: unknown) => ({ error: String(error) }));
  throw new Error(
    `ConfigMap ${name} holds ${JSON.stringify(live?.data)}; the Application: ${JSON.stringify((app as { status?: unknown }).status ?? app)}`,
  );
}

interface AppHealth {
  readonly status?: string;
  readonly message?: string;
}

async function applicationHealth(): Promise<AppHealth> {
  const app = (await kube.objects.read({
    apiVersion: APPLICATION_API_VERSION,
    kind: APPLICATION_KIND,
    metadata: { name: 'greeting', namespace: appNamespace },
  })) as { status?: { health?: AppHealth } };
  return app.status?.health ?? {};
}

/** Waits until the Application's health is `status` with a message matching `message`; returns the message. */
async function healthBecomes(status: string, message: RegExp): Promise<string> {
  return eventually(
    async () => {
      const health = await applicationHealth();
      if (health.status === status && message.test(health.message ?? '')) return health.message ?? '';
      throw new Error(`the Application's health is ${JSON.stringify(health)}`);
    },
    { what: `the Application ${status} (${String(message)})`, timeoutMs: 120_000, intervalMs: 1000 },
  );
}

/** A Deployment of one pod on the real node, pulling from the cluster registry. */
const deployment = (container: Record<string, unknown>) =>
  stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: onRealNode({
          imagePullSecrets: [{ name: PULL_SECRET }],
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'web', ...container }],
        }),
      },
    },
  });

/** An image pull Secret with the cluster registry's credentials. */
function pullSecret(): k8s.V1Secret {
  const auth = Buffer.from(`${registry.username}:${registryPassword(registry)}`).toString('base64');
  return {
    metadata: { name: PULL_SECRET },
    type: 'kubernetes.io/dockerconfigjson',
    stringData: { '.dockerconfigjson': JSON.stringify({ auths: { [registry.address]: { auth } } }) },
  };
}

const configMap = (greeting: string) =>
  stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'greeting' }, data: { greeting } });

before(async () => {
  cluster = await realNodeCluster();
  kube = kubeClients(cluster.adminKubeconfig);
  leases = kube.config.makeApiClient(k8s.CoordinationV1Api);
  const node = cluster.state.realNode;
  assert.ok(node?.registry, 'the cluster has a registry');
  registry = node.registry;
  gitAddress = await cluster.exposeToPods(git.port);
  // One install at a time in the cluster: the install's ClusterRoleBindings have fixed names.
  releaseInstallLock = await holdInstallLock(kube.config, `agent-pod-${String(process.pid)}`, {
    onWait: (holder) => {
      console.log(`waiting for the cluster's install lock, held by ${holder}`);
    },
  });
});

after(async () => {
  // install.yaml's API server went where the test did not place it, a kwok node, and the cluster's
  // default StorageClass bound its claim to a volume of that node: the next install in this namespace
  // (the real-node demo's, which places the server on the real node) could never schedule its pod. The
  // server and its claim go before the next file installs; the agent's objects stay (they are placed
  // nowhere they cannot be moved from).
  await kube.apps
    .deleteNamespacedDeployment({ namespace: DEFAULT_NAMESPACE, name: SERVER_NAME })
    .catch(() => undefined);
  await kube.core
    .deleteNamespacedPersistentVolumeClaim({ namespace: DEFAULT_NAMESPACE, name: SERVER_DATA_CLAIM })
    .catch(() => undefined);
  await eventually(
    async () =>
      (await kube.core.listNamespacedPersistentVolumeClaim({ namespace: DEFAULT_NAMESPACE })).items.every(
        (c) => c.metadata?.name !== SERVER_DATA_CLAIM,
      ),
    { what: `the claim ${SERVER_DATA_CLAIM} gone`, timeoutMs: 120_000, intervalMs: 500 },
  );
  await releaseInstallLock?.();
});

describe('the agent installed from install.yaml on the real node', () => {
  it('runs as two pods from the image built from the Dockerfile, and syncs an Application from the git server', async () => {
    const image = await buildAgentImage();
    // The namespace and the registry's pull Secret first, so the pods' first pull has them.
    await kube.core
      .createNamespace({ body: { metadata: { name: DEFAULT_NAMESPACE } } })
      .catch(() => undefined);
    await kube.core.createNamespacedSecret({ namespace: DEFAULT_NAMESPACE, body: pullSecret() });
    // The Applications' namespace too: the install binds the agent's rights there.
    await kube.core.createNamespace({ body: { metadata: { name: appNamespace } } });
    const dir = join(cluster.state.realNode?.paths.images ?? '', 'install');
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'install.yaml');
    await writeFile(
      file,
      realNodeInstall(image)
        .map((o) => stringify(o))
        .join('---\n'),
    );
    await kubectl(cluster, ['apply', '--server-side', '--force-conflicts', '-f', file]);

    const pods = await eventually(
      async () => {
        const all = await agentPods();
        return all.length === 2 && all.every(isReady) ? all : false;
      },
      { what: 'two agent pods Ready on the real node', timeoutMs: 180_000, intervalMs: 1000 },
    );
    for (const pod of pods) {
      assert.equal(pod.spec?.nodeName, 'real-node-0');
      assert.equal(pod.status?.containerStatuses?.[0]?.imageID, image);
    }
    const holder = await eventually(
      async () => {
        const name = await leaseHolder().catch(() => '');
        return pods.some((p) => p.metadata?.name === name) ? name : false;
      },
      { what: 'one of the agent pods holding the Lease', timeoutMs: 60_000 },
    );
    assert.ok(holder);

    await git.createRepository('agent-pod', { files: { 'app/greeting.yaml': configMap('hello from git') } });
    await createApplication('greeting', 'app');
    await eventually(() => synced('hello from git'), {
      what: 'the agent pod syncing the ConfigMap from git',
      timeoutMs: 120_000,
      intervalMs: 1000,
    });
  });

  it('hands over to the other pod when the leader pod stops (frozen: it can neither renew nor release the Lease), and the next commit is synced', async () => {
    const pods = await agentPods();
    const holder = await leaseHolder();
    const leader = pods.find((p) => p.metadata?.name === holder);
    const other = pods.find((p) => p.metadata?.name !== holder)?.metadata?.name ?? '';
    assert.ok(leader?.metadata?.uid, `the leader ${holder} is one of the pods`);
    const before = await leases.readNamespacedLease({ namespace: DEFAULT_NAMESPACE, name: AGENT_NAME });
    // The kernel's freezer stops every process of the pod at once, as a hung or cut-off node would.
    const freezer = podFreezer(leader.metadata.uid);
    await writeFile(freezer, 'FROZEN');
    try {
      const next = await eventually(
        async () => {
          const name = await leaseHolder();
          return name !== holder && name !== '' ? name : false;
        },
        { what: `the Lease leaving the frozen pod ${holder}`, timeoutMs: 90_000, intervalMs: 500 },
      );
      // Another candidate took it: usually the replica already running; but the deleted leader releases
      // the Lease on SIGTERM, and the replacement, which tries at once when it starts, may win the race
      // against the running replica's 2 s retry. Either is a handover.
      assert.ok(next === other || !pods.some((p) => p.metadata?.name === next), `${next} is a new candidate`);
      const after = await leases.readNamespacedLease({ namespace: DEFAULT_NAMESPACE, name: AGENT_NAME });
      assert.equal(after.spec?.leaseTransitions, (before.spec?.leaseTransitions ?? 0) + 1);
      await git.commit('agent-pod', { files: { 'app/greeting.yaml': configMap('hello again') } });
      await eventually(() => synced('hello again'), {
        what: 'the new leader syncing the next commit',
        timeoutMs: 120_000,
        intervalMs: 1000,
      });
    } finally {
      await writeFile(freezer, 'THAWED');
    }
    // Thawed, the old leader finds the Lease another's and does not take it back.
    assert.equal(await leaseHolder(), other);
  });

  it('hands over to the other pod when the leader pod is deleted with grace 0, and the next commit is synced', async () => {
    // Both pods Ready again after the freeze (the thawed one waits on the Lease).
    const pods = await eventually(
      async () => {
        const all = await agentPods();
        return all.length === 2 && all.every(isReady) ? all : false;
      },
      { what: 'two agent pods Ready', timeoutMs: 120_000, intervalMs: 1000 },
    );
    const holder = await leaseHolder();
    const other = pods.find((p) => p.metadata?.name !== holder)?.metadata?.name ?? '';
    assert.ok(
      pods.some((p) => p.metadata?.name === holder),
      `the leader ${holder} is one of the pods`,
    );
    const before = await leases.readNamespacedLease({ namespace: DEFAULT_NAMESPACE, name: AGENT_NAME });
    // The pod object goes at once; the kubelet kills its container (SIGTERM, SIGKILL two seconds later);
    // the ReplicaSet makes a replacement, a new candidate with a name of its own.
    await kubectl(cluster, [
      'delete',
      'pod',
      '-n',
      DEFAULT_NAMESPACE,
      holder,
      '--grace-period=0',
      '--force',
      '--wait=false',
    ]);
    const next = await eventually(
      async () => {
        const name = await leaseHolder();
        return name !== holder && name !== '' ? name : false;
      },
      { what: `the Lease leaving the deleted pod ${holder}`, timeoutMs: 90_000, intervalMs: 500 },
    );
    // Another candidate took it: usually the replica already running; but the deleted leader releases
    // the Lease on SIGTERM, and the replacement, which tries at once when it starts, may win the race
    // against the running replica's 2 s retry. Either is a handover.
    assert.ok(next === other || !pods.some((p) => p.metadata?.name === next), `${next} is a new candidate`);
    const after = await leases.readNamespacedLease({ namespace: DEFAULT_NAMESPACE, name: AGENT_NAME });
    assert.equal(after.spec?.leaseTransitions, (before.spec?.leaseTransitions ?? 0) + 1);
    await git.commit('agent-pod', { files: { 'app/greeting.yaml': configMap('hello after a deletion') } });
    await eventually(() => synced('hello after a deletion'), {
      what: 'the new leader syncing the next commit',
      timeoutMs: 120_000,
      intervalMs: 1000,
    });
    // The replacement is Ready and waits on the Lease.
    await eventually(
      async () => {
        const all = await agentPods();
        const names = all.map((p) => p.metadata?.name);
        return all.length === 2 && all.every(isReady) && names.includes(next) && !names.includes(holder);
      },
      { what: 'the replacement pod Ready beside the leader', timeoutMs: 180_000, intervalMs: 1000 },
    );
    assert.equal(await leaseHolder(), next);
  });

  it('renders Kustomize and Helm sources in the agent pod of the default install (RuntimeDefault), in the Landlock sandbox', async () => {
    const [pod] = await agentPods();
    const container = pod?.spec?.containers[0];
    assert.equal(pod?.spec?.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    assert.ok(
      !(container?.args ?? []).some((a) => a.startsWith('--render-sandbox')),
      'the agent runs with its default sandbox choice, auto',
    );
    // The agent said once, at start, which sandbox it chose.
    const name = pod.metadata?.name;
    assert.ok(name);
    const logs = await kubectl(cluster, ['logs', '-n', DEFAULT_NAMESPACE, name]);
    const chosen = logs
      .split('\n')
      .filter((line) => line.includes('"msg":"render sandbox'))
      .map((line) => JSON.parse(line) as { msg: string; sandbox?: string; detail?: string });
    const [said, ...more] = chosen;
    assert.ok(said && more.length === 0, `one line about the render sandbox in:\n${logs}`);
    assert.equal(said.sandbox, 'landlock', JSON.stringify(said));
    assert.match(said.detail ?? '', /\/usr\/local\/bin\/capstan-confine; Landlock ABI \d+/);
    await git.commit('agent-pod', {
      files: {
        'kustomize/kustomization.yaml': stringify({
          namePrefix: 'kustomized-',
          resources: ['greeting.yaml'],
        }),
        'kustomize/greeting.yaml': configMap('rendered by kustomize'),
        'chart/Chart.yaml': stringify({ apiVersion: 'v2', name: 'greeting', version: '0.1.0' }),
        'chart/values.yaml': stringify({ greeting: 'rendered by helm' }),
        'chart/templates/greeting.yaml': [
          'apiVersion: v1',
          'kind: ConfigMap',
          'metadata: { name: charted-greeting }',
          'data: { greeting: {{ .Values.greeting | quote }} }',
          '',
        ].join('\n'),
      },
    });
    await createApplication('kustomized', 'kustomize');
    await createApplication('charted', 'chart');
    await eventually(() => synced('rendered by kustomize', 'kustomized-greeting', 'kustomized'), {
      what: 'the kustomize render synced by the agent pod',
      timeoutMs: 120_000,
      intervalMs: 1000,
    });
    await eventually(() => synced('rendered by helm', 'charted-greeting', 'charted'), {
      what: 'the helm render synced by the agent pod',
      timeoutMs: 120_000,
      intervalMs: 1000,
    });
  });

  it('an Application is Degraded with the kubelet’s reason for an image the registry lacks and for a crashing container, and Healthy once fixed in Git', async () => {
    await kube.core.createNamespacedSecret({ namespace: appNamespace, body: pullSecret() });
    const missing = `${registry.address}/capstan/nothing-here:1`;
    await git.commit('agent-pod', { files: { 'app/web.yaml': deployment({ image: missing }) } });
    const pull = await healthBecomes('Degraded', /ErrImagePull|ImagePullBackOff/);
    assert.match(pull, /pod web-/, `the message names the pod: ${pull}`);

    await git.commit('agent-pod', {
      files: {
        'app/web.yaml': deployment({
          image: LOCAL_IMAGES.busybox,
          imagePullPolicy: 'IfNotPresent',
          command: ['/bin/sh', '-c', 'echo crashing; exit 3'],
        }),
      },
    });
    await healthBecomes('Degraded', /CrashLoopBackOff/);

    await git.commit('agent-pod', {
      files: {
        'app/web.yaml': deployment({
          image: LOCAL_IMAGES.busybox,
          imagePullPolicy: 'IfNotPresent',
          command: ['/bin/sh', '-c', 'exec sleep 3600'],
        }),
      },
    });
    await healthBecomes('Healthy', /.*/);
  });
});
