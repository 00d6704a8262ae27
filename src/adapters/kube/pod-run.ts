/**
 * Runs a pipeline run's Pod (src/core/run-pod.ts) and follows it to the end: creates it, reads its
 * status, follows each step's log as the step writes it (masked line by line), keeps each step's own
 * time limit (past it the Pod is deleted at once: the step is killed), and cancels by deleting the Pod
 * at once. The run's own limit is the Pod's activeDeadlineSeconds, kept by the kubelet. A driver that
 * stops detaches (the Pod goes on); the next one adopts the Pod (found by its run's labels) and follows
 * it from the lines the Store has.
 */
import { PassThrough } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { messageOf } from '../../core/errors.ts';
import { maskSecrets } from '../../core/log-mask.ts';
import { cacheClaimManifest, cacheClaimName } from '../../core/pipeline-cache.ts';
import type { KubeObject } from '../../core/resource.ts';
import { RUN_LABELS } from '../../core/run-pod.ts';
import { runPodState, runningStep, type PodRunState, type StepState } from '../../core/run-steps.ts';
import {
  POD_GONE_REASON,
  UNREADABLE_LOG_PREFIX,
  type AdoptedRun,
  type AdoptOptions,
  type RunExecution,
  type RunExecutionOptions,
  type RunExecutor,
} from '../../ports/run-executor.ts';

export interface PodRunOptions {
  readonly config: k8s.KubeConfig;
  /** The run Pod (runPodManifest). */
  readonly pod: KubeObject;
  /** Each step's own time limit in milliseconds, by container name. */
  readonly stepTimeoutsMs?: Readonly<Record<string, number>>;
  /** Values masked in every log line (maskableValues). */
  readonly masked?: readonly string[];
  /** Each line a step writes, masked, as it is written. */
  readonly onLog?: (step: string, line: string) => void;
  /** Each new state of the Pod's steps. */
  readonly onState?: (state: PodRunState) => void;
  /** Aborting cancels the run: the Pod is deleted at once. */
  readonly signal?: AbortSignal;
  /** Aborting stops following the run and leaves the Pod going (outcome Detached). */
  readonly detach?: AbortSignal;
  /** The first this many lines of each step's log are not reported (they were, to a driver before). */
  readonly skipLines?: Readonly<Record<string, number>>;
  /** How often the Pod's status is read. Default 500 ms. */
  readonly pollMs?: number;
  /** Leave the Pod when the run ends (default: delete it). */
  readonly keepPod?: boolean;
}

export type PodRunOutcome = 'Succeeded' | 'Failed' | 'Cancelled' | 'Detached';

export interface PodRunResult {
  readonly outcome: PodRunOutcome;
  readonly steps: readonly StepState[];
  /** Why it failed or ended: DeadlineExceeded (the run's limit), StepTimeout, Evicted, a step's exit. */
  readonly reason?: string;
  readonly message?: string;
}

/** Runs the Pod to its end (or its cancel) and reports each step. */
export async function runPod(options: PodRunOptions): Promise<PodRunResult> {
  const core = options.config.makeApiClient(k8s.CoreV1Api);
  const namespace = options.pod.metadata.namespace ?? 'default';
  const name = options.pod.metadata.name ?? '';
  const logs = new LogFollower(options, namespace, name);
  await ensureCacheClaims(core, options.pod, namespace);
  await core.createNamespacedPod({ namespace, body: options.pod as unknown as k8s.V1Pod });
  return followThenDelete(core, options, logs, { namespace, name });
}

export type AdoptPodOptions = Omit<PodRunOptions, 'pod'> & { readonly run: AdoptedRun };

/**
 * Follows the Pod of a run another process started (found by the run's labels) to its end, as runPod
 * does once it has made it; never makes one. No such Pod: the run failed, reason PodGone.
 */
export async function adoptPod(options: AdoptPodOptions): Promise<PodRunResult> {
  const core = options.config.makeApiClient(k8s.CoreV1Api);
  const { namespace, pipeline, runId } = options.run;
  const found = await core.listNamespacedPod({
    namespace,
    labelSelector: `${RUN_LABELS.run}=${runId},${RUN_LABELS.pipeline}=${pipeline}`,
  });
  const pod = found.items.find((p) => p.metadata?.deletionTimestamp === undefined);
  const name = pod?.metadata?.name;
  if (name === undefined) {
    return {
      outcome: 'Failed',
      steps: [],
      reason: POD_GONE_REASON,
      message: `the run's Pod (labels ${RUN_LABELS.run}=${runId}) was gone when Capstan came back to follow it: it was deleted, or its node was lost, while no process drove runs. Re-run it (capstan pipeline rerun).`,
    };
  }
  return followThenDelete(core, options, new LogFollower(options, namespace, name), { namespace, name });
}

/** Follows the Pod to its end; then deletes it, unless it is kept or the run was detached. */
async function followThenDelete(
  core: k8s.CoreV1Api,
  options: Omit<PodRunOptions, 'pod'>,
  logs: LogFollower,
  pod: { namespace: string; name: string },
): Promise<PodRunResult> {
  let detached = false;
  try {
    const result = await followToEnd(core, options, logs, pod);
    detached = result.outcome === 'Detached';
    return result;
  } finally {
    if (options.keepPod !== true && !detached) await deletePodNow(core, pod.namespace, pod.name);
  }
}

/**
 * A run with caches mounts its Pipeline's cache claim (src/core/pipeline-cache.ts): made here when it is
 * not there yet, so that the Pod does not wait for a claim no one makes.
 */
async function ensureCacheClaims(core: k8s.CoreV1Api, pod: KubeObject, namespace: string): Promise<void> {
  const volumes =
    (pod['spec'] as { volumes?: { persistentVolumeClaim?: { claimName?: string } }[] } | undefined)
      ?.volumes ?? [];
  const pipeline = pod.metadata.labels?.[RUN_LABELS.pipeline];
  for (const volume of volumes) {
    const claim = volume.persistentVolumeClaim?.claimName;
    if (claim === undefined || pipeline === undefined || claim !== cacheClaimName(pipeline)) continue;
    try {
      await core.createNamespacedPersistentVolumeClaim({
        namespace,
        body: cacheClaimManifest(namespace, pipeline),
      });
    } catch (error) {
      if (error instanceof k8s.ApiException && error.code === 409) continue;
      if (error instanceof k8s.ApiException && error.code === 403) {
        throw new Error(
          `the cache claim PersistentVolumeClaim/${namespace}/${claim} is missing and may not be created by Capstan: create it (docs/pipelines.md, "Caches") or let Capstan create PersistentVolumeClaims there`,
          { cause: error },
        );
      }
      throw error;
    }
  }
}

/** Reads the Pod until it ends, a step outlives its limit, or the run is cancelled. */
async function followToEnd(
  core: k8s.CoreV1Api,
  options: Omit<PodRunOptions, 'pod'>,
  logs: LogFollower,
  pod: { namespace: string; name: string },
): Promise<PodRunResult> {
  let last = '';
  const detached = (steps: readonly StepState[]): PodRunResult => {
    logs.mute();
    return { outcome: 'Detached', steps, reason: 'Detached', message: 'no longer followed by this process' };
  };
  for (;;) {
    if (aborted(options.detach)) return detached([]);
    if (options.signal?.aborted === true) {
      await deletePodNow(core, pod.namespace, pod.name);
      const state = await readState(core, pod, options.masked ?? []).catch(() => undefined);
      return {
        outcome: 'Cancelled',
        steps: state?.steps ?? [],
        reason: 'Cancelled',
        message: 'the run was cancelled',
      };
    }
    const state = await readState(core, pod, options.masked ?? []);
    const key = JSON.stringify(state);
    if (key !== last) options.onState?.(state);
    last = key;
    if (aborted(options.detach)) return detached(state.steps);
    for (const step of state.steps)
      if (step.phase !== 'Pending' && step.phase !== 'Skipped') logs.follow(step.name);
    const overdue = overdueStep(state, options.stepTimeoutsMs ?? {});
    if (overdue !== undefined) {
      await deletePodNow(core, pod.namespace, pod.name);
      await logs.settled();
      return timedOut(state, overdue, options.stepTimeoutsMs?.[overdue.name] ?? 0);
    }
    if (state.phase === 'Succeeded' || state.phase === 'Failed') {
      await logs.settled();
      return ended(state);
    }
    await sleep(options.pollMs ?? 500, options.signal, options.detach);
  }
}

async function readState(
  core: k8s.CoreV1Api,
  pod: { namespace: string; name: string },
  masked: readonly string[],
): Promise<PodRunState> {
  const live = await core.readNamespacedPod(pod);
  const state = runPodState(JSON.parse(JSON.stringify(live)) as Parameters<typeof runPodState>[0]);
  // A step's termination message is shown like its log: masked.
  return {
    ...state,
    steps: state.steps.map((s) =>
      s.message === undefined ? s : { ...s, message: maskSecrets(s.message, masked) },
    ),
  };
}

/** The running step past its own limit, if any. */
function overdueStep(state: PodRunState, limits: Readonly<Record<string, number>>): StepState | undefined {
  const step = runningStep(state);
  const limit = step === undefined ? undefined : limits[step.name];
  if (step?.startedAt === undefined || limit === undefined) return undefined;
  return Date.now() - Date.parse(step.startedAt) > limit ? step : undefined;
}

function timedOut(state: PodRunState, step: StepState, limitMs: number): PodRunResult {
  const message = `step ${step.name} ran past its time limit of ${limitMs / 1000} s and was killed`;
  return {
    outcome: 'Failed',
    reason: 'StepTimeout',
    message,
    steps: state.steps.map((s) =>
      s.name === step.name
        ? { ...s, phase: 'Failed', reason: 'StepTimeout' }
        : s.phase === 'Pending'
          ? { ...s, phase: 'Skipped' }
          : s,
    ),
  };
}

function ended(state: PodRunState): PodRunResult {
  const failed = state.steps.find((s) => s.phase === 'Failed');
  const reason = state.reason ?? failed?.reason;
  const message =
    state.message ??
    (failed === undefined
      ? undefined
      : `step ${failed.name} failed (exit code ${failed.exitCode ?? '?'})${failed.message === undefined ? '' : `: ${failed.message.trim()}`}`);
  return {
    outcome: state.phase === 'Succeeded' ? 'Succeeded' : 'Failed',
    steps: state.steps,
    ...(reason === undefined ? {} : { reason }),
    ...(message === undefined ? {} : { message }),
  };
}

/** Deletes the Pod without a grace period and waits until the API server no longer has it. */
async function deletePodNow(core: k8s.CoreV1Api, namespace: string, name: string): Promise<void> {
  try {
    await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
  } catch (error) {
    if (isNotFound(error)) return;
    throw error;
  }
  for (let i = 0; i < 120; i++) {
    const gone = await core.readNamespacedPod({ namespace, name }).then(
      () => false,
      (error: unknown) => isNotFound(error),
    );
    if (gone) return;
    await sleep(250);
  }
}

function isNotFound(error: unknown): boolean {
  return (error as { code?: unknown }).code === 404;
}

/** Read through a call: an abort may come while the loop awaits. */
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function sleep(ms: number, ...signals: (AbortSignal | undefined)[]): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    for (const signal of signals)
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
  });
}

/**
 * Follows each step's log once, from its start, splitting it into masked lines; the first
 * `skipLines[step]` lines are not reported (a driver before this one reported them).
 */
class LogFollower {
  readonly #options: Omit<PodRunOptions, 'pod'>;
  readonly #namespace: string;
  readonly #pod: string;
  readonly #streams = new Map<string, Promise<void>>();
  readonly #log: k8s.Log;
  #muted = false;

  constructor(options: Omit<PodRunOptions, 'pod'>, namespace: string, pod: string) {
    this.#options = options;
    this.#namespace = namespace;
    this.#pod = pod;
    this.#log = new k8s.Log(options.config);
  }

  follow(step: string): void {
    if (this.#streams.has(step)) return;
    this.#streams.set(step, this.#stream(step));
  }

  /** No line is reported from now on (the run is detached; its streams end with its containers). */
  mute(): void {
    this.#muted = true;
  }

  /** Waits for the streams to end (the containers have ended, or the Pod is gone); at most 10 s. */
  async settled(): Promise<void> {
    await Promise.race([Promise.allSettled(this.#streams.values()), sleep(10_000)]);
  }

  async #stream(step: string): Promise<void> {
    const out = new PassThrough();
    let pending = '';
    let skip = this.#options.skipLines?.[step] ?? 0;
    const emit = (line: string) => {
      if (this.#muted) return;
      if (skip > 0) {
        skip--;
        return;
      }
      this.#options.onLog?.(step, maskSecrets(line, this.#options.masked ?? []));
    };
    out.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) emit(line);
    });
    const done = new Promise<void>((resolve) => {
      out.on('end', resolve);
      out.on('close', resolve);
      // Aborting the request (a cancel) destroys the stream with an AbortError: the log ends there.
      out.on('error', () => {
        resolve();
      });
    });
    try {
      // Never aborted from here: aborting the request rejects inside the client where nothing catches
      // it. A cancel deletes the Pod, and the API server ends the stream.
      await this.#log.log(this.#namespace, this.#pod, step, out, { follow: true });
      await done;
    } catch (error) {
      // Not the step's own line: reported past the lines to skip, and never counted among them.
      if (!this.#muted)
        this.#options.onLog?.(step, `${UNREADABLE_LOG_PREFIX}${step} could not be read: ${messageOf(error)}`);
    }
    if (pending !== '') emit(pending);
  }
}

/** The RunExecutor port on a cluster's API. */
export class KubeRunExecutor implements RunExecutor {
  readonly #config: k8s.KubeConfig;
  readonly #pollMs: number;

  constructor(config: k8s.KubeConfig, options: { readonly pollMs?: number } = {}) {
    this.#config = config;
    this.#pollMs = options.pollMs ?? 500;
  }

  execute(pod: KubeObject, options: RunExecutionOptions): Promise<RunExecution> {
    return runPod({ config: this.#config, pod, pollMs: this.#pollMs, ...options });
  }

  adopt(run: AdoptedRun, options: AdoptOptions): Promise<RunExecution> {
    return adoptPod({ config: this.#config, run, pollMs: this.#pollMs, ...options });
  }
}
