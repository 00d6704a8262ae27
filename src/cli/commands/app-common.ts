/**
 * What `capstan app` shares between its two paths, through the cluster (app.ts) and through a capstan
 * server (app-remote.ts): the NAME argument, the request words, where lines and documents go, and the
 * answers to a request that is not waited for.
 */
import { REQUEST_ANNOTATIONS, type Application, type RequestKind } from '../../contracts/application.ts';
import { forOutput, objectRef } from '../app-printer.ts';
import { parseResourceArgument, type ResourceSelector } from '../../core/resource-selection.ts';
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

/**
 * The `--resource [GROUP/]KIND/[NAMESPACE/]NAME` arguments of `capstan app sync` as a selection. A
 * group left out is found among the Application's resources (status.resources: its rendered objects),
 * where that kind and name must be there under one group; a namespace left out stays '' (a
 * cluster-scoped resource, or one in the destination namespace).
 */
export function selectionOf(app: Application, args: readonly string[]): ResourceSelector[] {
  return args.map((arg) => {
    let parsed: ReturnType<typeof parseResourceArgument>;
    try {
      parsed = parseResourceArgument(arg);
    } catch (error) {
      throw new UsageError(`--resource ${(error as Error).message}`);
    }
    const { group, ...rest } = parsed;
    if (group !== undefined) return { group, ...rest };
    const known = (app.status?.resources ?? []).filter(
      (r) =>
        r.kind === rest.kind &&
        r.name === rest.name &&
        (rest.namespace === '' || (r.namespace ?? '') === rest.namespace),
    );
    const groups = [...new Set(known.map((r) => r.group))];
    if (groups.length === 1) return { group: groups[0] ?? '', ...rest };
    const name = app.metadata.name;
    throw new UsageError(
      groups.length === 0
        ? `--resource ${arg}: no ${rest.kind} named '${rest.name}' among the resources of application '${name}' ` +
            `(capstan app get ${name} lists them); give its group: GROUP/${arg} ('/${arg}' for the core group)`
        : `--resource ${arg}: ${rest.kind} '${rest.name}' is in ${groups.length} groups (${groups.map((g) => g || "''").join(', ')}); give one: GROUP/${arg}`,
    );
  });
}
