import type { Cluster } from '../ports/cluster.ts';
import type { HelmCapabilities } from '../ports/renderer.ts';

/** Capabilities read from a cluster are kept this long: an upgrade or a new CRD is seen within five minutes. */
export const CAPABILITIES_TTL_MS = 5 * 60_000;

/**
 * The Helm capabilities of each destination cluster (its version and served API versions, from
 * discovery), read once per five minutes and shared by every Application rendering for it: a thousand
 * Applications of one cluster cost one discovery every five minutes, not one per render. Each read after
 * the first re-reads discovery (`info({ refresh })`), so that an upgraded cluster or a new CRD changes
 * the capabilities, and with them the render cache key, and every chart of that cluster renders again.
 * A read that fails is not kept.
 */
export class CapabilitiesCache {
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #entries = new Map<string, { readonly at: number; readonly value: Promise<HelmCapabilities> }>();

  constructor(options: { now?: () => number; ttlMs?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#ttlMs = options.ttlMs ?? CAPABILITIES_TTL_MS;
  }

  /** The capabilities of the destination registered as `name`, read from `cluster` when not kept. */
  get(name: string, cluster: Pick<Cluster, 'info'>): Promise<HelmCapabilities> {
    const now = this.#now();
    const kept = this.#entries.get(name);
    if (kept && now - kept.at < this.#ttlMs) return kept.value;
    const value = cluster
      .info(kept === undefined ? {} : { refresh: true })
      .then((info) => ({ kubeVersion: info.gitVersion, apiVersions: info.apiVersions }));
    const entry = { at: now, value };
    this.#entries.set(name, entry);
    value.catch(() => {
      if (this.#entries.get(name) === entry) this.#entries.delete(name);
    });
    return value;
  }
}
