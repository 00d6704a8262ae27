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
  --lease-namespace NS       namespace of the leader-election Lease (default: POD_NAMESPACE or capstan-system)
  --no-leader-election       act alone (one replica only)
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
      'lease-namespace': { type: 'string' },
      'no-leader-election': { type: 'boolean' },
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
      leaderElection:
        values['no-leader-election'] === true
          ? false
          : { ...(values['lease-namespace'] ? { namespace: values['lease-namespace'] } : {}) },
    },
    stop.signal,
  );
  return EXIT.ok;
}
