// Wiring for `capstan agent`: the Kubernetes adapters, git, renderers and the engine, into the controller.
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { FastifyInstance } from 'fastify';
import { buildAgentApi } from '../api/agent-api.ts';
import { WebhookSecretsReader } from '../adapters/kube/webhook-secrets.ts';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  IN_CLUSTER,
  REQUEST_ANNOTATIONS,
  resolveSpec,
  validateApplication,
} from '../contracts/application.ts';
import { pushAffects } from '../controller/refresh-match.ts';
import { mapBounded } from '../engine/concurrency.ts';
import { KubeApplicationStore } from '../adapters/kube/application-store.ts';
import { ConfigMapInventoryStore, DEFAULT_INVENTORY_NAMESPACE } from '../adapters/kube/inventory-store.ts';
import { KubeCluster, loadKubeConfig } from '../adapters/kube/kube-cluster.ts';
import { KubeLeaseLock } from '../adapters/kube/lease-lock.ts';
import { RestClient } from '../adapters/kube/rest-client.ts';
import { KubeWatcher } from '../adapters/kube/watch.ts';
import { GitSourceFetcher } from '../adapters/git/git-source.ts';
import { ManifestRenderer } from '../adapters/render/renderer.ts';
import { ChartRepository } from '../adapters/render/chart-repository.ts';
import { ChartSourceFetcher, withChartSources } from '../adapters/render/chart-source.ts';
import type { SourceFetcher } from '../ports/source.ts';
import type { SandboxOptions } from '../adapters/render/sandbox.ts';

export { SANDBOX_MODES } from '../adapters/render/sandbox.ts';
import { CapstanError } from '../core/errors.ts';
import { assessHealth } from '../core/health-rules.ts';
import { runAgentLoop, type AgentLoopOptions } from '../controller/agent.ts';
import { WatchedApplications } from '../controller/watched-applications.ts';
import { CredentialsCache } from '../controller/credentials-cache.ts';
export { DEFAULT_LEADER_ELECTION } from '../controller/leader-election.ts';
import { agentMetrics, Registry, type AgentMetrics } from '../controller/metrics.ts';
import { ApplicationReconciler, type Destination } from '../controller/reconciler.ts';
import { ManagedResources } from '../controller/managed-resources.ts';
import { ProjectCache } from '../controller/projects.ts';
import { RenderCache } from '../controller/render-cache.ts';
import { DEFAULT_NAMESPACE } from '../contracts/install.ts';
import { PROJECT_API_VERSION, PROJECT_KIND } from '../contracts/project.ts';
import type { WorkQueue } from '../controller/work-queue.ts';
import type { ResourceType } from '../ports/cluster.ts';
import type { RenderLimits } from '../ports/renderer.ts';
import { systemClock } from '../adapters/clock.ts';
import { ClusterRegistry } from '../controller/cluster-registry.ts';
import { serviceAccountUser } from '../core/policy.ts';
import { buildDestination } from './clusters.ts';
import { requestPipelineRuns, requestPullRequestRuns } from '../pipelines/webhook-requests.ts';
import { KubePipelineDirectory } from '../adapters/kube/pipelines.ts';
import { cacheRoot, toolPaths } from '../adapters/render/tools.ts';
import { jsonLog } from '../adapters/json-log.ts';
import { credentialsFrom } from '../adapters/git/secret-credentials.ts';
import type { Logger } from '../ports/logger.ts';

export interface AgentOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  /** Applications reconciled at once. Default 4. */
  readonly concurrency?: number;
  /** Only Applications with these labels (`key=value,...`). */
  readonly labelSelector?: string;
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
  /**
   * The agent's own namespace: cluster Secrets, the webhook Secret and, by default, the Lease are there.
   * Default: the leader election's namespace, else POD_NAMESPACE, else capstan-system.
   */
  readonly namespace?: string;
  /** Bounds on every render (time limit, objects, bytes). Default: DEFAULT_RENDER_LIMITS (60 s, 5000 objects). */
  readonly renderLimits?: Partial<RenderLimits>;
  /**
   * Hosts repositories may be on (names, addresses, `*.example.com`). Empty: any public host. Loopback,
   * link-local, private and cluster-internal hosts only when named here exactly (src/adapters/git/hosts.ts).
   */
  readonly repositoryHosts?: readonly string[];
  /** Where kustomize and helm run. Default: auto, bubblewrap else Landlock (src/adapters/render/sandbox.ts). */
  readonly renderSandbox?: SandboxOptions;
  /**
   * The ServiceAccount, in each Application's namespace, that applies when its project's destination
   * names none (impersonation; deploy/install.yaml sets `capstan-deployer`). Absent: the agent's identity.
   */
  readonly defaultServiceAccount?: string;
  /**
   * Where the inventories of Applications deployed `in-cluster` are kept (ConfigMaps). Default
   * capstan-system, where `capstan push` and `capstan app` look too; the install names its namespace.
   */
  readonly inventoryNamespace?: string;
  readonly log?: Logger;
  readonly metrics?: AgentMetrics;
  readonly onQueue?: (queue: WorkQueue | undefined) => void;
  /**
   * HTTP (default host 0.0.0.0): health, readiness and metrics on each of `ports` (default 8080 and
   * 8081); webhooks on `webhookPort` alone when given (the CLI's default is 8082), else on each of
   * `ports` too (tests). false: none.
   */
  readonly http?:
    false | { readonly host?: string; readonly ports?: readonly number[]; readonly webhookPort?: number };
  /** Told where the HTTP server listens (port 0 picks a free one). */
  readonly onListening?: (addresses: readonly string[]) => void;
  /** The Secret with the webhook secrets (keys github, gitlab, gitea, bitbucket, generic), in the agent's namespace. */
  readonly webhookSecretName?: string;
}

/** The agent's adapters on its own cluster, shared by the steps below. */
interface AgentCluster {
  readonly config: KubeConfig;
  readonly cluster: KubeCluster;
  readonly watchClient: RestClient;
  readonly applicationType: ResourceType;
  /** The agent's own namespace: cluster Secrets, the webhook Secret and, by default, the Lease. */
  readonly namespace: string;
}

/** Runs the agent until `signal` aborts. */
export async function runAgent(options: AgentOptions, signal: AbortSignal): Promise<void> {
  const log = options.log ?? jsonLog;
  const own = await connectAgent(options);
  const { cluster, watchClient } = own;
  const registry = new Registry();
  const metrics = options.metrics ?? agentMetrics(registry);
  const applications = new KubeApplicationStore(cluster.client);
  // The reconciler reads Applications from the agent's watch when it is surely current (one GET per
  // reconcile otherwise); the HTTP API reads and writes the API server directly.
  const watchedApplications = new WatchedApplications(applications, (source) => {
    metrics.applicationReads.inc({ source });
  });
  const clusters = new ClusterRegistry({
    cluster,
    namespace: own.namespace,
    inCluster: inClusterDestination(own, options),
    build: buildDestination,
    log,
  });
  const managed = new ManagedResources({ assessHealth, metrics, log });
  const reconciler = buildReconciler(options, {
    own,
    clusters,
    managed,
    applications: watchedApplications,
    metrics,
    log,
  });
  const servers =
    options.http === false
      ? []
      : await startHttp(options, { registry, applications, cluster, namespace: own.namespace, log });
  try {
    await runAgentLoop(
      {
        applicationType: own.applicationType,
        watcher: new KubeWatcher(watchClient),
        reconciler,
        managed,
        applicationCache: watchedApplications,
        clock: systemClock,
        concurrency: options.concurrency ?? 4,
        ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
        metrics,
        log,
        ...(options.onQueue ? { onQueue: options.onQueue } : {}),
        ...electionOf(options, own),
      },
      signal,
    );
  } finally {
    for (const server of servers) await server.close();
    clusters.close();
    cluster.close();
    watchClient.close();
  }
}

/** The agent's clients on its own cluster; AGENT_CRD_MISSING when the cluster does not serve Applications. */
async function connectAgent(options: AgentOptions): Promise<AgentCluster> {
  const config = loadKubeConfig({ kubeconfig: options.kubeconfig, context: options.context });
  const cluster = new KubeCluster(config);
  const watchClient = new RestClient(config);
  const applicationType = await cluster.resourceType(APPLICATION_API_VERSION, APPLICATION_KIND);
  if (!applicationType) {
    cluster.close();
    watchClient.close();
    throw new CapstanError(
      'AGENT_CRD_MISSING',
      `the cluster does not serve ${APPLICATION_API_VERSION} ${APPLICATION_KIND}: install Capstan's CRDs first (kubectl apply -f deploy/install.yaml)`,
    );
  }
  const namespace =
    options.namespace ??
    (options.leaderElection === false ? undefined : options.leaderElection?.namespace) ??
    process.env['POD_NAMESPACE'] ??
    DEFAULT_NAMESPACE;
  return { config, cluster, watchClient, applicationType, namespace };
}

/** The destination `in-cluster`: the agent's own cluster, impersonating the ServiceAccounts projects name. */
function inClusterDestination(own: AgentCluster, options: AgentOptions): Destination {
  const { cluster } = own;
  return {
    name: IN_CLUSTER,
    cluster,
    inventory: new ConfigMapInventoryStore(
      cluster,
      options.inventoryNamespace ?? DEFAULT_INVENTORY_NAMESPACE,
    ),
    watcher: new KubeWatcher(own.watchClient),
    as: (serviceAccount) => cluster.impersonating(serviceAccountUser(serviceAccount)),
  };
}

/** The reconciler over git, the renderers, the destinations, the Projects and the credentials. */
function buildReconciler(
  options: AgentOptions,
  parts: {
    own: AgentCluster;
    clusters: ClusterRegistry;
    managed: ManagedResources;
    applications: WatchedApplications;
    metrics: AgentMetrics;
    log: Logger;
  },
): ApplicationReconciler {
  const { own, metrics, log } = parts;
  const credentials = new CredentialsCache((namespace, name) =>
    credentialsFrom(own.cluster, namespace, name),
  );
  const projects = projectCache(own.cluster);
  return new ApplicationReconciler({
    projects: (name) => projects.get(name),
    // The agent's state (its Lease, cluster Secrets, inventories) is never an Application's to write.
    protectedNamespaces: [
      ...new Set([own.namespace, DEFAULT_NAMESPACE, options.inventoryNamespace ?? DEFAULT_NAMESPACE]),
    ],
    ...(options.defaultServiceAccount === undefined
      ? {}
      : { defaultServiceAccount: options.defaultServiceAccount }),
    managed: parts.managed,
    applications: parts.applications,
    source: gitSource(options, metrics),
    renders: renderCache(options, log),
    // `in-cluster`, or a cluster registered as a Secret in the agent's namespace.
    destination: (name) => parts.clusters.resolve(name),
    credentials: (namespace, name) => credentials.get(namespace, name),
    forgetCredentials: (namespace, name) => {
      credentials.forget(namespace, name);
    },
    clock: systemClock,
    assessHealth,
    metrics,
    log,
  });
}

/** Projects bound what each Application may do: one list of them every few seconds for all reconciles. */
function projectCache(cluster: KubeCluster): ProjectCache {
  return new ProjectCache({
    list: async () => {
      // A CRD installed after the agent started is found by looking again (at most every few seconds).
      const type =
        (await cluster.resourceType(PROJECT_API_VERSION, PROJECT_KIND)) ??
        (await cluster.resourceType(PROJECT_API_VERSION, PROJECT_KIND, { refresh: true }));
      return type ? cluster.list(type, '') : [];
    },
  });
}

/** Git repositories, and charts of Helm repositories (a source with `chart`) from the same allowed hosts. */
function gitSource(options: AgentOptions, metrics: AgentMetrics): SourceFetcher {
  const cache = options.cacheDir ?? cacheRoot();
  const hosts = { allow: options.repositoryHosts ?? [] };
  const charts = new ChartSourceFetcher({
    cacheDir: join(cache, 'helm', 'sources'),
    charts: new ChartRepository({ cacheDir: join(cache, 'helm'), hosts }),
  });
  const git = new GitSourceFetcher({
    cacheDir: join(cache, 'git'),
    hosts,
    // Counted where a fetch runs: once per new commit of a repository, however many Applications use it.
    // (ls-remote is counted by the reconciler, per resolve.)
    onRemoteOperation: (operation) => {
      if (operation.kind === 'fetch') metrics.gitFetches.inc({ result: operation.result });
    },
  });
  return withChartSources(git, charts);
}

function renderCache(options: AgentOptions, log: Logger): RenderCache {
  const progress = (line: string): void => {
    log({ level: 'info', msg: line });
  };
  const tools = toolPaths(progress);
  const renderer = new ManifestRenderer({
    kustomizeBinary: tools.kustomize,
    helmBinary: tools.helm,
    jsonnetBinary: tools.jsonnet,
    ...(options.renderLimits ? { limits: options.renderLimits } : {}),
    sandbox: { confine: tools.confine, ...options.renderSandbox },
    // Charts of Helm repositories: kept by digest, from the hosts git may reach.
    charts: {
      cacheDir: join(options.cacheDir ?? cacheRoot(), 'helm'),
      hosts: { allow: options.repositoryHosts ?? [] },
    },
  });
  reportSandbox(renderer, log);
  return new RenderCache(renderer);
}

/** Says once, at start, which sandbox kustomize and helm run in, or why none can (their renders then fail). */
function reportSandbox(renderer: ManifestRenderer, log: Logger): void {
  renderer.sandbox().then(
    (backend) => {
      log({ level: 'info', msg: 'render sandbox', sandbox: backend.name, detail: backend.detail });
    },
    (error: unknown) => {
      log({
        level: 'warn',
        msg: 'render sandbox unavailable',
        code: error instanceof CapstanError ? error.code : undefined,
        detail: error instanceof Error ? error.message : String(error),
      });
    },
  );
}

/** Leader election over a Lease (in the agent's namespace unless told), unless it is off. */
function electionOf(options: AgentOptions, own: AgentCluster): Pick<AgentLoopOptions, 'election'> {
  if (options.leaderElection === false) return {};
  const election = options.leaderElection ?? {};
  const identity = election.identity ?? process.env['POD_NAME'] ?? `${hostname()}-${process.pid}`;
  return {
    election: {
      lock: new KubeLeaseLock(new RestClient(own.config, { timeoutMs: 2_000 }), {
        namespace: election.namespace ?? own.namespace,
        name: election.name ?? 'capstan-agent',
      }),
      identity,
      ...(election.leaseDurationSeconds === undefined
        ? {}
        : { leaseDurationSeconds: election.leaseDurationSeconds }),
      ...(election.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: election.renewDeadlineMs }),
      ...(election.retryPeriodMs === undefined ? {} : { retryPeriodMs: election.retryPeriodMs }),
    },
  };
}

/** Health, readiness and metrics on each configured port; the webhook receiver on its own (see AgentOptions.http). */
async function startHttp(
  options: AgentOptions,
  parts: {
    registry: Registry;
    applications: KubeApplicationStore;
    cluster: KubeCluster;
    namespace: string;
    log: Logger;
  },
): Promise<FastifyInstance[]> {
  const http = options.http === false ? undefined : options.http;
  const secretName = options.webhookSecretName ?? 'capstan-webhooks';
  const webhookSecrets = new WebhookSecretsReader(parts.cluster, {
    namespace: parts.namespace,
    name: secretName,
  });
  // Run requests from webhooks are written as given (unsealed): the driver records their `by` as unverified.
  const pipelineDirectory = new KubePipelineDirectory(parts.cluster);
  const api = (serve: { probes: boolean; metrics: boolean; webhooks: boolean }) =>
    buildAgentApi({
      serve,
      metrics: () => parts.registry.expose(),
      ready: () => ({ ready: true }),
      webhookSecrets: () => webhookSecrets.get(),
      refresh: async (event) => {
        const matched: string[] = [];
        // The time first: the agent re-uses only git resolutions that started after it (requestTime).
        const requestId = `${String(Date.now())}-webhook-${event.deliveryId ?? ''}`.slice(0, 200);
        const affected = (
          await parts.applications.list(options.labelSelector ? { labelSelector: options.labelSelector } : {})
        ).filter((object) => {
          const validation = validateApplication(object);
          return validation.ok && pushAffects(resolveSpec(validation.value), event);
        });
        // An annotation, not a local queue: whichever replica got the webhook, the leader sees it.
        // In parallel: a push to a monorepo may touch hundreds, and the sender waits (GitHub 10 s).
        await mapBounded(affected, 16, async (object) => {
          const namespace = object.metadata.namespace ?? 'default';
          const name = object.metadata.name ?? '';
          await parts.applications.annotate(namespace, name, REQUEST_ANNOTATIONS.refresh, requestId);
          matched.push(`${namespace}/${name}`);
        });
        // Pipelines of the repository: a run request each, which the pipeline driver picks up.
        const pipelines = await requestPipelineRuns(pipelineDirectory, event);
        return { applications: matched.sort(), pipelines };
      },
      // Pull requests run Pipelines only; an Application follows branches, not pull requests.
      pullRequest: (event) => requestPullRequestRuns(pipelineDirectory, event),
      logger: parts.log,
    });
  const servers: FastifyInstance[] = [];
  const addresses: string[] = [];
  const ownWebhookPort = http?.webhookPort !== undefined;
  const listeners = [
    ...(http?.ports ?? [8080, 8081]).map((port) => ({
      port,
      serve: { probes: true, metrics: true, webhooks: !ownWebhookPort },
    })),
    ...(ownWebhookPort
      ? [{ port: http.webhookPort, serve: { probes: false, metrics: false, webhooks: true } }]
      : []),
  ];
  for (const { port, serve } of listeners) {
    const server = api(serve);
    addresses.push(await server.listen({ host: http?.host ?? '0.0.0.0', port }));
    servers.push(server);
  }
  // As the server does: where it listens (port 0 picks one), and that it has started (tests wait for it).
  parts.log({ level: 'info', msg: 'capstan agent listening', addresses });
  options.onListening?.(addresses);
  return servers;
}
