import { backoffDelay, type BackoffOptions } from '../core/backoff.ts';
import { DueHeap } from '../core/due-heap.ts';
import type { Clock } from '../ports/clock.ts';

/** Per-key exponential backoff of `addRateLimited` (core/backoff.ts); defaults DEFAULT_BACKOFF. */
export type { BackoffOptions };

export interface WorkQueueOptions extends BackoffOptions {
  readonly clock: Clock;
}

export interface RunOptions {
  /** Keys processed at the same time (never the same key twice at once). Default 1. */
  readonly concurrency?: number;
  /**
   * Called when a handler throws; the key has then been re-queued with `addRateLimited`. Default:
   * nothing more (handlers are expected to report their own errors).
   */
  readonly onError?: (key: string, error: unknown) => void;
}

export interface ShutDownOptions {
  /**
   * True (default): handlers that are running finish their work. False: their signal is aborted at
   * once, so that they abandon their work safely. Either way `shutDown` returns when they have returned.
   */
  readonly drain?: boolean;
  /** With `drain`, abort the handlers' signal if they are still running after this long. Default: no limit. */
  readonly timeoutMs?: number;
}

/** Processes one key; `signal` is aborted when the queue shuts down without draining (or the drain timed out). */
export type KeyHandler = (key: string, signal: AbortSignal) => Promise<void>;

/** 5 s, doubling, at most 5 min. */
export const DEFAULT_BACKOFF = { baseDelayMs: 5_000, factor: 2, maxDelayMs: 5 * 60_000 } as const;

/**
 * A keyed work queue like client-go's rate-limited workqueue.
 *
 * - A key is queued at most once however often it is added (`add` de-duplicates).
 * - A key is never processed twice at once: added again while it is being processed, it is queued again
 *   when its handler returns.
 * - `addAfter` adds a key later (the earliest of several pending delays wins); `addRateLimited` adds it
 *   after a per-key exponential backoff that `forget` resets (call it when the key was handled well).
 * - `run` processes keys with bounded concurrency until `shutDown`, which stops taking keys, lets the
 *   running handlers finish (or aborts their signal) and returns when they have. Keys still queued or
 *   waiting are dropped: the next start lists everything again.
 */
export class WorkQueue {
  readonly #clock: Clock;
  readonly #baseDelayMs: number;
  readonly #factor: number;
  readonly #maxDelayMs: number;

  /** Keys ready to be processed, in order. */
  readonly #queue: string[] = [];
  /** Keys that need processing (queued, or to be queued again when their processing ends). */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  /** Keys delayed (`addAfter`), by the time they are due; one timer waits for the earliest. */
  readonly #waiting = new DueHeap();
  #timer: { readonly at: number; readonly cancel: AbortController } | undefined;
  readonly #failures = new Map<string, number>();
  /** Workers waiting for a key. */
  readonly #idle: (() => void)[] = [];
  readonly #abort = new AbortController();
  #shuttingDown = false;
  #running: Promise<void> | undefined;

  constructor(options: WorkQueueOptions) {
    this.#clock = options.clock;
    this.#baseDelayMs = options.baseDelayMs ?? DEFAULT_BACKOFF.baseDelayMs;
    this.#factor = options.factor ?? DEFAULT_BACKOFF.factor;
    this.#maxDelayMs = options.maxDelayMs ?? DEFAULT_BACKOFF.maxDelayMs;
    if (!(this.#baseDelayMs > 0) || !(this.#factor >= 1) || !(this.#maxDelayMs >= this.#baseDelayMs)) {
      throw new RangeError(
        'work queue backoff: need baseDelayMs > 0, factor >= 1 and maxDelayMs >= baseDelayMs',
      );
    }
  }

  /** Keys ready and waiting for a worker (not those being processed or delayed): the queue depth metric. */
  len(): number {
    return this.#queue.length;
  }

  get depth(): number {
    return this.#queue.length;
  }

  /** Keys being processed now. */
  get processing(): number {
    return this.#processing.size;
  }

  /** Keys waiting for a delay (`addAfter`, `addRateLimited`). */
  get delayed(): number {
    return this.#waiting.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Queues a key for processing, unless it is already queued. Ignored after `shutDown`. */
  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return; // queued again when its handler returns
    this.#queue.push(key);
    this.#idle.shift()?.();
  }

  /** Queues a key after `delayMs`; if it is already waiting for an earlier time, that one stays. */
  addAfter(key: string, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    if (this.#waiting.set(key, this.#clock.now().getTime() + delayMs)) this.#arm();
  }

  /** Queues a key after its backoff (base × factor^failures, capped), and counts one more failure. Returns the delay. */
  addRateLimited(key: string): number {
    const delayMs = this.backoffDelay(key);
    this.#failures.set(key, this.retries(key) + 1);
    this.addAfter(key, delayMs);
    return delayMs;
  }

  /** The delay the next `addRateLimited(key)` would use. */
  backoffDelay(key: string): number {
    return backoffDelay(this.retries(key), {
      baseDelayMs: this.#baseDelayMs,
      factor: this.#factor,
      maxDelayMs: this.#maxDelayMs,
    });
  }

  /** Consecutive `addRateLimited` calls since the last `forget`. */
  retries(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Resets the key's backoff (it was processed successfully). Does not cancel a pending delayed add. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /**
   * Processes keys with `handler`, at most `concurrency` at once, until `shutDown`; resolves when the
   * last handler has returned. A handler that throws gets its key re-queued with `addRateLimited`.
   */
  run(handler: KeyHandler, options: RunOptions = {}): Promise<void> {
    if (this.#running) throw new Error('work queue: run() was already called');
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`work queue: concurrency must be a positive integer, got ${concurrency}`);
    }
    const workers = Array.from({ length: concurrency }, () => this.#worker(handler, options));
    this.#running = Promise.all(workers).then(() => undefined);
    return this.#running;
  }

  /**
   * Stops the queue: no key is taken or accepted any more, delayed adds are cancelled, and the running
   * handlers finish (`drain`, the default) or have their signal aborted. Resolves when they have returned.
   */
  async shutDown(options: ShutDownOptions = {}): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      this.#timer?.cancel.abort();
      this.#timer = undefined;
      this.#waiting.clear();
      this.#queue.length = 0;
      for (const wake of this.#idle.splice(0)) wake();
    }
    const drain = options.drain ?? true;
    if (!drain) this.#abort.abort(new Error('the work queue is shutting down'));
    if (!this.#running) return;
    if (drain && options.timeoutMs !== undefined) {
      const stopTimer = new AbortController();
      void this.#clock.sleep(options.timeoutMs, stopTimer.signal).then(() => {
        if (!stopTimer.signal.aborted) this.#abort.abort(new Error('the work queue drain timed out'));
      });
      try {
        await this.#running;
      } finally {
        stopTimer.abort();
      }
      return;
    }
    await this.#running;
  }

  async #worker(handler: KeyHandler, options: RunOptions): Promise<void> {
    for (;;) {
      const key = await this.#next();
      if (key === undefined) return;
      try {
        await handler(key, this.#abort.signal);
      } catch (error) {
        this.#done(key);
        this.addRateLimited(key);
        options.onError?.(key, error);
        continue;
      }
      this.#done(key);
    }
  }

  /** The next key to process, marked as processing; undefined once shutting down. */
  async #next(): Promise<string | undefined> {
    for (;;) {
      if (this.#shuttingDown) return undefined;
      const key = this.#queue.shift();
      if (key !== undefined) {
        this.#dirty.delete(key);
        this.#processing.add(key);
        return key;
      }
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
  }

  /** Has the one timer wait for the earliest delayed key (if it waits for a later time, it is moved). */
  #arm(): void {
    const at = this.#waiting.earliest();
    if (at === undefined || this.#shuttingDown) return;
    if (this.#timer !== undefined && this.#timer.at <= at) return;
    this.#timer?.cancel.abort();
    const timer = { at, cancel: new AbortController() };
    this.#timer = timer;
    void this.#clock.sleep(Math.max(0, at - this.#clock.now().getTime()), timer.cancel.signal).then(() => {
      if (this.#timer !== timer) return; // moved to an earlier time, or shut down
      this.#timer = undefined;
      for (const key of this.#waiting.takeDue(this.#clock.now().getTime())) this.add(key);
      this.#arm();
    });
  }

  #done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key) && !this.#shuttingDown) {
      this.#queue.push(key);
      this.#idle.shift()?.();
    }
  }
}
