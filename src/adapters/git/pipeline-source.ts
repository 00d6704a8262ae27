/**
 * The PipelineSourceReader port on git: a Pipeline's file at a commit (confined to the checkout,
 * read up to the file limit), where a ref points now, and every ref (polls), through the same git
 * adapter, host policy and repository credentials as Applications.
 */
import { open, realpath } from 'node:fs/promises';
import { PIPELINE_FILE_LIMITS } from '../../contracts/pipeline-file.ts';
import { CapstanError } from '../../core/errors.ts';
import type { Cluster } from '../../ports/cluster.ts';
import type { PipelineRef, PipelineSourceReader } from '../../ports/pipelines.ts';
import type { FetchOptions } from '../../ports/source.ts';
import { confine } from '../render/confine.ts';
import type { GitSourceFetcher } from './git-source.ts';
import { credentialsFrom } from './secret-credentials.ts';

export interface GitPipelineSourceOptions {
  readonly fetcher: GitSourceFetcher;
  /** Where a Pipeline's `credentialsSecret` is read (in the Pipeline's namespace). */
  readonly cluster: Cluster;
  /** Fetch over http:// (a dev git server). */
  readonly allowInsecureHttp: boolean;
}

export class GitPipelineSource implements PipelineSourceReader {
  readonly #options: GitPipelineSourceOptions;

  constructor(options: GitPipelineSourceOptions) {
    this.#options = options;
  }

  async readFile(pipeline: PipelineRef, revision: string): ReturnType<PipelineSourceReader['readFile']> {
    const source = { repoURL: pipeline.spec.repoURL, targetRevision: revision };
    const tree = await this.#options.fetcher.checkout(
      source,
      { sha: revision, ref: revision },
      await this.#fetchOptions(pipeline),
    );
    const root = await realpath(tree.dir);
    let path: string;
    try {
      path = (await confine(root, pipeline.spec.file, 'the pipeline file (spec.file)')).absolute;
    } catch (error) {
      if (error instanceof CapstanError && error.code === 'RENDER_NOT_FOUND')
        return { text: undefined, commit: tree.commit };
      throw error;
    }
    return { text: await readBounded(path, PIPELINE_FILE_LIMITS.maxBytes + 1), commit: tree.commit };
  }

  async resolve(pipeline: PipelineRef, ref: string): Promise<{ readonly sha: string; readonly ref: string }> {
    const source = { repoURL: pipeline.spec.repoURL, targetRevision: ref };
    return this.#options.fetcher.resolve(source, await this.#fetchOptions(pipeline));
  }

  async refs(pipeline: PipelineRef): Promise<ReadonlyMap<string, string>> {
    return this.#options.fetcher.listRefs(
      { repoURL: pipeline.spec.repoURL },
      await this.#fetchOptions(pipeline),
    );
  }

  async #fetchOptions(pipeline: PipelineRef): Promise<FetchOptions> {
    const secret = pipeline.spec.credentialsSecret;
    return {
      allowInsecureHttp: this.#options.allowInsecureHttp,
      ...(secret === undefined
        ? {}
        : { credentials: await credentialsFrom(this.#options.cluster, pipeline.namespace, secret) }),
    };
  }
}

/** At most `limit` bytes of a file (the parser refuses a file past its own limit, saying so). */
async function readBounded(path: string, limit: number): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(limit);
    const { bytesRead } = await handle.read(buffer, 0, limit, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}
