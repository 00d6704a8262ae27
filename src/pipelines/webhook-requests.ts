/**
 * Run requests from webhooks (the agent's receivers): which Pipelines a reported push or pull request
 * asks to run (same repository URL normalisation as Applications), and the request written onto each.
 * Built on contracts, core and the PipelineDirectory port.
 */
import { normalizeRepoUrl } from '../core/repo-url.ts';
import type { RunRequest } from '../contracts/pipeline-request.ts';
import type { PullRequestEvent, RefreshEvent } from '../contracts/webhook-event.ts';
import type { PipelineDirectory, PipelineRef } from '../ports/pipelines.ts';

/** What of a push reported by a webhook (src/contracts/webhook-event.ts) makes its run requests. */
export type ReportedPush = Pick<
  RefreshEvent,
  'provider' | 'repoURLs' | 'ref' | 'after' | 'changedPaths' | 'deliveryId'
>;

/** What of a pull request reported by a webhook makes its run requests. */
export type ReportedPullRequest = Omit<PullRequestEvent, 'action'>;

export interface WebhookRequestOptions {
  /** The request's time. Default: now. */
  readonly now?: () => Date;
}

/**
 * Requests runs of the Pipelines of a pushed repository; returns them as `namespace/name`, sorted. A
 * push without its ref or commit, or one that deleted the ref, requests nothing.
 */
export async function requestPipelineRuns(
  directory: PipelineDirectory,
  push: ReportedPush,
  options: WebhookRequestOptions = {},
): Promise<string[]> {
  const { ref, after } = push;
  if (ref === undefined || after === undefined || /^0+$/.test(after)) return [];
  return requestEach(directory, push.repoURLs, () => ({
    id: `webhook-${push.provider}-${push.deliveryId ?? after}-${ref}`.slice(0, 128),
    kind: 'push',
    ref,
    revision: after,
    ...(push.changedPaths === undefined ? {} : { changedPaths: [...push.changedPaths] }),
    by: `webhook:${push.provider}`,
    at: (options.now?.() ?? new Date()).toISOString(),
  }));
}

/**
 * Requests runs of the Pipelines of the pull request's target repository, of its head commit; returns
 * them as `namespace/name`, and why others were not asked. A pull request from a fork runs only on the
 * Pipelines that say so (`spec.forkPullRequests: RunWithoutSecrets`, or `RequireApproval` once someone
 * approved its author), and without secrets: its code
 * and its pipeline file were written by someone who may not push to the repository.
 */
export async function requestPullRequestRuns(
  directory: PipelineDirectory,
  pr: ReportedPullRequest,
  options: WebhookRequestOptions = {},
): Promise<{ pipelines: string[]; reason?: string }> {
  const ignored: string[] = [];
  const pipelines = await requestEach(
    directory,
    pr.repoURLs,
    () => ({
      id: `webhook-${pr.provider}-${pr.deliveryId ?? pr.headSha}-pr${String(pr.number)}`.slice(0, 128),
      kind: 'pullRequest',
      ref: pr.ref,
      revision: pr.headSha,
      pullRequest: {
        number: pr.number,
        sourceBranch: pr.sourceBranch,
        targetBranch: pr.targetBranch,
        ...(pr.fromFork ? { fromFork: true } : {}),
        ...(pr.author === undefined ? {} : { author: pr.author }),
      },
      by: `webhook:${pr.provider}`,
      at: (options.now?.() ?? new Date()).toISOString(),
    }),
    // A pull request from a fork runs only on the Pipelines that say so (at once, or once approved),
    // and without secrets.
    (pipeline) => {
      if (!pr.fromFork || pipeline.spec.forkPullRequests !== 'Ignore') return true;
      ignored.push(`${pipeline.namespace}/${pipeline.name}`);
      return false;
    },
  );
  if (ignored.length === 0) return { pipelines };
  return {
    pipelines,
    reason: `pull request ${String(pr.number)} comes from another repository (a fork): ${ignored.sort().join(', ')} ${ignored.length === 1 ? 'runs' : 'run'} no pull request from a fork (spec.forkPullRequests: Ignore; RunWithoutSecrets runs them without secrets, RequireApproval once approved)`,
  };
}

/** Writes `request()` onto every Pipeline of one of `repoURLs`, one after the other; their names, sorted. */
async function requestEach(
  directory: PipelineDirectory,
  repoURLs: readonly string[],
  request: () => RunRequest,
  accepts: (pipeline: PipelineRef) => boolean = () => true,
): Promise<string[]> {
  const matched: string[] = [];
  for (const pipeline of await directory.list()) {
    if (!repoMatches(pipeline, repoURLs) || !accepts(pipeline)) continue;
    await directory.requestRun(pipeline, request());
    matched.push(`${pipeline.namespace}/${pipeline.name}`);
  }
  return matched.sort();
}

function repoMatches(pipeline: PipelineRef, reported: readonly string[]): boolean {
  try {
    return reported.includes(normalizeRepoUrl(pipeline.spec.repoURL));
  } catch {
    return false;
  }
}
