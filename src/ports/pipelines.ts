/**
 * What pipeline runs need of the world outside them: the cluster's Pipelines (the server lists them
 * and writes run requests onto them; the webhook receivers write requests too) and a Pipeline's
 * repository (the pipeline file at a commit, where a ref points). Adapters:
 * src/adapters/kube/pipelines.ts (KubePipelineDirectory) and src/adapters/git/pipeline-source.ts
 * (GitPipelineSource).
 */
import type { ApprovedForkAuthor, PipelineStatus, ResolvedPipelineSpec } from '../contracts/pipeline.ts';
import type { RunRequest } from '../contracts/pipeline-request.ts';
import type { CommitInfo } from './source.ts';

/** A valid Pipeline with its defaults. */
export interface PipelineRef {
  readonly namespace: string;
  readonly name: string;
  readonly spec: ResolvedPipelineSpec;
  /**
   * The authors of pull requests from forks its status approves (`status.approvedForkAuthors`), as the
   * directory read them; absent when the status lists none. The driver keeps its own, newer view.
   */
  readonly approvedForkAuthors?: readonly ApprovedForkAuthor[];
}

/** The cluster's Pipelines, and run requests written onto them (annotations). */
export interface PipelineDirectory {
  /** Every valid Pipeline (of `namespace`, when given); none while the cluster does not serve the type. */
  list(namespace?: string): Promise<readonly PipelineRef[]>;
  get(namespace: string, name: string): Promise<PipelineRef | undefined>;
  /**
   * Writes the request onto the Pipeline, sealed when the directory holds the server's key: the
   * driver believes a sealed request's `by` (src/contracts/pipeline-request.ts).
   */
  requestRun(
    pipeline: { readonly namespace: string; readonly name: string },
    request: RunRequest,
  ): Promise<void>;
  /**
   * Writes fields of the Pipeline's status (its latest run, its approved fork authors): each field
   * given replaces that field, the others are kept (a merge patch).
   */
  writeStatus(namespace: string, name: string, status: PipelineStatus): Promise<void>;
}

/** What the pipeline controller needs of git: the file at a commit, and where a ref points now. */
export interface PipelineSourceReader {
  /** The pipeline file's text at `revision` (undefined when the commit has no such file), and the commit. */
  readFile(
    pipeline: PipelineRef,
    revision: string,
  ): Promise<{ readonly text: string | undefined; readonly commit: CommitInfo }>;
  /** The commit a branch (`refs/heads/x`, or '' for the default branch) points to now, with its full ref. */
  resolve(pipeline: PipelineRef, ref: string): Promise<{ readonly sha: string; readonly ref: string }>;
  /** Every branch and tag of the repository now, full ref to commit (polls). */
  refs(pipeline: PipelineRef): Promise<ReadonlyMap<string, string>>;
}

/** The pipeline file of a Pipeline at a branch's head, read from its repository as the driver reads it. */
export interface PipelineFileReader {
  /**
   * `branch` undefined: the default branch. The text is undefined when that commit has no such file.
   * Throws the git adapter's CapstanError (SOURCE_*) when the repository cannot be read.
   */
  read(
    pipeline: PipelineRef,
    branch: string | undefined,
  ): Promise<{ readonly text: string | undefined; readonly ref: string; readonly commit: string }>;
}
