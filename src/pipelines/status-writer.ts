/**
 * Status writes that survive a transient failure (the API server restarting, a conflict, a timeout):
 * a write that fails is retried with backoff (core/backoff.ts; 1 s doubling, 5 retries by default),
 * each retry only while `current()` says the status is still the one to write (an older run's retry
 * never overwrites a newer status). Per object, writes go one at a time, and a newer write cancels
 * the retry that waits: the newest status wins. `stop()` cancels every retry that waits; the waits
 * never keep the process alive. Each failure is logged with when it is retried, and the last one with
 * a line saying it is given up.
 */
import { backoffDelay, type BackoffOptions } from '../core/backoff.ts';
import { messageOf } from '../core/errors.ts';
import type { Logger } from '../ports/logger.ts';

export interface StatusRetryOptions extends BackoffOptions {
  /** Retries after the first failure. Default 5. */
  readonly retries?: number;
}

export const STATUS_RETRY = { baseDelayMs: 1_000, factor: 2, maxDelayMs: 30_000, retries: 5 } as const;

export interface StatusWriterOptions<S> {
  /** The kind written, in logs (`Pipeline`). */
  readonly kind: string;
  readonly write: (namespace: string, name: string, status: S) => Promise<void>;
  readonly retry?: StatusRetryOptions;
  /** Waits `ms` or until `signal` aborts. Default a timer that does not keep the process alive. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly log?: Logger;
}

/** A wait that ends early when `signal` aborts, on a timer that does not hold the process open. */
export function unrefSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
  });
}

export class StatusWriter<S> {
  readonly #options: StatusWriterOptions<S>;
  readonly #retry: Required<StatusRetryOptions>;
  /** The retry that waits, per object (`namespace/name`). */
  readonly #retries = new Map<string, AbortController>();
  /** The write going, per object: the next one waits for it. */
  readonly #writes = new Map<string, Promise<unknown>>();
  /** Retry loops running (stop() waits for them). */
  readonly #loops = new Set<Promise<void>>();
  #stopped = false;

  constructor(options: StatusWriterOptions<S>) {
    this.#options = options;
    this.#retry = { ...STATUS_RETRY, ...options.retry };
  }

  /**
   * Writes the status of namespace/name, after the writes before it, if `current()` still holds when
   * its turn comes (two writes that raced to get here are written in the order they came, so the later
   * one asks again: a status overtaken meanwhile is not written); a retry of an older status that
   * waits is cancelled. Resolves after the first attempt (true: written); a failure is retried in the
   * background while `current()` holds.
   */
  async write(namespace: string, name: string, status: S, current: () => Promise<boolean>): Promise<boolean> {
    const key = `${namespace}/${name}`;
    this.#retries.get(key)?.abort();
    this.#retries.delete(key);
    try {
      return await this.#serial(key, async () => {
        if (!(await current())) return false;
        await this.#options.write(namespace, name, status);
        return true;
      });
    } catch (error) {
      if (this.#stopped) {
        this.#log('warn', `${this.#options.kind} status not written; not retried: stopping`, key, error);
        return false;
      }
      const cancel = new AbortController();
      this.#retries.set(key, cancel);
      const loop = this.#retryLoop(key, () => this.#options.write(namespace, name, status), current, {
        error,
        signal: cancel.signal,
      }).finally(() => {
        if (this.#retries.get(key) === cancel) this.#retries.delete(key);
        this.#loops.delete(loop);
      });
      this.#loops.add(loop);
      return false;
    }
  }

  /** Retries that wait or write now. */
  get pending(): number {
    return this.#loops.size;
  }

  /** Cancels every retry that waits, and returns when none runs. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const cancel of this.#retries.values()) cancel.abort();
    this.#retries.clear();
    await Promise.allSettled([...this.#loops]);
  }

  async #retryLoop(
    key: string,
    write: () => Promise<void>,
    current: () => Promise<boolean>,
    first: { error: unknown; signal: AbortSignal },
  ): Promise<void> {
    const { kind } = this.#options;
    const { signal } = first;
    let error = first.error;
    for (let failures = 0; failures < this.#retry.retries; failures++) {
      const retryInMs = backoffDelay(failures, this.#retry);
      this.#log('warn', `${kind} status not written`, key, error, { retry: failures + 1, retryInMs });
      await (this.#options.sleep ?? unrefSleep)(retryInMs, signal);
      if (signal.aborted) return;
      try {
        const written = await this.#serial(key, async () => {
          // A newer write came meanwhile (it waited for this one), or the status is not the latest now.
          if (signal.aborted || !(await current())) return false;
          await write();
          return true;
        });
        this.#options.log?.({
          level: 'info',
          msg: written ? `${kind} status written` : `${kind} status not retried: a newer one replaced it`,
          [kind.toLowerCase()]: key,
        });
        return;
      } catch (failure) {
        error = failure;
      }
    }
    this.#log('error', `${kind} status not written; given up`, key, error, { retries: this.#retry.retries });
  }

  /** Runs `work` after the object's write before it. */
  #serial<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#writes.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    this.#writes.set(key, settled);
    void settled.then(() => {
      if (this.#writes.get(key) === settled) this.#writes.delete(key);
    });
    return next;
  }

  #log(
    level: 'warn' | 'error',
    msg: string,
    key: string,
    error: unknown,
    fields: Record<string, unknown> = {},
  ): void {
    this.#options.log?.({
      level,
      msg,
      [this.#options.kind.toLowerCase()]: key,
      error: messageOf(error),
      ...fields,
    });
  }
}
