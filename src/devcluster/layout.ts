import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where a local cluster keeps its state, certificates, kubeconfigs and logs: one folder per cluster. */
export interface ClusterPaths {
  readonly root: string;
  readonly state: string;
  readonly pki: string;
  readonly etcdData: string;
  readonly logs: string;
  readonly kubeconfigs: string;
  readonly adminKubeconfig: string;
  readonly lock: string;
}

/** The folder under which every local cluster has its own folder. Default: $XDG_STATE_HOME/capstan/clusters. */
export function clustersRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env['CAPSTAN_STATE_DIR']) return join(env['CAPSTAN_STATE_DIR'], 'clusters');
  const base = env['XDG_STATE_HOME'] ?? join(homedir(), '.local', 'state');
  return join(base, 'capstan', 'clusters');
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;

export function validateClusterName(name: string): string | undefined {
  return NAME.test(name)
    ? undefined
    : `cluster name '${name}' is not valid: use 1 to 40 lower-case letters, digits and '-', starting and ending with a letter or digit`;
}

export function clusterPaths(name: string, root: string = clustersRoot()): ClusterPaths {
  const dir = join(root, name);
  return {
    root: dir,
    state: join(dir, 'state.json'),
    pki: join(dir, 'pki'),
    etcdData: join(dir, 'etcd'),
    logs: join(dir, 'logs'),
    kubeconfigs: join(dir, 'kubeconfig'),
    adminKubeconfig: join(dir, 'kubeconfig', 'admin.kubeconfig'),
    lock: join(dir, '.lock'),
  };
}
