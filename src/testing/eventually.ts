import { pollUntil } from '../core/poll.ts';

export interface EventuallyOptions {
  /** Give up after this long. Default 30 s. */
  readonly timeoutMs?: number;
  /** Pause between tries. Default 100 ms. */
  readonly intervalMs?: number;
  /** What was awaited, for the failure message. */
  readonly what?: string;
}

const time = {
  now: () => new Date(),
  sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
};

/**
 * Calls `probe` until it returns without throwing (and not `false`), and returns its value. After the
 * time limit it throws the last failure, saying what was awaited and for how long.
 */
export async function eventually<T>(
  probe: () => T | Promise<T>,
  options: EventuallyOptions = {},
): Promise<Exclude<T, false>> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const polled = await pollUntil(probe, {
    deadline: Date.now() + timeoutMs,
    intervalMs: options.intervalMs ?? 100,
    time,
  });
  if (polled.met) return polled.value;
  const last: unknown = polled.last ?? new Error('the condition was false');
  const reason = last instanceof Error ? last.message : String(last);
  throw new Error(`${options.what ?? 'condition'} not met after ${timeoutMs} ms: ${reason}`, { cause: last });
}
