/**
 * Login attempts, limited: at most `attempts` failures per key (a user name, a client address) within
 * a sliding `windowMs`; then refused until the oldest failure leaves the window. A success clears the
 * key. Memory is bounded: keys whose failures all left the window are dropped as they are met, and at
 * most `maxKeys` keys are kept (the oldest go first).
 */
export interface RateLimitOptions {
  readonly attempts: number;
  readonly windowMs: number;
  readonly now: () => number;
  readonly maxKeys?: number;
}

export class FailureLimiter {
  readonly #options: RateLimitOptions;
  readonly #failures = new Map<string, number[]>();

  constructor(options: RateLimitOptions) {
    this.#options = options;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfterMs(key: string): number {
    const recent = this.#recent(key);
    if (recent.length < this.#options.attempts) return 0;
    const oldest = recent[recent.length - this.#options.attempts] ?? 0;
    return Math.max(1, oldest + this.#options.windowMs - this.#options.now());
  }

  fail(key: string): void {
    const recent = this.#recent(key);
    recent.push(this.#options.now());
    this.#failures.delete(key);
    this.#failures.set(key, recent.slice(-this.#options.attempts));
    const max = this.#options.maxKeys ?? 100_000;
    while (this.#failures.size > max) {
      const first = this.#failures.keys().next();
      if (first.done === true) break;
      this.#failures.delete(first.value);
    }
  }

  succeed(key: string): void {
    this.#failures.delete(key);
  }

  #recent(key: string): number[] {
    const since = this.#options.now() - this.#options.windowMs;
    const recent = (this.#failures.get(key) ?? []).filter((t) => t > since);
    if (recent.length === 0) this.#failures.delete(key);
    return recent;
  }
}
