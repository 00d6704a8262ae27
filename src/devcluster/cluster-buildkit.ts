/**
 * BuildKit in the dev cluster for pipeline image steps (docs/pipelines.md, "Image steps"): its image,
 * made from Debian's packages (runc, git, CA certificates) and the buildkitd and buildctl built from Go
 * modules, pushed to the cluster's registry; then buildkitd deployed as install users get it
 * (src/contracts/buildkit-install.ts) on the real node, with mTLS certificates signed by the cluster's
 * CA, its cache in a folder of the node (kept between runs and between Pods), and the node's network
 * (the cluster's registry answers on the node's loopback only).
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUILDKIT_DEFAULTS, buildkitManifests, buildkitServerName } from '../contracts/buildkit-install.ts';
import type { BuildkitEndpoint } from '../core/build-step.ts';
import { CapstanError } from '../core/errors.ts';
import type { KubeObject } from '../core/resource.ts';
import { debianRootfs, withNonRootUser } from './base-images.ts';
import type { LocalCluster } from './cluster.ts';
import { run } from './exec.ts';
import { REAL_NODE } from './node-config.ts';
import { packImage } from './oci-image.ts';
import { signClientCertificate, signServiceCertificate } from './pki.ts';
import { pushArchive, registryPassword, type RegistryState } from './registry.ts';

/** What buildkitd's runc worker and the build steps need beside buildkitd and buildctl. */
export const BUILDKIT_IMAGE_PACKAGES = ['runc', 'git', 'ca-certificates'];
export const BUILDKIT_IMAGE_REPOSITORY = 'capstan/buildkit';

/** The BuildKit image (Debian with runc and git, plus buildkitd and buildctl), pushed; its reference by digest. */
export async function publishBuildkitImage(options: {
  registry: RegistryState;
  buildkitBinDir: string;
  workDir: string;
}): Promise<string> {
  const rootfs = join(options.workDir, 'buildkit-rootfs');
  await mkdir(options.workDir, { recursive: true });
  await debianRootfs({ dir: rootfs, packages: BUILDKIT_IMAGE_PACKAGES });
  for (const binary of ['buildkitd', 'buildctl']) {
    await copyFile(join(options.buildkitBinDir, binary), join(rootfs, 'usr', 'local', 'bin', binary));
    await chmod(join(rootfs, 'usr', 'local', 'bin', binary), 0o755);
  }
  await withNonRootUser(rootfs);
  const image = await packImage({
    rootfs,
    reference: 'capstan.local/buildkit:1',
    runtime: {
      entrypoint: ['/usr/local/bin/buildkitd'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    },
    output: join(options.workDir, 'buildkit.oci.tar'),
  });
  await rm(rootfs, { recursive: true, force: true });
  const version = (await readFile(join(options.buildkitBinDir, 'versions.txt'), 'utf8')).split(/\s/)[1];
  const digest = await pushArchive({
    registry: options.registry,
    archive: image.archive,
    repository: BUILDKIT_IMAGE_REPOSITORY,
    tag: version ?? 'dev',
  });
  return `${options.registry.address}/${BUILDKIT_IMAGE_REPOSITORY}@${digest}`;
}

/** The dev cluster's BuildKit: its endpoint for the run Pods, and the client certificate's files. */
export interface ClusterBuildkit extends Omit<BuildkitEndpoint, 'clientSecret'> {
  readonly client: { readonly ca: string; readonly cert: string; readonly key: string };
}

/**
 * Deploys buildkitd on the cluster's real node (image built on first use, then reused) and waits until
 * it answers; returns how build steps reach it. Idempotent: applied server-side again, the same Pod stays.
 */
export async function deployClusterBuildkit(
  cluster: LocalCluster,
  options: { progress?: (line: string) => void } = {},
): Promise<ClusterBuildkit> {
  const say = options.progress ?? (() => undefined);
  const node = cluster.state.realNode;
  const registry = node?.registry;
  if (!node || !registry)
    throw new CapstanError(
      'PIPELINE_BUILDKIT_MISSING',
      `cluster ${cluster.name} has no real node: BuildKit runs there (capstan dev-cluster up --real-node)`,
    );
  const saved = join(node.paths.images, 'buildkit-image.ref');
  if (!existsSync(saved)) {
    say('building the BuildKit image (Debian: runc, git, CA certificates; buildkitd, buildctl)');
    const reference = await publishBuildkitImage({
      registry,
      buildkitBinDir: node.buildkitBinDir,
      workDir: join(node.paths.images, 'buildkit'),
    });
    await writeFile(saved, `${reference}\n`);
  }
  const image = (await readFile(saved, 'utf8')).trim();
  const tls = await buildkitCertificates(cluster);
  const objects = [
    ...buildkitManifests({
      image,
      cache: { hostPath: join(node.paths.root, 'buildkit-pod-cache') },
      registryCAs: [{ host: registry.address, caPem: await readFile(registry.caFile, 'utf8') }],
      hostNetwork: true,
      placement: {
        nodeSelector: { [REAL_NODE.label]: REAL_NODE.labelValue },
        tolerations: [{ key: REAL_NODE.taintKey, operator: 'Exists', effect: 'NoSchedule' }],
      },
      imagePullSecrets: ['registry'],
    }),
    await tlsSecret(BUILDKIT_DEFAULTS.serverSecret, BUILDKIT_DEFAULTS.namespace, tls.server, tls.ca),
    pullSecret(registry),
  ];
  say('deploying buildkitd on the real node');
  await kubectl(cluster, ['apply', '--server-side', '--force-conflicts', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
  });
  await kubectl(cluster, [
    'rollout',
    'status',
    '--namespace',
    BUILDKIT_DEFAULTS.namespace,
    `deployment/${BUILDKIT_DEFAULTS.name}`,
    '--timeout=300s',
  ]);
  const clusterIP = await kubectl(cluster, [
    'get',
    'service',
    '--namespace',
    BUILDKIT_DEFAULTS.namespace,
    BUILDKIT_DEFAULTS.name,
    '--output=jsonpath={.spec.clusterIP}',
  ]);
  return {
    image,
    address: `tcp://${clusterIP.trim()}:${BUILDKIT_DEFAULTS.port}`,
    serverName: buildkitServerName(),
    client: { ca: tls.ca, ...tls.client },
  };
}

/** The client certificate's Secret for build steps in `namespace` (BUILDKIT_DEFAULTS.clientSecret). */
export async function buildkitClientSecret(
  buildkit: ClusterBuildkit,
  namespace: string,
): Promise<KubeObject> {
  return tlsSecret(BUILDKIT_DEFAULTS.clientSecret, namespace, buildkit.client, buildkit.client.ca);
}

/** buildkitd's serving certificate and the build steps' client certificate, signed by the cluster's CA once. */
async function buildkitCertificates(cluster: LocalCluster): Promise<{
  ca: string;
  server: { cert: string; key: string };
  client: { cert: string; key: string };
}> {
  const pki = {
    dir: cluster.paths.pki,
    caCert: join(cluster.paths.pki, 'ca.crt'),
    caKey: join(cluster.paths.pki, 'ca.key'),
  };
  const server = { cert: join(pki.dir, 'buildkitd.crt'), key: join(pki.dir, 'buildkitd.key') };
  const client = {
    cert: join(pki.dir, 'client-buildkit-step.crt'),
    key: join(pki.dir, 'client-buildkit-step.key'),
  };
  if (!existsSync(server.cert))
    await signServiceCertificate(pki, 'buildkitd', [buildkitServerName(), BUILDKIT_DEFAULTS.name]);
  if (!existsSync(client.cert)) await signClientCertificate(pki, 'buildkit-step', '/CN=capstan-build-step');
  return { ca: pki.caCert, server, client };
}

async function tlsSecret(
  name: string,
  namespace: string,
  pair: { cert: string; key: string },
  ca: string,
): Promise<KubeObject> {
  const b64 = async (file: string) => (await readFile(file)).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'Opaque',
    data: { 'ca.crt': await b64(ca), 'tls.crt': await b64(pair.cert), 'tls.key': await b64(pair.key) },
  };
}

/** The registry's pull Secret in BuildKit's namespace (its image is in the cluster's registry). */
function pullSecret(registry: RegistryState): KubeObject {
  const auth = Buffer.from(`${registry.username}:${registryPassword(registry)}`).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'registry', namespace: BUILDKIT_DEFAULTS.namespace },
    type: 'kubernetes.io/dockerconfigjson',
    stringData: { '.dockerconfigjson': JSON.stringify({ auths: { [registry.address]: { auth } } }) },
  };
}

async function kubectl(
  cluster: LocalCluster,
  args: readonly string[],
  options: { input?: string } = {},
): Promise<string> {
  const result = await run(
    join(cluster.state.binDir, 'kubectl'),
    ['--kubeconfig', cluster.adminKubeconfig, ...args],
    { timeoutMs: 360_000, ...(options.input === undefined ? {} : { input: options.input }) },
  );
  return result.stdout;
}
