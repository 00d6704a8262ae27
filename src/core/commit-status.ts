/**
 * A pipeline run's state as a commit status of its git provider (docs/pipelines.md, "Commit status"):
 * what to send, where, for GitHub, Gitea and Forgejo (`POST /repos/{owner}/{repo}/statuses/{sha}`)
 * and GitLab (`POST /projects/{id}/statuses/{sha}`). Pure: the request is made by the adapter
 * (src/adapters/git/commit-status.ts).
 */
import { normalizeRepoUrl } from './repo-url.ts';
import type { RunPhase } from './run-phase.ts';

export const COMMIT_STATUS_PROVIDERS = ['GitHub', 'Gitea', 'Forgejo', 'GitLab'] as const;
export type CommitStatusProvider = (typeof COMMIT_STATUS_PROVIDERS)[number];

/** What a status says of a run. */
export interface CommitStatusReport {
  readonly provider: CommitStatusProvider;
  /** The provider's API root, without a trailing `/` (`https://api.github.com`, `https://git.example.com/api/v1`). */
  readonly apiURL: string;
  /** The repository's path at the provider: `owner/repo` (GitLab: `group/subgroup/project`). */
  readonly repository: string;
  readonly sha: string;
  readonly phase: RunPhase;
  /** Names the check at the provider: one status per context and commit, replaced by the next. */
  readonly context: string;
  /** The run's page in Capstan's UI. */
  readonly targetURL?: string;
  readonly description: string;
}

export interface CommitStatusRequest {
  readonly url: string;
  readonly body: Readonly<Record<string, string>>;
  /** The provider's name for the state (`pending`, `success`, GitLab's `running`, `canceled`). */
  readonly state: string;
}

/** GitHub's limit for a description; the others take longer ones, and the same text is sent to all. */
export const DESCRIPTION_MAX = 140;

/** The state GitHub, Gitea and Forgejo know (pending, success, failure, error) or GitLab's. */
export function commitState(provider: CommitStatusProvider, phase: RunPhase): string {
  if (provider === 'GitLab') {
    const gitlab: Record<RunPhase, string> = {
      WaitingForApproval: 'pending',
      Queued: 'pending',
      Running: 'running',
      Succeeded: 'success',
      Failed: 'failed',
      Cancelled: 'canceled',
    };
    return gitlab[phase];
  }
  const github: Record<RunPhase, string> = {
    WaitingForApproval: 'pending',
    Queued: 'pending',
    Running: 'pending',
    Succeeded: 'success',
    Failed: 'failure',
    // No `cancelled` on GitHub: a run that did not finish its work is an error, not a failing test.
    Cancelled: 'error',
  };
  return github[phase];
}

/** The request that sets the status. */
export function commitStatusRequest(report: CommitStatusReport): CommitStatusRequest {
  const state = commitState(report.provider, report.phase);
  const description = truncate(report.description, DESCRIPTION_MAX);
  const target = report.targetURL === undefined ? {} : { target_url: report.targetURL };
  if (report.provider === 'GitLab') {
    return {
      url: `${report.apiURL}/projects/${encodeURIComponent(report.repository)}/statuses/${report.sha}`,
      body: { state, name: report.context, description, ...target },
      state,
    };
  }
  const path = report.repository.split('/').map(encodeURIComponent).join('/');
  return {
    url: `${report.apiURL}/repos/${path}/statuses/${report.sha}`,
    body: { state, context: report.context, description, ...target },
    state,
  };
}

/**
 * The API root and the repository path a repository URL implies: GitHub's `api.github.com` for
 * github.com and `/api/v3` on another host (GitHub Enterprise Server), Gitea's and Forgejo's
 * `/api/v1`, GitLab's `/api/v4`, on the repository's host and port, over https (http only when the
 * repository URL is http://). Undefined for a URL without a host and a path. A provider served under
 * a sub-path needs its `apiURL` given.
 */
export function commitStatusTarget(
  provider: CommitStatusProvider,
  repoURL: string,
): { readonly apiURL: string; readonly repository: string } | undefined {
  const normal = normalizeRepoUrl(repoURL);
  const slash = normal.indexOf('/');
  if (slash <= 0) return undefined;
  const hostPort = normal.slice(0, slash);
  const repository = normal.slice(slash + 1);
  if (!repository.includes('/')) return undefined;
  const scheme = /^http:\/\//i.test(repoURL.trim()) ? 'http' : 'https';
  // An ssh URL's port is ssh's, not the web's.
  const web =
    /^[a-z]+:\/\//i.test(repoURL.trim()) && !/^ssh/i.test(repoURL.trim())
      ? hostPort
      : hostPort.replace(/:\d+$/, '');
  const root = `${scheme}://${web}`;
  switch (provider) {
    case 'GitHub':
      return { apiURL: web === 'github.com' ? 'https://api.github.com' : `${root}/api/v3`, repository };
    case 'GitLab':
      return { apiURL: `${root}/api/v4`, repository };
    case 'Gitea':
    case 'Forgejo':
      return { apiURL: `${root}/api/v1`, repository };
  }
}

/** What the status says, in words: the run's phase, its reason, its id. */
export function commitStatusDescription(run: {
  readonly id: string;
  readonly phase: RunPhase;
  readonly reason?: string;
}): string {
  const words: Record<RunPhase, string> = {
    WaitingForApproval: 'waiting for approval',
    Queued: 'queued',
    Running: 'running',
    Succeeded: 'succeeded',
    Failed: 'failed',
    Cancelled: 'cancelled',
  };
  const reason = run.reason !== undefined && run.phase !== 'Succeeded' ? ` (${run.reason})` : '';
  return `Capstan run ${run.id}: ${words[run.phase]}${reason}`;
}

function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  // Cut at a code point, never inside a surrogate pair.
  let end = max - 1;
  if (/[\uD800-\uDBFF]/.test(text.charAt(end - 1))) end--;
  return `${text.slice(0, end)}…`;
}
