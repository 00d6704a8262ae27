/**
 * The contract every RunExecutor passes (DESIGN.md, "Tests": one contract suite per port, run against
 * the real adapter and any fake): a run's outcome and its steps in order when it succeeds or fails, the
 * state reported while it runs, a cancel (a signal aborted before or during the run), and adoption: a
 * run whose driver detached goes on and is followed again (to its cancel, or to the end it reached
 * while no one followed), and a run with no Pod is Failed, reason PodGone. The
 * HeldRunExecutor (held-run-executor.ts) runs it in the unit tier
 * (test/unit/testing/held-run-executor.test.ts); KubeRunExecutor against a real API server, its Pods
 * ended by kwok's stages (test/integration/run-executor.test.ts). What a step writes (its log) needs
 * containers that run: the node tier (test/integration/pipeline-run.node.test.ts).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { KubeObject } from '../core/resource.ts';
import { runPodManifest } from '../core/run-pod.ts';
import type { PodRunState } from '../core/run-steps.ts';
import type { RunExecutionOptions, RunExecutor } from '../ports/run-executor.ts';

/** How a run's Pod is to end: its steps all succeed, its last step fails, or it runs until cancelled. */
export type RunEnding = 'succeeds' | 'fails' | 'runs';

export interface RunExecutorHarness {
  readonly executor: RunExecutor;
  /** The namespace run Pods go to; it has the ServiceAccount `capstan-run`. */
  readonly namespace: string;
  /** Makes `pod` (a run Pod of runPodManifest) end as `ending` once it runs; returns the Pod to execute. */
  prepare(pod: KubeObject, ending: RunEnding): Promise<KubeObject>;
}

export interface RunExecutorContractOptions {
  readonly open: (t: {
    after(fn: () => Promise<void>): void;
    readonly name: string;
  }) => Promise<RunExecutorHarness>;
}

/** The run Pod of a two-step pipeline (checkout, build, test), as the pipeline controller makes it. */
export function contractRunPod(namespace: string, runId: string): KubeObject {
  return runPodManifest({
    namespace,
    pipeline: 'web',
    runId,
    repoURL: 'https://git.example.com/team/web.git',
    revision: 'a'.repeat(40),
    capstanImage: 'capstan@sha256:' + '0'.repeat(64),
    steps: [
      { name: 'build', image: 'busybox', commands: ['true'] },
      { name: 'test', image: 'busybox', commands: ['true'] },
    ],
    timeoutSeconds: 600,
    serviceAccountName: 'capstan-run',
  });
}

/** Options that record each state reported; `firstState` resolves with the first. */
function recording(
  signal?: AbortSignal,
  detach?: AbortController,
): {
  options: RunExecutionOptions;
  states: PodRunState[];
  firstState: Promise<PodRunState>;
} {
  const states: PodRunState[] = [];
  let first: (state: PodRunState) => void = () => undefined;
  const firstState = new Promise<PodRunState>((resolve) => {
    first = resolve;
  });
  return {
    states,
    firstState,
    options: {
      stepTimeoutsMs: {},
      masked: [],
      onLog: () => undefined,
      onState: (state) => {
        states.push(state);
        first(state);
        // Detached as soon as it is seen going: the driver stops.
        detach?.abort();
      },
      ...(signal === undefined ? {} : { signal }),
      ...(detach === undefined ? {} : { detach: detach.signal }),
    },
  };
}

const adopted = (namespace: string, pod: KubeObject) => ({
  namespace,
  pipeline: pod.metadata.labels?.['capstan.dev/pipeline'] ?? '',
  runId: pod.metadata.labels?.['capstan.dev/run'] ?? '',
});

let runs = 0;
const nextRunId = () => `c${process.pid}-${++runs}`;

export function runExecutorContract(name: string, options: RunExecutorContractOptions): void {
  it(`${name}: a run whose steps all succeed is Succeeded, every step in order, the last state reported Succeeded`, async (t) => {
    const h = await options.open(t);
    const pod = await h.prepare(contractRunPod(h.namespace, nextRunId()), 'succeeds');
    const { options: runOptions, states } = recording();
    const execution = await h.executor.execute(pod, runOptions);
    assert.equal(execution.outcome, 'Succeeded', execution.message);
    assert.deepEqual(
      execution.steps.map((s) => `${s.name} ${s.phase}`),
      ['checkout Succeeded', 'build Succeeded', 'test Succeeded'],
    );
    assert.ok(states.length > 0, 'the state was reported');
    assert.equal(states.at(-1)?.phase, 'Succeeded');
  });

  it(`${name}: a run whose last step fails is Failed, naming the step and its exit code`, async (t) => {
    const h = await options.open(t);
    const pod = await h.prepare(contractRunPod(h.namespace, nextRunId()), 'fails');
    const execution = await h.executor.execute(pod, recording().options);
    assert.equal(execution.outcome, 'Failed');
    assert.deepEqual(
      execution.steps.map((s) => `${s.name} ${s.phase}`),
      ['checkout Succeeded', 'build Succeeded', 'test Failed'],
    );
    const failed = execution.steps.at(-1);
    assert.ok(failed?.exitCode !== undefined && failed.exitCode !== 0, 'the failed step has its exit code');
    assert.match(execution.message ?? '', /step test failed \(exit code \d+\)/);
  });

  it(`${name}: aborting the signal while the run goes cancels it`, async (t) => {
    const h = await options.open(t);
    const pod = await h.prepare(contractRunPod(h.namespace, nextRunId()), 'runs');
    const abort = new AbortController();
    const { options: runOptions, firstState } = recording(abort.signal);
    const running = h.executor.execute(pod, runOptions);
    const state = await firstState;
    assert.ok(state.phase === 'Pending' || state.phase === 'Running', `reported ${state.phase} first`);
    abort.abort();
    const execution = await running;
    assert.equal(execution.outcome, 'Cancelled');
    assert.equal(execution.reason, 'Cancelled');
  });

  it(`${name}: a run whose signal is already aborted is Cancelled`, async (t) => {
    const h = await options.open(t);
    const pod = await h.prepare(contractRunPod(h.namespace, nextRunId()), 'runs');
    const execution = await h.executor.execute(pod, recording(AbortSignal.abort()).options);
    assert.equal(execution.outcome, 'Cancelled');
  });

  adoptionContract(name, options);
}

/** Adoption: a run whose driver stopped, followed by the next. */
function adoptionContract(name: string, options: RunExecutorContractOptions): void {
  it(`${name}: a run detached while it goes keeps going; adopted, it is followed, and a cancel ends it`, async (t) => {
    const h = await options.open(t);
    const pod = await h.prepare(contractRunPod(h.namespace, nextRunId()), 'runs');
    const detached = await h.executor.execute(pod, recording(undefined, new AbortController()).options);
    assert.equal(detached.outcome, 'Detached');
    const abort = new AbortController();
    const { options: runOptions, firstState } = recording(abort.signal);
    const following = h.executor.adopt(adopted(h.namespace, pod), { ...runOptions, skipLines: {} });
    const state = await firstState;
    assert.ok(state.phase === 'Pending' || state.phase === 'Running', `reported ${state.phase} first`);
    abort.abort();
    const execution = await following;
    assert.equal(execution.outcome, 'Cancelled');
    const again = await h.executor.adopt(adopted(h.namespace, pod), {
      ...recording().options,
      skipLines: {},
    });
    assert.equal(again.outcome, 'Failed', 'the cancel deleted the Pod');
    assert.equal(again.reason, 'PodGone');
  });

  it(`${name}: a run that ended while no one followed it is adopted with its end`, async (t) => {
    const h = await options.open(t);
    const pod = await h.prepare(contractRunPod(h.namespace, nextRunId()), 'succeeds');
    const detached = await h.executor.execute(pod, recording(undefined, new AbortController()).options);
    assert.equal(detached.outcome, 'Detached');
    const { options: runOptions, states } = recording();
    const execution = await h.executor.adopt(adopted(h.namespace, pod), { ...runOptions, skipLines: {} });
    assert.equal(execution.outcome, 'Succeeded', execution.message);
    assert.deepEqual(
      execution.steps.map((s) => `${s.name} ${s.phase}`),
      ['checkout Succeeded', 'build Succeeded', 'test Succeeded'],
    );
    assert.equal(states.at(-1)?.phase, 'Succeeded');
  });

  it(`${name}: adopting a run whose Pod is gone fails it, reason PodGone`, async (t) => {
    const h = await options.open(t);
    const pod = contractRunPod(h.namespace, nextRunId());
    const execution = await h.executor.adopt(adopted(h.namespace, pod), {
      ...recording().options,
      skipLines: {},
    });
    assert.equal(execution.outcome, 'Failed');
    assert.equal(execution.reason, 'PodGone');
    assert.match(execution.message ?? '', /gone/);
  });
}
