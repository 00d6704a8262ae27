/**
 * What `capstan app` shares between its two paths, through the cluster (app.ts) and through a capstan
 * server (app-remote.ts): the NAME argument, the request words, and where lines and documents go.
 */
import type { RequestKind } from '../../contracts/application.ts';
import { print, UsageError, type OutputFormat } from '../output.ts';

/** A progress or note line, on stderr (stdout holds the result). */
export const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Prints `data` as json or yaml, or the table text (`wide` is a table with more columns). */
export function output(format: OutputFormat | 'wide', data: unknown, text: () => string): void {
  print(format === 'wide' ? 'table' : format, data, text);
}

/** The NAME argument of `capstan app <command>` (and at most `extra` more, as rollback's target). */
export function nameOf(
  positionals: readonly string[],
  command: string,
  options: { extra?: number } = {},
): string {
  const extra = options.extra ?? 0;
  const [name] = positionals;
  if (name === undefined) throw new UsageError(`capstan app ${command} needs the application's NAME`);
  if (positionals.length > 1 + extra)
    throw new UsageError(
      `too many arguments for capstan app ${command}: ${positionals.slice(1 + extra).join(' ')}`,
    );
  return name;
}

/** The command that makes each request, as users type it. */
export const REQUEST_WORDS: Record<RequestKind, 'sync' | 'refresh' | 'rollback' | 'release-hold'> = {
  sync: 'sync',
  refresh: 'refresh',
  rollback: 'rollback',
  releaseHold: 'release-hold',
};
