/**
 * The Git source adapter: SourceFetcher with the git CLI.
 *
 * resolve() asks the remote with `git ls-remote` only (cheap change detection). checkout() fetches the
 * one commit it needs (`fetch --depth=1 <sha>`) into one shared bare repository per remote, and writes
 * the commit's files once under trees/<sha>/ (see layout.ts). Concurrent callers for the same
 * repository and commit share one run; a later call for a commit already checked out runs no git at all.
 * Network operations on different repositories run in parallel, up to `maxConcurrentFetches`.
 * contentIds() lists paths of a checked-out commit in its cache repository (see path-content.ts), once per
 * commit and set of paths, so that a render can be keyed by what it reads rather than by the commit.
 * The cache is shared, but never serves a commit to a caller that could not fetch it: checkout() first
 * proves the caller's credentials (or their absence) against the remote with an ls-remote, remembered
 * per repository and credentials for `accessTtlMs`. Hosts are checked against the agent's policy
 * (hosts.ts) before any git runs.
 */
import { createHash } from 'node:crypto';
import { CapstanError } from '../../core/errors.ts';
import type {
  CommitInfo,
  FetchOptions,
  ResolvedRevision,
  SourceFetcher,
  SourceSpec,
  SourceTree,
} from '../../ports/source.ts';
import { ensureBareRepo, hasCommit } from './bare-repo.ts';
import { prepareAuth, type GitAuth } from './credentials.ts';
import { gitEnvironment, runGit, type GitRunResult, type LocalGit } from './git-command.ts';
import { gitFailure } from './git-errors.ts';
import {
  checkRepositorySize,
  checkTreeSize,
  DEFAULT_CACHE_BOUNDS,
  evictLeastRecentlyUsed,
  type CacheBounds,
} from './cache-bounds.ts';
import { touch } from '../cache/least-recently-used.ts';
import { checkHost, type HostPolicy } from './hosts.ts';
import { KeyedLock } from './keyed-lock.ts';
import { cacheLayout, exists, prepareLayout, type CacheLayout } from './layout.ts';
import { Limiter } from './limiter.ts';
import { parseLsRemote, pickHead, pickNamed } from './remote-refs.ts';
import {
  checkedSha,
  checkRevisionText,
  isFetchableRef,
  parseTargetRevision,
  type TargetRevision,
} from './revision.ts';
import { SingleFlight } from './single-flight.ts';
import { ListingBatches } from './listing-batches.ts';
import {
  contentIdsOf,
  normalisePath,
  readCommitListing,
  readContentIds,
  type CommitListing,
} from './path-content.ts';
import { materialiseTree } from './tree.ts';
import { parseRepoUrl, type RepoUrl } from './url.ts';

export interface GitSourceFetcherOptions {
  /** Folder of the shared cache: bare repositories, trees, git's private HOME (see layout.ts). */
  readonly cacheDir: string;
  /** The git program. Default: `git` on PATH. */
  readonly gitBinary?: string;
  /** Time limit of one git network operation when FetchOptions.timeoutMs is not given. Default 60 000 ms. */
  readonly defaultTimeoutMs?: number;
  /** Git network operations (ls-remote, fetch) running at once, over all repositories. Default 4. */
  readonly maxConcurrentFetches?: number;
  /** Told of each git network operation when it ends (one `git fetch` or `git ls-remote` run): for metrics. */
  readonly onRemoteOperation?: (operation: RemoteOperation) => void;
  /**
   * Which hosts repositories may be on (see hosts.ts). Undefined: any (the CLI, fetching for its own
   * user); the agent always gives one.
   */
  readonly hosts?: HostPolicy;
  /**
   * How long a successful ls-remote with some credentials (or none) proves that they may read a
   * repository, so that its cached commits are served to them without asking the remote again.
   * Default 5 minutes.
   */
  readonly accessTtlMs?: number;
  /** Size limits and least-recently-used eviction of the cache on disk (cache-bounds.ts). */
  readonly cacheBounds?: CacheBounds;
  /**
   * A commit whose listing (`git ls-tree -r`) is at most this long is listed once for the content ids
   * of all its applications; a longer one is listed per set of paths. Default 4 MiB.
   */
  readonly maxWholeListingBytes?: number;
}

/** One git network operation that ran: which, and how it ended. */
export interface RemoteOperation {
  readonly kind: 'fetch' | 'ls-remote';
  readonly result: 'success' | 'error' | 'cancelled';
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_ACCESS_TTL_MS = 5 * 60_000;
/** Access proofs remembered (repository × credentials). */
const REMEMBERED_ACCESS = 4096;
const DEFAULT_MAX_CONCURRENT_FETCHES = 4;
/** Local operations on the cache (read-tree, checkout-index of a large tree) get more time. */
const LOCAL_TIMEOUT_MS = 10 * 60_000;
/** ls-remote of a repository with very many tags stays well under this. */
const MAX_LS_REMOTE_BYTES = 32 * 1024 * 1024;
/** Checked-out (repository, commit) pairs remembered in memory; older ones are found on disk again. */
const REMEMBERED_CHECKOUTS = 4096;
/** Content ids by (commit, paths) remembered in memory: a few commits of every application. */
const REMEMBERED_CONTENT_IDS = 8192;
/** GitSourceFetcherOptions.maxWholeListingBytes's default. */
const MAX_WHOLE_LISTING_BYTES = 4 * 1024 * 1024;
/** Whole listings of commits remembered: the latest commits of the repositories being synced. */
const REMEMBERED_WHOLE_LISTINGS = 4;

/** A commit's files on disk, shared by every caller. */
interface CheckedOut {
  readonly commit: CommitInfo;
  readonly dir: string;
}

const cancelled = () =>
  new CapstanError('SOURCE_CANCELLED', 'the git operation was cancelled by its caller', { retryable: true });

export class GitSourceFetcher implements SourceFetcher {
  readonly #layout: CacheLayout;
  readonly #binary: string;
  readonly #defaultTimeoutMs: number;
  readonly #network: Limiter;
  readonly #repoLocks = new KeyedLock();
  /** Key `<repository cache key>@<sha>`: one fetch and checkout per repository and commit. */
  readonly #checkouts = new SingleFlight<CheckedOut>({ maxRemembered: REMEMBERED_CHECKOUTS, cancelled });
  /** Key `<sha>`: one tree per commit, whichever repository it came from. */
  readonly #trees = new SingleFlight<CommitInfo>({ maxRemembered: 0, cancelled });
  /** Key `<repository cache key>@<sha>` and the paths: one listing per commit and set of paths. */
  readonly #contentIds = new SingleFlight<ReadonlyMap<string, string | undefined>>({
    maxRemembered: REMEMBERED_CONTENT_IDS,
    cancelled,
  });
  /**
   * Key `<repository cache key>@<sha>`: every entry of the commit when its listing is small (a config
   * repository, a monorepo of YAML), so that its applications' content ids cost one `git ls-tree` in
   * all; `entries` undefined when it is not, and each set of paths is listed alone.
   */
  readonly #wholeListings = new SingleFlight<{ readonly entries: CommitListing | undefined }>({
    maxRemembered: REMEMBERED_WHOLE_LISTINGS,
    cancelled,
  });
  /** Key `<repository cache key>@<sha>`: the listings of one commit's paths, batched (listing-batches.ts). */
  readonly #listings = new ListingBatches();
  readonly #local: LocalGit;
  readonly #onRemoteOperation: ((operation: RemoteOperation) => void) | undefined;
  readonly #hosts: HostPolicy | undefined;
  readonly #accessTtlMs: number;
  /** Key `<repository cache key>\0<credential identity>`: when an ls-remote with them last succeeded. */
  readonly #access = new Map<string, number>();
  readonly #accessChecks = new SingleFlight<void>({ maxRemembered: 0, cancelled });
  readonly #bounds: Required<CacheBounds>;
  readonly #maxWholeListingBytes: number;
  /** When each cache entry was last touched by this process (#markUsed). */
  readonly #touched = new Map<string, number>();
  #sweeping: Promise<void> | undefined;
  #ready: Promise<void> | undefined;

  constructor(options: GitSourceFetcherOptions) {
    this.#layout = cacheLayout(options.cacheDir);
    this.#binary = options.gitBinary ?? 'git';
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#network = new Limiter(options.maxConcurrentFetches ?? DEFAULT_MAX_CONCURRENT_FETCHES);
    this.#onRemoteOperation = options.onRemoteOperation;
    this.#hosts = options.hosts;
    this.#accessTtlMs = options.accessTtlMs ?? DEFAULT_ACCESS_TTL_MS;
    this.#bounds = { ...DEFAULT_CACHE_BOUNDS, ...options.cacheBounds };
    this.#maxWholeListingBytes = options.maxWholeListingBytes ?? MAX_WHOLE_LISTING_BYTES;
    this.#local = (args, extraEnv, limits) =>
      runGit({
        binary: this.#binary,
        args,
        env: gitEnvironment({
          home: this.#layout.home,
          allowInsecureHttp: false,
          ...(extraEnv && { extra: extraEnv }),
        }),
        cwd: this.#layout.home,
        timeoutMs: LOCAL_TIMEOUT_MS,
        ...(limits?.maxOutputBytes !== undefined && { maxOutputBytes: limits.maxOutputBytes }),
      });
  }

  async resolve(source: SourceSpec, options: FetchOptions = {}): Promise<ResolvedRevision> {
    // 1. Check the URL and the revision before anything runs.
    const repo = parseRepoUrl(source.repoURL, urlOptions(options));
    const target = parseTargetRevision(source.targetRevision, repo.display);
    if (this.#hosts) await checkHost(repo, this.#hosts);

    // 2. A full SHA is its own answer: checkout() verifies access and fetches it.
    if (target.kind === 'sha') return { sha: target.sha, ref: target.sha };

    // 3. Ask the remote: HEAD and where it points, one full ref (and its peeled tag), or all branches
    //    and tags.
    const args =
      target.kind === 'head'
        ? ['--symref', '--', repo.url, 'HEAD']
        : target.name.startsWith('refs/')
          ? ['--', repo.url, target.name, `${target.name}^{}`]
          : ['--heads', '--tags', '--', repo.url];
    const remote = parseLsRemote(await this.#lsRemote(repo, args, options));
    this.#granted(repo, options);

    // 4. Pick the ref (or the highest tag in a semver range).
    const picked = target.kind === 'head' ? pickHead(remote) : pickNamed(remote, target.name, target.range);
    if (picked === undefined) throw refNotFound(repo, target);
    return picked;
  }

  /** Every branch and tag of the repository (`refs/heads/…`, `refs/tags/…`) and its commit (tags peeled). */
  async listRefs(
    source: Pick<SourceSpec, 'repoURL'>,
    options: FetchOptions = {},
  ): Promise<ReadonlyMap<string, string>> {
    const repo = parseRepoUrl(source.repoURL, urlOptions(options));
    if (this.#hosts) await checkHost(repo, this.#hosts);
    const remote = parseLsRemote(await this.#lsRemote(repo, ['--heads', '--tags', '--', repo.url], options));
    this.#granted(repo, options);
    return remote.refs;
  }

  async checkout(
    source: SourceSpec,
    revision: ResolvedRevision,
    options: FetchOptions = {},
  ): Promise<SourceTree> {
    // 1. Check the URL and the revision before anything runs.
    const repo = parseRepoUrl(source.repoURL, urlOptions(options));
    const sha = checkedSha(revision.sha, repo.display);
    checkRevisionText(revision.ref, repo.display);
    if (this.#hosts) await checkHost(repo, this.#hosts);

    // 2. The cache serves a commit only to callers who can read the repository themselves: their
    //    credentials (or none) are proven against the remote, at most once per access TTL.
    await this.#checkAccess(repo, options);

    // 3. One run per repository and commit, shared by concurrent callers and remembered afterwards.
    const key = `${repo.cacheKey}@${sha}`;
    const run = () =>
      this.#checkouts.run(
        key,
        (signal) => this.#checkoutOnce(repo, revision.ref, sha, options, signal),
        options.signal,
      );
    let tree = await run();

    // 4. A remembered tree that was removed from disk (cache cleaned, evicted) is made again.
    if (!(await exists(tree.dir))) {
      this.#checkouts.forget(key);
      tree = await run();
    }
    // 5. Marked as used, so that eviction takes the least recently used first.
    const now = Date.now();
    await Promise.all([this.#markUsed(tree.dir, now), this.#markUsed(this.#layout.repo(repo.cacheKey), now)]);
    return { revision: { sha, ref: revision.ref }, commit: tree.commit, dir: tree.dir };
  }

  /**
   * Touches a cache entry (least-recently-used.ts), at most once per tenth of the time an entry in use
   * is kept (once a minute at most): a drift correction or a poll that checks out the same commit
   * again does not wait for two file-system writes each time.
   */
  async #markUsed(path: string, now: number): Promise<void> {
    const last = this.#touched.get(path);
    if (last !== undefined && now - last < Math.min(60_000, this.#bounds.minIdleMs / 10)) return;
    // Bounded: forgetting costs one more touch of each entry.
    if (this.#touched.size >= REMEMBERED_CHECKOUTS) this.#touched.clear();
    this.#touched.set(path, now);
    await touch(path, new Date(now));
  }

  async contentIds(
    source: SourceSpec,
    tree: SourceTree,
    paths: readonly string[],
    options: FetchOptions = {},
  ): Promise<ReadonlyMap<string, string | undefined>> {
    // 1. Check the URL and the commit before anything runs.
    const repo = parseRepoUrl(source.repoURL, urlOptions(options));
    const sha = checkedSha(tree.revision.sha, repo.display);

    // 2. The paths as the repository names them; one that cannot be in it (absolute, `..`) has no id.
    const normal = new Map(paths.map((path) => [path, normalisePath(path)]));
    const wanted = [...new Set([...normal.values()].flatMap((p) => (p === undefined ? [] : [p])))].sort();

    // 3. The ids from one listing of the whole commit, where it is small; else one listing of the
    //    commit per set of paths, the sets asked for while one runs listed together after it. Shared
    //    and remembered either way.
    const key = `${repo.cacheKey}@${sha}\u0000${wanted.join('\u0000')}`;
    const ids = await this.#contentIds.run(
      key,
      async () => {
        await this.#prepare();
        const bare = this.#layout.repo(repo.cacheKey);
        const commit = `${repo.cacheKey}@${sha}`;
        const whole = await this.#wholeListings.run(commit, async () => ({
          entries: await readCommitListing(this.#local, bare, sha, this.#maxWholeListingBytes),
        }));
        if (whole.entries !== undefined) return contentIdsOf(whole.entries, wanted);
        const listed = await this.#listings.request(commit, wanted, (all) =>
          readContentIds(this.#local, bare, sha, all),
        );
        return new Map(wanted.map((path) => [path, listed.get(path)]));
      },
      options.signal,
    );
    return new Map(paths.map((path) => [path, ids.get(normal.get(path) ?? '\u0000')]));
  }

  async #checkoutOnce(
    repo: RepoUrl,
    ref: string,
    sha: string,
    options: FetchOptions,
    signal: AbortSignal,
  ): Promise<CheckedOut> {
    await this.#prepare();
    const bare = this.#layout.repo(repo.cacheKey);

    // 1. The commit in this repository's cache, fetched unless already there; one operation per
    //    repository at a time. Checking this repository (not just trees/<sha>) means a commit is only
    //    ever served to those who can fetch it from the repository they name.
    await this.#repoLocks.run(repo.cacheKey, async () => {
      await ensureBareRepo(this.#local, bare, this.#layout.tmp);
      if (!(await hasCommit(this.#local, bare, sha))) {
        await this.#fetch(repo, bare, ref, sha, options, signal);
        await checkRepositorySize(bare, repo.display, this.#bounds.maxRepositoryBytes);
      }
    });

    // 2. Its files, written once per commit whatever the repository, if they are not too large.
    const commit = await this.#trees.run(sha, async () => {
      if (!(await exists(this.#layout.tree(sha)))) {
        await checkTreeSize(this.#local, bare, sha, repo.display, this.#bounds.maxTreeBytes);
      }
      return materialiseTree(this.#local, this.#layout, bare, sha);
    });

    // 3. Room for it: the least recently used trees and repositories past the bounds go.
    if (this.#sweeping === undefined) {
      this.#sweeping = evictLeastRecentlyUsed(this.#layout, this.#bounds, Date.now())
        .then(
          () => undefined,
          () => undefined,
        )
        .finally(() => {
          this.#sweeping = undefined;
        });
    }
    return { commit, dir: this.#layout.tree(sha) };
  }

  /** Fetches one commit by SHA; where the server refuses that, fetches the ref it was resolved from. */
  async #fetch(
    repo: RepoUrl,
    bare: string,
    ref: string,
    sha: string,
    options: FetchOptions,
    signal: AbortSignal,
  ): Promise<void> {
    const fetch = (refspec: string, auth: GitAuth) =>
      this.#network
        .run(
          () =>
            this.#remoteGit(
              repo,
              [
                `--git-dir=${bare}`,
                'fetch',
                '--quiet',
                '--depth=1',
                '--no-tags',
                '--no-write-fetch-head',
                '--recurse-submodules=no',
                '--',
                repo.url,
                refspec,
              ],
              options,
              auth,
              signal,
            ),
          signal,
          cancelled,
        )
        .then((result) => this.#report('fetch', result));
    await this.#withAuth(repo, options, async (auth) => {
      const context = {
        repo,
        doing: `fetching commit ${sha}`,
        timeoutMs: this.#timeout(options),
        secrets: auth.secrets,
        notFound: `commit ${sha} was not found in ${repo.display}: it never existed there or was removed by a force-push; check targetRevision, or resolve it again`,
      };
      const bySha = await fetch(`+${sha}:refs/capstan/${sha}`, auth);
      if (bySha.ok) return;
      const failure = gitFailure(bySha, context);
      if (failure.code !== 'SOURCE_REF_NOT_FOUND' || !isFetchableRef(ref)) throw failure;

      // A server that allows no fetch by SHA: fetch the ref, which must still point to the commit.
      const byRef = await fetch(`+${ref}:${ref.replace(/^refs\//, 'refs/capstan/remote/')}`, auth);
      if (!byRef.ok) {
        throw gitFailure(byRef, {
          ...context,
          notFound: `${ref} no longer exists in ${repo.display}: resolve again`,
        });
      }
      if (!(await hasCommit(this.#local, bare, sha))) {
        throw new CapstanError(
          'SOURCE_REF_NOT_FOUND',
          `commit ${sha} was not found in ${repo.display}: ${ref} no longer points to it (or it never existed there), and the server gave nothing for the SHA itself; check targetRevision, or resolve it again`,
          { subject: repo.display },
        );
      }
    });
  }

  async #lsRemote(repo: RepoUrl, args: readonly string[], options: FetchOptions): Promise<string> {
    await this.#prepare();
    return this.#withAuth(repo, options, async (auth) => {
      const result = this.#report(
        'ls-remote',
        await this.#network.run(
          () =>
            this.#remoteGit(repo, ['ls-remote', ...args], options, auth, options.signal, MAX_LS_REMOTE_BYTES),
          options.signal,
          cancelled,
        ),
      );
      if (!result.ok) {
        throw gitFailure(result, {
          repo,
          doing: 'listing the branches and tags',
          timeoutMs: this.#timeout(options),
          secrets: auth.secrets,
          maxOutputBytes: MAX_LS_REMOTE_BYTES,
        });
      }
      return result.stdout;
    });
  }

  /** git against the remote: the clean environment, the allowed transports and the credentials. */
  #remoteGit(
    repo: RepoUrl,
    args: readonly string[],
    options: FetchOptions,
    auth: GitAuth,
    signal: AbortSignal | undefined,
    maxOutputBytes?: number,
  ): Promise<GitRunResult> {
    return runGit({
      binary: this.#binary,
      args,
      env: gitEnvironment({
        home: this.#layout.home,
        allowInsecureHttp: repo.protocol === 'http' && options.allowInsecureHttp === true,
        extra: auth.env,
      }),
      cwd: this.#layout.home,
      timeoutMs: this.#timeout(options),
      ...(signal && { signal }),
      ...(maxOutputBytes !== undefined && { maxOutputBytes }),
    });
  }

  /** Proves, unless recently proven, that these credentials (or none) may read the repository. */
  async #checkAccess(repo: RepoUrl, options: FetchOptions): Promise<void> {
    const key = accessKey(repo, options);
    const proven = this.#access.get(key);
    if (proven !== undefined && Date.now() - proven < this.#accessTtlMs) return;
    try {
      // Concurrent callers with the same credentials share one ls-remote.
      await this.#accessChecks.run(
        key,
        async () => {
          await this.#lsRemote(repo, ['--', repo.url, 'HEAD'], options);
          this.#granted(repo, options);
        },
        options.signal,
      );
    } catch (error) {
      // An earlier proof stands while the remote cannot be asked (it said nothing new); a refusal ends it.
      const unreachable =
        error instanceof CapstanError &&
        (error.code === 'SOURCE_UNREACHABLE' || error.code === 'SOURCE_TIMEOUT');
      if (proven !== undefined && unreachable) return;
      this.#access.delete(key);
      throw error;
    }
  }

  /** Remembers that an ls-remote with these credentials succeeded (the oldest proof goes first). */
  #granted(repo: RepoUrl, options: FetchOptions): void {
    const key = accessKey(repo, options);
    this.#access.delete(key);
    this.#access.set(key, Date.now());
    if (this.#access.size > REMEMBERED_ACCESS) {
      const oldest = this.#access.keys().next().value;
      if (oldest !== undefined) this.#access.delete(oldest);
    }
  }

  /** Reports a network operation that ran (see GitSourceFetcherOptions.onRemoteOperation). */
  #report(kind: RemoteOperation['kind'], result: GitRunResult): GitRunResult {
    const outcome = result.ok ? 'success' : result.aborted ? 'cancelled' : 'error';
    this.#onRemoteOperation?.({ kind, result: outcome });
    return result;
  }

  /** Runs work with the credentials handed to git, and removes any file written for them afterwards. */
  async #withAuth<T>(repo: RepoUrl, options: FetchOptions, work: (auth: GitAuth) => Promise<T>): Promise<T> {
    const auth = await prepareAuth(options.credentials, repo, this.#layout.tmp);
    try {
      return await work(auth);
    } finally {
      await auth.dispose();
    }
  }

  #timeout(options: FetchOptions): number {
    return options.timeoutMs ?? this.#defaultTimeoutMs;
  }

  #prepare(): Promise<void> {
    this.#ready ??= prepareLayout(this.#layout).catch((error: unknown) => {
      this.#ready = undefined;
      throw new CapstanError(
        'SOURCE_CACHE_FAILED',
        `cannot create the source cache in ${this.#layout.root}`,
        {
          cause: error,
          retryable: true,
        },
      );
    });
    return this.#ready;
  }
}

/** The repository and who asks: a digest of the credentials themselves, or `anonymous`. */
function accessKey(repo: RepoUrl, options: FetchOptions): string {
  const who =
    options.credentials === undefined
      ? 'anonymous'
      : createHash('sha256').update(JSON.stringify(options.credentials)).digest('hex');
  return `${repo.cacheKey}\u0000${who}`;
}

function urlOptions(options: FetchOptions): { allowInsecureHttp?: boolean } {
  return options.allowInsecureHttp === undefined ? {} : { allowInsecureHttp: options.allowInsecureHttp };
}

function refNotFound(repo: RepoUrl, target: TargetRevision): CapstanError {
  const subject = repo.display;
  let message: string;
  if (target.kind !== 'name') {
    message = `the repository ${subject} has no default branch (HEAD): it is empty; push a commit, or name a branch or tag in targetRevision`;
  } else if (target.range !== undefined) {
    message = `no branch or tag of ${subject} is named '${target.name}', and no tag matches it as a semver range (pre-releases count only where the range names one): check targetRevision, or push a matching tag`;
  } else if (/^[0-9a-fA-F]{4,39}$/.test(target.name)) {
    message = `no branch or tag named '${target.name}' exists in ${subject}: a commit SHA must be given in full (40 hex digits)`;
  } else {
    message = `no branch or tag named '${target.name}' exists in ${subject}: check targetRevision (names are case-sensitive), or push it`;
  }
  return new CapstanError('SOURCE_REF_NOT_FOUND', message, { subject });
}
