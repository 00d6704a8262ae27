// Wiring for `capstan agent`: the Kubernetes adapters, git, renderers and the engine, into the controller.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { APPLICATION_API_VERSION, APPLICATION_KIND, IN_CLUSTER } from '../contracts/application.ts';
import { KubeApplicationStore } from '../adapters/kube/application-store.ts';
import { ConfigMapInventoryStore } from '../adapters/kube/inventory-store.ts';
import { KubeCluster, loadKubeConfig } from '../adapters/kube/kube-cluster.ts';
import { KubeLeaseLock } from '../adapters/kube/lease-lock.ts';
import { RestClient } from '../adapters/kube/rest-client.ts';
import { KubeWatcher } from '../adapters/kube/watch.ts';
import { GitSourceFetcher } from '../adapters/git/git-source.ts';
import { ManifestRenderer } from '../adapters/render/renderer.ts';
import { CapstanError } from '../core/errors.ts';
import { assessHealth } from '../core/health-rules.ts';
import { runAgentLoop } from '../controller/agent.ts';
import { agentMetrics, Registry, type AgentMetrics } from '../controller/metrics.ts';
import { ApplicationReconciler, type Destination } from '../controller/reconciler.ts';
import { RenderCache } from '../controller/render-cache.ts';
import type { WorkQueue } from '../controller/work-queue.ts';
import type { GitCredentials } from '../ports/source.ts';
import { systemClock } from './clock.ts';
import { cacheRoot, toolPaths } from './push.ts';

export interface AgentOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  /** Applications reconciled at once. Default 4. */
  readonly concurrency?: number;
  /** Leader election over a Lease in this namespace (default: POD_NAMESPACE or capstan-system); false: act alone. */
  readonly leaderElection?:
    | false
    | {
        readonly namespace?: string;
        readonly name?: string;
        readonly identity?: string;
        readonly leaseDurationSeconds?: number;
        readonly renewDeadlineMs?: number;
        readonly retryPeriodMs?: number;
      };
  readonly cacheDir?: string;
  readonly log?: (line: Record<string, unknown>) => void;
  readonly metrics?: AgentMetrics;
  readonly onQueue?: (queue: WorkQueue | undefined) => void;
}

/** Reads git credentials from a Secret: username+password, token, or sshPrivateKey+knownHosts. */
async function credentialsFrom(
  cluster: KubeCluster,
  namespace: string,
  name: string,
): Promise<GitCredentials> {
  const type = await cluster.resourceType('v1', 'Secret');
  const secret = type ? await cluster.get(type, namespace, name) : undefined;
  const subject = `Secret/${namespace}/${name}`;
  if (!secret)
    throw new CapstanError(
      'SOURCE_SECRET_NOT_FOUND',
      `${subject} (spec.source.secretRef) does not exist; create it with the git credentials`,
      { subject },
    );
  const data = (secret['data'] ?? {}) as Record<string, string>;
  const value = (key: string) =>
    data[key] === undefined ? undefined : Buffer.from(data[key], 'base64').toString('utf8');
  const token = value('token');
  if (token) return { kind: 'token', token };
  const username = value('username');
  const password = value('password');
  if (username !== undefined && password !== undefined) return { kind: 'basic', username, password };
  const privateKey = value('sshPrivateKey');
  const knownHosts = value('knownHosts');
  if (privateKey && knownHosts) return { kind: 'ssh', privateKey, knownHosts };
  throw new CapstanError(
    'SOURCE_BAD_CREDENTIALS',
    `${subject} has none of: token; username and password; sshPrivateKey and knownHosts`,
    { subject },
  );
}

/** Runs the agent until `signal` aborts. */
export async function runAgent(options: AgentOptions, signal: AbortSignal): Promise<void> {
  const log =
    options.log ??
    ((line: Record<string, unknown>) =>
      process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`));
  const config = loadKubeConfig({ kubeconfig: options.kubeconfig, context: options.context });
  const cluster = new KubeCluster(config);
  const watchClient = new RestClient(config);
  const applicationType = await cluster.resourceType(APPLICATION_API_VERSION, APPLICATION_KIND);
  if (!applicationType) {
    throw new CapstanError(
      'AGENT_CRD_MISSING',
      `the cluster does not serve ${APPLICATION_API_VERSION} ${APPLICATION_KIND}: install Capstan's CRDs first (kubectl apply -f deploy/install.yaml)`,
    );
  }
  const tools = await toolPaths((line) => {
    log({ level: 'info', msg: line });
  });
  const metrics = options.metrics ?? agentMetrics(new Registry());
  const inCluster: Destination = { cluster, inventory: new ConfigMapInventoryStore(cluster) };
  const reconciler = new ApplicationReconciler({
    applications: new KubeApplicationStore(cluster.client),
    source: new GitSourceFetcher({ cacheDir: join(options.cacheDir ?? cacheRoot(), 'git') }),
    renders: new RenderCache(
      new ManifestRenderer({ kustomizeBinary: tools.kustomize, helmBinary: tools.helm }),
    ),
    destination: (name) => {
      if (name === IN_CLUSTER) return Promise.resolve(inCluster);
      return Promise.reject(
        new CapstanError(
          'DESTINATION_UNKNOWN',
          `destination cluster '${name}' is not registered; this version deploys to '${IN_CLUSTER}' only`,
        ),
      );
    },
    credentials: (namespace, name) => credentialsFrom(cluster, namespace, name),
    clock: systemClock,
    assessHealth,
    metrics,
    log,
  });
  const election = options.leaderElection === false ? undefined : (options.leaderElection ?? {});
  const identity = election?.identity ?? process.env['POD_NAME'] ?? `${hostname()}-${process.pid}`;
  try {
    await runAgentLoop(
      {
        applicationType,
        watcher: new KubeWatcher(watchClient),
        reconciler,
        clock: systemClock,
        concurrency: options.concurrency ?? 4,
        metrics,
        log,
        ...(options.onQueue ? { onQueue: options.onQueue } : {}),
        ...(election
          ? {
              election: {
                lock: new KubeLeaseLock(new RestClient(config, { timeoutMs: 2_000 }), {
                  namespace: election.namespace ?? process.env['POD_NAMESPACE'] ?? 'capstan-system',
                  name: election.name ?? 'capstan-agent',
                }),
                identity,
                ...(election.leaseDurationSeconds === undefined
                  ? {}
                  : { leaseDurationSeconds: election.leaseDurationSeconds }),
                ...(election.renewDeadlineMs === undefined
                  ? {}
                  : { renewDeadlineMs: election.renewDeadlineMs }),
                ...(election.retryPeriodMs === undefined ? {} : { retryPeriodMs: election.retryPeriodMs }),
              },
            }
          : {}),
      },
      signal,
    );
  } finally {
    cluster.close();
    watchClient.close();
  }
}
