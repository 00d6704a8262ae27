// The local demo: a real control plane, a git server with the demo configuration, the agent, and one
// Application per example, left Synced and Healthy.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { REPOSITORY_CREDENTIALS_TYPE } from '../adapters/git/secret-credentials.ts';
import { KubeCluster, loadKubeConfig } from '../adapters/kube/kube-cluster.ts';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  applicationCrd,
  IN_CLUSTER,
  type Application,
} from '../contracts/application.ts';
import { PROJECT_API_VERSION, PROJECT_KIND, projectCrd } from '../contracts/project.ts';
import { SERVER_NAME, serverRbac } from '../contracts/install-server.ts';
import { CapstanError } from '../core/errors.ts';
import { pollUntil } from '../core/poll.ts';
import type { KubeObject } from '../core/resource.ts';
import { attach, down, up, type LocalCluster } from '../devcluster/cluster.ts';
import { clustersRoot, validateClusterName } from '../devcluster/layout.ts';
import { freePort } from '../devcluster/ports.ts';
import { isRunning, startProcess, stopProcess, type ProcessRecord } from '../devcluster/processes.ts';
import type { ResourceType } from '../ports/cluster.ts';
import {
  commitHelloImage,
  demoRealNode,
  HELLO_APPLICATION,
  helloPullSecret,
  helloUrl,
  publishHelloImage,
  type DemoRepository,
} from './demo-hello.ts';
import { INITIAL_ADMIN_SECRET } from './server.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'capstan.js');
/** The demo's cluster by default; `--name` runs another demo beside it (its own cluster and folder). */
export const DEMO_CLUSTER = 'demo';
const NAMESPACE = 'capstan-demo';
const DEMO_PROJECT = 'demo';
const SYSTEM_NAMESPACE = 'capstan-system';

export const DEMO_APPLICATIONS = [
  { name: 'guestbook', path: 'guestbook', namespace: 'demo-guestbook' },
  { name: 'hello-kustomize', path: 'kustomize/overlays/demo', namespace: 'demo-kustomize' },
  { name: 'hello-helm', path: 'helm/hello', namespace: 'demo-helm' },
] as const;

type DemoApplication = { readonly name: string; readonly path: string; readonly namespace: string };

interface DemoState {
  readonly gitServer?: ProcessRecord;
  readonly agent?: ProcessRecord;
  readonly agentUrl?: string;
  readonly server?: ProcessRecord;
  readonly serverUrl?: string;
  readonly metricsUrl?: string;
  readonly webhookUrl?: string;
  readonly webhookToken?: string;
}

interface GitServerState {
  readonly url: string;
  readonly username: string;
  readonly password: string;
}

export interface DemoSummary {
  readonly kubeconfig: string;
  readonly server: string;
  readonly gitUrl: string;
  readonly gitUsername: string;
  readonly gitPassword: string;
  readonly agentUrl: string;
  readonly metricsUrl: string;
  /** `capstan server`: the API (and the web UI) for people, its local admin and that admin's password. */
  readonly serverUrl: string;
  readonly serverUser: string;
  /** The initial password, while the Secret capstan-initial-admin holds it (undefined once deleted). */
  readonly serverPassword?: string;
  /** The generic webhook receiver, on the agent's webhook port. */
  readonly webhookUrl: string;
  readonly webhookToken: string;
  readonly logs: string;
  /** With a real node: the sample HTTP server's URL (its NodePort through a forwarder on loopback). */
  readonly helloUrl?: string;
  /** With a real node: the sample HTTP server's image, by digest in the cluster registry. */
  readonly helloImage?: string;
  readonly applications: readonly {
    name: string;
    namespace: string;
    sync: string;
    health: string;
    revision: string;
  }[];
}

/** The demo's folder: `demo` for the default demo, `demo-<name>` for another. */
const demoDir = (name: string) =>
  join(dirname(clustersRoot()), name === DEMO_CLUSTER ? 'demo' : `demo-${name}`);
const statePath = (name: string) => join(demoDir(name), 'state.json');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function readState(name: string): Promise<DemoState> {
  try {
    return JSON.parse(await readFile(statePath(name), 'utf8')) as DemoState;
  } catch {
    return {};
  }
}

async function writeState(dir: string, state: DemoState): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'state.json'), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
}

async function until<T>(
  what: string,
  options: { readonly timeoutMs: number; readonly logs: string },
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const { timeoutMs } = options;
  const polled = await pollUntil(async () => (await probe().catch(() => undefined)) ?? false, {
    deadline: Date.now() + timeoutMs,
    intervalMs: 500,
    time: { now: () => new Date(), sleep },
  });
  if (polled.met) return polled.value;
  throw new CapstanError(
    'DEMO_TIMEOUT',
    `${what} did not happen within ${Math.round(timeoutMs / 1000)} s; see the logs in ${options.logs}`,
  );
}

/** Options of `capstan demo up`. */
export interface DemoUpOptions {
  /** Start the control plane with a real node (containers that run) beside the kwok nodes. Default false. */
  readonly realNode?: boolean;
  /** The demo's cluster (and folder): default `demo`. Another name runs a demo of its own beside it. */
  readonly name?: string;
}

/** Starts (or finds running) every part of the demo and waits until the sample applications are Synced and Healthy. */
export async function demoUp(
  progress: (line: string) => void,
  options: DemoUpOptions = {},
): Promise<DemoSummary> {
  const t0 = Date.now();
  const say = (line: string) => {
    progress(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${line}`);
  };
  const name = demoName(options.name);
  const dir = demoDir(name);
  await mkdir(join(dir, 'logs'), { recursive: true, mode: 0o700 });
  // 1. The control plane.
  const cluster = await controlPlane(say, { name, realNode: options.realNode === true });
  // 2. The git server, with the demo configuration as the repository demo-config.
  const { state: withGit, git } = await gitServer(dir, await readState(name), say);
  const repoURL = `${git.url}/demo-config.git`;
  const admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  try {
    // 3. Capstan's CRD, the demo namespace, the git credentials, the webhook token.
    say('installing the Application and Project CRDs and the demo namespace');
    const webhookToken = withGit.webhookToken ?? randomBytes(18).toString('base64url');
    await installBasics(admin, { git, webhookToken });
    // 4. The agent, with a ServiceAccount identity (RBAC and priority and fairness apply to it).
    const withAgent = await agent(cluster, dir, { ...withGit, webhookToken }, say);
    // 5. The API server, with its own least-privilege identity (the install's RBAC).
    const state = await server(cluster, admin, dir, withAgent, say);
    // 6. With a real node: the sample HTTP server's image built, pushed and committed to the demo repository.
    const helloImage =
      options.realNode === true
        ? await helloOnRealNode(cluster, admin, { dir, repository: { ...git, url: repoURL }, say })
        : undefined;
    // 7. One Application per example, automated with prune and self-heal.
    const applications =
      helloImage === undefined ? DEMO_APPLICATIONS : [...DEMO_APPLICATIONS, HELLO_APPLICATION];
    say(`creating ${applications.length} Applications from ${repoURL}`);
    await createApplications(admin, repoURL, applications);
    // 8. Wait until each is Synced and Healthy.
    const apps = await untilSyncedAndHealthy(admin, applications, { say, logs: join(dir, 'logs') });
    const hello =
      helloImage === undefined ? {} : { helloImage, helloUrl: await helloAddress(cluster, admin) };
    return {
      ...summaryOf(cluster, { git, repoURL, state, webhookToken, logs: join(dir, 'logs'), apps }),
      ...(await initialAdminPassword(admin).then((p) => (p === undefined ? {} : { serverPassword: p }))),
      ...hello,
    };
  } finally {
    admin.close();
  }
}

function demoName(name: string | undefined): string {
  const chosen = name ?? DEMO_CLUSTER;
  const invalid = validateClusterName(chosen);
  if (invalid) throw new CapstanError('DEMO_BAD_NAME', `--name: ${invalid}`);
  return chosen;
}

function summaryOf(
  cluster: LocalCluster,
  values: {
    readonly git: GitServerState;
    readonly repoURL: string;
    readonly state: DemoState;
    readonly webhookToken: string;
    readonly logs: string;
    readonly apps: readonly Application[];
  },
): DemoSummary {
  const { git, state } = values;
  return {
    kubeconfig: cluster.adminKubeconfig,
    server: cluster.server,
    gitUrl: values.repoURL,
    gitUsername: git.username,
    gitPassword: git.password,
    agentUrl: state.agentUrl ?? '',
    metricsUrl: state.metricsUrl ?? '',
    serverUrl: state.serverUrl ?? '',
    serverUser: 'admin',
    webhookUrl: state.webhookUrl ?? '',
    webhookToken: values.webhookToken,
    logs: values.logs,
    applications: values.apps.map((a) => ({
      name: a.metadata.name,
      namespace: a.metadata.namespace ?? NAMESPACE,
      sync: a.status?.sync?.status ?? 'Unknown',
      health: a.status?.health?.status ?? 'Unknown',
      revision: a.status?.sync?.revision?.slice(0, 12) ?? '',
    })),
  };
}

/**
 * The sample HTTP server on the real node: its image built and pushed, the registry's pull Secret in
 * its namespace, and its reference by digest committed to the demo repository. Returns the reference.
 */
async function helloOnRealNode(
  cluster: LocalCluster,
  admin: KubeCluster,
  options: {
    readonly dir: string;
    readonly repository: DemoRepository;
    readonly say: (line: string) => void;
  },
): Promise<string> {
  const { say } = options;
  const node = demoRealNode(cluster);
  say('building the sample HTTP server (examples/hello-http) and pushing it to the cluster registry');
  const reference = await publishHelloImage(cluster, say);
  say(`  ${reference}`);
  await applyAsDemo(admin, await servedType(admin, 'v1', 'Namespace'), {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: HELLO_APPLICATION.namespace },
  });
  await applyAsDemo(
    admin,
    await servedType(admin, 'v1', 'Secret'),
    helloPullSecret(node.registry) as KubeObject,
  );
  const committed = await commitHelloImage(options.repository, reference, { workDir: options.dir });
  say(
    committed
      ? `committed the image to ${HELLO_APPLICATION.path}/kustomization.yaml of the demo repository`
      : `${HELLO_APPLICATION.path}/kustomization.yaml of the demo repository names that image already`,
  );
  return reference;
}

/** The sample HTTP server's URL on the machine's loopback (its Service's NodePort through a forwarder). */
async function helloAddress(cluster: LocalCluster, admin: KubeCluster): Promise<string> {
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

/** The demo's control plane: the running one, or a fresh one. */
async function controlPlane(
  say: (line: string) => void,
  options: { name: string; realNode: boolean },
): Promise<LocalCluster> {
  const running = await attach(options.name);
  if (running) {
    say(`the local control plane '${options.name}' is running`);
    return running;
  }
  say(`starting the local control plane '${options.name}'`);
  return up({
    name: options.name,
    realNode: options.realNode,
    progress: (l) => {
      say(`  ${l}`);
    },
  });
}

/** The git server (started unless it runs), and its address and credentials once it wrote them. */
async function gitServer(
  dir: string,
  current: DemoState,
  say: (line: string) => void,
): Promise<{ state: DemoState; git: GitServerState }> {
  const gitStatePath = join(dir, 'git-server.json');
  let state = current;
  if (!state.gitServer || !isRunning(state.gitServer)) {
    say('starting the git server (git http-backend, basic auth) with the demo configuration');
    await rm(gitStatePath, { force: true });
    const started = startProcess({
      name: 'git-server',
      binary: process.execPath,
      args: [
        CLI,
        'dev-git-server',
        '--root',
        join(dir, 'git'),
        '--state',
        gitStatePath,
        '--seed',
        `demo-config=${join(ROOT, 'examples', 'demo')}`,
      ],
      log: join(dir, 'logs', 'git-server.log'),
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/' },
    });
    state = { ...state, gitServer: started };
    await writeState(dir, state);
  }
  const git = await until(
    'the git server writing its address',
    { timeoutMs: 30_000, logs: join(dir, 'logs') },
    async () => JSON.parse(await readFile(gitStatePath, 'utf8')) as GitServerState,
  );
  return { state, git };
}

/** A type the demo cluster must serve. */
async function servedType(admin: KubeCluster, apiVersion: string, kind: string): Promise<ResourceType> {
  const t = await admin.resourceType(apiVersion, kind, { refresh: true });
  if (!t) throw new CapstanError('DEMO_DISCOVERY', `the cluster does not serve ${apiVersion} ${kind}`);
  return t;
}

async function applyAsDemo(admin: KubeCluster, t: ResourceType, object: KubeObject): Promise<void> {
  await admin.apply(t, object, { fieldManager: 'capstan-demo', force: true });
}

/** The Application CRD, the namespaces, the git credentials and the webhook token. */
async function installBasics(
  admin: KubeCluster,
  values: { readonly git: GitServerState; readonly webhookToken: string },
): Promise<void> {
  const crdType = await servedType(admin, 'apiextensions.k8s.io/v1', 'CustomResourceDefinition');
  await applyAsDemo(admin, crdType, applicationCrd());
  await applyAsDemo(admin, crdType, projectCrd());
  const nsType = await servedType(admin, 'v1', 'Namespace');
  for (const name of ['capstan-system', NAMESPACE])
    await applyAsDemo(admin, nsType, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const secretType = await servedType(admin, 'v1', 'Secret');
  await applyAsDemo(admin, secretType, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'demo-git', namespace: NAMESPACE },
    type: REPOSITORY_CREDENTIALS_TYPE,
    stringData: { url: values.git.url, username: values.git.username, password: values.git.password },
  });
  await applyAsDemo(admin, secretType, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'capstan-webhooks', namespace: 'capstan-system' },
    stringData: { generic: values.webhookToken },
  });
}

/** The agent (started unless it runs), answering /healthz; the state with its addresses. */
async function agent(
  cluster: LocalCluster,
  dir: string,
  current: DemoState,
  say: (line: string) => void,
): Promise<DemoState> {
  let state = current;
  if (!state.agent || !isRunning(state.agent)) {
    say('starting the agent');
    const kubeconfig = await cluster.serviceAccountKubeconfig({
      namespace: 'capstan-system',
      name: 'capstan-agent',
      clusterRole: 'cluster-admin',
    });
    const [port, metricsPort, webhookPort] = [await freePort(), await freePort(), await freePort()];
    const started = startProcess({
      name: 'agent',
      binary: process.execPath,
      args: [
        CLI,
        'agent',
        '--kubeconfig',
        kubeconfig,
        '--no-leader-election',
        // The demo's git server is on loopback, which the agent refuses unless allowed.
        '--allow-repository-host',
        '127.0.0.1',
        '--bind-address',
        '127.0.0.1',
        '--port',
        String(port),
        '--metrics-port',
        String(metricsPort),
        '--webhook-port',
        String(webhookPort),
      ],
      log: join(dir, 'logs', 'agent.log'),
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: process.env['HOME'] ?? '/',
        POD_NAMESPACE: 'capstan-system',
        ...(process.env['CAPSTAN_CACHE_DIR'] ? { CAPSTAN_CACHE_DIR: process.env['CAPSTAN_CACHE_DIR'] } : {}),
      },
    });
    state = {
      ...state,
      agent: started,
      agentUrl: `http://127.0.0.1:${port}`,
      metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      webhookUrl: `http://127.0.0.1:${webhookPort}/api/v1/webhooks/generic`,
    };
  }
  await writeState(dir, state);
  const agentUrl = state.agentUrl ?? '';
  await until('the agent answering /healthz', { timeoutMs: 60_000, logs: join(dir, 'logs') }, async () =>
    (await fetch(`${agentUrl}/healthz`)).ok ? true : undefined,
  );
  return state;
}

/** `capstan server` (started unless it runs) with the install's RBAC, answering /readyz; the state with its URL. */
async function server(
  cluster: LocalCluster,
  admin: KubeCluster,
  dir: string,
  current: DemoState,
  say: (line: string) => void,
): Promise<DemoState> {
  let state = current;
  if (!state.server || !isRunning(state.server)) {
    say('starting the API server (capstan server)');
    for (const object of serverRbac(SYSTEM_NAMESPACE))
      await applyAsDemo(admin, await servedType(admin, object.apiVersion, object.kind), object);
    const kubeconfig = await cluster.serviceAccountKubeconfig({
      namespace: SYSTEM_NAMESPACE,
      name: SERVER_NAME,
      clusterRole: SERVER_NAME,
    });
    const port = await freePort();
    const started = startProcess({
      name: 'server',
      binary: process.execPath,
      args: [
        CLI,
        'server',
        '--kubeconfig',
        kubeconfig,
        '--namespace',
        SYSTEM_NAMESPACE,
        '--database',
        join(dir, 'server.db'),
        // Desired manifests and diffs are rendered from the demo's git server, on loopback.
        '--allow-repository-host',
        '127.0.0.1',
        '--bind-address',
        '127.0.0.1',
        '--port',
        String(port),
      ],
      log: join(dir, 'logs', 'server.log'),
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: process.env['HOME'] ?? '/',
        ...(process.env['CAPSTAN_CACHE_DIR'] ? { CAPSTAN_CACHE_DIR: process.env['CAPSTAN_CACHE_DIR'] } : {}),
      },
    });
    state = { ...state, server: started, serverUrl: `http://127.0.0.1:${port}` };
  }
  await writeState(dir, state);
  const serverUrl = state.serverUrl ?? '';
  await until('the API server answering /readyz', { timeoutMs: 60_000, logs: join(dir, 'logs') }, async () =>
    (await fetch(`${serverUrl}/readyz`)).ok ? true : undefined,
  );
  return state;
}

/** The local admin's initial password, from the Secret the server wrote at its first start (until deleted). */
async function initialAdminPassword(admin: KubeCluster): Promise<string | undefined> {
  const secret = await admin.get(
    await servedType(admin, 'v1', 'Secret'),
    SYSTEM_NAMESPACE,
    INITIAL_ADMIN_SECRET,
  );
  const encoded = ((secret?.['data'] ?? {}) as Record<string, string>)['password'];
  return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString();
}

/** One Application per example, automated with prune and self-heal. */
async function createApplications(
  admin: KubeCluster,
  repoURL: string,
  applications: readonly DemoApplication[],
): Promise<void> {
  // Their project: namespaces named demo-* on this cluster, which they may create (the README's first
  // Application deploys into demo-hello).
  await applyAsDemo(admin, await servedType(admin, PROJECT_API_VERSION, PROJECT_KIND), {
    apiVersion: PROJECT_API_VERSION,
    kind: PROJECT_KIND,
    metadata: { name: DEMO_PROJECT },
    spec: {
      description: 'The demo Applications',
      applicationNamespaces: [NAMESPACE],
      destinations: [{ cluster: IN_CLUSTER, namespace: 'demo-*' }],
      clusterResources: [{ group: '', kind: 'Namespace' }],
    },
  });
  const appType = await servedType(admin, APPLICATION_API_VERSION, APPLICATION_KIND);
  for (const app of applications) {
    await applyAsDemo(admin, appType, {
      apiVersion: APPLICATION_API_VERSION,
      kind: APPLICATION_KIND,
      metadata: { name: app.name, namespace: NAMESPACE },
      spec: {
        project: DEMO_PROJECT,
        source: { repoURL, path: app.path, insecureHttp: true, secretRef: { name: 'demo-git' } },
        destination: { namespace: app.namespace },
        syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ['CreateNamespace=true'] },
        interval: '30s',
      },
    });
  }
}

/** Waits until every demo Application is Ready (Synced and Healthy), saying so for each. */
async function untilSyncedAndHealthy(
  admin: KubeCluster,
  applications: readonly DemoApplication[],
  options: { readonly say: (line: string) => void; readonly logs: string },
): Promise<Application[]> {
  const { say } = options;
  const appType = await servedType(admin, APPLICATION_API_VERSION, APPLICATION_KIND);
  const reported = new Set<string>();
  return until(
    'every demo Application Synced and Healthy',
    { timeoutMs: 180_000, logs: options.logs },
    async () => {
      const list: Application[] = [];
      for (const app of applications) {
        const live = (await admin.get(appType, NAMESPACE, app.name)) as unknown as Application | undefined;
        if (!live) return undefined;
        list.push(live);
        const ready = live.status?.conditions?.find((c) => c.type === 'Ready');
        if (ready?.status === 'True' && !reported.has(app.name)) {
          reported.add(app.name);
          say(`  ${app.name}: Synced and Healthy at ${live.status?.sync?.revision?.slice(0, 12) ?? ''}`);
        }
      }
      return list.every((a) => a.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
        ? list
        : undefined;
    },
  );
}

/** Stops the API server, the agent, the git server and (unless kept) the control plane of the demo. */
export async function demoDown(
  options: {
    /** The demo's name (its cluster and folder). Default `demo`. */
    readonly name?: string;
    /** Leave the control plane running (a cluster the demo attached to, such as the node tier's). Default false. */
    readonly keepCluster?: boolean;
  } = {},
): Promise<string[]> {
  const name = demoName(options.name);
  const state = await readState(name);
  const stopped: string[] = [];
  for (const record of [state.server, state.agent, state.gitServer]) {
    if (record && isRunning(record)) {
      await stopProcess(record);
      stopped.push(record.name);
    }
  }
  await writeState(demoDir(name), { ...(state.webhookToken ? { webhookToken: state.webhookToken } : {}) });
  if (options.keepCluster === true) return stopped;
  const cluster = await down(name);
  return [...stopped, ...cluster.stopped];
}
