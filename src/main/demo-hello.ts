// The demo's own HTTP server on the real node (`capstan demo up --real-node`): examples/hello-http built
// by the cluster's BuildKit on the Node.js runtime base image, pushed to the cluster registry, its
// reference by digest committed to the demo repository (as a CI job would), the registry's pull Secret
// in the application's namespace, and its NodePort made reachable from the machine's loopback.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { CapstanError } from '../core/errors.ts';
import type { KubeObject } from '../core/resource.ts';
import { publishBaseImages } from '../devcluster/base-images.ts';
import { buildAndPush, buildkitPaths } from '../devcluster/buildkit.ts';
import type { LocalCluster } from '../devcluster/cluster.ts';
import { cleanEnv, run } from '../devcluster/exec.ts';
import { registryPassword, type RegistryState } from '../devcluster/registry.ts';
import type { RealNodeState } from '../devcluster/real-node.ts';
import type { ResourceType } from '../ports/cluster.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
/** The sample application's source: a Dockerfile and a Node.js server with no dependencies. */
export const HELLO_SOURCE = join(ROOT, 'examples', 'hello-http');
/** The Application: the folder of the demo repository, the namespace it deploys into, its Service. */
export const HELLO_APPLICATION = {
  name: 'hello-http',
  path: 'hello-http',
  namespace: 'demo-hello-http',
  service: 'hello-http',
} as const;
/** The image pull Secret the Deployment names (examples/demo/hello-http/deployment.yaml). */
export const HELLO_PULL_SECRET = 'capstan-registry';
/** The image name the manifests use; the kustomization maps it to the registry's reference. */
const IMAGE_NAME = 'hello-http';
/** Its repository in the cluster registry (the demo's first build and the Pipeline's image step). */
export const HELLO_REPOSITORY = 'capstan/hello-http';

/** The cluster's real node, or a clear error when the demo's cluster has none. */
export function demoRealNode(cluster: LocalCluster): RealNodeState & { registry: RegistryState } {
  const node = cluster.state.realNode;
  if (!node?.registry)
    throw new CapstanError(
      'DEMO_NO_REAL_NODE',
      `the demo's cluster '${cluster.name}' runs without a real node; run 'capstan demo down --name ${cluster.name}', then 'capstan demo up --real-node --name ${cluster.name}'`,
    );
  return { ...node, registry: node.registry };
}

/** examples/hello-http on the Node.js runtime `runtimeBase`: the image's reference by digest in the cluster registry. */
export async function publishHelloImage(
  cluster: LocalCluster,
  options: { readonly runtimeBase: string; readonly say: (line: string) => void },
): Promise<string> {
  const node = demoRealNode(cluster);
  options.say(`building ${HELLO_SOURCE} with BuildKit on ${options.runtimeBase}`);
  const built = await buildAndPush({
    buildctl: join(node.buildkitBinDir, 'buildctl'),
    socket: buildkitPaths(node.paths).socket,
    registry: node.registry,
    context: HELLO_SOURCE,
    buildArgs: { BASE_IMAGE: options.runtimeBase },
    image: `${HELLO_REPOSITORY}:1`,
    workDir: join(node.paths.images, 'hello-http'),
  });
  return built.reference;
}

/** The base images in the cluster registry: from the machine's image cache, else built from Debian packages. */
export async function demoBaseImages(cluster: LocalCluster, say: (line: string) => void): Promise<string> {
  const node = demoRealNode(cluster);
  const base = await publishBaseImages({
    registry: node.registry,
    workDir: join(node.paths.images, 'base'),
    nodeBinary: process.execPath,
    progress: (line) => {
      say(`  ${line}`);
    },
  });
  return base.nodeRuntime;
}

/** An image pull Secret with the cluster registry's credentials, as a Kubernetes object. */
export function pullSecret(
  registry: RegistryState,
  where: { readonly name: string; readonly namespace: string },
): KubeObject {
  const auth = Buffer.from(`${registry.username}:${registryPassword(registry)}`).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: where.name, namespace: where.namespace },
    type: 'kubernetes.io/dockerconfigjson',
    stringData: { '.dockerconfigjson': JSON.stringify({ auths: { [registry.address]: { auth } } }) },
  };
}

/** The demo repository on the git server, and who may push to it. */
export interface DemoRepository {
  readonly url: string;
  readonly username: string;
  readonly password: string;
}

/**
 * Commits the image's reference by digest to hello-http/kustomization.yaml of the demo repository
 * and pushes, unless an image by digest is there already (the first `demo up`'s, or one promoted
 * since by the Environment hello-http, which a later `demo up` keeps). Returns whether it committed
 * and the image the kustomization names then (the one the Application runs).
 */
export async function commitHelloImage(
  repository: DemoRepository,
  reference: string,
  options: { readonly workDir: string },
): Promise<{ committed: boolean; image: string }> {
  const checkout = await mkdtemp(join(options.workDir, 'demo-config-'));
  try {
    const git = demoGit(repository, checkout);
    await git(['clone', '--quiet', repository.url, '.']);
    const file = join(checkout, HELLO_APPLICATION.path, 'kustomization.yaml');
    const before = await readFile(file, 'utf8');
    // An image there already (this build's, or one the Environment hello-http promoted) stays, if
    // this cluster's registry holds it: a demo folder kept beside a cluster made again names another.
    const named = keptImage(imageNamed(before), reference);
    if (named !== undefined) return { committed: false, image: named };
    const after = withImage(before, { file, reference });
    await writeFile(file, after);
    await git(['commit', '--quiet', '-am', `hello-http: the image built by the demo, ${reference}`]);
    await git(['push', '--quiet', 'origin', 'HEAD']);
    return { committed: true, image: reference };
  } finally {
    await rm(checkout, { recursive: true, force: true });
  }
}

/**
 * git in a checkout, with the repository's credentials as a header given in the environment (never in
 * a URL, a config file or the command line, which other users of the machine can read).
 */
export function demoGit(repository: DemoRepository, cwd: string) {
  const basic = Buffer.from(`${repository.username}:${repository.password}`).toString('base64');
  const env = cleanEnv({
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'http.extraHeader',
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
  });
  return async (args: readonly string[]): Promise<void> => {
    await run('git', ['-c', 'user.name=Capstan demo', '-c', 'user.email=demo@capstan.invalid', ...args], {
      cwd,
      timeoutMs: 60_000,
      env,
    });
  };
}

/** The image by digest that the kustomization's `hello-http` entry names (`newName@digest`), if any. */
export function imageNamed(text: string): string | undefined {
  type Entry = { name?: string; newName?: string; digest?: string };
  const images = (parseDocument(text).toJS() as { images?: Entry[] } | null)?.images;
  const entry = images?.find((i) => i.name === IMAGE_NAME);
  if (typeof entry?.digest !== 'string') return undefined;
  return `${entry.newName ?? IMAGE_NAME}@${entry.digest}`;
}

/**
 * The image the kustomization names, kept when it is in the same registry (`host:port`) as this
 * build's `reference`; undefined (so this build's is committed) when none is named or it names a
 * registry this cluster does not have (a demo folder that outlived its cluster's registry).
 */
export function keptImage(named: string | undefined, reference: string): string | undefined {
  const registryOf = (image: string) => {
    const slash = image.indexOf('/');
    return slash < 0 ? undefined : image.slice(0, slash);
  };
  const registry = named === undefined ? undefined : registryOf(named);
  return registry !== undefined && registry === registryOf(reference) ? named : undefined;
}

/** The kustomization with the `hello-http` image entry pointing at `reference` (`name@sha256:...`). */
export function withImage(
  text: string,
  options: { readonly file: string; readonly reference: string },
): string {
  const at = options.reference.lastIndexOf('@');
  if (at < 0)
    throw new CapstanError('DEMO_IMAGE_REFERENCE', `${options.reference} is not a reference by digest`);
  const doc = parseDocument(text);
  const images = doc.get('images', true) as { items?: { get(key: string): unknown }[] } | undefined;
  const index = images?.items?.findIndex((item) => item.get('name') === IMAGE_NAME) ?? -1;
  if (index < 0)
    throw new CapstanError(
      'DEMO_IMAGE_ENTRY',
      `${options.file} has no images entry named ${IMAGE_NAME}; put back '- name: ${IMAGE_NAME}' under images`,
    );
  doc.setIn(['images', index, 'newName'], options.reference.slice(0, at));
  doc.setIn(['images', index, 'digest'], options.reference.slice(at + 1));
  return doc.toString();
}

/** `http://127.0.0.1:<port>/`: the hello-http Service's NodePort, reached from the machine's loopback. */
export async function helloUrl(cluster: LocalCluster, nodePort: number): Promise<string> {
  return `http://${await cluster.exposeNodePort(nodePort)}/`;
}

/** A type the demo cluster must serve. */
export async function servedType(
  admin: KubeCluster,
  apiVersion: string,
  kind: string,
): Promise<ResourceType> {
  const t = await admin.resourceType(apiVersion, kind, { refresh: true });
  if (!t) throw new CapstanError('DEMO_DISCOVERY', `the cluster does not serve ${apiVersion} ${kind}`);
  return t;
}

export async function applyAsDemo(admin: KubeCluster, t: ResourceType, object: KubeObject): Promise<void> {
  await admin.apply(t, object, { fieldManager: 'capstan-demo', force: true });
}

/**
 * The sample HTTP server on the real node: the registry's pull Secret in its namespace, and its image
 * `reference` (by digest) committed to the demo repository unless one is there; returns the image there.
 */
export async function helloOnRealNode(
  cluster: LocalCluster,
  admin: KubeCluster,
  options: {
    readonly dir: string;
    readonly repository: DemoRepository;
    readonly reference: string;
    readonly say: (line: string) => void;
  },
): Promise<string> {
  const node = demoRealNode(cluster);
  await applyAsDemo(admin, await servedType(admin, 'v1', 'Namespace'), {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: HELLO_APPLICATION.namespace },
  });
  await applyAsDemo(
    admin,
    await servedType(admin, 'v1', 'Secret'),
    pullSecret(node.registry, { name: HELLO_PULL_SECRET, namespace: HELLO_APPLICATION.namespace }),
  );
  const { committed, image } = await commitHelloImage(options.repository, options.reference, {
    workDir: options.dir,
  });
  options.say(
    committed
      ? `committed the image to ${HELLO_APPLICATION.path}/kustomization.yaml of the demo repository`
      : `${HELLO_APPLICATION.path}/kustomization.yaml of the demo repository names ${image} (kept)`,
  );
  return image;
}

/** The sample HTTP server's URL on the machine's loopback (its Service's NodePort through a forwarder). */
export async function helloAddress(cluster: LocalCluster, admin: KubeCluster): Promise<string> {
  const service = await admin.get(
    await servedType(admin, 'v1', 'Service'),
    HELLO_APPLICATION.namespace,
    HELLO_APPLICATION.service,
  );
  const ports = ((service?.['spec'] ?? {}) as { ports?: { nodePort?: number }[] }).ports;
  const nodePort = ports?.[0]?.nodePort;
  if (nodePort === undefined)
    throw new CapstanError(
      'DEMO_NO_NODE_PORT',
      `Service ${HELLO_APPLICATION.namespace}/${HELLO_APPLICATION.service} has no NodePort; see examples/demo/hello-http/service.yaml`,
    );
  return helloUrl(cluster, nodePort);
}
