import type * as k8s from '@kubernetes/client-node';
import { attach, up, type LocalCluster } from '../devcluster/cluster.ts';
import { run } from '../devcluster/exec.ts';
import { REAL_NODE } from '../devcluster/node-config.ts';

/** The cluster with a real node that the node tier uses (its own name: it is started and removed by that tier). */
export const NODE_TEST_CLUSTER_ENV = 'CAPSTAN_NODE_TEST_CLUSTER';
export const DEFAULT_NODE_TEST_CLUSTER = 'capstan-node-test';

export function nodeTestClusterName(): string {
  return process.env[NODE_TEST_CLUSTER_ENV] ?? DEFAULT_NODE_TEST_CLUSTER;
}

/** Attaches to the node tier's cluster, or starts it with a real node. */
export async function realNodeCluster(): Promise<LocalCluster> {
  const name = nodeTestClusterName();
  const running = await attach(name);
  if (running?.state.realNode) return running;
  return up({
    name,
    nodes: 1,
    realNode: true,
    progress: (line) => process.stderr.write(`[node-cluster] ${line}\n`),
  });
}

/** Runs kubectl against the cluster as its admin, as a user would; rejects with kubectl's error. */
export async function kubectl(
  cluster: LocalCluster,
  args: readonly string[],
  options: { timeoutMs?: number } = {},
): Promise<string> {
  const result = await run(
    `${cluster.state.binDir}/kubectl`,
    ['--kubeconfig', cluster.adminKubeconfig, ...args],
    { timeoutMs: options.timeoutMs ?? 60_000 },
  );
  return result.stdout;
}

/** A pod spec placed on the real node: it selects the node's label and tolerates its taint. */
export function onRealNode(spec: k8s.V1PodSpec): k8s.V1PodSpec {
  return Object.assign({}, spec, {
    nodeSelector: { ...spec.nodeSelector, [REAL_NODE.label]: REAL_NODE.labelValue },
    tolerations: [
      ...(spec.tolerations ?? []),
      { key: REAL_NODE.taintKey, operator: 'Exists', effect: 'NoSchedule' },
    ],
  });
}
