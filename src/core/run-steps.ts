/**
 * What a run Pod's status says of each step, and of the run: a pure function of the Pod (as kstatus
 * reads objects), table-tested with captured statuses. The checkout counts as a step.
 */

export const STEP_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Skipped'] as const;
export type StepPhase = (typeof STEP_PHASES)[number];

export interface StepState {
  readonly name: string;
  readonly phase: StepPhase;
  readonly exitCode?: number;
  /** Why it failed, in the kubelet's words (OOMKilled, Error, DeadlineExceeded...). */
  readonly reason?: string;
  /**
   * What the step's container left as its termination message (an image step: the digest it pushed,
   * or buildctl's last error, such as the registry's refusal). At most 4 KiB (the kubelet's limit).
   */
  readonly message?: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
}

export type PodRunPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

export interface PodRunState {
  readonly phase: PodRunPhase;
  /** Why the Pod failed as a whole (DeadlineExceeded, Evicted...), when it did. */
  readonly reason?: string;
  readonly message?: string;
  readonly steps: readonly StepState[];
}

/** The part of a Pod this reads (the API's JSON). */
export interface RunPodView {
  readonly spec?: {
    readonly initContainers?: readonly { readonly name: string }[];
    readonly containers?: readonly { readonly name: string }[];
  };
  readonly status?: {
    readonly phase?: string;
    readonly reason?: string;
    readonly message?: string;
    readonly initContainerStatuses?: readonly ContainerStatusView[];
    readonly containerStatuses?: readonly ContainerStatusView[];
  };
}

interface ContainerStatusView {
  readonly name: string;
  readonly state?: {
    readonly running?: { readonly startedAt?: string | Date };
    readonly terminated?: {
      readonly exitCode: number;
      readonly reason?: string;
      readonly message?: string;
      readonly startedAt?: string | Date;
      readonly finishedAt?: string | Date;
    };
    readonly waiting?: { readonly reason?: string };
  };
}

/** The steps (checkout first) and the run's phase, from the Pod. */
export function runPodState(pod: RunPodView): PodRunState {
  const names = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name);
  const statuses = new Map(
    [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].map((s) => [
      s.name,
      s,
    ]),
  );
  const podPhase = toPodPhase(pod.status?.phase);
  let failed = false;
  const steps = names.map((name): StepState => {
    const state = stepState(name, statuses.get(name), { after: failed, podPhase });
    if (state.phase === 'Failed') failed = true;
    return state;
  });
  const reason = pod.status?.reason;
  const message = pod.status?.message;
  return {
    phase: podPhase,
    ...(reason === undefined ? {} : { reason }),
    ...(message === undefined ? {} : { message }),
    steps,
  };
}

function toPodPhase(phase: string | undefined): PodRunPhase {
  return phase === 'Running' || phase === 'Succeeded' || phase === 'Failed' ? phase : 'Pending';
}

const iso = (time: string | Date | undefined) =>
  time === undefined ? undefined : typeof time === 'string' ? time : time.toISOString();

function stepState(
  name: string,
  status: ContainerStatusView | undefined,
  context: { after: boolean; podPhase: PodRunPhase },
): StepState {
  const terminated = status?.state?.terminated;
  if (terminated !== undefined) {
    const startedAt = iso(terminated.startedAt);
    const finishedAt = iso(terminated.finishedAt);
    return {
      name,
      phase: terminated.exitCode === 0 ? 'Succeeded' : 'Failed',
      exitCode: terminated.exitCode,
      ...(terminated.reason === undefined || terminated.exitCode === 0 ? {} : { reason: terminated.reason }),
      ...(terminated.message === undefined || terminated.message === ''
        ? {}
        : { message: terminated.message }),
      ...(startedAt === undefined ? {} : { startedAt }),
      ...(finishedAt === undefined ? {} : { finishedAt }),
    };
  }
  const running = status?.state?.running;
  if (running !== undefined && context.podPhase !== 'Failed') {
    const startedAt = iso(running.startedAt);
    return { name, phase: 'Running', ...(startedAt === undefined ? {} : { startedAt }) };
  }
  // A step after a failed one, or of a Pod that ended, never runs.
  if (context.after || context.podPhase === 'Failed' || context.podPhase === 'Succeeded')
    return { name, phase: 'Skipped' };
  return { name, phase: 'Pending' };
}

/** The step running now, if any. */
export function runningStep(state: PodRunState): StepState | undefined {
  return state.steps.find((s) => s.phase === 'Running');
}
