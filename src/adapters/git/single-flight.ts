/**
 * De-duplicated work by key: concurrent callers for the same key share one run, and a success is
 * remembered (the most recent `maxRemembered` keys) so that later callers get it at once. A failure is
 * not remembered. Each caller may cancel with its own signal; the shared run is aborted only when
 * every caller waiting for it has cancelled.
 */
export interface SingleFlightOptions {
  /** How many successful results to remember. */
  readonly maxRemembered: number;
  /** The error a cancelled caller gets. */
  readonly cancelled: () => Error;
}

interface Flight<T> {
  readonly promise: Promise<T>;
  readonly controller: AbortController;
  waiters: number;
}

export class SingleFlight<T> {
  readonly #options: SingleFlightOptions;
  readonly #flights = new Map<string, Flight<T>>();
  /** Insertion order is recency order: the oldest entry is forgotten first. */
  readonly #remembered = new Map<string, T>();

  constructor(options: SingleFlightOptions) {
    this.#options = options;
  }

  /** The remembered result of a key, if any (and marks it recently used). */
  remembered(key: string): T | undefined {
    const value = this.#remembered.get(key);
    if (value !== undefined) {
      this.#remembered.delete(key);
      this.#remembered.set(key, value);
    }
    return value;
  }

  forget(key: string): void {
    this.#remembered.delete(key);
  }

  /** The result for the key: remembered, shared with a run in flight, or from a new run of work. */
  run(key: string, work: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const known = this.remembered(key);
    if (known !== undefined) return Promise.resolve(known);
    if (signal?.aborted === true) return Promise.reject(this.#options.cancelled());
    const flight = this.#flights.get(key) ?? this.#start(key, work);
    flight.waiters++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        flight.waiters--;
        if (flight.waiters === 0) {
          // Nobody waits any more: stop the run, and let a later caller start afresh.
          if (this.#flights.get(key) === flight) this.#flights.delete(key);
          flight.controller.abort();
        }
        reject(this.#options.cancelled());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (value) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  #start(key: string, work: (signal: AbortSignal) => Promise<T>): Flight<T> {
    const controller = new AbortController();
    // Runs after `flight` below exists: promise handlers never run synchronously.
    const settle = () => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    };
    const promise = work(controller.signal).then(
      (value) => {
        settle();
        if (!controller.signal.aborted) this.#remember(key, value);
        return value;
      },
      (error: unknown) => {
        settle();
        throw error;
      },
    );
    // Callers attach their own handlers; this keeps a run whose callers all cancelled from going unhandled.
    promise.catch(() => undefined);
    const flight: Flight<T> = { promise, controller, waiters: 0 };
    this.#flights.set(key, flight);
    return flight;
  }

  #remember(key: string, value: T): void {
    this.#remembered.set(key, value);
    while (this.#remembered.size > this.#options.maxRemembered) {
      const oldest = this.#remembered.keys().next();
      if (oldest.done === true) break;
      this.#remembered.delete(oldest.value);
    }
  }
}
