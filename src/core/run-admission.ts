/**
 * Which runs go when a new one arrives (docs/pipelines.md, `concurrency`): at most `maxRuns` of a
 * pipeline run at once, the rest wait in the order they came; with `cancelOlder`, a newer push to a
 * branch cancels the older runs of that branch (queued or running). Pure, table-tested.
 */

export interface ActiveRun {
  readonly id: string;
  readonly phase: 'Queued' | 'Running';
  /** The branch of a push or pull request; undefined for a tag or a manual run. */
  readonly branch?: string;
  readonly trigger: string;
}

export interface ConcurrencyRules {
  readonly maxRuns: number;
  readonly cancelOlder: boolean;
}

export interface Admission {
  /** Runs to cancel now (older runs of the same branch). */
  readonly cancel: readonly string[];
  /** Queued runs to start now, oldest first (the new one included when it may start). */
  readonly start: readonly string[];
}

/** Triggers whose newer run replaces an older one of the same branch. */
const REPLACING_TRIGGERS = new Set(['push', 'pullRequest', 'poll']);

/**
 * What to do when `incoming` arrives while `active` (oldest first) are queued or running: which to
 * cancel, and which queued runs start, so that at most `maxRuns` run.
 */
export function admitRun(
  active: readonly ActiveRun[],
  incoming: ActiveRun,
  rules: ConcurrencyRules,
): Admission {
  const replaces =
    rules.cancelOlder && incoming.branch !== undefined && REPLACING_TRIGGERS.has(incoming.trigger);
  const cancel = replaces
    ? active.filter((r) => r.branch === incoming.branch && REPLACING_TRIGGERS.has(r.trigger)).map((r) => r.id)
    : [];
  const remaining = [
    ...active.filter((r) => !cancel.includes(r.id)),
    { ...incoming, phase: 'Queued' as const },
  ];
  return { cancel, start: startable(remaining, rules.maxRuns) };
}

/** The queued runs that may start now, oldest first, within `maxRuns` running. */
export function startable(runs: readonly ActiveRun[], maxRuns: number): string[] {
  const running = runs.filter((r) => r.phase === 'Running').length;
  const free = Math.max(0, maxRuns - running);
  return runs
    .filter((r) => r.phase === 'Queued')
    .slice(0, free)
    .map((r) => r.id);
}
