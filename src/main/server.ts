// Wiring for `capstan server`: the Store (SQLite), the watch cache of Applications, the Kubernetes
// writer with the server's own identity, authentication, and the HTTP app of src/api/server.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { FastifyInstance } from 'fastify';
import { buildServerApi } from '../api/server/app.ts';
import { KubeApplicationWriter } from '../adapters/kube/application-writer.ts';
import { KubeCluster, loadKubeConfig } from '../adapters/kube/kube-cluster.ts';
import { RestClient } from '../adapters/kube/rest-client.ts';
import { sharedKey } from '../adapters/kube/shared-key.ts';
import { KubeWatcher } from '../adapters/kube/watch.ts';
import { describeStoreUrl, openPostgresStore } from '../adapters/store/postgres-store.ts';
import { openSqliteStore } from '../adapters/store/sqlite-store.ts';
import { CapstanError, messageOf } from '../core/errors.ts';
import type { KubeObject } from '../core/resource.ts';
import { APPLICATION_API_VERSION, APPLICATION_KIND } from '../contracts/application.ts';
import type { ResourceType } from '../ports/cluster.ts';
import type { WatchHandler } from '../ports/watch.ts';
import type { BuildkitEndpoint } from '../core/build-step.ts';
import type { RunPlacement } from '../core/run-pod.ts';
import type { RunExecutor } from '../ports/run-executor.ts';
import type { Store } from '../ports/store.ts';
import type { ProjectDirectory } from '../server/access.ts';
import { AgentAuditRecorder } from '../server/agent-audit-recorder.ts';
import { keepTidy } from '../server/store-tidy.ts';
import { ApplicationIndex } from '../server/application-index.ts';
import { ProjectIndex } from '../server/project-index.ts';
import { PROJECT_API_VERSION, PROJECT_KIND } from '../contracts/project.ts';
import { Authenticator } from '../server/auth.ts';
import { CursorCodec } from '../server/cursor.ts';
import { DEFAULT_AGENT_NAMESPACE, registeredClusters } from '../adapters/kube/cluster-client.ts';
import { SERVER_FIELD_MANAGER } from '../api/server/applications.ts';
import { serveWebUi } from '../api/server/web-ui.ts';
import { Registry } from '../controller/metrics.ts';
import type { ServerApiOptions } from '../api/server/app.ts';
import type { PipelineController } from '../pipelines/pipeline-controller.ts';
import { KubePipelineDirectory } from '../adapters/kube/pipelines.ts';
import { runRequestKeyOf } from '../contracts/pipeline-request.ts';
import { streamPromotions } from './promotion-stream.ts';
import { drivePipelines, pipelineServices } from './server-pipelines.ts';
import { runNotifications, type NotificationsOptions } from './notifications.ts';
import { environmentStatusWriter, kubeEnvironments, runPromotionDriver } from './promotions.ts';
import { pipelineMetrics } from '../controller/pipeline-metrics.ts';
import { promotionMetrics } from '../controller/promotion-metrics.ts';
import { ResourceViews } from '../server/resource-views.ts';
import { credentialsFrom } from '../adapters/git/secret-credentials.ts';
import { jsonLog } from '../adapters/json-log.ts';
import type { Logger } from '../ports/logger.ts';
import { serverResourceReader } from './server-resources.ts';
import { applicationEvents } from '../adapters/kube/resource-reader.ts';
import { clusterLister, ClusterProbes } from '../server/cluster-probes.ts';
import { singleSignOn, type OidcServerOptions } from './server-sso.ts';

/** The Secret holding the server's shared keys (the page-cursor key), so replicas agree. */
export const SERVER_SECRET = 'capstan-server';
/** The Secret the initial admin password is written to, once, at first start. */
export const INITIAL_ADMIN_SECRET = 'capstan-initial-admin';
export const DEFAULT_AUDIT_RETENTION_DAYS = 90;
/** The web UI as `npm run build:ui` builds it (scripts/setup.sh and the Dockerfile run that). */
export const DEFAULT_UI_ROOT = join(import.meta.dirname, '..', '..', 'ui', 'dist');

export interface ServerOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  /** The server's namespace: its Secrets, and the cluster Secrets it lists. Default POD_NAMESPACE or capstan-system. */
  readonly namespace?: string;
  /** Where the in-cluster agent keeps its inventories. Default the server's namespace (the install's agent's). */
  readonly inventoryNamespace?: string;
  /** The SQLite file. Default `$XDG_DATA_HOME/capstan/server.db` (~/.local/share). */
  readonly database?: string;
  /**
   * A PostgreSQL database shared by several replicas (`postgres://user@host:port/db`), instead of the
   * SQLite file; its password in the URL or in PGPASSWORD. Never logged with its password.
   */
  readonly storeUrl?: string;
  readonly host?: string;
  /** Default 8080; 0 picks a free one. */
  readonly port?: number;
  /** PEM files: serve HTTPS (and Secure cookies). */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Secure cookies without TLS here (behind a proxy that terminates TLS). */
  readonly secureCookies?: boolean;
  /** The built web UI served beside the API. Default ui/dist of this checkout. */
  readonly uiRoot?: string;
  /** Audit entries older than this are deleted, daily. Default 90. */
  readonly auditRetentionDays?: number;
  /** Default: the Project resources of the cluster, watched. */
  readonly projects?: ProjectDirectory;
  /** Repository hosts the server may fetch desired state from (as the agent's). Default: public hosts only. */
  readonly repositoryHosts?: readonly string[];
  readonly log?: Logger;
  /**
   * Pipeline runs (docs/pipelines.md): when given, this process drives them (one replica at a time,
   * over the Lease capstan-pipelines in its namespace), with its Store keeping the runs.
   */
  readonly pipelines?: {
    /** Capstan's image by digest: the run Pods' checkout. */
    readonly capstanImage: string;
    /** Runs finished longer ago are deleted with their logs. Default 90. */
    readonly retentionDays?: number;
    /** Let checkouts fetch over http:// (a dev git server). Default false. */
    readonly allowInsecureHttp?: boolean;
    /** Where runs go. Default: run Pods on this cluster (KubeRunExecutor). */
    readonly executor?: RunExecutor;
    /** buildkitd for image steps (capstan server --buildkit-*). Absent: an image step fails PIPELINE_BUILDKIT_MISSING. */
    readonly buildkit?: BuildkitEndpoint;
    /** The run Pods' pull Secrets (in each Pipeline's namespace) and placement (--run-*). */
    readonly imagePullSecrets?: readonly string[];
    readonly placement?: RunPlacement;
    /** The address browsers reach the server at (--public-url): commit statuses link to runs there. */
    readonly publicUrl?: string;
    /** Registry → the address it answers at from here (--registry-endpoint), for image steps' attestations. */
    readonly registryEndpoints?: Readonly<Record<string, string>>;
  };
  /**
   * Notifications (docs/notifications.md): delivered by one replica at a time (the Lease
   * capstan-notifications) when the Notification CRD is installed. Default on; false: off.
   */
  readonly notifications?:
    false | Omit<NotificationsOptions, 'cluster' | 'watchClient' | 'index' | 'registry' | 'log'>;
  /** Promotions (docs/promotions.md): when given, this process drives them while it holds the Lease capstan-promotions. */
  readonly promotions?: { readonly allowInsecureHttp?: boolean };
  /** Told where the server listens. */
  readonly onListening?: (address: string) => void;
  /** OIDC single sign-on; absent: local users and tokens only. */
  readonly oidc?: OidcServerOptions;
}

export const defaultDatabase = (env: NodeJS.ProcessEnv = process.env): string =>
  join(env['XDG_DATA_HOME'] ?? join(homedir(), '.local', 'share'), 'capstan', 'server.db');

/** Runs the server until `signal` aborts. */
export async function runServer(options: ServerOptions, signal: AbortSignal): Promise<void> {
  const log = options.log ?? jsonLog;
  const namespace = options.namespace ?? process.env['POD_NAMESPACE'] ?? DEFAULT_AGENT_NAMESPACE;
  const store = await openStore(options, log);
  const config = await closingOnError(store, () =>
    loadKubeConfig({ kubeconfig: options.kubeconfig, context: options.context }),
  );
  const cluster = new KubeCluster(config);
  const watchClient = new RestClient(config);
  const stop = new AbortController();
  const onAbort = () => {
    stop.abort();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  let app: FastifyInstance | undefined;
  let closeReader = () => {};
  try {
    const parts: ServerParts = { options, log, namespace, cluster, watchClient, store, stop: stop.signal };
    const secrets = await typeOf(cluster, 'v1', 'Secret');
    const auth = new Authenticator({ store, now: Date.now });
    await announceInitialAdmin(auth, cluster, secrets, namespace, log);
    // Watch caches of Applications and Projects: every read answers from them.
    const watched = await watchCluster(parts);
    const resourceReader = serverResourceReader({
      cluster,
      watchClient,
      namespace,
      inventoryNamespace: options.inventoryNamespace ?? namespace,
      repositoryHosts: options.repositoryHosts ?? [],
    });
    closeReader = resourceReader.close;
    // The page-cursor key shared by replicas, from the Secret capstan-server (made when absent).
    const key = await sharedKey(cluster, secrets, {
      namespace,
      name: SERVER_SECRET,
      fieldManager: SERVER_FIELD_MANAGER,
    });
    const runs = pipelineParts(parts, key);
    app = buildServerApi({
      ...(await serverApiOptions(parts, { secrets, auth, watched, resourceReader, key })),
      ...(runs.metrics || runs.promotionMetrics || options.notifications !== false
        ? { metrics: () => runs.registry.expose() }
        : {}),
      ...(runs.promotionMetrics ? { promotionMetrics: runs.promotionMetrics } : {}),
      ...pipelineServices(options, cluster, runs.pipelines, runs.driving),
      environments: kubeEnvironments(cluster, environmentStatusWriter(cluster, store.promotions)),
    });
    watched.watching.push(...besideTheApi(parts, config, watched.index, runs));
    await serveUntilStopped(app, parts);
    await Promise.all(watched.watching);
  } finally {
    stop.abort();
    signal.removeEventListener('abort', onAbort);
    await app?.close();
    closeReader();
    await store.close();
    watchClient.close();
    cluster.close();
  }
}

/**
 * What runs beside the API until the server stops: environments and promotions in the event stream,
 * the promotions' driver (while this replica holds its Lease) and the pipelines' driver, when asked.
 */
function besideTheApi(
  parts: ServerParts,
  config: KubeConfig,
  index: ApplicationIndex,
  runs: ReturnType<typeof pipelineParts>,
): Promise<void>[] {
  const { options, cluster, watchClient, store, namespace, log, stop } = parts;
  const work = [
    streamPromotions({ cluster, watchClient, promotions: store.promotions, index, signal: stop, log }),
  ];
  if (options.promotions) {
    const allowInsecureHttp = options.promotions.allowInsecureHttp === true;
    work.push(
      runPromotionDriver(
        {
          cluster,
          store,
          log,
          allowInsecureHttp,
          leaderElection: { namespace },
          ...(runs.promotionMetrics ? { metrics: runs.promotionMetrics } : {}),
        },
        stop,
      ),
    );
  }
  if (options.notifications !== false)
    work.push(
      runNotifications(
        {
          leaderElection: { namespace },
          ...options.notifications,
          cluster,
          watchClient,
          index,
          log,
          registry: runs.registry,
        },
        stop,
      ).catch((error: unknown) => {
        log({ level: 'error', msg: 'notifications stopped', error: messageOf(error) });
      }),
    );
  if (options.pipelines)
    work.push(drivePipelines(options, { config, cluster, store, namespace, log, ...runs }, stop));
  return work;
}

/** What pipeline runs need in the server (and the promotions' metrics, on the same registry): their metrics, the directory of Pipelines (its requests sealed), the driver's controller. */
function pipelineParts(parts: ServerParts, key: Uint8Array) {
  const registry = new Registry();
  const requestKey = runRequestKeyOf(key);
  return {
    registry,
    metrics: parts.options.pipelines ? pipelineMetrics(registry) : undefined,
    promotionMetrics: parts.options.promotions ? promotionMetrics(registry) : undefined,
    driving: { controller: undefined } as { controller: PipelineController | undefined },
    requestKey,
    pipelines: new KubePipelineDirectory(parts.cluster, { requestKey }),
  };
}

/** The server API's options but those of pipelines: the watch caches, the cluster's views, auth, the store. */
async function serverApiOptions(
  parts: ServerParts,
  built: {
    secrets: ResourceType;
    auth: Authenticator;
    watched: { index: ApplicationIndex; projects: ProjectDirectory };
    resourceReader: ReturnType<typeof serverResourceReader>;
    key: Buffer;
  },
): Promise<Omit<ServerApiOptions, 'metrics' | 'pipelines' | 'pipelineRuns'>> {
  const { options, cluster, namespace, store, log } = parts;
  const { secrets, resourceReader, key } = built;
  return {
    applications: built.watched.index,
    writer: new KubeApplicationWriter(cluster.client, { fieldManager: SERVER_FIELD_MANAGER }),
    projects: built.watched.projects,
    clusters: clustersOf(cluster, secrets, namespace, resourceReader.version),
    events: (ns, name) => applicationEvents(cluster, ns, name),
    resources: new ResourceViews({ reader: resourceReader.reader }),
    repositories: resourceReader.fetcher,
    repositorySecrets: (ns, name) => credentialsFrom(cluster, ns, name),
    auth: built.auth,
    store,
    cursors: new CursorCodec({ key, now: Date.now }),
    now: Date.now,
    secureCookies: options.tls !== undefined || options.secureCookies === true,
    logger: log,
    ...(options.tls
      ? { https: { cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) } }
      : {}),
    ...(options.oidc
      ? { sso: await singleSignOn(options.oidc, { cluster, secrets, namespace, key, now: Date.now }) }
      : {}),
  };
}

/** Runs `fn`; when it throws, closes the store first (a PostgreSQL pool would keep the process alive). */
async function closingOnError<T>(store: Store, fn: () => T): Promise<T> {
  try {
    return fn();
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** The PostgreSQL store when a URL is given, else the SQLite file; says which (without a password). */
async function openStore(options: ServerOptions, log: Logger): Promise<Store> {
  if (options.storeUrl !== undefined) {
    const store = await openPostgresStore({ url: options.storeUrl });
    log({ level: 'info', msg: 'store opened', store: 'postgres', url: describeStoreUrl(options.storeUrl) });
    return store;
  }
  const path = options.database ?? defaultDatabase();
  const store = openSqliteStore({ path });
  log({ level: 'info', msg: 'store opened', store: 'sqlite', path });
  return store;
}

/** What the steps of runServer share. */
interface ServerParts {
  readonly options: ServerOptions;
  readonly log: Logger;
  readonly namespace: string;
  readonly cluster: KubeCluster;
  readonly watchClient: RestClient;
  readonly store: Store;
  readonly stop: AbortSignal;
}

/** The watch of every Application (recording the agent's syncs in the audit trail) and of every Project. */
async function watchCluster(parts: ServerParts): Promise<{
  index: ApplicationIndex;
  projects: ProjectDirectory;
  watching: Promise<void>[];
}> {
  const { options, log, cluster, store, stop } = parts;
  const applicationType = await typeOf(cluster, APPLICATION_API_VERSION, APPLICATION_KIND);
  const index = new ApplicationIndex();
  // The agent's syncs and rollbacks: new entries of status.history as the watch sees them, and at start
  // and after every re-list (SYNCED) the entries no server recorded yet.
  const recorder = new AgentAuditRecorder({
    audit: store.audit,
    log,
    retentionDays: options.auditRetentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS,
    now: Date.now,
  });
  stop.addEventListener('abort', () => {
    recorder.close();
  });
  index.observe(recorder.observe);
  const handle: WatchHandler = (event) => {
    index.handle(event);
    if (event.type === 'SYNCED') recorder.catchUp(index.applications());
  };
  const watcher = new KubeWatcher(parts.watchClient);
  const watchErrors = (what: string) => (error: CapstanError) => {
    log({ level: 'warn', msg: `${what} watch`, code: error.code, error: error.message });
  };
  const watching = [
    watcher.watch(applicationType, '', handle, { signal: stop, onError: watchErrors('applications') }),
  ];
  if (options.projects) return { index, projects: options.projects, watching };
  const projects = new ProjectIndex({
    onInvalid: (project, errors) => {
      log({ level: 'warn', msg: 'invalid Project grants nothing', project: project.metadata.name, errors });
    },
  });
  const projectType = await cluster.resourceType(PROJECT_API_VERSION, PROJECT_KIND);
  if (projectType)
    watching.push(
      watcher.watch(projectType, '', projects.handle, { signal: stop, onError: watchErrors('projects') }),
    );
  return { index, projects, watching };
}

/** The web UI beside the API, the daily tidy of the store, and the socket, until the server is stopped. */
async function serveUntilStopped(app: FastifyInstance, parts: ServerParts): Promise<void> {
  const { options, log, store, stop } = parts;
  const uiRoot = options.uiRoot ?? DEFAULT_UI_ROOT;
  if (!serveWebUi(app, { root: uiRoot, tls: options.tls !== undefined }))
    log({ level: 'warn', msg: `the web UI is not built (no ${uiRoot}/index.html): run npm run build:ui` });
  const retention = keepTidy(store, options.auditRetentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS, log);
  const address = await app.listen({ host: options.host ?? '0.0.0.0', port: options.port ?? 8080 });
  log({ level: 'info', msg: 'capstan server listening', address, namespace: parts.namespace });
  options.onListening?.(address);
  await new Promise<void>((resolve) => {
    if (stop.aborted) resolve();
    stop.addEventListener(
      'abort',
      () => {
        resolve();
      },
      { once: true },
    );
  });
  clearInterval(retention);
}

async function typeOf(cluster: KubeCluster, apiVersion: string, kind: string): Promise<ResourceType> {
  const type = await cluster.resourceType(apiVersion, kind);
  if (type) return type;
  throw new CapstanError(
    kind === APPLICATION_KIND ? 'APPLICATION_CRD_MISSING' : 'KUBE_TYPE_MISSING',
    `the cluster does not serve ${apiVersion} ${kind}: install Capstan first (kubectl apply --server-side -f deploy/install.yaml)`,
  );
}

/**
 * The first start creates the local admin with a generated password and shows it once: in the Secret
 * capstan-initial-admin (read it with kubectl, then delete it), else on stderr when that cannot be
 * written. Never in the JSON log.
 */
async function announceInitialAdmin(
  auth: Authenticator,
  cluster: KubeCluster,
  secrets: ResourceType,
  namespace: string,
  log: Logger,
): Promise<void> {
  const admin = await auth.ensureAdmin();
  if (!admin.created) return;
  const secret: KubeObject = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: INITIAL_ADMIN_SECRET, namespace, labels: { 'app.kubernetes.io/part-of': 'capstan' } },
    type: 'Opaque',
    stringData: { username: 'admin', password: admin.password },
  };
  try {
    await cluster.apply(secrets, secret, { fieldManager: SERVER_FIELD_MANAGER, force: true });
    log({
      level: 'info',
      msg: `the local admin was created; its password is in Secret ${namespace}/${INITIAL_ADMIN_SECRET} (read it once, then delete the Secret)`,
    });
  } catch (error) {
    log({
      level: 'warn',
      msg: 'the initial admin password could not be written to a Secret',
      error: messageOf(error),
    });
    process.stderr.write(
      `capstan server: the local admin 'admin' has the password ${admin.password} (shown once)\n`,
    );
  }
}

/** The clusters route's source: the registrations in the server's namespace, each usable one probed. */
const clustersOf = (
  cluster: KubeCluster,
  secrets: ResourceType,
  namespace: string,
  version: (name: string) => Promise<string>,
) => clusterLister(() => registeredClusters(cluster, secrets, namespace), new ClusterProbes({ version }));
