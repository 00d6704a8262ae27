import { createHash, createHmac, randomBytes } from 'node:crypto';
import { canonicalJson } from '../core/digest.ts';
import { CapstanError } from '../core/errors.ts';
import type { RenderRequest, RenderResult, Renderer } from '../ports/renderer.ts';

/** What identifies the files of a render's checkout besides its commit. */
export interface RenderSource {
  /**
   * Content ids of paths in the commit (SourceFetcher.contentIds for the checkout). Without it, or where
   * a path has none, the commit stands in for the content.
   */
  readonly contentIds?: (paths: readonly string[]) => Promise<ReadonlyMap<string, string | undefined>>;
}

export interface RenderCacheOptions {
  /**
   * Renders kept. Default 10 000: more than the Applications one agent runs, so that every
   * Application's render stays between two polls (a cache smaller than the set it serves evicts each
   * entry before its next use, and every poll renders again).
   */
  readonly maxEntries?: number;
  /** Rendered objects kept across all renders, the bound on memory. Default 200 000. */
  readonly maxObjects?: number;
  /** Keys of (commit, request) remembered, so that each is worked out once. Default 4096. */
  readonly maxKeys?: number;
  /**
   * How long a render that failed for good (a CapstanError that retrying cannot help: bad YAML, a
   * document nested too deep, a path out of the checkout) is answered from the cache, so that an
   * Application retrying every second does not parse a hostile file every second. Failures that may
   * pass on a retry (time-outs, cancellation) are never kept. Default 5 minutes.
   */
  readonly failureTtlMs?: number;
  /** The clock of failureTtlMs. Default Date.now. */
  readonly now?: () => number;
}

/**
 * Renders cached by their inputs: what the render reads, by content (the folder, and the Kustomize
 * bases and files or Helm values files it names elsewhere in the repository, by their git hashes), its
 * options (with the destination's Helm capabilities: an upgraded cluster renders its charts again; chart
 * credentials only by a keyed hash), and the versions of the tools that render it. A commit re-renders only the applications whose
 * inputs it changed: in a monorepo, those whose folders (or shared bases) it touched. Where what a render
 * reads is not known for sure (a remote base, a kustomization that cannot be parsed, a symlink, a path
 * git does not list), the commit stands in for the content: exact, never stale. A render that failed for
 * good is kept too, for a while (failureTtlMs), so that a hostile file is not parsed on every retry. The key of each (commit,
 * request) is worked out once and remembered. Bounded, least recently used first out; concurrent
 * requests for one key share one render.
 */
export class RenderCache {
  readonly #renderer: Renderer;
  readonly #max: number;
  readonly #maxObjects: number;
  readonly #maxKeys: number;
  readonly #failureTtlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Promise<RenderResult>>();
  /** When each kept failure expires. */
  readonly #failures = new Map<string, number>();
  /** Objects of each finished render still kept, and their sum. */
  readonly #sizes = new Map<string, number>();
  #objects = 0;
  /** `<commit> NUL <options>` → the key of that render. */
  readonly #keys = new Map<string, Promise<string>>();
  /** The key of the chart credentials' HMAC: random, this process's only. */
  readonly #credentialsKey = randomBytes(32);
  hits = 0;
  misses = 0;

  constructor(renderer: Renderer, options: RenderCacheOptions = {}) {
    this.#renderer = renderer;
    this.#max = options.maxEntries ?? 10_000;
    this.#maxObjects = options.maxObjects ?? 200_000;
    this.#maxKeys = options.maxKeys ?? 4096;
    this.#failureTtlMs = options.failureTtlMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  async render(
    commit: string,
    request: RenderRequest,
    source: RenderSource = {},
  ): Promise<{ result: RenderResult; cached: boolean; key: string }> {
    const key = await this.key(commit, request, source);
    this.#expireFailure(key);
    const existing = this.#entries.get(key);
    if (existing) {
      this.hits += 1;
      this.#entries.delete(key);
      this.#entries.set(key, existing);
      return { result: await existing, cached: true, key };
    }
    this.misses += 1;
    const pending = this.#renderer.render(request);
    this.#entries.set(key, pending);
    pending.then(
      (result) => {
        if (this.#entries.get(key) !== pending) return;
        this.#sizes.set(key, result.objects.length);
        this.#objects += result.objects.length;
        this.#trim();
      },
      (error: unknown) => {
        if (this.#entries.get(key) !== pending) return;
        // A failure for good is kept for a while (its inputs must change); any other is tried again.
        if (error instanceof CapstanError && !error.retryable) {
          this.#failures.set(key, this.#now() + this.#failureTtlMs);
          this.#sizes.set(key, 0);
        } else this.#entries.delete(key);
      },
    );
    this.#trim();
    return { result: await pending, cached: false, key };
  }

  /** Renders kept, and their objects. */
  get size(): { entries: number; objects: number } {
    return { entries: this.#entries.size, objects: this.#objects };
  }

  /** Forgets a kept failure whose time is up. */
  #expireFailure(key: string): void {
    const until = this.#failures.get(key);
    if (until === undefined || this.#now() < until) return;
    this.#failures.delete(key);
    this.#entries.delete(key);
    this.#sizes.delete(key);
  }

  /** Drops the least recently used renders past either bound (never the last one left). */
  #trim(): void {
    while (this.#entries.size > this.#max || (this.#objects > this.#maxObjects && this.#entries.size > 1)) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
      this.#objects -= this.#sizes.get(oldest.value) ?? 0;
      this.#sizes.delete(oldest.value);
      this.#failures.delete(oldest.value);
    }
  }

  /**
   * The cache key of rendering `request` from a checkout of `commit`: the render options, the renderer
   * and its tools, and the content of what it reads (or the commit). Worked out once per (commit, request).
   */
  key(commit: string, request: RenderRequest, source: RenderSource = {}): Promise<string> {
    const options = this.#keyOptions(request);
    const memo = `${commit}\u0000${canonicalJson(options)}`;
    const known = this.#keys.get(memo);
    if (known) {
      this.#keys.delete(memo);
      this.#keys.set(memo, known);
      return known;
    }
    const computed = this.#computeKey(commit, request, options, source);
    const pending = computed.then(({ key }) => key);
    this.#keys.set(memo, pending);
    // A key that fell back to the commit because something failed (cancelled, git) is not remembered.
    const forget = () => {
      if (this.#keys.get(memo) === pending) this.#keys.delete(memo);
    };
    computed.then(({ remember }) => {
      if (!remember) forget();
    }, forget);
    trim(this.#keys, this.#maxKeys);
    return pending;
  }

  /**
   * The options of a request as its key holds them: without the checkout's folder and the signal; the
   * cluster's API versions (hundreds of them) by their digest; the chart credentials by an HMAC under a
   * key of this process. The credentials stay in the key, so that an Application without them (or with
   * others) is never answered with a render made with someone else's — the chart of a private
   * repository — and a failure for want of them is not kept once they change; hashed, so that no Secret
   * value is held in the cache's keys (memory, a log line, a status's renderKey); keyed with a random
   * secret, so that a password of few letters cannot be guessed back from its hash.
   */
  #keyOptions(request: RenderRequest): Record<string, unknown> {
    const { root: _root, signal: _signal, chartCredentials, helm, ...options } = request;
    const apiVersions = helm?.apiVersions;
    return {
      ...options,
      ...(helm === undefined
        ? {}
        : {
            helm: {
              ...helm,
              ...(apiVersions === undefined
                ? {}
                : { apiVersions: createHash('sha256').update(apiVersions.join('\n')).digest('hex') }),
            },
          }),
      ...(chartCredentials === undefined || chartCredentials.length === 0
        ? {}
        : {
            chartCredentials: createHmac('sha256', this.#credentialsKey)
              .update(canonicalJson(chartCredentials))
              .digest('hex'),
          }),
    };
  }

  async #computeKey(
    commit: string,
    request: RenderRequest,
    options: Record<string, unknown>,
    source: RenderSource,
  ): Promise<{ key: string; remember: boolean }> {
    let remember = true;
    const failed = () => {
      remember = false;
      return undefined;
    };
    // 1. What the render reads and which tools render it, as the renderer tells (when it can).
    const inputs = this.#renderer.inputs ? await this.#renderer.inputs(request).catch(failed) : undefined;
    // 2. Those paths by content; the commit where any of them has no content id.
    const paths = inputs?.paths;
    const ids = paths && source.contentIds ? await source.contentIds(paths).catch(failed) : undefined;
    const content = paths && ids ? contentOf(paths, ids) : undefined;
    const key = canonicalJson({
      options,
      type: inputs?.type ?? null,
      tools: inputs?.tools ?? [],
      ...(content ? { content } : { commit }),
    });
    return { key, remember };
  }
}

/** Path → content id, or undefined when any path has none. */
function contentOf(
  paths: readonly string[],
  ids: ReadonlyMap<string, string | undefined>,
): Record<string, string> | undefined {
  const content: Record<string, string> = {};
  for (const path of paths) {
    const id = ids.get(path);
    if (id === undefined) return undefined;
    content[path] = id;
  }
  return content;
}

/** Drops the least recently used entries (first in insertion order) past `max`. */
function trim(map: Map<string, unknown>, max: number): void {
  while (map.size > max) {
    const oldest = map.keys().next();
    if (oldest.done === true) break;
    map.delete(oldest.value);
  }
}
