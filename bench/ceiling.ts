// The raw server-side-apply ceiling of scenario f (bench/run.ts), and beside it the floor of any
// client that keeps Capstan's safety rule "every apply is preceded by a server-side dry run of the
// whole set": per application, a dry run of its M objects, then their applies, 16 requests in flight
// across applications, as the raw client. What the rule costs by itself, before any other work of a
// GitOps agent (inventory, status, events), on this machine now: in seconds, and in the API server's
// and etcd's CPU seconds meanwhile (on a shared machine, the steadier of the two).
// Usage: node bench/ceiling.ts [--apps 100] [--objects 10] [--cluster capstan-bench-ceiling]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { KubeCluster, loadKubeConfig } from '../src/adapters/kube/kube-cluster.ts';
import type { KubeObject } from '../src/core/resource.ts';
import { attach, up } from '../src/devcluster/cluster.ts';
import type { ResourceType } from '../src/ports/cluster.ts';
import { exitWithUsageOnHelp } from '../scripts/usage.ts';
import { readControlPlane } from './control-plane.ts';
import { appManifests } from './fixtures.ts';
import { loadAverage, processUsage } from './proc.ts';

exitWithUsageOnHelp(import.meta.filename);
const { values } = parseArgs({
  options: {
    apps: { type: 'string', default: '100' },
    objects: { type: 'string', default: '10' },
    cluster: { type: 'string', default: 'capstan-bench-ceiling' },
  },
  strict: true,
});
const apps = wholeNumber(values.apps, '--apps');
const objectsPerApp = wholeNumber(values.objects, '--objects');
if (values.cluster === 'capstan-bench')
  throw new Error('--cluster capstan-bench: that is the long benchmark’s cluster; name another one');
const cluster =
  (await attach(values.cluster)) ??
  (await up({
    name: values.cluster,
    progress: (l) => {
      process.stderr.write(`cluster: ${l}\n`);
    },
  }));
const admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }), { maxSockets: 16 });
const nsType = (await admin.resourceType('v1', 'Namespace')) as ResourceType;
const types = new Map<string, ResourceType>();

/** The objects of each application, in a namespace of their own. */
async function fixture(namespace: string): Promise<KubeObject[][]> {
  await admin.apply(
    nsType,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { fieldManager: 'bench' },
  );
  const sets: KubeObject[][] = [];
  for (let i = 1; i <= apps; i++) {
    const set = parseAllDocuments(appManifests(i, objectsPerApp, 1)).map((doc) => {
      const o = doc.toJSON() as KubeObject;
      return { ...o, metadata: { ...o.metadata, namespace } };
    });
    for (const o of set)
      if (!types.has(`${o.apiVersion}/${o.kind}`))
        types.set(
          `${o.apiVersion}/${o.kind}`,
          (await admin.resourceType(o.apiVersion, o.kind)) as ResourceType,
        );
    sets.push(set);
  }
  return sets;
}

const typeOf = (o: KubeObject) => types.get(`${o.apiVersion}/${o.kind}`) as ResourceType;
const slots = { free: 16, waiting: [] as (() => void)[] };
/** One request within the 16 in flight shared by every application. */
async function bounded<T>(request: () => Promise<T>): Promise<T> {
  while (slots.free === 0) await new Promise<void>((resolve) => slots.waiting.push(resolve));
  slots.free -= 1;
  try {
    return await request();
  } finally {
    slots.free += 1;
    slots.waiting.shift()?.();
  }
}

/** Seconds to apply every set: objects alone, or each set dry-run whole before its applies. */
async function measure(sets: KubeObject[][], options: { readonly dryRunFirst: boolean }): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    sets.map(async (set) => {
      const apply = (o: KubeObject, dryRun: boolean) =>
        bounded(() => admin.apply(typeOf(o), o, { fieldManager: 'raw-bench', dryRun }));
      if (options.dryRunFirst) await Promise.all(set.map((o) => apply(o, true)));
      await Promise.all(set.map((o) => apply(o, false)));
    }),
  );
  return (performance.now() - t0) / 1000;
}

const results: Record<string, number> = {};
/** The API server's and etcd's CPU seconds during each measurement: what the requests cost the cluster. */
const controlPlaneCpu: Record<string, { apiServer: number; etcd: number }> = {};
const controlPlane = await readControlPlane(values.cluster);
const cpuNow = () => ({
  apiServer: processUsage(controlPlane.apiServer).cpuSeconds,
  etcd: processUsage(controlPlane.etcd).cpuSeconds,
});
const round = (x: number) => Math.round(x * 100) / 100;
for (const [label, dryRunFirst] of [
  ['raw', false],
  ['dry run first', true],
] as const) {
  const namespace = `bench-ceiling-${randomBytes(2).toString('hex')}`;
  const sets = await fixture(namespace);
  const before = cpuNow();
  results[label] = round(await measure(sets, { dryRunFirst }));
  const after = cpuNow();
  controlPlaneCpu[label] = {
    apiServer: round(after.apiServer - before.apiServer),
    etcd: round(after.etcd - before.etcd),
  };
  await admin.delete(nsType, '', namespace);
  // The namespace controller's deletions should not overlap the next measurement.
  await new Promise((r) => setTimeout(r, 10_000));
}
process.stdout.write(
  `${JSON.stringify({ apps, objectsPerApp, seconds: results, controlPlaneCpu, loadAverage: loadAverage() }, null, 2)}\n`,
);
admin.close();

function wholeNumber(value: string, option: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${option} ${value}: expected a whole number from 1`);
  return n;
}
