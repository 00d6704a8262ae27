/**
 * A chart of a Helm repository as a source (Argo CD's `spec.source.chart`, Flux's HelmRelease): the same
 * port as a git repository (SourceFetcher), so that the agent and push mode resolve, record, roll back
 * and render it as they do a commit.
 *   resolve:  the version (the highest in the range, from the index or the registry's tags) and the
 *             archive's digest, checked against the repository's (ChartRepository). The revision is
 *             `<version>@sha256:<hex>`.
 *   checkout: the archive of that version unpacked (checked, confined) in a folder named after the
 *             chart, kept by repository URL + chart + version + digest: a version whose archive has
 *             changed since it was recorded is refused, not rendered.
 */
import { createHash } from 'node:crypto';
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CapstanError } from '../../core/errors.ts';
import type {
  FetchOptions,
  ResolvedRevision,
  SourceFetcher,
  SourceSpec,
  SourceTree,
} from '../../ports/source.ts';
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
}

const DEFAULT_MAX_ARCHIVE_BYTES = 10 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 120_000;
const COMPLETE = '.capstan-complete';
const REVISION = /^(.+)@(sha256:[0-9a-f]{64})$/;

export class ChartSourceFetcher implements SourceFetcher {
  readonly #options: ChartSourceOptions;

  constructor(options: ChartSourceOptions) {
    this.#options = options;
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
    if (await exists(join(dir, COMPLETE))) return tree;
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
      await writeFile(join(partial, COMPLETE), `${revision.sha}\n`);
      await mkdir(this.#options.cacheDir, { recursive: true, mode: 0o700 });
      await rename(partial, dir).catch(async (error: unknown) => {
        // Another reconcile unpacked the same chart first: that one is as good.
        if (!(await exists(join(dir, COMPLETE)))) throw error;
      });
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
    return tree;
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
