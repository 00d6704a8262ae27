/**
 * Flag checks and process plumbing that the long-running commands (capstan agent, capstan server)
 * share: one rule for a port, a namespace name and a stop on SIGTERM or SIGINT.
 */
import { UsageError } from './output.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A port number from `--<flag>`, or `fallback` when the flag is not given. */
export function portFlag(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`--${flag} must be a port number, not '${value}'`);
  return n;
}

/** Refuses a `--<flag>` value that is not a namespace name. */
export function checkNamespaceFlag(flag: string, value: string | undefined): void {
  if (value !== undefined && !DNS_LABEL.test(value))
    throw new UsageError(`--${flag} must be a namespace name (a DNS label), not '${value}'`);
}

/** A signal that is aborted on the first SIGTERM or SIGINT, so that the command shuts down in order. */
export function stopOnSignals(): AbortSignal {
  const stop = new AbortController();
  const onSignal = () => {
    stop.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  return stop.signal;
}
