/**
 * What the pipeline tests of the node tier need on the real node: Capstan's image in the cluster's
 * registry (built once per cluster, its reference kept beside the node's images), a pull Secret for
 * that registry, and a git server the run Pods can reach (inside the node's network namespace).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { LocalCluster } from '../devcluster/cluster.ts';
import { publishBaseImages, type PublishedBaseImages } from '../devcluster/base-images.ts';
import type * as k8s from '@kubernetes/client-node';
import type { BuildkitEndpoint } from '../core/build-step.ts';
import { buildkitPaths } from '../devcluster/buildkit.ts';
import { buildkitClientSecret, deployClusterBuildkit } from '../devcluster/cluster-buildkit.ts';
import { findTool } from '../adapters/render/tools.ts';
import { buildCapstanImage, REPOSITORY_ROOT } from '../devcluster/capstan-image.ts';
import { run } from '../devcluster/exec.ts';
import { NODE_NETWORK, netnsName } from '../devcluster/node-config.ts';
import { registryPassword } from '../devcluster/registry.ts';
import type { KubeClients } from './cluster.ts';
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
