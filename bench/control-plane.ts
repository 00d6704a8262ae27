// The control plane's share of a system's cost: the API server and etcd serve every request a GitOps
// controller makes, so their CPU during a system's cold sync and steady state is read beside the
// system's own, from /proc the same way (bench/proc.ts).
import { status, type ComponentStatus } from '../src/devcluster/cluster.ts';

/** The processes of the local cluster whose CPU is counted, by the label the tables use. */
export interface ControlPlanePids {
  readonly apiServer: number;
  readonly etcd: number;
}

/** Picks the API server's and etcd's pids from a cluster's components; an error names what is missing. */
export function controlPlanePids(cluster: string, components: readonly ComponentStatus[]): ControlPlanePids {
  const pid = (name: string) => {
    const c = components.find((x) => x.name === name);
    if (!c?.running)
      throw new Error(
        `cluster ${cluster}: ${name} is ${c ? `not running (pid ${String(c.pid)})` : 'not recorded'}; ` +
          `start it again with \`npm run capstan -- dev-cluster up --name ${cluster}\``,
      );
    return c.pid;
  };
  return { apiServer: pid('kube-apiserver'), etcd: pid('etcd') };
}

/** The control plane's pids of the named local cluster, as its state file records them now. */
export async function readControlPlane(cluster: string): Promise<ControlPlanePids> {
  const [found] = await status(cluster);
  if (!found) throw new Error(`cluster ${cluster}: no state file; is it up?`);
  return controlPlanePids(cluster, found.components);
}
