import type { GitCredentials } from '../ports/source.ts';

/** Read credentials are kept this long: a Secret changed by hand is used within a minute. */
export const CREDENTIALS_TTL_MS = 60_000;

/**
 * Git credentials read from Secrets, kept a short while and shared by every Application that names
 * the same Secret: a thousand Applications of one team's repository read their Secret once a minute,
 * not once per reconcile each. A read that fails is not kept (a Secret created after is used at once),
 * and credentials a git server refused are forgotten, so that the next try reads the Secret again.
 */
export class CredentialsCache {
  readonly #read: (namespace: string, name: string) => Promise<GitCredentials>;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #entries = new Map<string, { readonly at: number; readonly value: Promise<GitCredentials> }>();

  constructor(
    read: (namespace: string, name: string) => Promise<GitCredentials>,
    options: { now?: () => number; ttlMs?: number } = {},
  ) {
    this.#read = read;
    this.#now = options.now ?? Date.now;
    this.#ttlMs = options.ttlMs ?? CREDENTIALS_TTL_MS;
  }

  get(namespace: string, name: string): Promise<GitCredentials> {
    const key = `${namespace}/${name}`;
    const now = this.#now();
    const kept = this.#entries.get(key);
    if (kept && now - kept.at < this.#ttlMs) return kept.value;
    const value = this.#read(namespace, name);
    const entry = { at: now, value };
    this.#entries.set(key, entry);
    value.catch(() => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    });
    // Expired entries of Secrets no longer named go at the next read of any other.
    for (const [k, e] of this.#entries) if (now - e.at >= this.#ttlMs) this.#entries.delete(k);
    return value;
  }

  forget(namespace: string, name: string): void {
    this.#entries.delete(`${namespace}/${name}`);
  }
}
