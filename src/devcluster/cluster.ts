import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CapstanError } from '../core/errors.ts';
import { pollUntil } from '../core/poll.ts';
import { ensureBinaries } from './binaries.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { clusterPaths, clustersRoot, validateClusterName, type ClusterPaths } from './layout.ts';
import { takeLock } from './lockfile.ts';
import { NODE_NETWORK } from './node-config.ts';
import { podForwarderName, podTarget, type PodPort } from './pod-forward.ts';
import { createPki, type ClientName, type Pki } from './pki.ts';
import { assertPortFree, freePort, freePorts } from './ports.ts';
import {
  deadlineAfter,
  diedError,
  isRunning,
  startProcess,
  stopProcess,
  waitUntil,
  type ProcessRecord,
  type StartOptions,
} from './processes.ts';
import {
  EXTRA_FORWARD_PREFIX,
  joinRealNode,
  prepareRealNode,
  realNodeApiServerArgs,
  removeRealNode,
  startExtraForwarder,
  startNodeRuntime,
  type NodeRuntime,
  type PreparedNode,
  type RealNodeContext,
  type RealNodeState,
} from './real-node.ts';
import { startLocalVolumes } from './local-volumes.ts';
import { removeEmptyNodeNetns, unmountBelow } from './node-host.ts';
import { waitRegistryReady } from './registry.ts';
import { adminClient, createUnlessExists, type AdminClient } from './rest.ts';
import { Timings } from './timings.ts';

export interface ClusterPorts {
  readonly etcdClient: number;
  readonly etcdPeer: number;
  readonly apiServer: number;
  readonly controllerManager: number;
  readonly scheduler: number;
  readonly kwok: number;
}

/** What `up` records in the cluster's folder, so that `down` and `status` find every process. */
export interface ClusterState {
  readonly version: 1;
  readonly name: string;
  readonly server: string;
  readonly ports: ClusterPorts;
  readonly binDir: string;
  readonly nodes: readonly string[];
  readonly startedAt: string;
  readonly processes: readonly ProcessRecord[];
  /** Present when the cluster has a real node (`up --real-node`): what `down` must remove. */
  readonly realNode?: RealNodeState;
}

export interface UpOptions {
  /** Default `dev`. Each name is a separate cluster with its own folder and ports. */
  readonly name?: string;
  /** The API server's port on 127.0.0.1. Default: a free port. */
  readonly apiServerPort?: number;
  /** Fake nodes managed by kwok. Default 2. */
  readonly nodes?: number;
  /** A folder with the binaries; default: built or reused by scripts/build-binaries.sh. */
  readonly binDir?: string;
  /** Where cluster folders live. Default: see clustersRoot(). */
  readonly root?: string;
  /** Total time allowed for the control plane to become ready. Default 90 s (150 s with a real node). */
  readonly readyTimeoutMs?: number;
  /**
   * Adds a real node beside the kwok nodes: containerd, kubelet and kube-proxy in a network namespace
   * of their own, running pods that tolerate its taint (see docs/real-node.md). Needs root. Default false.
   */
  readonly realNode?: boolean;
  readonly progress?: (line: string) => void;
  /** Records how long each phase took (`dev-cluster up --timings` prints them). */
  readonly timings?: Timings;
}

type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok';
/**
 * kwok's "fast" stages (as kwokctl loads them), plus one opt-in failure: pods labelled
 * `pod-container-running-failed.stage.kwok.x-k8s.io: "true"` get a failed container (for Degraded health).
 */
const KWOK_STAGES = [
  'node-initialize',
  'node-heartbeat-with-lease',
  'pod-ready',
  'pod-complete',
  'pod-delete',
  'pod-container-running-failed',
];
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const SYSTEM_TIME = { now: () => new Date(), sleep };

/** A running local control plane: real etcd, kube-apiserver, controller-manager, scheduler and kwok. */
export class LocalCluster {
  readonly paths: ClusterPaths;
  #state: ClusterState;
  /** The forwarder steps of this object, one at a time: each reads the state, changes it and writes it. */
  #forwarderSteps: Promise<unknown> = Promise.resolve();

  constructor(paths: ClusterPaths, state: ClusterState) {
    this.paths = paths;
    this.#state = state;
  }

  get state(): ClusterState {
    return this.#state;
  }

  get name(): string {
    return this.#state.name;
  }

  get server(): string {
    return this.#state.server;
  }

  /** Path of the kubeconfig with cluster-admin rights (system:masters). */
  get adminKubeconfig(): string {
    return this.paths.adminKubeconfig;
  }

  admin(): AdminClient {
    return adminForPaths(this.paths, this.#state.server);
  }

  /**
   * A kubeconfig for a ServiceAccount bound to a ClusterRole: an identity that is subject to RBAC and to
   * API priority and fairness, as Capstan's agent is in a real cluster. Created once, then reused.
   */
  async serviceAccountKubeconfig(options: {
    namespace: string;
    name: string;
    clusterRole: string;
  }): Promise<string> {
    const path = join(this.paths.kubeconfigs, `sa-${options.namespace}-${options.name}.kubeconfig`);
    const api = this.admin();
    await createUnlessExists(api, `/api/v1/namespaces`, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: options.namespace },
    });
    await createUnlessExists(api, `/api/v1/namespaces/${options.namespace}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: options.name, namespace: options.namespace },
    });
    await createUnlessExists(api, '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `${options.namespace}-${options.name}-${options.clusterRole}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: options.clusterRole },
      subjects: [{ kind: 'ServiceAccount', name: options.name, namespace: options.namespace }],
    });
    const token = await api.call(
      'POST',
      `/api/v1/namespaces/${options.namespace}/serviceaccounts/${options.name}/token`,
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 7 * 24 * 3600 },
      },
    );
    const value = (token.body as { status?: { token?: string } }).status?.token;
    if (token.status !== 201 || !value) {
      throw new CapstanError(
        'DEVCLUSTER_TOKEN',
        `cannot get a token for ServiceAccount ${options.namespace}/${options.name} (HTTP ${token.status})`,
      );
    }
    await writeKubeconfig(path, {
      server: this.server,
      caFile: join(this.paths.pki, 'ca.crt'),
      clusterName: this.name,
      userName: `system:serviceaccount:${options.namespace}:${options.name}`,
      credentials: { token: value },
      namespace: options.namespace,
    });
    return path;
  }

  /** Stops the API server (SIGTERM, or SIGKILL with `kill`), leaving etcd and the rest running. For fault tests. */
  async stopApiServer(options: { kill?: boolean } = {}): Promise<void> {
    const record = this.#process('kube-apiserver');
    await stopProcess(record, { kill: options.kill === true, graceMs: 15_000 });
  }

  /** Starts the API server again with the same flags and waits until it is ready. */
  async startApiServer(options: { timeoutMs?: number } = {}): Promise<void> {
    const old = this.#process('kube-apiserver');
    if (isRunning(old)) return;
    await waitPortFree(this.#state.ports.apiServer, Date.now() + 15_000);
    const record = startProcess({ name: old.name, binary: old.binary, args: old.args, log: old.log });
    this.#state = {
      ...this.#state,
      processes: this.#state.processes.map((p) => (p.name === old.name ? record : p)),
    };
    await writeState(this.paths, this.#state);
    await waitApiServerReady(this.admin(), record, Date.now() + (options.timeoutMs ?? 60_000));
  }

  /** Stops and starts the API server: clients see connections refused, then the same cluster back. */
  async restartApiServer(options: { kill?: boolean; timeoutMs?: number } = {}): Promise<void> {
    await this.stopApiServer(options);
    await this.startApiServer(options);
  }

  /**
   * Makes a server on the machine's loopback (127.0.0.1:<port>) reachable from the real node's pods at
   * the node's address; returns that `10.200.0.1:<port>` (docs/real-node.md).
   */
  async exposeToPods(port: number): Promise<string> {
    const node = this.#realNode(`expose port ${String(port)} to`);
    return this.#oneAtATime(async () => {
      await this.#extraForwarder(node, {
        name: `to-pods-${String(port)}`,
        forward: `inside:${NODE_NETWORK.nodeAddress}:${String(port)}=host:127.0.0.1:${String(port)}`,
      });
      return `${NODE_NETWORK.nodeAddress}:${String(port)}`;
    });
  }

  /**
   * Makes a NodePort of the real node reachable from the machine's loopback; returns `127.0.0.1:<port>`
   * (a free port, the same for the same NodePort while the cluster runs).
   */
  async exposeNodePort(nodePort: number): Promise<string> {
    return this.exposeToMachine({
      name: `node-port-${String(nodePort)}`,
      target: `${NODE_NETWORK.nodeAddress}:${String(nodePort)}`,
    });
  }

  /**
   * Makes an address inside the real node's network namespace (a Service's ClusterIP and port, which
   * kube-proxy leads to its pods there; a NodePort on the node's address) reachable from the machine's
   * loopback, through a forwarder named `name`; returns `127.0.0.1:<port>`. The same name and target
   * give the same address while the cluster runs; a new target (a Service made again, with another
   * ClusterIP) replaces that forwarder. `stopForwarder(name)` stops it, `down` stops every one. Calls
   * may overlap: they run one after another.
   */
  async exposeToMachine(options: { readonly name: string; readonly target: string }): Promise<string> {
    const node = this.#realNode(`expose ${options.target} from`);
    return this.#oneAtATime(async () => {
      await this.#reread();
      const running = this.#state.processes.find(
        (p) => p.name === `${EXTRA_FORWARD_PREFIX}${options.name}` && isRunning(p),
      );
      const [, existing, target] =
        /^--forward=host:(127\.0\.0\.1:\d+)=inside:(.+)$/.exec(running?.args[1] ?? '') ?? [];
      if (existing !== undefined && target === options.target) return existing;
      if (running) await this.#stopForwarder(options.name);
      const port = await freePort();
      await this.#extraForwarder(node, {
        name: options.name,
        forward: `host:127.0.0.1:${String(port)}=inside:${options.target}`,
      });
      return `127.0.0.1:${String(port)}`;
    });
  }

  /**
   * One pod's port on the machine's loopback, as `kubectl port-forward pod/NAME PORT` gives it: a
   * forwarder to the pod's own address (no Service: that replica answers, not another); returns
   * `127.0.0.1:<port>`. The pod must run on the real node. Forwarders by pod name: a replaced pod is a
   * new name (and address), exposed again.
   */
  async exposePod(options: PodPort): Promise<string> {
    this.#realNode(`expose Pod/${options.namespace}/${options.pod} from`);
    const target = await podTarget(this.admin(), options);
    return this.exposeToMachine({ name: podForwarderName(options), target });
  }

  /** Stops the forwarder `name` of exposeToMachine or exposeToPods (true if one ran) and forgets it. */
  async stopForwarder(name: string): Promise<boolean> {
    return this.#oneAtATime(() => this.#stopForwarder(name));
  }

  async #stopForwarder(name: string): Promise<boolean> {
    await this.#reread();
    const record = this.#state.processes.find((p) => p.name === `${EXTRA_FORWARD_PREFIX}${name}`);
    if (!record) return false;
    const ran = isRunning(record);
    await stopProcess(record);
    this.#state = { ...this.#state, processes: this.#state.processes.filter((p) => p !== record) };
    await writeState(this.paths, this.#state);
    return ran;
  }

  /** Runs `step` after the forwarder steps started before it (whether they succeeded or failed). */
  #oneAtATime<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#forwarderSteps.then(step, step);
    this.#forwarderSteps = run.catch(() => undefined);
    return run;
  }

  /** Stops the real node's registry and starts it again on the same port and storage (its pulls and pushes fail meanwhile). */
  async restartRegistry(): Promise<void> {
    const registry = this.#realNode('restart the registry of').registry;
    const old = this.#state.processes.find((p) => p.name === 'registry');
    if (!registry || !old)
      throw new CapstanError('DEVCLUSTER_STATE', `cluster ${this.name} has no registry process recorded`);
    await stopProcess(old);
    await waitPortFree(registry.port, Date.now() + 15_000);
    const record = startProcess({ name: old.name, binary: old.binary, args: old.args, log: old.log });
    this.#state = {
      ...this.#state,
      processes: this.#state.processes.map((p) => (p.name === old.name ? record : p)),
    };
    await writeState(this.paths, this.#state);
    await waitRegistryReady(registry, record, Date.now() + 15_000);
  }

  #realNode(what: string): RealNodeState {
    const node = this.#state.realNode;
    if (!node)
      throw new CapstanError(
        'DEVCLUSTER_NO_REAL_NODE',
        `cannot ${what} cluster ${this.name}: it has no real node; start it with 'capstan dev-cluster up --real-node'`,
      );
    return node;
  }

  /** Starts an extra forwarder unless one of that name runs, recorded with the cluster's processes. */
  async #extraForwarder(node: RealNodeState, options: { name: string; forward: string }): Promise<void> {
    const name = `${EXTRA_FORWARD_PREFIX}${options.name}`;
    await this.#reread();
    if (this.#state.processes.some((p) => p.name === name && isRunning(p))) return;
    try {
      await startExtraForwarder({ state: node, ...options, logs: this.paths.logs }, (start) => {
        const record = startProcess(start);
        const others = this.#state.processes.filter((p) => p.name !== name);
        this.#state = { ...this.#state, processes: [...others, record] };
        return record;
      });
    } finally {
      // Recorded even when it failed to become ready: down stops what was started.
      await writeState(this.paths, this.#state);
    }
  }

  /**
   * The state as written last (by this object or another of the same cluster, such as the demo's
   * beside a test's), so that a forwarder recorded by one is not lost when the other records its own.
   */
  async #reread(): Promise<void> {
    this.#state = (await readState(this.paths)) ?? this.#state;
  }

  #process(name: Component): ProcessRecord {
    const record = this.#state.processes.find((p) => p.name === name);
    if (!record)
      throw new CapstanError('DEVCLUSTER_STATE', `cluster ${this.name} has no ${name} process recorded`);
    return record;
  }
}

/** Right after a kill the port can stay taken for a moment (the process is being reaped): wait for it. */
async function waitPortFree(port: number, deadline: number): Promise<void> {
  const polled = await pollUntil(() => assertPortFree(port, 'kube-apiserver'), {
    deadline,
    intervalMs: 200,
    time: SYSTEM_TIME,
  });
  if (!polled.met) throw polled.last;
}

function adminForPaths(paths: ClusterPaths, server: string): AdminClient {
  return adminClient(server, {
    ca: join(paths.pki, 'ca.crt'),
    cert: join(paths.pki, 'client-admin.crt'),
    key: join(paths.pki, 'client-admin.key'),
  });
}

async function writeState(paths: ClusterPaths, state: ClusterState): Promise<void> {
  await writeFile(paths.state, JSON.stringify(state, null, 2) + '\n');
}

async function readState(paths: ClusterPaths): Promise<ClusterState | undefined> {
  try {
    return JSON.parse(await readFile(paths.state, 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

async function waitApiServerReady(api: AdminClient, record: ProcessRecord, deadline: number): Promise<void> {
  await waitUntil(
    record,
    deadline,
    'kube-apiserver',
    async () => (await api.call('GET', '/readyz', undefined, { timeoutMs: 2000 })).status === 200,
  );
}

/** One lock per cluster folder so that two `up` or `down` never interleave. */
function lock(paths: ClusterPaths): () => void {
  const held = takeLock(paths.lock, 'up or down');
  if ('heldBy' in held)
    throw new CapstanError(
      'DEVCLUSTER_BUSY',
      `cluster folder ${paths.root} is in use by process ${String(held.heldBy.pid)} (another up or down); wait for it to finish`,
    );
  return held.release;
}

/** Starts a local cluster and returns once its nodes are Ready. Leaves nothing running if it fails. */
export async function up(options: UpOptions = {}): Promise<LocalCluster> {
  const { name, paths, nodeCount } = checkedUpOptions(options);
  const say = elapsedProgress(options.progress ?? (() => undefined));
  await mkdir(paths.root, { recursive: true, mode: 0o700 });
  const unlock = lock(paths);
  const startup = new Startup(paths, name);
  const timings = options.timings ?? new Timings();
  try {
    // 1. Refuse to start over a cluster of that name that still runs.
    await refuseRunning(paths, name);
    if (options.apiServerPort !== undefined) await assertPortFree(options.apiServerPort, 'kube-apiserver');
    // 2. Binaries, fresh folders, certificates, ports and the components' kubeconfigs.
    const plane = await timings.time('binaries, certificates, kubeconfigs', () =>
      prepareControlPlane(startup, options, say),
    );
    // 3. A real node is prepared (namespaces, cgroups, registry, forwarder) while etcd and the API
    //    server start: the API server's flags for it name fixed addresses only. Its containerd and
    //    images follow as soon as it is prepared.
    const readyMs = options.readyTimeoutMs ?? (options.realNode === true ? 150_000 : 90_000);
    const deadline = Date.now() + readyMs;
    const node =
      options.realNode === true
        ? await startRealNodeBeside(plane, { timings, deadline, readyMs })
        : undefined;
    // 4. etcd, the API server, then the controllers and kwok.
    const { api, apiserver } = await startControlPlane(plane, {
      apiServerArgs: node?.apiServerArgs ?? [],
      deadline,
      timings,
    });
    // 5. The nodes Ready, kwok's and the real one side by side.
    const nodes = await nodesReady(plane, { api, apiserver, nodeCount, deadline, timings, node });
    await startup.save(plane, nodes);
    say(`ready: ${nodes.length} node(s) Ready, API server ${plane.server}`);
    const state = await readState(paths);
    if (!state) throw new CapstanError('DEVCLUSTER_STATE', `cannot read ${paths.state}`);
    return new LocalCluster(paths, state);
  } catch (error) {
    await startup.undo();
    throw error;
  } finally {
    unlock();
  }
}

/** A real node being started beside the control plane: the API server's flags for it, and its steps in flight. */
interface RealNodeStart {
  readonly apiServerArgs: readonly string[];
  readonly prepared: Promise<PreparedNode>;
  readonly runtime: Promise<NodeRuntime>;
  /**
   * The node's own deadline: the cluster's, or the ready time counted from the end of its preparation if
   * that is later. Its first use builds its binaries from Go modules (four minutes and more on two
   * cores), and that build must not use up the time its containerd and kubelet have to start.
   */
  readonly deadline: Promise<number>;
}

/** Starts preparing the real node and then its runtime, without waiting; undo waits for both. */
async function startRealNodeBeside(
  plane: ControlPlane,
  options: { readonly timings: Timings; readonly deadline: number; readonly readyMs: number },
): Promise<RealNodeStart> {
  const { startup, nodeContext } = plane;
  const { timings, readyMs } = options;
  const apiServerArgs = await realNodeApiServerArgs(nodeContext);
  const prepared = startup.inFlight(
    timings.time('real node: binaries, namespaces, cgroups, registry, forwarder', () =>
      prepareRealNode(nodeContext, async (state) => {
        startup.realNode = state;
        await startup.save(plane, []);
      }),
    ),
  );
  const deadline = deadlineAfter(prepared, options.deadline, readyMs);
  const runtime = startup.inFlight(
    prepared.then(async (p) => {
      const nodeDeadline = await deadline;
      return timings.time('real node: containerd, buildkitd, images', () =>
        startNodeRuntime(nodeContext, p.state, nodeDeadline),
      );
    }),
  );
  return { apiServerArgs, prepared, runtime, deadline };
}

/** Registers the kwok nodes and, with a real node, starts its kubelet at the same time; all their names once Ready. */
async function nodesReady(
  plane: ControlPlane,
  options: {
    api: AdminClient;
    apiserver: ProcessRecord;
    nodeCount: number;
    deadline: number;
    timings: Timings;
    node: RealNodeStart | undefined;
  },
): Promise<string[]> {
  const { timings, node, api, deadline } = options;
  const kwok = plane.startup.inFlight(
    timings.time('kwok nodes Ready, default ServiceAccount', () => registerKwokNodes(plane, options)),
  );
  const real = node
    ? plane.startup.inFlight(
        (async () => {
          const { state } = await node.prepared;
          const runtime = await node.runtime;
          const nodeDeadline = await node.deadline;
          return timings.time('real node: kubelet, kube-proxy, CoreDNS; node Ready', async () => {
            await joinRealNode(plane.nodeContext, state, { api, runtime, deadline: nodeDeadline });
            return [state.nodeName];
          });
        })(),
      )
    : Promise.resolve([]);
  const [kwokNodes, realNodes] = await bothSettled(kwok, real);
  // The default StorageClass, so that install.yaml's claim binds on every dev cluster (local-volumes.ts).
  const volumesDeadline = node ? await node.deadline : deadline;
  await timings.time('volume provisioner', () =>
    startLocalVolumes(plane.nodeContext, { api, folderNodes: realNodes, deadline: volumesDeadline }),
  );
  return [...kwokNodes, ...realNodes];
}

/** Waits for both (a failure of one does not leave the other running unobserved); rejects with the first failure. */
async function bothSettled<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') throw ra.reason;
  if (rb.status === 'rejected') throw rb.reason;
  return [ra.value, rb.value];
}

function checkedUpOptions(options: UpOptions): { name: string; paths: ClusterPaths; nodeCount: number } {
  const name = options.name ?? 'dev';
  const invalid = validateClusterName(name);
  if (invalid) throw new CapstanError('DEVCLUSTER_BAD_NAME', invalid);
  const nodeCount = options.nodes ?? 2;
  if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 100) {
    throw new CapstanError(
      'DEVCLUSTER_BAD_NODES',
      `--nodes must be a whole number from 1 to 100, not ${nodeCount}`,
    );
  }
  return { name, paths: clusterPaths(name, options.root ?? clustersRoot()), nodeCount };
}

/** Prefixes each progress line with the seconds since `up` began. */
function elapsedProgress(progress: (line: string) => void): (line: string) => void {
  const t0 = Date.now();
  return (line) => {
    progress(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${line}`);
  };
}

async function refuseRunning(paths: ClusterPaths, name: string): Promise<void> {
  const previous = await readState(paths);
  const running = previous?.processes.filter((p) => isRunning(p)) ?? [];
  if (previous && running.length > 0) {
    throw new CapstanError(
      'DEVCLUSTER_ALREADY_RUNNING',
      `cluster '${name}' is already running (${previous.server}, ${running.map((p) => p.name).join(', ')}); use it, or run 'capstan dev-cluster down --name ${name}' first`,
    );
  }
}

/** What `up` has started so far: written to the state file as it goes, and undone when a step fails. */
class Startup {
  readonly paths: ClusterPaths;
  readonly name: string;
  readonly startedAt = new Date().toISOString();
  readonly started: ProcessRecord[] = [];
  realNode: RealNodeState | undefined;
  readonly #pending: Promise<unknown>[] = [];
  #saving: Promise<void> = Promise.resolve();

  constructor(paths: ClusterPaths, name: string) {
    this.paths = paths;
    this.name = name;
  }

  readonly track = (start: StartOptions): ProcessRecord => {
    const record = startProcess(start);
    this.started.push(record);
    return record;
  };

  /** Writes the state file; saves from steps running side by side are written one after another. */
  save(plane: ControlPlane, nodes: readonly string[]): Promise<void> {
    const write = () =>
      writeState(this.paths, {
        version: 1,
        name: this.name,
        server: plane.server,
        ports: plane.ports,
        binDir: plane.binDir,
        nodes,
        startedAt: this.startedAt,
        processes: this.started,
        ...(this.realNode ? { realNode: this.realNode } : {}),
      });
    const saved = this.#saving.then(write, write);
    this.#saving = saved;
    return saved;
  }

  /**
   * A step running beside others: undo waits for it to settle before removing anything. Returns the
   * step itself (its failure is observed here at once, and again by whoever awaits it).
   */
  inFlight<T>(step: Promise<T>): Promise<T> {
    this.#pending.push(step.catch(() => undefined));
    return step;
  }

  /** Nothing half-started stays behind. */
  async undo(): Promise<void> {
    await Promise.allSettled(this.#pending);
    if (this.realNode) await removeRealNode(this.name, this.realNode, this.started);
    for (const record of [...this.started].reverse()) await stopProcess(record, { graceMs: 5000 });
    if (this.started.length === 0) return;
    await writeState(this.paths, {
      version: 1,
      name: this.name,
      server: '',
      ports: emptyPorts(),
      binDir: '',
      nodes: [],
      startedAt: this.startedAt,
      processes: [],
    });
  }
}

/** The control plane being started: where it lives, its ports and certificates, and how to launch a part. */
interface ControlPlane {
  readonly startup: Startup;
  readonly paths: ClusterPaths;
  readonly server: string;
  readonly ports: ClusterPorts;
  readonly binDir: string;
  readonly pki: Pki;
  readonly nodeContext: RealNodeContext;
  readonly say: (line: string) => void;
}

async function prepareControlPlane(
  startup: Startup,
  options: UpOptions,
  say: (line: string) => void,
): Promise<ControlPlane> {
  const { paths, name } = startup;
  say('locating the Kubernetes binaries (built from Go modules on first use)');
  const binDir =
    options.binDir ??
    (await ensureBinaries({
      progress: (l) => {
        say(`  ${l}`);
      },
    }));
  // A fresh cluster each time: old data, certificates and logs go.
  for (const dir of [paths.pki, paths.etcdData, paths.logs, paths.kubeconfigs])
    await rm(dir, { recursive: true, force: true });
  for (const dir of [paths.logs, paths.kubeconfigs]) await mkdir(dir, { recursive: true, mode: 0o700 });
  say('generating certificates');
  const pki = await createPki(paths.pki);
  const ports = await pickPorts(options.apiServerPort);
  const server = `https://127.0.0.1:${ports.apiServer}`;
  await writeComponentKubeconfigs(paths, pki, server, name);
  const nodeContext: RealNodeContext = {
    clusterName: name,
    clusterRoot: paths.root,
    apiServerPort: ports.apiServer,
    pki,
    server,
    logs: paths.logs,
    launch: startup.track,
    say,
  };
  return { startup, paths, server, ports, binDir, pki, nodeContext, say };
}

async function pickPorts(apiServerPort: number | undefined): Promise<ClusterPorts> {
  const [etcdClient, etcdPeer, apiServerFree, controllerManager, scheduler, kwok] = (await freePorts(6)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return {
    etcdClient,
    etcdPeer,
    apiServer: apiServerPort ?? apiServerFree,
    controllerManager,
    scheduler,
    kwok,
  };
}

function launch(plane: ControlPlane, component: Component, args: string[]): ProcessRecord {
  return plane.startup.track({
    name: component,
    binary: join(plane.binDir, component),
    args,
    log: join(plane.paths.logs, `${component}.log`),
  });
}

/** etcd, then the API server (ready), then controller-manager, scheduler and kwok. */
async function startControlPlane(
  plane: ControlPlane,
  options: { apiServerArgs: readonly string[]; deadline: number; timings: Timings },
): Promise<{ api: AdminClient; apiserver: ProcessRecord }> {
  const { paths, ports, pki, say, startup } = plane;
  say(`starting etcd on 127.0.0.1:${ports.etcdClient}`);
  const etcd = launch(plane, 'etcd', etcdArgs(paths, ports));
  await startup.save(plane, []);
  await options.timings.time('etcd healthy', () =>
    waitUntil(etcd, options.deadline, 'etcd', async () => {
      const res = await fetch(`http://127.0.0.1:${ports.etcdClient}/health`, {
        signal: AbortSignal.timeout(2000),
      });
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    }),
  );

  say(`starting kube-apiserver on ${plane.server}`);
  const apiserver = launch(plane, 'kube-apiserver', [
    ...apiServerArgs(paths, pki, ports),
    ...options.apiServerArgs,
  ]);
  await startup.save(plane, []);
  const api = adminForPaths(paths, plane.server);
  await options.timings.time('kube-apiserver ready', () =>
    waitApiServerReady(api, apiserver, options.deadline),
  );

  say('starting kube-controller-manager, kube-scheduler and kwok');
  launch(plane, 'kube-controller-manager', controllerManagerArgs(paths, pki, ports));
  launch(plane, 'kube-scheduler', schedulerArgs(paths, ports));
  const stages = join(paths.root, 'kwok-stages.yaml');
  await writeFile(stages, await kwokStages(plane.binDir));
  launch(plane, 'kwok', kwokArgs(paths, ports, stages));
  await startup.save(plane, []);
  return { api, apiserver };
}

/** Registers the kwok nodes and waits for them and for the default ServiceAccount; returns their names. */
async function registerKwokNodes(
  plane: ControlPlane,
  options: { api: AdminClient; apiserver: ProcessRecord; nodeCount: number; deadline: number },
): Promise<string[]> {
  const { api, apiserver, nodeCount, deadline } = options;
  const nodes = Array.from({ length: nodeCount }, (_, i) => `kwok-node-${i}`);
  plane.say(`registering ${nodeCount} kwok node(s) and waiting for them to be Ready`);
  for (const node of nodes) await createUnlessExists(api, '/api/v1/nodes', fakeNode(node));
  await waitNodesReady(api, nodes, plane.startup.started, deadline);
  await waitUntil(
    apiserver,
    deadline,
    'the default ServiceAccount',
    async () => (await api.call('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200,
  );
  return nodes;
}

function emptyPorts(): ClusterPorts {
  return { etcdClient: 0, etcdPeer: 0, apiServer: 0, controllerManager: 0, scheduler: 0, kwok: 0 };
}

async function waitNodesReady(
  api: AdminClient,
  nodes: readonly string[],
  started: readonly ProcessRecord[],
  deadline: number,
): Promise<void> {
  const kwok = started.find((p) => p.name === 'kwok');
  if (!kwok) throw new CapstanError('DEVCLUSTER_STATE', 'kwok was not started');
  await waitUntil(kwok, deadline, 'the kwok nodes', async () => {
    for (const p of started) if (!isRunning(p)) throw await diedError(p);
    const res = await api.call('GET', '/api/v1/nodes');
    type NodeList = {
      items?: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[];
    };
    const ready = new Set(
      ((res.body as NodeList).items ?? [])
        .filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
        .map((n) => n.metadata.name),
    );
    return nodes.every((n) => ready.has(n));
  });
}

async function writeComponentKubeconfigs(
  paths: ClusterPaths,
  pki: Pki,
  server: string,
  clusterName: string,
): Promise<void> {
  const users: Record<ClientName, string> = {
    admin: 'capstan-dev-admin',
    'controller-manager': 'system:kube-controller-manager',
    scheduler: 'system:kube-scheduler',
    kwok: 'kwok-controller',
  };
  for (const [client, userName] of Object.entries(users) as [ClientName, string][]) {
    await writeKubeconfig(join(paths.kubeconfigs, `${client}.kubeconfig`), {
      server,
      caFile: pki.caCert,
      clusterName,
      userName,
      credentials: { certFile: pki.clients[client].cert, keyFile: pki.clients[client].key },
    });
  }
}

function etcdArgs(paths: ClusterPaths, ports: ClusterPorts): string[] {
  const client = `http://127.0.0.1:${ports.etcdClient}`;
  const peer = `http://127.0.0.1:${ports.etcdPeer}`;
  return [
    '--name=capstan',
    `--data-dir=${paths.etcdData}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=capstan=${peer}`,
    '--initial-cluster-state=new',
    '--auto-compaction-mode=periodic',
    '--auto-compaction-retention=5m',
    '--quota-backend-bytes=8589934592',
    // A local, throw-away cluster: durability of each write is not worth an fsync.
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ];
}

function apiServerArgs(paths: ClusterPaths, pki: Pki, ports: ClusterPorts): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
    '--etcd-prefix=/registry',
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${ports.apiServer}`,
    `--cert-dir=${paths.pki}`,
    `--tls-cert-file=${pki.serverCert}`,
    `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.caCert}`,
    '--authorization-mode=Node,RBAC',
    '--enable-priority-and-fairness=true',
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--api-audiences=${SERVICE_ACCOUNT_ISSUER}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    // The endpoint reconciler refuses a loopback address for the `kubernetes` Service; nothing here needs it.
    '--endpoint-reconciler-type=none',
    '--allow-privileged=true',
    '--profiling=false',
    '--event-ttl=1h',
    '--v=1',
  ];
}

function controllerManagerArgs(paths: ClusterPaths, pki: Pki, ports: ClusterPorts): string[] {
  const kubeconfig = join(paths.kubeconfigs, 'controller-manager.kubeconfig');
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${ports.controllerManager}`,
    `--cert-dir=${join(paths.pki, 'controller-manager')}`,
    `--root-ca-file=${pki.caCert}`,
    `--service-account-private-key-file=${pki.serviceAccountKey}`,
    '--use-service-account-credentials=true',
    `--cluster-signing-cert-file=${pki.caCert}`,
    `--cluster-signing-key-file=${pki.caKey}`,
    '--leader-elect=false',
    '--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics',
    '--v=1',
  ];
}

function schedulerArgs(paths: ClusterPaths, ports: ClusterPorts): string[] {
  const kubeconfig = join(paths.kubeconfigs, 'scheduler.kubeconfig');
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${ports.scheduler}`,
    `--cert-dir=${join(paths.pki, 'scheduler')}`,
    '--leader-elect=false',
    '--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics',
    '--v=1',
  ];
}

function kwokArgs(paths: ClusterPaths, ports: ClusterPorts, stages: string): string[] {
  return [
    `--kubeconfig=${join(paths.kubeconfigs, 'kwok.kubeconfig')}`,
    `--config=${stages}`,
    '--manage-all-nodes=false',
    '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
    '--node-ip=127.0.0.1',
    `--server-address=127.0.0.1:${ports.kwok}`,
    '--node-lease-duration-seconds=40',
    '--cidr=10.244.0.1/16',
  ];
}

async function kwokStages(binDir: string): Promise<string> {
  const dir = join(binDir, 'kwok-stages');
  const available = new Set(await readdir(dir).catch(() => [] as string[]));
  const docs: string[] = [];
  for (const stage of KWOK_STAGES) {
    const file = `${stage}.yaml`;
    if (!available.has(file))
      throw new CapstanError(
        'DEVCLUSTER_KWOK_STAGES',
        `kwok stage ${file} is missing from ${dir}; rebuild with scripts/build-binaries.sh`,
      );
    docs.push(await readFile(join(dir, file), 'utf8'));
  }
  return docs.map((d) => d.trim()).join('\n---\n') + '\n';
}

function fakeNode(name: string): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node-role.kubernetes.io/worker': '',
        type: 'kwok',
      },
    },
    spec: {},
  };
}

/** Finds a cluster that `up` started, if its API server still runs. */
export async function attach(name = 'dev', root: string = clustersRoot()): Promise<LocalCluster | undefined> {
  const paths = clusterPaths(name, root);
  const state = await readState(paths);
  if (!state || state.processes.length === 0) return undefined;
  const apiserver = state.processes.find((p) => p.name === 'kube-apiserver');
  if (!apiserver || !isRunning(apiserver)) return undefined;
  return new LocalCluster(paths, state);
}

/** Stops every process that `up` recorded, by pid, and waits until each is gone. */
export async function down(name = 'dev', root: string = clustersRoot()): Promise<{ stopped: string[] }> {
  const invalid = validateClusterName(name);
  if (invalid) throw new CapstanError('DEVCLUSTER_BAD_NAME', invalid);
  const paths = clusterPaths(name, root);
  const state = await readState(paths);
  // A node whose state was lost (an interrupted 'up') may have left its empty network namespace.
  if (!state?.realNode && process.getuid?.() === 0) await removeEmptyNodeNetns(name);
  if (!state) return { stopped: [] };
  const unlock = lock(paths);
  try {
    const stopped: string[] = [];
    if (state.realNode) {
      const node = await removeRealNode(name, state.realNode, state.processes);
      stopped.push(...node.stopped);
      if (node.left.length > 0)
        throw new CapstanError(
          'DEVCLUSTER_NODE_LEFTOVERS',
          `the real node of cluster '${name}' left behind: ${node.left.join('; ')}; run down again, or remove them by hand`,
        );
    }
    // Reverse start order: kwok and the controllers first, etcd last.
    for (const record of [...state.processes].reverse()) {
      if (isRunning(record)) {
        await stopProcess(record);
        stopped.push(record.name);
      }
    }
    const { realNode: _removed, ...rest } = state;
    await writeState(paths, { ...rest, nodes: [], processes: [] });
    return { stopped };
  } finally {
    unlock();
  }
}

/**
 * Removes the folder of a stopped cluster: its state, certificates, kubeconfigs, etcd data and logs,
 * which `down` keeps. Never a running cluster's: a process it recorded that still runs or a real node
 * still recorded (DEVCLUSTER_RUNNING), a state file that cannot be read (DEVCLUSTER_STATE), or an
 * `up` or `down` at work (DEVCLUSTER_BUSY) refuses it whole, and nothing is removed. Whatever is
 * mounted below the folder (a real node's leftovers) is unmounted first, so the removal never reaches
 * through a mount. Returns the folder removed; undefined when there was none.
 */
export async function removeCluster(
  name: string,
  root: string = clustersRoot(),
): Promise<string | undefined> {
  const invalid = validateClusterName(name);
  if (invalid) throw new CapstanError('DEVCLUSTER_BAD_NAME', invalid);
  const paths = clusterPaths(name, root);
  if (!existsSync(paths.root)) return undefined;
  const unlock = lock(paths);
  try {
    const state = await readState(paths);
    const kept = `${paths.root} is kept`;
    if (state === undefined && existsSync(paths.state))
      throw new CapstanError(
        'DEVCLUSTER_STATE',
        `cannot tell whether cluster '${name}' runs: ${paths.state} cannot be read; ${kept}`,
      );
    const running = (state?.processes ?? []).filter((p) => isRunning(p)).map((p) => `${p.name} pid ${p.pid}`);
    if (state?.realNode !== undefined) running.push('its real node');
    if (running.length > 0)
      throw new CapstanError(
        'DEVCLUSTER_RUNNING',
        `cluster '${name}' still runs (${running.join(', ')}): stop it first (capstan dev-cluster down --name ${name}); ${kept}`,
      );
    await unmountBelow(paths.root);
    await rm(paths.root, { recursive: true, force: true });
    return paths.root;
  } finally {
    unlock();
  }
}

export interface ComponentStatus {
  readonly name: string;
  readonly pid: number;
  readonly running: boolean;
  readonly log: string;
}

export interface ClusterStatus {
  readonly name: string;
  readonly folder: string;
  readonly running: boolean;
  readonly server: string;
  readonly kubeconfig: string;
  readonly startedAt: string;
  readonly nodes: readonly string[];
  readonly components: readonly ComponentStatus[];
}

/** What runs and where, for one cluster or for every cluster folder. */
export async function status(name?: string, root: string = clustersRoot()): Promise<ClusterStatus[]> {
  const names = name ? [name] : await readdir(root).catch(() => [] as string[]);
  const result: ClusterStatus[] = [];
  for (const n of names.sort()) {
    const paths = clusterPaths(n, root);
    const state = await readState(paths);
    if (!state) continue;
    const components = state.processes.map((p) => ({
      name: p.name,
      pid: p.pid,
      running: isRunning(p),
      log: p.log,
    }));
    result.push({
      name: n,
      folder: paths.root,
      running: components.length > 0 && components.every((c) => c.running),
      server: state.server,
      kubeconfig: paths.adminKubeconfig,
      startedAt: state.startedAt,
      nodes: state.nodes,
      components,
    });
  }
  return result;
}
