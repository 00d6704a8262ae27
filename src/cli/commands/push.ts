import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { ARGOCD_COMPARE_OPTIONS_ANNOTATION } from '../../core/argocd.ts';
import { redactSecret } from '../../core/diff.ts';
import { applicationOwner } from '../../contracts/application.ts';
import { parseDuration as parseDurationText } from '../../core/duration.ts';
import { formatId } from '../../core/resource.ts';
import type { HelmParameter, JsonnetOptions, JsonnetVariable, RendererType } from '../../ports/renderer.ts';
import { renderWarnings } from '../../engine/render-warnings.ts';
import { planSync, sync } from '../../engine/sync.ts';
import {
  connect,
  helmCapabilities,
  renderDesiredState,
  type DesiredStateSource,
  type RenderSettings,
} from '../../main/push.ts';
import { EXIT, parseOutput, print, table, UsageError } from '../output.ts';
import { colourDiff, progressLine, replaceNote, resultTable } from '../sync-printer.ts';

const SOURCE_HELP = `Source (one of):
  DIR                      a local folder (default: the current folder)
  --repo URL               a git repository (https, ssh; http only with --insecure-http)
  --revision REV           branch, tag, semver range over tags (">=1.2 <2") or commit SHA (default: HEAD)
  --path PATH              folder inside the repository (default: the root)
  --repo URL --chart NAME  a chart of a Helm repository: an HTTP chart repository (https://…, where
                           index.yaml is) or an OCI registry (oci://host/path); --revision is then its
                           version or a semver range ("^1.2", "1.x"; default: the newest), and the
                           chart's archive is checked against the repository's digest
  --fetch-timeout DURATION time limit for each git operation (default: 60s), or for resolving and
                           downloading a chart (default: 120s)
  Credentials come from the environment only: CAPSTAN_GIT_TOKEN, or CAPSTAN_GIT_USERNAME and
  CAPSTAN_GIT_PASSWORD, or CAPSTAN_GIT_SSH_KEY_FILE with CAPSTAN_GIT_KNOWN_HOSTS_FILE.
  Helm chart repositories (https://, oci://; http:// with --insecure-http) of --chart and of a
  chart's dependencies: CAPSTAN_HELM_USERNAME and CAPSTAN_HELM_PASSWORD, or CAPSTAN_HELM_TOKEN, bound
  to CAPSTAN_HELM_REPOSITORY_URL when set; CAPSTAN_HELM_CA_FILE trusts a private CA.

Rendering:
  --type TYPE              directory, kustomize or helm (default: detected)
  --include GLOB           (directory) files to read; repeatable (default: *.yaml, *.yml, *.json, *.jsonnet)
  --exclude GLOB           (directory) files to leave out; repeatable
  --no-recurse             (directory) do not descend into sub-folders
  --tla-str NAME=VALUE     (jsonnet) a top-level argument, a string; repeatable
  --tla-code NAME=CODE     (jsonnet) a top-level argument, Jsonnet code; repeatable
  --ext-str NAME=VALUE     (jsonnet) an external variable, a string; repeatable
  --ext-code NAME=CODE     (jsonnet) an external variable, Jsonnet code; repeatable
  --jsonnet-lib DIR        (jsonnet) a library folder (-J), relative to the repository root; repeatable
  --release-name NAME      (helm) default: the application name (NAME of --app NAMESPACE/NAME)
  --values FILE            (helm) values file inside the chart's checkout; repeatable
  --values-inline YAML     (helm) values given inline, applied after the values files
  --set NAME=VALUE         (helm) one value, e.g. image.tag=1.2.3; repeatable, applied last
  --set-string NAME=VALUE  (helm) one value kept as a string (never a number or boolean); repeatable
  --skip-crds              (helm) leave out the chart's crds/ folder
`;

const TARGET_HELP = `Target:
  --app NAME               application name: whose inventory and ownership marks (required);
                           NAMESPACE/NAME acts as that Application does (the agent's marks and inventory)
  --namespace NS           namespace for objects that name none (default: default)
  --kubeconfig PATH        default: KUBECONFIG, then ~/.kube/config
  --context NAME           kubeconfig context
  --inventory-namespace NS where inventories are kept (default: capstan-system)
`;

export const RENDER_HELP = `Usage: capstan render [DIR] [options]

Renders the desired state and prints it (YAML by default).

${SOURCE_HELP}
Output:
  -o, --output FMT         yaml or json
  --show-secrets           print the values of Secrets (hidden by default: output often ends up in CI logs)
`;

export const DIFF_HELP = `Usage: capstan diff [DIR] --app NAME [options]

Shows what a sync would change, as a unified diff of live and desired (after a server-side dry run,
so defaults and server-set fields never show). Secrets' values are never shown. Fields someone changed
by hand (kubectl edit, scale, set image) show as changes a sync takes back; an object whose immutable
fields changed shows as "would be replaced", naming the fields.
Exit code: 0 no differences, 1 differences, 2 usage error, 4 failure.

${SOURCE_HELP}
${TARGET_HELP}  --adopt                  compare as if taking over objects that another application owns
  --replace                show objects whose immutable fields changed as re-created
Output:
  -o, --output FMT         table (a diff), json or yaml
`;

export const SYNC_HELP = `Usage: capstan sync [DIR] --app NAME [options]

Makes the cluster equal to the desired state with server-side apply: a dry run of the whole set
first (one invalid object changes nothing), then Namespaces and CRDs, PreSync hooks, waves,
PostSync hooks; with --prune, deletes what the application owned and no longer wants. Git wins, as
with the agent: fields the desired state declares are taken back from whoever changed them
(kubectl edit, kubectl scale, kubectl set image).
Exit code: 0 synced (and healthy with --wait), 2 usage error, 4 failure.

${SOURCE_HELP}
${TARGET_HELP}Sync:
  --prune                  delete owned objects that left the desired state
  --dry-run                plan and report; change nothing
  --wait                   wait until every resource is Healthy (ends early when one is Degraded)
  --timeout DURATION       for --wait and hooks, e.g. 90s, 5m (default: 5m)
  --adopt                  take over objects that another application owns (its capstan.dev/tracking-id)
  --replace                delete and re-create objects whose immutable fields changed
  --allow-empty            accept an empty desired state
  --create-namespace       create the namespaces that objects name and that do not exist (never pruned)
  --insecure-http          allow an http:// repository URL (git, and Helm chart repositories)
  -o, --output FMT         table, json or yaml
`;

/**
 * The flags that say how a source renders (directory, Jsonnet, Helm): one definition for push mode and
 * `capstan app create`, each of which maps them onto its own input.
 */
export const SOURCE_RENDER_OPTIONS = {
  include: { type: 'string', multiple: true },
  exclude: { type: 'string', multiple: true },
  'no-recurse': { type: 'boolean' },
  'tla-str': { type: 'string', multiple: true },
  'tla-code': { type: 'string', multiple: true },
  'ext-str': { type: 'string', multiple: true },
  'ext-code': { type: 'string', multiple: true },
  'jsonnet-lib': { type: 'string', multiple: true },
  'release-name': { type: 'string' },
  values: { type: 'string', multiple: true },
  'values-inline': { type: 'string' },
  set: { type: 'string', multiple: true },
  'set-string': { type: 'string', multiple: true },
  'skip-crds': { type: 'boolean' },
} as const;

const OPTIONS = {
  repo: { type: 'string' },
  chart: { type: 'string' },
  revision: { type: 'string' },
  path: { type: 'string' },
  type: { type: 'string' },
  ...SOURCE_RENDER_OPTIONS,
  app: { type: 'string' },
  namespace: { type: 'string' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  'inventory-namespace': { type: 'string' },
  prune: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  adopt: { type: 'boolean' },
  /** Gone: refused with a message that says what replaced it. */
  'force-conflicts': { type: 'boolean' },
  replace: { type: 'boolean' },
  'allow-empty': { type: 'boolean' },
  'create-namespace': { type: 'boolean' },
  'insecure-http': { type: 'boolean' },
  'show-secrets': { type: 'boolean' },
  'fetch-timeout': { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Command = 'render' | 'diff' | 'sync';
/** Options that every push command takes: the source and how to render it. */
const SOURCE_OPTIONS = [
  'repo',
  'chart',
  'revision',
  'path',
  'fetch-timeout',
  'insecure-http',
  'type',
  'include',
  'exclude',
  'no-recurse',
  'tla-str',
  'tla-code',
  'ext-str',
  'ext-code',
  'jsonnet-lib',
  'release-name',
  'values',
  'values-inline',
  'set',
  'set-string',
  'skip-crds',
  'app',
  'namespace',
  'output',
  'help',
];
const TARGET_OPTIONS = [
  'kubeconfig',
  'context',
  'inventory-namespace',
  'prune',
  'create-namespace',
  'adopt',
  'replace',
];
const ALLOWED: Record<Command, readonly string[]> = {
  render: [...SOURCE_OPTIONS, 'show-secrets'],
  diff: [...SOURCE_OPTIONS, ...TARGET_OPTIONS],
  sync: Object.keys(OPTIONS).filter((o) => o !== 'show-secrets' && o !== 'force-conflicts'),
};
const HELP: Record<Command, string> = { render: RENDER_HELP, diff: DIFF_HELP, sync: SYNC_HELP };

/** `90s`, `5m`, `1h30m`, or plain seconds, to milliseconds (src/core/duration.ts); a usage error otherwise. */
export function parseDuration(text: string, flag = '--timeout'): number {
  try {
    return parseDurationText(text);
  } catch {
    throw new UsageError(`${flag} must be a duration such as 90s, 5m or 1h, not '${text}'`);
  }
}

/**
 * The parameters of --set and --set-string, in that order (helm applies --set-string after --set too).
 * `NAME=VALUE`, split at the first `=`: the value may hold more.
 */
export function helmParameters(flags: {
  readonly set: readonly string[];
  readonly setString: readonly string[];
}): { parameters?: HelmParameter[] } {
  const parse = (flag: string, { forceString }: { readonly forceString: boolean }): HelmParameter => {
    const at = flag.indexOf('=');
    const name = at === -1 ? '' : flag.slice(0, at);
    if (name === '' || /\s/.test(name))
      throw new UsageError(
        `--${forceString ? 'set-string' : 'set'} '${flag}': expected NAME=VALUE, e.g. image.tag=1.2.3`,
      );
    return { name, value: flag.slice(at + 1), ...(forceString ? { forceString } : {}) };
  };
  const parameters = [
    ...flags.set.map((flag) => parse(flag, { forceString: false })),
    ...flags.setString.map((flag) => parse(flag, { forceString: true })),
  ];
  return parameters.length === 0 ? {} : { parameters };
}

/**
 * The Jsonnet options of --tla-str, --tla-code, --ext-str, --ext-code and --jsonnet-lib; none when no
 * such flag is given. `NAME=VALUE`, split at the first `=`.
 */
export function jsonnetOptions(flags: {
  readonly tlaStr: readonly string[];
  readonly tlaCode: readonly string[];
  readonly extStr: readonly string[];
  readonly extCode: readonly string[];
  readonly libs: readonly string[];
}): { jsonnet?: JsonnetOptions } {
  const parse = (flag: string, option: string, { code }: { readonly code: boolean }): JsonnetVariable => {
    const at = flag.indexOf('=');
    const name = at === -1 ? '' : flag.slice(0, at);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new UsageError(
        `--${option} '${flag}': expected NAME=VALUE, NAME a Jsonnet identifier, e.g. env=prod`,
      );
    return { name, value: flag.slice(at + 1), ...(code ? { code } : {}) };
  };
  const tlas = [
    ...flags.tlaStr.map((f) => parse(f, 'tla-str', { code: false })),
    ...flags.tlaCode.map((f) => parse(f, 'tla-code', { code: true })),
  ];
  const extVars = [
    ...flags.extStr.map((f) => parse(f, 'ext-str', { code: false })),
    ...flags.extCode.map((f) => parse(f, 'ext-code', { code: true })),
  ];
  const jsonnet: JsonnetOptions = {
    ...(tlas.length > 0 ? { tlas } : {}),
    ...(extVars.length > 0 ? { extVars } : {}),
    ...(flags.libs.length > 0 ? { libs: flags.libs } : {}),
  };
  return Object.keys(jsonnet).length === 0 ? {} : { jsonnet };
}

/** The Helm release name of a render without --app or --release-name (sync always has --app). */
const DEFAULT_RELEASE_NAME = 'release';

/** The release name the agent gives an Application's chart: its name (NAME of --app NAMESPACE/NAME). */
function releaseNameOf(app: string | undefined): string {
  if (app === undefined) return DEFAULT_RELEASE_NAME;
  return app.slice(app.indexOf('/') + 1);
}

const colourOn = () => process.stdout.isTTY && process.env['NO_COLOR'] === undefined;

function parseFlags(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
}
type Flags = ReturnType<typeof parseFlags>['values'];

/** What the flags of one push command ask for, checked. */
interface PushRequest {
  readonly command: Command;
  readonly flags: Flags;
  readonly source: DesiredStateSource;
  readonly type: RendererType | undefined;
  readonly format: 'table' | 'json' | 'yaml';
  readonly application: string | undefined;
  readonly namespace: string;
  readonly timeoutMs: number | undefined;
}

export async function push(command: Command, argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv);
  if (values.help === true) {
    process.stdout.write(HELP[command]);
    return EXIT.ok;
  }
  const request = checkedRequest(command, values, positionals);
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const connection = command === 'render' ? undefined : connectForPush(values, say);
  try {
    // 1. Render the desired state (with the cluster's capabilities for Helm), and say what it warns of.
    const capabilities =
      connection && (request.type === 'helm' || request.type === undefined)
        ? await helmCapabilities(connection.cluster)
        : undefined;
    const desired = await renderDesiredState(
      request.source,
      renderSettings(request, capabilities),
      (line) => {
        say(`• ${line}`);
      },
    );
    sayRenderNotes(request, desired.result, say);
    // 2. Print it (render), or plan against the cluster (diff), or apply it (sync).
    const objects = desired.result.objects;
    if (command === 'render') {
      printRender(objects, { format: request.format, showSecrets: values['show-secrets'] === true });
      return EXIT.ok;
    }
    if (!connection || request.application === undefined) return EXIT.usage;
    const options = syncOptions(request, { application: request.application, revision: desired.revision });
    const colour = colourOn();
    if (command === 'diff')
      return await diff(objects, options, connection.deps, { format: request.format, colour });
    const result = await sync(objects, options, connection.deps);
    print(request.format, result, () => resultTable(result, { colour }));
    return result.phase === 'Succeeded' ? EXIT.ok : EXIT.failed;
  } finally {
    connection?.close();
  }
}

/** The flags checked against each other and against the command; a UsageError naming the first that is wrong. */
function checkedRequest(command: Command, values: Flags, positionals: readonly string[]): PushRequest {
  if (values['force-conflicts'] !== undefined)
    throw new UsageError(
      `--force-conflicts is gone: capstan ${command} always takes Git's fields back from other field managers, as the agent does; to take over objects another application owns, use --adopt`,
    );
  for (const key of Object.keys(values)) {
    if (!ALLOWED[command].includes(key))
      throw new UsageError(`--${key} is not an option of 'capstan ${command}'`);
  }
  const source = sourceOf(values, positionals);
  const type = values.type;
  if (type !== undefined && !isRendererType(type))
    throw new UsageError(`--type must be directory, kustomize or helm, not '${type}'`);
  const format = parseOutput(values.output ?? (command === 'render' ? 'yaml' : 'table'));
  if (command === 'render' && format === 'table') throw new UsageError('capstan render prints yaml or json');
  const application = values.app;
  if (command !== 'render' && application === undefined)
    throw new UsageError(`--app is required: it names whose objects capstan ${command} manages`);
  return {
    command,
    flags: values,
    source,
    type,
    format,
    application,
    namespace: values.namespace ?? 'default',
    timeoutMs: values.timeout === undefined ? undefined : parseDuration(values.timeout),
  };
}

const RENDERER_TYPES: readonly RendererType[] = ['directory', 'kustomize', 'helm'];
const isRendererType = (type: string): type is RendererType => (RENDERER_TYPES as string[]).includes(type);

/** A local folder (the positional argument), a git repository (--repo, --revision, --path) or a chart (--repo, --chart). */
function sourceOf(values: Flags, positionals: readonly string[]): DesiredStateSource {
  if (positionals.length > 1)
    throw new UsageError(`expected at most one folder, got ${positionals.length}: ${positionals.join(' ')}`);
  if (positionals.length === 1 && values.repo !== undefined)
    throw new UsageError('give either a folder or --repo, not both');
  if (values.repo === undefined && (values.revision !== undefined || values.path !== undefined))
    throw new UsageError('--revision and --path go with --repo');
  if (values.repo === undefined && values.chart !== undefined)
    throw new UsageError('--chart goes with --repo: the Helm repository (https://… or oci://…) it is in');
  if (values.repo === undefined) return { kind: 'local', dir: positionals[0] ?? '.' };
  if (values.chart !== undefined) {
    if (values.path !== undefined)
      throw new UsageError('give either --path (a folder of a git repository) or --chart, not both');
    if (values.type !== undefined && values.type !== 'helm')
      throw new UsageError(`a chart is rendered by helm: --type ${values.type} does not go with --chart`);
    return {
      kind: 'chart',
      repoURL: values.repo,
      chart: values.chart,
      version: values.revision ?? '',
      allowInsecureHttp: values['insecure-http'] === true,
      ...fetchTimeout(values),
    };
  }
  if (values.repo.toLowerCase().startsWith('oci://'))
    throw new UsageError(`${values.repo} is a Helm registry: name the chart with --chart NAME`);
  return {
    kind: 'git',
    repoURL: values.repo,
    revision: values.revision ?? '',
    path: values.path ?? '.',
    allowInsecureHttp: values['insecure-http'] === true,
    ...fetchTimeout(values),
  };
}

function fetchTimeout(values: Flags): { timeoutMs?: number } {
  const text = values['fetch-timeout'];
  return text === undefined ? {} : { timeoutMs: parseDuration(text, '--fetch-timeout') };
}

/** The cluster connection of diff and sync; its progress (steps and entries) goes to stderr. */
function connectForPush(values: Flags, say: (line: string) => void): ReturnType<typeof connect> {
  const colour = process.stderr.isTTY && process.env['NO_COLOR'] === undefined;
  return connect({
    kubeconfig: values.kubeconfig,
    context: values.context,
    inventoryNamespace: values['inventory-namespace'],
    progress: (event) => {
      say(event.type === 'step' ? `• ${event.message}` : progressLine(event.entry, { colour }));
    },
  });
}

function renderSettings(
  request: PushRequest,
  capabilities: Awaited<ReturnType<typeof helmCapabilities>> | undefined,
): RenderSettings {
  const { flags: values, type } = request;
  return {
    ...(type === undefined ? {} : { type }),
    ...(values['insecure-http'] === true ? { insecureHttp: true } : {}),
    directory: {
      recurse: values['no-recurse'] !== true,
      ...(values.include ? { include: values.include } : {}),
      ...(values.exclude ? { exclude: values.exclude } : {}),
      ...jsonnetOptions({
        tlaStr: values['tla-str'] ?? [],
        tlaCode: values['tla-code'] ?? [],
        extStr: values['ext-str'] ?? [],
        extCode: values['ext-code'] ?? [],
        libs: values['jsonnet-lib'] ?? [],
      }),
    },
    helm: {
      releaseName: values['release-name'] ?? releaseNameOf(request.application),
      namespace: request.namespace,
      ...(values.values ? { valueFiles: values.values } : {}),
      ...(values['values-inline'] === undefined ? {} : { values: values['values-inline'] }),
      ...helmParameters({ set: values.set ?? [], setString: values['set-string'] ?? [] }),
      ...(values['skip-crds'] === true ? { skipCrds: true } : {}),
      ...(capabilities ?? {}),
    },
  };
}

type Rendered = Awaited<ReturnType<typeof renderDesiredState>>['result'];

/** What the render and Argo CD's annotations have to say (kustomize's warnings, an empty folder). */
function sayRenderNotes(request: PushRequest, rendered: Rendered, say: (line: string) => void): void {
  for (const warning of renderWarnings(rendered)) say(`• warning: ${warning}`);
  if (
    rendered.type === 'helm' &&
    request.application === undefined &&
    request.flags['release-name'] === undefined
  )
    say(
      `• note: Helm release name '${DEFAULT_RELEASE_NAME}': sync names the release after --app, so render with --app NAME (or --release-name) to see the names sync applies`,
    );
}

function printRender(
  objects: Rendered['objects'],
  options: { format: 'table' | 'json' | 'yaml'; showSecrets: boolean },
): void {
  const shown = options.showSecrets
    ? objects
    : objects.map((o) => ({ ...o, object: redactSecret(o.object) }));
  if (options.format === 'json')
    print(options.format, { apiVersion: 'v1', kind: 'List', items: shown.map((o) => o.object) }, () => '');
  else
    process.stdout.write(
      shown.map((o) => `# Source: ${o.source.file}:${o.source.line}\n${stringify(o.object)}`).join('---\n'),
    );
}

function syncOptions(request: PushRequest, target: { application: string; revision: string | undefined }) {
  const values = request.flags;
  return {
    ...ownerOptions(target.application),
    namespace: request.namespace,
    ...(target.revision === undefined ? {} : { revision: target.revision }),
    prune: values.prune === true,
    dryRun: values['dry-run'] === true,
    allowEmpty: values['allow-empty'] === true,
    createNamespace: values['create-namespace'] === true,
    // Git wins, as with the agent: fields changed by hand are taken back (server-side apply with force).
    forceConflicts: true,
    adopt: values.adopt === true,
    replace: values.replace === true,
    wait: values.wait === true,
    ...(request.timeoutMs === undefined ? {} : { timeoutMs: request.timeoutMs }),
  };
}

/**
 * Whose objects a push manages: `NAMESPACE/NAME` is an Application's owner (the agent's marks and
 * inventory, so a push and the agent agree); a plain name is an owner of its own.
 */
function ownerOptions(app: string): { application: string } | ReturnType<typeof applicationOwner> {
  const slash = app.indexOf('/');
  if (slash < 0) return { application: app };
  const namespace = app.slice(0, slash);
  const name = app.slice(slash + 1);
  if (!DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(name))
    throw new UsageError(`--app '${app}' is not NAMESPACE/NAME of an Application`);
  return applicationOwner(namespace, name);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

async function diff(
  objects: Parameters<typeof planSync>[0],
  options: Parameters<typeof planSync>[1],
  deps: Parameters<typeof planSync>[2],
  output: { format: 'table' | 'json' | 'yaml'; colour: boolean },
): Promise<number> {
  const { format, colour } = output;
  const planned = await planSync(objects, options, deps);
  // An immutable field that changed is a difference (a sync with --replace re-creates the object).
  const replaced = planned.plan.failures.filter((f) => f.reason === 'immutable');
  const errors = planned.plan.failures.filter((f) => f.reason !== 'immutable');
  if (errors.length > 0) {
    for (const f of errors) process.stderr.write(`capstan: error: ${formatId(f.id)}: ${f.message}\n`);
    return EXIT.failed;
  }
  const changes = planned.plan.changes.filter((c) => c.action !== 'unchanged');
  const counted = new Set(planned.extraneous.map((id) => formatId(id)));
  const ignored = planned.candidates.filter((id) => !counted.has(formatId(id)));
  const report = {
    application: options.application,
    changes: [
      ...changes.map((c) => ({
        resource: formatId(c.prepared.id),
        action: c.action,
        ...(c.deferred ? { note: c.deferred } : {}),
        diff: c.diff.unified,
      })),
      ...replaced.map((f) => ({
        resource: formatId(f.id),
        action: 'replace',
        note: replaceNote(f),
        fields: f.fields ?? [],
      })),
    ],
    leftBehind: planned.extraneous.map((id) => formatId(id)),
    ignoredExtraneous: ignored.map((id) => formatId(id)),
    namespacesToCreate: planned.missingNamespaces,
  };
  print(format, report, () => {
    const parts = changes.map((c) => colourDiff(c.diff.unified, { colour }));
    for (const f of replaced) parts.push(`${formatId(f.id)}: ${replaceNote(f)}\n`);
    for (const ns of planned.missingNamespaces)
      parts.push(`Namespace/${ns}: would be created (--create-namespace)\n`);
    for (const id of planned.extraneous)
      parts.push(
        `${formatId(id)}: no longer in the desired state (pruned by a sync with --prune, if still owned)\n`,
      );
    const summary = table(
      ['RESOURCE', 'CHANGE'],
      [
        ...planned.missingNamespaces.map((ns) => [`Namespace/${ns}`, 'create']),
        ...changes.map((c) => [formatId(c.prepared.id), c.action]),
        ...replaced.map((f) => [formatId(f.id), 'replace']),
        ...planned.extraneous.map((id) => [formatId(id), 'prune']),
      ],
    );
    // Not differences (Argo CD's compare-options IgnoreExtraneous), but a sync with --prune still deletes them.
    const notes = ignored.map(
      (id) =>
        `${formatId(id)}: no longer in the desired state, not counted as a difference (${ARGOCD_COMPARE_OPTIONS_ANNOTATION}: IgnoreExtraneous); a sync with --prune deletes it\n`,
    );
    if (parts.length === 0) return `${notes.join('')}No differences.\n`;
    return `${[...parts, ...notes].join('\n')}\n${summary}`;
  });
  const differences =
    changes.length + replaced.length + planned.extraneous.length + planned.missingNamespaces.length;
  return differences > 0 ? EXIT.differences : EXIT.ok;
}
