/**
 * A chart of a Helm repository as a source (Argo CD's `spec.source.chart`, Flux's HelmRelease): the same
 * port as a git repository (SourceFetcher), so that the agent and push mode resolve, record, roll back
 * and render it as they do a commit.
 *   resolve:  the version (the highest in the range, from the index or the registry's tags) and the
 *             archive's digest, checked against the repository's (ChartRepository). The revision is
 *             `<version>@sha256:<hex>`.
 *   checkout: the archive of that version unpacked (checked, confined) in a folder named after the
 *             chart, kept by repository URL + chart + version + digest: a version whose archive has
 *             changed since it was recorded is refused, not rendered. The unpacked charts are
 *             bounded (ChartCacheBounds): past so many, or so many bytes, the least recently used go.
 */
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CapstanError } from '../../core/errors.ts';
import type {
  FetchOptions,
  ResolvedRevision,
  SourceFetcher,
  SourceSpec,
  SourceTree,
} from '../../ports/source.ts';
import { evictLeastRecentlyUsed, folderBytes, touch } from '../cache/least-recently-used.ts';
import type { ChartRepository, PulledChart } from './chart-repository.ts';
import {
  DEFAULT_UNPACK_LIMITS,
  readChartArchive,
  writeChartEntries,
  type UnpackLimits,
} from './chart-archive.ts';

export interface ChartSourceOptions {
  /** Where unpacked charts are kept (`<cacheDir>/<key>/<chart>/`). */
  readonly cacheDir: string;
  readonly charts: ChartRepository;
  /** The largest archive downloaded. Default 10 MiB. */
  readonly maxArchiveBytes?: number;
  readonly unpack?: UnpackLimits;
  /** Time limit of a whole resolve or checkout (every request of it). Default 120 s. */
  readonly timeoutMs?: number;
  /** How many unpacked charts, and bytes of them, are kept on disk. */
  readonly bounds?: ChartCacheBounds;
}

/**
 * Bounds on the unpacked charts on disk (as the git cache's, cache-bounds.ts): after a chart is
 * unpacked, the least recently used ones go while more than `maxCharts` are kept or they add up to
 * more than `maxBytes`. Use is the folder's modification time, touched at each checkout; a chart used
 * in the last `minIdleMs` is never removed (a render may be reading it). A removed chart is unpacked
 * again on its next checkout, from the archive cache or the repository (checked against its digest).
 */
export interface ChartCacheBounds {
  /** Unpacked charts kept. Default 256. */
  readonly maxCharts?: number;
  /** Bytes of unpacked charts kept. Default 2 GiB (a chart unpacks to 64 MiB at most). */
  readonly maxBytes?: number;
  /** A chart used more recently than this is never removed. Default 10 minutes. */
  readonly minIdleMs?: number;
}

export const DEFAULT_CHART_CACHE_BOUNDS: Required<ChartCacheBounds> = {
  maxCharts: 256,
  maxBytes: 2 * 1024 ** 3,
  minIdleMs: 10 * 60_000,
};

const DEFAULT_MAX_ARCHIVE_BYTES = 10 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 120_000;
const COMPLETE = '.capstan-complete';
const REVISION = /^(.+)@(sha256:[0-9a-f]{64})$/;

export class ChartSourceFetcher implements SourceFetcher {
  readonly #options: ChartSourceOptions;
  readonly #bounds: Required<ChartCacheBounds>;
  /** The eviction under way: one at a time. */
  #sweeping: Promise<void> | undefined;

  constructor(options: ChartSourceOptions) {
    this.#options = options;
    this.#bounds = { ...DEFAULT_CHART_CACHE_BOUNDS, ...options.bounds };
  }

  /** The newest version in the range and its archive's digest (downloaded once, then from the cache). */
  async resolve(source: SourceSpec, options: FetchOptions = {}): Promise<ResolvedRevision> {
    const pulled = await this.#pull(source, source.targetRevision, options);
    return revisionOf(source, pulled);
  }

  async checkout(
    source: SourceSpec,
    revision: ResolvedRevision,
    options: FetchOptions = {},
  ): Promise<SourceTree> {
    const chart = chartName(source);
    const recorded = REVISION.exec(revision.sha);
    if (!recorded?.[1] || !recorded[2])
      throw new CapstanError(
        'SOURCE_BAD_REVISION',
        `chart ${chart} from ${source.repoURL}: '${revision.sha}' is not a chart revision (<version>@sha256:<hex>)`,
        { subject: source.repoURL },
      );
    const [, version, digest] = recorded;
    const dir = join(this.#options.cacheDir, treeKey(source, version, digest));
    const tree = treeOf(source, { sha: revision.sha, ref: `${chart} ${version}` }, dir);
    if (await exists(join(dir, COMPLETE))) {
      await touch(dir, new Date());
      return tree;
    }
    // Not unpacked yet: the archive of exactly that version, which must still be the one recorded.
    const pulled = await this.#pull(source, version, options);
    if (pulled.digest !== digest)
      throw new CapstanError(
        'RENDER_CHART_DIGEST',
        `chart ${chart} ${version} from ${source.repoURL} is now ${pulled.digest}, not ${digest} as recorded: the repository changed the archive of a published version; it was not used`,
        { subject: source.repoURL },
      );
    const what = `chart ${chart} ${version} from ${source.repoURL}`;
    const entries = await readChartArchive(
      pulled.archive,
      what,
      this.#options.unpack ?? DEFAULT_UNPACK_LIMITS,
    );
    // Unpacked beside, then moved into place: a reader never sees half a chart.
    const partial = `${dir}.${process.pid}.${Date.now()}.partial`;
    try {
      await writeChartEntries(join(partial, chart), entries);
      // The marker names the revision and the bytes unpacked (what the bound on bytes counts).
      const bytes = entries.reduce((sum, e) => sum + (e.kind === 'file' ? e.data.length : 0), 0);
      await writeFile(join(partial, COMPLETE), `${revision.sha}\n${bytes}\n`);
      await mkdir(this.#options.cacheDir, { recursive: true, mode: 0o700 });
      await rename(partial, dir).catch(async (error: unknown) => {
        // Another reconcile unpacked the same chart first: that one is as good.
        if (!(await exists(join(dir, COMPLETE)))) throw error;
      });
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
    await this.#sweep();
    return tree;
  }

  /** Removes the least recently used charts past the bounds (ChartCacheBounds); one sweep at a time. */
  async #sweep(): Promise<void> {
    if (this.#sweeping) return this.#sweeping;
    const { cacheDir } = this.#options;
    const bytesOf = async (name: string): Promise<number> => {
      const marker = await readFile(join(cacheDir, name, COMPLETE), 'utf8').catch(() => '');
      const recorded = Number(marker.split('\n')[1]);
      return marker !== '' && Number.isSafeInteger(recorded) ? recorded : folderBytes(join(cacheDir, name));
    };
    const { maxCharts, maxBytes, minIdleMs } = this.#bounds;
    this.#sweeping = evictLeastRecentlyUsed(
      cacheDir,
      { maxEntries: maxCharts, maxBytes, minIdleMs },
      Date.now(),
      bytesOf,
    )
      .then(() => undefined)
      .finally(() => {
        this.#sweeping = undefined;
      });
    return this.#sweeping;
  }

  /** Every path of a chart's tree is decided by the archive's digest, which the revision holds. */
  contentIds(
    _source: SourceSpec,
    tree: SourceTree,
    paths: readonly string[],
  ): Promise<ReadonlyMap<string, string | undefined>> {
    return Promise.resolve(new Map(paths.map((path) => [path, tree.revision.sha])));
  }

  async #pull(source: SourceSpec, version: string, options: FetchOptions): Promise<PulledChart> {
    const limit = AbortSignal.timeout(this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signal = options.signal ? AbortSignal.any([options.signal, limit]) : limit;
    try {
      return await this.#options.charts.pull({
        repository: source.repoURL,
        name: chartName(source),
        version: version === '' ? '*' : version,
        credentials: options.credentials ? [options.credentials] : [],
        allowHttp: options.allowInsecureHttp === true,
        maxBytes: this.#options.maxArchiveBytes ?? DEFAULT_MAX_ARCHIVE_BYTES,
        signal,
      });
    } catch (error) {
      if (limit.aborted && !(options.signal?.aborted ?? false))
        throw new CapstanError(
          'RENDER_CHART_UNREACHABLE',
          `chart ${chartName(source)} from ${source.repoURL}: no complete answer within ${this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`,
          { subject: source.repoURL, retryable: true, cause: error },
        );
      throw error;
    }
  }
}

/**
 * One SourceFetcher for both kinds of source: a chart of a Helm repository (a source with `chart`),
 * else a git repository.
 */
export function withChartSources(git: SourceFetcher, charts: SourceFetcher): SourceFetcher {
  const pick = (source: SourceSpec): SourceFetcher => (source.chart === undefined ? git : charts);
  return {
    resolve: (source, options) => pick(source).resolve(source, options),
    checkout: (source, revision, options) => pick(source).checkout(source, revision, options),
    contentIds: (source, tree, paths, options) => pick(source).contentIds(source, tree, paths, options),
  };
}

/**
 * A revision recorded before (`<version>@sha256:<hex>`, from status or history) as a resolved one: a
 * checkout of it needs no resolve. Undefined for anything else (a version or a range to resolve).
 */
export function recordedChartRevision(text: string): ResolvedRevision | undefined {
  const recorded = REVISION.exec(text);
  return recorded ? { sha: text, ref: recorded[1] ?? '' } : undefined;
}

function revisionOf(source: SourceSpec, pulled: PulledChart): ResolvedRevision {
  return { sha: `${pulled.version}@${pulled.digest}`, ref: `${chartName(source)} ${pulled.version}` };
}

function treeOf(source: SourceSpec, revision: ResolvedRevision, dir: string): SourceTree {
  return {
    revision,
    commit: { sha: revision.sha, author: '', email: '', date: '', subject: `chart ${revision.ref}` },
    dir,
  };
}

function chartName(source: SourceSpec): string {
  const chart = source.chart ?? '';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(chart))
    throw new CapstanError('SOURCE_BAD_URL', `'${chart}' is not a chart name (letters, digits, ., _ and -)`, {
      subject: source.repoURL,
    });
  return chart;
}

/** The folder of one unpacked chart: repository URL, chart, version and digest. */
function treeKey(source: SourceSpec, version: string, digest: string): string {
  return createHash('sha256')
    .update(`${source.repoURL.replace(/\/+$/, '')}\0${chartName(source)}\0${version}\0${digest}`)
    .digest('hex')
    .slice(0, 32);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
