/**
 * Pipelines that poll their repository (`spec.pollInterval`) instead of, or beside, webhooks: which refs
 * moved since the last look, as run requests to the controller. The driver (src/main/pipelines.ts)
 * ticks it.
 */
import type { RunRequest } from '../contracts/pipeline-request.ts';
import { parseDuration } from '../core/duration.ts';
import { messageOf } from '../core/errors.ts';
import type { Logger } from '../ports/logger.ts';
import type { PipelineRef } from '../ports/pipelines.ts';
import type { PipelineController } from './pipeline-controller.ts';

/**
 * `spec.pollInterval`: every branch and tag of the repository is looked at (one ls-remote) that often;
 * a ref that is new or points to a new commit is a push (trigger `poll`) whose changed files are
 * unknown (path filters let it run), and the controller asks the file's triggers at that commit, as
 * for a webhook's push (a branch or tag they do not name is skipped there). The first look only
 * remembers; a ref that appears later is new. Deleted refs are forgotten.
 */
export class PipelinePolls {
  readonly #controller: PipelineController;
  readonly #log: Logger | undefined;
  readonly #last = new Map<string, { at: number; refs: ReadonlyMap<string, string> | undefined }>();

  constructor(controller: PipelineController, log: Logger | undefined) {
    this.#controller = controller;
    this.#log = log;
  }

  async tick(now: number): Promise<void> {
    for (const pipeline of this.#controller.pipelines()) {
      if (pipeline.spec.pollInterval === undefined || pipeline.spec.suspend) continue;
      const key = `${pipeline.namespace}/${pipeline.name}`;
      const last = this.#last.get(key);
      if (last && now - last.at < parseDuration(pipeline.spec.pollInterval)) continue;
      this.#last.set(key, { at: now, refs: last?.refs });
      await this.#poll(pipeline, key, last?.refs, now).catch((error: unknown) => {
        this.#log?.({ level: 'warn', msg: 'pipeline poll failed', pipeline: key, error: messageOf(error) });
      });
    }
  }

  async #poll(
    pipeline: PipelineRef,
    key: string,
    known: ReadonlyMap<string, string> | undefined,
    now: number,
  ): Promise<void> {
    const refs = await this.#controller.refs(pipeline);
    this.#last.set(key, { at: now, refs });
    if (known === undefined) {
      // The first look: what a push must move from to start a run.
      this.#log?.({ level: 'info', msg: 'pipeline polled', pipeline: key, refs: refs.size });
      return;
    }
    for (const [ref, sha] of movedRefs(known, refs)) {
      const request: RunRequest = {
        id: `poll-${key}-${ref}-${sha}`.slice(0, 128),
        kind: 'push',
        ref,
        revision: sha,
        by: 'poll',
        at: new Date(now).toISOString(),
      };
      await this.#controller.request(pipeline.namespace, pipeline.name, request, 'poll');
    }
  }
}

/** Branches and tags that are new in `now` or point elsewhere than in `before`. */
function movedRefs(
  before: ReadonlyMap<string, string>,
  now: ReadonlyMap<string, string>,
): [string, string][] {
  return [...now].filter(
    ([ref, sha]) =>
      (ref.startsWith('refs/heads/') || ref.startsWith('refs/tags/')) && before.get(ref) !== sha,
  );
}
