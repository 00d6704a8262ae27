// Benchmark of the web UI in Debian's chromium (headless, playwright-core), against `capstan server`'s
// HTTP app (the real routes, watch-cache index, SQLite store and UI assets) holding N Applications:
//   - navigation to an interactive list: from navigation start (performance.timeOrigin) to the first
//     frame painted after the first row is shown, and to the last of the N rows read;
//   - a filter's response: from the click on a count chip (OutOfSync) to the first frame that shows
//     only matching rows, and a search (after the list's 150 ms typing pause);
//   - an application with R resources: from navigation start to the first frame with its tree drawn (the
//     graph, and the resource table's first rows: the table is virtualised and says it holds R rows);
//   - the initial JavaScript and CSS, gzip and brotli compressed.
// The Applications enter the server's index as watch events (no cluster: the list, its filters and the
// event stream read only that index). Usage: node bench/ui.ts [--apps 10000] [--resources 1000] [--runs 5]
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { chromium, type Browser, type Page } from 'playwright-core';
import { openSqliteStore } from '../src/adapters/store/sqlite-store.ts';
import { buildServerApi } from '../src/api/server/app.ts';
import { serveWebUi } from '../src/api/server/web-ui.ts';
import { APPLICATION_API_VERSION, APPLICATION_KIND } from '../src/contracts/application.ts';
import type { KubeObject } from '../src/core/resource.ts';
import { DEFAULT_UI_ROOT } from '../src/main/server.ts';
import type { ProjectDirectory } from '../src/server/access.ts';
import { ApplicationIndex } from '../src/server/application-index.ts';
import { Authenticator } from '../src/server/auth.ts';
import { CursorCodec } from '../src/server/cursor.ts';
import { FakeApplicationWriter } from '../src/testing/fake-application-writer.ts';
import { FakeResourceReader } from '../src/testing/fake-resource-reader.ts';
import { ResourceViews } from '../src/server/resource-views.ts';
import { exitWithUsageOnHelp } from '../scripts/usage.ts';
import { writeSection } from './run.ts';
import { summarise, type Summary } from './stats.ts';

const SYNC = ['Synced', 'Synced', 'OutOfSync', 'Unknown'] as const;
const HEALTH = ['Healthy', 'Healthy', 'Healthy', 'Progressing', 'Degraded', 'Missing'] as const;
const PASSWORD = `bench-${randomBytes(8).toString('hex')}`;

function application(i: number, resources: number): KubeObject {
  const namespace = `team-${String(i % 50).padStart(2, '0')}`;
  const name = `app-${String(i).padStart(5, '0')}`;
  return {
    apiVersion: APPLICATION_API_VERSION,
    kind: APPLICATION_KIND,
    metadata: { name, namespace, resourceVersion: String(i + 1), uid: `uid-${String(i)}` },
    spec: {
      project: 'default',
      source: { repoURL: `https://git.example/org/${namespace}.git`, path: `apps/${name}` },
    },
    status: {
      sync: { status: SYNC[i % SYNC.length], revision: randomBytes(20).toString('hex') },
      health: { status: HEALTH[i % HEALTH.length] },
      resources: Array.from({ length: resources }, (_, r) => ({
        group: r % 3 === 0 ? 'apps' : '',
        kind: r % 3 === 0 ? 'Deployment' : r % 3 === 1 ? 'Service' : 'ConfigMap',
        namespace,
        name: `${name}-${String(r)}`,
        syncStatus: 'Synced',
        health: { status: 'Healthy' },
      })),
    },
  };
}

async function startServer(
  apps: number,
  resources: number,
): Promise<{ url: string; close: () => Promise<void> }> {
  const store = openSqliteStore({ path: ':memory:' });
  const auth = new Authenticator({ store, now: Date.now });
  await auth.setPassword('admin', PASSWORD, { admin: true });
  const index = new ApplicationIndex({ epoch: 'bench' });
  for (let i = 0; i < apps; i++)
    index.handle({ type: 'ADDED', object: application(i, i === 0 ? resources : 3) });
  index.handle({ type: 'SYNCED', object: { apiVersion: 'v1', kind: 'List', metadata: {} } });
  const projects: ProjectDirectory = { get: () => undefined, list: () => [] };
  const app = buildServerApi({
    applications: index,
    writer: new FakeApplicationWriter(index.handle),
    projects,
    clusters: () => Promise.resolve([]),
    events: () => Promise.resolve([]),
    resources: new ResourceViews({ reader: new FakeResourceReader() }),
    // The UI's pages here test no repository connection.
    repositories: { resolve: () => Promise.reject(new Error('not in this benchmark')) },
    auth,
    store,
    cursors: new CursorCodec({ key: randomBytes(32), now: Date.now }),
    now: Date.now,
    secureCookies: false,
  });
  if (!serveWebUi(app, { root: DEFAULT_UI_ROOT, tls: false })) throw new Error('the UI is not built');
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    close: async () => {
      await app.close();
      await store.close();
    },
  };
}

/** performance.now() at the first frame after `condition` holds, polled every frame. */
const FRAME_AFTER = `(condition) => new Promise((resolve) => {
  const check = () => { if (condition()) requestAnimationFrame(() => resolve(performance.now())); else requestAnimationFrame(check); };
  check();
})`;

async function listToInteractive(
  page: Page,
  url: string,
  apps: number,
): Promise<{ shown: number; all: number }> {
  await page.goto(`${url}/applications`, { waitUntil: 'commit' });
  const shown = await page.evaluate<number>(
    `(${FRAME_AFTER})(() => document.querySelector('[data-index="0"] a') !== null)`,
  );
  const all = await page.evaluate<number>(
    `(${FRAME_AFTER})(() => document.querySelector('[role=list][aria-label=Applications] [role=listitem]')?.getAttribute('aria-setsize') === '${String(apps)}')`,
  );
  return { shown, all };
}

async function filterResponse(page: Page): Promise<number> {
  return page.evaluate<number>(`(async () => {
    const chip = [...document.querySelectorAll('.counts button')].find((b) => b.textContent.startsWith('OutOfSync'));
    const start = performance.now();
    chip.click();
    const onlyOutOfSync = () => {
      const rows = [...document.querySelectorAll('[role=listitem] [data-sync]')];
      return rows.length > 0 && rows.every((r) => r.getAttribute('data-sync') === 'OutOfSync');
    };
    return (await (${FRAME_AFTER})(onlyOutOfSync)) - start;
  })()`);
}

async function searchResponse(page: Page): Promise<number> {
  const box = page.getByRole('searchbox');
  await box.fill('');
  return page.evaluate<number>(`(async () => {
    const box = document.querySelector('input[type=search]');
    const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
    const start = performance.now();
    setter.call(box, 'app-00042');
    box.dispatchEvent(new Event('input', { bubbles: true }));
    const one = () => {
      const rows = document.querySelectorAll('[role=listitem]');
      return rows.length === 1 && rows[0].textContent.includes('app-00042');
    };
    return (await (${FRAME_AFTER})(one)) - start;
  })()`);
}

async function treeShown(page: Page, url: string, resources: number): Promise<number> {
  await page.goto(`${url}/applications/team-00/app-00000`, { waitUntil: 'commit' });
  return page.evaluate<number>(
    `(${FRAME_AFTER})(() => document.querySelectorAll('.graph-node').length > 0 && document.querySelector('.resource-table[aria-rowcount="${String(resources + 1)}"] tbody tr[aria-rowindex="2"]') !== null)`,
  );
}

async function initialAssets(): Promise<{ files: string[]; raw: number; gzip: number; brotli: number }> {
  const html = await readFile(join(DEFAULT_UI_ROOT, 'index.html'), 'utf8');
  const files = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1] ?? '');
  let raw = 0;
  let gzip = 0;
  let brotli = 0;
  for (const file of files) {
    const body = await readFile(join(DEFAULT_UI_ROOT, file));
    raw += body.length;
    gzip += gzipSync(body, { level: 9 }).length;
    brotli += brotliCompressSync(body).length;
  }
  return { files, raw, gzip, brotli };
}

async function loggedInPage(browser: Browser, url: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
  const answer = await context.request.post(`${url}/api/v1/session`, {
    data: { username: 'admin', password: PASSWORD },
  });
  if (!answer.ok()) throw new Error(`login: ${String(answer.status())}`);
  return context.newPage();
}

async function main(): Promise<void> {
  exitWithUsageOnHelp(import.meta.filename);
  const { values } = parseArgs({
    options: {
      apps: { type: 'string', default: '10000' },
      resources: { type: 'string', default: '1000' },
      runs: { type: 'string', default: '5' },
    },
    strict: true,
  });
  const apps = Number(values.apps);
  const resources = Number(values.resources);
  const runs = Number(values.runs);
  execFileSync('bash', [join(import.meta.dirname, '..', 'scripts', 'build-ui.sh')], { stdio: 'inherit' });
  const executablePath = execFileSync(
    'bash',
    [join(import.meta.dirname, '..', 'scripts', 'setup-browser.sh')],
    {
      encoding: 'utf8',
    },
  ).trim();
  const loadBefore = loadavg()[0] ?? 0;
  const server = await startServer(apps, resources);
  const browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const samples = {
    shown: [] as number[],
    all: [] as number[],
    filter: [] as number[],
    search: [] as number[],
    tree: [] as number[],
  };
  try {
    for (let run = 0; run < runs; run++) {
      const page = await loggedInPage(browser, server.url);
      const list = await listToInteractive(page, server.url, apps);
      samples.shown.push(list.shown);
      samples.all.push(list.all);
      samples.filter.push(await filterResponse(page));
      await page.goto(`${server.url}/applications`);
      await page.locator('[data-index="0"] a').waitFor();
      samples.search.push(await searchResponse(page));
      samples.tree.push(await treeShown(page, server.url, resources));
      await page.context().close();
      console.log(
        `run ${String(run + 1)}: ${JSON.stringify(Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, Math.round(v.at(-1) ?? 0)])))}`,
      );
    }
  } finally {
    await browser.close();
    await server.close();
  }
  const assets = await initialAssets();
  await report({ apps, resources, runs, samples, assets, load: [loadBefore, loadavg()[0] ?? 0] });
}

async function report(result: {
  apps: number;
  resources: number;
  runs: number;
  samples: Record<'shown' | 'all' | 'filter' | 'search' | 'tree', number[]>;
  assets: { files: string[]; raw: number; gzip: number; brotli: number };
  /** The machine's 1-minute load average before and after: other work on the same cores slows every figure. */
  load: [number, number];
}): Promise<void> {
  const s = Object.fromEntries(Object.entries(result.samples).map(([k, v]) => [k, summarise(v)])) as Record<
    keyof typeof result.samples,
    Summary
  >;
  const ms = (x: Summary) => `${x.median.toFixed(0)} ms (${x.min.toFixed(0)}–${x.max.toFixed(0)})`;
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} kB`;
  const chromiumVersion = execFileSync('chromium', ['--version'], { encoding: 'utf8' }).trim();
  const machine = `${String(cpus().length)} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
  const section = [
    `## Web UI: ${result.apps.toLocaleString('en')} applications in a browser`,
    '',
    `${new Date().toISOString().slice(0, 10)}, ${machine}, ${chromiumVersion} headless, ${String(result.runs)} runs (median, min–max), the server on the same machine; load average ${result.load[0].toFixed(1)} before, ${result.load[1].toFixed(1)} after (on ${String(cpus().length)} cores: anything above that is other work waiting for them). The Applications enter the server's watch-cache index as watch events (no cluster); everything else is the real server and UI.`,
    '',
    '| measure | goal | result |',
    '| --- | --- | --- |',
    `| navigation to the list shown and interactive (first frame after the first rows; from navigation start) | < 1 s | ${ms(s.shown)} |`,
    `| … until all ${result.apps.toLocaleString('en')} rows are read (pages of 500, behind the first) | | ${ms(s.all)} |`,
    `| a filter's response (click on the OutOfSync count → first frame with only OutOfSync rows) | < 100 ms | ${ms(s.filter)} |`,
    `| a search's response (one name typed → that row alone; includes the list's 150 ms typing pause) | | ${ms(s.search)} |`,
    `| an application with ${result.resources.toLocaleString('en')} resources: navigation to its tree drawn (graph, and the virtualised table's first rows of all of them) | < 1 s | ${ms(s.tree)} |`,
    `| initial JavaScript and CSS (${String(result.assets.files.length)} files), gzip / brotli | < 300 kB | ${kb(result.assets.gzip)} / ${kb(result.assets.brotli)} (${kb(result.assets.raw)} raw) |`,
    '',
    `Reproduce: \`node bench/ui.ts --apps ${String(result.apps)} --resources ${String(result.resources)} --runs ${String(result.runs)}\`.`,
  ].join('\n');
  await mkdir(join(import.meta.dirname, 'results'), { recursive: true });
  await writeFile(
    join(import.meta.dirname, 'results', 'ui.json'),
    JSON.stringify({ ...result, summary: s }, null, 2) + '\n',
  );
  await writeSection(
    join(import.meta.dirname, '..', 'docs', 'benchmarks.md'),
    `<!-- ui:start (written by \`node bench/ui.ts\`) -->\n${section}\n<!-- ui:end -->`,
    'ui',
  );
  console.log(section);
}

if (import.meta.main) await main();
