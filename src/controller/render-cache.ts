import { canonicalJson } from '../core/digest.ts';
import type { RenderRequest, RenderResult, Renderer } from '../ports/renderer.ts';

/**
 * Renders cached by their inputs: commit, path and render options. Every application of a monorepo whose
 * folder did not change re-uses its render (a commit changes the key only of what it touched when the
 * tree hash is part of the key; here the commit is, which is exact and simple). Bounded, least recently
 * used first out; concurrent requests for one key share one render.
 */
export class RenderCache {
  readonly #renderer: Renderer;
  readonly #max: number;
  readonly #entries = new Map<string, Promise<RenderResult>>();
  hits = 0;
  misses = 0;

  constructor(renderer: Renderer, options: { maxEntries?: number } = {}) {
    this.#renderer = renderer;
    this.#max = options.maxEntries ?? 512;
  }

  async render(commit: string, request: RenderRequest): Promise<{ result: RenderResult; cached: boolean }> {
    const { root: _root, signal: _signal, ...inputs } = request;
    const key = `${commit}\u0000${canonicalJson(inputs)}`;
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
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
    return { result: await pending, cached: false };
  }
}
