/**
 * A RunExecutor for tests of what starts, queues and cancels runs (the pipeline controller), where the
 * run's Pod itself is not the subject: each run is held until the test ends it, or until it is
 * cancelled (its signal aborts); a run may be scripted to end as soon as it starts. As KubeRunExecutor,
 * it reports the Pod's state when the run starts (every step Pending) and when it ends. A run whose
 * driver detaches goes on held (as its Pod would), may end meanwhile, and is followed again by `adopt`;
 * `lose` plays a Pod deleted while no driver followed it. Both pass src/testing/run-executor-contract.ts
 * (test/unit/testing/held-run-executor.test.ts, and test/integration/run-executor.test.ts on a real API
 * server). Runs of real Pods on the real node: KubeRunExecutor, in
 * test/integration/pipeline-run.node.test.ts.
 */
import type { KubeObject } from '../core/resource.ts';
import { runPodState, type StepState } from '../core/run-steps.ts';
import {
  POD_GONE_REASON,
  type AdoptedRun,
  type AdoptOptions,
  type RunExecution,
  type RunExecutionOptions,
  type RunExecutor,
} from '../ports/run-executor.ts';

export interface HeldRun {
  readonly pod: KubeObject;
  /** The options of the driver that follows it now (or followed it last). */
  readonly options: RunExecutionOptions;
  /** Ends the run as `outcome`, each step as given (while no driver follows it: kept for the next). */
  end(execution: RunExecution): void;
  /** Whether the run was cancelled (its signal aborted). */
  readonly cancelled: boolean;
  /** Whether a driver follows it now (false after a detach, until an adopt). */
  readonly followed: boolean;
  /** How many times a driver adopted it. */
  readonly adoptions: number;
}

const runIdOf = (pod: KubeObject) => pod.metadata.labels?.['capstan.dev/run'] ?? '';

/** The steps of a run Pod (checkout first), each as `phase`. */
export function stepsOf(pod: KubeObject, phase: StepState['phase']): StepState[] {
  return runPodState(pod as Parameters<typeof runPodState>[0]).steps.map((s) => ({ ...s, phase }));
}

type Ended = Exclude<RunExecution['outcome'], 'Detached'>;

class Held implements HeldRun {
  readonly pod: KubeObject;
  options: RunExecutionOptions;
  cancelled = false;
  adoptions = 0;
  /** Its end was told to a driver, which deleted the Pod. */
  gone = false;
  #follower: ((execution: RunExecution) => void) | undefined;
  #result: (RunExecution & { outcome: Ended }) | undefined;

  constructor(pod: KubeObject, options: RunExecutionOptions) {
    this.pod = pod;
    this.options = options;
  }

  get followed(): boolean {
    return this.#follower !== undefined;
  }

  end(execution: RunExecution): void {
    if (this.#result !== undefined || execution.outcome === 'Detached') return;
    this.#result = { ...execution, outcome: execution.outcome };
    this.#report();
  }

  /** A driver follows the run from now: told its end (at once when it ended while no one followed). */
  attach(options: RunExecutionOptions, resolve: (execution: RunExecution) => void, first: boolean): void {
    this.options = options;
    this.#follower = resolve;
    if (this.#result !== undefined) {
      this.#report();
      return;
    }
    if (options.signal?.aborted === true) {
      this.#cancel();
      return;
    }
    if (first) options.onState(runPodState(this.pod as Parameters<typeof runPodState>[0]));
    else options.onState({ phase: 'Running', steps: stepsOf(this.pod, 'Running') });
    if (options.detach?.aborted === true) {
      this.#detach();
      return;
    }
    options.signal?.addEventListener(
      'abort',
      () => {
        this.#cancel();
      },
      { once: true },
    );
    options.detach?.addEventListener(
      'abort',
      () => {
        this.#detach();
      },
      { once: true },
    );
  }

  #cancel(): void {
    if (this.#follower === undefined) return;
    this.cancelled = true;
    this.end({ outcome: 'Cancelled', steps: [], reason: 'Cancelled', message: 'the run was cancelled' });
  }

  #detach(): void {
    const follower = this.#follower;
    if (follower === undefined || this.#result !== undefined) return;
    this.#follower = undefined;
    follower({ outcome: 'Detached', steps: [], reason: 'Detached', message: 'no longer followed' });
  }

  #report(): void {
    const follower = this.#follower;
    const result = this.#result;
    if (follower === undefined || result === undefined) return;
    this.#follower = undefined;
    this.gone = true;
    if (result.outcome !== 'Cancelled') this.options.onState({ phase: result.outcome, steps: result.steps });
    follower(result);
  }
}

export class HeldRunExecutor implements RunExecutor {
  /** Every run asked for (every Pod made), in order, by run id (the Pod's `capstan.dev/run` label). */
  readonly runs = new Map<string, HeldRun>();
  /** The run id of every Pod made, in order (adopting makes none). */
  readonly started: string[] = [];
  readonly #held = new Map<string, Held>();
  readonly #scripted = new Map<string, RunExecution>();

  execute(pod: KubeObject, options: RunExecutionOptions): Promise<RunExecution> {
    const id = runIdOf(pod);
    const run = new Held(pod, options);
    this.runs.set(id, run);
    this.#held.set(id, run);
    this.started.push(id);
    return new Promise<RunExecution>((resolve) => {
      run.attach(options, resolve, true);
      const scripted = this.#scripted.get(id);
      if (scripted !== undefined) run.end(scripted);
    });
  }

  adopt(adopted: AdoptedRun, options: AdoptOptions): Promise<RunExecution> {
    const run = this.#held.get(adopted.runId);
    if (run === undefined || run.gone) {
      return Promise.resolve({
        outcome: 'Failed',
        steps: [],
        reason: POD_GONE_REASON,
        message: `the run's Pod (run ${adopted.runId}) was gone`,
      });
    }
    run.adoptions++;
    return new Promise<RunExecution>((resolve) => {
      run.attach(options, resolve, false);
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

  /** The run's Pod is gone (deleted, or its node lost) while no driver follows it. */
  lose(id: string): void {
    const run = this.#held.get(id);
    if (run?.followed === true) throw new Error(`run ${id} is followed: cancel it instead`);
    this.#held.delete(id);
  }
}
