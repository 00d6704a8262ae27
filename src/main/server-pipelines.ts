// `capstan server`'s pipelines: the API's Pipelines and their run actions, and the driver of runs
// (while this process holds the Lease capstan-pipelines). Wired by src/main/server.ts.
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeCluster } from '../adapters/kube/kube-cluster.ts';
import type { ServerApiOptions } from '../api/server/app.ts';
import { messageOf } from '../core/errors.ts';
import type { PipelineController, PipelineMetrics } from '../pipelines/pipeline-controller.ts';
import { rerunRequest } from '../pipelines/rerun-request.ts';
import type { Logger } from '../ports/logger.ts';
import type { PipelineDirectory } from '../ports/pipelines.ts';
import type { Store } from '../ports/store.ts';
import { pipelineFileReader, runPipelineDriver } from './pipelines.ts';
import type { ServerOptions } from './server.ts';

/** The API's Pipelines, their run actions (when this process may drive runs) and their files. */
export function pipelineServices(
  options: ServerOptions,
  cluster: KubeCluster,
  pipelines: PipelineDirectory,
  driving: { controller: PipelineController | undefined },
) {
  return {
    pipelines,
    ...(options.pipelines ? { pipelineRuns: pipelineRunActions(pipelines, driving) } : {}),
    // Pipeline files are read as the driver reads them (over http only where it may fetch over http).
    pipelineFiles: pipelineFileReader({
      cluster,
      repositoryHosts: options.repositoryHosts ?? [],
      allowInsecureHttp: options.pipelines?.allowInsecureHttp === true,
    }),
  };
}

/** Re-runs are requests on the Pipeline (any replica); cancels are the driver's, when it is this process. */
function pipelineRunActions(
  pipelines: PipelineDirectory,
  driving: { controller: PipelineController | undefined },
): NonNullable<ServerApiOptions['pipelineRuns']> {
  return {
    rerun: (run, by) =>
      pipelines.requestRun(
        { namespace: run.namespace, name: run.pipeline },
        rerunRequest(run, by, new Date()),
      ),
    cancel: async (id, by) => (driving.controller ? driving.controller.cancel(id, by) : 'elsewhere'),
    approve: async (id, by) => (driving.controller ? driving.controller.approve(id, by) : 'elsewhere'),
    revoke: async (p, login, by) =>
      driving.controller ? driving.controller.revoke(p.namespace, p.name, login, by) : 'elsewhere',
  };
}

/** Pipeline runs, driven by this process while it holds the Lease; failures are logged, never fatal. */
export async function drivePipelines(
  options: ServerOptions,
  parts: {
    config: KubeConfig;
    cluster: KubeCluster;
    store: Store;
    namespace: string;
    log: Logger;
    metrics: PipelineMetrics | undefined;
    driving: { controller: PipelineController | undefined };
    requestKey: Uint8Array;
  },
  signal: AbortSignal,
): Promise<void> {
  const pipelines = options.pipelines;
  if (pipelines === undefined) return;
  try {
    await runPipelineDriver(
      {
        config: parts.config,
        cluster: parts.cluster,
        store: parts.store.runs,
        pod: {
          capstanImage: pipelines.capstanImage,
          allowInsecureHttp: pipelines.allowInsecureHttp === true,
          ...(pipelines.buildkit ? { buildkit: pipelines.buildkit } : {}),
          ...(pipelines.imagePullSecrets?.length ? { imagePullSecrets: pipelines.imagePullSecrets } : {}),
          ...(pipelines.placement ? { placement: pipelines.placement } : {}),
        },
        ...(pipelines.executor ? { executor: pipelines.executor } : {}),
        repositoryHosts: options.repositoryHosts ?? [],
        ...(pipelines.retentionDays === undefined ? {} : { retentionDays: pipelines.retentionDays }),
        leaderElection: { namespace: parts.namespace },
        ...(parts.metrics ? { metrics: parts.metrics } : {}),
        requestKey: parts.requestKey,
        ...(pipelines.publicUrl === undefined ? {} : { publicUrl: pipelines.publicUrl }),
        ...(pipelines.registryEndpoints ? { registryEndpoints: pipelines.registryEndpoints } : {}),
        onController: (controller) => {
          parts.driving.controller = controller;
        },
        log: (line) => {
          parts.log({ ...line });
        },
      },
      signal,
    );
  } catch (error) {
    parts.log({ level: 'error', msg: 'pipeline runs stopped', error: messageOf(error) });
  }
}
