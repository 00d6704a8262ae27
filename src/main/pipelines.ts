// Wiring for pipeline runs: the controller (src/pipelines/pipeline-controller.ts) over git, the
// cluster, the Store and the run executor, driven by one replica at a time (a Lease), fed by a watch
// of Pipelines.
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { HttpCommitStatusSink } from '../adapters/git/commit-status.ts';
import { GitSourceFetcher } from '../adapters/git/git-source.ts';
import { GitPipelineSource } from '../adapters/git/pipeline-source.ts';
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import { KubePipelineDirectory } from '../adapters/kube/pipelines.ts';
import { KubeRunExecutor } from '../adapters/kube/pod-run.ts';
import { RestClient } from '../adapters/kube/rest-client.ts';
import { runPods } from '../adapters/kube/run-pods.ts';
import { secretValue } from '../adapters/kube/secrets.ts';
import { RegistryAttestations } from '../adapters/registry/reproducible-attestation.ts';
import { KubeWatcher } from '../adapters/kube/watch.ts';
import { PIPELINES_LEASE } from '../contracts/install-server.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND } from '../contracts/pipeline.ts';
import { CapstanError, messageOf } from '../core/errors.ts';
import { PipelineController, type PipelineMetrics } from '../pipelines/pipeline-controller.ts';
import type { PipelineRunDeps } from '../pipelines/run-pipeline.ts';
import type { Logger } from '../ports/logger.ts';
import type { RunExecutor } from '../ports/run-executor.ts';
import type { RunStore } from '../ports/store.ts';
import { cacheRoot } from '../adapters/render/tools.ts';
import { PipelinePolls } from '../pipelines/pipeline-polls.ts';
import { CommitStatusReporter } from '../pipelines/commit-status-reporter.ts';
import type { CommitStatusSink } from '../ports/commit-status.ts';
import type { PipelineFileReader } from '../ports/pipelines.ts';
import { whileLeading, type LeaseElection } from './lease-driver.ts';

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
  readonly leaderElection: LeaseElection;
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
  /** The address browsers reach the server at (--public-url): commit statuses link to the run there. */
  readonly publicUrl?: string;
  /** Default: the providers' HTTP APIs (HttpCommitStatusSink), on the repository hosts' rules. */
  readonly commitStatusSink?: CommitStatusSink;
  /** Registry → the address it answers at from here (--registry-endpoint), for image steps' attestations. */
  readonly registryEndpoints?: Readonly<Record<string, string>>;
}

/** Drives pipeline runs until `signal` aborts (while it leads, when leader election is on). */
export async function runPipelineDriver(options: PipelineDriverOptions, signal: AbortSignal): Promise<void> {
  await whileLeading(
    { config: options.config, lease: PIPELINE_LEASE, election: options.leaderElection, log: options.log },
    (leading) => drive(options, leading),
    signal,
  );
}

/** While `signal` holds: the watch of Pipelines into the controller, polls, retention. */
async function drive(options: PipelineDriverOptions, signal: AbortSignal): Promise<void> {
  const { cluster, log } = options;
  const directory = new KubePipelineDirectory(cluster);
  const readSecret = (namespace: string, name: string, key: string) =>
    secretValue(cluster, namespace, name, key);
  const commitStatus = commitStatusReporter(options, readSecret);
  const controller = new PipelineController({
    store: options.store,
    source: new GitPipelineSource({
      fetcher: new GitSourceFetcher({
        cacheDir: join(options.cacheDir ?? cacheRoot(), 'git'),
        hosts: { allow: options.repositoryHosts ?? [] },
      }),
      cluster,
      allowInsecureHttp: options.pod.allowInsecureHttp === true,
    }),
    run: {
      executor: options.executor ?? new KubeRunExecutor(options.config),
      readSecret,
      // The registries' certificates: the system's CAs (and NODE_EXTRA_CA_CERTS); a registry reached
      // at another address than its images name: --registry-endpoint.
      attestations: new RegistryAttestations({ endpoints: options.registryEndpoints ?? {} }),
      now: () => new Date(),
      pod: options.pod,
    },
    writeStatus: (namespace, name, status) => directory.writeStatus(namespace, name, status),
    ...runPods(cluster),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.requestKey ? { requestKey: options.requestKey } : {}),
    commitStatus,
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
    await commitStatus.stop();
    watchClient.close();
  }
}

/** Runs' commit statuses, sent to the providers' APIs on the repository hosts' rules. */
function commitStatusReporter(
  options: PipelineDriverOptions,
  readSecret: (namespace: string, name: string, key: string) => Promise<string | undefined>,
): CommitStatusReporter {
  return new CommitStatusReporter({
    sink:
      options.commitStatusSink ??
      new HttpCommitStatusSink({
        hosts: { allow: options.repositoryHosts ?? [] },
        allowInsecureHttp: options.pod.allowInsecureHttp === true,
      }),
    readSecret,
    ...(options.publicUrl === undefined ? {} : { publicUrl: options.publicUrl }),
    ...(options.log ? { log: options.log } : {}),
  });
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
  const source = new GitPipelineSource({
    fetcher: new GitSourceFetcher({
      cacheDir: join(options.cacheDir ?? cacheRoot(), 'git'),
      hosts: { allow: options.repositoryHosts ?? [] },
    }),
    cluster: options.cluster,
    allowInsecureHttp: options.allowInsecureHttp,
  });
  return {
    async read(pipeline, branch) {
      const target = await source.resolve(pipeline, branch === undefined ? '' : `refs/heads/${branch}`);
      const { text } = await source.readFile(pipeline, target.sha);
      return { text, ref: target.ref, commit: target.sha };
    },
  };
}
