import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { attach, down, status, up } from '../../devcluster/cluster.ts';
import { clusterPaths } from '../../devcluster/layout.ts';
import { formatTimings, Timings } from '../../devcluster/timings.ts';
import { EXIT, parseOutput, print, table, UsageError } from '../output.ts';

export const DEV_CLUSTER_HELP = `Usage: capstan dev-cluster <command> [options]

A real Kubernetes control plane on this machine's loopback: etcd, kube-apiserver (TLS, RBAC,
service accounts, priority and fairness), kube-controller-manager, kube-scheduler, and kwok
playing the nodes, so that pods are scheduled and become Ready. Binaries are built from Go
modules on first use (several minutes) and cached.

Commands:
  up           start a cluster (fresh state) and wait until its nodes are Ready
  down         stop every process of the cluster, by pid
  status       what runs and where (all clusters, or --name)
  kubeconfig   print the path of the cluster's admin kubeconfig
  expose pod/NAME PORT
               (a real node) one pod's port on the machine's loopback, as kubectl port-forward
               pod/NAME PORT gives it: that pod answers, not another replica of its Service; prints
               127.0.0.1:<port>, which stays while the cluster runs (down stops it). PORT is a number
               or a container port's name

Options:
  --name NAME        cluster name (default: dev); several clusters run side by side
  --port PORT        (up) the API server's port on 127.0.0.1 (default: a free port)
  --nodes N          (up) number of fake nodes (default: 2)
  --real-node        (up) add a real node beside the kwok nodes: containerd, kubelet and kube-proxy
                     in a network namespace of their own; pods that tolerate the taint
                     capstan.dev/real-node run there as real processes (needs root; docs/real-node.md)
  --timings          (up) print how long each phase took (phases overlap; by start) and the load average
  -n, --namespace NS (expose) the pod's namespace (default: default)
  -o, --output FMT   table, json or yaml (up, status)
  -h, --help         this help

Example:
  capstan dev-cluster up
  kubectl --kubeconfig "$(capstan dev-cluster kubeconfig)" get nodes
`;

function intOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0 || n > 65535)
    throw new UsageError(`--${name} must be a positive whole number, not '${value}'`);
  return n;
}

function parseFlags(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      port: { type: 'string' },
      nodes: { type: 'string' },
      'real-node': { type: 'boolean' },
      timings: { type: 'boolean' },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
type Flags = ReturnType<typeof parseFlags>['values'];
type Format = ReturnType<typeof parseOutput>;

export async function devCluster(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(DEV_CLUSTER_HELP);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  const { values, positionals } = parseFlags(rest);
  if (command !== 'expose' && positionals.length > 0)
    throw new UsageError(`dev-cluster ${command} takes no arguments ('${positionals.join(' ')}')`);
  if (values.help === true) {
    process.stdout.write(DEV_CLUSTER_HELP);
    return EXIT.ok;
  }
  const format = parseOutput(values.output);
  const name = values.name ?? 'dev';
  switch (command) {
    case 'up':
      return await upCommand(name, values, format);
    case 'down':
      return await downCommand(name);
    case 'status':
      return await statusCommand(values.name, format);
    case 'kubeconfig':
      return await kubeconfigCommand(name);
    case 'expose':
      return await exposeCommand(name, positionals, values.namespace ?? 'default');
    default:
      throw new UsageError(
        `unknown dev-cluster command '${command}' (expected up, down, status, kubeconfig or expose)`,
      );
  }
}

/** ` --name NAME` for a cluster other than the default one, in the commands we suggest. */
const nameFlag = (name: string) => (name === 'dev' ? '' : ` --name ${name}`);

async function upCommand(name: string, values: Flags, format: Format): Promise<number> {
  const port = intOption('port', values.port);
  const nodes = intOption('nodes', values.nodes);
  const timings = new Timings();
  const cluster = await up({
    timings,
    name,
    ...(port === undefined ? {} : { apiServerPort: port }),
    ...(nodes === undefined ? {} : { nodes }),
    realNode: values['real-node'] === true,
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  if (values.timings === true) await printTimings(timings);
  const registry = cluster.state.realNode?.registry;
  const summary = {
    name: cluster.name,
    server: cluster.server,
    kubeconfig: cluster.adminKubeconfig,
    nodes: cluster.state.nodes,
    folder: cluster.paths.root,
    ...(registry
      ? { registry: { address: registry.address, authFile: registry.authFile, certDir: registry.certDir } }
      : {}),
  };
  print(format, summary, () =>
    [
      `Cluster '${cluster.name}' is up: ${cluster.server}, ${cluster.state.nodes.length} node(s) Ready.`,
      `  kubeconfig: ${cluster.adminKubeconfig}`,
      `  logs:       ${cluster.paths.logs}`,
      ...(registry
        ? [
            `  registry:   ${registry.address} (skopeo inspect --authfile ${registry.authFile} --cert-dir ${registry.certDir} docker://${registry.address}/NAME:TAG)`,
          ]
        : []),
      '',
      'Try:',
      `  kubectl --kubeconfig ${cluster.adminKubeconfig} get nodes`,
      `  npm run capstan -- dev-cluster status${nameFlag(name)}`,
      `  npm run capstan -- dev-cluster down${nameFlag(name)}`,
      '',
    ].join('\n'),
  );
  return EXIT.ok;
}

/** The phases of `up` and the machine's load average at the end (the machine may be shared). */
async function printTimings(timings: Timings): Promise<void> {
  const total = timings.elapsedMs();
  const load = (await readFile('/proc/loadavg', 'utf8').catch(() => 'unknown')).trim();
  process.stderr.write(
    [...formatTimings(timings.phases, total), `load average (1, 5, 15 min; /proc/loadavg): ${load}`, ''].join(
      '\n',
    ),
  );
}

async function downCommand(name: string): Promise<number> {
  const { stopped } = await down(name);
  process.stderr.write(
    stopped.length > 0
      ? `stopped ${stopped.join(', ')} of cluster '${name}'\n`
      : `cluster '${name}' was not running\n`,
  );
  return EXIT.ok;
}

async function statusCommand(name: string | undefined, format: Format): Promise<number> {
  const clusters = await status(name);
  print(format, clusters, () =>
    clusters.length === 0
      ? 'no local clusters\n'
      : table(
          ['NAME', 'STATUS', 'SERVER', 'NODES', 'COMPONENTS'],
          clusters.map((c) => [
            c.name,
            c.running ? 'Running' : c.components.some((p) => p.running) ? 'Degraded' : 'Stopped',
            c.running ? c.server : '-',
            String(c.nodes.length),
            c.components.map((p) => `${p.name}:${p.running ? String(p.pid) : 'down'}`).join(' ') || '-',
          ]),
        ),
  );
  return EXIT.ok;
}

async function kubeconfigCommand(name: string): Promise<number> {
  const cluster = await attach(name);
  if (!cluster) {
    process.stderr.write(
      `capstan: cluster '${name}' is not running; start it with 'capstan dev-cluster up${nameFlag(name)}'\n`,
    );
    process.stdout.write(`${clusterPaths(name).adminKubeconfig}\n`);
    return EXIT.failed;
  }
  process.stdout.write(`${cluster.adminKubeconfig}\n`);
  return EXIT.ok;
}

/** `expose pod/NAME PORT`: one pod's port on the machine's loopback (LocalCluster.exposePod). */
async function exposeCommand(name: string, args: readonly string[], namespace: string): Promise<number> {
  const [what, port, ...extra] = args;
  const pod = /^(?:pods?|po)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(what ?? '')?.[1];
  if (pod === undefined || port === undefined || extra.length > 0)
    throw new UsageError(
      `expose takes pod/NAME and a PORT (a number or a container port's name), as in: capstan dev-cluster expose pod/web-0 8080 -n demo; got '${args.join(' ')}'`,
    );
  const cluster = await attach(name);
  if (!cluster) {
    process.stderr.write(
      `capstan: cluster '${name}' is not running; start it with 'capstan dev-cluster up --real-node${nameFlag(name)}'\n`,
    );
    return EXIT.failed;
  }
  const address = await cluster.exposePod({ namespace, pod, port });
  process.stdout.write(`${address}\n`);
  process.stderr.write(
    `Pod/${namespace}/${pod} port ${port} at ${address} (its forwarder stops with down)\n`,
  );
  return EXIT.ok;
}
