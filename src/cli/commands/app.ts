import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { CapstanError } from '../../core/errors.ts';
import { parseManifests } from '../../core/manifest.ts';
import { formatId } from '../../core/resource.ts';
import { rollbackTarget as resolveRollback } from '../../core/rollback.ts';
import {
  APPLICATION_API_VERSION,
  APPLICATION_KIND,
  REQUEST_ANNOTATIONS,
  syncRequestValue,
  type SyncRequestValue,
  requestTime,
  RESOURCES_FINALIZER,
  validateApplication,
  type Application,
  type HistoryEntry,
  type RequestKind,
} from '../../contracts/application.ts';
import { ApplicationClient } from '../../adapters/kube/application-client.ts';
import { planApplication, type ApplicationPlan } from '../apps.ts';
import {
  describeApplication,
  diffDocument,
  diffText,
  forOutput,
  hasDifferences,
  historyDocument,
  historyTable,
  listDocument,
  listTable,
  objectRef,
  requestResult,
  shortRevision,
  type DiffInput,
} from '../app-printer.ts';
import { EXIT, outputFormat, UsageError, type OutputFormat } from '../output.ts';
import { replaceNote } from '../sync-printer.ts';
import { helmParameters, jsonnetOptions, parseDuration, SOURCE_RENDER_OPTIONS } from './push.ts';
import {
  nameOf,
  output,
  printNothingToRelease,
  printRequested,
  REQUEST_WORDS,
  say,
  selectionOf,
} from './app-common.ts';
import { isRemoteCommand, runRemote } from './app-remote.ts';
import { readLogin, ServerClient } from '../server-client.ts';

export const APP_HELP = `Usage: capstan app <command> NAME [options]

Applications (capstan.dev/v1alpha1) through the Kubernetes API, with your kubeconfig. The agent in the
cluster does the work; these commands create them, show them, and ask the agent for a sync, a refresh
or a rollback (an annotation it answers in the Application's status).

After 'capstan login SERVER', list, get, history, sync, refresh, rollback and release-hold go through
that capstan server (with your role in the Application's project) unless --kubeconfig or --context is
given; the output is the same.

Commands:
  create NAME --repo URL [source] [destination] [policy]
                         create or update an Application (server-side apply, field manager capstan-cli:
                         running it again with the same flags changes nothing)
  create -f FILE         the same from a YAML or JSON file (- for standard input), one or more Applications
  list                   NAME, SYNC, HEALTH, REVISION, AGE (-o wide: REPO, PATH, MESSAGE; -A every namespace)
  get NAME               source, destination, policy, state, conditions, resources, last operation, hold
  history NAME           the recorded syncs, and whether a rollback hold is active
  diff NAME              render the source here and diff it against the cluster (exit 1 on differences)
  sync NAME              ask the agent to sync now; waits for the result (--no-wait to return at once)
  refresh NAME           ask the agent to resolve the source again now
  rollback NAME [ID|REVISION]
                         put back an earlier successful sync (default: the one before the current one)
                         and hold automated sync on it; waits for the result
  release-hold NAME      let automated sync follow the source again after a rollback
  delete NAME            delete it and, by default, every resource it deployed (--cascade=false keeps them)
  wait NAME              wait until it is Ready (--for ready), Synced (--for sync) or Healthy (--for health)

Common options:
  --kubeconfig PATH      default: KUBECONFIG, then ~/.kube/config
  --context NAME         kubeconfig context
  -n, --namespace NS     the Applications' namespace (default: the context's namespace, else default)
  -o, --output FMT       table, json or yaml (list and get: wide too)

create:
  --repo URL             git repository (https, ssh; http only with --insecure-http)
  --revision REV         branch, tag, semver range over tags or commit SHA (default: HEAD)
  --path PATH            folder inside the repository (default: the root)
  --chart NAME           instead of --path: a chart of the Helm repository --repo (https://… with an
                         index.yaml, or oci://host/path); --revision is its version or a semver range
                         (default: the newest); --secret then holds the repository's credentials
  --type TYPE            directory, kustomize or helm (default: detected)
  --insecure-http        allow an http:// repository URL
  --secret NAME          the Secret with the git credentials, in the Application's namespace (keys:
                         username and password, or token, or sshPrivateKey with knownHosts)
  --dest-namespace NS    namespace for objects that name none (default: the Application's namespace)
  --dest-cluster NAME    a registered cluster (default: in-cluster)
  --auto-sync            sync every new revision without being asked; with --prune, --self-heal
  --prune                (with --auto-sync) delete objects that left the desired state
  --self-heal            (with --auto-sync) put back objects changed in the cluster
  --create-namespace     create the destination namespace when missing
  --interval DURATION    how often the source is checked (default: 3m)
  --depends-on NAME      an Application that must be Ready first; repeatable
  -f, --file FILE        Applications from a file instead of flags
  Helm (spec.source.helm):
  --release-name NAME    release name (default: the Application's name)
  --values FILE          values file, relative to the chart folder; repeatable, applied in order
  --values-inline YAML   values given inline, applied after the values files
  --set NAME=VALUE       one value, e.g. image.tag=1.2.3; repeatable, applied last
  --set-string NAME=VALUE one value kept as a string; repeatable
  --skip-crds            leave out the chart's crds/ folder
  --helm-secret NAME     a Secret with credentials for the chart repositories that the chart's
                         dependencies name; repeatable
  Directory and Jsonnet (spec.source.directory):
  --include GLOB         files to read; repeatable (default: *.yaml, *.yml, *.json, *.jsonnet)
  --exclude GLOB         files to leave out; repeatable
  --no-recurse           do not descend into sub-folders
  --tla-str NAME=VALUE   a Jsonnet top-level argument, a string; repeatable (--tla-code: Jsonnet code)
  --tla-code NAME=CODE   a Jsonnet top-level argument, Jsonnet code; repeatable
  --ext-str NAME=VALUE   a Jsonnet external variable, a string; repeatable
  --ext-code NAME=CODE   a Jsonnet external variable, Jsonnet code; repeatable
  --jsonnet-lib DIR      a Jsonnet library folder (-J), relative to the repository root; repeatable

list:   -A, --all-namespaces
diff:   --revision REV (default: the spec's), --dest-kubeconfig PATH (for a registered cluster)
sync:   --prune / --no-prune   prune in this sync, or not (default: as spec.syncPolicy.automated.prune)
        --dry-run              through a server only: say what a sync would do, change nothing
                               (with a kubeconfig: capstan app diff NAME)
        --resource [GROUP/]KIND/[NAMESPACE/]NAME
                               sync only this resource of the desired state; repeatable. Nothing
                               else is applied or pruned, no hook runs, and the sync status is left
                               to the next comparison. GROUP left out: found among the application's
                               resources; NAMESPACE left out: cluster-scoped or the destination's
sync, refresh, rollback, release-hold:
  --wait / --no-wait     wait until the agent has handled the request (default: wait for sync and
                         rollback); exit 0 when it succeeded, 4 when it failed, 1 when --timeout ran out
  --timeout DURATION     default: 5m
delete: --cascade=true|false (default true), --wait, --timeout DURATION
wait:   --for ready|sync|health (default ready), --timeout DURATION (default: 5m)

Exit codes: 0 success, 1 differences (diff) or a wait that ran out, 2 usage error, 3 the Application
CRD is not installed, 4 failure (not found, invalid, the operation failed).
`;

const OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  file: { type: 'string', short: 'f' },
  repo: { type: 'string' },
  chart: { type: 'string' },
  revision: { type: 'string' },
  path: { type: 'string' },
  type: { type: 'string' },
  'insecure-http': { type: 'boolean' },
  secret: { type: 'string' },
  'dest-namespace': { type: 'string' },
  'dest-cluster': { type: 'string' },
  'auto-sync': { type: 'boolean' },
  prune: { type: 'boolean' },
  'self-heal': { type: 'boolean' },
  'create-namespace': { type: 'boolean' },
  interval: { type: 'string' },
  'depends-on': { type: 'string', multiple: true },
  'dest-kubeconfig': { type: 'string' },
  wait: { type: 'boolean' },
  'no-wait': { type: 'boolean' },
  'no-prune': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  resource: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  cascade: { type: 'string' },
  for: { type: 'string' },
  'helm-secret': { type: 'string', multiple: true },
  ...SOURCE_RENDER_OPTIONS,
} as const;

/** The flags of `create` that set spec.source.helm. */
const HELM_FLAGS = [
  'release-name',
  'values',
  'values-inline',
  'set',
  'set-string',
  'skip-crds',
  'helm-secret',
] as const;
/** The flags of `create` that set spec.source.directory (and its jsonnet). */
const DIRECTORY_FLAGS = [
  'include',
  'exclude',
  'no-recurse',
  'tla-str',
  'tla-code',
  'ext-str',
  'ext-code',
  'jsonnet-lib',
] as const;

const COMMON = ['kubeconfig', 'context', 'namespace', 'output', 'help'];
const REQUEST_FLAGS = ['wait', 'no-wait', 'timeout'] as const;
const COMMANDS = {
  create: [
    'file',
    'repo',
    'chart',
    'revision',
    'path',
    'type',
    'insecure-http',
    'secret',
    'dest-namespace',
    'dest-cluster',
    'auto-sync',
    'prune',
    'self-heal',
    'create-namespace',
    'interval',
    'depends-on',
    ...HELM_FLAGS,
    ...DIRECTORY_FLAGS,
  ],
  list: ['all-namespaces'],
  get: [],
  history: [],
  diff: ['revision', 'dest-kubeconfig'],
  sync: [...REQUEST_FLAGS, 'prune', 'no-prune', 'dry-run', 'resource'],
  refresh: REQUEST_FLAGS,
  rollback: REQUEST_FLAGS,
  'release-hold': REQUEST_FLAGS,
  delete: ['cascade', 'wait', 'timeout'],
  wait: ['for', 'timeout'],
} as const satisfies Record<string, readonly (keyof typeof OPTIONS)[]>;
type Command = keyof typeof COMMANDS;
type Values = ReturnType<typeof parse>['values'];

const DEFAULT_TIMEOUT = '5m';
const RENDERER_TYPES = ['directory', 'kustomize', 'helm'];
const WAIT_TARGETS = ['ready', 'sync', 'health'] as const;
const WAITED_FOR = { ready: 'Ready', sync: 'Synced', health: 'Healthy' } as const;
export type WaitTarget = (typeof WAIT_TARGETS)[number];

function parse(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
}

const isCommand = (name: string): name is Command => Object.hasOwn(COMMANDS, name);
const colourOn = () => process.stdout.isTTY && process.env['NO_COLOR'] === undefined;

/** `capstan app …`: returns the exit code. */
export async function app(argv: readonly string[]): Promise<number> {
  // Flags may come before the command too, as with kubectl: `capstan app -n team list`.
  const { values, positionals: all } = parse(argv);
  const [command, ...positionals] = all;
  if (command === undefined || command === 'help' || values.help === true) {
    process.stdout.write(APP_HELP);
    return command === undefined && values.help !== true ? EXIT.usage : EXIT.ok;
  }
  if (!isCommand(command)) {
    process.stderr.write(
      `capstan: unknown command 'app ${command}'; one of: ${Object.keys(COMMANDS).join(', ')}\n` +
        "Run 'capstan app --help' for the commands and their options.\n",
    );
    return EXIT.usage;
  }
  const allowed: readonly string[] = [...COMMON, ...COMMANDS[command]];
  for (const key of Object.keys(values)) {
    if (!allowed.includes(key)) throw new UsageError(`--${key} is not an option of 'capstan app ${command}'`);
  }
  const format = outputFormat(values.output, { wideAllowed: command === 'list' || command === 'get' });
  // Logged in to a capstan server (capstan login), and no kubeconfig asked for: through the server.
  const login =
    isRemoteCommand(command) && values.kubeconfig === undefined && values.context === undefined
      ? await readLogin()
      : undefined;
  if (login && isRemoteCommand(command)) {
    if (values.wait === true && values['no-wait'] === true)
      throw new UsageError('give --wait or --no-wait, not both');
    return runRemote(command, {
      client: new ServerClient(login),
      namespace: values.namespace ?? 'default',
      allNamespaces: values['all-namespaces'] === true,
      positionals,
      format,
      wait: values.wait === true ? true : values['no-wait'] === true ? false : undefined,
      timeout: values.timeout,
      ...syncFlags(command, values),
      requestState,
      rollbackTarget,
    });
  }
  const client = new ApplicationClient({
    kubeconfig: values.kubeconfig,
    context: values.context,
    namespace: values.namespace,
  });
  try {
    return await run(command, { client, values, positionals, format });
  } catch (error) {
    if (error instanceof CapstanError && error.code === 'APPLICATION_CRD_MISSING') {
      process.stderr.write(`capstan: error [${error.code}]: ${error.message}\n`);
      return EXIT.prerequisite;
    }
    throw error;
  } finally {
    client.close();
  }
}

type Format = OutputFormat | 'wide';

interface Context {
  readonly client: ApplicationClient;
  readonly values: Values;
  readonly positionals: readonly string[];
  readonly format: Format;
}

function run(command: Command, ctx: Context): Promise<number> {
  switch (command) {
    case 'create':
      return create(ctx);
    case 'list':
      return list(ctx);
    case 'get':
      return get(ctx);
    case 'history':
      return history(ctx);
    case 'diff':
      return diff(ctx);
    case 'sync':
      return request(ctx, 'sync');
    case 'refresh':
      return request(ctx, 'refresh');
    case 'rollback':
      return request(ctx, 'rollback');
    case 'release-hold':
      return request(ctx, 'releaseHold');
    case 'delete':
      return remove(ctx);
    case 'wait':
      return wait(ctx);
  }
}

function timeoutOf(values: Values): { ms: number; text: string } {
  const text = values.timeout ?? DEFAULT_TIMEOUT;
  return { ms: parseDuration(text), text };
}

// ── create ─────────────────────────────────────────────────────────────────────────────────────

/** Flags of `create`, by the field they set: validation errors name both. */
export const FLAG_OF_FIELD: readonly (readonly [string, string])[] = [
  ['metadata.name', 'NAME'],
  ['metadata.namespace', '--namespace'],
  ['spec.source.repoURL', '--repo'],
  ['spec.source.targetRevision', '--revision'],
  ['spec.source.path', '--path'],
  ['spec.source.chart', '--chart'],
  ['spec.source.type', '--type'],
  ['spec.source.secretRef', '--secret'],
  ['spec.source.insecureHttp', '--insecure-http'],
  ['spec.source.helm.releaseName', '--release-name'],
  ['spec.source.helm.valueFiles', '--values'],
  ['spec.source.helm.values', '--values-inline'],
  ['spec.source.helm.parameters', '--set, --set-string'],
  ['spec.source.helm.skipCrds', '--skip-crds'],
  ['spec.source.helm.repositorySecretRefs', '--helm-secret'],
  ['spec.source.directory.recurse', '--no-recurse'],
  ['spec.source.directory.include', '--include'],
  ['spec.source.directory.exclude', '--exclude'],
  ['spec.source.directory.jsonnet.tlas', '--tla-str, --tla-code'],
  ['spec.source.directory.jsonnet.extVars', '--ext-str, --ext-code'],
  ['spec.source.directory.jsonnet.libs', '--jsonnet-lib'],
  ['spec.destination.namespace', '--dest-namespace'],
  ['spec.destination.cluster', '--dest-cluster'],
  ['spec.interval', '--interval'],
  ['spec.dependsOn', '--depends-on'],
];

/** The Application the flags of `create` describe (not validated yet). */
export function applicationFromFlags(name: string, namespace: string, values: Values): unknown {
  if (values.repo === undefined) throw new UsageError('capstan app create needs --repo URL (or -f FILE)');
  if (values.type !== undefined && !RENDERER_TYPES.includes(values.type))
    throw new UsageError(`--type must be directory, kustomize or helm, not '${values.type}'`);
  if ((values.prune === true || values['self-heal'] === true) && values['auto-sync'] !== true)
    throw new UsageError('--prune and --self-heal go with --auto-sync');
  if (values.interval !== undefined) parseDuration(values.interval, '--interval');
  checkRendererFlags(values);
  const automated =
    values['auto-sync'] === true
      ? {
          ...(values.prune === true ? { prune: true } : {}),
          ...(values['self-heal'] === true ? { selfHeal: true } : {}),
        }
      : undefined;
  const destination = {
    ...(values['dest-cluster'] === undefined ? {} : { cluster: values['dest-cluster'] }),
    ...(values['dest-namespace'] === undefined ? {} : { namespace: values['dest-namespace'] }),
  };
  const syncPolicy = {
    ...(automated === undefined ? {} : { automated }),
    ...(values['create-namespace'] === true ? { syncOptions: ['CreateNamespace=true'] } : {}),
  };
  return {
    apiVersion: APPLICATION_API_VERSION,
    kind: APPLICATION_KIND,
    metadata: { name, namespace },
    spec: {
      source: {
        repoURL: values.repo,
        ...(values.revision === undefined ? {} : { targetRevision: values.revision }),
        ...(values.path === undefined ? {} : { path: values.path }),
        ...(values.chart === undefined ? {} : { chart: values.chart }),
        ...(values.type === undefined ? {} : { type: values.type }),
        ...(values['insecure-http'] === true ? { insecureHttp: true } : {}),
        ...(values.secret === undefined ? {} : { secretRef: { name: values.secret } }),
        ...helmFromFlags(values),
        ...directoryFromFlags(values),
      },
      ...(Object.keys(destination).length > 0 ? { destination } : {}),
      ...(Object.keys(syncPolicy).length > 0 ? { syncPolicy } : {}),
      ...(values.interval === undefined ? {} : { interval: values.interval }),
      ...(values['depends-on'] === undefined
        ? {}
        : { dependsOn: values['depends-on'].map((d) => ({ name: d })) }),
    },
  };
}

/** Helm flags and directory (Jsonnet) flags describe two ways to render one source: refused together. */
function checkRendererFlags(values: Values): void {
  const given = (flags: readonly (keyof Values)[]) => flags.filter((flag) => values[flag] !== undefined);
  const helm = given(HELM_FLAGS);
  const directory = given(DIRECTORY_FLAGS);
  if (helm.length > 0 && directory.length > 0)
    throw new UsageError(
      `--${helm[0] ?? ''} (Helm) and --${directory[0] ?? ''} (directory and Jsonnet) do not go together: a source is rendered one way`,
    );
  const type = values.type;
  if (
    type !== undefined &&
    (helm.length > 0 ? type !== 'helm' : directory.length > 0 && type !== 'directory')
  )
    throw new UsageError(`--${helm[0] ?? directory[0] ?? ''} does not go with --type ${type}`);
}

/** spec.source.helm from the Helm flags of `create`; none when no such flag is given. */
function helmFromFlags(values: Values): { helm?: Record<string, unknown> } {
  const helm = {
    ...(values['release-name'] === undefined ? {} : { releaseName: values['release-name'] }),
    ...(values.values === undefined ? {} : { valueFiles: values.values }),
    ...(values['values-inline'] === undefined ? {} : { values: values['values-inline'] }),
    ...helmParameters({ set: values.set ?? [], setString: values['set-string'] ?? [] }),
    ...(values['skip-crds'] === true ? { skipCrds: true } : {}),
    ...(values['helm-secret'] === undefined
      ? {}
      : { repositorySecretRefs: values['helm-secret'].map((name) => ({ name })) }),
  };
  return Object.keys(helm).length === 0 ? {} : { helm };
}

/** spec.source.directory (with its jsonnet) from the flags of `create`; none when no such flag is given. */
function directoryFromFlags(values: Values): { directory?: Record<string, unknown> } {
  const directory = {
    ...(values['no-recurse'] === true ? { recurse: false } : {}),
    ...(values.include === undefined ? {} : { include: values.include }),
    ...(values.exclude === undefined ? {} : { exclude: values.exclude }),
    ...jsonnetOptions({
      tlaStr: values['tla-str'] ?? [],
      tlaCode: values['tla-code'] ?? [],
      extStr: values['ext-str'] ?? [],
      extCode: values['ext-code'] ?? [],
      libs: values['jsonnet-lib'] ?? [],
    }),
  };
  return Object.keys(directory).length === 0 ? {} : { directory };
}

/** Where an Application to check came from: flags (errors then name the flag of each field), a file, or the cluster. */
export interface CheckedFrom {
  /** For messages: `application 'web'`, or `file.yaml:3 (web)`. */
  readonly what: string;
  readonly source: 'flags' | 'file' | 'cluster';
}

/** The Application, validated; APPLICATION_INVALID naming each wrong field (and its flag). */
export function checkedApplication(candidate: unknown, from: CheckedFrom): Application {
  const checked = validateApplication(candidate);
  const what = from.what;
  if (checked.ok) return checked.value;
  const withFlag = (error: string) => {
    if (from.source !== 'flags') return error;
    const flag = FLAG_OF_FIELD.find(([field]) => error.startsWith(field))?.[1];
    return flag === undefined ? error : `${error} (${flag})`;
  };
  throw new CapstanError(
    'APPLICATION_INVALID',
    `${what} is not valid; nothing was sent:\n${checked.errors.map((e) => `  ${withFlag(e)}`).join('\n')}`,
  );
}

async function applicationsFromFile(
  file: string,
  namespace: string,
  explicit: boolean,
): Promise<Application[]> {
  const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  const parsed = parseManifests(text, file === '-' ? '(stdin)' : file, {
    maxAliases: 100,
    maxObjects: 500,
    maxBytes: 4 * 1024 * 1024,
  });
  if (parsed.length === 0) throw new CapstanError('APPLICATION_INVALID', `${file} holds no object`);
  return parsed.map(({ object, source }) => {
    const own = object.metadata.namespace;
    if (own !== undefined && explicit && own !== namespace)
      throw new UsageError(
        `${source.file}:${source.line}: the object's namespace '${own}' is not the --namespace '${namespace}'`,
      );
    const { status: _status, ...rest } = object;
    const candidate = { ...rest, metadata: { ...object.metadata, namespace: own ?? namespace } };
    return checkedApplication(candidate, {
      what: `${source.file}:${source.line} (${object.metadata.name ?? '?'})`,
      source: 'file',
    });
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function create(ctx: Context): Promise<number> {
  const { client, values } = ctx;
  let applications: Application[];
  if (values.file !== undefined) {
    if (ctx.positionals.length > 0) throw new UsageError('give either NAME and flags, or -f FILE, not both');
    const flags = COMMANDS.create.filter((f) => f !== 'file' && values[f] !== undefined);
    if (flags.length > 0) throw new UsageError(`--${flags.join(', --')} cannot be used with -f`);
    applications = await applicationsFromFile(values.file, client.namespace, values.namespace !== undefined);
  } else {
    const name = nameOf(ctx.positionals, 'create');
    const candidate = applicationFromFlags(name, client.namespace, values);
    applications = [checkedApplication(candidate, { what: `application '${name}'`, source: 'flags' })];
  }
  const results = [];
  for (const application of applications) {
    const result = await client.apply(application);
    results.push(result);
    if (ctx.format === 'table' || ctx.format === 'wide')
      process.stdout.write(`${objectRef(result.application.metadata.name)} ${result.action}\n`);
  }
  if (ctx.format === 'json' || ctx.format === 'yaml') {
    const [only] = results;
    output(
      ctx.format,
      results.length === 1 && only
        ? forOutput(only.application)
        : listDocument(results.map((r) => r.application)),
      () => '',
    );
  }
  return EXIT.ok;
}

// ── list, get, history ─────────────────────────────────────────────────────────────────────────

async function list(ctx: Context): Promise<number> {
  if (ctx.positionals.length > 0)
    throw new UsageError(`capstan app list takes no arguments: ${ctx.positionals.join(' ')}`);
  const allNamespaces = ctx.values['all-namespaces'] === true;
  const apps = await ctx.client.list({ allNamespaces });
  if (apps.length === 0 && (ctx.format === 'table' || ctx.format === 'wide')) {
    say(
      allNamespaces
        ? 'No applications found.'
        : `No applications found in namespace ${ctx.client.namespace}.`,
    );
    return EXIT.ok;
  }
  output(ctx.format, listDocument(apps), () =>
    listTable(apps, { now: Date.now(), wide: ctx.format === 'wide', allNamespaces }),
  );
  return EXIT.ok;
}

async function get(ctx: Context): Promise<number> {
  const found = await ctx.client.require(nameOf(ctx.positionals, 'get'));
  output(ctx.format, forOutput(found), () =>
    describeApplication(found, { now: Date.now(), wide: ctx.format === 'wide' }),
  );
  return EXIT.ok;
}

async function history(ctx: Context): Promise<number> {
  const found = await ctx.client.require(nameOf(ctx.positionals, 'history'));
  output(ctx.format, historyDocument(found), () => historyTable(found, { now: Date.now() }));
  return EXIT.ok;
}

// ── diff ───────────────────────────────────────────────────────────────────────────────────────

async function diff(ctx: Context): Promise<number> {
  const name = nameOf(ctx.positionals, 'diff');
  const found = checkedApplication(await ctx.client.require(name), {
    what: `application '${name}'`,
    source: 'cluster',
  });
  const hold = found.status?.hold;
  if (hold)
    say(
      `• note: a rollback hold is active on ${shortRevision(hold.revision)}: automated sync does not apply this until it is released`,
    );
  const planned: ApplicationPlan = await planApplication(found, {
    kubeconfig: ctx.values.kubeconfig,
    context: ctx.values.context,
    revision: ctx.values.revision,
    destinationKubeconfig: ctx.values['dest-kubeconfig'],
    progress: (line) => {
      say(`• ${line}`);
    },
  });
  const { plan } = planned.plan;
  // An immutable field that changed is a difference (Replace=true re-creates the object), not an error.
  const errors = plan.failures.filter((f) => f.reason !== 'immutable');
  if (errors.length > 0) {
    for (const f of errors) process.stderr.write(`capstan: error: ${formatId(f.id)}: ${f.message}\n`);
    return EXIT.failed;
  }
  const input: DiffInput = {
    application: name,
    revision: planned.revision,
    changes: [
      ...plan.changes
        .filter((c) => c.action !== 'unchanged')
        .map((c) => ({ id: c.prepared.id, action: c.action, deferred: c.deferred, unified: c.diff.unified })),
      ...plan.failures
        .filter((f) => f.reason === 'immutable')
        .map((f) => ({ id: f.id, action: 'replace', unified: `${formatId(f.id)}: ${replaceNote(f)}\n` })),
    ],
    leftBehind: planned.plan.extraneous,
    namespacesToCreate: planned.plan.missingNamespaces,
    prune: planned.options.prune === true,
  };
  output(ctx.format, diffDocument(input), () => diffText(input, { colour: colourOn() }));
  return hasDifferences(input) ? EXIT.differences : EXIT.ok;
}

// ── requests: sync, refresh, rollback, release-hold ───────────────────────────────────────────

export type RequestState =
  | { readonly state: 'pending' }
  | { readonly state: 'deleted' }
  /** Handled: the operation's phase, if it ran one; `superseded` when a later request was handled instead. */
  | { readonly state: 'done'; readonly phase?: 'Succeeded' | 'Failed'; readonly superseded?: string };

/**
 * Where a request stands: handled once `status.handledRequests.<kind>` holds its id (or a later one) and
 * the operation the agent runs for it (sync, rollback; a refresh when it records one) is no longer Running.
 */
export function requestState(app: Application | undefined, kind: RequestKind, id: string): RequestState {
  if (!app) return { state: 'deleted' };
  const handled = app.status?.handledRequests?.[kind];
  if (handled === undefined) return { state: 'pending' };
  if (handled !== id) {
    // A later request of the same kind (someone else's) was handled: it covers ours.
    // Ids that say when they were made (Unix milliseconds or seconds, see requestTime); others cover nothing.
    const handledAt = requestTime(handled);
    const askedAt = requestTime(id);
    const later = handledAt !== undefined && askedAt !== undefined && handledAt > askedAt;
    if (!later) return { state: 'pending' };
  }
  const operation = app.status?.operation;
  const superseded = handled === id ? {} : { superseded: handled };
  if (kind === 'sync' || kind === 'rollback') {
    if (!operation || operation.phase === 'Running') return { state: 'pending' };
    return { state: 'done', phase: operation.phase, ...superseded };
  }
  if (operation?.type === 'refresh') {
    if (operation.phase === 'Running') return { state: 'pending' };
    return { state: 'done', phase: operation.phase, ...superseded };
  }
  return { state: 'done', ...superseded };
}

/**
 * The value of a rollback request's target (core's rollbackTarget, the rule the agent applies too): a
 * history id, or a full revision; a failing target is refused here, before anything is asked.
 */
export function rollbackTarget(
  app: Application,
  wanted: string | undefined,
): { readonly value: string; readonly entry?: HistoryEntry } {
  const target = resolveRollback(app.status?.history ?? [], wanted, { application: app.metadata.name });
  if (!target.found) {
    if (target.why === 'usage') throw new UsageError(target.message);
    throw new CapstanError('ROLLBACK_NO_TARGET', target.message);
  }
  return target.entry ? { value: String(target.entry.id), entry: target.entry } : { value: target.revision };
}

async function request(ctx: Context, kind: RequestKind): Promise<number> {
  const { client, values } = ctx;
  const word = REQUEST_WORDS[kind];
  const name = nameOf(ctx.positionals, word, { extra: kind === 'rollback' ? 1 : 0 });
  if (values.wait === true && values['no-wait'] === true)
    throw new UsageError('give --wait or --no-wait, not both');
  const shouldWait =
    values.wait === true || (values['no-wait'] !== true && (kind === 'sync' || kind === 'rollback'));
  const timeout = timeoutOf(values);
  const current = await client.require(name);
  const asked = requestValue(ctx, { kind, name, current });
  if (kind === 'releaseHold' && !current.status?.hold) {
    printNothingToRelease(ctx.format, current);
    return EXIT.ok;
  }
  if (current.spec.suspend === true)
    say(
      `• note: application '${name}' is suspended (spec.suspend): the agent does nothing until it is resumed`,
    );
  const { value } = asked;
  await client.request(kind, name, value);
  const annotation = REQUEST_ANNOTATIONS[kind];
  if (!shouldWait) {
    printRequested(ctx.format, { name, namespace: client.namespace, kind, value });
    return EXIT.ok;
  }
  say(
    `• requested ${word} of application '${name}' (${annotation}=${value}); waiting for the agent (up to ${timeout.text})`,
  );
  const outcome = await watchRequest(client, { kind, name, value, timeoutMs: timeout.ms });
  return reportRequest(ctx, { kind, name, asked, timeout: timeout.text, outcome });
}

/**
 * What is asked, in the annotation's value: `<request id>`, `<request id>;prune` for a sync that
 * prunes, or, for a rollback, `<request id>:<target>` (with the history entry or revision it targets).
 */
function requestValue(
  ctx: Context,
  asked: { kind: RequestKind; name: string; current: Application },
): { value: string; target?: HistoryEntry | string } {
  const { kind, name, current } = asked;
  const requestId = String(Date.now());
  const { prune, dryRun, resources } = syncFlags(kind === 'sync' ? 'sync' : REQUEST_WORDS[kind], ctx.values);
  if (dryRun === true)
    throw new UsageError(
      `capstan app sync --dry-run goes through a server (capstan login); with a kubeconfig, run: capstan app diff ${name}`,
    );
  if (kind === 'sync')
    return {
      value: syncValue({
        id: requestId,
        ...(prune === undefined ? {} : { prune }),
        ...(resources ? { resources: selectionOf(current, resources) } : {}),
      }),
    };
  if (kind !== 'rollback') return { value: requestId };
  const resolved = rollbackTarget(current, ctx.positionals[1]);
  return { value: `${requestId}:${resolved.value}`, target: resolved.entry ?? resolved.value };
}

/** Watches the Application until the agent has handled the request (or the time is up), printing each new operation line. */
function watchRequest(
  client: ApplicationClient,
  asked: { kind: RequestKind; name: string; value: string; timeoutMs: number },
) {
  const { kind, name, value } = asked;
  let lastLine = '';
  return client.watch(
    name,
    (app) => {
      const state = requestState(app, kind, value);
      return state.state === 'pending' ? undefined : state;
    },
    {
      timeoutMs: asked.timeoutMs,
      onChange: (app) => {
        const op = app?.status?.operation;
        const line = op
          ? `• ${op.type} ${op.phase}${op.revision ? ` at ${shortRevision(op.revision)}` : ''}${op.message ? `: ${op.message}` : ''}`
          : '';
        if (line !== '' && line !== lastLine && app?.status?.handledRequests?.[kind] === value) say(line);
        lastLine = line;
      },
    },
  );
}

/** The request's end: not handled in time, the Application deleted, or the operation's result. */
function reportRequest(
  ctx: Context,
  report: {
    kind: RequestKind;
    name: string;
    asked: { value: string; target?: HistoryEntry | string };
    timeout: string;
    outcome: Awaited<ReturnType<typeof watchRequest>>;
  },
): number {
  const { kind, name, asked, outcome } = report;
  const word = REQUEST_WORDS[kind];
  if (!outcome.done) {
    const handled = outcome.last?.status?.handledRequests?.[kind];
    say(
      `capstan: the agent did not finish the ${word} request '${asked.value}' of application '${name}' within ${report.timeout} ` +
        `(last handled: ${handled === undefined ? 'none' : `'${handled}'`}${outcome.last?.status?.operation ? `; operation ${outcome.last.status.operation.type} ${outcome.last.status.operation.phase}` : ''}). ` +
        'Is the agent running? The request stays: the agent handles it when it can.',
    );
    return EXIT.differences;
  }
  const state = outcome.value;
  if (state.state === 'deleted' || !outcome.last) {
    say(`capstan: application '${name}' was deleted while waiting for its ${word}`);
    return EXIT.failed;
  }
  if (state.superseded !== undefined)
    say(`• note: a later ${word} request ('${state.superseded}') was handled in its place`);
  const finished = outcome.last;
  const { target } = asked;
  output(ctx.format, forOutput(finished), () =>
    requestResult(finished, word, { now: Date.now(), ...(target === undefined ? {} : { target }) }),
  );
  return state.phase === 'Failed' ? EXIT.failed : EXIT.ok;
}

// ── delete ─────────────────────────────────────────────────────────────────────────────────────

function cascadeOf(value: string | undefined): boolean {
  switch (value ?? 'true') {
    case 'true':
    case 'background':
    case 'foreground':
      return true;
    case 'false':
    case 'orphan':
      return false;
    default:
      throw new UsageError(`--cascade must be true or false, not '${value ?? ''}'`);
  }
}

async function remove(ctx: Context): Promise<number> {
  const { client, values } = ctx;
  const name = nameOf(ctx.positionals, 'delete');
  const cascade = cascadeOf(values.cascade);
  const timeout = timeoutOf(values);
  const outcome = await client.delete(name, { cascade });
  if (!outcome) {
    throw new CapstanError(
      'APPLICATION_NOT_FOUND',
      `application '${name}' was not found in namespace '${client.namespace}'`,
    );
  }
  const resources = (outcome.application.status?.resources ?? []).map((r) =>
    formatId({ group: r.group, kind: r.kind, namespace: r.namespace ?? '', name: r.name }),
  );
  const text = () => {
    const head = `${objectRef(name)} deleted\n`;
    if (outcome.cascade)
      return (
        head +
        `The agent deletes the ${resources.length} resource(s) it deployed first (finalizer ${RESOURCES_FINALIZER}); ` +
        'the Application goes when they are gone.\n'
      );
    return (
      head +
      (resources.length === 0
        ? 'No resources were recorded: nothing left behind.\n'
        : `${resources.length} resource(s) left in place, orphaned (they keep their capstan.dev/tracking-id; ` +
          `an Application of the same name adopts them again):\n${resources.map((r) => `  ${r}\n`).join('')}`)
    );
  };
  output(
    ctx.format,
    {
      name,
      namespace: client.namespace,
      cascade: outcome.cascade,
      ...(outcome.cascade ? { deleting: resources } : { orphaned: resources }),
    },
    text,
  );
  if (values.wait !== true) return EXIT.ok;
  say(`• waiting for application '${name}' to be gone (up to ${timeout.text})`);
  const gone = await client.watch(name, (app) => (app === undefined ? true : undefined), {
    timeoutMs: timeout.ms,
  });
  if (gone.done) {
    say(`• application '${name}' is gone`);
    return EXIT.ok;
  }
  say(
    `capstan: application '${name}' is still there after ${timeout.text}, waiting for finalizers ` +
      `${(gone.last?.metadata.finalizers ?? []).join(', ') || '(none)'}. Is the agent running? ` +
      `capstan app delete ${name} --cascade=false leaves the resources and removes it at once.`,
  );
  return EXIT.differences;
}

// ── wait ───────────────────────────────────────────────────────────────────────────────────────

export type WaitState =
  | { readonly state: 'met' }
  | { readonly state: 'pending'; readonly why: string }
  | { readonly state: 'stalled'; readonly why: string }
  | { readonly state: 'deleted' };

/**
 * Whether an Application is Ready (condition Ready=True), Synced or Healthy at its current generation:
 * what the agent reports counts only once it has observed the latest spec.
 */
export function waitState(app: Application | undefined, target: WaitTarget): WaitState {
  if (!app) return { state: 'deleted' };
  const generation = app.metadata.generation;
  const status = app.status;
  const current = (observed: number | undefined) =>
    generation === undefined || (observed !== undefined && observed >= generation);
  const stalled = status?.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True');
  if (stalled && current(stalled.observedGeneration ?? status?.observedGeneration))
    return { state: 'stalled', why: `Stalled: ${stalled.reason}: ${stalled.message}` };
  if (target === 'ready') {
    const ready = status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'True' && current(ready.observedGeneration ?? status?.observedGeneration))
      return { state: 'met' };
    return {
      state: 'pending',
      why: ready ? `Ready=${ready.status}: ${ready.reason}: ${ready.message}` : 'no Ready condition yet',
    };
  }
  if (!current(status?.observedGeneration))
    return {
      state: 'pending',
      why: `the agent has not observed generation ${generation ?? '?'} yet (observed: ${status?.observedGeneration ?? 'none'})`,
    };
  if (target === 'sync') {
    const sync = status?.sync;
    return sync?.status === 'Synced'
      ? { state: 'met' }
      : { state: 'pending', why: `sync status ${sync?.status ?? 'not reported'}` };
  }
  const health = status?.health;
  return health?.status === 'Healthy'
    ? { state: 'met' }
    : {
        state: 'pending',
        why: `health ${health?.status ?? 'not reported'}${health?.message ? `: ${health.message}` : ''}`,
      };
}

async function wait(ctx: Context): Promise<number> {
  const { client, values } = ctx;
  const name = nameOf(ctx.positionals, 'wait');
  const target = values.for ?? 'ready';
  if (!(WAIT_TARGETS as readonly string[]).includes(target))
    throw new UsageError(`--for must be one of ${WAIT_TARGETS.join(', ')}, not '${target}'`);
  const wanted = WAITED_FOR[target as WaitTarget];
  const timeout = timeoutOf(values);
  await client.require(name);
  let last: WaitState | undefined;
  const outcome = await client.watch(
    name,
    (app) => {
      last = waitState(app, target as WaitTarget);
      return last.state === 'pending' ? undefined : last;
    },
    { timeoutMs: timeout.ms },
  );
  if (!outcome.done) {
    const why = last?.state === 'pending' ? last.why : 'no state seen';
    say(`capstan: application '${name}' is not ${wanted} after ${timeout.text}: ${why}`);
    return EXIT.differences;
  }
  const state = outcome.value;
  if (state.state === 'deleted' || !outcome.last) {
    say(`capstan: application '${name}' was deleted while waiting`);
    return EXIT.failed;
  }
  if (state.state === 'stalled') {
    say(
      `capstan: application '${name}' is stalled, it will not become ${wanted} without a change: ${state.why}`,
    );
    return EXIT.differences;
  }
  const found = outcome.last;
  output(ctx.format, forOutput(found), () => `${objectRef(name)} condition met\n`);
  return EXIT.ok;
}

/**
 * The sync flags (COMMANDS allows them on sync only): prune in this sync or not (undefined: as the
 * spec), a dry run, the `--resource` arguments (a selection; selectionOf reads them against the Application).
 */
export function syncFlags(
  command: string,
  values: { prune?: boolean; 'no-prune'?: boolean; 'dry-run'?: boolean; resource?: string[] },
): { prune?: boolean; dryRun?: boolean; resources?: readonly string[] } {
  if (command !== 'sync') return {};
  if (values.prune === true && values['no-prune'] === true)
    throw new UsageError('give --prune or --no-prune, not both');
  return {
    ...(values.prune === true ? { prune: true } : values['no-prune'] === true ? { prune: false } : {}),
    ...(values['dry-run'] === true ? { dryRun: true } : {}),
    ...(values.resource === undefined ? {} : { resources: values.resource }),
  };
}

/** The sync annotation's value; one too long to carry is a usage error. */
function syncValue(request: SyncRequestValue): string {
  try {
    return syncRequestValue(request);
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
}
