import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RENDER_SANDBOX_SECCOMP_PROFILE } from '../contracts/install.ts';
import { CapstanError } from '../core/errors.ts';
import { ensureNodeBinaries } from './binaries.ts';
import { REPOSITORY_ROOT } from './capstan-image.ts';
import { buildkitdConfig, buildkitPaths, ensureBuildkitBinaries } from './buildkit.ts';
import { CLUSTER_DNS, corefile, ensureCorednsBinaries, registerClusterDns } from './cluster-dns.ts';
import { run } from './exec.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import {
  cniConfig,
  containerdConfig,
  egressSelectorConfig,
  kubeletConfig,
  kubeProxyConfig,
  NODE_NETWORK,
  nodePaths,
  REAL_NODE,
  type NodePaths,
} from './node-config.ts';
import {
  assertNodePrerequisites,
  CNI_BIN,
  createCgroupRoot,
  createMountNamespace,
  createNodeNetns,
  killAll,
  processesInCgroups,
  processesInMountNamespace,
  removeCgroupRoot,
  removeMountNamespace,
  removeNodeNetns,
  RUNC,
  thawCgroups,
  unmountBelow,
} from './node-host.ts';
import { buildBusyboxImage, buildPauseImage, importImage } from './node-images.ts';
import { signClientCertificate, type Pki } from './pki.ts';
import { isRunning, stopProcess, waitUntil, type ProcessRecord, type StartOptions } from './processes.ts';
import { freePort } from './ports.ts';
import { containerdHostsToml, prepareRegistry, waitRegistryReady, type RegistryState } from './registry.ts';
import type { AdminClient } from './rest.ts';

/** What `up --real-node` records so that `down` removes every piece of the node. */
export interface RealNodeState {
  readonly nodeName: string;
  readonly netns: string;
  readonly binDir: string;
  /** buildkitd and buildctl (scripts/build-buildkit.sh). */
  readonly buildkitBinDir: string;
  /** coredns (scripts/build-coredns.sh); absent in the state of a node started before cluster DNS. */
  readonly corednsBinDir?: string;
  readonly paths: NodePaths;
  /** Folders created on the machine because a bind mount needed a target (removed by down). */
  readonly createdDirs: readonly string[];
  /** The cluster's image registry (TLS with the cluster's CA, basic auth), on loopback and in the namespace. */
  readonly registry?: RegistryState;
}

export interface RealNodeContext {
  readonly clusterName: string;
  readonly clusterRoot: string;
  readonly apiServerPort: number;
  readonly pki: Pki;
  readonly server: string;
  readonly logs: string;
  /** Starts a process and records it with the cluster's other processes. */
  readonly launch: (options: StartOptions) => ProcessRecord;
  readonly say: (line: string) => void;
}

export interface PreparedNode {
  readonly state: RealNodeState;
  readonly forwarder: ProcessRecord;
}

/**
 * The flags the API server needs for a real node: its advertised address inside the namespace, its
 * egress to kubelets through the forwarder's socket, its client certificate for kubelets. They name
 * only fixed addresses and paths, so the API server starts while the node is being prepared.
 */
export async function realNodeApiServerArgs(ctx: RealNodeContext): Promise<string[]> {
  // A kernel feature or a package missing is said before anything starts.
  await assertNodePrerequisites();
  const paths = nodePaths(ctx.clusterRoot, ctx.clusterName);
  const egress = join(ctx.clusterRoot, 'egress-selector.json');
  await writeFile(egress, egressSelectorConfig(paths.egressSocket));
  const kubeletClient = await signClientCertificate(
    ctx.pki,
    'apiserver-kubelet',
    '/O=system:masters/CN=kube-apiserver-kubelet-client',
  );
  return [
    `--advertise-address=${NODE_NETWORK.nodeAddress}`,
    '--endpoint-reconciler-type=lease',
    `--egress-selector-config-file=${egress}`,
    `--kubelet-client-certificate=${kubeletClient.cert}`,
    `--kubelet-client-key=${kubeletClient.key}`,
    '--kubelet-preferred-address-types=InternalIP',
  ];
}

/** The node's programs, built from Go modules on first use: the three build scripts check their caches side by side. */
async function nodeBinaries(
  ctx: RealNodeContext,
): Promise<{ binDir: string; buildkitBinDir: string; corednsBinDir: string }> {
  const progress = (l: string) => {
    ctx.say(`  ${l}`);
  };
  const [binDir, buildkitBinDir, corednsBinDir] = await Promise.all([
    ensureNodeBinaries({ progress }),
    ensureBuildkitBinaries({ progress }),
    ensureCorednsBinaries({ progress }),
  ]);
  return { binDir, buildkitBinDir, corednsBinDir };
}

const NODE_PROCESSES = [
  'local-volumes',
  'coredns',
  'kube-proxy',
  'kubelet',
  'buildkitd',
  'containerd',
  'node-forwarder',
  'registry',
] as const;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * While the control plane starts: the node's programs, its network and mount namespaces, its cgroups and
 * the forwarder that joins the namespace to the machine's loopback. Every piece is recorded in the
 * returned state at once, so a failure part-way is undone by removeRealNode. (realNodeApiServerArgs,
 * called first, has checked the machine's prerequisites.)
 */
export async function prepareRealNode(
  ctx: RealNodeContext,
  record: (state: RealNodeState) => Promise<void>,
): Promise<PreparedNode> {
  ctx.say('locating the real node binaries (built from Go modules on first use)');
  const { binDir, buildkitBinDir, corednsBinDir } = await nodeBinaries(ctx);
  const paths = nodePaths(ctx.clusterRoot, ctx.clusterName);
  let state: RealNodeState = {
    nodeName: REAL_NODE.name,
    netns: '',
    binDir,
    buildkitBinDir,
    corednsBinDir,
    paths,
    createdDirs: [],
  };
  await unmountBelow(paths.root);
  await rm(paths.root, { recursive: true, force: true });
  for (const dir of [paths.config, paths.logs, paths.cniConf, paths.cniState, paths.images, paths.run])
    await mkdir(dir, { recursive: true, mode: 0o700 });

  ctx.say(
    `creating the node's network namespace (${NODE_NETWORK.nodeAddress}; pods ${NODE_NETWORK.podCidr})`,
  );
  const netns = await createNodeNetns(ctx.clusterName);
  state = { ...state, netns };
  await record(state);
  ctx.say('creating its mount namespace and cgroups');
  const createdDirs = await createMountNamespace(paths);
  state = { ...state, createdDirs };
  await record(state);
  await createCgroupRoot(ctx.clusterName);

  ctx.say('starting the image registry (TLS with the cluster CA, basic auth)');
  const registry = await prepareRegistry({
    root: paths.root,
    pki: ctx.pki,
    port: await freePort(),
    logs: ctx.logs,
    podHost: NODE_NETWORK.nodeAddress,
  });
  const registryProcess = ctx.launch(registry.start);
  state = { ...state, registry: registry.state };
  await record(state);
  await waitRegistryReady(registry.state, registryProcess, Date.now() + 15_000);

  const forwarder = await startForwarder(ctx, state);
  return { state, forwarder };
}

/**
 * The forwarder: the API server's port inside the namespace, and the API server's egress into it. The
 * registry's port inside too: on the namespace's loopback for containerd and buildkitd (host network),
 * and on the node's address for Pods (the installed server, which rewrites attestations).
 */
async function startForwarder(ctx: RealNodeContext, state: RealNodeState): Promise<ProcessRecord> {
  const api = ctx.apiServerPort;
  const registry = state.registry?.port;
  const forwarder = ctx.launch({
    name: 'node-forwarder',
    binary: join(state.binDir, 'capstan-node-forward'),
    args: [
      `--netns=${state.netns}`,
      `--forward=inside:${NODE_NETWORK.nodeAddress}:${api}=host:127.0.0.1:${api}`,
      `--forward=inside:127.0.0.1:${api}=host:127.0.0.1:${api}`,
      ...(registry === undefined
        ? []
        : [
            `--forward=inside:127.0.0.1:${registry}=host:127.0.0.1:${registry}`,
            `--forward=inside:${NODE_NETWORK.nodeAddress}:${registry}=host:127.0.0.1:${registry}`,
          ]),
      `--connect-proxy=${state.paths.egressSocket}`,
      ...NODE_NETWORK.insideCidrs.map((c) => `--inside-cidr=${c}`),
    ],
    log: join(ctx.logs, 'node-forwarder.log'),
  });
  await waitUntil(forwarder, Date.now() + 10_000, 'the node forwarder', async () =>
    (await readFile(forwarder.log, 'utf8')).includes('ready'),
  );
  return forwarder;
}

/**
 * The seccomp profiles pods may name as Localhost, where the kubelet looks for them: the agent's render
 * sandbox profile (install.yaml generated with --render-sandbox-profile; docs/security.md).
 */
async function installSeccompProfiles(paths: NodePaths): Promise<void> {
  const target = join(paths.kubeletRoot, 'seccomp', RENDER_SANDBOX_SECCOMP_PROFILE);
  await mkdir(dirname(target), { recursive: true });
  await copyFile(join(REPOSITORY_ROOT, 'deploy', 'seccomp', 'render-sandbox.json'), target);
}

/** The names of the forwarders that exposeToPods and exposeNodePort start (kept with the cluster's processes). */
export const EXTRA_FORWARD_PREFIX = 'forward-';

/**
 * One more forwarder beside the node's own, for one port: `inside:...=host:...` makes a server on the
 * machine's loopback reachable from pods (at the node's address), `host:...=inside:...` a NodePort
 * reachable from the machine's loopback. It connects nowhere but loopback and the node namespace;
 * nothing is routed, no interface changes. Returns the record to keep with the cluster's processes
 * (down stops it before the namespace goes).
 */
export async function startExtraForwarder(
  options: { state: RealNodeState; name: string; forward: string; logs: string },
  launch: (start: StartOptions) => ProcessRecord,
): Promise<ProcessRecord> {
  const name = `${EXTRA_FORWARD_PREFIX}${options.name}`;
  const log = join(options.logs, `${name}.log`);
  // The log is appended to: a forwarder of the same name that ran before wrote its own "ready".
  const readyLines = async () =>
    (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((line) => line === 'ready').length;
  const before = await readyLines();
  const record = launch({
    name,
    binary: join(options.state.binDir, 'capstan-node-forward'),
    args: [`--netns=${options.state.netns}`, `--forward=${options.forward}`],
    log,
  });
  await waitUntil(
    record,
    Date.now() + 10_000,
    `the forwarder ${options.forward}`,
    async () => (await readyLines()) > before,
  );
  return record;
}

/** Starts a program inside the node's network and mount namespaces, waiting until nsenter has exec'd it. */
async function launchInside(
  ctx: RealNodeContext,
  state: RealNodeState,
  options: Omit<StartOptions, 'launcher' | 'env'>,
): Promise<ProcessRecord> {
  const record = ctx.launch({
    ...options,
    launcher: ['nsenter', `--net=${state.netns}`, `--mount=${state.paths.mountNamespace}`, '--'],
    env: {
      PATH: `${state.binDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: process.env['HOME'] ?? '/root',
    },
  });
  const deadline = Date.now() + 5000;
  while (!isRunning(record)) {
    if (Date.now() > deadline)
      throw new CapstanError(
        'NODE_START',
        `${options.name} did not start inside the node namespaces; see ${options.log}`,
      );
    await sleep(20);
  }
  return record;
}

/** The node's container runtime, started before the API server is ready: containerd and buildkitd. */
export interface NodeRuntime {
  readonly containerd: ProcessRecord;
  readonly buildkit: { readonly daemon: ProcessRecord; readonly socket: string };
}

/**
 * What the node needs before the API server: containerd with the local images (the pause image and
 * busybox) and the seccomp profiles, and buildkitd launched. Runs beside the control plane's start.
 */
export async function startNodeRuntime(
  ctx: RealNodeContext,
  state: RealNodeState,
  deadline: number,
): Promise<NodeRuntime> {
  const { paths, binDir } = state;
  const containerd = await startContainerd(ctx, state, deadline);
  const buildkit = await launchBuildkitd(ctx, state);
  ctx.say('building the pause and busybox images and importing them');
  for (const image of [
    await buildPauseImage({ binDir, workDir: paths.images }),
    await buildBusyboxImage({ workDir: paths.images }),
  ])
    await importImage({ ctr: join(binDir, 'ctr'), socket: paths.containerdSocket, image });
  await installSeccompProfiles(paths);
  return { containerd, buildkit };
}

/**
 * Once the API server is ready and the runtime runs: the kubelet, kube-proxy and CoreDNS inside the
 * node's namespaces; returns once buildkitd answers and the node is Ready.
 */
export async function joinRealNode(
  ctx: RealNodeContext,
  state: RealNodeState,
  options: { readonly api: AdminClient; readonly runtime: NodeRuntime; readonly deadline: number },
): Promise<void> {
  const { api, deadline } = options;
  const { containerd, buildkit } = options.runtime;
  const kubeconfigs = await writeNodeKubeconfigs(ctx, state.paths);
  const { kubelet, proxy } = await launchKubeletAndProxy(ctx, state, kubeconfigs);
  const coredns = await startClusterDns(ctx, state, { api, kubeconfig: kubeconfigs.coredns });
  await waitUntil(coredns, deadline, 'CoreDNS', async () =>
    (await readFile(coredns.log, 'utf8')).includes('CoreDNS-'),
  );
  await waitUntil(buildkit.daemon, deadline, 'buildkitd', async () => {
    await run(
      join(state.buildkitBinDir, 'buildctl'),
      ['--addr', `unix://${buildkit.socket}`, 'debug', 'workers'],
      { timeoutMs: 3000 },
    );
    return true;
  });
  ctx.say('waiting for the real node to be Ready');
  await waitUntil(kubelet, deadline, `node ${state.nodeName}`, async () => {
    for (const p of [containerd, proxy, coredns])
      if (!isRunning(p)) throw new CapstanError('NODE_START', `${p.name} exited; see ${p.log}`);
    const res = await api.call('GET', `/api/v1/nodes/${state.nodeName}`);
    type Node = { status?: { conditions?: { type: string; status: string }[] } };
    return (
      (res.body as Node).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
    );
  });
}

/** containerd with its CNI configuration and the registry's hosts file; returns once it answers. */
async function startContainerd(
  ctx: RealNodeContext,
  state: RealNodeState,
  deadline: number,
): Promise<ProcessRecord> {
  const { paths, binDir } = state;
  ctx.say('starting containerd in the node namespace');
  const containerdToml = join(paths.config, 'containerd.toml');
  await writeFile(containerdToml, containerdConfig(paths, { runc: RUNC, cniBin: CNI_BIN }));
  await writeFile(join(paths.cniConf, '10-capstan.conflist'), cniConfig(paths));
  if (state.registry) {
    const hosts = join(paths.registryHosts, state.registry.address);
    await mkdir(hosts, { recursive: true });
    await writeFile(join(hosts, 'hosts.toml'), containerdHostsToml(state.registry));
  }
  const containerd = await launchInside(ctx, state, {
    name: 'containerd',
    binary: join(binDir, 'containerd'),
    args: ['--config', containerdToml, '--log-level', 'warn'],
    log: join(ctx.logs, 'containerd.log'),
  });
  await waitUntil(containerd, deadline, 'containerd', async () => {
    await run(join(binDir, 'ctr'), ['--address', paths.containerdSocket, 'version'], { timeoutMs: 3000 });
    return true;
  });
  return containerd;
}

/** buildkitd (for image builds on the node); not waited for here: the images are built meanwhile. */
async function launchBuildkitd(
  ctx: RealNodeContext,
  state: RealNodeState,
): Promise<{ daemon: ProcessRecord; socket: string }> {
  ctx.say('starting buildkitd in the node namespace');
  const bk = buildkitPaths(state.paths);
  await mkdir(bk.root, { recursive: true });
  await writeFile(
    bk.config,
    buildkitdConfig(bk, {
      clusterName: ctx.clusterName,
      runc: RUNC,
      ...(state.registry ? { registry: state.registry } : {}),
    }),
  );
  const daemon = await launchInside(ctx, state, {
    name: 'buildkitd',
    binary: join(state.buildkitBinDir, 'buildkitd'),
    args: ['--config', bk.config],
    log: join(ctx.logs, 'buildkitd.log'),
  });
  return { daemon, socket: bk.socket };
}

async function launchKubeletAndProxy(
  ctx: RealNodeContext,
  state: RealNodeState,
  kubeconfigs: { kubelet: string; kubeProxy: string },
): Promise<{ kubelet: ProcessRecord; proxy: ProcessRecord }> {
  const { paths, binDir } = state;
  ctx.say(`starting the kubelet (node ${state.nodeName}) and kube-proxy`);
  const kubeletYaml = join(paths.config, 'kubelet.json');
  const resolvConf = join(paths.config, 'resolv.conf');
  await writeFile(resolvConf, '# no name servers: nothing leaves the node namespace\n');
  await writeFile(
    kubeletYaml,
    kubeletConfig(paths, {
      clusterName: ctx.clusterName,
      caFile: ctx.pki.caCert,
      port: 10250,
      resolvConf,
      clusterDns: [CLUSTER_DNS.serviceIp],
    }),
  );
  const kubelet = await launchInside(ctx, state, {
    name: 'kubelet',
    binary: join(binDir, 'kubelet'),
    args: [
      `--config=${kubeletYaml}`,
      `--kubeconfig=${kubeconfigs.kubelet}`,
      `--root-dir=${paths.kubeletRoot}`,
      `--cert-dir=${join(paths.kubeletRoot, 'pki')}`,
      `--hostname-override=${state.nodeName}`,
      `--node-ip=${NODE_NETWORK.nodeAddress}`,
      `--node-labels=${REAL_NODE.label}=${REAL_NODE.labelValue}`,
    ],
    log: join(ctx.logs, 'kubelet.log'),
  });
  const proxyYaml = join(paths.config, 'kube-proxy.json');
  await writeFile(proxyYaml, kubeProxyConfig({ kubeconfig: kubeconfigs.kubeProxy }));
  const proxy = await launchInside(ctx, state, {
    name: 'kube-proxy',
    binary: join(binDir, 'kube-proxy'),
    args: [`--config=${proxyYaml}`],
    log: join(ctx.logs, 'kube-proxy.log'),
  });
  return { kubelet, proxy };
}

/** CoreDNS in the node's namespaces, on the node's address, and the kube-dns Service that leads pods to it. */
async function startClusterDns(
  ctx: RealNodeContext,
  state: RealNodeState,
  options: { api: AdminClient; kubeconfig: string },
): Promise<ProcessRecord> {
  if (!state.corednsBinDir)
    throw new CapstanError('NODE_START', 'the node state names no CoreDNS binary folder');
  ctx.say(`starting CoreDNS (cluster DNS ${CLUSTER_DNS.serviceIp} → ${NODE_NETWORK.nodeAddress}:53)`);
  await registerClusterDns(options.api);
  const file = join(state.paths.config, 'Corefile');
  await writeFile(file, corefile({ kubeconfig: options.kubeconfig }));
  return launchInside(ctx, state, {
    name: 'coredns',
    binary: join(state.corednsBinDir, 'coredns'),
    args: ['-conf', file],
    log: join(ctx.logs, 'coredns.log'),
  });
}

async function writeNodeKubeconfigs(
  ctx: RealNodeContext,
  paths: NodePaths,
): Promise<{ kubelet: string; kubeProxy: string; coredns: string }> {
  const kubeletCert = await signClientCertificate(
    ctx.pki,
    'kubelet',
    `/O=system:nodes/CN=system:node:${REAL_NODE.name}`,
  );
  const proxyCert = await signClientCertificate(ctx.pki, 'kube-proxy', '/CN=system:kube-proxy');
  const kubelet = join(paths.config, 'kubelet.kubeconfig');
  const kubeProxy = join(paths.config, 'kube-proxy.kubeconfig');
  // Inside the namespace, 127.0.0.1:<port> is the forwarder, which connects to the API server.
  const common = { server: ctx.server, caFile: ctx.pki.caCert, clusterName: ctx.clusterName };
  await writeKubeconfig(kubelet, {
    ...common,
    userName: `system:node:${REAL_NODE.name}`,
    credentials: { certFile: kubeletCert.cert, keyFile: kubeletCert.key },
  });
  await writeKubeconfig(kubeProxy, {
    ...common,
    userName: 'system:kube-proxy',
    credentials: { certFile: proxyCert.cert, keyFile: proxyCert.key },
  });
  const corednsCert = await signClientCertificate(ctx.pki, 'coredns', `/CN=${CLUSTER_DNS.user}`);
  const coredns = join(paths.config, 'coredns.kubeconfig');
  await writeKubeconfig(coredns, {
    ...common,
    userName: CLUSTER_DNS.user,
    credentials: { certFile: corednsCert.cert, keyFile: corednsCert.key },
  });
  return { kubelet, kubeProxy, coredns };
}

/** The processes in the cluster's cgroups, their cgroups thawed first so that a SIGKILL reaches them. */
async function podProcesses(clusterName: string): Promise<number[]> {
  await thawCgroups(clusterName);
  return processesInCgroups(clusterName);
}

/**
 * Removes the real node: its programs (by recorded pid), then every process left in its cgroups
 * (the pods) and in its mount namespace (containerd's shims), the mount namespace with every mount in
 * it, the cgroups (depth first) and the network namespace. Returns what it could not remove.
 */
export async function removeRealNode(
  clusterName: string,
  state: RealNodeState,
  processes: readonly ProcessRecord[],
): Promise<{ stopped: string[]; left: string[] }> {
  const stopped: string[] = [];
  for (const record of processes.filter((p) => p.name.startsWith(EXTRA_FORWARD_PREFIX)))
    if (isRunning(record)) {
      await stopProcess(record);
      stopped.push(record.name);
    }
  for (const name of NODE_PROCESSES) {
    const record = processes.find((p) => p.name === name);
    if (record && isRunning(record)) {
      await stopProcess(record, { graceMs: name === 'kubelet' ? 5000 : 10_000 });
      stopped.push(name);
    }
    if (name === 'kubelet') {
      // The pods outlive the kubelet: stop them before containerd and its shims go.
      await killAll(() => podProcesses(clusterName));
    }
  }
  const left: string[] = [];
  const survivors = [
    ...(await killAll(() => podProcesses(clusterName))),
    ...(await killAll(() => processesInMountNamespace(state.paths))),
  ];
  if (survivors.length > 0) left.push(`processes ${survivors.join(', ')}`);
  await removeMountNamespace(state.paths, state.createdDirs);
  // The volumes' folders (their mounts went with the mount namespace).
  await rm(state.paths.volumes, { recursive: true, force: true });
  left.push(...(await removeCgroupRoot(clusterName)).map((d) => `cgroup ${d}`));
  await removeNodeNetns(clusterName);
  return { stopped, left };
}
