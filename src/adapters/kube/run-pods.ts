// The run Pods of pipeline runs on the cluster (PipelineControllerOptions.deletePod and listRunPods):
// the controller deletes a run's Pod at once, and after a restart finds the Pods of runs the Store has
// no going run for by their run label (core/run-pod.ts, runPodsOf).
import { runPodsOf, RUN_LABELS, type RunPodRef } from '../../core/run-pod.ts';
import type { Cluster } from '../../ports/cluster.ts';

export interface RunPods {
  /** Deletes a run Pod (nothing when the cluster serves no Pods). */
  deletePod(namespace: string, name: string): Promise<void>;
  /** The run Pods of a namespace that are not being deleted: name and run id. */
  listRunPods(namespace: string): Promise<readonly RunPodRef[]>;
}

export function runPods(cluster: Cluster): RunPods {
  return {
    deletePod: async (namespace, name) => {
      const pods = await cluster.resourceType('v1', 'Pod');
      if (pods) await cluster.delete(pods, namespace, name);
    },
    listRunPods: async (namespace) => {
      const pods = await cluster.resourceType('v1', 'Pod');
      if (pods === undefined) return [];
      return runPodsOf(await cluster.list(pods, namespace, { labelSelector: RUN_LABELS.run }));
    },
  };
}
