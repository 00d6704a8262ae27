/**
 * The delivery ids seen in the last few minutes, so that a replayed (or redelivered) webhook is
 * ignored instead of refreshing twice. Bounded both ways: entries expire after `windowMs`, and past
 * `capacity` the least recently seen is forgotten first (a Map keeps insertion order).
 */

export interface DeliveryCacheOptions {
  /** How long a delivery id is remembered, in ms. Default 10 minutes. */
  readonly windowMs?: number;
  /** How many delivery ids are remembered at most. Default 10 000. */
  readonly capacity?: number;
}

export const DEFAULT_REPLAY_WINDOW_MS = 10 * 60 * 1000;
export const DEFAULT_DELIVERY_CAPACITY = 10_000;

export class DeliveryCache {
  readonly #windowMs: number;
  readonly #capacity: number;
  /** key → when it was last seen (ms), oldest first. */
  readonly #seen = new Map<string, number>();

  constructor(options: DeliveryCacheOptions = {}) {
    this.#windowMs = options.windowMs ?? DEFAULT_REPLAY_WINDOW_MS;
    this.#capacity = Math.max(1, options.capacity ?? DEFAULT_DELIVERY_CAPACITY);
  }

  /**
   * Records `key` as seen at `now`. Returns false when it was already seen within the window (a
   * replay); true when it is new, in which case it is now remembered.
   */
  claim(key: string, now: number): boolean {
    this.#expire(now);
    const last = this.#seen.get(key);
    if (last !== undefined && now - last < this.#windowMs) return false;
    this.#seen.delete(key);
    this.#seen.set(key, now);
    while (this.#seen.size > this.#capacity) {
      const oldest = this.#seen.keys().next();
      if (oldest.done === true) break;
      this.#seen.delete(oldest.value);
    }
    return true;
  }

  /** Forgets `key`, so that a retry of a delivery that failed is processed again. */
  release(key: string): void {
    this.#seen.delete(key);
  }

  get size(): number {
    return this.#seen.size;
  }

  /** Drops the expired entries at the head (entries are kept in the order they were claimed). */
  #expire(now: number): void {
    for (const [key, at] of this.#seen) {
      if (now - at < this.#windowMs) break;
      this.#seen.delete(key);
    }
  }
}
