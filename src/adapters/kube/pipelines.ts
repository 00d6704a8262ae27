/**
 * The PipelineDirectory port on the Kubernetes API: Pipelines listed from the cluster (none while it
 * does not serve the CRD), run requests written onto them as annotations (src/contracts/pipeline-request.ts),
 * sealed with the server's key when the directory holds it, and their status written.
 */
import {
  PIPELINE_API_VERSION,
  PIPELINE_GROUP,
  PIPELINE_KIND,
  PIPELINE_PLURAL,
  PIPELINE_VERSION,
  resolvedPipeline,
  type PipelineStatus,
} from '../../contracts/pipeline.ts';
import {
  encodeRunRequest,
  runRequestKey,
  sealRunRequest,
  type RunRequest,
} from '../../contracts/pipeline-request.ts';
import type { ResourceType } from '../../ports/cluster.ts';
import type { PipelineDirectory, PipelineRef } from '../../ports/pipelines.ts';
import { apiError } from './errors.ts';
import type { KubeCluster } from './kube-cluster.ts';

export const pipelinePath = (namespace: string, name: string): string =>
  `/apis/${PIPELINE_GROUP}/${PIPELINE_VERSION}/namespaces/${encodeURIComponent(namespace)}/${PIPELINE_PLURAL}/${encodeURIComponent(name)}`;

/** Asks the driver (whichever process leads) for a run: an annotation on the Pipeline, as given. */
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

export interface KubePipelineDirectoryOptions {
  /** The server's key for run requests (runRequestKeyOf): requests are sealed with it. Absent: written as given. */
  readonly requestKey?: Uint8Array;
}

export class KubePipelineDirectory implements PipelineDirectory {
  readonly #cluster: KubeCluster;
  readonly #key: Uint8Array | undefined;

  constructor(cluster: KubeCluster, options: KubePipelineDirectoryOptions = {}) {
    this.#cluster = cluster;
    this.#key = options.requestKey;
  }

  #type(): Promise<ResourceType | undefined> {
    return this.#cluster.resourceType(PIPELINE_API_VERSION, PIPELINE_KIND);
  }

  async list(namespace?: string): Promise<readonly PipelineRef[]> {
    const served = await this.#type();
    if (served === undefined) return [];
    return (await this.#cluster.list(served, namespace ?? '')).flatMap(
      (object) => resolvedPipeline(object) ?? [],
    );
  }

  async get(namespace: string, name: string): Promise<PipelineRef | undefined> {
    const served = await this.#type();
    const object = served === undefined ? undefined : await this.#cluster.get(served, namespace, name);
    return object === undefined ? undefined : resolvedPipeline(object);
  }

  requestRun(
    pipeline: { readonly namespace: string; readonly name: string },
    request: RunRequest,
  ): Promise<void> {
    const written = this.#key === undefined ? request : sealRunRequest(pipeline, request, this.#key);
    return requestRun(this.#cluster, pipeline, written);
  }

  async writeStatus(namespace: string, name: string, status: PipelineStatus): Promise<void> {
    const subject = `${PIPELINE_KIND}/${namespace}/${name}`;
    const res = await this.#cluster.client.call('PATCH', `${pipelinePath(namespace, name)}/status`, {
      body: { status },
      contentType: 'application/merge-patch+json',
      subject,
    });
    if (res.status !== 200) throw apiError(res.status, res.body, subject, 'update status');
  }
}
