import { parseArgs } from 'node:util';
import { DEFAULT_LEADER_ELECTION, runAgent, SANDBOX_MODES, type AgentOptions } from '../../main/agent.ts';
import { checkNamespaceFlag, portFlag, stopOnSignals } from '../flags.ts';
import { EXIT, UsageError } from '../output.ts';
import { parseDuration } from './push.ts';

export const AGENT_HELP = `Usage: capstan agent [options]

Runs Capstan's agent: watches Application resources and keeps each cluster equal to its source.
Logs are JSON lines on stdout. Stops gracefully on SIGTERM or SIGINT: the syncs in flight may finish
while the Lease is surely still its own, then are cancelled (nothing recorded) for the next leader to resume.

Options:
  --kubeconfig PATH          default: KUBECONFIG, ~/.kube/config, then the in-cluster service account
  --context NAME             kubeconfig context
  --concurrency N            Applications reconciled at once (default: 4)
  --selector LABELS          only Applications with these labels (key=value,...), e.g. to shard
  --namespace NS             the agent's own namespace: cluster Secrets, the webhook Secret and the Lease
                             (default: POD_NAMESPACE or capstan-system)
  --lease-namespace NS       namespace of the leader-election Lease (default: the agent's namespace)
  --lease-name NAME          name of the Lease (default: capstan-agent); replicas of one agent share it
  --lease-duration DURATION  how long a leader's lease lasts unrenewed; a dead leader is replaced after it
                             (default: 15s; whole seconds)
  --renew-deadline DURATION  a leader that could not renew for this long steps down (default: 10s, or
                             2/3 of --lease-duration when only that is given)
  --retry-period DURATION    pause between tries to acquire or renew (default: 2s, or 2/15 of --lease-duration)
  --no-leader-election       act alone (one replica only)
  --render-timeout DURATION  time limit for one render (plain files, kustomize, helm) (default: 60s)
  --allow-repository-host HOST
                             a host repositories may be on (repeat it; *.example.com for subdomains);
                             without it any public host. Loopback, link-local, private and
                             cluster-internal hosts only when named exactly
  --default-service-account NAME
                             apply as this ServiceAccount of the Application's namespace when its
                             project's destination names none (impersonation; the install sets
                             capstan-deployer); without it, the agent's own identity applies
  --inventory-namespace NS   where the inventories of in-cluster Applications are kept (default:
                             capstan-system; the install gives the agent ConfigMaps in its namespace)
  --render-sandbox MODE      where kustomize and helm run, so that they read only the checkout and
                             reach no network: auto (default: bubblewrap where user namespaces
                             work, else landlock), bubblewrap (namespaces), landlock (Landlock and
                             seccomp through capstan-confine; works under RuntimeDefault), or off
                             (only where something else isolates them)
  --bind-address ADDR        HTTP address (default: 0.0.0.0)
  --port N                   health and readiness (default: 8080)
  --metrics-port N           metrics (default: 8081)
  --webhook-port N           the webhook receiver, alone on its port (default: 8082)
  -h, --help                 this help
`;

/** The agent's flags, as its parser reads them. */
export const AGENT_OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  concurrency: { type: 'string' },
  selector: { type: 'string' },
  namespace: { type: 'string' },
  'lease-namespace': { type: 'string' },
  'lease-name': { type: 'string' },
  'lease-duration': { type: 'string' },
  'renew-deadline': { type: 'string' },
  'retry-period': { type: 'string' },
  'no-leader-election': { type: 'boolean' },
  'render-timeout': { type: 'string' },
  'render-sandbox': { type: 'string' },
  'default-service-account': { type: 'string' },
  'inventory-namespace': { type: 'string' },
  'allow-repository-host': { type: 'string', multiple: true },
  'bind-address': { type: 'string' },
  port: { type: 'string' },
  'metrics-port': { type: 'string' },
  'webhook-port': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof AGENT_OPTIONS; strict: true }>>['values'];

export async function agent(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: AGENT_OPTIONS,
  });
  if (values.help === true) {
    process.stdout.write(AGENT_HELP);
    return EXIT.ok;
  }
  const options = agentOptions(values);
  await runAgent(options, stopOnSignals());
  return EXIT.ok;
}

/** The agent's options from its flags; a UsageError names the first flag that is wrong. */
function agentOptions(values: Values): AgentOptions {
  const concurrency = values.concurrency === undefined ? 4 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new UsageError(
      `--concurrency must be a whole number from 1 to 64, not '${values.concurrency ?? ''}'`,
    );
  }
  const ports = [portFlag('port', values.port, 8080), portFlag('metrics-port', values['metrics-port'], 8081)];
  for (const flag of ['namespace', 'lease-namespace', 'inventory-namespace'] as const)
    checkNamespaceFlag(flag, values[flag]);
  const election = leaderElection({
    ...values,
    'lease-namespace': values['lease-namespace'] ?? values.namespace,
  });
  const renderTimeoutMs =
    values['render-timeout'] === undefined
      ? undefined
      : positiveDuration('render-timeout', values['render-timeout']);
  const sandbox = SANDBOX_MODES.find((mode) => mode === (values['render-sandbox'] ?? 'auto'));
  if (sandbox === undefined) {
    throw new UsageError(
      `--render-sandbox must be ${SANDBOX_MODES.join(', ')}, not '${values['render-sandbox'] ?? ''}'`,
    );
  }
  const defaultServiceAccount = values['default-service-account'];
  if (
    defaultServiceAccount !== undefined &&
    !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(defaultServiceAccount)
  )
    throw new UsageError(
      `--default-service-account must be a ServiceAccount name (a DNS subdomain), not '${defaultServiceAccount}'`,
    );
  return {
    kubeconfig: values.kubeconfig,
    context: values.context,
    concurrency,
    ...(values.selector ? { labelSelector: values.selector } : {}),
    ...(values.namespace ? { namespace: values.namespace } : {}),
    http: {
      host: values['bind-address'] ?? '0.0.0.0',
      ports,
      webhookPort: portFlag('webhook-port', values['webhook-port'], 8082),
    },
    leaderElection: values['no-leader-election'] === true ? false : election,
    ...(renderTimeoutMs === undefined ? {} : { renderLimits: { timeoutMs: renderTimeoutMs } }),
    renderSandbox: { mode: sandbox },
    ...(defaultServiceAccount === undefined ? {} : { defaultServiceAccount }),
    ...(values['inventory-namespace'] ? { inventoryNamespace: values['inventory-namespace'] } : {}),
    repositoryHosts: values['allow-repository-host'] ?? [],
  };
}

function positiveDuration(flag: string, text: string): number {
  const ms = parseDuration(text, `--${flag}`);
  if (!(ms > 0)) throw new UsageError(`--${flag} must be longer than zero, not '${text}'`);
  return ms;
}

/**
 * The Lease and its timings. Given only --lease-duration, the renew deadline and retry period keep
 * Kubernetes' proportions (15 s, 10 s, 2 s), so that one flag is enough for a faster hand-over.
 */
function leaderElection(values: {
  'lease-namespace'?: string | undefined;
  'lease-name'?: string | undefined;
  'lease-duration'?: string | undefined;
  'renew-deadline'?: string | undefined;
  'retry-period'?: string | undefined;
}): NonNullable<Exclude<AgentOptions['leaderElection'], false>> {
  const lease = values['lease-duration'];
  const leaseMs =
    lease === undefined
      ? DEFAULT_LEADER_ELECTION.leaseDurationSeconds * 1000
      : positiveDuration('lease-duration', lease);
  if (!Number.isInteger(leaseMs / 1000))
    throw new UsageError(`--lease-duration must be a whole number of seconds, not '${lease ?? ''}'`);
  const scaled = (share: number, fallback: number) =>
    lease === undefined ? fallback : Math.round(leaseMs * share);
  const renewDeadlineMs =
    values['renew-deadline'] === undefined
      ? scaled(2 / 3, DEFAULT_LEADER_ELECTION.renewDeadlineMs)
      : positiveDuration('renew-deadline', values['renew-deadline']);
  const retryPeriodMs =
    values['retry-period'] === undefined
      ? scaled(2 / 15, DEFAULT_LEADER_ELECTION.retryPeriodMs)
      : positiveDuration('retry-period', values['retry-period']);
  if (renewDeadlineMs >= leaseMs)
    throw new UsageError('--renew-deadline must be shorter than --lease-duration');
  if (retryPeriodMs * (1 + DEFAULT_LEADER_ELECTION.jitterFactor) >= renewDeadlineMs)
    throw new UsageError('--retry-period (with 20 % jitter) must be shorter than --renew-deadline');
  return {
    ...(values['lease-namespace'] ? { namespace: values['lease-namespace'] } : {}),
    ...(values['lease-name'] ? { name: values['lease-name'] } : {}),
    leaseDurationSeconds: leaseMs / 1000,
    renewDeadlineMs,
    retryPeriodMs,
  };
}
