import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import {
  agentMetrics,
  escapeLabelValue,
  PROMETHEUS_CONTENT_TYPE,
  Registry,
} from '../../../src/controller/metrics.ts';

describe('Registry: text exposition format 0.0.4', () => {
  it('writes counters with and without labels, sorted by labels', () => {
    const registry = new Registry();
    const plain = registry.counter({ name: 'jobs_total', help: 'Jobs done.' });
    const byCode = registry.counter<{ method: string; code: string }>({
      name: 'http_requests_total',
      help: 'Requests.',
      labelNames: ['method', 'code'],
    });
    assert.equal(
      registry.expose(),
      '# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total 0\n' +
        '# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n',
    );
    plain.inc();
    plain.inc(2);
    byCode.inc({ code: '500', method: 'post' });
    byCode.inc({ method: 'get', code: '200' }, 3);
    byCode.inc({ method: 'get', code: '200' });
    assert.equal(
      registry.expose(),
      `# HELP jobs_total Jobs done.
# TYPE jobs_total counter
jobs_total 3
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{method="get",code="200"} 4
http_requests_total{method="post",code="500"} 1
`,
    );
    assert.equal(byCode.get({ method: 'get', code: '200' }), 4);
    assert.equal(PROMETHEUS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
  });

  it('escapes HELP text and label values', () => {
    const registry = new Registry();
    const counter = registry.counter<{ path: string }>({
      name: 'odd_total',
      help: 'A help with a \\ backslash\nand a new line; "quotes" stay.',
      labelNames: ['path'],
    });
    counter.inc({ path: 'C:\\dir\n"quoted"' });
    assert.equal(
      registry.expose(),
      '# HELP odd_total A help with a \\\\ backslash\\nand a new line; "quotes" stay.\n' +
        '# TYPE odd_total counter\n' +
        'odd_total{path="C:\\\\dir\\n\\"quoted\\""} 1\n',
    );
    assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  });

  it('writes gauges: set, inc, dec, reset, remove, special values', () => {
    const registry = new Registry();
    const depth = registry.gauge({ name: 'queue_depth', help: 'Depth.' });
    const apps = registry.gauge<{ state: string }>({ name: 'apps', help: 'Apps.', labelNames: ['state'] });
    depth.set(7);
    depth.inc();
    depth.dec(3);
    apps.set({ state: 'b' }, 2);
    apps.set({ state: 'a' }, 1.5);
    apps.set({ state: 'inf' }, Infinity);
    apps.set({ state: 'nan' }, NaN);
    apps.set({ state: 'neg' }, -Infinity);
    apps.remove({ state: 'b' });
    assert.equal(
      registry.expose(),
      `# HELP queue_depth Depth.
# TYPE queue_depth gauge
queue_depth 5
# HELP apps Apps.
# TYPE apps gauge
apps{state="a"} 1.5
apps{state="inf"} +Inf
apps{state="nan"} NaN
apps{state="neg"} -Inf
`,
    );
    apps.reset();
    assert.equal(
      registry
        .expose()
        .split('\n')
        .filter((l) => l.startsWith('apps{')).length,
      0,
    );
  });

  it('writes histograms: cumulative buckets with le, +Inf, sum and count', () => {
    const registry = new Registry();
    const latency = registry.histogram<{ result: string }>({
      name: 'op_seconds',
      help: 'Op time.',
      labelNames: ['result'],
      buckets: [0.1, 0.5, 1],
    });
    latency.observe({ result: 'ok' }, 0.05);
    latency.observe({ result: 'ok' }, 0.1); // on a bound: counted in it (le = less or equal)
    latency.observe({ result: 'ok' }, 0.7);
    latency.observe({ result: 'ok' }, 3);
    latency.observe({ result: 'error' }, 0.25);
    assert.equal(
      registry.expose(),
      `# HELP op_seconds Op time.
# TYPE op_seconds histogram
op_seconds_bucket{result="error",le="0.1"} 0
op_seconds_bucket{result="error",le="0.5"} 1
op_seconds_bucket{result="error",le="1"} 1
op_seconds_bucket{result="error",le="+Inf"} 1
op_seconds_sum{result="error"} 0.25
op_seconds_count{result="error"} 1
op_seconds_bucket{result="ok",le="0.1"} 2
op_seconds_bucket{result="ok",le="0.5"} 2
op_seconds_bucket{result="ok",le="1"} 3
op_seconds_bucket{result="ok",le="+Inf"} 4
op_seconds_sum{result="ok"} 3.85
op_seconds_count{result="ok"} 4
`,
    );
    assert.deepEqual(latency.get({ result: 'ok' }), { count: 4, sum: 3.85 });
  });

  it('writes a histogram without labels, and with the default buckets', () => {
    const registry = new Registry();
    const h = registry.histogram({ name: 'size', help: 'Size.', buckets: [1, 10] });
    h.observe(10);
    assert.equal(
      registry.expose(),
      `# HELP size Size.
# TYPE size histogram
size_bucket{le="1"} 0
size_bucket{le="10"} 1
size_bucket{le="+Inf"} 1
size_sum 10
size_count 1
`,
    );
    const d = registry.histogram({ name: 'd', help: 'D.' });
    assert.deepEqual(d.buckets, [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  });

  it('refuses bad names, labels, duplicates, decreasing counters and unordered buckets', () => {
    const registry = new Registry();
    registry.counter({ name: 'a_total', help: 'A.' });
    assert.throws(() => registry.counter({ name: 'a_total', help: 'again' }), /already registered/);
    assert.throws(() => registry.gauge({ name: '1bad', help: 'x' }), /invalid metric name/);
    assert.throws(() =>
      registry.gauge<{ 'bad-label': string }>({ name: 'g', help: 'x', labelNames: ['bad-label'] }),
    );
    assert.throws(() => registry.gauge<{ __x: string }>({ name: 'g2', help: 'x', labelNames: ['__x'] }));
    assert.throws(
      () => registry.histogram<{ le: string }>({ name: 'h', help: 'x', labelNames: ['le'] }),
      /reserved/,
    );
    assert.throws(() => registry.histogram({ name: 'h2', help: 'x', buckets: [1, 1] }), /increasing/);
    const c = registry.counter<{ k: string }>({ name: 'c_total', help: 'C.', labelNames: ['k'] });
    assert.throws(() => {
      c.inc({ k: 'x' }, -1);
    }, /cannot decrease/);
    assert.throws(() => {
      c.inc({ other: 'x' } as unknown as { k: string });
    }, /expected labels \{k\}/);
  });
});

describe('agentMetrics', () => {
  it('registers the agent metric set, written out exactly', () => {
    const registry = new Registry();
    const m = agentMetrics(registry);
    m.reconcileDuration.observe({ result: 'Synced' }, 0.3);
    m.workqueueDepth.set(4);
    m.syncs.inc({ result: 'Succeeded' });
    m.syncResources.inc({ action: 'created' }, 3);
    m.syncResources.inc({ action: 'unchanged' }, 7);
    m.gitFetches.inc({ result: 'ok' });
    m.gitLsRemote.inc(2);
    m.renderCacheHits.inc(5);
    m.renderCacheMisses.inc();
    m.driftCorrections.inc();
    m.applications.set({ sync: 'Synced', health: 'Healthy' }, 49);
    m.applications.set({ sync: 'OutOfSync', health: 'Degraded' }, 1);
    assert.equal(
      registry.expose(),
      `# HELP capstan_reconcile_duration_seconds Time to reconcile one Application, by result.
# TYPE capstan_reconcile_duration_seconds histogram
capstan_reconcile_duration_seconds_bucket{result="Synced",le="0.01"} 0
capstan_reconcile_duration_seconds_bucket{result="Synced",le="0.05"} 0
capstan_reconcile_duration_seconds_bucket{result="Synced",le="0.1"} 0
capstan_reconcile_duration_seconds_bucket{result="Synced",le="0.25"} 0
capstan_reconcile_duration_seconds_bucket{result="Synced",le="0.5"} 1
capstan_reconcile_duration_seconds_bucket{result="Synced",le="1"} 1
capstan_reconcile_duration_seconds_bucket{result="Synced",le="2.5"} 1
capstan_reconcile_duration_seconds_bucket{result="Synced",le="5"} 1
capstan_reconcile_duration_seconds_bucket{result="Synced",le="10"} 1
capstan_reconcile_duration_seconds_bucket{result="Synced",le="30"} 1
capstan_reconcile_duration_seconds_bucket{result="Synced",le="60"} 1
capstan_reconcile_duration_seconds_bucket{result="Synced",le="120"} 1
capstan_reconcile_duration_seconds_bucket{result="Synced",le="300"} 1
capstan_reconcile_duration_seconds_bucket{result="Synced",le="+Inf"} 1
capstan_reconcile_duration_seconds_sum{result="Synced"} 0.3
capstan_reconcile_duration_seconds_count{result="Synced"} 1
# HELP capstan_workqueue_depth Applications waiting in the work queue for a worker.
# TYPE capstan_workqueue_depth gauge
capstan_workqueue_depth 4
# HELP capstan_sync_total Syncs of Applications, by result.
# TYPE capstan_sync_total counter
capstan_sync_total{result="Failed"} 0
capstan_sync_total{result="Succeeded"} 1
# HELP capstan_sync_resources_total Resources handled by syncs, by action.
# TYPE capstan_sync_resources_total counter
capstan_sync_resources_total{action="created"} 3
capstan_sync_resources_total{action="unchanged"} 7
# HELP capstan_git_fetches_total Git fetches, by result.
# TYPE capstan_git_fetches_total counter
capstan_git_fetches_total{result="ok"} 1
# HELP capstan_git_ls_remote_total Listings of remote Git references.
# TYPE capstan_git_ls_remote_total counter
capstan_git_ls_remote_total 2
# HELP capstan_render_cache_hits_total Renders served from the cache.
# TYPE capstan_render_cache_hits_total counter
capstan_render_cache_hits_total 5
# HELP capstan_render_cache_misses_total Renders that had to run.
# TYPE capstan_render_cache_misses_total counter
capstan_render_cache_misses_total 1
# HELP capstan_drift_corrections_total Live objects corrected after they drifted from Git.
# TYPE capstan_drift_corrections_total counter
capstan_drift_corrections_total 1
# HELP capstan_resource_watches Watches on managed resources, one per kind and destination cluster.
# TYPE capstan_resource_watches gauge
capstan_resource_watches 0
# HELP capstan_resource_events_total Events of managed resources, by the reaction: changed (drift), deleted, health, ignored.
# TYPE capstan_resource_events_total counter
# HELP capstan_applications Applications, by sync status and health.
# TYPE capstan_applications gauge
capstan_applications{sync="OutOfSync",health="Degraded"} 1
capstan_applications{sync="Synced",health="Healthy"} 49
# HELP capstan_application_reads_total The reconciler's reads of Applications, by source: watch (no request, surely current) or api.
# TYPE capstan_application_reads_total counter
capstan_application_reads_total{source="api"} 0
capstan_application_reads_total{source="watch"} 0
# HELP capstan_application_validations_total The reconciler's checks of Applications, by how: schema (validated) or remembered (a version found valid before, or made by the agent's own status write).
# TYPE capstan_application_validations_total counter
capstan_application_validations_total{by="remembered"} 0
capstan_application_validations_total{by="schema"} 0
`,
    );
  });

  it('are all in the reference (docs/cli.md, "Metrics")', async () => {
    const registry = new Registry();
    agentMetrics(registry);
    const names = [...registry.expose().matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] ?? '');
    assert.ok(names.length >= 13);
    const reference = await readFile(new URL('../../../docs/cli.md', import.meta.url), 'utf8');
    const section = reference.slice(reference.indexOf('### Metrics'));
    assert.deepEqual(
      names.filter((name) => !section.includes(`\`${name}\``)),
      [],
      'metrics missing from the reference',
    );
  });

  it('can be registered once per registry', () => {
    const registry = new Registry();
    agentMetrics(registry);
    assert.throws(() => agentMetrics(registry), /already registered/);
    assert.doesNotThrow(() => agentMetrics(new Registry()));
  });
});
