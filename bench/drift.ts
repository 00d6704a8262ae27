// Drift correction of Capstan alone, many times over: one application of M objects, N drifts of its
// marker ConfigMap by another field manager (what `kubectl edit` does), each timed from the harness's
// own watch event of the drifted object to the event of the corrected one. Scenario b of bench/run.ts
// takes one sample per start of the agent; this takes N from one start, for a median and a p90, and
// reads the agent's log for the phases of the reconciles that corrected them.
// Usage: node bench/drift.ts [--objects 10] [--drifts 20] [--pause 1] [--cluster capstan-bench-drift]
// --pause is the time between two drifts, in seconds (each drift is corrected before the next one).
// The cluster is started, or reused when it runs (never the cluster of a running bench).
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeCluster, loadKubeConfig } from '../src/adapters/kube/kube-cluster.ts';
import { attach, up } from '../src/devcluster/cluster.ts';
import { GitServer } from '../src/devcluster/gitserver.ts';
import type { ResourceType } from '../src/ports/cluster.ts';
import { exitWithUsageOnHelp } from '../scripts/usage.ts';
import { appFolder, appName, monorepoFiles } from './fixtures.ts';
import { MarkerObserver } from './observer.ts';
import { loadAverage } from './proc.ts';
import { quantile } from './stats.ts';
import { capstanDriver } from './systems/capstan.ts';

exitWithUsageOnHelp(import.meta.filename);
const { values } = parseArgs({
  options: {
    objects: { type: 'string', default: '10' },
    drifts: { type: 'string', default: '20' },
    pause: { type: 'string', default: '1' },
    cluster: { type: 'string', default: 'capstan-bench-drift' },
  },
  strict: true,
});
const objects = wholeNumber(values.objects, '--objects');
const drifts = wholeNumber(values.drifts, '--drifts');
const pauseMs = wholeNumber(values.pause, '--pause', 0) * 1000;
if (values.cluster === 'capstan-bench')
  throw new Error('--cluster capstan-bench: that is the long benchmark’s cluster; name another one');
const log = (line: string) => {
  process.stderr.write(`[drift ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

const cluster =
  (await attach(values.cluster)) ??
  (await up({
    name: values.cluster,
    progress: (l) => {
      log(`cluster: ${l}`);
    },
  }));
const admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }));
const work = await mkdtemp(join(tmpdir(), 'capstan-drift-'));
const git = await GitServer.start({ root: join(work, 'git') });
const nsType = (await admin.resourceType('v1', 'Namespace')) as ResourceType;
const namespace = `bench-drift-${randomBytes(2).toString('hex')}`;
await admin.apply(
  nsType,
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
  { fieldManager: 'bench' },
);
const repo = `drift-${randomBytes(2).toString('hex')}`;
await git.createRepository(repo, { files: monorepoFiles({ apps: 1, objectsPerApp: objects }, () => 1) });
const app = { name: appName(1), repoURL: git.url(repo), path: appFolder(1), namespace };
const observer = new MarkerObserver(cluster.adminKubeconfig, namespace);
const agentDir = await mkdtemp(join(work, 'capstan-'));
const system = await capstanDriver.start(
  { cluster, git, workDir: agentDir, log },
  { apps: 1, intervalSeconds: 300, concurrency: 8, selfHeal: true },
);
const seconds: number[] = [];
try {
  await system.createApps([app]);
  await observer.waitFor(new Map([[app.name, '1']]), 120_000);
  log(`${app.name} synced (${String(objects)} objects); load ${JSON.stringify(loadAverage())}`);
  for (let i = 1; i <= drifts; i++) {
    await new Promise((r) => setTimeout(r, pauseMs));
    const drifted = `drifted-${String(i)}`;
    await admin.client.call(
      'PATCH',
      `/api/v1/namespaces/${namespace}/configmaps/${app.name}-marker?fieldManager=kubectl-edit`,
      { body: { data: { revision: drifted } }, contentType: 'application/merge-patch+json' },
    );
    // From the watch event of the drift (as the harness saw it) to the event of the corrected object.
    const seen = await observer.waitFor(new Map([[app.name, drifted]]), 30_000).catch(() => undefined);
    const since = seen?.get(app.name) ?? observer.seenAt(app.name, drifted) ?? performance.now();
    const back = await observer.waitFor(new Map([[app.name, '1']]), 60_000, since);
    const s = ((back.get(app.name) ?? since) - since) / 1000;
    seconds.push(s);
    log(`drift ${String(i)}: corrected in ${s.toFixed(3)} s`);
  }
} finally {
  await system.stop();
  await observer.close();
  await admin.delete(nsType, '', namespace).catch(() => undefined);
  await git.stop();
  admin.close();
}
const sorted = [...seconds].sort((a, b) => a - b);
const phases = await reconcilePhases(join(agentDir, 'capstan-agent.log'), app);
process.stdout.write(
  `${JSON.stringify(
    {
      drifts: seconds.length,
      objects,
      median: round(quantile(sorted, 0.5)),
      p90: round(quantile(sorted, 0.9)),
      min: round(sorted[0] ?? Number.NaN),
      max: round(sorted[sorted.length - 1] ?? Number.NaN),
      loadAverage: loadAverage(),
      reconcilePhasesMedianMs: phases,
    },
    null,
    2,
  )}\n`,
);
await rm(work, { recursive: true, force: true });

/** The median of each phase (ms) over the agent's `reconciled` lines of the application that wrote something. */
async function reconcilePhases(
  path: string,
  of: { readonly name: string; readonly namespace: string },
): Promise<Record<string, number>> {
  const byPhase = new Map<string, number[]>();
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as {
      msg?: string;
      application?: string;
      wrote?: unknown;
      ms?: number;
      phases?: Record<string, number>;
    };
    if (entry.msg !== 'reconciled' || entry.application !== `${of.namespace}/${of.name}`) continue;
    for (const [phase, ms] of Object.entries({ ...entry.phases, total: entry.ms ?? Number.NaN }))
      byPhase.set(phase, [...(byPhase.get(phase) ?? []), ms]);
  }
  return Object.fromEntries(
    [...byPhase].map(([phase, list]) => [
      phase,
      round(
        quantile(
          [...list].sort((a, b) => a - b),
          0.5,
        ),
      ),
    ]),
  );
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function wholeNumber(value: string, option: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${option} ${value}: expected a whole number from ${String(min)}`);
  return n;
}
