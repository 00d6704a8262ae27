/**
 * A bound on concurrent work (network operations against git servers): at most `max` at once, the
 * others wait in order. A waiter whose signal aborts leaves the queue at once.
 */
export class Limiter {
  readonly max: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`the bound must be a positive integer, not ${max}`);
    this.max = max;
  }

  /** Runs work when a slot is free; rejects with `cancelled()` when the signal aborts while waiting. */
  async run<T>(work: () => Promise<T>, signal: AbortSignal | undefined, cancelled: () => Error): Promise<T> {
    await this.#acquire(signal, cancelled);
    try {
      return await work();
    } finally {
      this.#release();
    }
  }

  #acquire(signal: AbortSignal | undefined, cancelled: () => Error): Promise<void> {
    if (signal?.aborted === true) return Promise.reject(cancelled());
    if (this.#active < this.max) {
      this.#active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.#active++;
        resolve();
      };
      const onAbort = () => {
        const index = this.#waiting.indexOf(grant);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(cancelled());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(grant);
    });
  }

  #release(): void {
    this.#active--;
    this.#waiting.shift()?.();
  }
}
