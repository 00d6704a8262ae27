/**
 * Exponential backoff: base × factor^failures, at most the cap. Used by the agent's work queue
 * (src/controller/work-queue.ts) and by the pipeline controller's status writes.
 */
export interface BackoffOptions {
  /** First delay. */
  readonly baseDelayMs?: number;
  /** Growth per consecutive failure. */
  readonly factor?: number;
  /** Largest delay. */
  readonly maxDelayMs?: number;
}

/** The delay after `failures` consecutive failures (0: the first retry waits `baseDelayMs`). */
export function backoffDelay(failures: number, options: Required<BackoffOptions>): number {
  return Math.min(options.maxDelayMs, options.baseDelayMs * options.factor ** failures);
}
