// Wiring for the push-mode commands (render, diff, sync): adapters in, engine out.
import { access, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { CapstanError } from '../core/errors.ts';
import { assessHealth } from '../core/health-rules.ts';
import { ConfigMapInventoryStore, DEFAULT_INVENTORY_NAMESPACE } from '../adapters/kube/inventory-store.ts';
import { KubeCluster, loadKubeConfig } from '../adapters/kube/kube-cluster.ts';
import { GitSourceFetcher } from '../adapters/git/git-source.ts';
import { ManifestRenderer } from '../adapters/render/renderer.ts';
import { ChartRepository } from '../adapters/render/chart-repository.ts';
import { ChartSourceFetcher, recordedChartRevision } from '../adapters/render/chart-source.ts';
import { cacheRoot, toolPaths } from '../adapters/render/tools.ts';
import type { SyncDeps, SyncEvent } from '../engine/context.ts';
import type { Cluster } from '../ports/cluster.ts';
import type { HelmCapabilities, RenderRequest, RenderResult } from '../ports/renderer.ts';
import type { CommitInfo, GitCredentials } from '../ports/source.ts';
import { systemClock } from '../adapters/clock.ts';

export type DesiredStateSource =
  | { readonly kind: 'local'; readonly dir: string }
  | {
      readonly kind: 'git';
      readonly repoURL: string;
      readonly revision: string;
      readonly path: string;
      readonly allowInsecureHttp: boolean;
      readonly timeoutMs?: number;
    }
  | {
      /** A chart of a Helm repository (https:// with an index.yaml, oci://), at a version or the newest in a range. */
      readonly kind: 'chart';
      readonly repoURL: string;
      readonly chart: string;
      readonly version: string;
      readonly allowInsecureHttp: boolean;
      readonly timeoutMs?: number;
    };

export type RenderSettings = Omit<RenderRequest, 'root' | 'path'>;

export interface DesiredState {
  readonly result: RenderResult;
  readonly revision?: string;
  readonly commit?: CommitInfo;
}

export { cacheRoot };

/** Git credentials from the environment only: never from flags, which other users can read in the process list. */
export async function gitCredentialsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): Promise<GitCredentials | undefined> {
  if (env['CAPSTAN_GIT_TOKEN']) return { kind: 'token', token: env['CAPSTAN_GIT_TOKEN'] };
  if (env['CAPSTAN_GIT_USERNAME'] && env['CAPSTAN_GIT_PASSWORD'] !== undefined) {
    return { kind: 'basic', username: env['CAPSTAN_GIT_USERNAME'], password: env['CAPSTAN_GIT_PASSWORD'] };
  }
  if (env['CAPSTAN_GIT_SSH_KEY_FILE']) {
    const knownHosts = env['CAPSTAN_GIT_KNOWN_HOSTS_FILE'];
    if (!knownHosts)
      throw new CapstanError(
        'SOURCE_BAD_CREDENTIALS',
        'CAPSTAN_GIT_SSH_KEY_FILE needs CAPSTAN_GIT_KNOWN_HOSTS_FILE: host keys are always checked',
      );
    return {
      kind: 'ssh',
      privateKey: await readFile(env['CAPSTAN_GIT_SSH_KEY_FILE'], 'utf8'),
      knownHosts: await readFile(knownHosts, 'utf8'),
    };
  }
  return undefined;
}

/**
 * Credentials and trust for Helm chart repositories, from the environment only (as git's):
 * CAPSTAN_HELM_USERNAME and CAPSTAN_HELM_PASSWORD, or CAPSTAN_HELM_TOKEN, bound to
 * CAPSTAN_HELM_REPOSITORY_URL when set (else sent to every chart repository of the render);
 * CAPSTAN_HELM_CA_FILE, a PEM file of CAs trusted besides the system's (a private registry).
 */
export async function chartAccessFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ credentials: GitCredentials[]; ca?: string }> {
  const bound = env['CAPSTAN_HELM_REPOSITORY_URL'] ? { urlPrefix: env['CAPSTAN_HELM_REPOSITORY_URL'] } : {};
  const credentials: GitCredentials[] = [];
  if (env['CAPSTAN_HELM_TOKEN'])
    credentials.push({ kind: 'token', token: env['CAPSTAN_HELM_TOKEN'], ...bound });
  else if (env['CAPSTAN_HELM_USERNAME'] && env['CAPSTAN_HELM_PASSWORD'] !== undefined)
    credentials.push({
      kind: 'basic',
      username: env['CAPSTAN_HELM_USERNAME'],
      password: env['CAPSTAN_HELM_PASSWORD'],
      ...bound,
    });
  const caFile = env['CAPSTAN_HELM_CA_FILE'];
  return { credentials, ...(caFile ? { ca: await readFile(caFile, 'utf8') } : {}) };
}

/** The nearest folder at or above `dir` that holds a `.git`, if any. */
async function enclosingWorkTree(dir: string): Promise<string | undefined> {
  for (let current = dir; ; current = dirname(current)) {
    try {
      await access(join(current, '.git'));
      return current;
    } catch {
      if (dirname(current) === current) return undefined;
    }
  }
}

/**
 * Credentials given by the caller (an Application's Secrets, read as the agent reads them) instead of
 * the environment's: for git, and for the Helm chart repositories of the render.
 */
export interface SourceAccess {
  readonly git?: GitCredentials;
  readonly chartCredentials?: readonly GitCredentials[];
}

/** Fetches (for git) and renders the desired state; credentials from `access`, else the environment. */
export async function renderDesiredState(
  source: DesiredStateSource,
  settings: RenderSettings,
  progress: (line: string) => void,
  access: SourceAccess = {},
): Promise<DesiredState> {
  const tools = toolPaths(progress);
  const fromEnv = await chartAccessFromEnv();
  const charts = { ...fromEnv, credentials: access.chartCredentials ?? fromEnv.credentials };
  const renderer = new ManifestRenderer({
    kustomizeBinary: tools.kustomize,
    helmBinary: tools.helm,
    jsonnetBinary: tools.jsonnet,
    charts: { cacheDir: join(cacheRoot(), 'helm'), ...(charts.ca === undefined ? {} : { ca: charts.ca }) },
  });
  const request = { ...settings, chartCredentials: charts.credentials };
  if (source.kind === 'local') {
    // Confined to the enclosing git work tree, as a checkout would be: an overlay may use ../base.
    const dir = resolve(source.dir);
    const root = (await enclosingWorkTree(dir)) ?? dir;
    return { result: await renderer.render({ ...request, root, path: relative(root, dir) || '.' }) };
  }
  if (source.kind === 'chart') {
    // The chart's own credentials: the Application's secretRef (as git's), else the environment's.
    const credentials = access.git ? [access.git] : fromEnv.credentials;
    return renderChart(source, { renderer, request, charts: { ...charts, credentials }, progress });
  }
  const fetcher = new GitSourceFetcher({ cacheDir: join(cacheRoot(), 'git') });
  const credentials = access.git ?? (await gitCredentialsFromEnv());
  const options = {
    allowInsecureHttp: source.allowInsecureHttp,
    ...(credentials ? { credentials } : {}),
    ...(source.timeoutMs === undefined ? {} : { timeoutMs: source.timeoutMs }),
  };
  const spec = { repoURL: source.repoURL, targetRevision: source.revision };
  progress(`resolving ${source.revision || 'HEAD'}`);
  const revision = await fetcher.resolve(spec, options);
  progress(`fetching ${revision.sha.slice(0, 12)} (${revision.ref})`);
  const tree = await fetcher.checkout(spec, revision, options);
  const result = await renderer.render({
    ...request,
    insecureHttp: settings.insecureHttp === true || source.allowInsecureHttp,
    root: tree.dir,
    path: source.path,
  });
  return { result, revision: revision.sha, commit: tree.commit };
}

/** A chart of a Helm repository: resolved (version, digest), unpacked into the cache, rendered by helm. */
async function renderChart(
  source: Extract<DesiredStateSource, { kind: 'chart' }>,
  with_: {
    renderer: ManifestRenderer;
    request: Omit<RenderRequest, 'root' | 'path'>;
    charts: { credentials: readonly GitCredentials[]; ca?: string };
    progress: (line: string) => void;
  },
): Promise<DesiredState> {
  const { charts, progress } = with_;
  const fetcher = new ChartSourceFetcher({
    cacheDir: join(cacheRoot(), 'helm', 'sources'),
    charts: new ChartRepository({
      cacheDir: join(cacheRoot(), 'helm'),
      ...(charts.ca === undefined ? {} : { ca: charts.ca }),
    }),
    ...(source.timeoutMs === undefined ? {} : { timeoutMs: source.timeoutMs }),
  });
  const spec = { repoURL: source.repoURL, chart: source.chart, targetRevision: source.version };
  const [credentials] = charts.credentials;
  const options = { allowInsecureHttp: source.allowInsecureHttp, ...(credentials ? { credentials } : {}) };
  // A revision recorded before (`1.2.0@sha256:…`, from an Application's history) needs no resolve.
  let revision = recordedChartRevision(source.version);
  if (revision === undefined) {
    progress(`resolving chart ${source.chart} ${source.version || '(newest)'} from ${source.repoURL}`);
    revision = await fetcher.resolve(spec, options);
  }
  progress(`unpacking ${revision.ref} (${revision.sha.slice(revision.sha.indexOf('@') + 1)})`);
  const tree = await fetcher.checkout(spec, revision, options);
  const result = await with_.renderer.render({
    ...with_.request,
    type: 'helm',
    insecureHttp: with_.request.insecureHttp === true || source.allowInsecureHttp,
    root: tree.dir,
    path: source.chart,
  });
  return { result, revision: revision.sha, commit: tree.commit };
}

export interface Connection {
  readonly cluster: KubeCluster;
  readonly deps: SyncDeps;
  close(): void;
}

/** Connects to the target cluster of a kubeconfig, with the inventory store and the real clock. */
export function connect(options: {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  inventoryNamespace?: string | undefined;
  progress?: (event: SyncEvent) => void;
}): Connection {
  const cluster = new KubeCluster(
    loadKubeConfig({ kubeconfig: options.kubeconfig, context: options.context }),
  );
  const deps: SyncDeps = {
    cluster,
    inventory: new ConfigMapInventoryStore(
      cluster,
      options.inventoryNamespace ?? DEFAULT_INVENTORY_NAMESPACE,
    ),
    clock: systemClock,
    assessHealth,
    ...(options.progress ? { progress: options.progress } : {}),
  };
  return {
    cluster,
    deps,
    close: () => {
      cluster.close();
    },
  };
}

/** The target cluster's version and API versions, for `helm template`. */
export async function helmCapabilities(cluster: Cluster): Promise<HelmCapabilities> {
  const info = await cluster.info();
  return { kubeVersion: info.gitVersion, apiVersions: info.apiVersions };
}
