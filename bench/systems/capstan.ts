// Capstan's agent as the benchmarks run it: one `capstan agent` process (the CLI, Node.js 24), a
// ServiceAccount identity with cluster-admin, leader election off, webhooks and metrics on loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPOSITORY_CREDENTIALS_TYPE } from '../../src/adapters/git/secret-credentials.ts';
import { KubeCluster, loadKubeConfig } from '../../src/adapters/kube/kube-cluster.ts';
import { applicationCrd, APPLICATION_API_VERSION } from '../../src/contracts/application.ts';
import { mapBounded } from '../../src/engine/concurrency.ts';
import type { ResourceType } from '../../src/ports/cluster.ts';
import { CLI } from '../../src/testing/cli.ts';
import { HeapSampler, INSPECT_BRK_FLAG } from '../heap-sampler.ts';
import type {
  BenchApp,
  BenchEnvironment,
  ProfileTaken,
  RunningSystem,
  SystemDriver,
  SystemSettings,
} from '../system.ts';

const WEBHOOK_TOKEN = 'bench-webhook-token';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | false>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => false as const);
    if (value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${String(timeoutMs / 1000)} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Stops a child process: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    child.kill('SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

export function metricValue(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** Extra Node.js flags for the agent, space-separated (e.g. `--trace-gc`, `--max-old-space-size=256`). */
export const AGENT_NODE_FLAGS_ENV = 'CAPSTAN_BENCH_AGENT_NODE_FLAGS';

/**
 * A folder: the agent runs under a heap sampler (bench/heap-sampler.ts, through its inspector on
 * loopback) from its first allocation, and the harness writes what is alive there at the end of each
 * steady-state window, as `<folder>/capstan-agent-<start>-w<N>.heapprofile`.
 */
export const HEAP_SAMPLES_ENV = 'CAPSTAN_BENCH_HEAP_SAMPLES';

/**
 * The Node.js flags the agent starts with: `--cpu-prof` into `profile.dir` as `profile.name` when the
 * run takes profiles (V8 writes the profile when the agent exits), then the `extra` flags given in
 * CAPSTAN_BENCH_AGENT_NODE_FLAGS. Anything there that is not a flag is refused, naming it.
 */
export function agentNodeFlags(
  options: {
    readonly profile?: { readonly dir: string; readonly name: string };
    readonly extra?: string;
  } = {},
): string[] {
  const extra = (options.extra ?? '').split(/\s+/).filter((f) => f !== '');
  const notFlag = extra.find((f) => !f.startsWith('--'));
  if (notFlag !== undefined)
    throw new Error(
      `${AGENT_NODE_FLAGS_ENV}: ${notFlag} is not a Node.js flag (expected --name or --name=value)`,
    );
  const profile = options.profile
    ? ['--cpu-prof', `--cpu-prof-dir=${options.profile.dir}`, `--cpu-prof-name=${options.profile.name}`]
    : [];
  return [...profile, ...extra];
}

/** The monotonic clock in µs: the clock of V8's profile timestamps (both read CLOCK_MONOTONIC on Linux). */
function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export const capstanDriver: SystemDriver = {
  name: 'Capstan',
  describe: () =>
    '`capstan agent` from this checkout (Node.js 24, TypeScript run by type stripping), one process, ' +
    'leader election off, `--concurrency` as configured (its own setting at every scale), a ServiceAccount bound to cluster-admin; ' +
    'webhook: the generic endpoint with the changed paths (as a GitHub push delivers them).',
  unavailable: () => Promise.resolve(undefined),
  async start(env: BenchEnvironment, settings: SystemSettings): Promise<RunningSystem> {
    const admin = new KubeCluster(loadKubeConfig({ kubeconfig: env.cluster.adminKubeconfig }), {
      maxSockets: 16,
    });
    const crdType = (await admin.resourceType(
      'apiextensions.k8s.io/v1',
      'CustomResourceDefinition',
    )) as ResourceType;
    await admin.apply(crdType, applicationCrd(), { fieldManager: 'capstan-bench', force: true });
    const appType = await waitFor(
      'the Application CRD',
      30_000,
      async () =>
        (await admin.resourceType(APPLICATION_API_VERSION, 'Application', { refresh: true })) ?? false,
    );
    // Creates the namespace capstan-system too.
    const kubeconfig = await env.cluster.serviceAccountKubeconfig({
      namespace: 'capstan-system',
      name: 'capstan-bench-agent',
      clusterRole: 'cluster-admin',
    });
    const secretType = (await admin.resourceType('v1', 'Secret')) as ResourceType;
    await admin.apply(
      secretType,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'capstan-webhooks', namespace: 'capstan-system' },
        stringData: { generic: WEBHOOK_TOKEN },
      },
      { fieldManager: 'capstan-bench', force: true },
    );
    const port = await freePort();
    const metricsPort = await freePort();
    const webhookPort = await freePort();
    // Its own Applications only: not those another start left behind (an interrupted run).
    const start = randomBytes(4).toString('hex');
    const selector = `bench.capstan.dev/system=capstan,bench.capstan.dev/start=${start}`;
    const out = createWriteStream(join(env.workDir, 'capstan-agent.log'));
    const profileName = `capstan-agent-${start}.cpuprofile`;
    const nodeFlags = agentNodeFlags({
      ...(settings.profileDir === undefined
        ? {}
        : { profile: { dir: settings.profileDir, name: profileName } }),
      ...(process.env[AGENT_NODE_FLAGS_ENV] === undefined
        ? {}
        : { extra: process.env[AGENT_NODE_FLAGS_ENV] }),
    });
    const heapDir = process.env[HEAP_SAMPLES_ENV];
    const child = spawn(
      process.execPath,
      [
        ...(heapDir === undefined ? [] : [INSPECT_BRK_FLAG]),
        ...nodeFlags,
        CLI,
        'agent',
        '--kubeconfig',
        kubeconfig,
        '--no-leader-election',
        '--concurrency',
        String(settings.concurrency),
        '--selector',
        selector,
        '--bind-address',
        '127.0.0.1',
        '--port',
        String(port),
        '--metrics-port',
        String(metricsPort),
        '--webhook-port',
        String(webhookPort),
        // The bench's git server is on loopback, which the agent refuses unless allowed.
        '--allow-repository-host',
        '127.0.0.1',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    );
    child.stdout.pipe(out);
    child.stderr.pipe(out);
    // Under the sampler, the agent waits at its first line until sampling has started; an agent the
    // sampler could not reach would wait for ever, so it goes.
    const sampler =
      heapDir === undefined
        ? undefined
        : await HeapSampler.attach(child)
            .then(async (attached) => {
              await attached.start();
              return attached;
            })
            .catch((error: unknown) => {
              child.kill('SIGKILL');
              throw error;
            });
    let heapProfiles = 0;
    const base = `http://127.0.0.1:${String(port)}`;
    await waitFor('capstan agent ready', 60_000, async () => {
      if (child.exitCode !== null) throw new Error(`capstan agent exited with ${String(child.exitCode)}`);
      return (await fetch(`${base}/readyz`)).ok || false;
    });
    const namespaces = new Set<string>();
    const secretsDone = new Set<string>();
    const apps: BenchApp[] = [];
    return {
      pids: [child.pid ?? 0],
      async createApps(list) {
        for (const app of list) {
          if (secretsDone.has(app.namespace)) continue;
          secretsDone.add(app.namespace);
          await admin.apply(
            secretType,
            {
              apiVersion: 'v1',
              kind: 'Secret',
              metadata: { name: 'git', namespace: app.namespace },
              // Marked for Capstan and bound to the git server's URL, as the agent requires.
              type: REPOSITORY_CREDENTIALS_TYPE,
              stringData: { url: env.git.baseUrl, username: env.git.username, password: env.git.password },
            },
            { fieldManager: 'capstan-bench', force: true },
          );
        }
        await mapBounded(list, 16, async (app) => {
          namespaces.add(app.namespace);
          apps.push(app);
          await admin.apply(
            appType,
            {
              apiVersion: APPLICATION_API_VERSION,
              kind: 'Application',
              metadata: {
                name: app.name,
                namespace: app.namespace,
                labels: { 'bench.capstan.dev/system': 'capstan', 'bench.capstan.dev/start': start },
              },
              spec: {
                source: {
                  repoURL: app.repoURL,
                  path: app.path,
                  insecureHttp: true,
                  secretRef: { name: 'git' },
                },
                syncPolicy: { automated: { prune: true, selfHeal: settings.selfHeal } },
                interval: `${String(settings.intervalSeconds)}s`,
              },
            },
            { fieldManager: 'capstan-bench' },
          );
        });
      },
      async refresh(list, changedPaths) {
        for (const repoURL of new Set(list.map((a) => a.repoURL))) {
          const res = await fetch(`http://127.0.0.1:${String(webhookPort)}/api/v1/webhooks/generic`, {
            method: 'POST',
            headers: { authorization: `Bearer ${WEBHOOK_TOKEN}`, 'content-type': 'application/json' },
            body: JSON.stringify({ repoURL, ref: 'refs/heads/main', paths: changedPaths }),
          });
          if (!res.ok) throw new Error(`webhook: HTTP ${String(res.status)}: ${await res.text()}`);
        }
      },
      async profile(seconds): Promise<ProfileTaken[]> {
        if (settings.profileDir === undefined) return [];
        const fromMicros = monotonicMicros();
        await new Promise((r) => setTimeout(r, seconds * 1000));
        return [
          {
            process: 'capstan agent',
            format: 'cpuprofile',
            path: join(settings.profileDir, profileName),
            fromMicros,
            toMicros: monotonicMicros(),
          },
        ];
      },
      ...(sampler === undefined || heapDir === undefined
        ? {}
        : {
            async heapProfile(): Promise<string> {
              const path = join(heapDir, `capstan-agent-${start}-w${String(++heapProfiles)}.heapprofile`);
              await mkdir(heapDir, { recursive: true });
              await writeFile(path, JSON.stringify(await sampler.take()));
              return path;
            },
          }),
      async counters() {
        const text = await (await fetch(`http://127.0.0.1:${String(metricsPort)}/metrics`)).text();
        return { renders: metricValue(text, 'capstan_render_cache_misses_total') };
      },
      async stop() {
        // A V8 profile is written as the agent exits: give it the time to write one.
        sampler?.close();
        await stopProcess(child, settings.profileDir === undefined ? 10_000 : 60_000);
        out.end();
        // Without the agent, the finalizers would keep the Applications (and their namespace) forever.
        await mapBounded(apps, 16, async (app) => {
          await admin.client
            .call(
              'PATCH',
              `/apis/capstan.dev/v1alpha1/namespaces/${app.namespace}/applications/${app.name}`,
              {
                body: { metadata: { finalizers: null } },
                contentType: 'application/merge-patch+json',
              },
            )
            .catch(() => undefined);
        });
        const cmType = (await admin.resourceType('v1', 'ConfigMap')) as ResourceType;
        const inventories = await admin.list(cmType, 'capstan-system', {
          labelSelector: 'app.kubernetes.io/managed-by=capstan',
        });
        await mapBounded(inventories, 16, async (cm) => {
          const owner = cm.metadata.labels?.['capstan.dev/inventory-of'] ?? '';
          if ([...namespaces].some((ns) => owner.startsWith(ns)))
            await admin.delete(cmType, 'capstan-system', cm.metadata.name ?? '');
        });
        admin.close();
      },
    };
  },
};
