/**
 * Whether an event starts a run of a pipeline: the pipeline file's triggers (push to branches or
 * tags, pull requests, manual) and their path filters, against what happened. Pure, table-tested.
 * Patterns are the globs of src/core/policy.ts: `*` within a path segment, `**` across segments.
 */
import { matchesPattern } from './policy.ts';

/** What happened in the code repository (from a webhook, a poll, or a person). */
export type PipelineEvent =
  | { readonly kind: 'push'; readonly branch: string; readonly changedFiles?: readonly string[] }
  | { readonly kind: 'tag'; readonly tag: string }
  | { readonly kind: 'pullRequest'; readonly targetBranch: string; readonly changedFiles?: readonly string[] }
  | { readonly kind: 'manual' };

interface PathFilters {
  readonly paths?: readonly string[];
  readonly ignorePaths?: readonly string[];
}

/** The triggers as the pipeline file writes them (src/contracts/pipeline-file.ts). */
export interface TriggerRules {
  readonly push?: PathFilters & { readonly branches?: readonly string[]; readonly tags?: readonly string[] };
  readonly pullRequest?: PathFilters & { readonly branches?: readonly string[] };
  readonly manual?: boolean;
}

/** Whether `event` starts a run under `triggers` (undefined triggers: manual runs only). */
export function eventStartsRun(triggers: TriggerRules | undefined, event: PipelineEvent): boolean {
  switch (event.kind) {
    case 'manual':
      return triggers?.manual ?? true;
    case 'tag':
      return triggers?.push?.tags?.some((p) => matchesPattern(p, event.tag)) ?? false;
    case 'push': {
      const push = triggers?.push;
      if (push === undefined) return false;
      const branches = push.branches ?? (push.tags === undefined ? ['**'] : []);
      return branches.some((p) => matchesPattern(p, event.branch)) && pathsMatch(push, event.changedFiles);
    }
    case 'pullRequest': {
      const pr = triggers?.pullRequest;
      if (pr === undefined) return false;
      const branches = pr.branches ?? ['**'];
      return (
        branches.some((p) => matchesPattern(p, event.targetBranch)) && pathsMatch(pr, event.changedFiles)
      );
    }
  }
}

/**
 * Whether the changed files pass the path filters: some file matches `paths` (any, when unset) and
 * not every file matches `ignorePaths`. Unknown changed files (a poll that saw a new commit only)
 * pass: a run too many is better than a change never built.
 */
export function pathsMatch(filters: PathFilters, changedFiles: readonly string[] | undefined): boolean {
  if (changedFiles === undefined) return true;
  const considered = changedFiles.filter(
    (file) => !(filters.ignorePaths ?? []).some((p) => matchesPattern(p, file)),
  );
  if (considered.length === 0) return changedFiles.length === 0 && filters.paths === undefined;
  if (filters.paths === undefined) return true;
  return considered.some((file) => (filters.paths ?? []).some((p) => matchesPattern(p, file)));
}
