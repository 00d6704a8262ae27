/**
 * Where a pipeline run's state goes back to its git provider as a commit status (docs/pipelines.md,
 * "Commit status"). Adapter: src/adapters/git/commit-status.ts (HttpCommitStatusSink); the requests
 * themselves: src/core/commit-status.ts.
 */
import type { CommitStatusReport } from '../core/commit-status.ts';

/** From the Pipeline's Secret: a token, or a user name and a password (which may be a token). */
export interface CommitStatusCredentials {
  readonly token?: string;
  readonly username?: string;
  readonly password?: string;
}

export interface CommitStatusSink {
  /**
   * Sets the status of the report's commit. Throws PIPELINE_COMMIT_STATUS_FAILED with the provider's
   * answer (retryable when a later attempt may be taken: no answer, 408, 429, 5xx), or
   * SOURCE_HOST_NOT_ALLOWED for an API host the server may not reach.
   */
  set(report: CommitStatusReport, credentials: CommitStatusCredentials): Promise<void>;
}
