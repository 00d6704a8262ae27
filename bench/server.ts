// Benchmark of `capstan server`'s read path and event stream, in one process on loopback: the API
// (src/api/server, real SQLite store, real HTTP) over a watch cache holding N Applications.
//   1. Listing: a first page of 100, a page in the middle (by cursor), and a filtered text search
//      (p50 and p99 over --requests requests each; the issue's goal is p50 under 100 ms at 10,000).
//   2. The event stream: --clients clients on GET /api/v1/stream while --changes Applications change
//      (delivery latency from the change to each client's receipt, p50 and p99; CPU and memory).
// The clients run in the same process as the server, so the CPU figure is theirs too (an upper bound
// for the server). Writes bench/results/server-<date>.json and the `server` section of docs/benchmarks.md.
// Usage: node bench/server.ts [--apps 10000] [--clients 100] [--changes 1000] [--requests 200] [--note TEXT]
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { openSqliteStore } from '../src/adapters/store/sqlite-store.ts';
import { buildServerApi } from '../src/api/server/app.ts';
import { APPLICATION_API_VERSION, APPLICATION_KIND, type Application } from '../src/contracts/application.ts';
import { ApplicationIndex } from '../src/server/application-index.ts';
import { Authenticator } from '../src/server/auth.ts';
import { CursorCodec } from '../src/server/cursor.ts';
import { ResourceViews } from '../src/server/resource-views.ts';
import { FakeApplicationWriter } from '../src/testing/fake-application-writer.ts';
import { FakeResourceReader } from '../src/testing/fake-resource-reader.ts';
import { exitWithUsageOnHelp } from '../scripts/usage.ts';
import { writeSection } from './run.ts';
import { summarise, type Summary } from './stats.ts';

exitWithUsageOnHelp(import.meta.filename);
const { values } = parseArgs({
  options: {
    apps: { type: 'string', default: '10000' },
    clients: { type: 'string', default: '100' },
    changes: { type: 'string', default: '1000' },
    requests: { type: 'string', default: '200' },
    note: { type: 'string', default: '' },
  },
  strict: true,
});
const APPS = Number(values.apps);
const CLIENTS = Number(values.clients);
const CHANGES = Number(values.changes);
const REQUESTS = Number(values.requests);
const ROOT = join(import.meta.dirname, '..');
const HEALTHS = ['Healthy', 'Healthy', 'Healthy', 'Progressing', 'Degraded'] as const;

/** Application i: spread over 50 namespaces and 10 projects, one in five not Healthy. */
function application(i: number, version: number): Application {
  const namespace = `team-${String(i % 50).padStart(2, '0')}`;
  return {
    apiVersion: APPLICATION_API_VERSION,
    kind: APPLICATION_KIND,
    metadata: {
      name: `app-${String(i).padStart(5, '0')}`,
      namespace,
      uid: `uid-${String(i)}`,
      resourceVersion: String(version),
      labels: { tier: i % 3 === 0 ? 'front' : 'back' },
    },
    spec: {
      project: `project-${String(i % 10)}`,
      source: { repoURL: `https://git.example.com/org/${namespace}.git`, path: `apps/app-${String(i)}` },
    },
    status: {
      sync: { status: i % 7 === 0 ? 'OutOfSync' : 'Synced', revision: 'a'.repeat(40) },
      health: { status: HEALTHS[i % HEALTHS.length] ?? 'Healthy' },
    },
  };
}

async function timed(url: string, cookie: string): Promise<{ ms: number; body: { next?: string } }> {
  const start = performance.now();
  const response = await fetch(url, { headers: { cookie } });
  const body = (await response.json()) as { next?: string };
  if (!response.ok) throw new Error(`${url}: ${String(response.status)} ${JSON.stringify(body)}`);
  return { ms: performance.now() - start, body };
}

async function measure(label: string, url: () => string, cookie: string): Promise<Summary> {
  const samples: number[] = [];
  for (let i = 0; i < REQUESTS; i++) samples.push((await timed(url(), cookie)).ms);
  const summary = summarise(samples);
  process.stderr.write(`${label}: p50 ${summary.median.toFixed(1)} ms, p99 ${summary.p99.toFixed(1)} ms\n`);
  return summary;
}

/** A stream client: the time each event id arrived. */
async function streamClient(
  base: string,
  cookie: string,
  arrivals: Map<string, number>[],
  signal: AbortSignal,
) {
  const response = await fetch(`${base}/api/v1/stream`, { headers: { cookie }, signal });
  const got = new Map<string, number>();
  arrivals.push(got);
  const body = response.body as AsyncIterable<Uint8Array> | null;
  if (!body) throw new Error('no stream body');
  const decoder = new TextDecoder();
  let buffer = '';
  void (async () => {
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const name = /^data: .*"name":"([^"]+)"/m.exec(block)?.[1];
          const rv = /"resourceVersion":"(\d+)"/.exec(block)?.[1];
          if (name !== undefined && rv !== undefined) got.set(`${name}@${rv}`, performance.now());
          end = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // aborted at the end
    }
  })();
}

async function main(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'capstan-bench-server-'));
  const store = openSqliteStore({ path: join(scratch, 'server.db') });
  const index = new ApplicationIndex();
  const writer = new FakeApplicationWriter(index.handle);
  const auth = new Authenticator({ store, now: Date.now });
  const admin = await auth.ensureAdmin();
  for (let i = 0; i < APPS; i++) writer.seed(application(i, 1));
  index.handle({ type: 'SYNCED', object: { apiVersion: 'v1', kind: 'List', metadata: {} } });
  const app: FastifyInstance = buildServerApi({
    applications: index,
    writer,
    projects: { get: () => undefined, list: () => [] },
    clusters: () => Promise.resolve([]),
    events: () => Promise.resolve([]),
    resources: new ResourceViews({ reader: new FakeResourceReader() }),
    repositories: { resolve: () => Promise.reject(new Error('not in this benchmark')) },
    auth,
    store,
    cursors: new CursorCodec({ key: randomBytes(32), now: Date.now }),
    now: Date.now,
    secureCookies: false,
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const login = await fetch(`${base}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: admin.created ? admin.password : '' }),
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    // 1. Listing.
    const first = await measure('first page of 100', () => `${base}/api/v1/applications?limit=100`, cookie);
    let cursor = '';
    for (let page = 0; page < Math.floor(APPS / 200); page++)
      cursor =
        (await timed(`${base}/api/v1/applications?limit=100${cursor ? `&cursor=${cursor}` : ''}`, cookie))
          .body.next ?? '';
    const middle = await measure(
      'a page in the middle (cursor)',
      () => `${base}/api/v1/applications?limit=100&cursor=${cursor}`,
      cookie,
    );
    const search = await measure(
      'filtered search (health=Degraded, text "app-01")',
      () => `${base}/api/v1/applications?limit=100&health=Degraded&search=app-01`,
      cookie,
    );
    // 2. The event stream.
    const stop = new AbortController();
    const arrivals: Map<string, number>[] = [];
    for (let c = 0; c < CLIENTS; c++) await streamClient(base, cookie, arrivals, stop.signal);
    await new Promise((r) => setTimeout(r, 500));
    const cpuBefore = process.cpuUsage();
    const sent = new Map<string, number>();
    const started = performance.now();
    for (let i = 0; i < CHANGES; i++) {
      const changed = application(i * Math.max(1, Math.floor(APPS / CHANGES)), 2);
      sent.set(`${changed.metadata.name}@2`, performance.now());
      index.handle({ type: 'MODIFIED', object: changed });
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && arrivals.some((got) => got.size < sent.size))
      await new Promise((r) => setTimeout(r, 100));
    const elapsed = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    stop.abort();
    const latencies: number[] = [];
    let missing = 0;
    for (const got of arrivals)
      for (const [key, at] of sent) {
        const arrived = got.get(key);
        if (arrived === undefined) missing++;
        else latencies.push(arrived - at);
      }
    const delivery = summarise(latencies);
    const memory = process.memoryUsage();
    const result = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30) },
      apps: APPS,
      requests: REQUESTS,
      list: { firstPage: first, middlePage: middle, filteredSearch: search },
      stream: {
        clients: CLIENTS,
        changes: CHANGES,
        delivered: latencies.length,
        missing,
        deliveryMs: delivery,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        wallSeconds: elapsed / 1000,
        rssMiB: Math.round(memory.rss / 2 ** 20),
        heapMiB: Math.round(memory.heapUsed / 2 ** 20),
      },
    };
    process.stderr.write(
      `stream: ${String(latencies.length)} deliveries (${String(missing)} missing), p50 ${delivery.median.toFixed(1)} ms, ` +
        `p99 ${delivery.p99.toFixed(1)} ms, CPU ${result.stream.cpuSeconds.toFixed(2)} s, RSS ${String(result.stream.rssMiB)} MiB\n`,
    );
    await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
    const file = join(ROOT, 'bench', 'results', `server-${String(APPS)}-${result.date.slice(0, 10)}.json`);
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    await writeSection(join(ROOT, 'docs', 'benchmarks.md'), section(result), 'server');
  } finally {
    await app.close();
    await store.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

function section(r: {
  date: string;
  machine: { cpus: number; memoryGiB: number };
  apps: number;
  requests: number;
  list: Record<string, Summary>;
  stream: {
    clients: number;
    changes: number;
    delivered: number;
    missing: number;
    deliveryMs: Summary;
    cpuSeconds: number;
    wallSeconds: number;
    rssMiB: number;
  };
}): string {
  const ms = (s: Summary) => `${s.median.toFixed(1)} | ${s.p99.toFixed(1)}`;
  return [
    '<!-- server:start (written by bench/server.ts) -->',
    '## `capstan server`: listing and the event stream',
    '',
    `${r.date.slice(0, 10)}, ${String(r.machine.cpus)} cores, ${String(r.machine.memoryGiB)} GiB; ${String(r.apps)} Applications in the watch cache, ` +
      `${String(r.requests)} requests per figure over loopback HTTP, client and server in one process (\`node bench/server.ts --apps ${String(r.apps)} --clients ${String(r.stream.clients)} --changes ${String(r.stream.changes)}\`).`,
    '',
    '| request | p50 ms | p99 ms |',
    '| --- | --- | --- |',
    `| first page of 100 | ${ms(r.list['firstPage'] as Summary)} |`,
    `| a page in the middle (cursor) | ${ms(r.list['middlePage'] as Summary)} |`,
    `| filtered search (health and text) | ${ms(r.list['filteredSearch'] as Summary)} |`,
    '',
    `Event stream: ${String(r.stream.clients)} clients, ${String(r.stream.changes)} Applications changed: ${String(r.stream.delivered)} deliveries ` +
      `(${String(r.stream.missing)} missing), latency p50 ${r.stream.deliveryMs.median.toFixed(1)} ms, p99 ${r.stream.deliveryMs.p99.toFixed(1)} ms; ` +
      `CPU ${r.stream.cpuSeconds.toFixed(2)} s over ${r.stream.wallSeconds.toFixed(2)} s (server and clients together), RSS ${String(r.stream.rssMiB)} MiB.`,
    ...(values.note ? ['', values.note] : []),
    '<!-- server:end -->',
  ].join('\n');
}

await main();
