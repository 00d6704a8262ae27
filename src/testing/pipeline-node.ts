/**
 * What the pipeline tests of the node tier need on the real node: Capstan's image in the cluster's
 * registry (built once per cluster, its reference kept beside the node's images), a pull Secret for
 * that registry, and a git server the run Pods can reach (inside the node's network namespace).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { KubeRunExecutor } from '../adapters/kube/pod-run.ts';
import { RegistryAttestations } from '../adapters/registry/reproducible-attestation.ts';
import { openSqliteStore } from '../adapters/store/sqlite-store.ts';
import { resolvePipelineSpec } from '../contracts/pipeline.ts';
import { runPipeline } from '../pipelines/run-pipeline.ts';
import type { RunRecord, Store } from '../ports/store.ts';
import type { LocalCluster } from '../devcluster/cluster.ts';
import { publishBaseImages, type PublishedBaseImages } from '../devcluster/base-images.ts';
import type * as k8s from '@kubernetes/client-node';
import type { BuildkitEndpoint } from '../core/build-step.ts';
import { buildkitPaths } from '../devcluster/buildkit.ts';
import { buildkitClientSecret, deployClusterBuildkit } from '../devcluster/cluster-buildkit.ts';
import { findTool } from '../adapters/render/tools.ts';
import { buildCapstanImage, REPOSITORY_ROOT } from '../devcluster/capstan-image.ts';
import { run } from '../devcluster/exec.ts';
import { NODE_NETWORK, netnsName, REAL_NODE } from '../devcluster/node-config.ts';
import { registryPassword, type RegistryState } from '../devcluster/registry.ts';
import { kubeClients, type KubeClients } from './cluster.ts';
import { eventually } from './eventually.ts';

/** Capstan's image in the node cluster's registry, by digest; built on first use (minutes), then reused. */
export async function capstanImageOnNode(cluster: LocalCluster): Promise<string> {
  const node = cluster.state.realNode;
  const registry = node?.registry;
  if (!node || !registry) throw new Error(`cluster ${cluster.name} has no real node`);
  const saved = join(node.paths.images, 'capstan-image.ref');
  if (existsSync(saved)) return (await readFile(saved, 'utf8')).trim();
  const progress = (line: string) => process.stderr.write(`[capstan-image] ${line}\n`);
  const images = await baseImagesOnNode(cluster, progress);
  const built = await buildCapstanImage({
    registry,
    buildctl: join(node.buildkitBinDir, 'buildctl'),
    socket: buildkitPaths(node.paths).socket,
    runtimeBase: images.nodeRuntime,
    toolsBinDir: cluster.state.binDir,
    jsonnetBinary: await findTool('jsonnet', { progress }),
    confineBinary: await findTool('confine', { progress }),
    workDir: join(node.paths.images, 'capstan'),
    progress,
  });
  await writeFile(saved, `${built.reference}\n`);
  return built.reference;
}

/** The base images in the node cluster's registry, built once per cluster (their references kept beside the node's images). */
export async function baseImagesOnNode(
  cluster: LocalCluster,
  progress: (line: string) => void = (line) => process.stderr.write(`[base-images] ${line}\n`),
): Promise<PublishedBaseImages> {
  const node = cluster.state.realNode;
  const registry = node?.registry;
  if (!node || !registry) throw new Error(`cluster ${cluster.name} has no real node`);
  const saved = join(node.paths.images, 'base-images.json');
  if (existsSync(saved)) return JSON.parse(await readFile(saved, 'utf8')) as PublishedBaseImages;
  const images = await publishBaseImages({
    registry,
    workDir: join(node.paths.images, 'base'),
    nodeBinary: process.execPath,
    progress,
  });
  await writeFile(saved, JSON.stringify(images));
  return images;
}

/**
 * The cluster's BuildKit for image steps (deployed on the real node, its image built on first use), and
 * its client certificate's Secret in `namespace`: what a run Pod's image step needs.
 */
export async function buildkitOnNode(
  cluster: LocalCluster,
  kube: KubeClients,
  namespace: string,
): Promise<BuildkitEndpoint> {
  const buildkit = await deployClusterBuildkit(cluster, {
    progress: (line) => process.stderr.write(`[buildkit] ${line}\n`),
  });
  const secret = await buildkitClientSecret(buildkit, namespace);
  await kube.core.createNamespacedSecret({ namespace, body: secret as unknown as k8s.V1Secret });
  return {
    image: buildkit.image,
    address: buildkit.address,
    serverName: buildkit.serverName,
    clientSecret: secret.metadata.name ?? '',
  };
}

/** A dockerconfigjson Secret `registry` in `namespace`, for the node cluster's registry. */
export async function registryPullSecret(
  cluster: LocalCluster,
  kube: KubeClients,
  namespace: string,
  options: { name?: string; password?: string } = {},
): Promise<string> {
  const registry = cluster.state.realNode?.registry;
  if (!registry) throw new Error(`cluster ${cluster.name} has no registry`);
  const password = options.password ?? registryPassword(registry);
  const auth = Buffer.from(`${registry.username}:${password}`).toString('base64');
  const name = options.name ?? 'registry';
  await kube.core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name },
      type: 'kubernetes.io/dockerconfigjson',
      stringData: { '.dockerconfigjson': JSON.stringify({ auths: { [registry.address]: { auth } } }) },
    },
  });
  return name;
}

/** The dev git server, inside the node's network namespace on the node's address, fetches without credentials. */
export interface NodeGitServer {
  /** `http://<node address>:<port>`: append `/<name>.git`. */
  readonly baseUrl: string;
  /** Creates (or replaces) the bare repository `name` with one commit of `files`; returns the commit. */
  commit(name: string, files: Readonly<Record<string, string>>, message: string): Promise<string>;
  stop(): void;
}

/** Starts `capstan dev-git-server --anonymous-fetch` in the node's network namespace, serving `root`. */
export async function nodeGitServer(cluster: LocalCluster, root: string): Promise<NodeGitServer> {
  const state = join(root, 'state.json');
  const child: ChildProcess = spawn(
    'ip',
    [
      'netns',
      'exec',
      netnsName(cluster.name),
      process.execPath,
      join(REPOSITORY_ROOT, 'src', 'cli', 'main.ts'),
      'dev-git-server',
      '--root',
      root,
      '--state',
      state,
      '--host',
      NODE_NETWORK.nodeAddress,
      '--anonymous-fetch',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const { url } = await eventually(async () => JSON.parse(await readFile(state, 'utf8')) as { url: string }, {
    what: 'the git server in the node namespace',
    timeoutMs: 30_000,
  });
  return {
    baseUrl: url,
    commit: (name, files, message) => commitBare(join(root, 'repos', `${name}.git`), files, message),
    stop: () => child.kill('SIGTERM'),
  };
}

/** Writes `files` as a new commit on main of the bare repository at `bare` (created when missing). */
async function commitBare(
  bare: string,
  files: Readonly<Record<string, string>>,
  message: string,
): Promise<string> {
  const work = `${bare}.work`;
  const git = (args: readonly string[], cwd: string) =>
    run('git', ['-c', 'user.name=Capstan Test', '-c', 'user.email=test@capstan.invalid', ...args], { cwd });
  if (!existsSync(bare)) {
    await mkdir(bare, { recursive: true });
    await git(['init', '--quiet', '--bare', '--initial-branch=main'], bare);
    await rm(work, { recursive: true, force: true });
    await run('git', ['clone', '--quiet', bare, work], { cwd: dirname(bare) });
    await git(['checkout', '--quiet', '-B', 'main'], work);
  }
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(work, path)), { recursive: true });
    await writeFile(join(work, path), content);
  }
  await git(['add', '--all'], work);
  await git(['commit', '--quiet', '--allow-empty', '-m', message], work);
  await git(['push', '--quiet', 'origin', 'main'], work);
  return (await git(['rev-parse', 'HEAD'], work)).stdout.trim();
}

/** A fresh namespace on the real node, ready for pipeline runs of the sample app (see `pipelineNodeSetup`). */
export interface PipelineNodeSetup {
  readonly cluster: LocalCluster;
  readonly kube: KubeClients;
  readonly registry: RegistryState;
  readonly namespace: string;
  /** Capstan's image in the cluster's registry (the run Pods' steps). */
  readonly capstanImage: string;
  /** The Node.js runtime base image the sample app builds on. */
  readonly nodeBase: string;
  readonly buildkit: BuildkitEndpoint;
  readonly git: NodeGitServer;
  readonly gitRoot: string;
  /** An in-memory store for the runs and their logs. */
  readonly store: Store;
}

/**
 * What the pipeline image tests and the pipeline benchmark set up alike: the images, `namespace` with
 * the registry's pull Secret `registry`, BuildKit for it, a git server the run Pods reach, a store.
 */
export async function pipelineNodeSetup(
  cluster: LocalCluster,
  namespace: string,
): Promise<PipelineNodeSetup> {
  const kube = kubeClients(cluster.adminKubeconfig);
  const registry = cluster.state.realNode?.registry;
  if (!registry) throw new Error(`cluster ${cluster.name} has no real node with a registry`);
  const capstanImage = await capstanImageOnNode(cluster);
  const nodeBase = (await baseImagesOnNode(cluster)).nodeRuntime;
  await kube.core.createNamespace({ body: { metadata: { name: namespace } } });
  await registryPullSecret(cluster, kube, namespace);
  const buildkit = await buildkitOnNode(cluster, kube, namespace);
  const gitRoot = await mkdtemp(join(tmpdir(), `capstan-${namespace}-git-`));
  const git = await nodeGitServer(cluster, gitRoot);
  const store = openSqliteStore({ path: ':memory:' });
  return { cluster, kube, registry, namespace, capstanImage, nodeBase, buildkit, git, gitRoot, store };
}

/** Stops the git server, closes the store, deletes the namespace and the git folder. */
export async function closePipelineNodeSetup(setup: PipelineNodeSetup): Promise<void> {
  setup.git.stop();
  await setup.store.close();
  await setup.kube.core.deleteNamespace({ name: setup.namespace }).catch(() => undefined);
  await rm(setup.gitRoot, { recursive: true, force: true });
}

/** Runs the pipeline `hello` of the sample app at `revision` as the agent does, its Pods on the real node. */
export async function runSampleOnNode(
  setup: PipelineNodeSetup,
  request: {
    readonly revision: string;
    readonly files: Record<string, string>;
    readonly registrySecret: string;
    readonly triggeredBy: string;
  },
): Promise<RunRecord> {
  return await runPipeline(
    {
      namespace: setup.namespace,
      pipeline: 'hello',
      spec: resolvePipelineSpec({
        repoURL: `${setup.git.baseUrl}/hello.git`,
        registrySecretRef: { name: request.registrySecret },
      }),
      fileText: request.files['.capstan/pipeline.yaml'] ?? '',
      runId: randomBytes(4).toString('hex'),
      revision: request.revision,
      branch: 'main',
      trigger: 'push',
      triggeredBy: request.triggeredBy,
    },
    {
      store: setup.store.runs,
      executor: new KubeRunExecutor(setup.kube.config, { pollMs: 250 }),
      readSecret: async (namespace, name, key) => {
        const secret = await setup.kube.core.readNamespacedSecret({ namespace, name }).catch(() => undefined);
        const value = secret?.data?.[key];
        return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
      },
      // As the server does, with the dev registry's CA (its certificate is the cluster's own).
      attestations: new RegistryAttestations({ ca: await readFile(setup.registry.caFile, 'utf8') }),
      now: () => new Date(),
      pod: {
        capstanImage: setup.capstanImage,
        buildkit: setup.buildkit,
        imagePullSecrets: ['registry'],
        allowInsecureHttp: true,
        placement: {
          nodeSelector: { [REAL_NODE.label]: REAL_NODE.labelValue },
          tolerations: [{ key: REAL_NODE.taintKey, operator: 'Exists', effect: 'NoSchedule' }],
        },
      },
    },
  );
}

/** Where BuildKit's provenance (SLSA v1) keeps what names one build: its id and its times. */
export interface ProvenanceStatement {
  readonly subject: unknown;
  readonly predicate: { readonly runDetails?: { readonly metadata?: Record<string, unknown> } };
}

/**
 * The SLSA provenance statement in the attestation of the index `reference` (by digest), read
 * independently of Capstan: skopeo reads the index, copies its attestation manifest with its layers into
 * a folder, and the statement is its in-toto layer.
 */
export async function provenanceWithSkopeo(
  registry: RegistryState,
  reference: string,
): Promise<ProvenanceStatement> {
  const tls = ['--authfile', registry.authFile];
  const index = JSON.parse(
    (
      await run(
        'skopeo',
        ['inspect', ...tls, '--cert-dir', registry.certDir, '--raw', `docker://${reference}`],
        {
          timeoutMs: 60_000,
        },
      )
    ).stdout,
  ) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const attestation = index.manifests.find(
    (m) => m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest',
  );
  if (attestation === undefined)
    throw new Error(`${reference} holds no attestation: ${JSON.stringify(index)}`);
  const name = reference.slice(0, reference.lastIndexOf('@'));
  const dir = await mkdtemp(join(tmpdir(), 'capstan-attestation-'));
  try {
    await run(
      'skopeo',
      [
        'copy',
        '--preserve-digests',
        ...tls,
        '--src-cert-dir',
        registry.certDir,
        `docker://${name}@${attestation.digest}`,
        `dir:${dir}`,
      ],
      { timeoutMs: 60_000 },
    );
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
      layers: { digest: string; annotations?: Record<string, string> }[];
    };
    const layer = manifest.layers.find((l) =>
      (l.annotations?.['in-toto.io/predicate-type'] ?? '').startsWith('https://slsa.dev/provenance/'),
    );
    if (layer === undefined) throw new Error(`${name}@${attestation.digest} holds no SLSA statement`);
    return JSON.parse(
      await readFile(join(dir, layer.digest.replace(/^sha256:/, '')), 'utf8'),
    ) as ProvenanceStatement;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
