/**
 * The RunExecutor port: runs a pipeline run's Pod (src/core/run-pod.ts) to its end on a cluster and
 * reports each step; or adopts the Pod of a run another process started (the driver restarted) and
 * follows it from where that one left off. Adapter: src/adapters/kube/pod-run.ts (KubeRunExecutor).
 */
import type { KubeObject } from '../core/resource.ts';
import type { PodRunState, StepState } from '../core/run-steps.ts';

export interface RunExecutionOptions {
  /** Each step's own time limit in milliseconds, by step name. */
  readonly stepTimeoutsMs: Readonly<Record<string, number>>;
  /** Values masked in every log line. */
  readonly masked: readonly string[];
  /** Each line a step writes, already masked. */
  readonly onLog: (step: string, line: string) => void;
  readonly onState: (state: PodRunState) => void;
  /** Aborting cancels the run. */
  readonly signal?: AbortSignal;
  /**
   * Aborting stops following the run and leaves its Pod going (this driver stops; the next one adopts
   * it): the execution ends `Detached`, and no line is reported after it.
   */
  readonly detach?: AbortSignal;
}

export interface AdoptOptions extends RunExecutionOptions {
  /** Lines already recorded, by step: the first this many lines of each step's log are not reported again. */
  readonly skipLines: Readonly<Record<string, number>>;
}

/** The run whose Pod is adopted: found by its labels (`capstan.dev/run`, `capstan.dev/pipeline`). */
export interface AdoptedRun {
  readonly namespace: string;
  readonly pipeline: string;
  readonly runId: string;
}

export interface RunExecution {
  readonly outcome: 'Succeeded' | 'Failed' | 'Cancelled' | 'Detached';
  readonly steps: readonly StepState[];
  readonly reason?: string;
  readonly message?: string;
}

/**
 * A line an executor writes itself into a step's log (not the step's own output): the step's log could
 * not be read. Not one of the step's lines when an adopting driver counts what to skip.
 */
export const UNREADABLE_LOG_PREFIX = 'capstan: the log of step ';

/** The reason of an adopted run whose Pod was gone (deleted, or its node lost, while no driver ran). */
export const POD_GONE_REASON = 'PodGone';

export interface RunExecutor {
  execute(pod: KubeObject, options: RunExecutionOptions): Promise<RunExecution>;
  /**
   * Follows the Pod of a run a process before this one started, to its end (or its cancel): it ends
   * as `execute` would, the lines after `skipLines` reported. No Pod: `Failed`, reason `PodGone`.
   * Never creates a Pod.
   */
  adopt(run: AdoptedRun, options: AdoptOptions): Promise<RunExecution>;
}
