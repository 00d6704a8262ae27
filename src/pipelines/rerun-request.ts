// A re-run of a recorded run, as a request on its Pipeline (src/contracts/pipeline-request.ts): the
// same commit and ref (branch or tag), a new id; the driver records `rerunOf`.
import type { RunRequest } from '../contracts/pipeline-request.ts';
import type { RunRecord } from '../ports/store.ts';

/** The request for a re-run of `run`, asked by `by` at `now`. */
export function rerunRequest(
  run: Pick<RunRecord, 'id' | 'branch' | 'tag' | 'revision'>,
  by: string,
  now: Date,
): RunRequest {
  return {
    id: `rerun-${run.id}-${String(now.getTime())}`,
    kind: 'rerun',
    ...(run.branch === undefined
      ? run.tag === undefined
        ? {}
        : { ref: `refs/tags/${run.tag}` }
      : { ref: `refs/heads/${run.branch}` }),
    revision: run.revision,
    rerunOf: run.id,
    by,
    at: now.toISOString(),
  };
}
