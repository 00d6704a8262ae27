// The peers Capstan is benchmarked against, run as local processes against a local cluster: Flux
// (source-controller + kustomize-controller) and Argo CD (application-controller + repo-server, with a
// redis-server for its cache). Built by scripts/build-peers.sh; how each is configured, and what could
// not be made equal, is in docs/peers.md.
//
// Each peer runs with the kubeconfig it is given (the bench passes the admin kubeconfig, the identity
// Capstan's side uses too), on loopback ports picked here, with its state and logs in `stateDir`.
// The object builders make the same N applications for each tool: one git repository (shared source),
// one folder per application, automated sync with prune and self-heal, the same interval.
import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CapstanError } from '../src/core/errors.ts';
import type { KubeObject } from '../src/core/resource.ts';
import { run } from '../src/devcluster/exec.ts';
import { freePorts } from '../src/devcluster/ports.ts';
import { readFileSync } from 'node:fs';
import { startProcess, type ProcessRecord } from '../src/devcluster/processes.ts';

export const BUILD_PEERS_SCRIPT = resolve(import.meta.dirname, '..', 'scripts', 'build-peers.sh');

export type PeerName = 'flux' | 'argocd';

/** Folders of the built peers (only those that were built), and the build's error output otherwise. */
export interface PeerBuilds {
  readonly flux?: string;
  readonly argocd?: string;
  /** Exit code of scripts/build-peers.sh: 0 all built, 3 no Go, 4 a peer failed to build. */
  readonly exitCode: number;
  /** The script's last lines of standard error when it did not exit 0. */
  readonly error?: string;
}

/**
 * Builds (or reuses) the peers with scripts/build-peers.sh. A peer that fails to build is left out of
 * the result instead of failing the whole call, so a benchmark can run with the peers it has.
 */
export function ensurePeers(
  peers: readonly PeerName[] = ['flux', 'argocd'],
  options: { readonly progress?: (line: string) => void; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<PeerBuilds> {
  const progress = options.progress ?? (() => undefined);
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [BUILD_PEERS_SCRIPT, ...peers], {
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let partial = '';
    let tail: string[] = [];
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => {
      const lines = (partial + c.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('go: downloading')) continue;
        tail = [...tail.slice(-19), line];
        if (line.startsWith('[build-peers]')) progress(line.replace('[build-peers] ', ''));
        else if (line.startsWith('build-peers: error:')) progress(line);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const found: { flux?: string; argocd?: string } = {};
      for (const line of stdout.split('\n')) {
        const m = /^(flux|argocd)=(.+)$/.exec(line.trim());
        if ((m?.[1] === 'flux' || m?.[1] === 'argocd') && m[2] !== undefined) found[m[1]] = m[2];
      }
      resolvePromise({
        ...found,
        exitCode: code ?? 1,
        ...(code === 0 ? {} : { error: tail.join('\n') }),
      });
    });
  });
}

/** A peer running as local processes. */
export interface RunningPeer {
  readonly name: PeerName;
  readonly processes: readonly ProcessRecord[];
  /** Loopback endpoints: metrics and health of each component, and the peer's own servers. */
  readonly endpoints: Readonly<Record<string, string>>;
  /** The namespace that holds the peer's own objects (flux-system, argocd). */
  readonly namespace: string;
  /** Stops every process of the peer, by pid (SIGTERM, then SIGKILL after the grace period). */
  stop(): Promise<void>;
}

interface Common {
  /** Folder of the built peer (from ensurePeers). */
  readonly peerDir: string;
  /** The kubeconfig the peer uses: the identity is whatever it grants. */
  readonly kubeconfig: string;
  /** A folder of the cluster's binaries with kubectl (scripts/build-binaries.sh). */
  readonly binDir: string;
  /** State and logs of this run. */
  readonly stateDir: string;
  /** Time allowed until every component answers its health endpoint. Default 60 s. */
  readonly readyTimeoutMs?: number;
}

export interface FluxOptions extends Common {
  /** `--concurrent` of each controller (Flux's defaults: 2 for source, 4 for kustomize). Default 4. */
  readonly concurrent?: number;
  /** `--concurrent` of source-controller alone; default `concurrent`. */
  readonly sourceConcurrent?: number;
  /** `--concurrent` of kustomize-controller alone; default `concurrent`. */
  readonly kustomizeConcurrent?: number;
  /** `--requeue-dependency` of both controllers, seconds; default the controllers' own. */
  readonly requeueDependencySeconds?: number;
  /**
   * kustomize-controller's temporary folder (its TMPDIR: where it unpacks artifacts and builds), e.g. a
   * folder on tmpfs as Flux's vertical-scaling guide advises; default the system's.
   */
  readonly kustomizeTmpDir?: string;
  /** Log level of both controllers. Default `info`. */
  readonly logLevel?: 'debug' | 'info' | 'error';
}

export interface ArgoCDOptions extends Common {
  /** `--status-processors` (Argo CD's default 20). Default 4. */
  readonly statusProcessors?: number;
  /** `--operation-processors` (Argo CD's default 10). Default 4. */
  readonly operationProcessors?: number;
  /** `--app-resync` in seconds: how often every Application is compared again (Argo CD's default 120). */
  readonly appResyncSeconds?: number;
  /** `--app-resync-jitter` in seconds (Argo CD's default 60). Default 0, for repeatable timings. */
  readonly appResyncJitterSeconds?: number;
  /** `--parallelismlimit` of the repo-server (0: none, Argo CD's default). */
  readonly repoParallelism?: number;
  /** An already running redis (host:port); default: a redis-server started here (`redis-server` on PATH). */
  readonly redis?: string;
  /** The redis-server program. Default `redis-server` (Debian's redis-server package). */
  readonly redisServer?: string;
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * True while the process exists and is not a zombie. By pid alone: redis-server rewrites its command
 * line, so devcluster's isRunning (which compares argv[0] with the binary) would call it gone.
 */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig); // started detached: the process leads its own group
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  }
}

/** SIGTERM to the process group, SIGKILL after `graceMs`; returns once the process is gone. */
async function stopPid(pid: number, graceMs: number): Promise<void> {
  if (!alive(pid)) return;
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid)) {
    if (Date.now() > deadline) signalGroup(pid, 'SIGKILL');
    await sleep(50);
  }
}

function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? '/',
    LANG: 'C',
    ...extra,
  };
}

async function kubectl(o: Common, args: readonly string[], input?: string): Promise<string> {
  const { stdout } = await run(join(o.binDir, 'kubectl'), ['--kubeconfig', o.kubeconfig, ...args], {
    timeoutMs: 120_000,
    ...(input === undefined ? {} : { input }),
  });
  return stdout;
}

/**
 * Objects per `kubectl apply`: kubectl applies a list one object after the other, and each call has a
 * time limit, so 10 000 applications (20 001 Flux objects) go in several calls.
 */
export const APPLY_CHUNK = 500;

/** Splits `items` into consecutive chunks of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new Error(`chunks: size ${String(size)}: expected a whole number from 1`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Server-side apply of objects with kubectl (field manager `peers-bench`), APPLY_CHUNK at a time, in order. */
export async function applyObjects(
  o: Pick<Common, 'kubeconfig' | 'binDir'>,
  objects: readonly KubeObject[],
): Promise<void> {
  for (const chunk of chunks(objects, APPLY_CHUNK)) {
    const list = { apiVersion: 'v1', kind: 'List', items: chunk };
    await kubectl(
      o as Common,
      ['apply', '--server-side', '--force-conflicts', '--field-manager=peers-bench', '-f', '-'],
      JSON.stringify(list),
    );
  }
}

/** Applies the peer's CRDs (server-side: Argo CD's are too large for the last-applied annotation). */
async function applyCrds(o: Common): Promise<void> {
  const dir = join(o.peerDir, 'crds');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml'));
  if (files.length === 0) throw new CapstanError('PEERS_NO_CRDS', `no CRDs in ${dir}`);
  await kubectl(o, ['apply', '--server-side', '--force-conflicts', '--field-manager=peers-bench', '-f', dir]);
  // A CRD created a moment ago may have no status yet, which `kubectl wait` takes for an error: retry.
  for (let attempt = 1; ; attempt++) {
    try {
      await kubectl(o, ['wait', '--for=condition=Established', '--timeout=60s', '-f', dir]);
      return;
    } catch (error) {
      if (attempt >= 10) throw error;
      await sleep(1_000);
    }
  }
}

/** Resolves when `url` answers 200, or rejects with the log file to read when the process died or time ran out. */
async function waitHealthy(url: string, record: ProcessRecord, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      /* not yet */
    }
    if (!alive(record.pid))
      throw new CapstanError('PEERS_EXITED', `${record.name} exited while starting; see ${record.log}`);
    if (Date.now() > deadline)
      throw new CapstanError(
        'PEERS_NOT_READY',
        `${record.name} did not answer ${url} in time; see ${record.log}`,
      );
    await sleep(250);
  }
}

function peer(
  name: PeerName,
  namespace: string,
  processes: ProcessRecord[],
  endpoints: Record<string, string>,
): RunningPeer {
  return {
    name,
    namespace,
    processes,
    endpoints,
    async stop() {
      // In reverse start order: the controllers before what they depend on.
      for (const p of [...processes].reverse()) await stopPid(p.pid, 10_000);
    },
  };
}

async function startAll(
  starts: readonly { record: () => ProcessRecord; health: string }[],
  timeoutMs: number,
  started: ProcessRecord[],
): Promise<void> {
  for (const s of starts) {
    const record = s.record();
    started.push(record);
    await waitHealthy(s.health, record, timeoutMs);
  }
}

/**
 * Starts Flux: applies its CRDs and the flux-system namespace, then source-controller (artifacts served
 * over HTTP on loopback) and kustomize-controller, both watching all namespaces, leader election off.
 */
export async function startFlux(o: FluxOptions): Promise<RunningPeer> {
  const namespace = 'flux-system';
  const logDir = join(o.stateDir, 'logs');
  const storage = join(o.stateDir, 'source-controller-storage');
  await mkdir(logDir, { recursive: true });
  await mkdir(storage, { recursive: true });
  await applyCrds(o);
  await applyObjects(o, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }]);

  const [storagePort, scMetrics, scHealth, kcMetrics, kcHealth] = (await freePorts(5)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const logLevel = o.logLevel ?? 'info';
  // RUNTIME_NAMESPACE: the namespace Flux's runtime takes as its own (events, leader election).
  const env = baseEnv({ KUBECONFIG: o.kubeconfig, RUNTIME_NAMESPACE: namespace });
  const kustomizeEnv = o.kustomizeTmpDir === undefined ? env : { ...env, TMPDIR: o.kustomizeTmpDir };
  const common = [
    '--watch-all-namespaces=true',
    '--enable-leader-election=false',
    `--log-level=${logLevel}`,
    '--log-encoding=json',
    ...(o.requeueDependencySeconds === undefined
      ? []
      : [`--requeue-dependency=${String(o.requeueDependencySeconds)}s`]),
  ];
  const concurrent = (own: number | undefined) => `--concurrent=${String(own ?? o.concurrent ?? 4)}`;
  const endpoints = {
    storage: `http://127.0.0.1:${storagePort}`,
    'source-controller metrics': `http://127.0.0.1:${scMetrics}/metrics`,
    'kustomize-controller metrics': `http://127.0.0.1:${kcMetrics}/metrics`,
  };
  const started: ProcessRecord[] = [];
  try {
    await startAll(
      [
        {
          record: () =>
            startProcess({
              name: 'source-controller',
              binary: join(o.peerDir, 'source-controller'),
              args: [
                ...common,
                concurrent(o.sourceConcurrent),
                `--storage-path=${storage}`,
                `--storage-addr=127.0.0.1:${storagePort}`,
                `--storage-adv-addr=127.0.0.1:${storagePort}`,
                `--metrics-addr=127.0.0.1:${scMetrics}`,
                `--health-addr=127.0.0.1:${scHealth}`,
              ],
              log: join(logDir, 'source-controller.log'),
              cwd: o.stateDir,
              env,
            }),
          health: `http://127.0.0.1:${scHealth}/readyz`,
        },
        {
          record: () =>
            startProcess({
              name: 'kustomize-controller',
              binary: join(o.peerDir, 'kustomize-controller'),
              args: [
                ...common,
                concurrent(o.kustomizeConcurrent),
                `--metrics-addr=127.0.0.1:${kcMetrics}`,
                `--health-addr=127.0.0.1:${kcHealth}`,
              ],
              log: join(logDir, 'kustomize-controller.log'),
              cwd: o.stateDir,
              env: kustomizeEnv,
            }),
          health: `http://127.0.0.1:${kcHealth}/readyz`,
        },
      ],
      o.readyTimeoutMs ?? 60_000,
      started,
    );
  } catch (error) {
    await peer('flux', namespace, started, endpoints).stop();
    throw error;
  }
  return peer('flux', namespace, started, endpoints);
}

/**
 * Starts Argo CD: applies its CRDs, the argocd namespace with argocd-cm, argocd-secret and the default
 * AppProject; then a redis-server (unless `redis` is given), the repo-server and the
 * application-controller. In-cluster destinations use the kubeconfig (ARGOCD_FAKE_IN_CLUSTER, as Argo
 * CD's own Procfile does); repo-server and controller talk plaintext gRPC on loopback.
 */
export async function startArgoCD(o: ArgoCDOptions): Promise<RunningPeer> {
  const namespace = 'argocd';
  const logDir = join(o.stateDir, 'logs');
  const data = join(o.stateDir, 'argocd');
  for (const d of ['tls', 'ssh', 'gpg', 'plugins', 'tmp'].map((d) => join(data, d)).concat(logDir))
    await mkdir(d, { recursive: true });
  await writeFile(join(data, 'ssh', 'ssh_known_hosts'), '');
  // Argo CD's pprof handlers (on each component's metrics port) answer only while this file says
  // `true` (util/profile: the `profiler.enabled` key of argocd-cmd-params-cm, mounted as a file).
  await writeFile(join(data, 'profiler.enabled'), 'true');
  await applyCrds(o);
  await applyObjects(o, argoCDBaseObjects(namespace, o.appResyncSeconds ?? 120));

  const [redisPort, repoPort, repoMetrics, ctrlMetrics] = (await freePorts(4)) as [
    number,
    number,
    number,
    number,
  ];
  const redis = o.redis ?? `127.0.0.1:${redisPort}`;
  const logLevel = o.logLevel ?? 'info';
  const env = baseEnv({
    KUBECONFIG: o.kubeconfig,
    // The argocd binary is on PATH: git runs it as GIT_ASKPASS (`argocd`) for repository credentials.
    PATH: `${o.peerDir}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
    ARGOCD_FAKE_IN_CLUSTER: 'true',
    ARGOCD_GPG_ENABLED: 'false',
    ARGOCD_TLS_DATA_PATH: join(data, 'tls'),
    ARGOCD_SSH_DATA_PATH: join(data, 'ssh'),
    ARGOCD_GNUPGHOME: join(data, 'gpg'),
    // The repo-server's askpass socket (default /tmp/reposerver-ask-pass.sock, shared by every run).
    ARGOCD_ASK_PASS_SOCK: join(data, 'askpass.sock'),
    ARGOCD_PLUGINSOCKFILEPATH: join(data, 'plugins'),
    ARGOCD_ENABLE_PROFILER_FILE_PATH: join(data, 'profiler.enabled'),
    TMPDIR: join(data, 'tmp'),
  });
  const endpoints: Record<string, string> = {
    redis,
    'repo-server': `127.0.0.1:${repoPort}`,
    'repo-server metrics': `http://127.0.0.1:${repoMetrics}/metrics`,
    'application-controller metrics': `http://127.0.0.1:${ctrlMetrics}/metrics`,
  };
  const started: ProcessRecord[] = [];
  try {
    if (o.redis === undefined) {
      const record = startProcess({
        name: 'redis-server',
        binary: o.redisServer ?? '/usr/bin/redis-server',
        // No persistence: a cache only, as Argo CD's own manifests run it.
        args: [
          '--bind',
          '127.0.0.1',
          '--port',
          String(redisPort),
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          data,
        ],
        log: join(logDir, 'redis-server.log'),
        cwd: data,
        env,
      });
      started.push(record);
      await waitPort(redisPort, record, o.readyTimeoutMs ?? 60_000);
    }
    await startAll(
      [
        {
          record: () =>
            startProcess({
              name: 'argocd-repo-server',
              binary: join(o.peerDir, 'argocd-repo-server'),
              args: [
                `--loglevel=${logLevel}`,
                '--logformat=json',
                '--address=127.0.0.1',
                `--port=${repoPort}`,
                '--metrics-address=127.0.0.1',
                `--metrics-port=${repoMetrics}`,
                `--redis=${redis}`,
                // Plaintext gRPC on loopback; the client CA flag has a default that --disable-tls refuses.
                '--disable-tls',
                '--client-ca-path=',
                `--parallelismlimit=${o.repoParallelism ?? 0}`,
                // How long the commit a branch points to is cached (3m by default): the resync interval,
                // so that polling sees a commit within one interval, as in the other tools.
                `--revision-cache-expiration=${String(o.appResyncSeconds ?? 180)}s`,
              ],
              log: join(logDir, 'argocd-repo-server.log'),
              cwd: data,
              env,
            }),
          // full=true: the repo-server also calls its own gRPC health service.
          health: `http://127.0.0.1:${repoMetrics}/healthz?full=true`,
        },
        {
          record: () =>
            startProcess({
              name: 'argocd-application-controller',
              binary: join(o.peerDir, 'argocd-application-controller'),
              args: [
                `--loglevel=${logLevel}`,
                '--logformat=json',
                `--namespace=${namespace}`,
                `--redis=${redis}`,
                `--repo-server=127.0.0.1:${repoPort}`,
                '--repo-server-plaintext',
                `--metrics-port=${ctrlMetrics}`,
                `--status-processors=${o.statusProcessors ?? 4}`,
                `--operation-processors=${o.operationProcessors ?? 4}`,
                `--app-resync=${o.appResyncSeconds ?? 120}`,
                `--app-resync-jitter=${o.appResyncJitterSeconds ?? 0}`,
              ],
              log: join(logDir, 'argocd-application-controller.log'),
              cwd: data,
              env,
            }),
          health: `http://127.0.0.1:${ctrlMetrics}/healthz`,
        },
      ],
      o.readyTimeoutMs ?? 60_000,
      started,
    );
  } catch (error) {
    await peer('argocd', namespace, started, endpoints).stop();
    throw error;
  }
  return peer('argocd', namespace, started, endpoints);
}

async function waitPort(port: number, record: ProcessRecord, timeoutMs: number): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => {
        r(false);
      });
    });
    if (ok) return;
    if (!alive(record.pid))
      throw new CapstanError('PEERS_EXITED', `${record.name} exited while starting; see ${record.log}`);
    if (Date.now() > deadline)
      throw new CapstanError(
        'PEERS_NOT_READY',
        `${record.name} did not listen on ${port} in time; see ${record.log}`,
      );
    await sleep(100);
  }
}

/**
 * What an install of Argo CD puts in argocd-cm for performance, which a bare ConfigMap lacks: the
 * `resource.exclusions` of its install manifest (manifests/base/config/argocd-cm.yaml: high-churn kinds
 * no application declares, left out of the controller's cluster cache) and the `ignoreResourceUpdates`
 * of its Helm chart (status-only updates do not refresh an application; Argo CD's "Reconcile
 * Optimization" page), with `resource.ignoreResourceUpdatesEnabled` said explicitly (its default).
 */
export const ARGOCD_CM_DEFAULTS: Readonly<Record<string, string>> = {
  'resource.exclusions': [
    '- apiGroups: ["", "discovery.k8s.io"]',
    '  kinds: [Endpoints, EndpointSlice]',
    '- apiGroups: [apiregistration.k8s.io]',
    '  kinds: [APIService]',
    '- apiGroups: [coordination.k8s.io]',
    '  kinds: [Lease]',
    '- apiGroups: [authentication.k8s.io, authorization.k8s.io]',
    '  kinds: [SelfSubjectReview, TokenReview, LocalSubjectAccessReview, SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview]',
    '- apiGroups: [certificates.k8s.io]',
    '  kinds: [CertificateSigningRequest]',
    '- apiGroups: [cert-manager.io]',
    '  kinds: [CertificateRequest]',
    '- apiGroups: [cilium.io]',
    '  kinds: [CiliumIdentity, CiliumEndpoint, CiliumEndpointSlice]',
    '',
  ].join('\n'),
  'resource.ignoreResourceUpdatesEnabled': 'true',
  'resource.customizations.ignoreResourceUpdates.all': 'jsonPointers:\n  - /status\n',
  'resource.customizations.ignoreResourceUpdates.ConfigMap': [
    'jqPathExpressions:',
    `  - '.metadata.annotations."cluster-autoscaler.kubernetes.io/last-updated"'`,
    `  - '.metadata.annotations."control-plane.alpha.kubernetes.io/leader"'`,
    '',
  ].join('\n'),
  'resource.customizations.ignoreResourceUpdates.Endpoints': 'jsonPointers:\n  - /metadata\n  - /subsets\n',
};

/** What Argo CD's controller needs in its namespace before it starts. */
export function argoCDBaseObjects(namespace: string, resyncSeconds: number): KubeObject[] {
  const partOf = { 'app.kubernetes.io/part-of': 'argocd' };
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'argocd-cm',
        namespace,
        labels: { ...partOf, 'app.kubernetes.io/name': 'argocd-cm' },
      },
      data: {
        // The same resync in the ConfigMap as on the command line (the flag wins; the ConfigMap is what
        // a cluster install sets).
        'timeout.reconciliation': `${resyncSeconds}s`,
        ...ARGOCD_CM_DEFAULTS,
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'argocd-secret',
        namespace,
        labels: { ...partOf, 'app.kubernetes.io/name': 'argocd-secret' },
      },
      type: 'Opaque',
      stringData: { 'server.secretkey': 'peers-bench-not-a-secret' },
    },
    {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'AppProject',
      metadata: { name: 'default', namespace },
      spec: {
        sourceRepos: ['*'],
        destinations: [{ server: '*', namespace: '*' }],
        clusterResourceWhitelist: [{ group: '*', kind: '*' }],
      },
    },
  ];
}

// ---- the same N applications for each tool ----------------------------------------------------------

export interface AppSetOptions {
  /** How many applications. */
  readonly count: number;
  /** The git repository (http on loopback) and its basic-auth credentials. */
  readonly repoUrl: string;
  readonly username: string;
  readonly password: string;
  /** Branch. Default `main`. */
  readonly revision?: string;
  /** The folder of application i in the repository. Default `apps/app-<i>`. */
  readonly path?: (i: number) => string;
  /** The namespace application i deploys into. Default `<prefix>-<i>`. */
  readonly namespace?: (i: number) => string;
  /** Name of application i. Default `app-<i 4 digits>`. */
  readonly name?: (i: number) => string;
  /** Poll interval of the source and of the reconcile, in seconds. Default 180 (3m, Capstan's default). */
  readonly intervalSeconds?: number;
  /** Prefix of the default destination namespaces. Default `bench`. */
  readonly namespacePrefix?: string;
  /**
   * Flux's sources: `shared`, one GitRepository for the repository (its monorepo layout); `per-app`,
   * one GitRepository per application, named after it, whose artifact holds only its folder. Default
   * `shared`.
   */
  readonly fluxLayout?: 'shared' | 'per-app';
}

function appSet(o: AppSetOptions) {
  const name = o.name ?? ((i: number) => `app-${String(i).padStart(4, '0')}`);
  const path = o.path ?? ((i: number) => `apps/app-${i}`);
  const ns = o.namespace ?? ((i: number) => `${o.namespacePrefix ?? 'bench'}-${i}`);
  const apps = Array.from({ length: o.count }, (_, i) => ({
    name: name(i),
    path: path(i),
    namespace: ns(i),
  }));
  return { apps, revision: o.revision ?? 'main', interval: `${o.intervalSeconds ?? 180}s` };
}

/** The destination namespaces, created beforehand for every tool alike (Flux has no CreateNamespace). */
export function destinationNamespaces(o: AppSetOptions): KubeObject[] {
  return [...new Set(appSet(o).apps.map((a) => a.namespace))].map((name) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name },
  }));
}

/**
 * A GitRepository `spec.ignore` (gitignore syntax, read top to bottom, the last match wins) that leaves
 * only `folder` in the artifact: everything at the top excluded, then each parent folder let in again
 * with its other entries excluded, then the folder itself let in.
 */
export function ignoreAllBut(folder: string): string {
  const segments = folder.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.length === 0 || segments.includes('..'))
    throw new CapstanError(
      'PEERS_BAD_PATH',
      `ignoreAllBut: ${folder}: expected a folder inside the repository`,
    );
  const lines = ['/*'];
  segments.forEach((_, i) => {
    const prefix = segments.slice(0, i + 1).join('/');
    lines.push(`!/${prefix}/`);
    if (i < segments.length - 1) lines.push(`/${prefix}/*`);
  });
  return `${lines.join('\n')}\n`;
}

/** The name of the GitRepository application `appName` reads, in the given layout. */
export function fluxSourceName(layout: 'shared' | 'per-app', appName: string): string {
  return layout === 'per-app' ? appName : 'bench';
}

/**
 * Flux: a basic-auth Secret, the GitRepositories of the layout (one shared, or one per application
 * that checks out only its folder, `spec.sparseCheckout`, and keeps only it, `spec.ignore`), and one
 * Kustomization per application (path, targetNamespace, prune; Flux always applies server-side and
 * corrects drift on each interval). The folders hold plain YAML: kustomize-controller generates a
 * kustomization.yaml for a folder without one.
 */
export function fluxObjects(o: AppSetOptions, namespace = 'flux-system'): KubeObject[] {
  const { apps, revision, interval } = appSet(o);
  const layout = o.fluxLayout ?? 'shared';
  const source = (name: string, folder?: string): KubeObject => ({
    apiVersion: 'source.toolkit.fluxcd.io/v1',
    kind: 'GitRepository',
    metadata: { name, namespace },
    spec: {
      url: o.repoUrl,
      ref: { branch: revision },
      interval,
      secretRef: { name: 'bench-git' },
      timeout: '60s',
      // One application's GitRepository checks out its folder only (sparse checkout) and keeps only it
      // in the artifact (ignore): Flux's GitRepository API offers both for a subset of a repository.
      ...(folder === undefined ? {} : { sparseCheckout: [folder], ignore: ignoreAllBut(folder) }),
    },
  });
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'bench-git', namespace },
      type: 'Opaque',
      stringData: { username: o.username, password: o.password },
    },
    ...(layout === 'per-app' ? apps.map((a) => source(a.name, a.path)) : [source('bench')]),
    ...apps.map((a) => ({
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: a.name, namespace },
      spec: {
        interval,
        retryInterval: '10s',
        sourceRef: { kind: 'GitRepository', name: fluxSourceName(layout, a.name) },
        path: `./${a.path}`,
        targetNamespace: a.namespace,
        prune: true,
        wait: false,
        timeout: '2m',
      },
    })),
  ];
}

/**
 * Argo CD: a repository Secret (credentials for the URL) and one Application per application in the
 * argocd namespace, project default, automated with prune and self-heal, server-side apply.
 */
export function argoCDObjects(o: AppSetOptions, namespace = 'argocd'): KubeObject[] {
  const { apps, revision } = appSet(o);
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'bench-git', namespace, labels: { 'argocd.argoproj.io/secret-type': 'repository' } },
      type: 'Opaque',
      stringData: { type: 'git', url: o.repoUrl, username: o.username, password: o.password },
    },
    ...apps.map((a) => ({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: {
        name: a.name,
        namespace,
        // Argo CD's advice for monorepos: when a commit does not touch the application's own folder, the
        // controller moves the cached manifests to the new commit instead of generating them again.
        annotations: { 'argocd.argoproj.io/manifest-generate-paths': '.' },
      },
      spec: {
        project: 'default',
        // A fully qualified reference, as Argo CD's high-availability guide advises for monorepos: the
        // repo-server resolves it without iterating over every reference of the repository.
        source: {
          repoURL: o.repoUrl,
          targetRevision: `refs/heads/${revision}`,
          path: a.path,
          directory: { recurse: true },
        },
        destination: { server: 'https://kubernetes.default.svc', namespace: a.namespace },
        syncPolicy: {
          automated: { prune: true, selfHeal: true },
          syncOptions: ['ServerSideApply=true'],
        },
      },
    })),
  ];
}

/** Capstan: the same applications as Capstan Applications (one namespace for the Application objects). */
export function capstanObjects(o: AppSetOptions, namespace = 'capstan-bench'): KubeObject[] {
  const { apps, revision, interval } = appSet(o);
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'bench-git', namespace },
      type: 'Opaque',
      stringData: { username: o.username, password: o.password },
    },
    ...apps.map((a) => ({
      apiVersion: 'capstan.dev/v1alpha1',
      kind: 'Application',
      metadata: { name: a.name, namespace },
      spec: {
        source: {
          repoURL: o.repoUrl,
          targetRevision: revision,
          path: a.path,
          secretRef: { name: 'bench-git' },
          insecureHttp: true,
        },
        destination: { namespace: a.namespace },
        syncPolicy: { automated: { prune: true, selfHeal: true } },
        interval,
      },
    })),
  ];
}

// ---- readiness, read the same way for each tool ------------------------------------------------------

interface Listed {
  items?: {
    metadata?: { name?: string };
    status?: {
      conditions?: { type?: string; status?: string }[];
      sync?: { status?: string; revision?: string };
      health?: { status?: string };
      lastAppliedRevision?: string;
    };
  }[];
}

/**
 * How many of the peer's applications are done at `revision` (a full commit SHA, or any when omitted):
 * Flux: Kustomization Ready=True with lastAppliedRevision `<branch>@sha1:<sha>`; Argo CD: Application
 * Synced and Healthy at that revision.
 */
export async function readyCount(
  o: Pick<Common, 'kubeconfig' | 'binDir'>,
  peerName: PeerName,
  revision?: string,
): Promise<{ ready: number; total: number }> {
  const [resource, namespace] =
    peerName === 'flux'
      ? ['kustomizations.kustomize.toolkit.fluxcd.io', 'flux-system']
      : ['applications.argoproj.io', 'argocd'];
  const listed = JSON.parse(
    await kubectl(o as Common, ['get', resource, '-n', namespace, '-o', 'json']),
  ) as Listed;
  const items = listed.items ?? [];
  const ready = items.filter((item) => {
    const s = item.status ?? {};
    if (peerName === 'flux') {
      const ok = s.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      return ok && (revision === undefined || (s.lastAppliedRevision ?? '').endsWith(revision));
    }
    return (
      s.sync?.status === 'Synced' &&
      s.health?.status === 'Healthy' &&
      (revision === undefined || s.sync.revision === revision)
    );
  }).length;
  return { ready, total: items.length };
}
