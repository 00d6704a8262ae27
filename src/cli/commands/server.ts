import { parseArgs } from 'node:util';
import { DEFAULT_AUDIT_RETENTION_DAYS, runServer } from '../../main/server.ts';
import { checkNamespaceFlag, portFlag, stopOnSignals } from '../flags.ts';
import { EXIT, UsageError } from '../output.ts';

export const SERVER_HELP = `Usage: capstan server [options]

Runs Capstan's API server: an HTTP JSON API under /api/v1 for people and tools (the web UI, the CLI,
CI jobs), with login, roles per project and an audit trail. Its OpenAPI document is at
/api/v1/openapi.json. Logs are JSON lines on stdout. Stops on SIGTERM or SIGINT. See docs/server.md.

At first start it creates the local user 'admin' with a generated password, written once to the
Secret capstan-initial-admin in its namespace (else printed once on stderr).

Options:
  --kubeconfig PATH          default: KUBECONFIG, ~/.kube/config, then the in-cluster service account
  --context NAME             kubeconfig context
  --namespace NS             the server's namespace: its Secrets and the cluster Secrets it lists
                             (default: POD_NAMESPACE or capstan-system)
  --database PATH            the SQLite file of the audit trail, users, sessions and tokens
                             (default: $XDG_DATA_HOME/capstan/server.db, else ~/.local/share/capstan/server.db)
  --audit-retention DAYS     audit entries older than this are deleted (default: ${DEFAULT_AUDIT_RETENTION_DAYS})
  --bind-address ADDR        default: 0.0.0.0
  --port N                   default: 8080
  --tls-cert PATH            serve HTTPS with this certificate (PEM), with --tls-key
  --tls-key PATH
  --secure-cookies           Secure cookies without --tls-cert (behind a proxy that terminates TLS)
  --allow-repository-host HOST
                             a repository host the server may fetch desired state from (for the
                             desired manifest and diff of a resource); repeatable. As the agent's flag:
                             loopback and private hosts only when named here
  --pipeline-image IMAGE     drive pipeline runs (docs/pipelines.md) from this process, one replica
                             at a time; IMAGE is Capstan's image by digest, which checks the code out
                             in each run Pod. Without it, no runs start
  --run-retention DAYS       pipeline runs finished longer ago are deleted (default: 90)
  --pipeline-allow-http      let run Pods check out http:// repositories (a dev git server)
  -h, --help                 this help
`;

export async function server(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      namespace: { type: 'string' },
      database: { type: 'string' },
      'audit-retention': { type: 'string' },
      'bind-address': { type: 'string' },
      port: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'secure-cookies': { type: 'boolean' },
      'allow-repository-host': { type: 'string', multiple: true },
      'pipeline-image': { type: 'string' },
      'run-retention': { type: 'string' },
      'pipeline-allow-http': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(SERVER_HELP);
    return EXIT.ok;
  }
  const port = portFlag('port', values.port, 8080);
  const retention =
    values['audit-retention'] === undefined
      ? DEFAULT_AUDIT_RETENTION_DAYS
      : Number(values['audit-retention']);
  if (!Number.isInteger(retention) || retention < 1 || retention > 3650)
    throw new UsageError(
      `--audit-retention must be a whole number of days from 1 to 3650, not '${values['audit-retention'] ?? ''}'`,
    );
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined))
    throw new UsageError('give --tls-cert and --tls-key together');
  const runRetention = values['run-retention'] === undefined ? 90 : Number(values['run-retention']);
  if (!Number.isInteger(runRetention) || runRetention < 1 || runRetention > 3650)
    throw new UsageError(
      `--run-retention must be a whole number of days from 1 to 3650, not '${values['run-retention'] ?? ''}'`,
    );
  const ns = values.namespace;
  checkNamespaceFlag('namespace', ns);
  await runServer(
    {
      kubeconfig: values.kubeconfig,
      context: values.context,
      ...(ns === undefined ? {} : { namespace: ns }),
      ...(values.database === undefined ? {} : { database: values.database }),
      host: values['bind-address'] ?? '0.0.0.0',
      port,
      ...(values['tls-cert'] !== undefined && values['tls-key'] !== undefined
        ? { tls: { cert: values['tls-cert'], key: values['tls-key'] } }
        : {}),
      secureCookies: values['secure-cookies'] === true,
      auditRetentionDays: retention,
      repositoryHosts: values['allow-repository-host'] ?? [],
      ...(values['pipeline-image'] === undefined
        ? {}
        : {
            pipelines: {
              capstanImage: values['pipeline-image'],
              retentionDays: runRetention,
              allowInsecureHttp: values['pipeline-allow-http'] === true,
            },
          }),
    },
    stopOnSignals(),
  );
  return EXIT.ok;
}
