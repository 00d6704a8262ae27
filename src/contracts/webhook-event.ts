/**
 * What a verified webhook delivery asks of the agent: refresh the Applications of some repositories,
 * and run the Pipelines of a push or a pull request. The HTTP layer (src/api/agent-api.ts) turns
 * provider payloads into these shapes; the agent matches them against its Applications, and
 * src/pipelines/webhook-requests.ts against the Pipelines.
 */

/** The git hosts whose webhooks are understood; `generic` is Capstan's own small JSON form. */
export const WEBHOOK_PROVIDERS = ['github', 'gitlab', 'gitea', 'bitbucket', 'generic'] as const;
export type WebhookProvider = (typeof WEBHOOK_PROVIDERS)[number];

export interface RefreshEvent {
  readonly provider: WebhookProvider;
  /**
   * Every URL form of the repository found in the payload, normalised with `normalizeRepoUrl`
   * (src/core/repo-url.ts) and without duplicates: normalise an Application's `spec.source.repoURL`
   * the same way and look it up here. Never empty.
   */
  readonly repoURLs: readonly string[];
  /** The full ref that moved (`refs/heads/main`, `refs/tags/v1.2.0`); as given for `generic`. Absent: unknown, any ref. */
  readonly ref?: string;
  /** The commit (or tag object) the ref points to now. Absent when unknown or when the ref was deleted. */
  readonly after?: string;
  /**
   * Paths changed by the push, relative to the repository root, without duplicates (at most
   * `MAX_CHANGED_PATHS`). Absent means unknown — refresh every matching Application: the provider
   * sent no file lists, truncated its commit list, the push created, deleted or force-pushed the
   * ref, or the list was longer than the cap.
   */
  readonly changedPaths?: readonly string[];
  /** The provider's delivery id, for logs and de-duplication. */
  readonly deliveryId?: string;
}

/**
 * The shared secret of each provider, read by the caller from a Kubernetes Secret: the HMAC key for
 * github, gitea and bitbucket, the token for gitlab (`X-Gitlab-Token`) and generic (`Authorization:
 * Bearer`). A provider without one (absent or empty) has its webhooks refused. A list holds several
 * during a rotation; any of them is accepted. Never logged, never echoed.
 */
export type WebhookSecrets = {
  readonly [P in WebhookProvider]?: string | readonly string[];
};

/** The cap on `RefreshEvent.changedPaths`: a longer list becomes "unknown". */
export const MAX_CHANGED_PATHS = 10_000;

/** The providers whose pull (merge) request events start pipeline runs. */
export type PullRequestProvider = 'github' | 'gitlab' | 'gitea';

/**
 * A pull (merge) request opened, pushed to, or reopened, as a verified webhook reports it: what a
 * pipeline run of its head commit needs. Events that do not change the code (a title edited, a
 * label, a close) are not pull request events for Capstan: the receiver acknowledges and ignores them.
 */
export interface PullRequestEvent {
  readonly provider: PullRequestProvider;
  /** Every URL form of the target (base) repository, normalised as `RefreshEvent.repoURLs`. Never empty. */
  readonly repoURLs: readonly string[];
  /** The pull request's number in its repository (GitLab: the merge request's `iid`). */
  readonly number: number;
  /** What happened: `opened`, `synchronize` (new commits) or `reopened`, whatever the provider's words. */
  readonly action: 'opened' | 'synchronize' | 'reopened';
  /** The head commit (40 hex digits). */
  readonly headSha: string;
  /** The ref of the head in the target repository: `refs/pull/N/head`, GitLab `refs/merge-requests/N/head`. */
  readonly ref: string;
  /** The branch the changes come from (in the source repository). */
  readonly sourceBranch: string;
  /** The branch they would be merged into. */
  readonly targetBranch: string;
  /**
   * The changes come from another repository (a fork): their code, and the pipeline file at their
   * head, were written by someone who may not push to the target repository.
   */
  readonly fromFork: boolean;
  /** The pull request's author: their login (GitHub, Gitea `pull_request.user.login`; GitLab `user.username`). */
  readonly author?: string;
  readonly deliveryId?: string;
}
