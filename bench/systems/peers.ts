// Flux and Argo CD as SystemDrivers: built by scripts/build-peers.sh (bench/peers.ts ensurePeers), run
// as local processes against the benchmark cluster with a ServiceAccount of their own (cluster-admin,
// like Capstan's), given the same applications and interval, each with the settings its maintainers
// recommend for the number of applications (bench/scale.ts). docs/peers.md tells how, and cites them.
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import { mapBounded } from '../../src/engine/concurrency.ts';
import { ensureBinaries } from '../../src/devcluster/binaries.ts';
import {
  applyObjects,
  argoCDObjects,
  ensurePeers,
  fluxObjects,
  fluxSourceName,
  startArgoCD,
  startFlux,
  type AppSetOptions,
  type PeerBuilds,
  type RunningPeer,
} from '../peers.ts';
import { describeScaleSettings, machineTmpfs, scaleSettings } from '../scale.ts';
import type {
  BenchApp,
  BenchEnvironment,
  ProfileTaken,
  RunningSystem,
  SystemDriver,
  SystemSettings,
} from '../system.ts';

/** Applications of one start, as the peers' object builders take them (index i of `apps`). */
function appSet(
  apps: readonly BenchApp[],
  env: BenchEnvironment,
  settings: SystemSettings,
  fluxLayout?: 'shared' | 'per-app',
): AppSetOptions {
  const first = apps[0];
  return {
    ...(fluxLayout === undefined ? {} : { fluxLayout }),
    count: apps.length,
    repoUrl: first?.repoURL ?? '',
    username: env.git.username,
    password: env.git.password,
    name: (i) => apps[i]?.name ?? '',
    path: (i) => apps[i]?.path ?? '',
    namespace: (i) => apps[i]?.namespace ?? '',
    intervalSeconds: settings.intervalSeconds,
  };
}

/** Whether a push of `changedPaths` touches the folder of `app` (what a path-aware webhook does). */
function touches(app: BenchApp, changedPaths: readonly string[]): boolean {
  return changedPaths.some((p) => p === app.path || p.startsWith(`${app.path}/`));
}

async function metrics(url: string | undefined): Promise<string> {
  if (!url) return '';
  try {
    return await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text();
  } catch {
    return '';
  }
}

/**
 * How many manifest generations (renders) an Argo CD repo-server's JSON log records. Argo CD exports no
 * metric for them, but its repo-server logs "setting manifests cache" once for each generation it ran
 * (and "setting manifests cache (error)" for one that failed), after both cache lookups missed; a
 * cache hit logs neither. Lines that are not JSON (a panic's trace) are skipped.
 */
export function argoCDManifestGenerations(log: string): number {
  let n = 0;
  for (const line of log.split('\n')) {
    if (!line.includes('setting manifests cache')) continue;
    try {
      const msg = (JSON.parse(line) as { msg?: unknown }).msg;
      if (msg === 'setting manifests cache' || msg === 'setting manifests cache (error)') n++;
    } catch {
      // not a log record
    }
  }
  return n;
}

/**
 * Saves a Go CPU profile of `seconds` from a component's pprof handler (`/debug/pprof/profile` beside
 * its `/metrics`) to `file`. By node:http: the answer starts only when the profile ends, later than
 * fetch waits for response headers.
 */
async function savePprof(metricsUrl: string, seconds: number, file: string): Promise<void> {
  const url = `${metricsUrl.replace(/\/metrics$/, '')}/debug/pprof/profile?seconds=${String(seconds)}`;
  await new Promise<void>((resolve, reject) => {
    const request = get(url, { timeout: (seconds + 60) * 1000 }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`${url}: HTTP ${String(res.statusCode)}`));
        return;
      }
      pipeline(res, createWriteStream(file)).then(resolve, reject);
    });
    request.on('timeout', () => request.destroy(new Error(`${url}: no answer in ${String(seconds + 60)} s`)));
    request.on('error', reject);
  });
}

/** Profiles every component that serves pprof, at once, for `seconds`; a component that fails is left out. */
async function profilePeer(
  system: string,
  endpoints: Readonly<Record<string, string>>,
  components: readonly string[],
  seconds: number,
  dir: string,
  log: (line: string) => void,
): Promise<ProfileTaken[]> {
  const taken = await Promise.all(
    components.map(async (component): Promise<ProfileTaken | undefined> => {
      const metricsUrl = endpoints[`${component} metrics`];
      if (metricsUrl === undefined) return undefined;
      const path = join(dir, `${system.toLowerCase().replace(/\s+/g, '')}-${component}.pprof`);
      try {
        await savePprof(metricsUrl, seconds, path);
        return { process: component, format: 'pprof', path };
      } catch (error) {
        log(
          `${system}: no profile of ${component}: ${error instanceof Error ? error.message : String(error)}`,
        );
        return undefined;
      }
    }),
  );
  return taken.filter((t) => t !== undefined);
}

/** Removes the finalizers of every object of a kind in a namespace, then deletes them all. */
export async function purge(admin: KubeCluster, base: string): Promise<void> {
  const listed = await admin.client.call('GET', base);
  const items = ((listed.body as { items?: KubeObject[] } | undefined)?.items ?? []).map(
    (o) => o.metadata.name ?? '',
  );
  await mapBounded(items, 16, async (name) => {
    await admin.client
      .call('PATCH', `${base}/${name}`, {
        body: { metadata: { finalizers: null } },
        contentType: 'application/merge-patch+json',
      })
      .catch(() => undefined);
  });
  await admin.client.call('DELETE', base).catch(() => undefined);
}

const builds = new Map<'flux' | 'argocd', Promise<PeerBuilds>>();

/** Builds (or finds in the cache) one peer, once per run of the harness. */
function built(key: 'flux' | 'argocd', log: (line: string) => void): Promise<PeerBuilds> {
  let pending = builds.get(key);
  if (!pending) {
    pending = ensurePeers([key], {
      progress: (l) => {
        log(`peers: ${l}`);
      },
    });
    builds.set(key, pending);
  }
  return pending;
}

function driver(
  name: 'Flux' | 'Argo CD',
  log: (line: string) => void,
  how: (apps: number) => string,
  start: (dir: string, env: BenchEnvironment, settings: SystemSettings) => Promise<RunningSystem>,
): SystemDriver {
  const key = name === 'Flux' ? 'flux' : 'argocd';
  return {
    name,
    describe: how,
    async unavailable() {
      const result = await built(key, log);
      if (result[key]) return undefined;
      return `not built: scripts/build-peers.sh exited ${String(result.exitCode)}${result.error ? `: ${result.error.split('\n').slice(-3).join(' ')}` : ''}`;
    },
    async start(env, settings) {
      const dir = (await built(key, log))[key];
      if (!dir) throw new Error(`${name} is not built`);
      return start(dir, env, settings);
    },
  };
}

export async function peerDrivers(log: (line: string) => void): Promise<SystemDriver[]> {
  const flux = driver(
    'Flux',
    log,
    (apps) =>
      'source-controller and kustomize-controller (Flux 2.9) built from Go modules by scripts/build-peers.sh, ' +
      'local processes, leader election off, a ServiceAccount bound to cluster-admin; the settings of ' +
      `Flux's vertical-scaling guide by scale (bench/scale.ts, docs/peers.md), ${describeScaleSettings(scaleSettings({ apps, tmpfs: machineTmpfs() })).flux}; ` +
      'one Kustomization per application, the same interval on sources and Kustomizations, prune on, `wait: false`; ' +
      'webhook: the `reconcile.fluxcd.io/requestedAt` annotation on every GitRepository of the repository, ' +
      "which is what Flux's Receiver sets on the sources it lists.",
    async (dir, env, settings) => {
      const kubeconfig = await env.cluster.serviceAccountKubeconfig({
        namespace: 'flux-system',
        name: 'flux-bench',
        clusterRole: 'cluster-admin',
      });
      const scale = scaleSettings({ apps: settings.apps, tmpfs: machineTmpfs() }).flux;
      const common = { peerDir: dir, kubeconfig, binDir: await ensureBinaries(), stateDir: env.workDir };
      // A folder of its own on tmpfs for kustomize-controller's builds, removed when it stops.
      const tmp =
        scale.tmpfs === undefined ? undefined : await mkdtemp(join(scale.tmpfs, 'capstan-bench-flux-'));
      const peer: RunningPeer = await startFlux({
        ...common,
        sourceConcurrent: scale.sourceConcurrent,
        kustomizeConcurrent: scale.kustomizeConcurrent,
        requeueDependencySeconds: scale.requeueDependencySeconds,
        ...(tmp === undefined ? {} : { kustomizeTmpDir: tmp }),
      }).catch(async (error: unknown) => {
        if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
        throw error;
      });
      const admin = new KubeCluster(loadKubeConfig({ kubeconfig: env.cluster.adminKubeconfig }));
      const sources = new Set<string>();
      return {
        pids: peer.processes.map((p) => p.pid),
        async createApps(apps) {
          for (const app of apps) sources.add(fluxSourceName(scale.layout, app.name));
          await applyObjects(common, fluxObjects(appSet(apps, env, settings, scale.layout), peer.namespace));
        },
        async refresh() {
          const requestedAt = new Date().toISOString();
          await mapBounded([...sources], 16, async (source) => {
            await admin.client.call(
              'PATCH',
              `/apis/source.toolkit.fluxcd.io/v1/namespaces/${peer.namespace}/gitrepositories/${source}`,
              {
                body: { metadata: { annotations: { 'reconcile.fluxcd.io/requestedAt': requestedAt } } },
                contentType: 'application/merge-patch+json',
              },
            );
          });
        },
        async profile(seconds) {
          if (settings.profileDir === undefined) return [];
          return profilePeer(
            'Flux',
            peer.endpoints,
            ['source-controller', 'kustomize-controller'],
            seconds,
            settings.profileDir,
            log,
          );
        },
        async counters() {
          const text = await metrics(peer.endpoints['kustomize-controller metrics']);
          // Each Kustomization reconcile builds (renders) its folder.
          const renders = text
            .split('\n')
            .filter(
              (l) =>
                l.startsWith('controller_runtime_reconcile_total{') &&
                l.includes('controller="kustomization"'),
            )
            .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
          return text === '' ? {} : { renders };
        },
        async stop() {
          await peer.stop();
          if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
          await purge(
            admin,
            `/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${peer.namespace}/kustomizations`,
          );
          await purge(
            admin,
            `/apis/source.toolkit.fluxcd.io/v1/namespaces/${peer.namespace}/gitrepositories`,
          );
          admin.close();
        },
      };
    },
  );
  const argo = driver(
    'Argo CD',
    log,
    (apps) =>
      'application-controller and repo-server (Argo CD 3.5) built from Go modules by scripts/build-peers.sh, ' +
      'local processes with a local redis-server, `--app-resync` equal to the interval and no jitter, a ' +
      "ServiceAccount bound to cluster-admin; the settings of Argo CD's high-availability guide by scale " +
      `(bench/scale.ts, docs/peers.md), ${describeScaleSettings(scaleSettings({ apps })).argocd}; ` +
      'one Application per folder, `targetRevision: refs/heads/main`, automated with prune and selfHeal, ' +
      "ServerSideApply=true, annotated `argocd.argoproj.io/manifest-generate-paths: .` (the guide's advice " +
      'for monorepos); renders counted from the repo-server\'s log ("setting manifests cache"); webhook: the ' +
      '`argocd.argoproj.io/refresh` annotation on the Applications whose folder the push touched, which is ' +
      "what Argo CD's webhook handler does.",
    async (dir, env, settings) => {
      const kubeconfig = await env.cluster.serviceAccountKubeconfig({
        namespace: 'argocd',
        name: 'argocd-bench',
        clusterRole: 'cluster-admin',
      });
      const common = { peerDir: dir, kubeconfig, binDir: await ensureBinaries(), stateDir: env.workDir };
      const scale = scaleSettings({ apps: settings.apps }).argocd;
      const peer: RunningPeer = await startArgoCD({
        ...common,
        statusProcessors: scale.statusProcessors,
        operationProcessors: scale.operationProcessors,
        repoParallelism: scale.repoParallelism,
        appResyncSeconds: settings.intervalSeconds,
        appResyncJitterSeconds: 0,
      });
      const admin = new KubeCluster(loadKubeConfig({ kubeconfig: env.cluster.adminKubeconfig }));
      const created: BenchApp[] = [];
      return {
        pids: peer.processes.map((p) => p.pid),
        async createApps(apps) {
          created.push(...apps);
          await applyObjects(common, argoCDObjects(appSet(apps, env, settings), peer.namespace));
        },
        async refresh(apps, changedPaths) {
          await mapBounded(
            apps.filter((a) => touches(a, changedPaths)),
            16,
            async (app) => {
              await admin.client.call(
                'PATCH',
                `/apis/argoproj.io/v1alpha1/namespaces/${peer.namespace}/applications/${app.name}`,
                {
                  body: { metadata: { annotations: { 'argocd.argoproj.io/refresh': 'normal' } } },
                  contentType: 'application/merge-patch+json',
                },
              );
            },
          );
        },
        async profile(seconds) {
          if (settings.profileDir === undefined) return [];
          return profilePeer(
            'Argo CD',
            peer.endpoints,
            ['repo-server', 'application-controller'],
            seconds,
            settings.profileDir,
            log,
          );
        },
        async counters() {
          // Git requests are counted by the git server; renders from the repo-server's log.
          const repoServer = peer.processes.find((p) => p.name === 'argocd-repo-server');
          if (!repoServer) return {};
          const log = await readFile(repoServer.log, 'utf8').catch(() => undefined);
          return log === undefined ? {} : { renders: argoCDManifestGenerations(log) };
        },
        async stop() {
          await peer.stop();
          await purge(admin, `/apis/argoproj.io/v1alpha1/namespaces/${peer.namespace}/applications`);
          admin.close();
        },
      };
    },
  );
  return Promise.resolve([flux, argo]);
}
