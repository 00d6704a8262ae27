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
import { LeaderElector } from '../controller/leader-election.ts';
import { CapstanError, messageOf } from '../core/errors.ts';
import { RUN_LABELS } from '../core/run-pod.ts';
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
import type { RunStore } from '../ports/store.ts';
import { systemClock } from '../adapters/clock.ts';
import { credentialsFrom } from '../adapters/git/secret-credentials.ts';
import { cacheRoot } from '../adapters/render/tools.ts';
import { PipelinePolls } from '../pipelines/pipeline-polls.ts';
import { pipelinePath } from './pipeline-requests.ts';
import type { PipelineFileReader } from '../api/server/context.ts';

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
    source: gitPipelineSource({
      cluster,
      ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
      ...(options.repositoryHosts === undefined ? {} : { repositoryHosts: options.repositoryHosts }),
      allowInsecureHttp: options.pod.allowInsecureHttp === true,
    }),
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
    listRunPods: async (namespace) => {
      const pods = await cluster.resourceType('v1', 'Pod');
      if (pods === undefined) return [];
      const found = await cluster.list(pods, namespace, { labelSelector: RUN_LABELS.run });
      return found.flatMap((pod) => {
        const runId = pod.metadata.labels?.[RUN_LABELS.run];
        const name = pod.metadata.name;
        return runId === undefined || name === undefined || pod.metadata.deletionTimestamp !== undefined
          ? []
          : [{ name, runId }];
      });
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
  const polls = new PipelinePolls(controller, log);
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

/** What reading pipeline files from git needs: the cluster (credentials Secrets), the cache, the host rules. */
export interface PipelineGitOptions {
  readonly cluster: KubeCluster;
  readonly cacheDir?: string;
  readonly repositoryHosts?: readonly string[];
  /** Fetch over http:// (a dev git server). */
  readonly allowInsecureHttp: boolean;
}

/** The server API's reader of pipeline files (GET …/triggers): the driver's reads, at a branch's head. */
export function pipelineFileReader(options: PipelineGitOptions): PipelineFileReader {
  const source = gitPipelineSource(options);
  return {
    async read(pipeline, branch) {
      const target = await source.resolve(pipeline, branch === undefined ? '' : `refs/heads/${branch}`);
      const { text } = await source.readFile(pipeline, target.sha);
      return { text, ref: target.ref, commit: target.sha };
    },
  };
}

function gitPipelineSource(options: PipelineGitOptions): PipelineSourceReader {
  const fetcher = new GitSourceFetcher({
    cacheDir: join(options.cacheDir ?? cacheRoot(), 'git'),
    hosts: { allow: options.repositoryHosts ?? [] },
  });
  const fetchOptions = async (pipeline: PipelineRef): Promise<FetchOptions> => ({
    allowInsecureHttp: options.allowInsecureHttp,
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
