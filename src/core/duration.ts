/**
 * Durations as people write them in specs and flags: `90s`, `5m`, `1h30m`, `250ms`, `1.5h` (Go's
 * notation, with the units ms, s, m and h). Times are always milliseconds inside Capstan.
 */
import { CapstanError } from './errors.ts';

/**
 * The same notation as a regular expression source, for schemas (RE2- and ECMAScript-compatible, so
 * the Kubernetes API server and our validators agree). It requires a unit: a spec never relies on a
 * default unit.
 */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
type Unit = keyof typeof UNIT_MS;
const MAX_TEXT = 64;

/**
 * `3m` → 180000. A bare number is read as seconds (`90` → 90000), as command-line flags take it.
 * Throws CapstanError INVALID_DURATION, saying what a valid one looks like.
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  const invalid = () =>
    new CapstanError(
      'INVALID_DURATION',
      `'${trimmed.slice(0, MAX_TEXT)}' is not a duration: write it as 90s, 5m, 1h30m or 250ms`,
    );
  if (trimmed === '' || trimmed.length > MAX_TEXT) throw invalid();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return checked(Number(trimmed) * 1000, invalid);
  let total = 0;
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  while (part.lastIndex < trimmed.length) {
    const match = part.exec(trimmed);
    if (!match) throw invalid();
    total += Number(match[1]) * UNIT_MS[match[2] as Unit];
  }
  return checked(total, invalid);
}

/** True when `parseDuration` takes the text with a unit (the notation of `DURATION_PATTERN`). */
export function isDuration(text: string): boolean {
  return text.length <= MAX_TEXT && new RegExp(DURATION_PATTERN).test(text);
}

/** 180000 → `3m`, 5400000 → `1h30m`, 1500 → `1.5s`, 0 → `0s`: the shortest text `parseDuration` reads back. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot format a duration of ${ms} ms`);
  if (ms === 0) return '0s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const hours = Math.floor(ms / UNIT_MS.h);
  const minutes = Math.floor((ms % UNIT_MS.h) / UNIT_MS.m);
  const seconds = (ms % UNIT_MS.m) / 1000;
  const parts = [
    hours > 0 ? `${hours}h` : '',
    minutes > 0 ? `${minutes}m` : '',
    seconds > 0 ? `${Number(seconds.toFixed(3))}s` : '',
  ];
  return parts.join('');
}

function checked(ms: number, invalid: () => CapstanError): number {
  if (!Number.isSafeInteger(Math.round(ms))) throw invalid();
  return Math.round(ms);
}
