// The CLI image in a CI job: the project's image (the Dockerfile built by the cluster's BuildKit on the
// Debian-based runtime image, as agent-pod.node.test.ts builds it) run as a pod on the real node with
// `render` and `diff` as its arguments, as a CI runner runs a job's container. The sources are a
// Kustomize folder and a Helm chart (the import acceptance fixtures) and a Jsonnet program mounted from a
// ConfigMap; kustomize, helm and jsonnet are the image's own (CAPSTAN_KUSTOMIZE, CAPSTAN_HELM,
// CAPSTAN_JSONNET); diff reaches the API server with the
// pod's ServiceAccount (in-cluster configuration).
// Node tier: needs root; runs on the node tier's cluster (CAPSTAN_NODE_TEST_CLUSTER).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { findTool } from '../../src/adapters/render/tools.ts';
import { publishBaseImages } from '../../src/devcluster/base-images.ts';
import { buildkitPaths } from '../../src/devcluster/buildkit.ts';
import { buildCapstanImage } from '../../src/devcluster/capstan-image.ts';
import type { LocalCluster } from '../../src/devcluster/cluster.ts';
import { registryPassword, type RegistryState } from '../../src/devcluster/registry.ts';
import { kubeClients, type KubeClients } from '../../src/testing/cluster.ts';
import { eventually } from '../../src/testing/eventually.ts';
import { fixture } from '../../src/testing/git.ts';
import { kubectl, onRealNode, realNodeCluster } from '../../src/testing/real-node.ts';

const PULL_SECRET = 'capstan-registry';
const FLEET = fixture('import', 'acceptance', 'fleet');
/** What the pod mounts at /fleet: a Kustomize folder and a Helm chart. */
const SOURCES = ['apps/base/podinfo', 'charts/podinfo'];
const namespace = `cli-image-${randomBytes(3).toString('hex')}`;
let cluster: LocalCluster;
let kube: KubeClients;
let registry: RegistryState;
let image: string;

before(async () => {
  cluster = await realNodeCluster();
  kube = kubeClients(cluster.adminKubeconfig);
  const node = cluster.state.realNode;
  assert.ok(node?.registry, 'the cluster has a registry');
  registry = node.registry;
  const say = (line: string) => process.stderr.write(`[cli-image] ${line}\n`);
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
  image = built.reference;
  await kube.core.createNamespace({ body: { metadata: { name: namespace } } });
});

after(async () => {
  await kubectl(cluster, ['delete', 'namespace', namespace, '--wait=false']).catch(() => undefined);
  await kubectl(cluster, ['delete', 'clusterrolebinding', namespace, '--ignore-not-found']).catch(
    () => undefined,
  );
});

/** The files of SOURCES as one ConfigMap (keys without slashes) and the volume items that lay them out. */
async function sourcesConfigMap(): Promise<{ data: Record<string, string>; items: k8s.V1KeyToPath[] }> {
  const data: Record<string, string> = {};
  const items: k8s.V1KeyToPath[] = [];
  for (const source of SOURCES) {
    for (const entry of await readdir(join(FLEET, source), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const path = relative(FLEET, join(entry.parentPath, entry.name));
      const key = path.replaceAll('/', '__');
      data[key] = await readFile(join(FLEET, path), 'utf8');
      items.push({ key, path });
    }
  }
  // A Jsonnet program with a top-level argument, for the image's jsonnet.
  data['jsonnet__settings.jsonnet'] = JSONNET_PROGRAM;
  items.push({ key: 'jsonnet__settings.jsonnet', path: 'jsonnet/settings.jsonnet' });
  return { data, items };
}

const JSONNET_PROGRAM =
  'function(name) { apiVersion: "v1", kind: "ConfigMap", metadata: { name: name }, data: { from: "jsonnet" } }\n';

/** A pull Secret for the cluster registry, and a ServiceAccount that may diff (bound to cluster-admin for the test). */
async function podAccess(): Promise<void> {
  const auth = Buffer.from(`${registry.username}:${registryPassword(registry)}`).toString('base64');
  await kube.core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: PULL_SECRET },
      type: 'kubernetes.io/dockerconfigjson',
      stringData: { '.dockerconfigjson': JSON.stringify({ auths: { [registry.address]: { auth } } }) },
    },
  });
  await kube.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'ci' } } });
  await kubectl(cluster, [
    'create',
    'clusterrolebinding',
    namespace,
    '--clusterrole',
    'cluster-admin',
    `--serviceaccount=${namespace}:ci`,
  ]);
}

/** The containers of the job: each one `capstan ARGS` in the image. */
const STEPS: Record<string, string[]> = {
  'render-kustomize': ['render', '/fleet/apps/base/podinfo'],
  'render-helm': ['render', '/fleet/charts/podinfo', '--release-name', 'ci-web'],
  'render-jsonnet': ['render', '/fleet/jsonnet', '--tla-str', 'name=ci-settings'],
  'diff-kustomize': ['diff', '/fleet/apps/base/podinfo', '--app', 'ci-image', '--namespace', namespace],
  'diff-helm': ['diff', '/fleet/charts/podinfo', '--app', 'ci-web', '--namespace', namespace],
};

/** Runs the steps as one pod on the real node; returns each container's exit code and log. */
async function runJob(): Promise<Record<string, { code: number; log: string }>> {
  const { data, items } = await sourcesConfigMap();
  await kube.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'fleet' }, data } });
  await kube.core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: 'ci' },
      spec: onRealNode({
        restartPolicy: 'Never',
        serviceAccountName: 'ci',
        imagePullSecrets: [{ name: PULL_SECRET }],
        volumes: [{ name: 'fleet', configMap: { name: 'fleet', items } }],
        containers: Object.entries(STEPS).map(([name, args]) => ({
          name,
          image,
          args,
          env: [{ name: 'NO_COLOR', value: '1' }],
          volumeMounts: [{ name: 'fleet', mountPath: '/fleet', readOnly: true }],
        })),
      }),
    },
  });
  const pod = await eventually(
    async () => {
      const live = await kube.core.readNamespacedPod({ namespace, name: 'ci' });
      const states = live.status?.containerStatuses ?? [];
      return states.length === Object.keys(STEPS).length && states.every((s) => s.state?.terminated) && live;
    },
    { what: 'the CI pod has run every step', timeoutMs: 300_000, intervalMs: 1000 },
  );
  const results: Record<string, { code: number; log: string }> = {};
  for (const status of pod.status?.containerStatuses ?? []) {
    const log = await kube.core.readNamespacedPodLog({ namespace, name: 'ci', container: status.name });
    results[status.name] = { code: status.state?.terminated?.exitCode ?? -1, log };
  }
  return results;
}

describe('the Capstan image as a CI job', () => {
  it('renders a Kustomize folder, a Helm chart and a Jsonnet program, and diffs the first two, with the tools of the image', async () => {
    await podAccess();
    const steps = new Map(Object.entries(await runJob()));
    const step = (name: string) => {
      const result = steps.get(name);
      assert.ok(result, `the step ${name} ran`);
      return { ...result, shown: `${name}: exit ${result.code}\n${result.log}` };
    };
    const kustomize = step('render-kustomize');
    assert.equal(kustomize.code, 0, kustomize.shown);
    assert.match(kustomize.log, /kind: Deployment\n[\s\S]*name: podinfo/);
    const helm = step('render-helm');
    assert.equal(helm.code, 0, helm.shown);
    assert.match(helm.log, /name: ci-web/);
    const jsonnet = step('render-jsonnet');
    assert.equal(jsonnet.code, 0, jsonnet.shown);
    for (const line of [/^kind: ConfigMap$/m, /^ {2}name: ci-settings$/m, /^ {2}from: jsonnet$/m])
      assert.match(jsonnet.log, line, jsonnet.shown);
    // Nothing is synced yet: each diff shows what a sync would create (exit 1).
    for (const name of ['diff-kustomize', 'diff-helm']) {
      const diff = step(name);
      assert.equal(diff.code, 1, diff.shown);
      assert.match(diff.log, new RegExp(`Deployment/${namespace}/\\S+ +create`), diff.shown);
    }
  });
});
