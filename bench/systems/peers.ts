// Flux and Argo CD as SystemDrivers: built by scripts/build-peers.sh (bench/peers.ts ensurePeers), run
// as local processes against the benchmark cluster with a ServiceAccount of their own (cluster-admin,
// like Capstan's), given the same applications, interval and concurrency. docs/peers.md tells how.
import { readFile } from 'node:fs/promises';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import type { KubeObject } from '../../src/core/resource.ts';
import { mapBounded } from '../../src/engine/concurrency.ts';
import { ensureBinaries } from '../../src/devcluster/binaries.ts';
import {
  applyObjects,
  argoCDObjects,
  ensurePeers,
  fluxObjects,
  startArgoCD,
  startFlux,
  type AppSetOptions,
  type PeerBuilds,
  type RunningPeer,
} from '../peers.ts';
import type { BenchApp, BenchEnvironment, RunningSystem, SystemDriver, SystemSettings } from '../system.ts';

/** Applications of one start, as the peers' object builders take them (index i of `apps`). */
function appSet(apps: readonly BenchApp[], env: BenchEnvironment, settings: SystemSettings): AppSetOptions {
  const first = apps[0];
  return {
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
  how: string,
  start: (dir: string, env: BenchEnvironment, settings: SystemSettings) => Promise<RunningSystem>,
): SystemDriver {
  const key = name === 'Flux' ? 'flux' : 'argocd';
  return {
    name,
    describe: () => how,
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
    'source-controller and kustomize-controller (Flux 2.9) built from Go modules by scripts/build-peers.sh, ' +
      'local processes, leader election off, `--concurrent` as configured on both, a ServiceAccount bound to ' +
      'cluster-admin; one GitRepository (the monorepo) and one Kustomization per application, same interval ' +
      'on both, prune on, `wait: false`; webhook: the `reconcile.fluxcd.io/requestedAt` annotation on the ' +
      "GitRepository, which is what Flux's Receiver sets.",
    async (dir, env, settings) => {
      const kubeconfig = await env.cluster.serviceAccountKubeconfig({
        namespace: 'flux-system',
        name: 'flux-bench',
        clusterRole: 'cluster-admin',
      });
      const common = { peerDir: dir, kubeconfig, binDir: await ensureBinaries(), stateDir: env.workDir };
      const peer: RunningPeer = await startFlux({ ...common, concurrent: settings.concurrency });
      const admin = new KubeCluster(loadKubeConfig({ kubeconfig: env.cluster.adminKubeconfig }));
      return {
        pids: peer.processes.map((p) => p.pid),
        async createApps(apps) {
          await applyObjects(common, fluxObjects(appSet(apps, env, settings), peer.namespace));
        },
        async refresh() {
          await admin.client.call(
            'PATCH',
            `/apis/source.toolkit.fluxcd.io/v1/namespaces/${peer.namespace}/gitrepositories/bench`,
            {
              body: {
                metadata: { annotations: { 'reconcile.fluxcd.io/requestedAt': new Date().toISOString() } },
              },
              contentType: 'application/merge-patch+json',
            },
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
    'application-controller and repo-server (Argo CD 3.5) built from Go modules by scripts/build-peers.sh, ' +
      'local processes with a local redis-server, `--status-processors` and `--operation-processors` as ' +
      'configured, `--app-resync` equal to the interval and no jitter, a ServiceAccount bound to cluster-admin; ' +
      'one Application per folder, automated with prune and selfHeal, ServerSideApply=true, annotated ' +
      "`argocd.argoproj.io/manifest-generate-paths: .` (Argo CD's advice for monorepos); renders counted " +
      'from the repo-server\'s log ("setting manifests cache"); webhook: the ' +
      '`argocd.argoproj.io/refresh` annotation on the Applications whose folder the push touched, which is ' +
      "what Argo CD's webhook handler does.",
    async (dir, env, settings) => {
      const kubeconfig = await env.cluster.serviceAccountKubeconfig({
        namespace: 'argocd',
        name: 'argocd-bench',
        clusterRole: 'cluster-admin',
      });
      const common = { peerDir: dir, kubeconfig, binDir: await ensureBinaries(), stateDir: env.workDir };
      const peer: RunningPeer = await startArgoCD({
        ...common,
        statusProcessors: settings.concurrency,
        operationProcessors: settings.concurrency,
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
