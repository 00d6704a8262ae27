/**
 * An in-memory PipelineDirectory for unit tests (no cluster): Pipelines as written, each read through
 * the same contract as the real adapter's (src/contracts/pipeline.ts resolvedPipeline), run requests
 * kept as the annotations would hold them (one per ref, the later replacing the earlier), sealed when
 * the directory holds a key. Passes src/testing/pipeline-directory-contract.ts, as KubePipelineDirectory
 * does against a real API server (test/integration/pipeline-directory.test.ts).
 */
import { resolvedPipeline, type PipelineStatus } from '../contracts/pipeline.ts';
import {
  encodeRunRequest,
  runRequestKey,
  runRequestsOf,
  sealRunRequest,
  type RunRequest,
} from '../contracts/pipeline-request.ts';
import { CapstanError } from '../core/errors.ts';
import type { KubeObject } from '../core/resource.ts';
import type { PipelineDirectory, PipelineRef } from '../ports/pipelines.ts';

/** The Pipelines of a fake directory, shared by its views with and without a key. */
export class FakePipelines {
  readonly objects = new Map<string, KubeObject>();

  /** A Pipeline as if someone created it. */
  add(object: KubeObject): void {
    this.objects.set(keyOf(object.metadata.namespace ?? 'default', object.metadata.name ?? ''), {
      ...structuredClone(object),
      metadata: { namespace: 'default', ...structuredClone(object.metadata) },
    });
  }

  /** The run requests on a Pipeline, as the driver would read them. */
  requests(namespace: string, name: string): readonly RunRequest[] {
    return runRequestsOf(this.objects.get(keyOf(namespace, name))?.metadata.annotations).requests;
  }

  status(namespace: string, name: string): PipelineStatus | undefined {
    return this.objects.get(keyOf(namespace, name))?.['status'] as PipelineStatus | undefined;
  }
}

export class FakePipelineDirectory implements PipelineDirectory {
  readonly pipelines: FakePipelines;
  readonly #key: Uint8Array | undefined;

  constructor(pipelines = new FakePipelines(), options: { readonly requestKey?: Uint8Array } = {}) {
    this.pipelines = pipelines;
    this.#key = options.requestKey;
  }

  list(namespace?: string): Promise<readonly PipelineRef[]> {
    const all = [...this.pipelines.objects.values()].flatMap((object) => resolvedPipeline(object) ?? []);
    return Promise.resolve(namespace === undefined ? all : all.filter((p) => p.namespace === namespace));
  }

  get(namespace: string, name: string): Promise<PipelineRef | undefined> {
    const object = this.pipelines.objects.get(keyOf(namespace, name));
    return Promise.resolve(object === undefined ? undefined : resolvedPipeline(object));
  }

  requestRun(
    pipeline: { readonly namespace: string; readonly name: string },
    request: RunRequest,
  ): Promise<void> {
    const written = this.#key === undefined ? request : sealRunRequest(pipeline, request, this.#key);
    return this.#change(pipeline.namespace, pipeline.name, (object) => {
      object.metadata.annotations = {
        ...object.metadata.annotations,
        [runRequestKey(written)]: encodeRunRequest(written),
      };
    });
  }

  writeStatus(namespace: string, name: string, status: PipelineStatus): Promise<void> {
    return this.#change(namespace, name, (object) => {
      // A merge patch of the status subresource: the fields given replace theirs, the rest stay.
      object['status'] = { ...(object['status'] as object | undefined), ...structuredClone(status) };
    });
  }

  /** Changes a stored Pipeline; KUBE_NOT_FOUND when there is none, as the API server answers. */
  #change(namespace: string, name: string, change: (object: KubeObject) => void): Promise<void> {
    const object = this.pipelines.objects.get(keyOf(namespace, name));
    if (object === undefined)
      return Promise.reject(new CapstanError('KUBE_NOT_FOUND', `Pipeline/${namespace}/${name} not found`));
    change(object);
    return Promise.resolve();
  }
}

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;
