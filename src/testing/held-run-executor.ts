/**
 * A RunExecutor for tests of what starts, queues and cancels runs (the pipeline controller), where the
 * run's Pod itself is not the subject: each run is held until the test ends it, or until it is
 * cancelled (its signal aborts). Runs of real Pods on the real node: KubeRunExecutor, in
 * test/integration/pipeline-run.node.test.ts and pipeline-triggers.node.test.ts.
 */
import type { KubeObject } from '../core/resource.ts';
import type { RunExecution, RunExecutionOptions, RunExecutor } from '../ports/run-executor.ts';

export interface HeldRun {
  readonly pod: KubeObject;
  readonly options: RunExecutionOptions;
  /** Ends the run as `outcome`, each step as given. */
  end(execution: RunExecution): void;
  /** Whether the run was cancelled (its signal aborted). */
  readonly cancelled: boolean;
}

export class HeldRunExecutor implements RunExecutor {
  /** Every run asked for, in order, by run id (the Pod's `capstan.dev/run` label). */
  readonly runs = new Map<string, HeldRun>();

  execute(pod: KubeObject, options: RunExecutionOptions): Promise<RunExecution> {
    const id = pod.metadata.labels?.['capstan.dev/run'] ?? '';
    return new Promise<RunExecution>((resolve) => {
      const run = {
        pod,
        options,
        cancelled: false,
        end: (execution: RunExecution) => {
          resolve(execution);
        },
      };
      const cancel = () => {
        run.cancelled = true;
        resolve({ outcome: 'Cancelled', steps: [], reason: 'Cancelled', message: 'the run was cancelled' });
      };
      this.runs.set(id, run);
      if (options.signal?.aborted === true) cancel();
      else options.signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  /** Ends a held run as succeeded. */
  succeed(id: string): void {
    const run = this.runs.get(id);
    if (run === undefined) throw new Error(`no run ${id} was started`);
    run.end({ outcome: 'Succeeded', steps: [] });
  }
}
