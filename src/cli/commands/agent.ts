import { parseArgs } from 'node:util';
import { runAgent } from '../../main/agent.ts';
import { EXIT, UsageError } from '../output.ts';

export const AGENT_HELP = `Usage: capstan agent [options]

Runs Capstan's agent: watches Application resources and keeps each cluster equal to its source.
Logs are JSON lines on stdout. Stops gracefully on SIGTERM or SIGINT (the syncs in flight finish).

Options:
  --kubeconfig PATH          default: KUBECONFIG, ~/.kube/config, then the in-cluster service account
  --context NAME             kubeconfig context
  --concurrency N            Applications reconciled at once (default: 4)
  --selector LABELS          only Applications with these labels (key=value,...), e.g. to shard
  --lease-namespace NS       namespace of the leader-election Lease (default: POD_NAMESPACE or capstan-system)
  --no-leader-election       act alone (one replica only)
  --bind-address ADDR        HTTP address (default: 0.0.0.0)
  --port N                   health, readiness and webhooks (default: 8080)
  --metrics-port N           metrics (default: 8081)
  -h, --help                 this help
`;

export async function agent(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      concurrency: { type: 'string' },
      selector: { type: 'string' },
      'lease-namespace': { type: 'string' },
      'no-leader-election': { type: 'boolean' },
      'bind-address': { type: 'string' },
      port: { type: 'string' },
      'metrics-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(AGENT_HELP);
    return EXIT.ok;
  }
  const concurrency = values.concurrency === undefined ? 4 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new UsageError(
      `--concurrency must be a whole number from 1 to 64, not '${values.concurrency ?? ''}'`,
    );
  }
  const port = (name: string, value: string | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new UsageError(`--${name} must be a port number, not '${value}'`);
    return n;
  };
  const ports = [port('port', values.port, 8080), port('metrics-port', values['metrics-port'], 8081)];
  const stop = new AbortController();
  const onSignal = () => {
    stop.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await runAgent(
    {
      kubeconfig: values.kubeconfig,
      context: values.context,
      concurrency,
      ...(values.selector ? { labelSelector: values.selector } : {}),
      http: { host: values['bind-address'] ?? '0.0.0.0', ports },
      leaderElection:
        values['no-leader-election'] === true
          ? false
          : { ...(values['lease-namespace'] ? { namespace: values['lease-namespace'] } : {}) },
    },
    stop.signal,
  );
  return EXIT.ok;
}
