/**
 * The RunExecutor port: runs a pipeline run's Pod (src/core/run-pod.ts) to its end on a cluster and
 * reports each step. Adapter: src/adapters/kube/pod-run.ts (KubeRunExecutor).
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
}

export interface RunExecution {
  readonly outcome: 'Succeeded' | 'Failed' | 'Cancelled';
  readonly steps: readonly StepState[];
  readonly reason?: string;
  readonly message?: string;
}

export interface RunExecutor {
  execute(pod: KubeObject, options: RunExecutionOptions): Promise<RunExecution>;
}
