/**
 * What a rollback puts back: one rule for the CLI (which checks and expands the target a person gives)
 * and the agent (which reads it from the request annotation, or picks the default).
 */

/** One sync in an Application's history, as far as a rollback reads it. */
export interface HistoryRecord {
  readonly id: number;
  readonly revision: string;
  readonly result: 'Succeeded' | 'Failed';
}

export type RollbackTarget<H extends HistoryRecord> =
  | {
      readonly found: true;
      /** The commit to put back (a full SHA). */
      readonly revision: string;
      /** The history entry it came from, when it was named by id or is the default. */
      readonly entry?: H;
    }
  | {
      readonly found: false;
      /** `usage`: the target is not a history id or a commit SHA, or names several revisions. */
      readonly why: 'no-target' | 'usage';
      readonly message: string;
    };

/**
 * The target of a rollback of `application`: `wanted` is a history id, or a revision (a prefix of a
 * successful entry's revision is expanded; a full 40-hex SHA is taken as it is). Without one: the
 * latest successful entry before the current one (the last in the history) with another revision.
 * Digests are not compared: a rollback renders the target commit with today's spec, so an entry of the
 * same revision with another digest would put back what runs now.
 */
export function rollbackTarget<H extends HistoryRecord>(
  history: readonly H[],
  wanted: string | undefined,
  context: { readonly application: string },
): RollbackTarget<H> {
  const sorted = [...history].sort((a, b) => a.id - b.id);
  const name = context.application;
  const ids = () =>
    sorted
      .filter((e) => e.result === 'Succeeded')
      .map((e) => e.id)
      .join(', ') || 'none';
  const none = (message: string): RollbackTarget<H> => ({ found: false, why: 'no-target', message });
  const usage = (message: string): RollbackTarget<H> => ({ found: false, why: 'usage', message });
  if (wanted === undefined || wanted === '') {
    const current = sorted.at(-1);
    const entry = sorted
      .slice(0, -1)
      .reverse()
      .find((e) => e.result === 'Succeeded' && e.revision !== current?.revision);
    if (!entry)
      return none(
        `application '${name}' has no earlier successful sync to roll back to (capstan app history ${name})`,
      );
    return { found: true, revision: entry.revision, entry };
  }
  const byId = /^\d+$/.test(wanted) ? sorted.find((e) => e.id === Number(wanted)) : undefined;
  if (byId) {
    if (byId.result !== 'Succeeded')
      return none(
        `history entry ${wanted} of application '${name}' failed; roll back to a successful one: ${ids()}`,
      );
    return { found: true, revision: byId.revision, entry: byId };
  }
  if (/^\d{1,6}$/.test(wanted))
    return none(`application '${name}' has no history entry ${wanted}; successful ones: ${ids()}`);
  const prefix = wanted.toLowerCase();
  if (!/^[0-9a-f]{7,40}$/.test(prefix))
    return usage(`rollback takes a history ID or a commit SHA (7 to 40 hex digits), not '${wanted}'`);
  const matches = [
    ...new Set(
      sorted.filter((e) => e.result === 'Succeeded' && e.revision.startsWith(prefix)).map((e) => e.revision),
    ),
  ];
  if (matches.length > 1)
    return usage(`'${wanted}' matches several revisions in the history: ${matches.join(', ')}`);
  const [match] = matches;
  if (match !== undefined) return { found: true, revision: match };
  if (prefix.length === 40) return { found: true, revision: prefix };
  return none(
    `no revision in the history of application '${name}' starts with '${wanted}' (among its successful syncs); give the full 40-hex SHA`,
  );
}

/** The target part of a rollback request's value: `<request id>:<target>`; undefined for the default. */
export function rollbackRequestTarget(request: string): string | undefined {
  const colon = request.indexOf(':');
  const wanted = colon >= 0 ? request.slice(colon + 1) : '';
  return wanted === '' ? undefined : wanted;
}
