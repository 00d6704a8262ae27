/**
 * Structured logs, as a port: one line per call, a level and a short message (`msg`) with fields. The
 * agent writes each as a JSON line on stdout; tests collect them. Secrets and credentials never go in
 * (DESIGN.md, "Safety rules").
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogLine {
  readonly level: LogLevel;
  /** What happened, in a few words that stay the same between lines (`reconciled`, `stalled`). */
  readonly msg: string;
  readonly [field: string]: unknown;
}

export type Logger = (line: LogLine) => void;
