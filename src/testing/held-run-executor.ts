/**
 * A RunExecutor for tests of what starts, queues and cancels runs (the pipeline controller), where the
 * run's Pod itself is not the subject: each run is held until the test ends it, or until it is
 * cancelled (its signal aborts); a run may be scripted to end as soon as it starts. As KubeRunExecutor,
 * it reports the Pod's state when the run starts (every step Pending) and when it ends. Both pass
 * src/testing/run-executor-contract.ts (test/unit/testing/held-run-executor.test.ts, and
 * test/integration/run-executor.test.ts on a real API server). Runs of real Pods on the real node:
 * KubeRunExecutor, in test/integration/pipeline-run.node.test.ts and pipeline-triggers.node.test.ts.
 */
import type { KubeObject } from '../core/resource.ts';
import { runPodState, type StepState } from '../core/run-steps.ts';
import type { RunExecution, RunExecutionOptions, RunExecutor } from '../ports/run-executor.ts';

export interface HeldRun {
  readonly pod: KubeObject;
  readonly options: RunExecutionOptions;
  /** Ends the run as `outcome`, each step as given. */
  end(execution: RunExecution): void;
  /** Whether the run was cancelled (its signal aborted). */
  readonly cancelled: boolean;
}

const runIdOf = (pod: KubeObject) => pod.metadata.labels?.['capstan.dev/run'] ?? '';

/** The steps of a run Pod (checkout first), each as `phase`. */
export function stepsOf(pod: KubeObject, phase: StepState['phase']): StepState[] {
  return runPodState(pod as Parameters<typeof runPodState>[0]).steps.map((s) => ({ ...s, phase }));
}

export class HeldRunExecutor implements RunExecutor {
  /** Every run asked for, in order, by run id (the Pod's `capstan.dev/run` label). */
  readonly runs = new Map<string, HeldRun>();
  readonly #scripted = new Map<string, RunExecution>();

  execute(pod: KubeObject, options: RunExecutionOptions): Promise<RunExecution> {
    const id = runIdOf(pod);
    return new Promise<RunExecution>((resolve) => {
      let ended = false;
      const run = {
        pod,
        options,
        cancelled: false,
        end: (execution: RunExecution) => {
          if (ended) return;
          ended = true;
          if (execution.outcome !== 'Cancelled')
            options.onState({ phase: execution.outcome, steps: execution.steps });
          resolve(execution);
        },
      };
      const cancel = () => {
        run.cancelled = true;
        run.end({ outcome: 'Cancelled', steps: [], reason: 'Cancelled', message: 'the run was cancelled' });
      };
      this.runs.set(id, run);
      if (options.signal?.aborted === true) {
        cancel();
        return;
      }
      options.onState(runPodState(pod as Parameters<typeof runPodState>[0]));
      options.signal?.addEventListener('abort', cancel, { once: true });
      const scripted = this.#scripted.get(id);
      if (scripted !== undefined) run.end(scripted);
    });
  }

  /** The run with this id ends as `execution` as soon as it starts. */
  script(id: string, execution: RunExecution): void {
    this.#scripted.set(id, execution);
  }

  /** Ends a held run as succeeded, every step Succeeded. */
  succeed(id: string): void {
    const run = this.runs.get(id);
    if (run === undefined) throw new Error(`no run ${id} was started`);
    run.end({ outcome: 'Succeeded', steps: stepsOf(run.pod, 'Succeeded') });
  }
}
