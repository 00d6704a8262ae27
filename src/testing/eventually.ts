export interface EventuallyOptions {
  /** Give up after this long. Default 30 s. */
  readonly timeoutMs?: number;
  /** Pause between tries. Default 100 ms. */
  readonly intervalMs?: number;
  /** What was awaited, for the failure message. */
  readonly what?: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Calls `probe` until it returns without throwing (and not `false`), and returns its value. After the
 * time limit it throws the last failure, saying what was awaited and for how long.
 */
export async function eventually<T>(
  probe: () => T | Promise<T>,
  options: EventuallyOptions = {},
): Promise<Exclude<T, false>> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const started = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== false) return value as Exclude<T, false>;
      last = new Error('the condition was false');
    } catch (error) {
      last = error;
    }
    if (Date.now() - started >= timeoutMs) {
      const reason = last instanceof Error ? last.message : String(last);
      throw new Error(`${options.what ?? 'condition'} not met after ${timeoutMs} ms: ${reason}`, {
        cause: last,
      });
    }
    await sleep(options.intervalMs ?? 100);
  }
}
