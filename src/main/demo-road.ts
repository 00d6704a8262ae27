// The product's road in the demo with a real node (`capstan demo up --real-node`): hello-http's code in
// the demo git server's repository hello-http.git, with a pipeline file (its unit test, then its image
// built by the cluster's BuildKit and pushed to the cluster registry) started by each push to main; a
// Pipeline for it, polled by the demo's API server (install.yaml's, with the --buildkit-* flags and the
// run Pods placed on the real node); and an Environment `hello-http` that follows that Pipeline's
// Succeeded runs, committing each run's image by digest to hello-http/kustomization.yaml of the demo
// configuration repository, which the Application hello-http syncs.
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { REPOSITORY_CREDENTIALS_TYPE } from '../adapters/git/secret-credentials.ts';
import { BUILDKIT_DEFAULTS } from '../contracts/buildkit-install.ts';
import { ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND } from '../contracts/environment.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND } from '../contracts/pipeline.ts';
import type { KubeObject } from '../core/resource.ts';
import type { BuildkitFlags } from '../contracts/install-server.ts';
import { buildkitClientSecret, deployClusterBuildkit } from '../devcluster/cluster-buildkit.ts';
import type { LocalCluster } from '../devcluster/cluster.ts';
import { REAL_NODE } from '../devcluster/node-config.ts';
import {
  applyAsDemo,
  demoGit,
  demoRealNode,
  HELLO_APPLICATION,
  HELLO_PULL_SECRET,
  HELLO_REPOSITORY,
  pullSecret,
  servedType,
  type DemoRepository,
} from './demo-hello.ts';
import { until } from './demo-state.ts';

/** hello-http's code repository on the demo git server, its Pipeline and its Environment: one name. */
export const HELLO_ROAD = 'hello-http';
/** The Pipeline's poll of hello-http.git: a push is found within this. */
export const HELLO_POLL_INTERVAL = '10s';
/** The repository credentials Secret for the git server on the server Pod's loopback (the promotion's push). */
export const POD_GIT_SECRET = 'demo-git-pods';

/** hello-http's pipeline file: `node --test` in the Node.js runtime, then its image to the cluster registry. */
export function helloPipelineFile(options: {
  readonly runtimeBase: string;
  readonly registry: string;
}): string {
  const header = [
    '# hello-http’s pipeline (written by `capstan demo up --real-node`, docs/pipelines.md): each push to',
    '# main runs the unit test, then builds the image with the cluster’s BuildKit and pushes it; the',
    '# Environment hello-http promotes it by digest into the demo configuration repository.',
    '',
  ].join('\n');
  const body = {
    triggers: { push: { branches: ['main'] } },
    steps: [
      { name: 'test', image: options.runtimeBase, commands: ['node --test'] },
      {
        name: 'image',
        build: {
          args: { BASE_IMAGE: options.runtimeBase },
          registry: options.registry,
          repository: HELLO_REPOSITORY,
          tags: ['{shortCommit}', '{branch}'],
        },
      },
    ],
  };
  return header + stringify(body);
}

/**
 * Writes hello-http's pipeline file into hello-http.git on main and pushes, unless it is there already
 * (the git server created the repository from examples/hello-http). Returns whether it committed.
 */
export async function commitPipelineFile(
  repository: DemoRepository,
  text: string,
  options: { readonly workDir: string },
): Promise<boolean> {
  const checkout = await mkdtemp(join(options.workDir, 'hello-http-'));
  try {
    const git = demoGit(repository, checkout);
    await git(['clone', '--quiet', repository.url, '.']);
    const file = join(checkout, '.capstan', 'pipeline.yaml');
    const before = await readFile(file, 'utf8').catch(() => undefined);
    if (before === text) return false;
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text);
    await git(['add', '.capstan/pipeline.yaml']);
    await git(['commit', '--quiet', '-m', 'hello-http: its pipeline (test, image) for this demo']);
    await git(['push', '--quiet', 'origin', 'HEAD:main']);
    return true;
  } finally {
    await rm(checkout, { recursive: true, force: true });
  }
}

/** BuildKit on the real node (deployClusterBuildkit), as the server's --buildkit-* flags name it. */
export async function demoBuildkit(
  cluster: LocalCluster,
  admin: KubeCluster,
  options: { readonly namespace: string; readonly say: (line: string) => void },
): Promise<BuildkitFlags> {
  const buildkit = await deployClusterBuildkit(cluster, {
    progress: (line) => {
      options.say(`  [buildkit] ${line}`);
    },
  });
  // The run Pods' client certificate, in the namespace of the demo's Pipeline.
  const secret = await buildkitClientSecret(buildkit, options.namespace);
  await applyAsDemo(admin, await servedType(admin, 'v1', 'Secret'), secret);
  return {
    image: buildkit.image,
    address: buildkit.address,
    serverName: buildkit.serverName,
    clientSecret: BUILDKIT_DEFAULTS.clientSecret,
  };
}

/** The API server's flags for run Pods on the real node: its placement, the registry's pull Secret, http checkouts. */
export function runPodFlags(): string[] {
  return [
    '--pipeline-allow-http',
    '--run-image-pull-secret',
    HELLO_PULL_SECRET,
    '--run-node-selector',
    `${REAL_NODE.label}=${REAL_NODE.labelValue}`,
    '--run-toleration',
    `${REAL_NODE.taintKey}:NoSchedule`,
  ];
}

/** Where the road's objects live and how Pods reach the demo's git server. */
export interface HelloRoadTarget {
  /** The namespace of the demo's Applications, Environments and of this Pipeline. */
  readonly namespace: string;
  readonly project: string;
  /** The git server's `host:port` as Pods see it. */
  readonly gitAddress: string;
  /** Its port on the server Pod's loopback (gitOnServerLoopback): the promotions' pushes go there. */
  readonly gitPort: number;
  /** Who may push to the git server (the promotion's commit). */
  readonly username: string;
  readonly password: string;
}

/** The Pipeline of hello-http.git, polled. */
export function helloPipeline(target: HelloRoadTarget): KubeObject {
  return {
    apiVersion: PIPELINE_API_VERSION,
    kind: PIPELINE_KIND,
    metadata: { name: HELLO_ROAD, namespace: target.namespace },
    spec: {
      repoURL: `http://${target.gitAddress}/${HELLO_ROAD}.git`,
      registrySecretRef: { name: HELLO_PULL_SECRET },
      pollInterval: HELLO_POLL_INTERVAL,
    },
  };
}

/** The Environment hello-http: each Succeeded run of the Pipeline, by digest, into the Application's kustomization. */
export function helloEnvironment(target: HelloRoadTarget): KubeObject {
  return {
    apiVersion: ENVIRONMENT_API_VERSION,
    kind: ENVIRONMENT_KIND,
    metadata: { name: HELLO_ROAD, namespace: target.namespace },
    spec: {
      project: target.project,
      application: HELLO_APPLICATION.name,
      config: {
        repoURL: `http://127.0.0.1:${String(target.gitPort)}/demo-config.git`,
        file: `${HELLO_APPLICATION.path}/kustomization.yaml`,
        kustomizeImage: HELLO_ROAD,
        credentials: { secretRef: { name: POD_GIT_SECRET } },
        insecureHttp: true,
      },
      source: { pipeline: { name: HELLO_ROAD, branch: 'main' } },
      gates: { healthyFor: '10s', approval: 'None' },
    },
  };
}

/**
 * The road's objects: the registry's Secret and the git credentials (as Pods reach the git server) in
 * the namespace, the Pipeline (once its kind is served: install.yaml installs it) and the Environment.
 */
export async function createHelloRoad(
  cluster: LocalCluster,
  admin: KubeCluster,
  target: HelloRoadTarget & { readonly logs: string },
): Promise<void> {
  const secretType = await servedType(admin, 'v1', 'Secret');
  const node = demoRealNode(cluster);
  await applyAsDemo(
    admin,
    secretType,
    pullSecret(node.registry, { name: HELLO_PULL_SECRET, namespace: target.namespace }),
  );
  await applyAsDemo(admin, secretType, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: POD_GIT_SECRET, namespace: target.namespace },
    type: REPOSITORY_CREDENTIALS_TYPE,
    stringData: {
      url: `http://127.0.0.1:${String(target.gitPort)}`,
      username: target.username,
      password: target.password,
    },
  });
  const pipelineType = await until(
    'the Pipeline kind served',
    { timeoutMs: 60_000, logs: target.logs },
    async () => admin.resourceType(PIPELINE_API_VERSION, PIPELINE_KIND, { refresh: true }),
  );
  await applyAsDemo(admin, pipelineType, helloPipeline(target));
  await applyAsDemo(
    admin,
    await servedType(admin, ENVIRONMENT_API_VERSION, ENVIRONMENT_KIND),
    helloEnvironment(target),
  );
}
