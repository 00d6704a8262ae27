// The demo's agent as users install it (`capstan demo up --real-node`): Capstan's image built by the
// cluster's BuildKit from the project's Dockerfile (kept in the machine's image cache by its inputs),
// install.yaml's objects with that image by digest, and the overlay an operator would write for this
// cluster: the real node's selector and toleration, the registry's image pull Secret, and the git
// server's address as the pods see it allowed (a private address is refused unless named). Two pods,
// one leads (the Lease); the Applications' project names a ServiceAccount the agent impersonates.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { findTool } from '../adapters/render/tools.ts';
import {
  AGENT_NAME,
  AGENT_SELECTOR,
  DEFAULT_NAMESPACE,
  HEALTH_PORT,
  installManifests,
} from '../contracts/install.ts';
import { SERVER_NAME, type BuildkitFlags } from '../contracts/install-server.ts';
import type { KubeObject } from '../core/resource.ts';
import type { ResourceType } from '../ports/cluster.ts';
import { buildkitPaths } from '../devcluster/buildkit.ts';
import { buildCapstanImage } from '../devcluster/capstan-image.ts';
import type { LocalCluster } from '../devcluster/cluster.ts';
import { REAL_NODE } from '../devcluster/node-config.ts';
import {
  applyAsDemo,
  demoBaseImages,
  demoRealNode,
  helloOnRealNode,
  publishHelloImage,
  pullSecret,
  servedType,
  type DemoRepository,
} from './demo-hello.ts';
import { assertServerClaimUsable } from './demo-claim.ts';
import { commitPipelineFile, demoBuildkit, helloPipelineFile, HELLO_ROAD, runPodFlags } from './demo-road.ts';
import { until } from './demo-state.ts';
import { registryCaConfigMap, serverReachesRegistry, type PodRegistry } from './registry-overlay.ts';

/** The ServiceAccount the demo's Applications apply as (their project's destination names it). */
export const DEMO_DEPLOYER = 'capstan-demo-deployer';
/** The label selector of the agent's pods (install.ts). */
export const AGENT_POD_SELECTOR = 'app.kubernetes.io/name=capstan,app.kubernetes.io/component=agent';
/** The demo's Service for the agent's health port (demoAgentInstall). */
export const AGENT_HEALTH_SERVICE = `${AGENT_NAME}-health`;
/** The registry's image pull Secret in the agent's namespace. */
export const AGENT_PULL_SECRET = 'capstan-registry';
/** The registry's CA for the API server's Pod (serverReachesRegistry). */
export const REGISTRY_CA_CONFIG_MAP = 'capstan-registry-ca';

/** Where the demo's agent runs: two pods of install.yaml's Deployment on the real node. */
export interface AgentPods {
  readonly namespace: string;
  /** The pods' names, the leader (the Lease's holder) first. */
  readonly pods: readonly string[];
  readonly leader: string;
  /** Capstan's image, by digest in the cluster registry. */
  readonly image: string;
}

type PodSpec = {
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  imagePullSecrets?: { name: string }[];
  containers: { args?: string[] }[];
};

/**
 * An operator's overlay of install.yaml's objects for the real node: the pods of the Deployments named
 * in `deployments` (default: the agent's) select the node and tolerate its taint, pull with
 * `pullSecret`, and may fetch from `allowRepositoryHost` (the git server's address as the pods see it).
 * Other objects are unchanged.
 */
export function placeAgentOnRealNode(
  objects: readonly KubeObject[],
  overlay: {
    readonly pullSecret: string;
    readonly allowRepositoryHost: string;
    readonly deployments?: readonly string[];
  },
): KubeObject[] {
  const deployments = overlay.deployments ?? [AGENT_NAME];
  return objects.map((object) => {
    if (object.kind !== 'Deployment' || !deployments.includes(object.metadata.name ?? '')) return object;
    const spec = object['spec'] as { template: { spec: PodSpec } };
    const pod = spec.template.spec;
    const placed: PodSpec = {
      ...pod,
      nodeSelector: { ...pod.nodeSelector, [REAL_NODE.label]: REAL_NODE.labelValue },
      tolerations: [
        ...(pod.tolerations ?? []),
        { key: REAL_NODE.taintKey, operator: 'Exists', effect: 'NoSchedule' },
      ],
      imagePullSecrets: [{ name: overlay.pullSecret }],
      containers: pod.containers.map((c) => ({
        ...c,
        args: [...(c.args ?? []), '--allow-repository-host', overlay.allowRepositoryHost],
      })),
    };
    return { ...object, spec: { ...spec, template: { ...spec.template, spec: placed } } };
  });
}

/**
 * The API server's Deployment (install.yaml's drives promotions) may commit to the demo's git server,
 * which serves http:// only (`--promotions-allow-http`); with `runPods`, its pipeline runs' Pods go
 * to the real node and check out over http (runPodFlags). Other objects are unchanged.
 */
function promotionsOverHttp(object: KubeObject, runPods: boolean): KubeObject {
  if (object.kind !== 'Deployment' || object.metadata.name !== SERVER_NAME) return object;
  const spec = object['spec'] as { template: { spec: PodSpec } };
  const pod = spec.template.spec;
  const containers = pod.containers.map((c) => ({
    ...c,
    args: [...(c.args ?? []), '--promotions-allow-http', ...(runPods ? runPodFlags() : [])],
  }));
  return { ...object, spec: { ...spec, template: { ...spec.template, spec: { ...pod, containers } } } };
}

/** The sidecar's program: a TCP forwarder from 127.0.0.1:PORT to TARGET (host:port). */
const FORWARDER = [
  "const net = require('node:net');",
  "const [host, port] = process.env.TARGET.split(':');",
  'net.createServer((c) => { const u = net.connect(Number(port), host);',
  "  c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); c.pipe(u).pipe(c);",
  "}).listen(Number(process.env.PORT), '127.0.0.1');",
].join('\n');

/**
 * The API server's Pod reaches the demo's git server on its own loopback too (a sidecar forwarding
 * 127.0.0.1:<port> to `target`, the git server's address as Pods see it, itself forwarded to the
 * machine's loopback): git sends credentials over plain http to loopback only, and the promotions of
 * the Environment hello-http push with them (demo-road.ts). Every hop is on this machine.
 */
export function gitOnServerLoopback(object: KubeObject, target: string): KubeObject {
  if (object.kind !== 'Deployment' || object.metadata.name !== SERVER_NAME) return object;
  const spec = object['spec'] as { template: { spec: PodSpec } };
  const pod = spec.template.spec;
  const [server] = pod.containers as (PodSpec['containers'][number] & Record<string, unknown>)[];
  const sidecar = {
    name: 'git-forward',
    image: server?.['image'],
    command: ['node', '-e', FORWARDER],
    env: [
      { name: 'TARGET', value: target },
      { name: 'PORT', value: target.split(':')[1] ?? '' },
    ],
    securityContext: server?.['securityContext'],
    resources: { requests: { cpu: '5m', memory: '16Mi' }, limits: { memory: '64Mi' } },
  };
  const containers = [...pod.containers, sidecar];
  return { ...object, spec: { ...spec, template: { ...spec.template, spec: { ...pod, containers } } } };
}

/**
 * The demo's install: install.yaml's agent and API server, both on the real node (where the git
 * server's address, `allowRepositoryHost`, is the one the Applications name: the server renders their
 * desired state from the same URL the agent syncs), the agent impersonating DEMO_DEPLOYER for the
 * Applications of `applicationNamespace`, which may create namespaces and edit what is in them. One
 * object of the demo's own besides: a Service for the agent's health port (install.yaml has one for
 * its metrics and one for its webhooks), which the demo exposes on the machine like those. With
 * `registry`, the server's Pod reaches the cluster's registry at its Pod address (its CA in a
 * ConfigMap, right after the namespace), to make image steps' attestations reproducible. With
 * `buildkit`, the server drives the runs of the Pipelines of `applicationNamespace` (its --buildkit-*
 * flags, its run Pods on the real node).
 */
export function demoAgentInstall(options: {
  readonly image: string;
  readonly applicationNamespace: string;
  readonly allowRepositoryHost: string;
  readonly registry?: PodRegistry;
  readonly buildkit?: BuildkitFlags;
  /** The git server as Pods reach it (`10.200.0.1:<port>`), forwarded from the server Pod's loopback. */
  readonly gitForward?: string;
}): KubeObject[] {
  const { buildkit } = options;
  const install = installManifests({
    image: options.image,
    applicationNamespaces: [options.applicationNamespace],
    impersonate: [DEMO_DEPLOYER],
    ...(buildkit === undefined ? {} : { buildkit, pipelineNamespaces: [options.applicationNamespace] }),
  });
  const rbac = 'rbac.authorization.k8s.io/v1';
  const labels = { 'app.kubernetes.io/part-of': 'capstan-demo' };
  const subjects = [{ kind: 'ServiceAccount', name: DEMO_DEPLOYER, namespace: options.applicationNamespace }];
  const binding = (name: string, role: string): KubeObject => ({
    apiVersion: rbac,
    kind: 'ClusterRoleBinding',
    metadata: { name, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects,
  });
  const placed = placeAgentOnRealNode(install, {
    pullSecret: AGENT_PULL_SECRET,
    allowRepositoryHost: options.allowRepositoryHost,
    deployments: [AGENT_NAME, SERVER_NAME],
  })
    .map((o) => promotionsOverHttp(o, buildkit !== undefined))
    .map((o) => (options.gitForward === undefined ? o : gitOnServerLoopback(o, options.gitForward)));
  const { registry } = options;
  const installed =
    registry === undefined
      ? placed
      : serverReachesRegistry(placed, { registry, caConfigMap: REGISTRY_CA_CONFIG_MAP }).flatMap((o) =>
          o.kind === 'Namespace' && o.metadata.name === DEFAULT_NAMESPACE
            ? [o, registryCaConfigMap(REGISTRY_CA_CONFIG_MAP, DEFAULT_NAMESPACE, registry)]
            : [o],
        );
  return [
    ...installed,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: AGENT_HEALTH_SERVICE, namespace: DEFAULT_NAMESPACE, labels },
      spec: {
        selector: AGENT_SELECTOR,
        ports: [{ name: 'health', port: HEALTH_PORT, targetPort: 'health' }],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: DEMO_DEPLOYER, namespace: options.applicationNamespace, labels },
    },
    {
      apiVersion: rbac,
      kind: 'ClusterRole',
      metadata: { name: DEMO_DEPLOYER, labels },
      rules: [
        { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
      ],
    },
    binding(DEMO_DEPLOYER, DEMO_DEPLOYER),
    binding(`${DEMO_DEPLOYER}-edit`, 'edit'),
  ];
}

/** Capstan's image on the Node.js runtime `runtimeBase`: from the machine's image cache, else built by BuildKit. */
export async function publishCapstanImage(
  cluster: LocalCluster,
  options: { readonly runtimeBase: string; readonly say: (line: string) => void },
): Promise<string> {
  const node = demoRealNode(cluster);
  const progress = (line: string) => {
    options.say(`  [capstan image] ${line}`);
  };
  const built = await buildCapstanImage({
    registry: node.registry,
    buildctl: join(node.buildkitBinDir, 'buildctl'),
    socket: buildkitPaths(node.paths).socket,
    runtimeBase: options.runtimeBase,
    toolsBinDir: cluster.state.binDir,
    jsonnetBinary: await findTool('jsonnet', { progress }),
    confineBinary: await findTool('confine', { progress }),
    workDir: join(node.paths.images, 'capstan'),
    progress,
  });
  return built.reference;
}

/**
 * The demo's parts on the real node: the base images, then the sample HTTP server's image and Capstan's
 * (side by side in BuildKit), and BuildKit deployed in the cluster for pipeline runs; the git server
 * reachable from pods and the agent installed as soon as its image and BuildKit are there (not waited
 * for: see agentPodsReady); hello-http's pull Secret and image committed to the demo repository, and
 * its pipeline file to its code repository hello-http.git (demo-road.ts).
 */
export async function demoOnRealNode(
  cluster: LocalCluster,
  admin: KubeCluster,
  options: {
    readonly dir: string;
    readonly repository: DemoRepository;
    readonly gitPort: number;
    readonly applicationNamespace: string;
    readonly say: (line: string) => void;
  },
): Promise<{ helloImage: string; agentImage: string; gitAddress: string }> {
  const { say } = options;
  // A server claim left on another node by an earlier install is said now, not after the builds.
  await assertServerClaimUsable(admin, {
    node: demoRealNode(cluster).nodeName,
    kubeconfig: cluster.adminKubeconfig,
    demoName: cluster.name,
  });
  say('the base images into the cluster registry (from the image cache, else built from Debian packages)');
  // BuildKit in the cluster (its image built on first use) beside the base images and the builds.
  const buildkitPart = demoBuildkit(cluster, admin, { namespace: options.applicationNamespace, say });
  const runtimeBase = await demoBaseImages(cluster, say);
  say(
    "building the sample HTTP server (examples/hello-http) and Capstan's image (the agent's) with BuildKit",
  );
  // The agent is installed as soon as its image is there (its pods take longest to start).
  const agentPart = publishCapstanImage(cluster, { runtimeBase, say }).then(async (agentImage) => {
    say(`  capstan:    ${agentImage}`);
    const gitAddress = await cluster.exposeToPods(options.gitPort);
    say(`the git server reachable from pods at http://${gitAddress}/ (anonymous fetches)`);
    const buildkit = await buildkitPart;
    say(`  buildkitd:  ${buildkit.address ?? ''} (${buildkit.image})`);
    await installAgent(cluster, admin, { image: agentImage, gitAddress, buildkit, ...options });
    return { agentImage, gitAddress };
  });
  const helloPart = publishHelloImage(cluster, { runtimeBase, say }).then(async (helloImage) => {
    say(`  hello-http: ${helloImage}`);
    const running = await helloOnRealNode(cluster, admin, { ...options, reference: helloImage });
    const code = {
      ...options.repository,
      url: options.repository.url.replace(/[^/]+\.git$/, `${HELLO_ROAD}.git`),
    };
    const file = helloPipelineFile({ runtimeBase, registry: demoRealNode(cluster).registry.address });
    if (await commitPipelineFile(code, file, { workDir: options.dir }))
      say(`committed .capstan/pipeline.yaml (test, image) to ${code.url}`);
    return running;
  });
  const [{ agentImage, gitAddress }, helloImage] = await Promise.all([agentPart, helloPart]);
  return { helloImage, agentImage, gitAddress };
}

/** Applies the demo's install (demoAgentInstall) and the registry's pull Secret for the agent's pods. */
async function installAgent(
  cluster: LocalCluster,
  admin: KubeCluster,
  options: {
    readonly image: string;
    readonly applicationNamespace: string;
    readonly gitAddress: string;
    readonly buildkit: BuildkitFlags;
    readonly say: (line: string) => void;
  },
): Promise<void> {
  const node = demoRealNode(cluster);
  const host = options.gitAddress.split(':')[0] ?? options.gitAddress;
  const { address, podAddress, caFile } = node.registry;
  // (A node started before the registry answered Pods has no such address: the server goes without.)
  const registry =
    podAddress === undefined ? undefined : { address, podAddress, ca: await readFile(caFile, 'utf8') };
  const objects = demoAgentInstall({
    ...options,
    allowRepositoryHost: host,
    gitForward: options.gitAddress,
    ...(registry === undefined ? {} : { registry }),
  });
  options.say(
    `installing the agent from install.yaml's objects (${String(objects.length)}) on the real node`,
  );
  const types = new Map<string, ResourceType>();
  const typeOf = async (o: KubeObject) => {
    const key = `${o.apiVersion} ${o.kind}`;
    const known = types.get(key) ?? (await servedType(admin, o.apiVersion, o.kind));
    types.set(key, known);
    return known;
  };
  for (const object of objects) {
    await applyAsDemo(admin, await typeOf(object), object);
    // The pull Secret once the namespace is there, before the Deployment's pods first pull.
    if (object.kind === 'Namespace' && object.metadata.name === DEFAULT_NAMESPACE)
      await applyAsDemo(
        admin,
        await servedType(admin, 'v1', 'Secret'),
        pullSecret(node.registry, { name: AGENT_PULL_SECRET, namespace: DEFAULT_NAMESPACE }),
      );
  }
}

interface PodFacts {
  metadata: { name: string; deletionTimestamp?: string };
  spec?: { nodeName?: string };
  status?: { conditions?: { type: string; status: string }[]; containerStatuses?: { imageID?: string }[] };
}

/** Waits until the agent's pods are two, Ready, running `image`, and one holds the Lease. */
export async function agentPodsReady(
  admin: KubeCluster,
  options: { readonly image: string; readonly logs: string; readonly timeoutMs?: number },
): Promise<AgentPods> {
  const podType = await servedType(admin, 'v1', 'Pod');
  const leaseType = await servedType(admin, 'coordination.k8s.io/v1', 'Lease');
  return until(
    'two agent pods Ready on the real node, one of them holding the Lease',
    { timeoutMs: options.timeoutMs ?? 240_000, logs: options.logs },
    async () => {
      const pods = (
        (await admin.list(podType, DEFAULT_NAMESPACE, {
          labelSelector: AGENT_POD_SELECTOR,
        })) as unknown as PodFacts[]
      ).filter((p) => p.metadata.deletionTimestamp === undefined);
      const ready = pods.filter(
        (p) =>
          p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true &&
          p.status.containerStatuses?.[0]?.imageID === options.image,
      );
      if (pods.length !== 2 || ready.length !== 2) return undefined;
      const lease = await admin.get(leaseType, DEFAULT_NAMESPACE, AGENT_NAME);
      const leader = ((lease?.['spec'] ?? {}) as { holderIdentity?: string }).holderIdentity ?? '';
      const names = ready.map((p) => p.metadata.name);
      if (!names.includes(leader)) return undefined;
      return {
        namespace: DEFAULT_NAMESPACE,
        pods: [leader, ...names.filter((n) => n !== leader)],
        leader,
        image: options.image,
      };
    },
  );
}

/**
 * Removes the demo's agent and API server Deployments (their pods go with them), when the demo leaves
 * its cluster running; true if there was one.
 */
export async function removeAgentPods(admin: KubeCluster): Promise<boolean> {
  const type = await servedType(admin, 'apps/v1', 'Deployment');
  const agent = await admin.delete(type, DEFAULT_NAMESPACE, AGENT_NAME);
  const server = await admin.delete(type, DEFAULT_NAMESPACE, SERVER_NAME);
  return agent || server;
}
