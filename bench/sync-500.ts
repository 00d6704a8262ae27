// Benchmark: a cold sync and a no-op sync of 500 objects with Capstan's engine, side by side with a raw
// concurrent server-side-apply client on the same cluster (the ceiling), in one run.
// Usage: npm run bench:engine -- [--runs 5] [--objects 500]
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigMapInventoryStore } from '../src/adapters/kube/inventory-store.ts';
import { KubeCluster, loadKubeConfig } from '../src/adapters/kube/kube-cluster.ts';
import { assessHealth } from '../src/core/health-rules.ts';
import type { KubeObject } from '../src/core/resource.ts';
import { attach, up } from '../src/devcluster/cluster.ts';
import { mapBounded } from '../src/engine/concurrency.ts';
import { sync } from '../src/engine/sync.ts';
import { systemClock } from '../src/adapters/clock.ts';
import type { ResourceType } from '../src/ports/cluster.ts';
import { loadAverage } from './proc.ts';
import { writeSection } from './run.ts';
import { summarise, type Summary } from './stats.ts';
import { exitWithUsageOnHelp } from '../scripts/usage.ts';

exitWithUsageOnHelp(import.meta.filename);
const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, objects: { type: 'string', default: '500' } },
  strict: true,
});
const RUNS = Number(values.runs);
const COUNT = Number(values.objects);
const CONCURRENCY = 16;

/** 500 objects of the kinds an application has: ConfigMaps, Secrets, Services, Deployments. */
export function generateObjects(count: number): KubeObject[] {
  const objects: KubeObject[] = [];
  for (let i = 0; i < count; i++) {
    const name = `obj-${String(i).padStart(4, '0')}`;
    switch (i % 10) {
      case 0:
        objects.push({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: name } },
            template: {
              metadata: { labels: { app: name } },
              spec: {
                containers: [
                  { name: 'app', image: 'registry.invalid/app:1', ports: [{ containerPort: 8080 }] },
                ],
              },
            },
          },
        });
        break;
      case 1:
      case 2:
        objects.push({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name },
          spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] },
        });
        break;
      case 3:
        objects.push({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name },
          type: 'Opaque',
          stringData: { password: `p-${i}` },
        });
        break;
      default:
        objects.push({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name },
          data: { index: String(i), payload: 'x'.repeat(200) },
        });
    }
  }
  return objects;
}

async function main(): Promise<void> {
  const clusterName = process.env['CAPSTAN_BENCH_CLUSTER'] ?? 'capstan-bench';
  const local =
    (await attach(clusterName)) ??
    (await up({
      name: clusterName,
      progress: (l) => {
        console.error(`[cluster] ${l}`);
      },
    }));
  const cluster = new KubeCluster(loadKubeConfig({ kubeconfig: local.adminKubeconfig }), {
    maxSockets: CONCURRENCY,
  });
  const inventory = new ConfigMapInventoryStore(cluster);
  const nsType = (await cluster.resourceType('v1', 'Namespace')) as ResourceType;
  const objects = generateObjects(COUNT);
  const types = new Map<string, ResourceType>();
  for (const o of objects)
    types.set(
      `${o.apiVersion}/${o.kind}`,
      (await cluster.resourceType(o.apiVersion, o.kind)) as ResourceType,
    );

  const newNamespace = async () => {
    const name = `bench-${randomBytes(3).toString('hex')}`;
    await cluster.apply(
      nsType,
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
      { fieldManager: 'bench' },
    );
    return name;
  };
  const rawApply = async (namespace: string) => {
    await mapBounded(objects, CONCURRENCY, async (o) => {
      const type = types.get(`${o.apiVersion}/${o.kind}`) as ResourceType;
      await cluster.apply(
        type,
        { ...o, metadata: { ...o.metadata, namespace } },
        { fieldManager: 'raw-bench' },
      );
    });
  };
  const capstanSync = async (namespace: string, application: string) => {
    const result = await sync(
      objects.map((object, i) => ({ object, source: { file: 'bench', line: i + 1 } })),
      { application, namespace, concurrency: CONCURRENCY },
      { cluster, inventory, clock: systemClock, assessHealth },
    );
    if (result.phase !== 'Succeeded') throw new Error(`sync failed: ${result.message}`);
    return result;
  };
  const time = async (fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    return (performance.now() - t0) / 1000;
  };

  const loadBefore = loadAverage();
  const samples = {
    rawCold: [] as number[],
    capstanCold: [] as number[],
    rawNoop: [] as number[],
    capstanNoop: [] as number[],
  };
  const toDelete: string[] = [];
  // One warm-up round (discovery caches, connections, API server caches), not counted.
  for (let run = 0; run <= RUNS; run++) {
    const nsRaw = await newNamespace();
    const nsCapstan = await newNamespace();
    toDelete.push(nsRaw, nsCapstan);
    const application = `bench-${randomBytes(3).toString('hex')}`;
    // Interleaved, so that drift of the machine affects both sides alike.
    const rawCold = await time(() => rawApply(nsRaw));
    const capstanCold = await time(() => capstanSync(nsCapstan, application));
    const rawNoop = await time(() => rawApply(nsRaw));
    let noopResult: Awaited<ReturnType<typeof capstanSync>> | undefined;
    const capstanNoop = await time(async () => {
      noopResult = await capstanSync(nsCapstan, application);
    });
    const changed = (noopResult?.entries ?? []).filter((e) => e.action !== 'unchanged');
    if (changed.length > 0)
      throw new Error(
        `run ${String(run)}: the no-op sync changed ${String(changed.length)} object(s) in namespace ${nsCapstan}: ` +
          changed
            .slice(0, 10)
            .map((e) => `${JSON.stringify(e.id)} ${e.action} (${e.message})`)
            .join('; '),
      );
    if (run > 0) {
      samples.rawCold.push(rawCold);
      samples.capstanCold.push(capstanCold);
      samples.rawNoop.push(rawNoop);
      samples.capstanNoop.push(capstanNoop);
    }
    console.error(
      `run ${run}${run === 0 ? ' (warm-up)' : ''}: raw cold ${rawCold.toFixed(2)} s, capstan cold ${capstanCold.toFixed(2)} s, raw no-op ${rawNoop.toFixed(2)} s, capstan no-op ${capstanNoop.toFixed(2)} s`,
    );
    await inventory.delete(application);
  }
  for (const ns of toDelete) await cluster.delete(nsType, '', ns);
  cluster.close();

  const s = {
    rawCold: summarise(samples.rawCold),
    capstanCold: summarise(samples.capstanCold),
    rawNoop: summarise(samples.rawNoop),
    capstanNoop: summarise(samples.capstanNoop),
  };
  const fmt = (x: number) => x.toFixed(2);
  const row = (name: string, capstan: Summary, raw: Summary) =>
    `| ${name} | ${fmt(capstan.median)} (${fmt(capstan.min)}–${fmt(capstan.max)}) | ${fmt(raw.median)} (${fmt(raw.min)}–${fmt(raw.max)}) | ${(capstan.median / raw.median).toFixed(2)}× |`;
  const loadAfter = loadAverage();
  const date = new Date().toISOString();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node.js ${process.version}, Kubernetes v1.36.3 (local control plane, kwok nodes)`;
  const section = [
    `## Sync of ${COUNT} objects: Capstan vs a raw concurrent server-side-apply client`,
    '',
    `Measured ${date} on ${machine}; ${RUNS} runs after one warm-up, interleaved; seconds, median (min–max).`,
    ...(loadBefore && loadAfter
      ? [
          `Machine load (1-minute load average, /proc/loadavg): ${loadBefore.one.toFixed(1)} at the start, ${loadAfter.one.toFixed(1)} at the end.`,
        ]
      : []),
    `Objects: ${COUNT / 10} Deployments, ${COUNT / 5} Services, ${COUNT / 10} Secrets, ${COUNT * 0.6} ConfigMaps, one namespace.`,
    `Both sides use the same HTTP client (keep-alive, ${CONCURRENCY} requests in flight) and the admin identity.`,
    'The raw client only applies (one PATCH per object). Capstan dry-runs the whole set before changing',
    'anything (one PATCH with dryRun=All per object), reads the live objects it owns with one list per',
    'kind and namespace, applies only what differs, and records the inventory. A no-op sync costs about the',
    "raw client's no-op apply or less: its dry runs skip the storage layer and nothing is applied.",
    '',
    '| scenario | Capstan | raw SSA client (ceiling) | ratio |',
    '| --- | --- | --- | --- |',
    row('cold sync (everything created)', s.capstanCold, s.rawCold),
    row('no-op sync (nothing changed)', s.capstanNoop, s.rawNoop),
    '',
    `Reproduce: \`npm run bench:engine -- --runs ${RUNS} --objects ${COUNT}\` (starts or reuses the local cluster \`capstan-bench\`).`,
    '',
  ].join('\n');
  await mkdir(join(import.meta.dirname, 'results'), { recursive: true });
  await writeFile(
    join(import.meta.dirname, 'results', 'sync-500.json'),
    JSON.stringify(
      {
        date,
        machine,
        load: { before: loadBefore, after: loadAfter },
        runs: RUNS,
        objects: COUNT,
        samples,
        summary: s,
      },
      null,
      2,
    ) + '\n',
  );
  await writeSection(
    join(import.meta.dirname, '..', 'docs', 'benchmarks.md'),
    `<!-- engine:start (written by \`npm run bench:engine\`) -->\n${section.trimEnd()}\n<!-- engine:end -->`,
    'engine',
  );
  console.log(section);
}

if (import.meta.main) await main();
