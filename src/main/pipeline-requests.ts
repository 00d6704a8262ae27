// Requests for pipeline runs, written onto Pipelines as annotations (src/contracts/pipeline-request.ts)
// by whichever process received them (the agent's webhook receivers, the server's actions); the process
// that drives runs (src/main/pipelines.ts) reads them from its watch.
import { createHmac } from 'node:crypto';
import { apiError } from '../adapters/kube/errors.ts';
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import {
  PIPELINE_API_VERSION,
  PIPELINE_GROUP,
  PIPELINE_KIND,
  PIPELINE_PLURAL,
  PIPELINE_VERSION,
  resolvePipelineSpec,
  validatePipeline,
} from '../contracts/pipeline.ts';
import {
  encodeRunRequest,
  runRequestKey,
  sealRunRequest,
  type RunRequest,
} from '../contracts/pipeline-request.ts';
import type { PipelineDirectory, PipelineEntry } from '../api/server/context.ts';
import type { KubeObject } from '../core/resource.ts';
import { normalizeRepoUrl } from '../core/repo-url.ts';

export const pipelinePath = (namespace: string, name: string): string =>
  `/apis/${PIPELINE_GROUP}/${PIPELINE_VERSION}/namespaces/${encodeURIComponent(namespace)}/${PIPELINE_PLURAL}/${encodeURIComponent(name)}`;

/** Asks the driver (whichever process leads) for a run: an annotation on the Pipeline. */
export async function requestRun(
  cluster: KubeCluster,
  pipeline: { readonly namespace: string; readonly name: string },
  request: RunRequest,
): Promise<void> {
  const subject = `${PIPELINE_KIND}/${pipeline.namespace}/${pipeline.name}`;
  const res = await cluster.client.call('PATCH', pipelinePath(pipeline.namespace, pipeline.name), {
    body: { metadata: { annotations: { [runRequestKey(request)]: encodeRunRequest(request) } } },
    contentType: 'application/merge-patch+json',
    subject,
  });
  if (res.status !== 200) throw apiError(res.status, res.body, subject, 'request a run');
}

/** A push a webhook reported (the agent's RefreshEvent). */
export interface ReportedPush {
  readonly provider: string;
  readonly repoURLs: readonly string[];
  readonly ref?: string;
  readonly after?: string;
  readonly changedPaths?: readonly string[];
  readonly deliveryId?: string;
}

/**
 * Requests runs of the Pipelines of a pushed repository (same URL normalisation as Applications);
 * returns them as `namespace/name`. A push without its ref or commit, or one that deleted the ref,
 * requests nothing.
 */
export async function requestPipelineRuns(cluster: KubeCluster, push: ReportedPush): Promise<string[]> {
  if (push.ref === undefined || push.after === undefined || /^0+$/.test(push.after)) return [];
  const type = await cluster.resourceType(PIPELINE_API_VERSION, PIPELINE_KIND);
  if (type === undefined) return [];
  const matched: string[] = [];
  for (const object of await cluster.list(type, '')) {
    const checked = validatePipeline(object);
    if (!checked.ok || !repoMatches(resolvePipelineSpec(checked.value.spec).repoURL, push.repoURLs)) continue;
    const pipeline = { namespace: object.metadata.namespace ?? 'default', name: object.metadata.name ?? '' };
    await requestRun(cluster, pipeline, {
      id: `webhook-${push.provider}-${push.deliveryId ?? push.after}-${push.ref}`.slice(0, 128),
      kind: 'push',
      ref: push.ref,
      revision: push.after,
      ...(push.changedPaths === undefined ? {} : { changedPaths: [...push.changedPaths] }),
      by: `webhook:${push.provider}`,
      at: new Date().toISOString(),
    });
    matched.push(`${pipeline.namespace}/${pipeline.name}`);
  }
  return matched.sort();
}

/** A pull request a webhook reported (the agent's PullRequestEvent). */
export interface ReportedPullRequest {
  readonly provider: string;
  readonly repoURLs: readonly string[];
  readonly number: number;
  readonly headSha: string;
  readonly ref: string;
  readonly sourceBranch: string;
  readonly targetBranch: string;
  readonly fromFork: boolean;
  readonly deliveryId?: string;
}

/**
 * Requests runs of the Pipelines of the pull request's target repository, of its head commit; returns
 * them as `namespace/name`, and why others were not asked. A pull request from a fork runs only on the
 * Pipelines that say so (`spec.forkPullRequests: RunWithoutSecrets`), and without secrets: its code
 * and its pipeline file were written by someone who may not push to the repository.
 */
export async function requestPullRequestRuns(
  cluster: KubeCluster,
  pr: ReportedPullRequest,
): Promise<{ pipelines: string[]; reason?: string }> {
  const type = await cluster.resourceType(PIPELINE_API_VERSION, PIPELINE_KIND);
  if (type === undefined) return { pipelines: [] };
  const matched: string[] = [];
  const ignored: string[] = [];
  for (const object of await cluster.list(type, '')) {
    const checked = validatePipeline(object);
    if (!checked.ok) continue;
    const spec = resolvePipelineSpec(checked.value.spec);
    if (!repoMatches(spec.repoURL, pr.repoURLs)) continue;
    const pipeline = { namespace: object.metadata.namespace ?? 'default', name: object.metadata.name ?? '' };
    if (pr.fromFork && spec.forkPullRequests !== 'RunWithoutSecrets') {
      ignored.push(`${pipeline.namespace}/${pipeline.name}`);
      continue;
    }
    await requestRun(cluster, pipeline, {
      id: `webhook-${pr.provider}-${pr.deliveryId ?? pr.headSha}-pr${String(pr.number)}`.slice(0, 128),
      kind: 'pullRequest',
      ref: pr.ref,
      revision: pr.headSha,
      pullRequest: {
        number: pr.number,
        sourceBranch: pr.sourceBranch,
        targetBranch: pr.targetBranch,
        ...(pr.fromFork ? { fromFork: true } : {}),
      },
      by: `webhook:${pr.provider}`,
      at: new Date().toISOString(),
    });
    matched.push(`${pipeline.namespace}/${pipeline.name}`);
  }
  if (ignored.length === 0) return { pipelines: matched.sort() };
  return {
    pipelines: matched.sort(),
    reason: `pull request ${String(pr.number)} comes from another repository (a fork): ${ignored.sort().join(', ')} ${ignored.length === 1 ? 'runs' : 'run'} no pull request from a fork (spec.forkPullRequests: Ignore; RunWithoutSecrets runs them without secrets)`,
  };
}

function repoMatches(repoURL: string, reported: readonly string[]): boolean {
  try {
    return reported.includes(normalizeRepoUrl(repoURL));
  } catch {
    return false;
  }
}

/** The key run requests are sealed with, derived from the server's shared key (Secret capstan-server). */
export const runRequestKeyOf = (sharedKey: Uint8Array): Buffer =>
  createHmac('sha256', sharedKey).update('capstan.dev run requests v1').digest();

/**
 * The server's view of Pipelines: listed from the cluster (none while the cluster does not serve the
 * CRD); its run requests sealed with `key`.
 */
export function kubePipelineDirectory(cluster: KubeCluster, key: Uint8Array): PipelineDirectory {
  const type = () => cluster.resourceType(PIPELINE_API_VERSION, PIPELINE_KIND);
  return {
    list: async (namespace) => {
      const served = await type();
      if (served === undefined) return [];
      return (await cluster.list(served, namespace ?? '')).flatMap((object) => entryOf(object) ?? []);
    },
    get: async (namespace, name) => {
      const served = await type();
      const object = served === undefined ? undefined : await cluster.get(served, namespace, name);
      return object === undefined ? undefined : entryOf(object);
    },
    requestRun: (pipeline, request) => requestRun(cluster, pipeline, sealRunRequest(pipeline, request, key)),
  };
}

/** A valid Pipeline with its defaults; undefined for one the API server took but the contract refuses. */
function entryOf(object: KubeObject): PipelineEntry | undefined {
  const checked = validatePipeline(object);
  if (!checked.ok) return undefined;
  return {
    namespace: object.metadata.namespace ?? 'default',
    name: object.metadata.name ?? '',
    spec: resolvePipelineSpec(checked.value.spec),
  };
}
