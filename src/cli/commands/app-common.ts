/**
 * What `capstan app` shares between its two paths, through the cluster (app.ts) and through a capstan
 * server (app-remote.ts): the NAME argument, the request words, where lines and documents go, and the
 * answers to a request that is not waited for.
 */
import { REQUEST_ANNOTATIONS, type Application, type RequestKind } from '../../contracts/application.ts';
import { forOutput, objectRef } from '../app-printer.ts';
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

/** release-hold of an Application that holds no rollback: nothing to ask, the Application as it is. */
export function printNothingToRelease(format: OutputFormat | 'wide', current: Application): void {
  output(
    format,
    forOutput(current),
    () => `Application '${current.metadata.name}' holds no rollback: nothing to release.\n`,
  );
}

/** A request made and not waited for: which annotation holds it, with what value. */
export function printRequested(
  format: OutputFormat | 'wide',
  request: { name: string; namespace: string; kind: RequestKind; value: string },
): void {
  const { name, namespace, kind, value } = request;
  const word = REQUEST_WORDS[kind];
  const annotation = REQUEST_ANNOTATIONS[kind];
  output(
    format,
    { name, namespace, request: word, annotation, value },
    () => `${objectRef(name)} ${word} requested (${annotation}=${value})\n`,
  );
}
