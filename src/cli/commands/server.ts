import { parseArgs } from 'node:util';
import { DEFAULT_AUDIT_RETENTION_DAYS, runServer } from '../../main/server.ts';
import type { OidcServerOptions } from '../../main/server-sso.ts';
import { isPostgresUrl } from '../../adapters/store/postgres-store.ts';
import { checkNamespaceFlag, portFlag, registryEndpointsFlag, stopOnSignals } from '../flags.ts';
import type { BuildkitEndpoint } from '../../core/build-step.ts';
import type { RunPlacement } from '../../core/run-pod.ts';
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
  --inventory-namespace NS   where the agent keeps the inventories of in-cluster Applications (its
                             --inventory-namespace; default: the server's namespace, as the install
                             runs the agent beside it)
  --database PATH            the SQLite file of the audit trail, users, sessions and tokens
                             (default: $XDG_DATA_HOME/capstan/server.db, else ~/.local/share/capstan/server.db)
  --store URL                a PostgreSQL database instead of the SQLite file, shared by several
                             replicas: postgres://USER@HOST:PORT/DATABASE[?sslmode=require]. Default:
                             the environment variable CAPSTAN_STORE_URL (set it from a Secret; it may
                             hold the password). A password is never taken on the command line (the
                             process list shows it): give it in CAPSTAN_STORE_URL or PGPASSWORD
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
  --public-url URL           the address browsers reach this server at (https://capstan.example.com);
                             needed with --oidc-issuer: the provider sends people back to
                             URL/api/v1/auth/oidc/callback; commit statuses link to URL/runs/ID,
                             notifications to the object's page
  --oidc-issuer URL          single sign-on with this OpenID provider (authorization code with PKCE)
  --oidc-client-id ID        the server's client at the provider
  --oidc-client-secret-file PATH
                             the client secret, from a file (a mounted Secret); or:
  --oidc-client-secret-secret NAME
                             a Secret of the server's namespace holding it under 'client-secret'
  --oidc-scope SCOPE         repeatable (default: openid profile email groups; offline_access
                             is added when the provider offers it: sessions refreshed)
  --oidc-groups-claim NAME   the claim with the user's groups (default: groups), of the ID token,
                             else of the userinfo endpoint; the Projects' roles name these groups
  --oidc-username-claim NAME the claim naming the user (default: preferred_username, email, sub)
  --oidc-admin-group GROUP   members are global admins; repeatable (default: none)
  --oidc-allow-http-issuer   a plain-HTTP issuer (a loopback provider in tests only)
  --pipeline-image IMAGE     drive pipeline runs (docs/pipelines.md) from this process, one replica
                             at a time; IMAGE is Capstan's image by digest, which checks the code out
                             in each run Pod. Without it, no runs start
  --promotions               drive promotions to Environments (docs/promotions.md) from this process,
                             one replica at a time (the Lease capstan-promotions)
  --promotions-allow-http    let promotions commit to http:// configuration repositories (loopback)
  --run-retention DAYS       pipeline runs finished longer ago are deleted (default: 90)
  --pipeline-allow-http      let run Pods check out http:// repositories (a dev git server)
  --buildkit-image IMAGE     image steps: the BuildKit image (buildctl) of the build containers; with
                             it, runs build images on the cluster's buildkitd (docs/pipelines.md)
  --buildkit-address ADDR    buildkitd (default: tcp://buildkitd.capstan-buildkit.svc:1234)
  --buildkit-server-name N   the name its certificate carries (default: buildkitd.capstan-buildkit.svc)
  --buildkit-client-secret S the client certificate's Secret in each Pipeline's namespace (ca.crt,
                             tls.crt, tls.key; default: capstan-buildkit-client)
  --registry-endpoint REGISTRY=HOST[:PORT]
                             image steps: reach REGISTRY (as image references name it, where BuildKit
                             pushed) at HOST[:PORT] from this process, to make its attestations
                             reproducible; TLS is checked against HOST; repeatable. For a registry
                             whose name answers elsewhere than here (the dev cluster's 127.0.0.1:<r>,
                             answering the server's Pod at 10.200.0.1:<r>)
  --run-image-pull-secret S  a Secret of each Pipeline's namespace the run Pods pull images with
                             (Capstan's image, the steps' images); repeatable
  --run-node-selector K=V    run Pods go to nodes with this label; repeatable
  --run-toleration K[=V]:EFFECT
                             run Pods tolerate this taint (EFFECT: NoSchedule, PreferNoSchedule,
                             NoExecute; without =V, any value); repeatable
  -h, --help                 this help
`;

const SERVER_OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string' },
  'inventory-namespace': { type: 'string' },
  database: { type: 'string' },
  store: { type: 'string' },
  'audit-retention': { type: 'string' },
  'bind-address': { type: 'string' },
  port: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'secure-cookies': { type: 'boolean' },
  'allow-repository-host': { type: 'string', multiple: true },
  'public-url': { type: 'string' },
  'oidc-issuer': { type: 'string' },
  'oidc-client-id': { type: 'string' },
  'oidc-client-secret-file': { type: 'string' },
  'oidc-client-secret-secret': { type: 'string' },
  'oidc-scope': { type: 'string', multiple: true },
  'oidc-groups-claim': { type: 'string' },
  'oidc-username-claim': { type: 'string' },
  'oidc-admin-group': { type: 'string', multiple: true },
  'oidc-allow-http-issuer': { type: 'boolean' },
  'pipeline-image': { type: 'string' },
  promotions: { type: 'boolean' },
  'promotions-allow-http': { type: 'boolean' },
  'run-retention': { type: 'string' },
  'pipeline-allow-http': { type: 'boolean' },
  'buildkit-image': { type: 'string' },
  'buildkit-address': { type: 'string' },
  'buildkit-server-name': { type: 'string' },
  'buildkit-client-secret': { type: 'string' },
  'registry-endpoint': { type: 'string', multiple: true },
  'run-image-pull-secret': { type: 'string', multiple: true },
  'run-node-selector': { type: 'string', multiple: true },
  'run-toleration': { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function server(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: SERVER_OPTIONS,
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
  const inventoryNs = values['inventory-namespace'];
  checkNamespaceFlag('inventory-namespace', inventoryNs);
  const oidc = oidcOptions(values);
  const storeUrl = storeUrlOf(values, process.env);
  const registryEndpoints = registryEndpointsOf(values);
  await runServer(
    {
      kubeconfig: values.kubeconfig,
      context: values.context,
      ...(ns === undefined ? {} : { namespace: ns }),
      ...(inventoryNs === undefined ? {} : { inventoryNamespace: inventoryNs }),
      ...(values.database === undefined ? {} : { database: values.database }),
      ...(storeUrl === undefined ? {} : { storeUrl }),
      host: values['bind-address'] ?? '0.0.0.0',
      port,
      ...(values['tls-cert'] !== undefined && values['tls-key'] !== undefined
        ? { tls: { cert: values['tls-cert'], key: values['tls-key'] } }
        : {}),
      secureCookies: values['secure-cookies'] === true,
      auditRetentionDays: retention,
      repositoryHosts: values['allow-repository-host'] ?? [],
      ...(oidc === undefined ? {} : { oidc }),
      // Notifications link to the UI at --public-url.
      notifications: publicUrlOf(values['public-url']),
      ...(values.promotions === true
        ? { promotions: { allowInsecureHttp: values['promotions-allow-http'] === true } }
        : {}),
      ...(values['pipeline-image'] === undefined
        ? {}
        : {
            pipelines: {
              capstanImage: values['pipeline-image'],
              retentionDays: runRetention,
              allowInsecureHttp: values['pipeline-allow-http'] === true,
              ...publicUrlOf(values['public-url']),
              ...buildkitOptions(values),
              ...runPodOptions(values),
              ...registryEndpoints,
            },
          }),
    },
    stopOnSignals(),
  );
  return EXIT.ok;
}

/**
 * The PostgreSQL store's URL: --store, else CAPSTAN_STORE_URL; undefined for the SQLite file. A password
 * on the command line is refused (every user of the machine sees the process list).
 */
export function storeUrlOf(
  values: { store?: string | undefined; database?: string | undefined },
  env: NodeJS.ProcessEnv,
): string | undefined {
  const flag = values.store;
  if (flag !== undefined && values.database !== undefined)
    throw new UsageError('give --store (PostgreSQL) or --database (SQLite), not both');
  if (flag !== undefined && passwordIn(flag))
    throw new UsageError(
      '--store must not hold a password (the process list shows it): give it in PGPASSWORD, or the whole URL in CAPSTAN_STORE_URL, from a Secret',
    );
  const url = flag ?? (env['CAPSTAN_STORE_URL'] === '' ? undefined : env['CAPSTAN_STORE_URL']);
  if (url !== undefined && !isPostgresUrl(url))
    throw new UsageError(
      `${flag === undefined ? 'CAPSTAN_STORE_URL' : '--store'} must be a postgres:// or postgresql:// URL (postgres://USER@HOST:PORT/DATABASE)`,
    );
  return url;
}

const passwordIn = (url: string): boolean => {
  try {
    return new URL(url).password !== '';
  } catch {
    return false;
  }
};

/** --registry-endpoint, for the attestations of image steps: only with --pipeline-image (runs driven here). */
export function registryEndpointsOf(values: {
  readonly 'pipeline-image'?: string | undefined;
  readonly 'registry-endpoint'?: readonly string[] | undefined;
}): { registryEndpoints?: Record<string, string> } {
  const endpoints = registryEndpointsFlag('registry-endpoint', values['registry-endpoint']);
  if (Object.keys(endpoints).length === 0) return {};
  if (values['pipeline-image'] === undefined)
    throw new UsageError('--registry-endpoint needs --pipeline-image (this process drives the runs)');
  return { registryEndpoints: endpoints };
}

/** The BuildKit endpoint of image steps: the --buildkit-* flags, of which --buildkit-image is needed. */
export function buildkitOptions(values: {
  readonly 'buildkit-image'?: string | undefined;
  readonly 'buildkit-address'?: string | undefined;
  readonly 'buildkit-server-name'?: string | undefined;
  readonly 'buildkit-client-secret'?: string | undefined;
}): { buildkit?: BuildkitEndpoint } {
  const image = values['buildkit-image'];
  const others = (['buildkit-address', 'buildkit-server-name', 'buildkit-client-secret'] as const).filter(
    (flag) => values[flag] !== undefined,
  );
  if (image === undefined) {
    if (others.length > 0)
      throw new UsageError(`--${others.join(', --')} need --buildkit-image (the image of the build steps)`);
    return {};
  }
  const address = values['buildkit-address'] ?? BUILDKIT_DEFAULTS.address;
  if (!/^tcp:\/\/[^/\s]+:[0-9]{1,5}$/.test(address))
    throw new UsageError(`--buildkit-address must be tcp://HOST:PORT, not '${address}'`);
  return {
    buildkit: {
      image,
      address,
      serverName: values['buildkit-server-name'] ?? BUILDKIT_DEFAULTS.serverName,
      clientSecret: values['buildkit-client-secret'] ?? BUILDKIT_DEFAULTS.clientSecret,
    },
  };
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

/** The run Pods' pull Secrets and placement: --run-image-pull-secret, --run-node-selector, --run-toleration. */
export function runPodOptions(values: {
  readonly 'run-image-pull-secret'?: readonly string[] | undefined;
  readonly 'run-node-selector'?: readonly string[] | undefined;
  readonly 'run-toleration'?: readonly string[] | undefined;
}): { imagePullSecrets?: string[]; placement?: RunPlacement } {
  const secrets = values['run-image-pull-secret'] ?? [];
  for (const name of secrets)
    if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(name))
      throw new UsageError(`--run-image-pull-secret must name a Secret, not '${name}'`);
  const nodeSelector: Record<string, string> = {};
  for (const pair of values['run-node-selector'] ?? []) {
    const [key = '', value = ''] = splitOnce(pair, '=');
    if (!pair.includes('=') || !LABEL_KEY.test(key) || !LABEL_VALUE.test(value))
      throw new UsageError(`--run-node-selector must be LABEL=VALUE, not '${pair}'`);
    nodeSelector[key] = value;
  }
  const tolerations = (values['run-toleration'] ?? []).map((text) => {
    const [taint = '', effect = ''] = splitOnce(text, ':', true);
    const [key = '', value] = taint.includes('=') ? splitOnce(taint, '=') : [taint, undefined];
    if (
      !LABEL_KEY.test(key) ||
      !TAINT_EFFECTS.includes(effect) ||
      (value !== undefined && !LABEL_VALUE.test(value))
    )
      throw new UsageError(
        `--run-toleration must be KEY[=VALUE]:EFFECT (EFFECT: ${TAINT_EFFECTS.join(', ')}), not '${text}'`,
      );
    return value === undefined
      ? { key, operator: 'Exists', effect }
      : { key, operator: 'Equal', value, effect };
  });
  const placement = {
    ...(Object.keys(nodeSelector).length > 0 ? { nodeSelector } : {}),
    ...(tolerations.length > 0 ? { tolerations } : {}),
  };
  return {
    ...(secrets.length > 0 ? { imagePullSecrets: [...new Set(secrets)] } : {}),
    ...(Object.keys(placement).length > 0 ? { placement } : {}),
  };
}

/** `text` split at the first (or last) `separator`: [before, after]; [text] when it has none. */
function splitOnce(text: string, separator: string, last = false): string[] {
  const at = last ? text.lastIndexOf(separator) : text.indexOf(separator);
  return at < 0 ? [text] : [text.slice(0, at), text.slice(at + 1)];
}

const BUILDKIT_DEFAULTS = {
  address: 'tcp://buildkitd.capstan-buildkit.svc:1234',
  serverName: 'buildkitd.capstan-buildkit.svc',
  clientSecret: 'capstan-buildkit-client',
} as const;

/** --public-url for the links of commit statuses (pipelines): an http(s):// address. */
function publicUrlOf(url: string | undefined): { publicUrl?: string } {
  if (url === undefined) return {};
  if (!/^https?:\/\/[^/]+/.test(url))
    throw new UsageError(
      `--public-url must be the http(s):// address browsers reach this server at, not ${url}`,
    );
  return { publicUrl: url };
}

/** The --oidc-* flags, checked together: all of issuer, client id, one secret source and --public-url, or none. */
function oidcOptions(values: {
  'public-url'?: string | undefined;
  'oidc-issuer'?: string | undefined;
  'oidc-client-id'?: string | undefined;
  'oidc-client-secret-file'?: string | undefined;
  'oidc-client-secret-secret'?: string | undefined;
  'oidc-scope'?: string[] | undefined;
  'oidc-groups-claim'?: string | undefined;
  'oidc-username-claim'?: string | undefined;
  'oidc-admin-group'?: string[] | undefined;
  'oidc-allow-http-issuer'?: boolean | undefined;
}): OidcServerOptions | undefined {
  const issuer = values['oidc-issuer'];
  const others = Object.entries(values).filter(
    ([k, v]) => k.startsWith('oidc-') && k !== 'oidc-issuer' && v !== undefined,
  );
  if (issuer === undefined) {
    if (others.length > 0) throw new UsageError(`--${others[0]?.[0] ?? 'oidc-…'} needs --oidc-issuer`);
    return undefined;
  }
  const clientId = values['oidc-client-id'];
  if (clientId === undefined) throw new UsageError('--oidc-issuer needs --oidc-client-id');
  const file = values['oidc-client-secret-file'];
  const secret = values['oidc-client-secret-secret'];
  if ((file === undefined) === (secret === undefined))
    throw new UsageError(
      '--oidc-issuer needs one of --oidc-client-secret-file or --oidc-client-secret-secret',
    );
  const publicUrl = values['public-url'];
  if (publicUrl === undefined || !/^https?:\/\/[^/]+/.test(publicUrl))
    throw new UsageError(
      '--oidc-issuer needs --public-url (the http(s):// address browsers reach this server at)',
    );
  return {
    issuer,
    clientId,
    ...(file === undefined ? {} : { clientSecretFile: file }),
    ...(secret === undefined ? {} : { clientSecretSecret: secret }),
    ...(values['oidc-scope'] === undefined ? {} : { scopes: values['oidc-scope'] }),
    ...(values['oidc-groups-claim'] === undefined ? {} : { groupsClaim: values['oidc-groups-claim'] }),
    ...(values['oidc-username-claim'] === undefined ? {} : { usernameClaim: values['oidc-username-claim'] }),
    adminGroups: values['oidc-admin-group'] ?? [],
    publicUrl,
    allowHttpIssuer: values['oidc-allow-http-issuer'] === true,
  };
}
