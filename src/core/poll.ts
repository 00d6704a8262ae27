/**
 * Polling until a condition is met: the one loop behind the tests' `eventually`, the demo's waits and
 * the dev cluster's start-up. Time comes in as a parameter (core has no clock).
 */

/** What polling needs of time: the shape of the Clock port. */
export interface PollTime {
  now(): Date;
  sleep(ms: number): Promise<void>;
}

export interface PollOptions {
  /** Give up after this moment (milliseconds since the epoch, as `time.now()` counts). */
  readonly deadline: number;
  /** Pause between tries. */
  readonly intervalMs: number;
  readonly time: PollTime;
  /** Errors that end the polling at once (thrown again), such as the awaited process having died. */
  readonly stopOn?: (error: unknown) => boolean;
}

export type Polled<T> =
  | { readonly met: true; readonly value: T }
  /** The deadline passed: `last` is the probe's last error, or undefined when it returned false. */
  | { readonly met: false; readonly last: unknown };

/**
 * Tries `probe` until it is met — it returns without throwing, and not `false` — or the deadline
 * passes after a try. A probe that throws is not met yet (unless `stopOn` says otherwise).
 */
export async function pollUntil<T>(
  probe: () => T | Promise<T>,
  options: PollOptions,
): Promise<Polled<Exclude<T, false>>> {
  for (;;) {
    let last: unknown;
    try {
      const value = await probe();
      if (value !== false) return { met: true, value: value as Exclude<T, false> };
    } catch (error) {
      if (options.stopOn?.(error) === true) throw error;
      last = error;
    }
    if (options.time.now().getTime() >= options.deadline) return { met: false, last };
    await options.time.sleep(options.intervalMs);
  }
}
