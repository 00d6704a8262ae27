/**
 * The order of a pipeline run's phases (docs/pipelines.md, "How a run goes"): a run waits for
 * approval, is queued, runs, and ends (Succeeded, Failed or Cancelled). Its record only ever moves
 * forward: two writes that race (the driver's Running and an older Queued, a cancel and the end a Pod
 * reached) never take a run back to an earlier phase, and an ended run stays as it ended.
 */

/** The phases of contracts/pipeline.ts RUN_PHASES (core imports only core; the Store's type is that list). */
export type RunPhase = 'WaitingForApproval' | 'Queued' | 'Running' | 'Succeeded' | 'Failed' | 'Cancelled';

const RANK: Record<RunPhase, number> = {
  WaitingForApproval: 0,
  Queued: 1,
  Running: 2,
  Succeeded: 3,
  Failed: 3,
  Cancelled: 3,
};

/** The phases a run ends in. */
export const ENDED_RUN_PHASES: readonly RunPhase[] = ['Succeeded', 'Failed', 'Cancelled'];

export function isEndedRunPhase(phase: RunPhase): boolean {
  return RANK[phase] === 3;
}

/** Whether a run in phase `from` may be moved to `to`: the same phase, or a later one; never out of an end. */
export function runPhaseMayMove(from: RunPhase, to: RunPhase): boolean {
  if (from === to) return true;
  if (isEndedRunPhase(from)) return false;
  return RANK[to] > RANK[from];
}

/** Whether a status naming phase `written` of a run is behind the run's phase `current`. */
export function runPhaseBehind(written: RunPhase, current: RunPhase): boolean {
  return RANK[written] < RANK[current];
}
