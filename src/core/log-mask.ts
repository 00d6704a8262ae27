/**
 * Masking secret values in log lines: every line Capstan shows of a run (CLI, API, UI, the Store) goes
 * through `maskSecrets` with the values of the Secrets the run's steps name. Pure.
 */

export const MASK = '***';

/** Values shorter than this are not masked: masking `1` or `a` would hide every digit of a log. */
export const MIN_MASKED_LENGTH = 4;

/**
 * The values to mask for `secrets`: each value, each of its lines (a multi-line value is printed a line
 * at a time), longest first so that a value containing another is masked whole.
 */
export function maskableValues(secrets: readonly string[]): string[] {
  const values = new Set<string>();
  for (const secret of secrets) {
    for (const part of [secret, ...secret.split(/\r?\n/)]) {
      const trimmed = part.trim();
      if (trimmed.length >= MIN_MASKED_LENGTH) values.add(trimmed);
    }
  }
  return [...values].sort((a, b) => b.length - a.length);
}

/** `line` with every occurrence of every value replaced by `***`. */
export function maskSecrets(line: string, values: readonly string[]): string {
  let masked = line;
  for (const value of values) if (masked.includes(value)) masked = masked.replaceAll(value, MASK);
  return masked;
}
