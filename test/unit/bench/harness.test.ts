import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import {
  appFolder,
  appManifests,
  appName,
  MARKER_LABEL,
  monorepoFiles,
  repoPerAppFiles,
} from '../../../bench/fixtures.ts';
import {
  loadAverage,
  parseLoadAverage,
  parseStat,
  parseStatusKb,
  processUsage,
} from '../../../bench/proc.ts';
import {
  benchConfig,
  breakdownTable,
  loadLines,
  renderMarkdown,
  requestsBetween,
  requestsByKind,
  SCENARIOS,
  shellWord,
  summaries,
  resumeMismatch,
  runsCompleted,
  unitsOfRun,
  writeSection,
} from '../../../bench/run.ts';
import { summarise } from '../../../bench/stats.ts';
import { metricValue } from '../../../bench/systems/capstan.ts';
import { argoCDManifestGenerations } from '../../../bench/systems/peers.ts';

interface Doc {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}
const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJSON() as Doc);

describe('benchmark fixtures', () => {
  it('gives each application M objects with unique names and one marker at its revision', () => {
    const objects = docs(appManifests(7, 10, 3));
    assert.equal(objects.length, 10);
    assert.equal(new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`)).size, 10);
    assert.ok(objects.every((o) => o.metadata.name.startsWith('app-0007-')));
    const markers = objects.filter((o) => o.metadata.labels?.[MARKER_LABEL] === 'true');
    assert.equal(markers.length, 1);
    assert.equal(markers[0]?.data?.['revision'], '3');
    assert.deepEqual([...new Set(objects.map((o) => o.kind))].sort(), [
      'ConfigMap',
      'Secret',
      'Service',
      'ServiceAccount',
    ]);
  });

  it('changes only the marker between revisions', () => {
    const a = docs(appManifests(1, 10, 1));
    const b = docs(appManifests(1, 10, 2));
    const differing = a.filter((o, i) => JSON.stringify(o) !== JSON.stringify(b[i]));
    assert.deepEqual(
      differing.map((o) => o.metadata.name),
      ['app-0001-marker'],
    );
  });

  it('lays out a monorepo with one folder per application, and a repository per application', () => {
    const files = monorepoFiles({ apps: 12, objectsPerApp: 3 }, (i) => (i === 5 ? 2 : 1));
    const folders = Object.keys(files).filter((f) => f.startsWith('apps/'));
    assert.equal(folders.length, 12);
    assert.equal(appFolder(12), 'apps/app-0012');
    assert.equal(appName(12), 'app-0012');
    assert.match(files['apps/app-0005/manifests.yaml'] ?? '', /revision: "2"/);
    assert.match(files['apps/app-0006/manifests.yaml'] ?? '', /revision: "1"/);
    assert.deepEqual(Object.keys(repoPerAppFiles(3, 2, 1)), ['app/manifests.yaml']);
  });

  it('refuses a shape without objects', () => {
    assert.throws(() => appManifests(1, 0, 1), /objectsPerApp must be a whole number/);
  });
});

describe('benchmark accounting', () => {
  it('reads CPU ticks from /proc/<pid>/stat even when the command has spaces and parentheses', () => {
    const stat =
      '4242 (node (worker) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 30 7 3 20 0 11 0 100 1000 200 18446744073709551615';
    assert.deepEqual(parseStat(stat), { utime: 150, stime: 30, cutime: 7, cstime: 3 });
  });

  it('reads memory lines of /proc/<pid>/status in bytes', () => {
    const status = 'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n';
    assert.equal(parseStatusKb(status, 'VmHWM'), 200 * 1024 * 1024);
    assert.equal(parseStatusKb(status, 'VmRSS'), 100 * 1024 * 1024);
    assert.equal(parseStatusKb(status, 'VmSwap'), 0);
  });

  it('measures this process', () => {
    const usage = processUsage(process.pid);
    assert.ok(usage.cpuSeconds > 0);
    assert.ok(usage.peakRssBytes >= usage.rssBytes && usage.rssBytes > 0);
  });

  it("reads the machine's load averages from /proc/loadavg, and refuses a text that is not one", () => {
    assert.deepEqual(parseLoadAverage('0.78 1.08 1.42 2/344 21733\n'), {
      one: 0.78,
      five: 1.08,
      fifteen: 1.42,
    });
    assert.equal(parseLoadAverage(''), undefined);
    assert.equal(parseLoadAverage('busy 1 2'), undefined);
    const now = loadAverage();
    assert.ok(now !== undefined && now.one >= 0 && now.fifteen >= 0);
    assert.equal(loadAverage('/nonexistent/loadavg'), undefined);
  });

  it("states the machine's load of each part, or the range of many parts, under a table", () => {
    const load = (one: number) => ({ one, five: one, fifteen: one });
    assert.deepEqual(loadLines({}), []);
    assert.deepEqual(
      loadLines({
        loads: {
          'r1/Capstan/scale': { before: load(1.61), after: load(11.33) },
          'r1/Flux/scale': { before: load(11.33), after: load(3) },
        },
      }),
      [
        'Machine load (1-minute load average, /proc/loadavg) at the start → end of each part: r1/Capstan/scale 1.6 → 11.3; r1/Flux/scale 11.3 → 3.0.',
      ],
    );
    const many = Object.fromEntries(
      Array.from({ length: 9 }, (_, i) => [
        `r${String(i + 1)}/Capstan/scale`,
        { before: load(i), after: load(10 + i) },
      ]),
    );
    assert.deepEqual(loadLines({ loads: many }), [
      'Machine load (1-minute load average, /proc/loadavg) at the start → end of each part: starts 0.0–8.0, ends 10.0–18.0 over 9 parts (each in the results file).',
    ]);
  });

  it('sums a metric family across its labels', () => {
    const text = [
      '# HELP apiserver_request_total Counter',
      'apiserver_request_total{verb="GET",code="200"} 10',
      'apiserver_request_total{verb="PATCH",code="200"} 5',
      'apiserver_request_total_other 99',
      'capstan_render_cache_misses_total 3',
    ].join('\n');
    assert.equal(metricValue(text, 'apiserver_request_total'), 15);
    assert.equal(metricValue(text, 'capstan_render_cache_misses_total'), 3);
  });

  it('splits API requests by verb and resource, adding codes together and marking dry runs', () => {
    const line = (labels: string, n: number) => `apiserver_request_total{${labels}} ${String(n)}`;
    const text = [
      '# TYPE apiserver_request_total counter',
      line('code="200",dry_run="",group="",resource="configmaps",subresource="",verb="GET"', 7),
      line('code="404",dry_run="",group="",resource="configmaps",subresource="",verb="GET"', 3),
      line('code="200",dry_run="All",group="apps",resource="deployments",subresource="",verb="APPLY"', 4),
      line('code="200",dry_run="",group="apps",resource="deployments",subresource="",verb="APPLY"', 5),
      line('code="200",group="capstan.dev",resource="applications",subresource="status",verb="PATCH"', 2),
      line('code="200",group="",resource="",subresource="",verb="GET"', 1),
      'apiserver_request_total_other{verb="GET"} 99',
    ].join('\n');
    assert.deepEqual(Object.fromEntries(requestsByKind(text)), {
      'GET configmaps': 10,
      'APPLY apps/deployments (dry run)': 4,
      'APPLY apps/deployments': 5,
      'PATCH capstan.dev/applications/status': 2,
      'GET (no resource)': 1,
    });
    const before = new Map([
      ['GET configmaps', 4],
      ['LIST secrets', 2],
    ]);
    const after = new Map([
      ['GET configmaps', 10],
      ['LIST secrets', 2],
      ['WATCH pods', 3],
    ]);
    assert.deepEqual(requestsBetween(before, after), { 'GET configmaps': 6, 'WATCH pods': 3 });
    assert.deepEqual(requestsBetween(before, after, 2), { 'GET configmaps': 3, 'WATCH pods': 1.5 });
  });

  it("counts Argo CD's manifest generations from its repo-server's JSON log, and nothing else", () => {
    const record = (msg: string) =>
      JSON.stringify({ application: 'app-1', level: 'info', msg, time: '2026-11-29T11:00:00Z' });
    const log = [
      record('manifest cache miss'),
      record('manifest cache miss'),
      record('setting manifests cache'),
      record('manifest cache hit'),
      record('manifest cache moved'),
      record('setting manifests cache (error)'),
      record('setting manifests cache'),
      // Not records of a generation: a message that only mentions it, and a line that is not JSON.
      record('manifest cache set error: setting manifests cache failed'),
      'panic: setting manifests cache',
      '',
    ].join('\n');
    assert.equal(argoCDManifestGenerations(log), 3);
    assert.equal(argoCDManifestGenerations(''), 0);
  });
});

describe('benchmark report', () => {
  const doc = {
    started: '2026-11-28T00:00:00.000Z',
    machine: '2 × test cpu',
    config: benchConfig({ quick: true }),
    systems: { Capstan: 'the agent', Flux: 'source and kustomize controllers' },
    skipped: { 'Argo CD': 'not built: go build failed' },
    summaries: {
      'b-drift': { Capstan: summarise([1, 2, 3, 4, 5]), Flux: summarise([10, 20, 30, 40, 50]) },
      'c-cold-seconds': { Capstan: summarise([4]), 'raw SSA client': summarise([2]) },
    },
  };

  it('writes one row per scenario with medians, p99, ranges and ratios to Capstan', () => {
    const md = renderMarkdown(doc, ['--quick']);
    assert.match(
      md,
      /\| b\. drift to corrected \(s\) \| 3\.00 \(p99 4\.96; 1\.00–5\.00\) \| 30\.00 \(p99 49\.60; 10\.00–50\.00\) \| — \| Flux 10\.00× \|/,
    );
    assert.match(md, /raw SSA client 0\.50×/);
    assert.match(md, /\*\*Argo CD\*\*: not measured: not built: go build failed/);
    assert.match(md, /npm run bench -- --quick/);
  });

  it('says when a run is partial, how many runs it holds, and when it was resumed', () => {
    const partial = renderMarkdown(
      { ...doc, runsCompleted: 2, resumed: ['2026-11-29T00:00:00.000Z'] },
      ['--name', 'scale-1000'],
      'scale-1000',
    );
    assert.match(partial, /\*\*Partial: 2 of 3 runs completed so far\*\*/);
    assert.match(partial, /resumed 2026-11-29T00:00:00\.000Z/);
    const whole = renderMarkdown({ ...doc, runsCompleted: 3 }, ['--quick']);
    assert.doesNotMatch(whole, /Partial/);
    assert.match(whole, /^3 runs per figure/m);
  });

  it('marks a count cut short by its cap as a lower bound', () => {
    const md = renderMarkdown(
      {
        ...doc,
        summaries: { 'e-mono-renders': { Capstan: summarise([1]), Flux: summarise([120]) } },
        capped: { 'e-mono-renders': { Flux: 1 } },
      },
      [],
    );
    assert.match(md, /\| 120 \(p99 120; 120–120\) \(at least: still going at the cap in 1 run\(s\)\) \|/);
    assert.match(md, /\| 1 \(p99 1; 1–1\) \|/);
  });

  it('counts time-outs of a timed figure as at least its limit, and bounds the ratio', () => {
    const late = { 'e-mono-seconds': { Flux: 2 }, 'e-mono-git': { Flux: 2 } };
    const s = summaries(
      {
        'e-mono-seconds': { Capstan: [1.2, 1.6, 1.6, 1.6, 1.6], Flux: [23.4, 28.7, 178.9] },
        'e-mono-git': { Capstan: [4, 4, 4, 4, 4], Flux: [4, 4, 4] },
      },
      late,
      { 'e-mono-seconds': 600 },
    );
    const flux = s['e-mono-seconds']?.['Flux'];
    assert.equal(flux?.median, 178.9);
    assert.equal(flux.runs, 5);
    // A count that a time-out left unmeasured has no limit: its runs are the measured ones.
    assert.equal(s['e-mono-git']?.['Flux']?.runs, 3);
    const md = renderMarkdown(
      { ...doc, summaries: s, timeouts: late, limits: { 'e-mono-seconds': 600 } },
      [],
    );
    assert.match(
      md,
      /\| 178\.9 \(p99 ≥ 600\.0; 23\.4–≥ 600\.0\) 2 of 5 runs timed out at 600 s, counted as ≥ 600 \|/,
    );
    assert.match(md, /\| 4 \(p99 4; 4–4\) 2 run\(s\) timed out \|/);
    assert.match(md, /Flux 111\.81×/);
    // When most runs time out, the median is a lower bound, and so is the ratio.
    const most = summaries(
      { 'e-mono-seconds': { Capstan: [2], Flux: [30] } },
      { 'e-mono-seconds': { Flux: 2 } },
      {
        'e-mono-seconds': 600,
      },
    );
    const bounded = renderMarkdown(
      {
        ...doc,
        summaries: most,
        timeouts: { 'e-mono-seconds': { Flux: 2 } },
        limits: { 'e-mono-seconds': 600 },
      },
      [],
    );
    assert.match(bounded, /\| ≥ 600\.0 \(p99 ≥ 600\.0; 30\.0–≥ 600\.0\)/);
    assert.match(bounded, /Flux ≥ 300\.00×/);
    // A system none of whose runs finished still has its row, all lower bounds.
    const none = summaries(
      { 'c-cold-seconds': { Capstan: [170] } },
      { 'c-cold-seconds': { 'Argo CD': 1 } },
      {
        'c-cold-seconds': 3600,
      },
    );
    assert.deepEqual(none['c-cold-seconds']?.['Argo CD']?.atLeast, ['median', 'p99', 'min', 'max']);
  });

  it('states the settings of the scenarios that ran, and only those', () => {
    const all = renderMarkdown(doc, ['--quick']);
    assert.match(all, /latency scenarios with 1 and 10 applications, polling interval 15 s/);
    assert.match(all, /steady-state window 20 s/);
    const scale = renderMarkdown({ ...doc, scenarios: ['c', 'e', 'f'] }, []);
    assert.match(
      scale,
      /^Scale: 50 applications × 10 objects .*; polling interval of the scale scenarios 20 s; concurrency 8 for every system\.$/m,
    );
    assert.doesNotMatch(scale, /latency scenarios|steady-state window/);
  });

  it('shows where the requests went: medians by kind of request, largest first, the rest summed', () => {
    const info = SCENARIOS['c-cold-api'];
    assert.ok(info);
    const many = Object.fromEntries(
      Array.from({ length: 11 }, (_, i) => [`GET kind-${String(i).padStart(2, '0')}`, 100 - i]),
    );
    const table = breakdownTable(info, {
      Flux: [{ 'GET configmaps': 9 }, { 'GET configmaps': 11 }, {}],
      Capstan: [
        { 'APPLY apps/deployments': 40, 'GET configmaps': 1, ...many },
        { 'APPLY apps/deployments': 60, ...many },
        { 'APPLY apps/deployments': 50, 'GET configmaps': 3, ...many },
      ],
    });
    assert.match(
      table[0] ?? '',
      /^c\. cold sync: API requests by kind of request \(requests, median of the runs; /,
    );
    assert.equal(table[2], '| request | Capstan | Flux |', 'Capstan first');
    assert.equal(table[4], '| GET kind-00 | 100 | 0 |', 'the largest first');
    assert.ok(table.includes('| APPLY apps/deployments | 50 | 0 |'));
    assert.equal(table.length, 4 + 12 + 1, 'twelve kinds, then one row for the others');
    // A run without a kind counts 0: Capstan's configmap GETs are 1, 0, 3 and Flux's 9, 11, 0.
    assert.equal(table.at(-1), '| 1 other kind | 1 | 9 |');
  });

  it('renders the breakdowns under the table, and a heading given with --title', () => {
    const md = renderMarkdown(
      {
        ...doc,
        title: '100 applications: Capstan after reads from the watch',
        breakdowns: { 'd-steady-api': { Capstan: [{ 'GET configmaps': 2.5 }] } },
      },
      ['--title', 'x'],
    );
    assert.match(md, /^## 100 applications: Capstan after reads from the watch$/m);
    assert.match(md, /^d\. steady state: API requests per minute by kind of request \(requests\/min/m);
    assert.match(md, /^\| GET configmaps \| 2\.5 \|$/m);
    assert.doesNotMatch(renderMarkdown(doc, []), /by kind of request/);
  });

  it('quotes the arguments of the command that reproduces it where a shell would split them', () => {
    assert.equal(shellWord('--scale-interval'), '--scale-interval');
    assert.equal(shellWord('capstan,flux'), 'capstan,flux');
    assert.equal(shellWord('1000 applications: after'), "'1000 applications: after'");
    assert.equal(shellWord("Capstan's"), "'Capstan'\\''s'");
    assert.equal(shellWord(''), "''");
    assert.match(
      renderMarkdown(doc, ['--title', '100 applications: Capstan alone']),
      /npm run bench -- --title '100 applications: Capstan alone'`/,
    );
  });

  it('names its section after the run, so runs at two scales keep two tables', () => {
    const md = renderMarkdown(doc, ['--apps', '1000', '--name', 'scale-1000'], 'scale-1000');
    assert.ok(md.startsWith('<!-- scale-1000:start'));
    assert.ok(md.endsWith('<!-- scale-1000:end -->'));
    assert.match(md, /^## 50 applications: Capstan, Flux on the same cluster$/m);
  });

  it('replaces its own section of the document and keeps the rest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-doc-'));
    const path = join(dir, 'benchmarks.md');
    await writeFile(
      path,
      '# Benchmarks\n\nIntro.\n\n<!-- bench:start old -->\nold\n<!-- bench:end -->\n\n## Other\n',
    );
    await writeSection(path, '<!-- bench:start new -->\nnew\n<!-- bench:end -->');
    assert.equal(
      await readFile(path, 'utf8'),
      '# Benchmarks\n\nIntro.\n\n<!-- bench:start new -->\nnew\n<!-- bench:end -->\n\n## Other\n',
    );
  });

  it('counts whole runs only: a run with one unit left is not complete', () => {
    const unitsOfRun = (run: number) => [`r${String(run)}/Capstan/scale`, `r${String(run)}/Flux/scale`];
    assert.equal(runsCompleted(new Set(), 5, unitsOfRun), 0);
    assert.equal(
      runsCompleted(new Set(['r1/Capstan/scale', 'r1/Flux/scale', 'r2/Capstan/scale']), 5, unitsOfRun),
      1,
    );
    // A unit of run 1 dropped to be measured again: run 2 still counts.
    assert.equal(
      runsCompleted(new Set(['r1/Flux/scale', 'r2/Capstan/scale', 'r2/Flux/scale']), 5, unitsOfRun),
      1,
    );
    const all = new Set(Array.from({ length: 5 }, (_, i) => unitsOfRun(i + 1)).flat());
    assert.equal(runsCompleted(all, 5, unitsOfRun), 5);
  });

  it("measures the ceiling right after Capstan's phases, before the peers' long ones", () => {
    const ids = (systems: string[], scenarios: string) =>
      unitsOfRun(2, systems, new Set(scenarios.split(',')), [1, 100]).map((u) => u.id);
    assert.deepEqual(ids(['Capstan', 'Flux', 'Argo CD'], 'c,d,f'), [
      'r2/Capstan/scale',
      'r2/raw SSA client/ceiling',
      'r2/Flux/scale',
      'r2/Argo CD/scale',
    ]);
    // Scenario b alone measures one application; a measures each count of --latency-apps.
    assert.deepEqual(ids(['Flux', 'Capstan'], 'b,f'), [
      'r2/Flux/latency-1',
      'r2/Capstan/latency-1',
      'r2/raw SSA client/ceiling',
    ]);
    assert.deepEqual(ids(['Flux'], 'a,c,f'), [
      'r2/Flux/latency-1',
      'r2/Flux/latency-100',
      'r2/Flux/scale',
      'r2/raw SSA client/ceiling',
    ]);
    assert.deepEqual(ids(['Capstan'], 'c'), ['r2/Capstan/scale']);
  });

  it('resumes only a result measured with the same settings, systems and scenarios', () => {
    const config = benchConfig({ quick: false, scaleInterval: 600 });
    const previous = {
      config,
      machine: '2 × AMD EPYC, 24 GiB',
      systems: { Capstan: '', Flux: '' },
      scenarios: ['c', 'e', 'f'],
      done: ['r1/Capstan/scale'],
      peersByScale: true,
    };
    const now = {
      config,
      systems: ['Capstan', 'Flux'],
      scenarios: ['f', 'e', 'c'],
      machine: '2 × AMD EPYC, 24 GiB',
    };
    assert.equal(resumeMismatch(previous, now), undefined);
    assert.match(
      resumeMismatch(previous, { ...now, config: benchConfig({ quick: false }) }) ?? '',
      /other settings/,
    );
    assert.match(
      resumeMismatch(previous, { ...now, systems: ['Capstan'] }) ?? '',
      /other systems \(Capstan, Flux\)/,
    );
    assert.match(resumeMismatch(previous, { ...now, scenarios: ['c'] }) ?? '', /other scenarios \(c,e,f\)/);
    assert.match(resumeMismatch({ config }, now) ?? '', /before results could be resumed/);
    const { peersByScale: _byScale, ...before } = previous;
    assert.match(resumeMismatch(before, now) ?? '', /before the peers had their maintainers' settings/);
    assert.match(
      resumeMismatch(previous, { ...now, machine: '2 × Intel Xeon, 24 GiB' }) ?? '',
      /another machine \(2 × AMD EPYC, 24 GiB; this one is 2 × Intel Xeon, 24 GiB\)/,
    );
    assert.match(
      resumeMismatch(previous, {
        ...now,
        config: benchConfig({ quick: false, scaleInterval: 600, windows: 5 }),
      }) ?? '',
      /other settings/,
      'the number of steady-state windows is a setting',
    );
    const described = { Capstan: '', Flux: 'one GitRepository per application, sparse' };
    assert.equal(resumeMismatch(previous, { ...now, described: { Capstan: '', Flux: '' } }), undefined);
    assert.match(
      resumeMismatch(previous, { ...now, described }) ?? '',
      /it ran Flux otherwise/,
      'a peer with another layout is another figure',
    );
  });

  it('uses at least five runs unless quick', () => {
    assert.equal(benchConfig({ quick: false }).runs, 5);
    assert.equal(benchConfig({ quick: false }).scaleApps, 1000);
    assert.ok(benchConfig({ quick: true }).scaleApps < 100);
  });

  it('takes the scale interval and the steady-state window from the command line, else the defaults', () => {
    const given = benchConfig({ quick: false, scaleInterval: 600, window: 120 });
    assert.equal(given.scaleInterval, 600);
    assert.equal(given.window, 120);
    assert.equal(given.interval, 30, 'the latency scenarios keep their own interval');
    const defaults = benchConfig({ quick: false });
    assert.equal(defaults.scaleInterval, 60);
    assert.equal(defaults.window, 60);
    assert.equal(defaults.windows, 1, 'one steady-state window per cold sync unless asked');
    assert.equal(benchConfig({ quick: false, windows: 5 }).windows, 5);
  });

  it('says how many windows the steady state has when several follow each cold sync', () => {
    const config = benchConfig({ quick: false, runs: 1, scaleInterval: 180, window: 180, windows: 5 });
    const steady = {
      ...doc,
      config,
      scenarios: ['c', 'd'],
      runsCompleted: 1,
      summaries: {
        'd-steady-cpu': { Capstan: summarise([1, 2, 3, 4, 5]), Flux: summarise([50, 60, 70, 80, 90]) },
      },
    };
    const md = renderMarkdown(steady, ['--runs', '1', '--windows', '5']);
    assert.match(
      md,
      /^1 run, systems one after the other within each run; the steady-state figures are the median, p99, min–max of 5 windows \(5 after each cold sync\), the others of the 1 run \(fewer than five: see the tables with five runs for those\)\.$/m,
    );
    assert.match(md, /steady-state window 180 s, 5 windows one after the other after each cold sync\./);
    assert.match(md, /\| d\. steady state: CPU seconds per minute \(CPU s\/min\) \| 3\.00 /);
    const fiveRuns = renderMarkdown({ ...steady, config: { ...config, runs: 5 }, runsCompleted: 5 }, []);
    assert.match(fiveRuns, /of 25 windows \(5 after each cold sync\), the others of the 5 runs\.$/m);
    const partial = renderMarkdown({ ...steady, runsCompleted: 0, done: ['r1/Capstan/scale'] }, []);
    assert.match(
      partial,
      /^\*\*Partial: 0 of 1 runs completed so far\*\* \(done: r1\/Capstan\/scale\) .*min–max of the runs done \(of the windows, for the steady state: 5 after each cold sync\)\.$/m,
    );
    const withoutSteady = renderMarkdown({ ...steady, scenarios: ['c'] }, []);
    assert.match(withoutSteady, /^1 run per figure/m);
    assert.doesNotMatch(withoutSteady, /windows/);
    const older = { ...doc, config: { ...doc.config, windows: undefined } };
    assert.match(
      renderMarkdown(older, []),
      /^3 runs per figure/m,
      'results written before --windows render as before',
    );
  });
});
