import { canonicalJson } from '../core/digest.ts';
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
  /** Renders kept. Default 512. */
  readonly maxEntries?: number;
  /** Keys of (commit, request) remembered, so that each is worked out once. Default 4096. */
  readonly maxKeys?: number;
}

/**
 * Renders cached by their inputs: what the render reads, by content (the folder, and the Kustomize
 * bases and files or Helm values files it names elsewhere in the repository, by their git hashes), its
 * options, and the versions of the tools that render it. A commit re-renders only the applications whose
 * inputs it changed: in a monorepo, those whose folders (or shared bases) it touched. Where what a render
 * reads is not known for sure (a remote base, a kustomization that cannot be parsed, a symlink, a path
 * git does not list), the commit stands in for the content: exact, never stale. The key of each (commit,
 * request) is worked out once and remembered. Bounded, least recently used first out; concurrent
 * requests for one key share one render.
 */
export class RenderCache {
  readonly #renderer: Renderer;
  readonly #max: number;
  readonly #maxKeys: number;
  readonly #entries = new Map<string, Promise<RenderResult>>();
  /** `<commit> NUL <options>` → the key of that render. */
  readonly #keys = new Map<string, Promise<string>>();
  hits = 0;
  misses = 0;

  constructor(renderer: Renderer, options: RenderCacheOptions = {}) {
    this.#renderer = renderer;
    this.#max = options.maxEntries ?? 512;
    this.#maxKeys = options.maxKeys ?? 4096;
  }

  async render(
    commit: string,
    request: RenderRequest,
    source: RenderSource = {},
  ): Promise<{ result: RenderResult; cached: boolean }> {
    const key = await this.key(commit, request, source);
    const existing = this.#entries.get(key);
    if (existing) {
      this.hits += 1;
      this.#entries.delete(key);
      this.#entries.set(key, existing);
      return { result: await existing, cached: true };
    }
    this.misses += 1;
    const pending = this.#renderer.render(request);
    this.#entries.set(key, pending);
    pending.catch(() => {
      // A failed render is not cached: the next try renders again.
      if (this.#entries.get(key) === pending) this.#entries.delete(key);
    });
    trim(this.#entries, this.#max);
    return { result: await pending, cached: false };
  }

  /**
   * The cache key of rendering `request` from a checkout of `commit`: the render options, the renderer
   * and its tools, and the content of what it reads (or the commit). Worked out once per (commit, request).
   */
  key(commit: string, request: RenderRequest, source: RenderSource = {}): Promise<string> {
    const { root: _root, signal: _signal, ...options } = request;
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

  async #computeKey(
    commit: string,
    request: RenderRequest,
    options: Omit<RenderRequest, 'root' | 'signal'>,
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
