// Wiring for pipeline runs: the controller (src/pipelines/pipeline-controller.ts) over git, the
// cluster, the Store and the run executor, driven by one replica at a time (a Lease), fed by a watch
// of Pipelines; and the writing of run requests (webhooks, people) onto Pipelines as annotations.
import { open, realpath } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { GitSourceFetcher } from '../adapters/git/git-source.ts';
import { apiError } from '../adapters/kube/errors.ts';
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { KubeLeaseLock } from '../adapters/kube/lease-lock.ts';
import { KubeRunExecutor } from '../adapters/kube/pod-run.ts';
import { RestClient } from '../adapters/kube/rest-client.ts';
import { KubeWatcher } from '../adapters/kube/watch.ts';
import { confine } from '../adapters/render/confine.ts';
import { PIPELINES_LEASE } from '../contracts/install-server.ts';
import { PIPELINE_FILE_LIMITS } from '../contracts/pipeline-file.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND, type PipelineStatus } from '../contracts/pipeline.ts';
import type { RunRequest } from '../contracts/pipeline-request.ts';
import { LeaderElector } from '../controller/leader-election.ts';
import type { Registry } from '../controller/metrics.ts';
import { parseDuration } from '../core/duration.ts';
import { CapstanError, messageOf } from '../core/errors.ts';
import {
  PipelineController,
  type PipelineMetrics,
  type PipelineRef,
  type PipelineSourceReader,
} from '../pipelines/pipeline-controller.ts';
import type { PipelineRunDeps } from '../pipelines/run-pipeline.ts';
import type { Logger } from '../ports/logger.ts';
import type { RunExecutor } from '../ports/run-executor.ts';
import type { FetchOptions } from '../ports/source.ts';
import type { RunRecord, RunStore } from '../ports/store.ts';
import { credentialsFrom } from './agent.ts';
import { systemClock } from './clock.ts';
import { pipelinePath } from './pipeline-requests.ts';
import { cacheRoot } from './push.ts';

export const DEFAULT_RUN_RETENTION_DAYS = 90;
export const PIPELINE_LEASE = PIPELINES_LEASE;

export interface PipelineDriverOptions {
  readonly config: KubeConfig;
  readonly cluster: KubeCluster;
  readonly store: RunStore;
  /** What every run Pod needs of this cluster: Capstan's image, pull Secrets, placement, http checkouts. */
  readonly pod: PipelineRunDeps['pod'];
  /** Default: run Pods on this cluster (KubeRunExecutor). */
  readonly executor?: RunExecutor;
  readonly cacheDir?: string;
  /** Hosts repositories may be on (as the agent's `repositoryHosts`). */
  readonly repositoryHosts?: readonly string[];
  /** Runs finished longer ago than this are deleted from the Store, with their logs. Default 90 days. */
  readonly retentionDays?: number;
  /** One driver at a time over a Lease in this namespace; false: this process drives alone (one replica, tests). */
  readonly leaderElection:
    | false
    | { readonly namespace: string; readonly identity?: string; readonly leaseDurationSeconds?: number };
  readonly metrics?: PipelineMetrics;
  readonly log?: Logger;
  /** Only the Pipelines of this namespace. Default: every namespace. */
  readonly namespace?: string;
  /** How often polls and retention are looked at, in ms. Default 10 s. */
  readonly tickMs?: number;
  /** Told of the controller while this process drives runs, and of undefined when it stops. */
  readonly onController?: (controller: PipelineController | undefined) => void;
  /** The server's key for run requests (runRequestKeyOf): sealed requests' `by` is believed. */
  readonly requestKey?: Uint8Array;
}

/** Drives pipeline runs until `signal` aborts (while it leads, when leader election is on). */
export async function runPipelineDriver(options: PipelineDriverOptions, signal: AbortSignal): Promise<void> {
  if (options.leaderElection === false) {
    await drive(options, signal);
    return;
  }
  const election = options.leaderElection;
  const elector = new LeaderElector({
    lock: new KubeLeaseLock(new RestClient(options.config, { timeoutMs: 2_000 }), {
      namespace: election.namespace,
      name: PIPELINE_LEASE,
    }),
    identity: election.identity ?? process.env['POD_NAME'] ?? `${hostname()}-${process.pid}`,
    clock: systemClock,
    ...(election.leaseDurationSeconds === undefined
      ? {}
      : { leaseDurationSeconds: election.leaseDurationSeconds }),
    onStartedLeading: (leading) => drive(options, leading),
    onError: (error) =>
      options.log?.({ level: 'warn', msg: 'pipelines leader election', error: messageOf(error) }),
  });
  await elector.run(signal);
}

/** While `signal` holds: the watch of Pipelines into the controller, polls, retention. */
async function drive(options: PipelineDriverOptions, signal: AbortSignal): Promise<void> {
  const { cluster, log } = options;
  const controller = new PipelineController({
    store: options.store,
    source: gitPipelineSource(options),
    run: {
      executor: options.executor ?? new KubeRunExecutor(options.config),
      readSecret: (namespace, name, key) => secretValue(cluster, namespace, name, key),
      now: () => new Date(),
      pod: options.pod,
    },
    writeStatus: (namespace, name, status) => writePipelineStatus(cluster, namespace, name, status),
    deletePod: async (namespace, name) => {
      const pods = await cluster.resourceType('v1', 'Pod');
      if (pods) await cluster.delete(pods, namespace, name);
    },
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.requestKey ? { requestKey: options.requestKey } : {}),
    ...(log ? { log } : {}),
  });
  const type = await cluster.resourceType(PIPELINE_API_VERSION, PIPELINE_KIND);
  if (type === undefined)
    throw new CapstanError(
      'KUBE_TYPE_MISSING',
      `the cluster does not serve ${PIPELINE_API_VERSION} ${PIPELINE_KIND}: install Capstan's CRDs (deploy/install.yaml)`,
    );
  const watchClient = new RestClient(options.config);
  let resumed = false;
  const watching = new KubeWatcher(watchClient).watch(
    type,
    options.namespace ?? '',
    (event) => {
      controller.observe(event);
      if (event.type === 'SYNCED' && !resumed) {
        resumed = true;
        controller.resume().catch((error: unknown) => {
          log?.({ level: 'error', msg: 'pipeline runs not resumed', error: messageOf(error) });
        });
      }
    },
    { signal, onError: (error) => log?.({ level: 'warn', msg: 'pipelines watch', error: error.message }) },
  );
  options.onController?.(controller);
  const polls = new Polls(controller, log);
  let pruned = 0;
  const tick = async () => {
    await polls.tick(Date.now());
    // Runs past retention go, at most once an hour.
    if (Date.now() - pruned < 3_600_000) return;
    pruned = Date.now();
    await pruneOld(controller, options);
  };
  const timer = setInterval(() => void tick(), options.tickMs ?? 10_000);
  try {
    await watching;
  } finally {
    clearInterval(timer);
    options.onController?.(undefined);
    await controller.stop();
    watchClient.close();
  }
}

/** Deletes the runs past retention, and their logs. */
export async function pruneOld(
  controller: PipelineController,
  options: Pick<PipelineDriverOptions, 'retentionDays' | 'log'>,
): Promise<void> {
  const days = options.retentionDays ?? DEFAULT_RUN_RETENTION_DAYS;
  try {
    const pruned = await controller.prune(new Date(Date.now() - days * 86_400_000));
    if (pruned > 0) options.log?.({ level: 'info', msg: 'pipeline runs pruned', runs: pruned, days });
  } catch (error) {
    options.log?.({ level: 'warn', msg: 'pipeline runs not pruned', error: messageOf(error) });
  }
}

/**
 * `spec.pollInterval`: every branch and tag of the repository is looked at (one ls-remote) that often;
 * a ref that is new or points to a new commit is a push (trigger `poll`) whose changed files are
 * unknown (path filters let it run), and the controller asks the file's triggers at that commit, as
 * for a webhook's push (a branch or tag they do not name is skipped there). The first look only
 * remembers; a ref that appears later is new. Deleted refs are forgotten.
 */
class Polls {
  readonly #controller: PipelineController;
  readonly #log: Logger | undefined;
  readonly #last = new Map<string, { at: number; refs: ReadonlyMap<string, string> | undefined }>();

  constructor(controller: PipelineController, log: Logger | undefined) {
    this.#controller = controller;
    this.#log = log;
  }

  async tick(now: number): Promise<void> {
    for (const pipeline of this.#controller.pipelines()) {
      if (pipeline.spec.pollInterval === undefined || pipeline.spec.suspend) continue;
      const key = `${pipeline.namespace}/${pipeline.name}`;
      const last = this.#last.get(key);
      if (last && now - last.at < parseDuration(pipeline.spec.pollInterval)) continue;
      this.#last.set(key, { at: now, refs: last?.refs });
      await this.#poll(pipeline, key, last?.refs, now).catch((error: unknown) => {
        this.#log?.({ level: 'warn', msg: 'pipeline poll failed', pipeline: key, error: messageOf(error) });
      });
    }
  }

  async #poll(
    pipeline: PipelineRef,
    key: string,
    known: ReadonlyMap<string, string> | undefined,
    now: number,
  ): Promise<void> {
    const refs = await this.#controller.refs(pipeline);
    this.#last.set(key, { at: now, refs });
    if (known === undefined) {
      // The first look: what a push must move from to start a run.
      this.#log?.({ level: 'info', msg: 'pipeline polled', pipeline: key, refs: refs.size });
      return;
    }
    for (const [ref, sha] of movedRefs(known, refs)) {
      const request: RunRequest = {
        id: `poll-${key}-${ref}-${sha}`.slice(0, 128),
        kind: 'push',
        ref,
        revision: sha,
        by: 'poll',
        at: new Date(now).toISOString(),
      };
      await this.#controller.request(pipeline.namespace, pipeline.name, request, 'poll');
    }
  }
}

/** Branches and tags that are new in `now` or point elsewhere than in `before`. */
function movedRefs(
  before: ReadonlyMap<string, string>,
  now: ReadonlyMap<string, string>,
): [string, string][] {
  return [...now].filter(
    ([ref, sha]) =>
      (ref.startsWith('refs/heads/') || ref.startsWith('refs/tags/')) && before.get(ref) !== sha,
  );
}

function gitPipelineSource(options: PipelineDriverOptions): PipelineSourceReader {
  const fetcher = new GitSourceFetcher({
    cacheDir: join(options.cacheDir ?? cacheRoot(), 'git'),
    hosts: { allow: options.repositoryHosts ?? [] },
  });
  const fetchOptions = async (pipeline: PipelineRef): Promise<FetchOptions> => ({
    allowInsecureHttp: options.pod.allowInsecureHttp === true,
    ...(pipeline.spec.credentialsSecret === undefined
      ? {}
      : {
          credentials: await credentialsFrom(
            options.cluster,
            pipeline.namespace,
            pipeline.spec.credentialsSecret,
          ),
        }),
  });
  return {
    async readFile(pipeline, revision) {
      const source = { repoURL: pipeline.spec.repoURL, targetRevision: revision };
      const tree = await fetcher.checkout(
        source,
        { sha: revision, ref: revision },
        await fetchOptions(pipeline),
      );
      const root = await realpath(tree.dir);
      let path: string;
      try {
        path = (await confine(root, pipeline.spec.file, 'the pipeline file (spec.file)')).absolute;
      } catch (error) {
        if (error instanceof CapstanError && error.code === 'RENDER_NOT_FOUND')
          return { text: undefined, commit: tree.commit };
        throw error;
      }
      return { text: await readBounded(path, PIPELINE_FILE_LIMITS.maxBytes + 1), commit: tree.commit };
    },
    async resolve(pipeline, ref) {
      const source = { repoURL: pipeline.spec.repoURL, targetRevision: ref };
      return fetcher.resolve(source, await fetchOptions(pipeline));
    },
    async refs(pipeline) {
      return fetcher.listRefs({ repoURL: pipeline.spec.repoURL }, await fetchOptions(pipeline));
    },
  };
}

/** At most `limit` bytes of a file (the parser refuses a file past its own limit, saying so). */
async function readBounded(path: string, limit: number): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(limit);
    const { bytesRead } = await handle.read(buffer, 0, limit, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

async function secretValue(
  cluster: KubeCluster,
  namespace: string,
  name: string,
  key: string,
): Promise<string | undefined> {
  const type = await cluster.resourceType('v1', 'Secret');
  const secret = type ? await cluster.get(type, namespace, name) : undefined;
  const value = ((secret?.['data'] ?? {}) as Record<string, string>)[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

async function writePipelineStatus(
  cluster: KubeCluster,
  namespace: string,
  name: string,
  status: PipelineStatus,
): Promise<void> {
  const subject = `${PIPELINE_KIND}/${namespace}/${name}`;
  const res = await cluster.client.call('PATCH', `${pipelinePath(namespace, name)}/status`, {
    body: { status },
    contentType: 'application/merge-patch+json',
    subject,
  });
  if (res.status !== 200) throw apiError(res.status, res.body, subject, 'update status');
}

// ── Metrics ─────────────────────────────────────────────────────────────────────────────────────

const RUN_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600];
const QUEUE_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 1800];

/** Registers the pipeline metrics (runs and steps: counts by result, durations, queue time). */
export function pipelineMetrics(registry: Registry): PipelineMetrics {
  const runs = registry.counter<{ result: string }>({
    name: 'capstan_pipeline_runs_total',
    help: 'Pipeline runs ended, by result (Succeeded, Failed, Cancelled).',
    labelNames: ['result'],
  });
  const runDuration = registry.histogram<{ result: string }>({
    name: 'capstan_pipeline_run_duration_seconds',
    help: 'Time from a run’s start to its end, by result.',
    labelNames: ['result'],
    buckets: RUN_BUCKETS,
  });
  const queueTime = registry.histogram({
    name: 'capstan_pipeline_run_queue_seconds',
    help: 'Time a run waited in the queue before it started.',
    buckets: QUEUE_BUCKETS,
  });
  const steps = registry.counter<{ result: string }>({
    name: 'capstan_pipeline_steps_total',
    help: 'Steps of ended runs, by result (Succeeded, Failed, Skipped, Pending).',
    labelNames: ['result'],
  });
  const stepDuration = registry.histogram<{ result: string }>({
    name: 'capstan_pipeline_step_duration_seconds',
    help: 'Time a step ran, by result.',
    labelNames: ['result'],
    buckets: RUN_BUCKETS,
  });
  for (const result of ['Succeeded', 'Failed', 'Cancelled']) runs.inc({ result }, 0);
  return {
    runStarted: (run: RunRecord) => {
      const waited = seconds(run.queuedAt, run.startedAt);
      if (waited !== undefined) queueTime.observe(waited);
    },
    runFinished: (run: RunRecord) => {
      runs.inc({ result: run.phase });
      const took = seconds(run.startedAt, run.finishedAt);
      if (took !== undefined) runDuration.observe({ result: run.phase }, took);
      for (const step of run.steps) {
        steps.inc({ result: step.phase });
        const ran = seconds(step.startedAt, step.finishedAt);
        if (ran !== undefined) stepDuration.observe({ result: step.phase }, ran);
      }
    },
  };
}

function seconds(from: string | undefined, to: string | undefined): number | undefined {
  if (from === undefined || to === undefined) return undefined;
  return Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);
}
