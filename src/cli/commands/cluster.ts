import { parseArgs } from 'node:util';
import { checkClusterName, clusterSecretName } from '../../core/cluster-secret.ts';
import { CapstanError } from '../../core/errors.ts';
import {
  ClusterClient,
  DEFAULT_AGENT_NAMESPACE,
  readKubeconfigFile,
  type ClusterSummary,
} from '../../adapters/kube/cluster-client.ts';
import { EXIT, parseOutput, print, table, UsageError, type OutputFormat } from '../output.ts';

export const CLUSTER_HELP = `Usage: capstan cluster <command> [options]

Destination clusters of the agent. A cluster is registered as a Secret in the agent's namespace
(label capstan.dev/secret-type=cluster, keys name and kubeconfig); Applications name it in
spec.destination.cluster. Its credentials stay in that Secret: they are never printed.

Commands:
  add NAME --kubeconfig FILE [--context CTX]
                         register (or update) a cluster: the context's cluster and user are taken from
                         FILE, the files they name are read and inlined, and the result is stored in the
                         Secret cluster-NAME. Exec plugins and auth providers are refused: give a
                         ServiceAccount token (or a client certificate) instead
  list                   NAME, SERVER, AUTH, SECRET (and why the agent cannot use one, if so)
  remove NAME [--force]  delete the Secret registering NAME; refused while Applications deploy there
                         (they would stall), or when you may not list them all, unless --force

Options:
  -n, --namespace NS     the agent's namespace, where the Secrets are (default: ${DEFAULT_AGENT_NAMESPACE})
  -o, --output FMT       table, json or yaml
  add:
    --kubeconfig FILE    kubeconfig of the cluster to register (required)
    --context CTX        its context (default: its current-context)
    --inventory-namespace NS
                         where the agent keeps inventories in that cluster (default: capstan-system); an
                         identity limited to some namespaces needs one of them here
    --agent-kubeconfig PATH, --agent-context NAME
                         the agent's cluster, where the Secret is written (default: KUBECONFIG, then
                         ~/.kube/config)
  list, remove:
    --kubeconfig PATH, --context NAME
                         the agent's cluster (default: KUBECONFIG, then ~/.kube/config)

Exit codes: 0 success, 2 usage error, 4 failure (a kubeconfig refused, not found, the API failed).
`;

const OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  'agent-kubeconfig': { type: 'string' },
  'agent-context': { type: 'string' },
  'inventory-namespace': { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  output: { type: 'string', short: 'o' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMANDS = {
  add: ['kubeconfig', 'context', 'agent-kubeconfig', 'agent-context', 'inventory-namespace'],
  list: ['kubeconfig', 'context'],
  remove: ['kubeconfig', 'context', 'force'],
} as const satisfies Record<string, readonly (keyof typeof OPTIONS)[]>;
type Command = keyof typeof COMMANDS;
type Values = ReturnType<typeof parse>['values'];

const COMMON = ['namespace', 'output', 'help'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const isCommand = (name: string): name is Command => Object.hasOwn(COMMANDS, name);

function parse(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
}

/** `capstan cluster …`: returns the exit code. */
export async function cluster(argv: readonly string[]): Promise<number> {
  const { values, positionals: all } = parse(argv);
  const [command, ...positionals] = all;
  if (command === undefined || command === 'help' || values.help === true) {
    process.stdout.write(CLUSTER_HELP);
    return command === undefined && values.help !== true ? EXIT.usage : EXIT.ok;
  }
  if (!isCommand(command)) {
    process.stderr.write(
      `capstan: unknown command 'cluster ${command}'; one of: ${Object.keys(COMMANDS).join(', ')}\n` +
        "Run 'capstan cluster --help' for the commands and their options.\n",
    );
    return EXIT.usage;
  }
  const allowed: readonly string[] = [...COMMON, ...COMMANDS[command]];
  for (const key of Object.keys(values)) {
    if (!allowed.includes(key))
      throw new UsageError(`--${key} is not an option of 'capstan cluster ${command}'`);
  }
  const format = parseOutput(values.output);
  if (values.namespace !== undefined && !DNS_LABEL.test(values.namespace))
    throw new UsageError(`--namespace '${values.namespace}' is not a namespace name`);
  switch (command) {
    case 'add':
      return add(values, positionals, format);
    case 'list':
      return list(values, positionals, format);
    case 'remove':
      return remove(values, positionals, format);
  }
}

function nameOf(positionals: readonly string[], command: Command): string {
  const [name, ...extra] = positionals;
  if (name === undefined) throw new UsageError(`capstan cluster ${command} needs the cluster's NAME`);
  if (extra.length > 0)
    throw new UsageError(`too many arguments for capstan cluster ${command}: ${extra.join(' ')}`);
  const problem = checkClusterName(name);
  if (problem !== undefined) throw new UsageError(problem);
  return name;
}

async function add(values: Values, positionals: readonly string[], format: OutputFormat): Promise<number> {
  const name = nameOf(positionals, 'add');
  if (values.kubeconfig === undefined)
    throw new UsageError(
      'capstan cluster add needs --kubeconfig FILE: the kubeconfig of the cluster to register',
    );
  const inventoryNamespace = values['inventory-namespace'];
  if (inventoryNamespace !== undefined && !DNS_LABEL.test(inventoryNamespace))
    throw new UsageError(`--inventory-namespace '${inventoryNamespace}' is not a namespace name`);
  // 1. The cluster's kubeconfig, flattened and inline; refused before anything is written.
  const kubeconfig = readKubeconfigFile(values.kubeconfig, values.context);
  const client = new ClusterClient({
    kubeconfig: values['agent-kubeconfig'],
    context: values['agent-context'],
    namespace: values.namespace,
  });
  try {
    // 2. Can it be reached from here? Only a warning: the agent may see networks this machine does not.
    const check = await client.check(kubeconfig);
    if ('error' in check)
      process.stderr.write(
        `warning: cluster '${name}' could not be reached from here with this kubeconfig: ${check.error}\n`,
      );
    else process.stderr.write(`cluster '${name}': ${kubeconfig.cluster.server} answers (${check.version})\n`);
    // 3. The Secret.
    const { action, cluster } = await client.add(name, kubeconfig, { inventoryNamespace });
    if (format === 'table')
      process.stdout.write(
        `cluster/${name} ${action} (Secret ${client.namespace}/${clusterSecretName(name)}, ${cluster.server ?? ''})\n`,
      );
    else print(format, { ...cluster, action }, () => '');
    return EXIT.ok;
  } finally {
    client.close();
  }
}

async function list(values: Values, positionals: readonly string[], format: OutputFormat): Promise<number> {
  if (positionals.length > 0)
    throw new UsageError(`capstan cluster list takes no arguments: ${positionals.join(' ')}`);
  const client = new ClusterClient({
    kubeconfig: values.kubeconfig,
    context: values.context,
    namespace: values.namespace,
  });
  try {
    const clusters = await client.list();
    if (clusters.length === 0 && format === 'table') {
      process.stderr.write(
        `No clusters registered in namespace ${client.namespace} (in-cluster is always there).\n`,
      );
      return EXIT.ok;
    }
    print(format, clusters, () => clusterTable(clusters));
    return EXIT.ok;
  } finally {
    client.close();
  }
}

/** NAME, SERVER, AUTH, SECRET, MESSAGE (why the agent cannot use it). */
export function clusterTable(clusters: readonly ClusterSummary[]): string {
  return table(
    ['NAME', 'SERVER', 'AUTH', 'SECRET', 'MESSAGE'],
    clusters.map((c) => [
      c.name,
      c.server ?? '-',
      c.auth ?? '-',
      c.secret.replace(/^Secret\//, ''),
      (c.error ?? '').slice(0, 200),
    ]),
  );
}

async function remove(values: Values, positionals: readonly string[], format: OutputFormat): Promise<number> {
  const name = nameOf(positionals, 'remove');
  const client = new ClusterClient({
    kubeconfig: values.kubeconfig,
    context: values.context,
    namespace: values.namespace,
  });
  try {
    const removed = await client.remove(name, { force: values.force === true });
    if (removed.length === 0)
      throw new CapstanError(
        'CLUSTER_NOT_FOUND',
        `cluster '${name}' is not registered in namespace ${client.namespace} (capstan cluster list shows those that are)`,
      );
    print(format, { name, removed: removed.map((r) => r.secret) }, () =>
      removed.map((r) => `cluster/${name} removed (${r.secret})\n`).join(''),
    );
    return EXIT.ok;
  } finally {
    client.close();
  }
}
