/**
 * A small Prometheus registry: counters, gauges and histograms with labels, written out in the text
 * exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
 */

/** The Content-Type of `Registry.expose()`. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A metric's labels: name → value. */
export type Labels = Record<string, string>;
/** The label type of a metric without labels. */
export type NoLabels = undefined;

/** The arguments of an update: `(value?)` without labels, `(labels, value?)` with. */
type Update<L extends Labels | NoLabels> = [L] extends [Labels]
  ? [labels: L, value?: number]
  : [value?: number];
/** The label names of a label type. */
type LabelName<L extends Labels | NoLabels> = [L] extends [Labels] ? keyof L & string : never;
/** The arguments that name one series: none without labels, `(labels)` with. */
type Select<L extends Labels | NoLabels> = [L] extends [Labels] ? [labels: L] : [];

export interface MetricOptions<L extends Labels | NoLabels> {
  readonly name: string;
  readonly help: string;
  /** The label names, in the order they are written. Default none. */
  readonly labelNames?: readonly LabelName<L>[];
}

export interface HistogramOptions<L extends Labels | NoLabels> extends MetricOptions<L> {
  /** Upper bounds, increasing; `+Inf` is added. Default: Prometheus's default buckets (5 ms to 10 s). */
  readonly buckets?: readonly number[];
}

export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

type MetricType = 'counter' | 'gauge' | 'histogram';

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  /** The sample lines of this family, sorted by their labels. */
  samples(): string[];
}

/** Holds the metrics of a process and writes them out. */
export class Registry {
  readonly #families = new Map<string, Family>();

  counter<L extends Labels | NoLabels = NoLabels>(options: MetricOptions<L>): Counter<L> {
    return this.#register(new Counter<L>(options));
  }

  gauge<L extends Labels | NoLabels = NoLabels>(options: MetricOptions<L>): Gauge<L> {
    return this.#register(new Gauge<L>(options));
  }

  histogram<L extends Labels | NoLabels = NoLabels>(options: HistogramOptions<L>): Histogram<L> {
    return this.#register(new Histogram<L>(options));
  }

  /** Every metric in the text exposition format 0.0.4, in the order they were registered. */
  expose(): string {
    let text = '';
    for (const family of this.#families.values()) {
      text += `# HELP ${family.name} ${escapeHelp(family.help)}\n`;
      text += `# TYPE ${family.name} ${family.type}\n`;
      for (const line of family.samples()) text += `${line}\n`;
    }
    return text;
  }

  #register<F extends Family>(family: F): F {
    if (this.#families.has(family.name)) {
      throw new Error(`metric ${family.name} is already registered`);
    }
    this.#families.set(family.name, family);
    return family;
  }
}

/** The series of one metric, keyed by their label values. */
abstract class Metric<L extends Labels | NoLabels, S> implements Family {
  readonly name: string;
  readonly help: string;
  abstract readonly type: MetricType;
  readonly labelNames: readonly string[];
  readonly #series = new Map<string, { labels: string; state: S }>();

  constructor(options: MetricOptions<L>) {
    if (!METRIC_NAME.test(options.name)) throw new Error(`invalid metric name '${options.name}'`);
    this.name = options.name;
    this.help = options.help;
    this.labelNames = [...(options.labelNames ?? [])];
    for (const label of this.labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith('__')) {
        throw new Error(`metric ${this.name}: invalid label name '${label}'`);
      }
    }
    if (new Set(this.labelNames).size !== this.labelNames.length) {
      throw new Error(`metric ${this.name}: duplicate label names`);
    }
  }

  /** Forgets every series (for gauges recomputed as a whole, such as counts by state). */
  reset(): void {
    this.#series.clear();
  }

  /** Forgets one series. */
  remove(...args: Select<L>): void {
    this.#series.delete(this.#key(args[0]));
  }

  abstract samples(): string[];
  protected abstract initial(): S;

  /** The state of one series, created on first use. */
  protected series(labels: Labels | undefined): S {
    const key = this.#key(labels);
    let entry = this.#series.get(key);
    if (!entry) {
      entry = { labels: key, state: this.initial() };
      this.#series.set(key, entry);
    }
    return entry.state;
  }

  /** The series as (label text, state), sorted by label text so the output does not depend on event order. */
  protected entries(): { labels: string; state: S }[] {
    return [...this.#series.values()].sort((a, b) =>
      a.labels < b.labels ? -1 : a.labels > b.labels ? 1 : 0,
    );
  }

  /** Checks the labels and renders them: `a="x",b="y"` in the declared order. */
  #key(labels: Labels | undefined): string {
    const given = labels ?? {};
    const names = Object.keys(given);
    if (names.length !== this.labelNames.length || names.some((n) => !this.labelNames.includes(n))) {
      throw new Error(
        `metric ${this.name}: expected labels {${this.labelNames.join(', ')}}, got {${names.join(', ')}}`,
      );
    }
    return this.labelNames.map((n) => `${n}="${escapeLabelValue(given[n] ?? '')}"`).join(',');
  }
}

/** A value that only goes up: a number of events. */
export class Counter<L extends Labels | NoLabels = NoLabels> extends Metric<L, { value: number }> {
  readonly type = 'counter';

  constructor(options: MetricOptions<L>) {
    super(options);
    // A counter without labels is written as 0 before its first increment.
    if (this.labelNames.length === 0) this.series(undefined);
  }

  /** Adds `value` (default 1; must not be negative). */
  inc(...args: Update<L>): void {
    const [labels, value] = splitUpdate(this.labelNames.length, args);
    const amount = value ?? 1;
    if (!(amount >= 0)) throw new Error(`metric ${this.name}: a counter cannot decrease (got ${amount})`);
    this.series(labels).value += amount;
  }

  /** The current value of one series (0 if it was never incremented). */
  get(...args: Select<L>): number {
    return this.series(args[0]).value;
  }

  samples(): string[] {
    return this.entries().map(({ labels, state }) => sample(this.name, labels, state.value));
  }

  protected initial(): { value: number } {
    return { value: 0 };
  }
}

/** A value that goes up and down: a size, a count of things in some state. */
export class Gauge<L extends Labels | NoLabels = NoLabels> extends Metric<L, { value: number }> {
  readonly type = 'gauge';

  constructor(options: MetricOptions<L>) {
    super(options);
    if (this.labelNames.length === 0) this.series(undefined);
  }

  /** Sets the value (`set(v)` without labels, `set(labels, v)` with). */
  set(...args: Update<L>): void {
    const [labels, value] = splitUpdate(this.labelNames.length, args);
    this.series(labels).value = value ?? 0;
  }

  /** Adds `value` (default 1). */
  inc(...args: Update<L>): void {
    const [labels, value] = splitUpdate(this.labelNames.length, args);
    this.series(labels).value += value ?? 1;
  }

  /** Subtracts `value` (default 1). */
  dec(...args: Update<L>): void {
    const [labels, value] = splitUpdate(this.labelNames.length, args);
    this.series(labels).value -= value ?? 1;
  }

  get(...args: Select<L>): number {
    return this.series(args[0]).value;
  }

  samples(): string[] {
    return this.entries().map(({ labels, state }) => sample(this.name, labels, state.value));
  }

  protected initial(): { value: number } {
    return { value: 0 };
  }
}

interface HistogramState {
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  readonly counts: number[];
  sum: number;
  count: number;
}

/** Observations counted in buckets, with their sum: durations, sizes. */
export class Histogram<L extends Labels | NoLabels = NoLabels> extends Metric<L, HistogramState> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];

  constructor(options: HistogramOptions<L>) {
    super(options);
    if (this.labelNames.includes('le'))
      throw new Error(`metric ${this.name}: 'le' is reserved in histograms`);
    const buckets = [...(options.buckets ?? DEFAULT_BUCKETS)].filter((b) => b !== Infinity);
    for (let i = 1; i < buckets.length; i++) {
      if (!((buckets[i] ?? NaN) > (buckets[i - 1] ?? NaN))) {
        throw new Error(`metric ${this.name}: buckets must be increasing`);
      }
    }
    this.buckets = buckets;
    if (this.labelNames.length === 0) this.series(undefined);
  }

  /** Records one observation (`observe(v)` without labels, `observe(labels, v)` with). */
  observe(...args: Update<L>): void {
    const [labels, value] = splitUpdate(this.labelNames.length, args);
    if (value === undefined || Number.isNaN(value)) {
      throw new Error(`metric ${this.name}: observe needs a number`);
    }
    const state = this.series(labels);
    const index = this.buckets.findIndex((bound) => value <= bound);
    const slot = index < 0 ? this.buckets.length : index;
    state.counts[slot] = (state.counts[slot] ?? 0) + 1;
    state.sum += value;
    state.count += 1;
  }

  /** Count and sum of one series. */
  get(...args: Select<L>): { count: number; sum: number } {
    const state = this.series(args[0]);
    return { count: state.count, sum: state.sum };
  }

  samples(): string[] {
    const lines: string[] = [];
    for (const { labels, state } of this.entries()) {
      const prefix = labels === '' ? '' : `${labels},`;
      let cumulative = 0;
      [...this.buckets, Infinity].forEach((bound, i) => {
        cumulative += state.counts[i] ?? 0;
        lines.push(sample(`${this.name}_bucket`, `${prefix}le="${formatNumber(bound)}"`, cumulative));
      });
      lines.push(sample(`${this.name}_sum`, labels, state.sum));
      lines.push(sample(`${this.name}_count`, labels, state.count));
    }
    return lines;
  }

  protected initial(): HistogramState {
    return { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
  }
}

function splitUpdate(labelCount: number, args: readonly unknown[]): [Labels | undefined, number | undefined] {
  if (labelCount === 0) return [undefined, args[0] as number | undefined];
  return [args[0] as Labels, args[1] as number | undefined];
}

function sample(name: string, labels: string, value: number): string {
  return labels === '' ? `${name} ${formatNumber(value)}` : `${name}{${labels}} ${formatNumber(value)}`;
}

/** Numbers as Prometheus writes them: `+Inf`, `-Inf`, `NaN`, otherwise the shortest exact form. */
export function formatNumber(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  if (Number.isNaN(value)) return 'NaN';
  return String(value);
}

/** In HELP text: backslash and line feed are escaped. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** In label values: backslash, double quote and line feed are escaped. */
export function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

// ---------------------------------------------------------------------------------------------------
// The agent's metrics.

export type SyncResultLabel = 'Succeeded' | 'Failed';

/** Buckets of the reconcile duration, in seconds: 10 ms to 5 min. */
export const RECONCILE_BUCKETS: readonly number[] = [
  0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];

export interface AgentMetrics {
  /** capstan_reconcile_duration_seconds{result}: one observation per reconcile of an Application. */
  readonly reconcileDuration: Histogram<{ result: string }>;
  /** capstan_workqueue_depth: keys ready and waiting for a worker. */
  readonly workqueueDepth: Gauge;
  /** capstan_sync_total{result}: syncs by result. */
  readonly syncs: Counter<{ result: SyncResultLabel }>;
  /** capstan_sync_resources_total{action}: resources per sync action (created, configured, unchanged, pruned, skipped, failed). */
  readonly syncResources: Counter<{ action: string }>;
  /** capstan_git_fetches_total{result}: git fetches by result. */
  readonly gitFetches: Counter<{ result: string }>;
  /** capstan_git_ls_remote_total: remote ref listings (cheap checks for a new commit). */
  readonly gitLsRemote: Counter;
  /** capstan_render_cache_hits_total */
  readonly renderCacheHits: Counter;
  /** capstan_render_cache_misses_total */
  readonly renderCacheMisses: Counter;
  /** capstan_drift_corrections_total: live objects put back after a change outside Git. */
  readonly driftCorrections: Counter;
  /** capstan_resource_watches: watches on managed resources (one per kind and destination cluster). */
  readonly resourceWatches: Gauge;
  /** capstan_resource_events_total{reaction}: managed-resource events, by what they caused (changed, deleted, health, ignored). */
  readonly resourceEvents: Counter<{ reaction: string }>;
  /** capstan_applications{sync,health}: Applications by state; recompute with `reset()` then `set`. */
  readonly applications: Gauge<{ sync: string; health: string }>;
  /** capstan_application_reads_total{source}: the reconciler's reads of Applications, from the watch or the API server. */
  readonly applicationReads: Counter<{ source: 'watch' | 'api' }>;
  /** capstan_application_validations_total{by}: Applications found valid by the schema, or by a version remembered. */
  readonly applicationValidations: Counter<{ by: ValidatedBy }>;
}

/** How the reconciler found an Application valid (ValidatedApplications). */
export type ValidatedBy = 'schema' | 'remembered';

/** Registers the agent's metrics in `registry` and returns typed handles to them. */
export function agentMetrics(registry: Registry): AgentMetrics {
  const metrics: AgentMetrics = {
    reconcileDuration: registry.histogram<{ result: string }>({
      name: 'capstan_reconcile_duration_seconds',
      help: 'Time to reconcile one Application, by result.',
      labelNames: ['result'],
      buckets: RECONCILE_BUCKETS,
    }),
    workqueueDepth: registry.gauge({
      name: 'capstan_workqueue_depth',
      help: 'Applications waiting in the work queue for a worker.',
    }),
    syncs: registry.counter<{ result: SyncResultLabel }>({
      name: 'capstan_sync_total',
      help: 'Syncs of Applications, by result.',
      labelNames: ['result'],
    }),
    syncResources: registry.counter<{ action: string }>({
      name: 'capstan_sync_resources_total',
      help: 'Resources handled by syncs, by action.',
      labelNames: ['action'],
    }),
    gitFetches: registry.counter<{ result: string }>({
      name: 'capstan_git_fetches_total',
      help: 'Git fetches, by result.',
      labelNames: ['result'],
    }),
    gitLsRemote: registry.counter({
      name: 'capstan_git_ls_remote_total',
      help: 'Listings of remote Git references.',
    }),
    renderCacheHits: registry.counter({
      name: 'capstan_render_cache_hits_total',
      help: 'Renders served from the cache.',
    }),
    renderCacheMisses: registry.counter({
      name: 'capstan_render_cache_misses_total',
      help: 'Renders that had to run.',
    }),
    driftCorrections: registry.counter({
      name: 'capstan_drift_corrections_total',
      help: 'Live objects corrected after they drifted from Git.',
    }),
    resourceWatches: registry.gauge({
      name: 'capstan_resource_watches',
      help: 'Watches on managed resources, one per kind and destination cluster.',
    }),
    resourceEvents: registry.counter<{ reaction: string }>({
      name: 'capstan_resource_events_total',
      help: 'Events of managed resources, by the reaction: changed (drift), deleted, health, ignored.',
      labelNames: ['reaction'],
    }),
    applications: registry.gauge<{ sync: string; health: string }>({
      name: 'capstan_applications',
      help: 'Applications, by sync status and health.',
      labelNames: ['sync', 'health'],
    }),
    applicationReads: registry.counter<{ source: 'watch' | 'api' }>({
      name: 'capstan_application_reads_total',
      help: "The reconciler's reads of Applications, by source: watch (no request, surely current) or api.",
      labelNames: ['source'],
    }),
    applicationValidations: registry.counter<{ by: ValidatedBy }>({
      name: 'capstan_application_validations_total',
      help: "The reconciler's checks of Applications, by how: schema (validated) or remembered (a version found valid before, or made by the agent's own status write).",
      labelNames: ['by'],
    }),
  };
  // Both results exist from the start, so that rate() and ratios work before the first failure.
  metrics.syncs.inc({ result: 'Succeeded' }, 0);
  metrics.syncs.inc({ result: 'Failed' }, 0);
  metrics.applicationReads.inc({ source: 'watch' }, 0);
  metrics.applicationReads.inc({ source: 'api' }, 0);
  metrics.applicationValidations.inc({ by: 'schema' }, 0);
  metrics.applicationValidations.inc({ by: 'remembered' }, 0);
  return metrics;
}
