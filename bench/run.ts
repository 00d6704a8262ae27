// The benchmark harness: Capstan and its peers (Flux, Argo CD) on the same local cluster and git
// server, in one run, interleaved. Scenarios:
//   a  commit-to-applied latency, through the webhook and by polling, for 1 and for K applications
//   b  drift-to-corrected latency
//   c  cold sync of N applications × M objects: time, CPU seconds, peak RSS, API requests
//   d  steady state with N applications: CPU seconds per minute, RSS, API requests per minute
//   e  a monorepo commit touching one application among N: git requests, renders
//   f  the ceiling: a raw concurrent server-side-apply client applying the same N × M objects
// Usage: npm run bench -- [--quick] [--runs 5] [--systems capstan,flux,argocd] [--scenarios a,b,c,d,e,f]
//        [--apps 1000] [--objects 10] [--latency-apps 1,100] [--scale-interval 60] [--window 60]
//        [--windows 1] [--name bench] [--title HEADING] [--out docs/benchmarks.md] [--resume] [--render]
//        [--profile]
// --scale-interval is the polling interval of scenarios c to e and --window the steady-state window
// of d, in seconds (defaults 60 and 60; 20 and 20 with --quick); --windows is how many steady-state
// windows follow each other after each cold sync, each one a sample of d (default 1: a sample per run).
// At 1000 applications a peer's cold sync takes half an hour, so `--runs 1 --windows 5` gives five
// samples of the steady state of every system in one run that fits an afternoon.
// --name names the result: bench/results/NAME.json and the section NAME of the markdown file, so that
// runs at different scales (or with different systems) each keep their own table; --title gives the
// table a heading of its own (by default its scale and systems). --resume goes on with an interrupted
// run; --render writes the table again from bench/results/NAME.json without measuring. --profile takes
// CPU profiles of each system over its first steady-state window (the peers' pprof handlers, Capstan's
// --cpu-prof) into bench/results/NAME-profiles/r<run>/ with a summary of the top functions; profilers
// cost CPU themselves, so a profiled run is a run of its own (its own --name), not a table's.
// The peers run with their maintainers' settings for the number of applications (bench/scale.ts); the
// CPU of the API server and etcd is read beside each system's, during its cold sync and steady state.
// The cold sync may take an hour (two from 10 000 applications) before it counts as "at least" that.
// Within a run the ceiling is measured right after Capstan, then the peers' phases (unitsOfRun).
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { KubeCluster, loadKubeConfig } from '../src/adapters/kube/kube-cluster.ts';
import type { KubeObject } from '../src/core/resource.ts';
import { attach, up, type LocalCluster } from '../src/devcluster/cluster.ts';
import { GitServer } from '../src/devcluster/gitserver.ts';
import { mapBounded } from '../src/engine/concurrency.ts';
import type { ResourceType } from '../src/ports/cluster.ts';
import { appFolder, appManifests, appName, monorepoFiles } from './fixtures.ts';
import { MarkerObserver } from './observer.ts';
import { heapProfileLines, summariseHeapProfile, type HeapProfile } from './heap-profile.ts';
import { measureMachineSpeed, speedLines, speedOutliers, type MachineSpeed } from './machine-speed.ts';
import { readControlPlane, type ControlPlanePids } from './control-plane.ts';
import {
  cpuSplit,
  cpuSplitBetween,
  loadAverage,
  totalUsage,
  type CpuSplit,
  type LoadAverage,
} from './proc.ts';
import { summarise, type Summary } from './stats.ts';
import { recordProfiles } from './profiles.ts';
import type { BenchApp, ProfileTaken, RunningSystem, SystemDriver, SystemSettings } from './system.ts';
import { capstanDriver, metricValue } from './systems/capstan.ts';
import { peerDrivers, purge } from './systems/peers.ts';
import { exitWithUsageOnHelp } from '../scripts/usage.ts';

export interface BenchConfig {
  readonly quick: boolean;
  readonly runs: number;
  /** Applications of scenario a's larger case. */
  readonly webhookApps: readonly number[];
  /** Applications of scenarios c, d, e, f. */
  readonly scaleApps: number;
  readonly objectsPerApp: number;
  /** Polling interval of scenarios a and b, seconds. */
  readonly interval: number;
  /** Polling interval of scenarios c to e (a realistic default), seconds. */
  readonly scaleInterval: number;
  /** Steady-state window of scenario d, seconds. */
  readonly window: number;
  /** Steady-state windows measured one after the other after each cold sync: samples of d per run. */
  readonly windows: number;
  readonly concurrency: number;
}

export function benchConfig(options: {
  quick: boolean;
  runs?: number | undefined;
  apps?: number | undefined;
  objects?: number | undefined;
  latencyApps?: readonly number[] | undefined;
  scaleInterval?: number | undefined;
  window?: number | undefined;
  windows?: number | undefined;
}): BenchConfig {
  const quick = options.quick;
  return {
    quick,
    runs: options.runs ?? (quick ? 3 : 5),
    webhookApps: options.latencyApps ?? (quick ? [1, 10] : [1, 100]),
    scaleApps: options.apps ?? (quick ? 50 : 1000),
    objectsPerApp: options.objects ?? 10,
    interval: quick ? 15 : 30,
    // The window covers at least one whole interval: steady state includes a poll of every application.
    scaleInterval: options.scaleInterval ?? (quick ? 20 : 60),
    window: options.window ?? (quick ? 20 : 60),
    windows: options.windows ?? 1,
    concurrency: 8,
  };
}

/** Samples by scenario key, then by system. */
type Samples = Record<string, Record<string, number[]>>;

interface ScenarioInfo {
  readonly title: string;
  readonly unit: string;
  /** Lower is better for every figure here. */
  readonly digits: number;
}

/** Measurements that did not finish in time, by scenario key and system: reported, not averaged. */
const timeouts: Record<string, Record<string, number>> = {};
/** Counts cut short by a cap (lower bounds), by scenario key and system: said in the table. */
const capped: Record<string, Record<string, number>> = {};
/**
 * The time limit, in seconds, of each timed figure that has had a time-out: a run that hit it counts
 * in the statistics as "at least the limit" (a censored sample), not as a run that never happened.
 */
const limits: Record<string, number> = {};
/** Where the cold sync may take two hours instead of one: the 10 000-application scenario. */
export const TEN_THOUSAND = 10_000;

/**
 * How long a cold sync (scenario c) of `apps` applications may take before the run counts a time-out
 * (reported as "at least" the limit): an hour, two from 10 000 applications.
 */
export function coldSyncLimitSeconds(apps: number): number {
  return apps >= TEN_THOUSAND ? 7200 : 3600;
}

/**
 * How many times (every 0.5 s) the harness looks whether a dropped namespace is gone before it goes on:
 * five minutes, or a hundredth of a second per object it may hold when that is longer (17 minutes for
 * the 100 000 objects of 10 000 applications).
 */
export function namespaceDeletionPolls(objects: number): number {
  return Math.max(600, Math.ceil(objects / 50));
}

/** CPU seconds read at one moment: the system's processes, the API server, etcd. */
export interface CpuReading {
  readonly system: number;
  readonly apiServer: number;
  readonly etcd: number;
}

export function readCpu(pids: readonly number[], controlPlane: ControlPlanePids): CpuReading {
  return {
    system: totalUsage(pids).cpuSeconds,
    apiServer: totalUsage([controlPlane.apiServer]).cpuSeconds,
    etcd: totalUsage([controlPlane.etcd]).cpuSeconds,
  };
}

/**
 * The CPU figures of one measurement, by scenario key, between two readings (divided by `minutes` for
 * a rate): the system's, the API server's, etcd's and their sum, the whole system's cost.
 */
export function cpuFigures(
  prefix: 'c-cold' | 'd-steady',
  before: CpuReading,
  after: CpuReading,
  minutes = 1,
): Record<string, number> {
  const system = (after.system - before.system) / minutes;
  const apiServer = (after.apiServer - before.apiServer) / minutes;
  const etcd = (after.etcd - before.etcd) / minutes;
  return {
    [`${prefix}-cpu`]: system,
    [`${prefix}-apiserver-cpu`]: apiServer,
    [`${prefix}-etcd-cpu`]: etcd,
    [`${prefix}-total-cpu`]: system + apiServer + etcd,
  };
}

/** The keys cpuFigures records, for a time-out that leaves them unmeasured. */
const COLD_CPU_KEYS = ['c-cold-cpu', 'c-cold-apiserver-cpu', 'c-cold-etcd-cpu', 'c-cold-total-cpu'];

/**
 * Runs one measurement; a time-out is counted for the report (under `key` and any `alsoKeys`, the
 * figures that depended on it) instead of ending the whole run. When `key` is itself the time waited
 * for, `limitSeconds` is how long that wait was allowed. True when it finished in time.
 */
async function measure(
  key: string,
  system: string,
  log: (line: string) => void,
  fn: () => Promise<void>,
  options: { readonly alsoKeys?: readonly string[]; readonly limitSeconds?: number } = {},
): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('timed out')) throw error;
    for (const k of [key, ...(options.alsoKeys ?? [])]) {
      timeouts[k] ??= {};
      timeouts[k][system] = (timeouts[k][system] ?? 0) + 1;
    }
    if (options.limitSeconds !== undefined) limits[key] = options.limitSeconds;
    log(`${system}: ${key}: ${error.message}`);
    return false;
  }
}

/** Adds the counts of `from` (by key, then system) to `to`. */
function addCounts(
  to: Record<string, Record<string, number>>,
  from: Record<string, Record<string, number>> | undefined,
): void {
  for (const [key, bySystem] of Object.entries(from ?? {}))
    for (const [system, n] of Object.entries(bySystem)) (to[key] ??= {})[system] = (to[key][system] ?? 0) + n;
}

/**
 * The summary of every figure by system: the measured samples and, for timed figures with a limit,
 * the runs that hit it (censored at the limit).
 */
export function summaries(
  samples: Samples,
  timedOut: Record<string, Record<string, number>>,
  limitOf: Record<string, number>,
): Record<string, Record<string, Summary>> {
  const out: Record<string, Record<string, Summary>> = {};
  for (const key of new Set([...Object.keys(samples), ...Object.keys(limitOf)])) {
    const limit = limitOf[key];
    const late = limit === undefined ? {} : (timedOut[key] ?? {});
    for (const system of new Set([...Object.keys(samples[key] ?? {}), ...Object.keys(late)])) {
      const count = late[system] ?? 0;
      (out[key] ??= {})[system] = summarise(
        samples[key]?.[system] ?? [],
        limit === undefined || count === 0 ? undefined : { count, limit },
      );
    }
  }
  return out;
}

function record(samples: Samples, key: string, system: string, value: number): void {
  samples[key] ??= {};
  (samples[key][system] ??= []).push(value);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function apiMetrics(admin: KubeCluster): Promise<string> {
  const res = await admin.client.call('GET', '/metrics', { accept: 'text/plain' });
  return typeof res.body === 'string' ? res.body : String(res.body);
}

async function apiRequests(admin: KubeCluster): Promise<number> {
  return metricValue(await apiMetrics(admin), 'apiserver_request_total');
}

/** API requests by kind of request, one map per run: what a system's requests were spent on. */
type Breakdowns = Record<string, Record<string, Record<string, number>[]>>;

/**
 * The API server's `apiserver_request_total` by verb and resource, as `VERB group/resource/subresource`
 * (the core group left out), marked `(dry run)` for dry-run writes: the status codes, scopes and
 * versions of one kind of request are added together.
 */
export function requestsByKind(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const close = line.lastIndexOf('}');
    const labels = new Map<string, string>();
    for (const m of line.slice(line.indexOf('{') + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels.set(m[1] ?? '', m[2] ?? '');
    const resource = [labels.get('group'), labels.get('resource'), labels.get('subresource')]
      .filter((part) => part !== undefined && part !== '')
      .join('/');
    const key = `${labels.get('verb') ?? '?'} ${resource || '(no resource)'}${labels.get('dry_run') ? ' (dry run)' : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(close + 1).trim()));
  }
  return counts;
}

/** The summary of a heap profile the harness took, for the log. */
async function heapProfileSummary(path: string): Promise<string> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as HeapProfile;
  return heapProfileLines(path, summariseHeapProfile(profile, { top: 20 })).join('\n');
}

/** What each kind of request grew by between two readings, leaving out the kinds that did not. */
export function requestsBetween(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
  scale = 1,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of after) {
    const grown = n - (before.get(key) ?? 0);
    if (grown > 0) out[key] = Math.round((grown / scale) * 10) / 10;
  }
  return out;
}

/** A whole number from 1 given on the command line, or undefined when the option is absent. */
function count(
  value: string | undefined,
  option: string,
  unit = 'a whole number from 1',
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${option} ${value}: expected ${unit}`);
  return n;
}

const seconds = (value: string | undefined, option: string) =>
  count(value, option, 'a whole number of seconds');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      systems: { type: 'string', default: 'capstan,flux,argocd' },
      scenarios: { type: 'string', default: 'a,b,c,d,e,f' },
      apps: { type: 'string' },
      objects: { type: 'string' },
      out: { type: 'string' },
      'latency-apps': { type: 'string' },
      'scale-interval': { type: 'string' },
      window: { type: 'string' },
      windows: { type: 'string' },
      name: { type: 'string' },
      title: { type: 'string' },
      resume: { type: 'boolean', default: false },
      render: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const config = benchConfig({
    quick: values.quick,
    runs: count(values.runs, '--runs'),
    apps: count(values.apps, '--apps'),
    objects: count(values.objects, '--objects'),
    latencyApps: values['latency-apps']?.split(',').map(Number),
    scaleInterval: seconds(values['scale-interval'], '--scale-interval'),
    window: seconds(values.window, '--window'),
    windows: count(values.windows, '--windows'),
  });
  const scenarios = new Set(values.scenarios.split(','));
  const log = (line: string) => {
    process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  };

  await mkdir(join(import.meta.dirname, 'results'), { recursive: true });
  const name = values.name ?? (config.quick ? 'quick' : 'bench');
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name))
    throw new Error(`--name ${name}: use lower-case letters, digits and -`);
  const jsonPath = join(import.meta.dirname, 'results', `${name}.json`);
  // --profile: CPU profiles of each system's first steady-state window, beside the results.
  const profileRoot = values.profile ? join(import.meta.dirname, 'results', `${name}-profiles`) : undefined;
  const out =
    values.out ?? (config.quick ? undefined : join(import.meta.dirname, '..', 'docs', 'benchmarks.md'));
  if (values.render) {
    // Writes the table again from the results alone (after the report changed): nothing is measured.
    const doc = await readResults(jsonPath, '--render');
    if (!doc.config || !doc.systems || !doc.samples)
      throw new Error(`--render: ${jsonPath} holds no samples to render`);
    const result = {
      ...doc,
      ...(values.title === undefined ? {} : { title: values.title }),
      summaries: summaries(doc.samples, doc.timeouts ?? {}, doc.limits ?? {}),
      runsCompleted: runsCompleted(new Set(doc.done ?? []), doc.config.runs, (run) =>
        unitsOfRun(
          run,
          Object.keys(doc.systems ?? {}),
          new Set(doc.scenarios ?? []),
          doc.config?.webhookApps ?? [],
        ).map((u) => u.id),
      ),
    } as ResultDoc;
    await writeFile(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
    const markdown = renderMarkdown(result, result.command ?? ['--name', name], name);
    if (out) await writeSection(out, markdown, name);
    process.stdout.write(`${markdown}\n`);
    log(`wrote ${jsonPath}${out ? ` and ${out}` : ''}`);
    return;
  }
  const clusterName = process.env['CAPSTAN_BENCH_CLUSTER'] ?? 'capstan-bench';
  const cluster: LocalCluster =
    (await attach(clusterName)) ??
    (await up({
      name: clusterName,
      progress: (l) => {
        log(`cluster: ${l}`);
      },
    }));
  const admin = new KubeCluster(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig }), { maxSockets: 16 });
  const work = await mkdtemp(join(tmpdir(), 'capstan-bench-'));
  const git = await GitServer.start({ root: join(work, 'git') });

  const wanted = values.systems.split(',');
  const all: SystemDriver[] = [capstanDriver, ...(await peerDrivers(log))];
  const drivers: SystemDriver[] = [];
  const skipped: Record<string, string> = {};
  for (const d of all) {
    if (!wanted.includes(d.name.toLowerCase().replace(/\s+/g, ''))) continue;
    const why = await d.unavailable();
    if (why) {
      skipped[d.name] = why;
      log(`${d.name}: not measured: ${why}`);
    } else drivers.push(d);
  }
  const samples: Samples = {};
  const breakdowns: Breakdowns = {};
  const recordBreakdown = (key: string, system: string, counts: Record<string, number>) => {
    ((breakdowns[key] ??= {})[system] ??= []).push(counts);
  };
  // An interrupted run (Ctrl-C, a CI timeout) stops the systems it started: nothing keeps running
  // against the cluster, loading it under the next run.
  const running = new Set<RunningSystem>();
  const startSystem = async (
    driver: SystemDriver,
    ...args: Parameters<SystemDriver['start']>
  ): Promise<RunningSystem> => {
    const system = await driver.start(...args);
    running.add(system);
    return system;
  };
  const stopSystem = async (system: RunningSystem) => {
    running.delete(system);
    await system.stop();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping ${String(running.size)} running system(s), then exiting`);
    void Promise.allSettled([...running].map((s) => s.stop())).finally(() => {
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const nsType = (await admin.resourceType('v1', 'Namespace')) as ResourceType;

  const freshNamespace = async (prefix: string) => {
    const name = `${prefix}-${randomBytes(2).toString('hex')}`;
    await admin.apply(
      nsType,
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
      { fieldManager: 'bench' },
    );
    return name;
  };
  /** Namespaces deleted and not yet gone: the next unit of work waits for them (settleDrops). */
  const dropping = new Set<string>();
  const dropNamespace = async (name: string) => {
    await admin.delete(nsType, '', name);
    dropping.add(name);
  };
  /**
   * Waits until the deleted namespaces are gone, so that the namespace controller's work overlaps neither
   * the next measurement nor the machine-speed reading before it: five minutes each, longer for a
   * namespace of many objects (100 000 at 10 000 applications: about 15 minutes). Called before a unit of
   * work, not after one: the last unit's namespace is not waited for, nothing is measured after it (the
   * next run on the cluster waits for it among the leftovers, or the cluster is removed).
   */
  const settleDrops = async () => {
    for (const name of dropping) {
      for (let i = 0; i < namespaceDeletionPolls(config.scaleApps * config.objectsPerApp); i++) {
        if (!(await admin.get(nsType, '', name))) break;
        await sleep(500);
      }
      dropping.delete(name);
    }
  };
  /**
   * What an interrupted run left on a reused cluster (its namespaces, Applications, Flux and Argo CD
   * objects, whose finalizers no controller will remove now) would load the cluster under the next
   * measurements: it goes first.
   */
  const clearLeftovers = async () => {
    const listed = await admin.client.call('GET', '/api/v1/namespaces');
    const names = ((listed.body as { items?: KubeObject[] } | undefined)?.items ?? [])
      .map((n) => n.metadata.name ?? '')
      .filter((n) => n.startsWith('bench-'));
    const bases = [
      ...names.map((n) => `/apis/capstan.dev/v1alpha1/namespaces/${n}/applications`),
      '/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations',
      '/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories',
      '/apis/argoproj.io/v1alpha1/namespaces/argocd/applications',
    ];
    for (const base of bases) await purge(admin, base).catch(() => undefined);
    if (names.length > 0)
      log(`removing ${String(names.length)} namespace(s) an earlier run left: ${names.join(', ')}`);
    await Promise.all(names.map(dropNamespace));
    await settleDrops();
  };
  await clearLeftovers();

  const apps = (count: number, repo: string, namespace: string): BenchApp[] =>
    Array.from({ length: count }, (_, i) => ({
      name: appName(i + 1),
      repoURL: git.url(repo),
      path: appFolder(i + 1),
      namespace,
    }));
  const revisions = (list: readonly BenchApp[], revision: number) =>
    new Map(list.map((a) => [a.name, String(revision)] as const));

  /** What a start of a system is given: the scale (the peers' settings follow it), interval, profiles. */
  const settings = (o: {
    apps: number;
    interval: number;
    profileDir?: string | undefined;
  }): SystemSettings => ({
    apps: o.apps,
    intervalSeconds: o.interval,
    concurrency: config.concurrency,
    selfHeal: true,
    ...(o.profileDir === undefined ? {} : { profileDir: o.profileDir }),
  });

  /** Scenario a (and b on the single application): webhook and polling latency for `count` applications. */
  const latencyPhase = async (driver: SystemDriver, count: number, run: number) => {
    const key = driver.name.toLowerCase().replace(/\s+/g, '');
    const namespace = await freshNamespace(`bench-${key}-a${String(count)}`);
    const repo = `a${String(count)}-r${String(run)}-${key}-${randomBytes(2).toString('hex')}`;
    await git.createRepository(repo, {
      files: monorepoFiles({ apps: count, objectsPerApp: config.objectsPerApp }, () => 1),
    });
    const list = apps(count, repo, namespace);
    // How long a commit or a drift may take to be applied before the run counts a time-out.
    const limitSeconds = config.interval * 4 + 120;
    const observer = new MarkerObserver(cluster.adminKubeconfig, namespace);
    const system = await startSystem(
      driver,
      { cluster, git, workDir: await mkdtemp(join(work, `${key}-`)), log },
      settings({ apps: count, interval: config.interval }),
    );
    try {
      await system.createApps(list);
      await observer.waitFor(revisions(list, 1), 600_000);
      const files = (revision: number) =>
        Object.fromEntries(
          list.map((_, i) => [
            `${appFolder(i + 1)}/manifests.yaml`,
            appManifests(i + 1, config.objectsPerApp, revision),
          ]),
        );
      const changed = list.map((_, i) => `${appFolder(i + 1)}/manifests.yaml`);
      if (scenarios.has('a')) {
        // Through the webhook.
        await git.commit(repo, { files: files(2), message: 'revision 2' });
        await measure(
          `a-webhook-${String(count)}`,
          driver.name,
          log,
          async () => {
            const t0 = performance.now();
            await system.refresh(list, changed);
            const times = await observer.waitFor(revisions(list, 2), limitSeconds * 1000, t0);
            const latencies = [...times.values()].map((t) => (t - t0) / 1000);
            record(samples, `a-webhook-${String(count)}`, driver.name, Math.max(...latencies));
            log(
              `${driver.name} run ${String(run)}: webhook, ${String(count)} apps: ${Math.max(...latencies).toFixed(2)} s`,
            );
          },
          { limitSeconds },
        );
        // By polling alone.
        await git.commit(repo, { files: files(3), message: 'revision 3' });
        await measure(
          `a-poll-${String(count)}`,
          driver.name,
          log,
          async () => {
            const t1 = performance.now();
            const polled = await observer.waitFor(revisions(list, 3), limitSeconds * 1000, t1);
            const pollLatency = Math.max(...[...polled.values()].map((t) => (t - t1) / 1000));
            record(samples, `a-poll-${String(count)}`, driver.name, pollLatency);
            log(
              `${driver.name} run ${String(run)}: polling, ${String(count)} apps: ${pollLatency.toFixed(2)} s`,
            );
          },
          { limitSeconds },
        );
      }
      if (scenarios.has('b') && count === 1 && list[0]) {
        const app = list[0];
        const live = observer.current(app.name) ?? '';
        await admin.client.call(
          'PATCH',
          `/api/v1/namespaces/${namespace}/configmaps/${app.name}-marker?fieldManager=kubectl-edit`,
          { body: { data: { revision: 'drifted' } }, contentType: 'application/merge-patch+json' },
        );
        const t2 = performance.now();
        await measure(
          'b-drift',
          driver.name,
          log,
          async () => {
            const back = await observer.waitFor(new Map([[app.name, live]]), limitSeconds * 1000, t2);
            const drift = ((back.get(app.name) ?? t2) - t2) / 1000;
            record(samples, 'b-drift', driver.name, drift);
            log(`${driver.name} run ${String(run)}: drift corrected in ${drift.toFixed(2)} s`);
          },
          { limitSeconds },
        );
      }
    } finally {
      await stopSystem(system);
      await observer.close();
      await dropNamespace(namespace);
    }
  };

  /** Scenarios c, d, e: N applications from one monorepo, started cold. */
  const scalePhase = async (driver: SystemDriver, run: number) => {
    const key = driver.name.toLowerCase().replace(/\s+/g, '');
    const n = config.scaleApps;
    const namespace = await freshNamespace(`bench-${key}-n${String(n)}`);
    const repo = `n${String(n)}-r${String(run)}-${key}-${randomBytes(2).toString('hex')}`;
    await git.createRepository(repo, {
      files: monorepoFiles({ apps: n, objectsPerApp: config.objectsPerApp }, () => 1),
    });
    const list = apps(n, repo, namespace);
    const observer = new MarkerObserver(cluster.adminKubeconfig, namespace);
    // With --profile, the profiles of this run go to a folder of their own beside the results.
    const profileDir = profileRoot === undefined ? undefined : join(profileRoot, `r${String(run)}`);
    if (profileDir !== undefined) await mkdir(profileDir, { recursive: true });
    const profiles: ProfileTaken[] = [];
    const split: CpuSplit[] = [];
    const system: RunningSystem = await startSystem(
      driver,
      { cluster, git, workDir: await mkdtemp(join(work, `${key}-`)), log },
      settings({ apps: n, interval: config.scaleInterval, profileDir }),
    );
    try {
      const controlPlane = await readControlPlane(clusterName);
      const kinds0 = requestsByKind(await apiMetrics(admin));
      const api0 = await apiRequests(admin);
      const git0 = git.requests.length;
      const cpu0 = readCpu(system.pids, controlPlane);
      const t0 = performance.now();
      await system.createApps(list);
      // A system that has not applied every application within the hour counts as "at least an hour"
      // for the time (the other cold-sync figures of that run, being incomplete, are not recorded),
      // and the scenarios that need a synced set (d, e) are skipped for that run.
      const synced = await measure(
        'c-cold-seconds',
        driver.name,
        log,
        async () => {
          await observer.waitFor(revisions(list, 1), coldSyncLimitSeconds(n) * 1000);
        },
        {
          alsoKeys: [...COLD_CPU_KEYS, 'c-cold-rss', 'c-cold-api', 'c-cold-git'],
          limitSeconds: coldSyncLimitSeconds(n),
        },
      );
      if (!synced) return;
      const seconds = (performance.now() - t0) / 1000;
      const used = totalUsage(system.pids);
      const cold = cpuFigures('c-cold', cpu0, readCpu(system.pids, controlPlane));
      if (scenarios.has('c')) {
        record(samples, 'c-cold-seconds', driver.name, seconds);
        for (const [k, v] of Object.entries(cold)) record(samples, k, driver.name, v);
        record(samples, 'c-cold-rss', driver.name, used.peakRssBytes / 2 ** 20);
        record(samples, 'c-cold-api', driver.name, (await apiRequests(admin)) - api0);
        recordBreakdown(
          'c-cold-api',
          driver.name,
          requestsBetween(kinds0, requestsByKind(await apiMetrics(admin))),
        );
        record(samples, 'c-cold-git', driver.name, git.requests.length - git0);
      }
      log(
        `${driver.name} run ${String(run)}: cold sync of ${String(n)} apps in ${seconds.toFixed(1)} s, ${(cold['c-cold-cpu'] ?? 0).toFixed(1)} CPU s (API server ${(cold['c-cold-apiserver-cpu'] ?? 0).toFixed(1)}, etcd ${(cold['c-cold-etcd-cpu'] ?? 0).toFixed(1)}), peak RSS ${(used.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
      );
      // Let the start-up settle (status writes, first health checks), then measure the windows, one
      // after the other: each is a sample (the later ones also show whether memory keeps growing).
      if (scenarios.has('d')) await sleep(5_000);
      for (let w = 1; scenarios.has('d') && w <= config.windows; w++) {
        const before = readCpu(system.pids, controlPlane);
        const kinds1 = requestsByKind(await apiMetrics(admin));
        const api1 = await apiRequests(admin);
        const t1 = performance.now();
        // The first window is profiled when the run takes profiles (--profile): the whole window.
        const profiling = w === 1 && profileDir !== undefined ? system.profile?.(config.window) : undefined;
        const split0 = profiling ? system.pids.map(cpuSplit) : [];
        await sleep(config.window * 1000);
        const after = readCpu(system.pids, controlPlane);
        const minutes = (performance.now() - t1) / 60_000;
        const steady = cpuFigures('d-steady', before, after, minutes);
        for (const [k, v] of Object.entries(steady)) record(samples, k, driver.name, v);
        if (profiling) {
          split.push(
            ...system.pids.map((pid, i) => cpuSplitBetween(split0[i] ?? cpuSplit(pid), cpuSplit(pid))),
          );
          profiles.push(...(await profiling));
        }
        record(samples, 'd-steady-rss', driver.name, totalUsage(system.pids).rssBytes / 2 ** 20);
        record(samples, 'd-steady-api', driver.name, ((await apiRequests(admin)) - api1) / minutes);
        recordBreakdown(
          'd-steady-api',
          driver.name,
          requestsBetween(kinds1, requestsByKind(await apiMetrics(admin)), minutes),
        );
        log(
          `${driver.name} run ${String(run)}${config.windows > 1 ? ` window ${String(w)}` : ''}: steady ${(steady['d-steady-cpu'] ?? 0).toFixed(2)} CPU s/min (API server ${(steady['d-steady-apiserver-cpu'] ?? 0).toFixed(2)}, etcd ${(steady['d-steady-etcd-cpu'] ?? 0).toFixed(2)})`,
        );
        // After the window's readings: what holds the memory now (a run under a heap sampler only).
        if (system.heapProfile) log(await heapProfileSummary(await system.heapProfile()));
      }
      if (scenarios.has('e') && list[0]) {
        const one = list[0];
        const git2 = git.requests.length;
        const renders0 = (await system.counters()).renders;
        await git.commit(repo, {
          files: { [`${appFolder(1)}/manifests.yaml`]: appManifests(1, config.objectsPerApp, 2) },
          message: 'one application changes',
        });
        const t2 = performance.now();
        await system.refresh(list, [`${appFolder(1)}/manifests.yaml`]);
        // A peer that renders every application of the monorepo again, in no particular order, may
        // take long to reach the one that changed: a time-out is reported, and the run goes on.
        const applied = await measure(
          'e-mono-seconds',
          driver.name,
          log,
          async () => {
            const times = await observer.waitFor(new Map([[one.name, '2']]), 600_000, t2);
            const at = times.get(one.name) ?? performance.now();
            record(samples, 'e-mono-seconds', driver.name, (at - t2) / 1000);
          },
          { alsoKeys: ['e-mono-git', 'e-mono-renders'], limitSeconds: 600 },
        );
        if (!applied) return;
        // What follows the change (other applications rendering again) counts too: wait until the
        // count has not grown for 15 s, or for at most the cap. A peer that renders every application
        // of a large monorepo again may take many minutes: then the count is a lower bound, and the
        // table says so.
        const cap = performance.now() + (config.quick ? 30_000 : 120_000);
        let renders1 = (await system.counters()).renders;
        for (let quiet = 0; quiet < 3;) {
          await sleep(5_000);
          const now = (await system.counters()).renders;
          quiet = now === renders1 ? quiet + 1 : 0;
          renders1 = now;
          if (quiet < 3 && performance.now() >= cap) {
            log(`${driver.name} run ${String(run)}: still rendering when the cap was reached`);
            const bySystem = (capped['e-mono-renders'] ??= {});
            bySystem[driver.name] = (bySystem[driver.name] ?? 0) + 1;
            break;
          }
        }
        record(samples, 'e-mono-git', driver.name, git.requests.length - git2);
        if (renders0 !== undefined && renders1 !== undefined)
          record(samples, 'e-mono-renders', driver.name, renders1 - renders0);
        log(
          `${driver.name} run ${String(run)}: one app of ${String(n)} changed: ${String(git.requests.length - git2)} git requests, renders ${renders1 === undefined || renders0 === undefined ? '?' : String(renders1 - renders0)}`,
        );
      }
    } finally {
      await stopSystem(system);
      await observer.close();
      await dropNamespace(namespace);
    }
    // A V8 profile is written when the agent exits: only now can the window be summarised.
    if (profileDir !== undefined && profiles.length > 0) {
      const summary = await recordProfiles(profileDir, driver.name, profiles, split);
      log(`${driver.name} run ${String(run)}: profiles in ${profileDir}\n${summary}`);
    }
  };

  /** Scenario f: the same objects applied by a raw concurrent server-side-apply client (admin). */
  const ceiling = async (run: number) => {
    const namespace = await freshNamespace('bench-raw');
    const objects: KubeObject[] = [];
    for (let i = 1; i <= config.scaleApps; i++)
      for (const doc of parseAllDocuments(appManifests(i, config.objectsPerApp, 1))) {
        const o = doc.toJSON() as KubeObject;
        objects.push({ ...o, metadata: { ...o.metadata, namespace } });
      }
    const types = new Map<string, ResourceType>();
    for (const o of objects)
      if (!types.has(`${o.apiVersion}/${o.kind}`))
        types.set(
          `${o.apiVersion}/${o.kind}`,
          (await admin.resourceType(o.apiVersion, o.kind)) as ResourceType,
        );
    const controlPlane = await readControlPlane(clusterName);
    const cpu0 = readCpu([], controlPlane);
    const t0 = performance.now();
    await mapBounded(objects, 16, async (o) => {
      await admin.apply(types.get(`${o.apiVersion}/${o.kind}`) as ResourceType, o, {
        fieldManager: 'raw-bench',
      });
    });
    const seconds = (performance.now() - t0) / 1000;
    record(samples, 'c-cold-seconds', 'raw SSA client', seconds);
    // The client is the harness itself, so only what the control plane spent serving it is recorded.
    const cold = cpuFigures('c-cold', cpu0, readCpu([], controlPlane));
    for (const k of ['c-cold-apiserver-cpu', 'c-cold-etcd-cpu'])
      record(samples, k, 'raw SSA client', cold[k] ?? 0);
    log(`raw SSA client run ${String(run)}: ${String(objects.length)} objects in ${seconds.toFixed(1)} s`);
    await dropNamespace(namespace);
  };

  // Results are written after each unit of work (one system's phase of one run), so that a long run
  // interrupted (or stopped at the end of a working day) keeps what it measured, and --resume goes on
  // from there with the same settings.
  const systemNames = drivers.map((d) => d.name);
  const started = new Date();
  // The options that reproduce this result (what the table's "Reproduce" line says).
  const command = process.argv.slice(2).filter((a) => a !== '--resume');
  let previous: Partial<ResultDoc> | undefined;
  /** The machine's load at the start and end of each unit of work: how quiet the machine was. */
  const loads: Record<string, UnitLoad> = {};
  /** The machine's speed before each unit of work (bench/machine-speed.ts). */
  const speeds: Record<string, MachineSpeed> = {};
  if (values.resume) {
    previous = await readResults(jsonPath, '--resume');
    const mismatch = resumeMismatch(previous, {
      config,
      systems: systemNames,
      scenarios: [...scenarios],
      machine: machine(),
      profiled: values.profile,
      described: Object.fromEntries(drivers.map((d) => [d.name, d.describe(config.scaleApps)])),
    });
    if (mismatch) throw new Error(`--resume ${jsonPath}: ${mismatch}; run without --resume to start again`);
    for (const [key, bySystem] of Object.entries(previous.samples ?? {}))
      for (const [system, values_] of Object.entries(bySystem))
        for (const v of values_) record(samples, key, system, v);
    for (const [key, bySystem] of Object.entries(previous.breakdowns ?? {}))
      for (const [system, runs] of Object.entries(bySystem))
        for (const counts of runs) recordBreakdown(key, system, counts);
    addCounts(timeouts, previous.timeouts);
    addCounts(capped, previous.capped);
    Object.assign(loads, previous.loads);
    Object.assign(speeds, previous.speeds);
    Object.assign(limits, previous.limits);
    log(`resuming ${jsonPath}: ${String(previous.done?.length ?? 0)} unit(s) done`);
  }
  const done = new Set(previous?.done ?? []);
  const title = values.title ?? previous?.title;
  const save = async () => {
    const result: ResultDoc = {
      ...(title === undefined ? {} : { title }),
      started: previous?.started ?? started.toISOString(),
      resumed: previous ? [...(previous.resumed ?? []), started.toISOString()] : [],
      finished: new Date().toISOString(),
      machine: machine(),
      config,
      scenarios: [...scenarios],
      systems: Object.fromEntries(drivers.map((d) => [d.name, d.describe(config.scaleApps)])),
      skipped,
      timeouts,
      capped,
      limits,
      loads,
      speeds,
      done: [...done],
      runsCompleted: runsCompleted(done, config.runs, (run) => unitsOf(run).map((u) => u.id)),
      command,
      peersByScale: true,
      ...(values.profile ? { profiled: true } : {}),
      samples,
      breakdowns,
      summaries: summaries(samples, timeouts, limits),
    };
    await writeFile(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
    const markdown = renderMarkdown(result, command, name);
    if (out) await writeSection(out, markdown, name);
    return markdown;
  };
  const unitsOf = (run: number) => unitsOfRun(run, systemNames, scenarios, config.webhookApps);
  const unit = async (id: string, fn: () => Promise<void>) => {
    if (done.has(id)) return;
    await settleDrops();
    speeds[id] = measureMachineSpeed();
    const other = speedOutliers(speeds).find((o) => o.id === id);
    if (other)
      log(
        `${id}: the machine is ${(Math.abs(other.change) * 100).toFixed(0)} % ${other.change > 0 ? 'slower' : 'faster'} than for the first part of this result (${String(speeds[id])} s): its absolute figures will not compare with the others'`,
      );
    const before = loadAverage();
    await fn();
    const after = loadAverage();
    if (before && after) loads[id] = { before, after };
    done.add(id);
    await save();
    log(`${id} done; results in ${jsonPath}`);
  };
  let markdown: string;
  try {
    const byName = new Map(drivers.map((d) => [d.name, d]));
    for (let run = 1; run <= config.runs; run++)
      for (const u of unitsOf(run)) {
        const driver = byName.get(u.system);
        if (u.phase === 'ceiling') await unit(u.id, () => ceiling(run));
        else if (!driver) throw new Error(`no driver for ${u.id}`);
        else if (u.phase === 'scale') await unit(u.id, () => scalePhase(driver, run));
        else await unit(u.id, () => latencyPhase(driver, u.count, run));
      }
    markdown = await save();
  } finally {
    await git.stop();
    admin.close();
  }
  process.stdout.write(`${markdown}\n`);
  log(`wrote ${jsonPath}${out ? ` and ${out}` : ''}`);
  if (dropping.size > 0)
    log(
      `the cluster is still deleting ${[...dropping].join(', ')} (a run that reuses it waits for that first; dev-cluster down ${clusterName} does not need to)`,
    );
}

/** One unit of work of a run: a system's phase, or the raw client's ceiling. */
export interface RunUnit {
  /** `r1/Capstan/scale`, `r1/Flux/latency-100`, `r1/raw SSA client/ceiling`: what --resume skips. */
  readonly id: string;
  readonly system: string;
  readonly phase: 'latency' | 'scale' | 'ceiling';
  /** The number of applications of a latency phase. */
  readonly count: number;
}

/**
 * The units of one run, in the order they run: each system's phases, with the ceiling right after
 * Capstan's (the system whose ratio to it the table gives), or last without Capstan. Measured beside
 * Capstan, the ceiling sees the same etcd history; and a sitting that ends during a peer's long cold
 * sync (two hours at 10 000 applications) still has Capstan's ratio to the ceiling of that run.
 */
export function unitsOfRun(
  run: number,
  systems: readonly string[],
  scenarios: ReadonlySet<string>,
  webhookApps: readonly number[],
): RunUnit[] {
  const r = `r${String(run)}`;
  const ceiling: RunUnit = {
    id: `${r}/raw SSA client/ceiling`,
    system: 'raw SSA client',
    phase: 'ceiling',
    count: 0,
  };
  const units: RunUnit[] = [];
  for (const system of systems) {
    if (scenarios.has('a') || scenarios.has('b'))
      for (const count of webhookApps)
        if (count === 1 || scenarios.has('a'))
          units.push({ id: `${r}/${system}/latency-${String(count)}`, system, phase: 'latency', count });
    if (scenarios.has('c') || scenarios.has('d') || scenarios.has('e'))
      units.push({ id: `${r}/${system}/scale`, system, phase: 'scale', count: 0 });
    if (system === 'Capstan' && scenarios.has('f')) units.push(ceiling);
  }
  if (!systems.includes('Capstan') && scenarios.has('f')) units.push(ceiling);
  return units;
}

/** How many whole runs `done` holds: runs with every unit done (a unit measured again leaves a gap). */
export function runsCompleted(
  done: ReadonlySet<string>,
  runs: number,
  unitsOfRun: (run: number) => string[],
): number {
  let k = 0;
  for (let run = 1; run <= runs; run++) if (unitsOfRun(run).every((u) => done.has(u))) k++;
  return k;
}

async function readResults(path: string, option: string): Promise<Partial<ResultDoc>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`${option}: there is no ${path}`, { cause: error });
  }
  try {
    return JSON.parse(text) as Partial<ResultDoc>;
  } catch (error) {
    throw new Error(
      `${option}: ${path} is not JSON: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/** Why an earlier result cannot be continued with these settings, or undefined when it can. */
export function resumeMismatch(
  previous: Partial<ResultDoc>,
  now: {
    config: BenchConfig;
    systems: readonly string[];
    scenarios: readonly string[];
    machine: string;
    profiled?: boolean;
    /** How each system runs now (its driver's description: settings, layout). */
    described?: Readonly<Record<string, string>>;
  },
): string | undefined {
  if (!previous.config || !previous.done) return 'it was written before results could be resumed';
  // Figures from two machines are not one run on one machine: their ratios would mean nothing.
  if (previous.machine !== undefined && previous.machine !== now.machine)
    return `it was measured on another machine (${previous.machine}; this one is ${now.machine})`;
  if (JSON.stringify(previous.config) !== JSON.stringify(now.config))
    return `it was measured with other settings (${JSON.stringify(previous.config)})`;
  if (JSON.stringify(Object.keys(previous.systems ?? {})) !== JSON.stringify(now.systems))
    return `it measured other systems (${Object.keys(previous.systems ?? {}).join(', ')})`;
  // A peer configured otherwise (another layout, other flags) gives samples of another figure.
  const reconfigured = Object.entries(now.described ?? {}).find(
    ([system, description]) =>
      previous.systems?.[system] !== undefined && previous.systems[system] !== description,
  );
  if (reconfigured)
    return `it ran ${reconfigured[0]} otherwise (${previous.systems?.[reconfigured[0]] ?? ''})`;
  if (JSON.stringify([...(previous.scenarios ?? [])].sort()) !== JSON.stringify([...now.scenarios].sort()))
    return `it ran other scenarios (${(previous.scenarios ?? []).join(',')})`;
  // Runs of the peers with other settings are not samples of the same figure.
  if (previous.peersByScale !== true)
    return "it was measured before the peers had their maintainers' settings for the scale (bench/scale.ts)";
  // A profiled window costs the profilers' CPU: its figures are not samples of an unprofiled run.
  if ((previous.profiled ?? false) !== (now.profiled ?? false))
    return previous.profiled ? 'it was profiled (--profile)' : 'it was not profiled (run without --profile)';
  return undefined;
}

function machine(): string {
  return `${String(cpus().length)} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node.js ${process.version}, Kubernetes v1.36.3 (local control plane, kwok nodes)`;
}

export const SCENARIOS: Record<string, ScenarioInfo> = {
  'a-webhook-1': { title: 'a. commit to applied, webhook, 1 application', unit: 's', digits: 2 },
  'a-webhook-10': {
    title: 'a. commit to applied, webhook, 10 applications (last one)',
    unit: 's',
    digits: 2,
  },
  'a-webhook-100': {
    title: 'a. commit to applied, webhook, 100 applications (last one)',
    unit: 's',
    digits: 2,
  },
  'a-poll-1': { title: 'a. commit to applied, polling, 1 application', unit: 's', digits: 1 },
  'a-poll-10': { title: 'a. commit to applied, polling, 10 applications (last one)', unit: 's', digits: 1 },
  'a-poll-100': { title: 'a. commit to applied, polling, 100 applications (last one)', unit: 's', digits: 1 },
  'b-drift': { title: 'b. drift to corrected', unit: 's', digits: 2 },
  'c-cold-seconds': { title: 'c. cold sync: time to all applied', unit: 's', digits: 1 },
  'c-cold-cpu': { title: 'c. cold sync: CPU seconds', unit: 'CPU s', digits: 1 },
  'c-cold-apiserver-cpu': {
    title: "c. cold sync: the API server's CPU seconds meanwhile",
    unit: 'CPU s',
    digits: 1,
  },
  'c-cold-etcd-cpu': { title: "c. cold sync: etcd's CPU seconds meanwhile", unit: 'CPU s', digits: 1 },
  'c-cold-total-cpu': {
    title: 'c. cold sync: CPU seconds of the system, the API server and etcd together',
    unit: 'CPU s',
    digits: 1,
  },
  'c-cold-rss': { title: 'c. cold sync: peak RSS', unit: 'MiB', digits: 0 },
  'c-cold-api': { title: 'c. cold sync: API requests', unit: 'requests', digits: 0 },
  'c-cold-git': { title: 'c. cold sync: git HTTP requests', unit: 'requests', digits: 0 },
  'd-steady-cpu': { title: 'd. steady state: CPU seconds per minute', unit: 'CPU s/min', digits: 2 },
  'd-steady-apiserver-cpu': {
    title: "d. steady state: the API server's CPU seconds per minute meanwhile",
    unit: 'CPU s/min',
    digits: 2,
  },
  'd-steady-etcd-cpu': {
    title: "d. steady state: etcd's CPU seconds per minute meanwhile",
    unit: 'CPU s/min',
    digits: 2,
  },
  'd-steady-total-cpu': {
    title: 'd. steady state: CPU seconds per minute of the system, the API server and etcd together',
    unit: 'CPU s/min',
    digits: 2,
  },
  'd-steady-rss': { title: 'd. steady state: RSS', unit: 'MiB', digits: 0 },
  'd-steady-api': { title: 'd. steady state: API requests per minute', unit: 'requests/min', digits: 0 },
  'e-mono-git': {
    title: 'e. one app of the monorepo changed: git HTTP requests',
    unit: 'requests',
    digits: 0,
  },
  'e-mono-renders': { title: 'e. one app of the monorepo changed: renders', unit: 'renders', digits: 0 },
  'e-mono-seconds': {
    title: 'e. one app of the monorepo changed: commit to applied, webhook',
    unit: 's',
    digits: 1,
  },
};

interface ResultDoc {
  /** The table's heading, when not the default (systems and scale). */
  readonly title?: string;
  readonly started: string;
  /** When the run was taken up again with --resume. */
  readonly resumed?: readonly string[];
  readonly finished?: string;
  readonly scenarios?: readonly string[];
  /** The units of work done (`r1/Capstan/scale`, …): what --resume skips. */
  readonly done?: readonly string[];
  /** Runs with every unit done. */
  readonly runsCompleted?: number;
  readonly samples?: Samples;
  /** API requests by kind, per run, of the figures that count them (c-cold-api, d-steady-api). */
  readonly breakdowns?: Breakdowns;
  readonly machine: string;
  /** `windows` is missing from results written before there was --windows (one window then). */
  readonly config: Omit<BenchConfig, 'windows'> & { readonly windows?: number | undefined };
  readonly systems: Record<string, string>;
  readonly skipped: Record<string, string>;
  readonly timeouts?: Record<string, Record<string, number>>;
  readonly capped?: Record<string, Record<string, number>>;
  /** The time limit (seconds) of each timed figure that had a time-out. */
  readonly limits?: Record<string, number>;
  /** The machine's load at the start and end of each unit of work (missing from older results). */
  readonly loads?: Record<string, UnitLoad>;
  /** The machine's speed before each unit of work (missing from older results). */
  readonly speeds?: Record<string, MachineSpeed>;
  /** The `npm run bench --` options that reproduce it. */
  readonly command?: readonly string[];
  /**
   * Whether the peers had their maintainers' settings for the scale (bench/scale.ts); results written
   * before gave every system the same concurrency.
   */
  readonly peersByScale?: boolean;
  /** Whether profilers ran in the first steady-state window (`--profile`): their cost is in its figures. */
  readonly profiled?: boolean;
  readonly summaries: Record<string, Record<string, Summary>>;
}

/** The settings the figures were measured with; those of scenarios that did not run are left out. */
function settingsLine(doc: ResultDoc): string {
  const ran = (x: string) => doc.scenarios?.includes(x) ?? true;
  const c = doc.config;
  const parts = [
    `${String(c.scaleApps)} applications × ${String(c.objectsPerApp)} objects (one monorepo, one folder each)`,
  ];
  if (ran('a') || ran('b'))
    parts.push(
      `latency scenarios with ${c.webhookApps.join(' and ')} applications, polling interval ${String(c.interval)} s`,
    );
  if (ran('c') || ran('d') || ran('e'))
    parts.push(`polling interval of the scale scenarios ${String(c.scaleInterval)} s`);
  parts.push(
    doc.peersByScale
      ? `Capstan's concurrency ${String(c.concurrency)}, the peers' settings those their maintainers recommend for the scale (bench/scale.ts; "How each system ran" says which)`
      : `concurrency ${String(c.concurrency)} for every system`,
  );
  if (ran('d'))
    parts.push(
      `steady-state window ${String(c.window)} s${windowsOf(doc) > 1 ? `, ${String(windowsOf(doc))} windows one after the other after each cold sync` : ''}`,
    );
  const profiled = doc.profiled
    ? " Profiled (`--profile`): CPU profilers ran through the first steady-state window of each system, so its CPU figures include their cost (V8's sampling profiler slows JavaScript several-fold); read the profiles, not these figures."
    : '';
  return `Scale: ${parts.join('; ')}.${profiled}`;
}

/** The machine's load at the start and end of one unit of work (one system's part of one run). */
export interface UnitLoad {
  readonly before: LoadAverage;
  readonly after: LoadAverage;
}

/**
 * How busy the machine was while measuring: the 1-minute load average at the start and end of each
 * unit, so that a reader can tell a quiet run from one beside other work (the CPU count is in the
 * machine line). Up to eight units are listed one by one, more as the range of their starts and ends.
 */
export function loadLines(doc: { readonly loads?: Record<string, UnitLoad> }): string[] {
  const entries = Object.entries(doc.loads ?? {});
  if (entries.length === 0) return [];
  const fmt = (x: number) => x.toFixed(1);
  const head = 'Machine load (1-minute load average, /proc/loadavg) at the start → end of each part';
  if (entries.length <= 8)
    return [
      `${head}: ${entries.map(([id, l]) => `${id} ${fmt(l.before.one)} → ${fmt(l.after.one)}`).join('; ')}.`,
    ];
  const range = (xs: number[]) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
  const starts = entries.map(([, l]) => l.before.one);
  const ends = entries.map(([, l]) => l.after.one);
  return [
    `${head}: starts ${range(starts)}, ends ${range(ends)} over ${String(entries.length)} parts (each in the results file).`,
  ];
}

/** Steady-state windows per cold sync (results written before --windows had one). */
function windowsOf(doc: ResultDoc): number {
  return doc.config.windows ?? 1;
}

/** How many samples each figure has: runs, and for the steady state runs × windows. */
function runsLine(doc: ResultDoc): string {
  const runs = doc.config.runs;
  const windows = windowsOf(doc);
  const steady = doc.scenarios?.includes('d') ?? true;
  const plural = (n: number, word: string) => `${String(n)} ${word}${n === 1 ? '' : 's'}`;
  if (doc.runsCompleted !== undefined && doc.runsCompleted < runs)
    return `**Partial: ${String(doc.runsCompleted)} of ${String(runs)} runs completed so far**${doc.done?.length ? ` (done: ${doc.done.join(', ')})` : ''} (\`--resume\` goes on); systems interleaved within each run; median, p99, min–max of the runs done${windows > 1 && steady ? ` (of the windows, for the steady state: ${String(windows)} after each cold sync)` : ''}.`;
  if (windows > 1 && steady)
    return `${plural(runs, 'run')}, systems one after the other within each run; the steady-state figures are the median, p99, min–max of ${plural(runs * windows, 'window')} (${String(windows)} after each cold sync), the others of the ${plural(runs, 'run')}${runs < 5 ? ' (fewer than five: see the tables with five runs for those)' : ''}.`;
  return `${plural(runs, 'run')} per figure, systems interleaved within each run; median, p99, min–max.`;
}

/** The markdown section: one table per scenario group, Capstan first, ratios to Capstan. */
export function renderMarkdown(doc: ResultDoc, argv: readonly string[], name = 'bench'): string {
  const systems = ['Capstan', ...Object.keys(doc.systems).filter((s) => s !== 'Capstan'), 'raw SSA client'];
  const lines: string[] = [
    `<!-- ${name}:start (written by \`npm run bench\`; edit bench/run.ts, not this section) -->`,
    `## ${doc.title ?? `${String(doc.config.scaleApps)} applications: ${Object.keys(doc.systems).join(', ')} on the same cluster`}`,
    '',
    `Measured ${doc.started}${doc.resumed?.length ? ` (resumed ${doc.resumed.join(', ')})` : ''} on ${doc.machine}.`,
    runsLine(doc),
    settingsLine(doc),
    ...loadLines(doc),
    ...speedLines(doc),
    '',
    '| scenario | ' + systems.map((s) => s).join(' | ') + ' | ratios (peer ÷ Capstan) |',
    '| --- | ' + systems.map(() => '---').join(' | ') + ' | --- |',
  ];
  for (const [key, info] of Object.entries(SCENARIOS)) {
    const row = doc.summaries[key] ?? {};
    const late = doc.timeouts?.[key] ?? {};
    if (Object.keys(row).length === 0 && Object.keys(late).length === 0) continue;
    const limit = doc.limits?.[key];
    const cell = (s: string) => {
      const x = row[s];
      const cut = doc.capped?.[key]?.[s];
      const missed =
        (late[s]
          ? limit === undefined || !x?.censored
            ? ` ${String(late[s])} run(s) timed out`
            : ` ${String(late[s])} of ${String(x.runs)} runs timed out at ${String(limit)} s, counted as ≥ ${String(limit)}`
          : '') + (cut ? ` (at least: still going at the cap in ${String(cut)} run(s))` : '');
      if (!x) return missed === '' ? '—' : missed.trim();
      const f = (v: number, figure: 'median' | 'p99' | 'min' | 'max') =>
        `${x.atLeast?.includes(figure) ? '≥ ' : ''}${v.toFixed(info.digits)}`;
      return `${f(x.median, 'median')} (p99 ${f(x.p99, 'p99')}; ${f(x.min, 'min')}–${f(x.max, 'max')})${missed}`;
    };
    const base = row['Capstan'];
    // A median that is a lower bound makes the ratio a bound too: at least when it is the peer's, at
    // most when it is Capstan's, and nothing when both are.
    const ratio = (s: string) => {
      const peer = row[s];
      if (s === 'Capstan' || !peer || !base || !(base.median > 0)) return undefined;
      const peerLow = peer.atLeast?.includes('median') === true;
      const baseLow = base.atLeast?.includes('median') === true;
      if (peerLow && baseLow) return undefined;
      const bound = peerLow ? '≥ ' : baseLow ? '≤ ' : '';
      return `${s} ${bound}${(peer.median / base.median).toFixed(2)}×`;
    };
    const ratios = systems
      .map(ratio)
      .filter((r) => r !== undefined)
      .join(', ');
    lines.push(`| ${info.title} (${info.unit}) | ${systems.map(cell).join(' | ')} | ${ratios || '—'} |`);
  }
  for (const [key, bySystem] of Object.entries(doc.breakdowns ?? {})) {
    const info = SCENARIOS[key];
    if (!info) continue;
    lines.push('', ...breakdownTable(info, bySystem));
  }
  lines.push('', '### How each system ran', '');
  for (const [name, how] of Object.entries(doc.systems)) lines.push(`- **${name}**: ${how}`);
  lines.push(
    '- **raw SSA client**: the harness itself applying the same objects with server-side apply, 16 requests in flight, admin identity: the ceiling for scenario c.',
  );
  for (const [name, why] of Object.entries(doc.skipped)) lines.push(`- **${name}**: not measured: ${why}`);
  lines.push(
    '',
    'Progress is observed the same way for every system: each application has a marker ConfigMap whose',
    '`revision` says which commit is live; the harness watches them. CPU seconds and RSS come from',
    '/proc (utime+stime of the processes and their waited-for children; VmHWM and VmRSS); the API',
    "server's and etcd's CPU seconds the same way, from their pids in the cluster's state file, over",
    "the same interval (so they include the control plane's own background work meanwhile: leases,",
    "the controller-manager's and scheduler's requests); API requests from the API server's",
    "`apiserver_request_total`; git requests from the git server's own log.",
    '',
    `Reproduce: \`npm run bench -- ${argv.map(shellWord).join(' ')}\` (starts or reuses the local cluster \`capstan-bench\`; builds the peers with scripts/build-peers.sh).`,
    `<!-- ${name}:end -->`,
  );
  return lines.join('\n');
}

/** A command-line argument as a shell reads it back: quoted when it holds spaces or other specials. */
export function shellWord(argument: string): string {
  return /^[\w.,/=:@%+-]+$/.test(argument) ? argument : `'${argument.replaceAll("'", `'\\''`)}'`;
}

/** How many kinds of request a breakdown table shows: the largest, by the largest median. */
const BREAKDOWN_ROWS = 12;

/**
 * A table of where the requests of one figure went: for each kind of request, each system's median
 * over its runs (a run without that kind counts 0), the largest kinds first.
 */
export function breakdownTable(
  info: ScenarioInfo,
  bySystem: Record<string, readonly Record<string, number>[]>,
): string[] {
  const systems = Object.keys(bySystem).sort((a, b) => (a === 'Capstan' ? -1 : b === 'Capstan' ? 1 : 0));
  const medians = new Map<string, Map<string, number>>();
  for (const system of systems) {
    const runs = bySystem[system] ?? [];
    for (const kind of new Set(runs.flatMap((r) => Object.keys(r)))) {
      const median = summarise(runs.map((r) => r[kind] ?? 0)).median;
      if (!medians.has(kind)) medians.set(kind, new Map());
      medians.get(kind)?.set(system, median);
    }
  }
  const largest = (kind: string) => Math.max(...(medians.get(kind)?.values() ?? [0]));
  const kinds = [...medians.keys()].sort((a, b) => largest(b) - largest(a) || a.localeCompare(b));
  const shown = kinds.slice(0, BREAKDOWN_ROWS);
  const rest = (system: string) =>
    kinds.slice(BREAKDOWN_ROWS).reduce((sum, kind) => sum + (medians.get(kind)?.get(system) ?? 0), 0);
  const figure = (n: number) => n.toFixed(Number.isInteger(n) ? 0 : 1);
  const lines = [
    `${info.title} by kind of request (${info.unit}, median of the runs; every request the API server counted meanwhile, the control plane's own included):`,
    '',
    `| request | ${systems.join(' | ')} |`,
    `| --- | ${systems.map(() => '---:').join(' | ')} |`,
    ...shown.map(
      (kind) => `| ${kind} | ${systems.map((s) => figure(medians.get(kind)?.get(s) ?? 0)).join(' | ')} |`,
    ),
  ];
  if (kinds.length > shown.length)
    lines.push(
      `| ${String(kinds.length - shown.length)} other kind${kinds.length - shown.length === 1 ? '' : 's'} | ${systems.map((s) => figure(rest(s))).join(' | ')} |`,
    );
  return lines;
}

/**
 * Replaces a generated section of a markdown file, between `<!-- NAME:start ... -->` and
 * `<!-- NAME:end -->` (or appends it), leaving the rest as it is.
 */
export async function writeSection(path: string, section: string, name = 'bench'): Promise<void> {
  const current = await readFile(path, 'utf8').catch(() => '# Benchmarks\n');
  const endMarker = `<!-- ${name}:end -->`;
  const start = current.indexOf(`<!-- ${name}:start`);
  const end = current.indexOf(endMarker);
  const next =
    start >= 0 && end > start
      ? `${current.slice(0, start)}${section}${current.slice(end + endMarker.length)}`
      : `${current.trimEnd()}\n\n${section}\n`;
  await writeFile(path, next);
}

if (import.meta.main) {
  exitWithUsageOnHelp(import.meta.filename);
  await main();
}
