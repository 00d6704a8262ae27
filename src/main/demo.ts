// The local demo: a real control plane, a git server with the demo configuration, the agent, and one
// Application per example, left Synced and Healthy.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { REPOSITORY_CREDENTIALS_TYPE } from '../adapters/git/secret-credentials.ts';
import { KubeCluster, loadKubeConfig } from '../adapters/kube/kube-cluster.ts';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  applicationCrd,
  IN_CLUSTER,
  type Application,
} from '../contracts/application.ts';
import { environmentCrd } from '../contracts/environment.ts';
import { notificationCrd } from '../contracts/notification.ts';
import { PROJECT_API_VERSION, PROJECT_KIND, projectCrd } from '../contracts/project.ts';
import { CapstanError } from '../core/errors.ts';
import { secretText } from '../core/secret-data.ts';
import { attach, down, removeCluster, up, type LocalCluster } from '../devcluster/cluster.ts';
import { validateClusterName } from '../devcluster/layout.ts';
import { isRunning, startProcess, stopProcess } from '../devcluster/processes.ts';
import {
  DEMO_CLUSTER,
  demoDir,
  keptAdminPassword,
  readState,
  until,
  writeState,
  type DemoState,
  type GitServerState,
} from './demo-state.ts';
import { agent, agentGone, server, serverGone } from './demo-processes.ts';
import { exposeInClusterParts, stopInClusterForwarders } from './demo-urls.ts';
import { applyAsDemo, HELLO_APPLICATION, helloAddress, servedType } from './demo-hello.ts';
import {
  agentPodsReady,
  DEMO_DEPLOYER,
  demoOnRealNode,
  removeAgentPods,
  type AgentPods,
} from './demo-agent-pod.ts';
import { createEnvironments, DEMO_ENVIRONMENTS } from './demo-environments.ts';
import { createHelloRoad, HELLO_ROAD } from './demo-road.ts';
import { INITIAL_ADMIN_SECRET } from './server.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'capstan.js');
export { DEMO_CLUSTER } from './demo-state.ts';
const NAMESPACE = 'capstan-demo';
const DEMO_PROJECT = 'demo';
const SYSTEM_NAMESPACE = 'capstan-system';

export const DEMO_APPLICATIONS = [
  { name: 'guestbook', path: 'guestbook', namespace: 'demo-guestbook' },
  { name: 'hello-kustomize', path: 'kustomize/overlays/demo', namespace: 'demo-kustomize' },
  { name: 'hello-helm', path: 'helm/hello', namespace: 'demo-helm' },
] as const;

type DemoApplication = { readonly name: string; readonly path: string; readonly namespace: string };

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
  /**
   * With a real node: the sample HTTP server's image, by digest in the cluster registry, as the demo
   * repository names it (the demo's first build, or the image promoted there since).
   */
  readonly helloImage?: string;
  /** With a real node: hello-http's code repository (its Pipeline builds each push to main). */
  readonly helloCodeUrl?: string;
  /** With a real node: the agent's pods (install.yaml's Deployment), not a process on the machine. */
  readonly agentPods?: AgentPods;
  readonly applications: readonly {
    name: string;
    namespace: string;
    sync: string;
    health: string;
    revision: string;
  }[];
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
  const realNode = options.realNode === true;
  const cluster = await controlPlane(say, { name, realNode });
  // 2. The git server, with the demo configuration as the repository demo-config.
  const { state: withGit, git } = await gitServer(dir, await readState(name), { say, realNode });
  const repoURL = `${git.url}/demo-config.git`;
  const admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  const logs = join(dir, 'logs');
  try {
    // 3. Capstan's CRD, the demo namespace, the git credentials, the webhook token.
    say('installing the Application, Project and Environment CRDs and the demo namespace');
    const webhookToken = withGit.webhookToken ?? randomBytes(18).toString('base64url');
    await installBasics(admin, { git, webhookToken });
    // 4. The agent: a process with a ServiceAccount identity, or (real node) install.yaml's two pods,
    // with the sample HTTP server's image built, pushed and committed to the demo repository.
    const withAgent = realNode
      ? await agentGone(dir, { ...withGit, webhookToken })
      : await agent(cluster, dir, { ...withGit, webhookToken }, say);
    // 5. The API server, with its own least-privilege identity (the install's RBAC): a process, or
    // (real node) install.yaml's pod beside the agent's, installed once Capstan's image is built.
    const [onNode, started] = await Promise.all([
      realNode
        ? demoOnRealNode(cluster, admin, {
            dir,
            repository: { ...git, url: repoURL },
            gitPort: Number(new URL(git.url).port),
            applicationNamespace: NAMESPACE,
            say,
          })
        : undefined,
      realNode ? serverGone(dir, withAgent) : server(cluster, admin, dir, withAgent, say),
    ]);
    // 6. One Application per example, automated with prune and self-heal; the pods fetch from the
    // git server's address inside the node (anonymously: no credentials over plain http).
    const applications = onNode === undefined ? DEMO_APPLICATIONS : [...DEMO_APPLICATIONS, HELLO_APPLICATION];
    const source =
      onNode === undefined ? { repoURL } : { repoURL: `http://${onNode.gitAddress}/demo-config.git` };
    say(`creating ${applications.length} Applications from ${source.repoURL}`);
    await createApplications(admin, applications, {
      ...source,
      ...(onNode === undefined ? { secretRef: 'demo-git' } : { serviceAccount: DEMO_DEPLOYER }),
    });
    say(`creating the Environments ${DEMO_ENVIRONMENTS.map((e) => e.name).join(' and ')} of the hello image`);
    const envSource = { ...source, ...(onNode === undefined ? { secretRef: 'demo-git' } : {}) };
    await createEnvironments(admin, { namespace: NAMESPACE, project: DEMO_PROJECT, ...envSource }, { logs });
    if (onNode !== undefined)
      await helloRoad(cluster, admin, { git, gitAddress: onNode.gitAddress, logs, say });
    // 7. Wait until the agent's pods run and lead, and each Application is Synced and Healthy.
    const agentPods =
      onNode === undefined ? undefined : await agentPodsReady(admin, { image: onNode.agentImage, logs });
    if (agentPods) say(`the agent runs as pods ${agentPods.pods.join(', ')}; ${agentPods.leader} leads`);
    // With the real node, the server's and the agent's Services on the machine's loopback (forwarders).
    const [apps, state] = await Promise.all([
      untilSyncedAndHealthy(admin, applications, { say, logs }),
      onNode === undefined ? started : withUrls(cluster, admin, { dir, state: started, logs, say }),
    ]);
    const hello =
      onNode === undefined || agentPods === undefined
        ? {}
        : {
            helloImage: onNode.helloImage,
            helloUrl: await helloAnswering(cluster, admin, logs),
            helloCodeUrl: `${git.url}/${HELLO_ROAD}.git`,
            agentPods,
          };
    return {
      ...summaryOf(cluster, { git, repoURL, state, webhookToken, logs, apps }),
      ...(await keptAdminPassword(dir, await initialAdminPassword(admin)).then((p) =>
        p === undefined ? {} : { serverPassword: p },
      )),
      ...hello,
    };
  } finally {
    admin.close();
  }
}

/** hello-http's Pipeline and the Environment that follows it (demo-road.ts), in the demo namespace. */
async function helloRoad(
  cluster: LocalCluster,
  admin: KubeCluster,
  options: { git: GitServerState; gitAddress: string; logs: string; say: (line: string) => void },
): Promise<void> {
  options.say(
    `creating the Pipeline ${HELLO_ROAD} (polls ${HELLO_ROAD}.git) and the Environment that follows it`,
  );
  const { username, password } = options.git;
  const gitPort = Number(new URL(options.git.url).port);
  const target = { namespace: NAMESPACE, project: DEMO_PROJECT, gitAddress: options.gitAddress, gitPort };
  await createHelloRoad(cluster, admin, { ...target, logs: options.logs, username, password });
}

/** The state with the URLs of exposeInClusterParts, written. */
async function withUrls(
  cluster: LocalCluster,
  admin: KubeCluster,
  options: { dir: string; state: DemoState; logs: string; say: (line: string) => void },
): Promise<DemoState> {
  const state = { ...options.state, ...(await exposeInClusterParts(cluster, admin, options)) };
  await writeState(options.dir, state);
  return state;
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
 * The sample HTTP server's URL once it answers there: Healthy pods do not mean that kube-proxy has
 * programmed the NodePort yet, and a URL printed must work.
 */
async function helloAnswering(cluster: LocalCluster, admin: KubeCluster, logs: string): Promise<string> {
  const url = await helloAddress(cluster, admin);
  await until(`the sample HTTP server answering at ${url}`, { timeoutMs: 60_000, logs }, async () =>
    (await fetch(url, { signal: AbortSignal.timeout(5000) })).ok ? true : undefined,
  );
  return url;
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
  options: { readonly say: (line: string) => void; readonly realNode: boolean },
): Promise<{ state: DemoState; git: GitServerState }> {
  const { say } = options;
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
        // The agent's pods fetch without credentials (never sent over plain http but to loopback);
        // hello-http's code, whose Pipeline builds each push (demo-road.ts).
        ...(options.realNode
          ? ['--anonymous-fetch', '--seed', `${HELLO_ROAD}=${join(ROOT, 'examples', 'hello-http')}`]
          : []),
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

/** The CRDs (Application, Project, Environment, Notification), the namespaces, the git credentials and the webhook token. */
async function installBasics(
  admin: KubeCluster,
  values: { readonly git: GitServerState; readonly webhookToken: string },
): Promise<void> {
  const crdType = await servedType(admin, 'apiextensions.k8s.io/v1', 'CustomResourceDefinition');
  await applyAsDemo(admin, crdType, applicationCrd());
  await applyAsDemo(admin, crdType, projectCrd());
  await applyAsDemo(admin, crdType, environmentCrd());
  await applyAsDemo(admin, crdType, notificationCrd());
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

/** The local admin's initial password, from the Secret the server wrote at its first start (until deleted). */
async function initialAdminPassword(admin: KubeCluster): Promise<string | undefined> {
  const secret = await admin.get(
    await servedType(admin, 'v1', 'Secret'),
    SYSTEM_NAMESPACE,
    INITIAL_ADMIN_SECRET,
  );
  return secretText(secret, 'password');
}

/** One Application per example, automated with prune and self-heal. */
async function createApplications(
  admin: KubeCluster,
  applications: readonly DemoApplication[],
  source: { readonly repoURL: string; readonly secretRef?: string; readonly serviceAccount?: string },
): Promise<void> {
  const { repoURL } = source;
  // Their project: namespaces named demo-* on this cluster, which they may create (the README's first
  // Application deploys into demo-hello).
  await applyAsDemo(admin, await servedType(admin, PROJECT_API_VERSION, PROJECT_KIND), {
    apiVersion: PROJECT_API_VERSION,
    kind: PROJECT_KIND,
    metadata: { name: DEMO_PROJECT },
    spec: {
      description: 'The demo Applications',
      applicationNamespaces: [NAMESPACE],
      destinations: [
        {
          cluster: IN_CLUSTER,
          namespace: 'demo-*',
          ...(source.serviceAccount === undefined ? {} : { serviceAccount: { name: source.serviceAccount } }),
        },
      ],
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
        source: {
          repoURL,
          path: app.path,
          insecureHttp: true,
          ...(source.secretRef === undefined ? {} : { secretRef: { name: source.secretRef } }),
        },
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
    /**
     * Also remove the demo's folder: its state, the kept admin password, the server's store
     * (server.db), the git server's repositories and the logs; and, once it is stopped, its cluster's
     * folder (`clusters/<name>`: state, certificates, etcd data, logs), unless the cluster is kept. The
     * next `demo up` starts afresh. Default false.
     */
    readonly purge?: boolean;
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
  if (options.keepCluster === true) {
    // The agent's and the server's pods and forwarders go too: the cluster stays for others, the demo's
    // agent does not.
    if (state.agentPods === true) stopped.push(...(await removeDemoAgent(name)));
  } else stopped.push(...(await down(name)).stopped);
  if (options.purge === true) {
    // The cluster's folder first (refused, and nothing removed, while it runs); a cluster kept running
    // (attached to) keeps its folder.
    const cluster = options.keepCluster === true ? undefined : await removeCluster(name);
    await rm(demoDir(name), { recursive: true, force: true });
    stopped.push(`removed ${demoDir(name)}`, ...(cluster === undefined ? [] : [`removed ${cluster}`]));
  }
  return stopped;
}

/** Deletes the demo's agent and server Deployments on its cluster, if that runs, and stops their forwarders. */
async function removeDemoAgent(name: string): Promise<string[]> {
  const cluster = await attach(name);
  if (!cluster) return [];
  const admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  try {
    const pods = (await removeAgentPods(admin)) ? ['agent and server pods'] : [];
    return [...pods, ...(await stopInClusterForwarders(cluster))];
  } finally {
    admin.close();
  }
}
