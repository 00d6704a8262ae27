// The local demo: a real control plane, a git server with the demo configuration, the agent, and one
// Application per example, left Synced and Healthy.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { KubeCluster, loadKubeConfig } from '../adapters/kube/kube-cluster.ts';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  applicationCrd,
  type Application,
} from '../contracts/application.ts';
import { CapstanError } from '../core/errors.ts';
import { pollUntil } from '../core/poll.ts';
import type { KubeObject } from '../core/resource.ts';
import { attach, down, up, type LocalCluster } from '../devcluster/cluster.ts';
import { clustersRoot } from '../devcluster/layout.ts';
import { freePort } from '../devcluster/ports.ts';
import { isRunning, startProcess, stopProcess, type ProcessRecord } from '../devcluster/processes.ts';
import type { ResourceType } from '../ports/cluster.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'capstan.js');
const CLUSTER = 'demo';
const NAMESPACE = 'capstan-demo';

export const DEMO_APPLICATIONS = [
  { name: 'guestbook', path: 'guestbook', namespace: 'demo-guestbook' },
  { name: 'hello-kustomize', path: 'kustomize/overlays/demo', namespace: 'demo-kustomize' },
  { name: 'hello-helm', path: 'helm/hello', namespace: 'demo-helm' },
] as const;

interface DemoState {
  readonly gitServer?: ProcessRecord;
  readonly agent?: ProcessRecord;
  readonly agentUrl?: string;
  readonly metricsUrl?: string;
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
  readonly webhookToken: string;
  readonly logs: string;
  readonly applications: readonly {
    name: string;
    namespace: string;
    sync: string;
    health: string;
    revision: string;
  }[];
}

const demoDir = () => join(dirname(clustersRoot()), 'demo');
const statePath = () => join(demoDir(), 'state.json');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function readState(): Promise<DemoState> {
  try {
    return JSON.parse(await readFile(statePath(), 'utf8')) as DemoState;
  } catch {
    return {};
  }
}

async function writeState(state: DemoState): Promise<void> {
  await mkdir(demoDir(), { recursive: true, mode: 0o700 });
  await writeFile(statePath(), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const polled = await pollUntil(async () => (await probe().catch(() => undefined)) ?? false, {
    deadline: Date.now() + timeoutMs,
    intervalMs: 500,
    time: { now: () => new Date(), sleep },
  });
  if (polled.met) return polled.value;
  throw new CapstanError(
    'DEMO_TIMEOUT',
    `${what} did not happen within ${Math.round(timeoutMs / 1000)} s; see the logs in ${join(demoDir(), 'logs')}`,
  );
}

/** Starts (or finds running) every part of the demo and waits until the sample applications are Synced and Healthy. */
export async function demoUp(progress: (line: string) => void): Promise<DemoSummary> {
  const t0 = Date.now();
  const say = (line: string) => {
    progress(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${line}`);
  };
  const dir = demoDir();
  await mkdir(join(dir, 'logs'), { recursive: true, mode: 0o700 });
  let state = await readState();

  // 1. The control plane.
  let cluster: LocalCluster | undefined = await attach(CLUSTER);
  if (cluster) say(`the local control plane '${CLUSTER}' is running`);
  else {
    say(`starting the local control plane '${CLUSTER}'`);
    cluster = await up({
      name: CLUSTER,
      progress: (l) => {
        say(`  ${l}`);
      },
    });
  }

  // 2. The git server, with the demo configuration as the repository demo-config.
  const gitStatePath = join(dir, 'git-server.json');
  if (!state.gitServer || !isRunning(state.gitServer)) {
    say('starting the git server (git http-backend, basic auth) with the demo configuration');
    await rm(gitStatePath, { force: true });
    const gitServer = startProcess({
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
    state = { ...state, gitServer };
    await writeState(state);
  }
  const git = await until(
    'the git server writing its address',
    30_000,
    async () => JSON.parse(await readFile(gitStatePath, 'utf8')) as GitServerState,
  );
  const repoURL = `${git.url}/demo-config.git`;

  // 3. Capstan's CRD, the demo namespace, the git credentials, the webhook token.
  say('installing the Application CRD and the demo namespace');
  const admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
  try {
    const type = async (apiVersion: string, kind: string) => {
      const t = await admin.resourceType(apiVersion, kind, { refresh: true });
      if (!t) throw new CapstanError('DEMO_DISCOVERY', `the cluster does not serve ${apiVersion} ${kind}`);
      return t;
    };
    const apply = async (t: ResourceType, object: KubeObject) =>
      admin.apply(t, object, { fieldManager: 'capstan-demo', force: true });
    await apply(await type('apiextensions.k8s.io/v1', 'CustomResourceDefinition'), applicationCrd());
    const nsType = await type('v1', 'Namespace');
    for (const name of ['capstan-system', NAMESPACE])
      await apply(nsType, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    const secretType = await type('v1', 'Secret');
    await apply(secretType, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'demo-git', namespace: NAMESPACE },
      stringData: { username: git.username, password: git.password },
    });
    const webhookToken = state.webhookToken ?? randomBytes(18).toString('base64url');
    await apply(secretType, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'capstan-webhooks', namespace: 'capstan-system' },
      stringData: { generic: webhookToken },
    });
    state = { ...state, webhookToken };

    // 4. The agent, with a ServiceAccount identity (RBAC and priority and fairness apply to it).
    if (!state.agent || !isRunning(state.agent)) {
      say('starting the agent');
      const kubeconfig = await cluster.serviceAccountKubeconfig({
        namespace: 'capstan-system',
        name: 'capstan-agent',
        clusterRole: 'cluster-admin',
      });
      const [port, metricsPort] = [await freePort(), await freePort()];
      const agent = startProcess({
        name: 'agent',
        binary: process.execPath,
        args: [
          CLI,
          'agent',
          '--kubeconfig',
          kubeconfig,
          '--no-leader-election',
          '--bind-address',
          '127.0.0.1',
          '--port',
          String(port),
          '--metrics-port',
          String(metricsPort),
        ],
        log: join(dir, 'logs', 'agent.log'),
        env: {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          HOME: process.env['HOME'] ?? '/',
          POD_NAMESPACE: 'capstan-system',
          ...(process.env['CAPSTAN_CACHE_DIR']
            ? { CAPSTAN_CACHE_DIR: process.env['CAPSTAN_CACHE_DIR'] }
            : {}),
        },
      });
      state = {
        ...state,
        agent,
        agentUrl: `http://127.0.0.1:${port}`,
        metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      };
    }
    await writeState(state);
    const agentUrl = state.agentUrl ?? '';
    await until('the agent answering /healthz', 60_000, async () =>
      (await fetch(`${agentUrl}/healthz`)).ok ? true : undefined,
    );

    // 5. One Application per example, automated with prune and self-heal.
    say(`creating ${DEMO_APPLICATIONS.length} Applications from ${repoURL}`);
    const appType = await type(APPLICATION_API_VERSION, APPLICATION_KIND);
    for (const app of DEMO_APPLICATIONS) {
      await apply(appType, {
        apiVersion: APPLICATION_API_VERSION,
        kind: APPLICATION_KIND,
        metadata: { name: app.name, namespace: NAMESPACE },
        spec: {
          source: { repoURL, path: app.path, insecureHttp: true, secretRef: { name: 'demo-git' } },
          destination: { namespace: app.namespace },
          syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ['CreateNamespace=true'] },
          interval: '30s',
        },
      });
    }

    // 6. Wait until each is Synced and Healthy.
    const reported = new Set<string>();
    const apps = await until('every demo Application Synced and Healthy', 180_000, async () => {
      const list: Application[] = [];
      for (const app of DEMO_APPLICATIONS) {
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
    });
    return {
      kubeconfig: cluster.adminKubeconfig,
      server: cluster.server,
      gitUrl: repoURL,
      gitUsername: git.username,
      gitPassword: git.password,
      agentUrl,
      metricsUrl: state.metricsUrl ?? '',
      webhookToken,
      logs: join(dir, 'logs'),
      applications: apps.map((a) => ({
        name: a.metadata.name,
        namespace: a.metadata.namespace ?? NAMESPACE,
        sync: a.status?.sync?.status ?? 'Unknown',
        health: a.status?.health?.status ?? 'Unknown',
        revision: a.status?.sync?.revision?.slice(0, 12) ?? '',
      })),
    };
  } finally {
    admin.close();
  }
}

/** Stops the agent, the git server and the control plane of the demo. */
export async function demoDown(): Promise<string[]> {
  const state = await readState();
  const stopped: string[] = [];
  for (const record of [state.agent, state.gitServer]) {
    if (record && isRunning(record)) {
      await stopProcess(record);
      stopped.push(record.name);
    }
  }
  await writeState({ ...(state.webhookToken ? { webhookToken: state.webhookToken } : {}) });
  const cluster = await down(CLUSTER);
  return [...stopped, ...cluster.stopped];
}
