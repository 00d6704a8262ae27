/**
 * A Clock that moves only when the test says so (`advance`), for pure unit tests of what waits: the
 * work queue's backoff, retries. It passes the Clock contract (clock-contract.ts), as the real clock
 * (src/adapters/clock.ts) does.
 */
import type { Clock } from '../ports/clock.ts';

/** Lets every pending promise continuation run. */
export const settle = (): Promise<void> =>
  new Promise<void>((resolve) => {
    setImmediate(resolve);
  });

export class FakeClock implements Clock {
  #now: number;
  #timers: { at: number; resolve: () => void }[] = [];

  /** Starts at `start` (default the epoch). */
  constructor(start: Date = new Date(0)) {
    this.#now = start.getTime();
  }

  now(): Date {
    return new Date(this.#now);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) {
        resolve();
        return;
      }
      const timer = { at: this.#now + ms, resolve };
      this.#timers.push(timer);
      signal?.addEventListener('abort', () => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        resolve();
      });
    });
  }

  /** Moves time forward, firing due timers in order, and lets their continuations run. */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = due.at;
      due.resolve();
      await settle();
    }
    this.#now = until;
    await settle();
  }

  /** The sleeps not yet ended. */
  get pending(): number {
    return this.#timers.length;
  }
}
