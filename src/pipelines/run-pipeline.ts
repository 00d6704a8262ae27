/**
 * One pipeline run, from the pipeline file to its record: read the file (an invalid one fails the
 * run with its line, and nothing runs), record the run, build its Pod, run it, and keep its steps and
 * masked logs in the Store as they come. Or adopt a run a driver before this one started (its Pod
 * goes on; the lines the Store has are not stored again). Built on core, contracts and ports only (the cluster is the
 * RunExecutor port, the records the Store's RunStore).
 */
import { parsePipelineFile, PIPELINE_FILE_DEFAULTS, type PipelineFile } from '../contracts/pipeline-file.ts';
import type { ResolvedPipelineSpec } from '../contracts/pipeline.ts';
import { imageTarget, pushedImage } from '../core/build-step.ts';
import { parseDuration } from '../core/duration.ts';
import { CACHE_SAVE_CONTAINER } from '../core/pipeline-cache.ts';
import { CapstanError, messageOf } from '../core/errors.ts';
import { maskableValues } from '../core/log-mask.ts';
import { runPodManifest, CHECKOUT_CONTAINER, type RunPodInput } from '../core/run-pod.ts';
import type { StepState } from '../core/run-steps.ts';
import { forkPlan, withWithheld, type ForkPlan } from './fork-run.ts';
import { reproducibleImages, type PushedStepImage } from './reproducible-images.ts';
import type { ReproducibleAttestations } from '../ports/attestations.ts';
import {
  UNREADABLE_LOG_PREFIX,
  type RunExecution,
  type RunExecutionOptions,
  type RunExecutor,
} from '../ports/run-executor.ts';
import type { RunRecord, RunRecordPhase, RunStepRecord, RunStore, RunTrigger } from '../ports/store.ts';

export interface PipelineRunRequest {
  readonly namespace: string;
  readonly pipeline: string;
  readonly spec: ResolvedPipelineSpec;
  /** The pipeline file's text at the revision. */
  readonly fileText: string;
  readonly runId: string;
  readonly revision: string;
  readonly branch?: string;
  readonly tag?: string;
  readonly author?: string;
  readonly commitMessage?: string;
  readonly trigger: RunTrigger;
  readonly triggeredBy: string;
  readonly rerunOf?: string;
  readonly pullRequest?: RunRecord['pullRequest'];
  /**
   * The run's Queued record exists already (the controller queued it, queuedRecord): only its steps
   * are filled in. Default false: the record is created here.
   */
  readonly queued?: boolean;
}

export interface PipelineRunDeps {
  readonly store: RunStore;
  readonly executor: RunExecutor;
  /** A Secret's key in the Pipeline's namespace (for masking), or undefined when it is missing. */
  readonly readSecret: (namespace: string, name: string, key: string) => Promise<string | undefined>;
  readonly now: () => Date;
  /** What the run Pod needs of the cluster: Capstan's image, BuildKit, pull Secrets, placement, http checkouts. */
  readonly pod: Pick<
    RunPodInput,
    'capstanImage' | 'buildkit' | 'imagePullSecrets' | 'placement' | 'allowInsecureHttp'
  >;
  /**
   * Makes the provenance attestations of image steps reproducible (the same commit, the same index
   * digest). Without it the recorded digest is BuildKit's index, which differs from build to build.
   */
  readonly attestations?: ReproducibleAttestations;
  readonly signal?: AbortSignal;
  /** Aborting leaves the run's Pod going and its record Running (this process stops; the next adopts it). */
  readonly detach?: AbortSignal;
}

/** Runs the pipeline once and returns its final record (Running when it was detached). */
export async function runPipeline(request: PipelineRunRequest, deps: PipelineRunDeps): Promise<RunRecord> {
  const at = () => deps.now().toISOString();
  // 1. Read the file; an invalid file is a failed run that never reaches the cluster.
  let file: PipelineFile;
  try {
    file = parsePipelineFile(request.fileText, request.spec.file);
  } catch (error) {
    if (!(error instanceof CapstanError)) throw error;
    if (request.queued !== true) await deps.store.create(queuedRecord(request, [], at()));
    return finish(
      deps.store,
      request.runId,
      { reason: 'PipelineFileInvalid', message: error.message },
      'Failed',
      at(),
    );
  }
  // 2. Record the run, each step pending (the checkout first); a fork's run without its secrets.
  const plan = planOf(request, file);
  const caches = cachesOf(request, plan.file);
  const names = [...plan.order, ...(caches === undefined ? [] : [CACHE_SAVE_CONTAINER])];
  const pending = names.map((name): StepState => ({ name, phase: 'Pending' }));
  const steps = withWithheld(pending, plan.withheld, names).map(stepRecord);
  if (request.queued === true) await deps.store.update(request.runId, { steps });
  else await deps.store.create({ ...queuedRecord(request, names, at()), steps });
  // 3. Build its Pod and run it, recording steps and masked lines as they come.
  const pod = runPodManifest({
    ...deps.pod,
    namespace: request.namespace,
    pipeline: request.pipeline,
    runId: request.runId,
    repoURL: request.spec.repoURL,
    revision: request.revision,
    ...(request.branch === undefined ? {} : { branch: request.branch }),
    ...(request.tag === undefined ? {} : { tag: request.tag }),
    ...(request.spec.registrySecret === undefined || plan.fork
      ? {}
      : { registrySecret: request.spec.registrySecret }),
    steps: plan.file.steps,
    ...(caches === undefined ? {} : { caches }),
    timeoutSeconds: parseDuration(file.timeout ?? PIPELINE_FILE_DEFAULTS.timeout) / 1000,
    serviceAccountName: request.spec.serviceAccountName,
    ...(request.spec.credentialsSecret === undefined
      ? {}
      : { credentialsSecret: request.spec.credentialsSecret }),
  });
  // Only from Queued: a run cancelled (or ended) meanwhile gets no Pod. The controller may have
  // recorded it Running already (before the Pipeline's status says so).
  const started = await deps.store.update(request.runId, { phase: 'Running', startedAt: at() }, ['Queued']);
  if (started === undefined) {
    const record = await deps.store.get(request.runId);
    if (record === undefined)
      throw new CapstanError('STORE_CORRUPT', `run ${request.runId} vanished from the store while it ran`);
    if (record.phase !== 'Running') return record;
  }
  return follow(request, plan, deps, (options) => deps.executor.execute(pod, options));
}

/**
 * Adopts a run recorded Running whose driver stopped: its Pod (found by the run's labels, never made
 * again) is followed to its end, the log lines the Store has are not stored twice, and the end is
 * recorded. A Pod gone meanwhile fails the run, reason PodGone. The file must be the run's (at its
 * commit): its steps' limits and secrets (masking) apply as they did.
 */
export async function adoptPipelineRun(
  request: PipelineRunRequest,
  deps: PipelineRunDeps,
): Promise<RunRecord> {
  const plan = planOf(request, parsePipelineFile(request.fileText, request.spec.file));
  const skipLines = await storedLineCounts(deps.store, request.runId);
  const run = { namespace: request.namespace, pipeline: request.pipeline, runId: request.runId };
  return follow(request, plan, deps, (options) => deps.executor.adopt(run, { ...options, skipLines }));
}

/** What the run runs: the file's steps, or for a pull request from a fork those that need no secret. */
interface RunPlan extends ForkPlan {
  readonly fork: boolean;
  /** Every step's name, the checkout first (the record's order). */
  readonly order: readonly string[];
}

function planOf(request: PipelineRunRequest, file: PipelineFile): RunPlan {
  const fork = request.pullRequest?.fromFork === true;
  const order = [CHECKOUT_CONTAINER, ...file.steps.map((s) => s.name)];
  return { ...(fork ? forkPlan(file) : { file, withheld: [] }), fork, order };
}

/** Steps 3 and 4: follows the execution, recording steps and lines as they come, then how it ended. */
async function follow(
  request: PipelineRunRequest,
  plan: RunPlan,
  deps: PipelineRunDeps,
  execute: (options: RunExecutionOptions) => Promise<RunExecution>,
): Promise<RunRecord> {
  const at = () => deps.now().toISOString();
  const recorder = new Recorder(deps.store, request.runId, at);
  const { file } = plan;
  const all = (steps: readonly StepState[]) => withWithheld(steps, plan.withheld, plan.order);
  const execution = await execute({
    stepTimeoutsMs: stepTimeouts(file),
    masked: maskableValues(await secretValues(file, request.namespace, deps)),
    onLog: (step, line) => {
      recorder.line(step, line);
    },
    onState: (state) => {
      recorder.steps(all(state.steps));
    },
    ...(deps.signal ? { signal: deps.signal } : {}),
    ...(deps.detach ? { detach: deps.detach } : {}),
  }).catch((error: unknown): RunExecution => ({
    outcome: 'Failed',
    steps: [],
    reason: 'RunFailed',
    message: messageOf(error),
  }));
  // 4. Record how it ended and the images it pushed, once every line is stored.
  await recorder.flushed();
  if (execution.outcome === 'Detached') {
    const record = await deps.store.get(request.runId);
    if (record === undefined)
      throw new CapstanError('STORE_CORRUPT', `run ${request.runId} vanished from the store while it ran`);
    return record;
  }
  if (execution.steps.length === 0)
    return finish(deps.store, request.runId, execution, execution.outcome, at());
  const secret = request.spec.registrySecret;
  const { images, failure, notice } = await reproducibleImages(pushedImages(file, execution, request), {
    file,
    commit: request.revision,
    attestations: deps.attestations,
    dockerConfig: () =>
      secret === undefined
        ? Promise.resolve(undefined)
        : deps.readSecret(request.namespace, secret, '.dockerconfigjson'),
  });
  await deps.store.update(request.runId, { steps: all(execution.steps).map(stepRecord), images });
  if (failure !== undefined && execution.outcome === 'Succeeded')
    return finish(
      deps.store,
      request.runId,
      { reason: 'AttestationFailed', message: failure },
      'Failed',
      at(),
    );
  const ending = notice !== undefined && execution.outcome === 'Succeeded' ? { message: notice } : execution;
  return finish(deps.store, request.runId, ending, execution.outcome, at());
}

/** How many lines of each step the Store has for the run. */
async function storedLineCounts(store: RunStore, id: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let after = 0;
  for (;;) {
    const page = await store.logs(id, { afterSeq: after, limit: 10_000 });
    for (const line of page)
      if (!line.line.startsWith(UNREADABLE_LOG_PREFIX)) counts[line.step] = (counts[line.step] ?? 0) + 1;
    const last = page.at(-1);
    if (last === undefined || page.length < 10_000) return counts;
    after = last.seq;
  }
}

/** The record of a run waiting for its turn (its steps are filled in when it starts). */
export function queuedRecord(request: PipelineRunRequest, steps: readonly string[], now: string): RunRecord {
  const optional = <K extends keyof PipelineRunRequest>(key: K) =>
    request[key] === undefined ? {} : { [key]: request[key] };
  return {
    id: request.runId,
    namespace: request.namespace,
    pipeline: request.pipeline,
    project: request.spec.project,
    revision: request.revision,
    ...optional('branch'),
    ...optional('tag'),
    ...optional('author'),
    ...optional('commitMessage'),
    ...optional('rerunOf'),
    ...optional('pullRequest'),
    trigger: request.trigger,
    triggeredBy: request.triggeredBy,
    phase: 'Queued',
    queuedAt: now,
    steps: steps.map((name) => ({ name, phase: 'Pending' })),
    images: [],
  };
}

async function finish(
  store: RunStore,
  id: string,
  ending: { readonly reason?: string; readonly message?: string },
  phase: RunRecordPhase,
  now: string,
): Promise<RunRecord> {
  const record = await store.update(id, {
    phase,
    finishedAt: now,
    ...(ending.reason === undefined ? {} : { reason: ending.reason }),
    ...(ending.message === undefined ? {} : { statusMessage: ending.message }),
  });
  if (record !== undefined) return record;
  // Refused: the run ended meanwhile (a cancel recorded first); that end stands.
  const ended = await store.get(id);
  if (ended === undefined)
    throw new CapstanError('STORE_CORRUPT', `run ${id} vanished from the store while it ran`);
  return ended;
}

function stepRecord(step: StepState): RunStepRecord {
  return { ...step };
}

/** The images the run's image steps pushed: by digest (their termination message), with their tags. */
function pushedImages(
  file: PipelineFile,
  execution: RunExecution,
  request: PipelineRunRequest,
): PushedStepImage[] {
  const revision = {
    commit: request.revision,
    ...(request.branch === undefined ? {} : { branch: request.branch }),
    ...(request.tag === undefined ? {} : { tag: request.tag }),
  };
  return file.steps.flatMap((step): PushedStepImage[] => {
    const state = execution.steps.find((s) => s.name === step.name);
    const pushed = state?.phase === 'Succeeded' ? pushedImage(state.message) : undefined;
    if (step.build === undefined || pushed === undefined) return [];
    const target = imageTarget(step.build, revision);
    return [{ step: step.name, reference: `${target.name}@${pushed.digest}`, ...pushed, tags: target.tags }];
  });
}

function stepTimeouts(file: PipelineFile): Record<string, number> {
  return Object.fromEntries(
    file.steps.flatMap((s) => (s.timeout === undefined ? [] : [[s.name, parseDuration(s.timeout)] as const])),
  );
}

/** The values of every Secret key the steps name (those that exist), to mask. */
async function secretValues(file: PipelineFile, namespace: string, deps: PipelineRunDeps): Promise<string[]> {
  const refs = file.steps.flatMap((s) => s.secrets ?? []);
  const values = await Promise.all(refs.map((r) => deps.readSecret(namespace, r.secret, r.key)));
  return values.filter((v): v is string => v !== undefined);
}

/** Writes log lines and step states to the Store in the order they came, one write at a time. */
class Recorder {
  readonly #store: RunStore;
  readonly #id: string;
  readonly #at: () => string;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(store: RunStore, id: string, at: () => string) {
    this.#store = store;
    this.#id = id;
    this.#at = at;
  }

  line(step: string, line: string): void {
    const time = this.#at();
    this.#enqueue(() => this.#store.appendLogs(this.#id, [{ step, time, line }]));
  }

  steps(steps: readonly StepState[]): void {
    this.#enqueue(() => this.#store.update(this.#id, { steps: steps.map(stepRecord) }));
  }

  flushed(): Promise<unknown> {
    return this.#chain;
  }

  #enqueue(write: () => Promise<unknown>): void {
    this.#chain = this.#chain.then(write).catch(() => undefined);
  }
}

/**
 * The run's caches: those some step names (a cache no step names is neither restored nor saved), kept
 * for this Pipeline alone; undefined when there are none.
 */
function cachesOf(request: PipelineRunRequest, file: PipelineFile): RunPodInput['caches'] {
  const named = new Set(file.steps.flatMap((step) => step.caches ?? []));
  const definitions = (file.caches ?? []).filter((cache) => named.has(cache.name));
  if (definitions.length === 0) return undefined;
  const owner = { project: request.spec.project, namespace: request.namespace, pipeline: request.pipeline };
  return { owner, definitions };
}
